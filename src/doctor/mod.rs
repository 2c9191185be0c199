//! `byoc-connector doctor`: checks a setup step by step, from the configuration to the store,
//! and says for each step whether it passed, why it failed and what to change.
//!
//! The steps run in order; a step whose prerequisite failed is skipped and says which one it
//! needed. Every call made is harmless: reads (`GetTopic`, `GetSchema`, one SOQL query), an
//! Interaction Service request Salesforce must refuse for its empty body (so nothing is
//! recorded, but the token and `AuthorizationContext` are checked first), a `HEAD` to each
//! partner webhook, and a store check that never takes a running connector's file. This
//! module owns the steps, their order and their report; it reuses the connector's own clients
//! and knows nothing about how the connector runs. No secret is ever part of a report.

mod channel_definition;
mod reachability;
mod salesforce;
mod store;

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::config::Config;

/// One check of `doctor`, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// The configuration loads and validates.
    Config,
    /// The configured auth flow hands out a token.
    Token,
    /// The token's org id and instance URL are usable.
    Org,
    /// `GetTopic` and `GetSchema` succeed and the schema has the configured fields.
    PubSub,
    /// The ConversationChannelDefinition exists and matches the configuration.
    ChannelDefinition,
    /// The Interaction Service accepts the token and `AuthorizationContext`.
    InteractionService,
    /// The partner webhooks answer.
    PartnerWebhook,
    /// The store (the redb file or the PostgreSQL database) can be written.
    Store,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 8] = [
        Step::Config,
        Step::Token,
        Step::Org,
        Step::PubSub,
        Step::ChannelDefinition,
        Step::InteractionService,
        Step::PartnerWebhook,
        Step::Store,
    ];

    /// The step's number, from 1.
    pub fn number(self) -> usize {
        Self::ALL.iter().position(|step| *step == self).unwrap_or(0) + 1
    }

    /// What the step checks, as printed.
    pub fn title(self) -> &'static str {
        match self {
            Self::Config => "config valid",
            Self::Token => "token obtained",
            Self::Org => "org id and instance URL",
            Self::PubSub => "pub/sub topic and schema",
            Self::ChannelDefinition => "channel definition matches",
            Self::InteractionService => "interaction service accepts the authorization context",
            Self::PartnerWebhook => "partner webhook reachable",
            Self::Store => "store writable",
        }
    }
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It passed.
    Pass,
    /// It failed; the line carries the reason and a hint.
    Fail,
    /// A step it needs failed, so it did not run.
    Skipped,
}

/// One step's line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Which step.
    pub step: Step,
    /// The step's number, from 1.
    pub number: usize,
    /// What the step checks.
    pub title: &'static str,
    /// How it ended.
    pub status: Status,
    /// What was found (pass), why it failed (fail), or what it needed (skipped).
    pub detail: String,
    /// What to change, naming the config key, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// What a step found: passed with a detail, or failed with a reason and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Passed; what was found.
    Pass(String),
    /// Failed: why, and what to change.
    Fail {
        /// Why it failed.
        reason: String,
        /// What to change, naming the key.
        hint: String,
    },
}

impl Outcome {
    /// A failure.
    pub(crate) fn fail(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Self::Fail {
            reason: reason.into(),
            hint: hint.into(),
        }
    }
}

/// Every step's line, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// One entry per step.
    pub steps: Vec<StepReport>,
}

impl Report {
    /// Whether every step passed.
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|line| line.status == Status::Pass)
    }

    /// Whether the configuration itself was refused.
    pub fn config_invalid(&self) -> bool {
        self.status_of(Step::Config) == Some(Status::Fail)
    }

    /// How `step` ended, once it is in the report.
    pub fn status_of(&self, step: Step) -> Option<Status> {
        self.steps
            .iter()
            .find(|line| line.step == step)
            .map(|line| line.status)
    }

    /// The human report: one line per step, a hint line under each failure, a summary.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        for line in &self.steps {
            let label = match line.status {
                Status::Pass => "[pass]",
                Status::Fail => "[FAIL]",
                Status::Skipped => "[skip]",
            };
            let detail = line.detail.replace('\n', "\n       ");
            let _ = writeln!(text, "{label} {}. {}: {detail}", line.number, line.title);
            if let Some(hint) = &line.hint {
                let _ = writeln!(text, "       hint: {}", hint.replace('\n', "\n       "));
            }
        }
        let count = |status| {
            self.steps
                .iter()
                .filter(|line| line.status == status)
                .count()
        };
        let _ = writeln!(
            text,
            "{} passed, {} failed, {} skipped",
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Skipped)
        );
        text
    }

    fn record(&mut self, step: Step, outcome: Outcome) -> bool {
        let (status, detail, hint) = match outcome {
            Outcome::Pass(detail) => (Status::Pass, detail, None),
            Outcome::Fail { reason, hint } => (Status::Fail, reason, Some(hint)),
        };
        self.steps.push(StepReport {
            step,
            number: step.number(),
            title: step.title(),
            status,
            detail,
            hint,
        });
        status == Status::Pass
    }

    fn skip(&mut self, step: Step, needs: Step) {
        self.steps.push(StepReport {
            step,
            number: step.number(),
            title: step.title(),
            status: Status::Skipped,
            detail: format!("skipped (needs {}. {})", needs.number(), needs.title()),
            hint: None,
        });
    }
}

/// Runs every step for the configuration at `path` (none: environment only) with the
/// `BYOC__…` entries of `env`; with `[[tenants]]`, for the tenant `tenant` names (which may be
/// left out when there is one).
pub async fn run(
    path: Option<&Path>,
    tenant: Option<&str>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Report {
    let mut report = Report::default();
    let loaded = Config::load(path, env).and_then(|config| config.for_one_channel(tenant));
    let config = match loaded {
        Ok(config) => {
            let origin = path.map_or_else(
                || "BYOC__ environment variables only (no --config)".to_owned(),
                |path| path.display().to_string(),
            );
            report.record(Step::Config, Outcome::Pass(origin));
            config
        }
        Err(error) => {
            report.record(
                Step::Config,
                Outcome::fail(
                    format!("the configuration is refused\n{error}"),
                    "fix each key named above; `byoc-connector config example` prints a \
                     configuration that loads as is",
                ),
            );
            for step in &Step::ALL[1..] {
                report.skip(*step, Step::Config);
            }
            return report;
        }
    };
    check_salesforce(&config, &mut report).await;
    let outcome = reachability::partner_webhooks(&config).await;
    report.record(Step::PartnerWebhook, outcome);
    let outcome = store::check(&config.store).await;
    report.record(Step::Store, outcome);
    report
}

/// Steps 2 to 6: the token, the org, Pub/Sub, the channel definition and the Interaction
/// Service; each skipped when what it needs failed.
async fn check_salesforce(config: &Config, report: &mut Report) {
    let (outcome, obtained) = salesforce::token(config).await;
    let passed = report.record(Step::Token, outcome);
    let Some((provider, grant)) = obtained.filter(|_| passed) else {
        for step in [
            Step::Org,
            Step::PubSub,
            Step::ChannelDefinition,
            Step::InteractionService,
        ] {
            report.skip(step, Step::Token);
        }
        return;
    };
    if !report.record(Step::Org, salesforce::org(config, &grant)) {
        for step in [
            Step::PubSub,
            Step::ChannelDefinition,
            Step::InteractionService,
        ] {
            report.skip(step, Step::Org);
        }
        return;
    }
    report.record(Step::PubSub, salesforce::pubsub(config, &grant).await);
    report.record(
        Step::ChannelDefinition,
        channel_definition::check(config, &grant).await,
    );
    report.record(
        Step::InteractionService,
        reachability::interaction_service(config, provider).await,
    );
}
