//! Benchmark scenarios behind `byoc-connector bench`. Performance is measured here and
//! printed, never asserted by tests.

pub mod events;
pub mod failover;
pub(crate) mod failover_report;
pub mod mixed;
pub mod pipeline;
pub(crate) mod proc_stats;
pub mod process;
pub(crate) mod process_partner;
pub(crate) mod process_report;
pub mod pubsub;
pub mod routing;
pub mod sidecar;

use crate::dev::embedded::{scratch_dir, serve_loopback};
use crate::dev::samples::connector_config_toml as connector_config;

use std::time::Duration;

use crate::pubsub::{
    EndpointSettings, PubSubCredentials, ReplayStart, StaticCredentials, SubscriberSettings,
};
use crate::secret::SecretString;
use fake_salesforce::FakeSalesforce;

/// A plaintext subscription to `fake` from EARLIEST, with its static token.
pub(crate) fn earliest_subscription(
    fake: &FakeSalesforce,
) -> (SubscriberSettings, StaticCredentials) {
    let endpoints = fake.endpoints();
    let mut config = SubscriberSettings::new(endpoints.topic.clone());
    config.endpoint = EndpointSettings {
        url: endpoints.pubsub.clone(),
        insecure: true,
        ..EndpointSettings::default()
    };
    config.start = ReplayStart::Earliest;
    let credentials = StaticCredentials(PubSubCredentials {
        access_token: SecretString::new(endpoints.token.clone()),
        instance_url: endpoints.instance_url.clone(),
        tenant_id: endpoints.org_id.clone(),
    });
    (config, credentials)
}

/// A payload the size and shape of a real BYOC text message envelope.
pub(crate) fn sample_text_message_payload(sequence: u64) -> String {
    fake_salesforce::samples::text_message_payload(
        "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09",
        sequence,
        "Hi, how are you? This is a typical agent reply.",
        true,
    )
}

/// Why a scenario failed.
pub(crate) type BenchResult<T> = Result<T, crate::dev::embedded::EmbeddedError>;

/// The `p` quantile (0..=1) of `sorted`, zero when it is empty.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // `p` is in [0, 1], so the product is a non-negative index no larger than the length.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let index = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

/// The string value of the first `"key":"…"` in compact JSON `body`, found without parsing it,
/// so a bench partner measures the connector rather than its own JSON parsing.
fn field_in<'a>(body: &'a [u8], key: &str) -> Option<&'a str> {
    let pattern = format!("\"{key}\":\"");
    let pattern = pattern.as_bytes();
    let start = body
        .windows(pattern.len())
        .position(|window| window == pattern)?
        + pattern.len();
    let end = start + body[start..].iter().position(|byte| *byte == b'"')?;
    std::str::from_utf8(&body[start..end]).ok()
}
