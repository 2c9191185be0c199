//! `[log]`: how the connector writes its log lines.
//!
//! This file owns the `log.format` key and its values. The command line's `--log-format` and
//! `BYOC_LOG_FORMAT` win over it; the binary applies that order when it starts logging, after
//! the configuration is loaded. It knows nothing about how lines are written.

use serde::{Deserialize, Serialize};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `text` when stderr is a terminal, `json` otherwise.
    #[default]
    Auto,
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Text,
}

/// The `[log]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `auto`, `json` or `text`; `--log-format` and `BYOC_LOG_FORMAT` win over it.
    #[serde(default)]
    pub format: LogFormat,
}
