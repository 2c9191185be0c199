//! Shared helpers for the `config_*` integration tests: a minimal valid configuration and a
//! way to change one key of it at a time.

use byoc_connector::config::{Config, ConfigError};

/// The smallest configuration that loads: only the required keys.
pub const MINIMAL: &str = r#"
[pubsub]
topic = "/event/Partner_Event__e"

[auth]
kind = "client-credentials"
client_id = "3MVG9example"
client_secret = "cc-secret-value"
login_url = "https://example.my.salesforce.com"

[interaction]
base_url = "https://example.my.salesforce-scrt.com"
authorization_context = "Partner1_ChannelDefinition1"

[delivery]
url = "https://partner.example/byoc/events"

[routing]
url = "https://partner.example/byoc/routing"
"#;

/// Every required key as an environment variable, for a configuration without a file: a
/// static token (its secret part is `static-token-hidden`), stdout delivery, reject routing.
pub const MINIMAL_ENV: &[(&str, &str)] = &[
    ("BYOC__PUBSUB__TOPIC", "/event/Env_Event__e"),
    ("BYOC__AUTH__KIND", "static"),
    ("BYOC__AUTH__TOKEN", "00Dxx!static-token-hidden"),
    (
        "BYOC__AUTH__INSTANCE_URL",
        "https://example.my.salesforce.com",
    ),
    ("BYOC__AUTH__ORG_ID", "00D000000000001AAA"),
    (
        "BYOC__INTERACTION__BASE_URL",
        "https://example.my.salesforce-scrt.com",
    ),
    ("BYOC__INTERACTION__AUTHORIZATION_CONTEXT", "Env_Channel"),
    ("BYOC__DELIVERY__KIND", "stdout"),
    ("BYOC__ROUTING__STRATEGY", "reject"),
];

/// `MINIMAL` with each `(dotted key, value)` set, or removed when the value is `None`.
pub fn minimal_with(edits: &[(&str, Option<toml::Value>)]) -> String {
    let mut root: toml::Table = MINIMAL.parse().unwrap();
    for (key, value) in edits {
        let (section, leaf) = key.split_once('.').unwrap();
        let table = root
            .entry(section.to_owned())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap();
        match value {
            Some(value) => table.insert(leaf.to_owned(), value.clone()),
            None => table.remove(leaf),
        };
    }
    toml::to_string(&root).unwrap()
}

/// Environment entries from `(name, value)` pairs.
pub fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
}

/// The error `text` must produce, rendered as an operator sees it.
pub fn error_text(text: &str, env_pairs: &[(&str, &str)]) -> String {
    let error: ConfigError = Config::from_toml_str_with_env(text, env(env_pairs))
        .expect_err("the configuration should be refused");
    error.to_string()
}

/// A string value.
pub fn string(value: &str) -> Option<toml::Value> {
    Some(toml::Value::String(value.to_owned()))
}

/// An integer value.
pub fn int(value: i64) -> Option<toml::Value> {
    Some(toml::Value::Integer(value))
}
