//! Shared helpers for `[[tenants]]` tests: a fake org per tenant and the config text that
//! points a tenant at it.

use fake_salesforce::{Endpoints, FakeConfig, FakeSalesforce};

/// The top-level connection sections every tenant test shares: the fakes' plaintext
/// endpoints, fast reconnects, static tokens (each tenant gives its own).
macro_rules! connection_sections {
    () => {
        r#"
[pubsub]
insecure = true
start = "earliest"
min_backoff_ms = 20
max_backoff_ms = 500

[auth]
kind = "static"

[interaction]
insecure = true
"#
    };
}

/// [`connection_sections!`] alone, for tests that choose their own routing.
pub const CONNECTION_SECTIONS: &str = connection_sections!();

/// [`CONNECTION_SECTIONS`] with reject routing.
pub const SHARED_SECTIONS: &str = concat!(
    connection_sections!(),
    r#"
[routing]
strategy = "reject"
"#
);

/// A fake org of its own: its own org id (18 characters), token and Interaction Service.
pub async fn start_org(org_id: &str) -> FakeSalesforce {
    byoc_connector::install_crypto_provider();
    FakeSalesforce::start(FakeConfig {
        org_id: org_id.to_owned(),
        ..FakeConfig::default()
    })
    .await
    .expect("fake salesforce starts")
}

/// The keys of an inline `auth` table with the static token of the org at `endpoints`.
pub fn static_auth(endpoints: &Endpoints) -> String {
    format!(
        "token = \"{token}\", instance_url = \"{instance}\", org_id = \"{org}\"",
        token = endpoints.token,
        instance = endpoints.instance_url,
        org = endpoints.org_id,
    )
}

/// One `[[tenants]]` entry named `name` for the org at `endpoints` (`fake.endpoints()`, or
/// `org.endpoints()` of a fake serving several): its topic, its Interaction Service, `auth` as
/// the keys of its inline `auth` table, then `extra` lines (`delivery = …`, `store = …`).
pub fn tenant_toml(name: &str, endpoints: &Endpoints, auth: &str, extra: &str) -> String {
    format!(
        r#"
[[tenants]]
name = "{name}"
pubsub = {{ endpoint = "{pubsub}", topic = "{topic}" }}
auth = {{ {auth} }}
interaction = {{ base_url = "{instance}", authorization_context = "{context}" }}
{extra}
"#,
        pubsub = endpoints.pubsub,
        topic = endpoints.topic,
        instance = endpoints.instance_url,
        context = endpoints.authorization_context,
    )
}
