//! The connector's configuration: one TOML file plus `BYOC__SECTION__KEY` environment
//! overrides, typed and validated when loaded.
//!
//! This module owns every key, its checks and the text an operator sees when a value is
//! refused: the full key, what is wrong and a hint (G5), never a secret's value (G6). A key's
//! default is the constant of the module it configures, so each is defined once. Each section
//! lives in its own file and turns itself into that module's settings with `From`/`TryFrom`
//! (`SubscriberSettings`, `WebhookSettings`, `StoreSettings`, …); renamed keys still load under
//! their old names and leave a [`DeprecatedKey`] notice. Loading is pure apart from reading the
//! named files, so tests pass the environment in. [`Config::load_effective`] also keeps where
//! each value came from, for `config show` ([`EffectiveConfig`]). It knows nothing about how
//! those modules run. Every key is documented in docs/configuration.md.
//!
//! ```no_run
//! # use byoc_connector::config::Config;
//! let config = Config::load(Some("byoc.toml".as_ref()), Config::environment())?;
//! # Ok::<(), byoc_connector::config::ConfigError>(())
//! ```

mod auth;
mod capabilities;
mod decode;
mod delivery;
mod env;
mod error;
mod ha;
mod interaction;
mod keys;
mod log;
mod pubsub;
mod renamed;
mod routing;
mod runtime;
mod show;
mod tenant_env;
mod tenant_select;
mod tenants;

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;
use toml::{Table, Value};

pub use capabilities::CapabilitiesConfig;
pub use delivery::{ChannelConfig, ConsentOwner, DeliveryConfig, DeliveryKind};
pub use env::{key_for_env_var, ENV_PREFIX, ENV_SEPARATOR};
pub use error::{ConfigError, ConfigProblem};
pub use ha::HaConfig;
pub use interaction::InteractionConfig;
pub use log::{LogConfig, LogFormat};
pub use pubsub::{
    PubSubConfig, StartPosition, DEFAULT_EVENT_TYPE_FIELD, DEFAULT_PAYLOAD_FIELD, TOPIC_PREFIX,
};
pub use renamed::DeprecatedKey;
pub use routing::RoutingConfig;
pub use runtime::{
    PipelineConfig, ServerConfig, StoreConfig, StoreKind, DEFAULT_SERVER_LISTEN,
    DEFAULT_SIDECAR_LISTEN, DEFAULT_STORE_NAMESPACE, DEFAULT_STORE_PATH,
};
pub use show::{EffectiveConfig, ValueSource};
pub use tenants::{TenantConfig, MAX_TENANT_NAME_LEN};

use self::error::Problems;
use crate::auth::AuthConfig;

/// A complete, commented configuration that loads as is (against the fake Salesforce's
/// defaults, with placeholders for a real org).
const EXAMPLE_TOML: &str = include_str!("example.toml");

/// The whole configuration, validated.
///
/// It serializes as TOML sections with secrets as `[redacted]`; that is what `config show`
/// prints.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The Pub/Sub API subscription.
    pub pubsub: PubSubConfig,
    /// How the Salesforce access token is obtained.
    pub auth: AuthConfig,
    /// The Interaction Service the routing results go to.
    pub interaction: InteractionConfig,
    /// Where events are delivered.
    pub delivery: DeliveryConfig,
    /// Which channel addresses this connector serves.
    pub channel: ChannelConfig,
    /// Concurrency and shutdown of the delivery pipeline.
    pub pipeline: PipelineConfig,
    /// The durable state file.
    pub store: StoreConfig,
    /// The ops and sidecar HTTP listeners.
    pub server: ServerConfig,
    /// High availability: whether replicas elect a leader, and how fast one takes over.
    pub ha: HaConfig,
    /// Who answers routing requests, and by when.
    pub routing: RoutingConfig,
    /// What is registered with `PATCH /capabilities` at start.
    pub capabilities: CapabilitiesConfig,
    /// How log lines are written.
    pub log: LogConfig,
    /// The channels this process serves, each with its own org, topic, partner and store
    /// namespace (`[[tenants]]`); empty for the one channel the sections above describe.
    /// With tenants, the channel sections above and `store` are the first tenant's:
    /// [`Config::channels`] gives every tenant's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantConfig>,
    /// Renamed keys given under their old names; the connector logs each once at start.
    #[serde(skip)]
    pub deprecated_keys: Vec<DeprecatedKey>,
}

impl Config {
    /// Reads the file at `path` (none: environment only), applies the `BYOC__…` entries of
    /// `env`, and validates everything.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::load_effective(path, env).map(|effective| effective.config)
    }

    /// [`Config::load`], also keeping where each value came from (file, environment or
    /// default), for `config show`.
    pub fn load_effective(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EffectiveConfig, ConfigError> {
        let Some(path) = path else {
            return Self::parse_effective("", "no config file", env);
        };
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            reason: error.to_string(),
        })?;
        Self::parse_effective(&text, &format!("config file {}", path.display()), env)
    }

    /// Parses and validates TOML text, without environment overrides.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        Self::parse(text, "config text", std::iter::empty())
    }

    /// Parses TOML text, applies the `BYOC__…` entries of `env`, and validates everything.
    pub fn from_toml_str_with_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::parse(text, "config text", env)
    }

    /// The process's `BYOC__…` environment variables (names and values that are not UTF-8
    /// are converted lossily, so they fail validation instead of vanishing).
    pub fn environment() -> Vec<(String, String)> {
        std::env::vars_os()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.to_string_lossy().into_owned(),
                )
            })
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect()
    }

    /// A complete, commented example configuration that loads as is.
    pub fn example_toml() -> &'static str {
        EXAMPLE_TOML
    }

    /// Every key the configuration accepts, dotted (`delivery.url`), in the order of the
    /// configuration reference; renamed keys only under their new names.
    pub fn known_keys() -> impl Iterator<Item = &'static str> {
        keys::KEY_EXAMPLES.iter().map(|(key, _)| *key)
    }

    /// Whether the dotted `key` holds a secret, which is never shown.
    pub fn is_secret_key(key: &str) -> bool {
        keys::is_secret(key)
    }

    fn parse(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        Self::parse_effective(text, origin, env).map(|effective| effective.config)
    }

    fn parse_effective(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<EffectiveConfig, ConfigError> {
        let mut root: Table = text
            .parse()
            .map_err(|error: toml::de::Error| syntax_error(text, origin, &error))?;
        let file_keys = dotted_keys(&root);
        let mut problems = Problems::default();
        let mut overrides =
            env::apply_overrides(&mut root, env, tenant_env::apply_override, &mut problems);
        let deprecated_keys = renamed::apply(&mut root, &mut overrides, &mut problems);
        let config = Self::decode(root, &overrides, &mut problems);
        let mut problems = problems.into_vec();
        for problem in &mut problems {
            problem.env_var = overrides
                .for_key(&problem.key)
                .map(|entry| entry.var.clone());
        }
        renamed::name_as_written(&mut problems, &deprecated_keys);
        match config {
            Some(config) if problems.is_empty() => Ok(EffectiveConfig::new(
                Self {
                    deprecated_keys,
                    ..config
                },
                origin.to_owned(),
                file_keys,
                overrides.vars_by_key(),
            )),
            _ => Err(ConfigError::Invalid(problems)),
        }
    }

    /// Decodes and validates every section; `None` when any section failed to decode.
    ///
    /// Without `[[tenants]]` the channel sections describe the one channel. With it they are
    /// only the defaults each tenant inherits (`tenants.rs`), so they are checked as part of
    /// each tenant, and the channel fields and `store` hold the first tenant's, so the
    /// commands that read one channel (`doctor`, `dlq`, `checkpoint`) read that one.
    fn decode(
        mut root: Table,
        overrides: &env::Overrides,
        problems: &mut Problems,
    ) -> Option<Self> {
        decode::unknown_sections(&root, problems);
        let tenant_tables = tenants::take(&mut root, problems);
        let pipeline =
            decode::section::<PipelineConfig>(&mut root, "pipeline", overrides, problems);
        let store = decode::section::<StoreConfig>(&mut root, "store", overrides, problems);
        let server = decode::section::<ServerConfig>(&mut root, "server", overrides, problems);
        let ha = decode::section::<HaConfig>(&mut root, "ha", overrides, problems);
        let log = decode::section::<LogConfig>(&mut root, "log", overrides, problems);
        if let Some(section) = &pipeline {
            section.validate(problems);
        }
        if let Some(section) = &store {
            section.validate(problems);
        }
        if let Some(section) = &server {
            section.validate(problems);
        }
        if let Some(section) = &ha {
            section.validate(store.as_ref(), problems);
        }
        let (channel_sections, store, tenants) = match tenant_tables {
            None => (
                decode_channel(&mut root, overrides, problems),
                store,
                Vec::new(),
            ),
            Some(tables) => {
                let tenants = tenants::decode(tables, &root, store.as_ref(), overrides, problems)?;
                let first = tenants.first()?;
                (Some(first.sections()), Some(first.store.clone()), tenants)
            }
        };
        let channel_sections = channel_sections?;
        Some(Self {
            pubsub: channel_sections.pubsub,
            auth: channel_sections.auth,
            interaction: channel_sections.interaction,
            delivery: channel_sections.delivery,
            channel: channel_sections.channel,
            pipeline: pipeline?,
            store: store?,
            server: server?,
            ha: ha?,
            routing: channel_sections.routing,
            capabilities: channel_sections.capabilities,
            log: log?,
            tenants,
            // `parse` fills these in: it moved the old keys before decoding.
            deprecated_keys: Vec::new(),
        })
    }
}

/// The sections that describe one channel: its own in a `[[tenants]]` entry, the whole file's
/// otherwise.
#[derive(Debug, Clone)]
pub(crate) struct ChannelSections {
    pub(crate) pubsub: PubSubConfig,
    pub(crate) auth: AuthConfig,
    pub(crate) interaction: InteractionConfig,
    pub(crate) delivery: DeliveryConfig,
    pub(crate) channel: ChannelConfig,
    pub(crate) routing: RoutingConfig,
    pub(crate) capabilities: CapabilitiesConfig,
}

/// Decodes and validates the channel sections of `root`; `None` when any failed to decode.
/// Sections that decoded are validated even when others did not, so one run reports as many
/// problems as possible.
fn decode_channel(
    root: &mut Table,
    overrides: &env::Overrides,
    problems: &mut Problems,
) -> Option<ChannelSections> {
    let mut pubsub = decode::section::<PubSubConfig>(root, "pubsub", overrides, problems);
    let auth = decode::auth_section(root, overrides, problems);
    let interaction =
        decode::section::<InteractionConfig>(root, "interaction", overrides, problems);
    let delivery = decode::section::<DeliveryConfig>(root, "delivery", overrides, problems);
    let channel = decode::section::<ChannelConfig>(root, "channel", overrides, problems);
    let routing = decode::section::<RoutingConfig>(root, "routing", overrides, problems);
    let mut capabilities =
        decode::section::<CapabilitiesConfig>(root, "capabilities", overrides, problems);
    if let Some(section) = &mut pubsub {
        section.validate(problems);
        section.read_files(problems);
    }
    if let Some(section) = &auth {
        auth::validate(section, problems);
    }
    if let Some(section) = &interaction {
        section.validate(problems);
    }
    if let Some(section) = &delivery {
        section.validate(problems);
    }
    if let Some(section) = &channel {
        section.validate(problems);
    }
    if let Some(section) = &routing {
        section.validate(problems);
    }
    if let Some(section) = &mut capabilities {
        section.read_files(problems);
        section.validate(problems);
    }
    Some(ChannelSections {
        pubsub: pubsub?,
        auth: auth?,
        interaction: interaction?,
        delivery: delivery?,
        channel: channel?,
        routing: routing?,
        capabilities: capabilities?,
    })
}

/// `section.key` for every key of every section table in `root`, and
/// `tenants[i].section.key` for every key of each tenant's sections.
fn dotted_keys(root: &Table) -> BTreeSet<String> {
    let section_keys = |prefix: String, table: &Table| {
        table
            .iter()
            .filter_map(|(section, value)| Some((section.clone(), value.as_table()?.clone())))
            .flat_map(move |(section, table)| {
                let prefix = prefix.clone();
                table
                    .keys()
                    .map(move |key| format!("{prefix}{section}.{key}"))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let mut keys: BTreeSet<String> = section_keys(String::new(), root).into_iter().collect();
    let tenants = root.get("tenants").and_then(Value::as_array);
    for (index, tenant) in tenants.into_iter().flatten().enumerate() {
        if let Some(tenant) = tenant.as_table() {
            keys.extend(section_keys(format!("tenants[{index}]."), tenant));
        }
    }
    keys
}

/// A syntax error with its position and the parser's expectation, but none of the text
/// (the offending line may hold a secret).
fn syntax_error(text: &str, origin: &str, error: &toml::de::Error) -> ConfigError {
    let offset = error.span().map_or(0, |span| span.start).min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(0, |rest| rest.chars().count())
        + 1;
    ConfigError::Syntax {
        origin: origin.to_owned(),
        line,
        column,
        message: error.message().trim().replace('\n', "; "),
    }
}
