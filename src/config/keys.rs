//! Every config key with an example value, and which keys hold secrets.
//!
//! Hints for missing or mistyped keys come from here, so an operator always sees a value that
//! would be accepted. The list mirrors docs/configuration.md; a test checks that the example
//! file sets only keys listed here. It knows nothing about defaults or validation rules.

/// Keys whose values are secrets: no problem text ever quotes them (guarantee G6).
pub(super) const SECRET_KEYS: &[&str] = &[
    "auth.client_secret",
    "auth.token",
    "delivery.secret",
    "routing.secret",
    "server.sidecar_token",
    "store.url",
];

/// `(key, example)`: the example is written as TOML would hold it.
pub(super) const KEY_EXAMPLES: &[(&str, &str)] = &[
    (
        "pubsub.endpoint",
        "\"https://api.pubsub.salesforce.com:7443\"",
    ),
    ("pubsub.insecure", "false"),
    (
        "pubsub.ca_certificate_file",
        "\"/etc/byoc-connector/pubsub-ca.pem\"",
    ),
    ("pubsub.topic", "\"/event/Partner_Event__e\""),
    ("pubsub.event_type_field", "\"EventType__c\""),
    ("pubsub.payload_field", "\"Payload__c\""),
    ("pubsub.start", "\"latest\" (or \"earliest\")"),
    ("pubsub.credit_window", "100"),
    ("pubsub.keepalive_timeout_secs", "300"),
    (
        "pubsub.corrupted_replay_policy",
        "\"earliest\" (or \"latest\", \"fail\")",
    ),
    ("pubsub.min_backoff_ms", "500"),
    ("pubsub.max_backoff_ms", "60000"),
    (
        "auth.kind",
        "\"jwt-bearer\" (or \"client-credentials\", \"static\")",
    ),
    ("auth.client_id", "\"3MVG9...\" (the app's consumer key)"),
    ("auth.username", "\"byoc-integration@example.com\""),
    ("auth.login_url", "\"https://login.salesforce.com\""),
    (
        "auth.private_key_file",
        "\"/etc/byoc-connector/byoc-jwt-key.pem\"",
    ),
    ("auth.token_lifetime_secs", "900"),
    ("auth.refresh_margin_secs", "60"),
    ("auth.insecure", "false"),
    ("auth.client_secret", "\"...\" (the app's consumer secret)"),
    ("auth.token", "\"00D...!...\" (an access token)"),
    (
        "auth.instance_url",
        "\"https://mydomain.my.salesforce.com\"",
    ),
    ("auth.org_id", "\"00D000000000001AAA\""),
    (
        "interaction.base_url",
        "\"https://mydomain.my.salesforce-scrt.com\"",
    ),
    (
        "interaction.authorization_context",
        "\"Partner1_ChannelDefinition1\"",
    ),
    ("interaction.insecure", "false"),
    ("interaction.request_timeout_secs", "20"),
    ("delivery.kind", "\"webhook\" (or \"stdout\")"),
    ("delivery.url", "\"https://partner.example/byoc/events\""),
    ("delivery.secret", "\"...\" (a shared signing secret)"),
    ("delivery.connect_timeout_ms", "5000"),
    ("delivery.request_timeout_ms", "30000"),
    ("delivery.report_refusals", "true"),
    ("delivery.refusal_error_code", "\"3001\""),
    ("delivery.batch_max_events", "1"),
    ("channel.address_identifiers", "[\"+15550100\"]"),
    ("pipeline.max_concurrent_conversations", "64"),
    ("pipeline.max_watermark_lag", "10000"),
    ("pipeline.prefetch_events", "1000"),
    ("pipeline.grace_secs", "20"),
    ("store.kind", "\"redb\" (or \"postgres\")"),
    ("store.path", "\"/var/lib/byoc-connector/state.redb\""),
    ("store.url", "\"postgres://byoc@db.internal:5432/byoc\""),
    ("store.namespace", "\"acme-sms\""),
    ("store.ack_batch_max_acks", "1000"),
    ("store.ack_batch_max_delay_ms", "50"),
    ("store.dedup_max_keys", "200000"),
    ("store.dedup_max_age_secs", "259200"),
    ("store.dead_letter_max_age_days", "30"),
    ("store.dead_letter_max_count", "100000"),
    ("store.conversation_max_age_days", "30"),
    ("server.listen", "\"127.0.0.1:9464\""),
    ("server.sidecar_listen", "\"127.0.0.1:9465\""),
    (
        "server.sidecar_token",
        "\"...\" (a long random bearer token)",
    ),
    ("ha.enabled", "true"),
    ("ha.replica_id", "\"byoc-connector-0\""),
    ("ha.takeover_secs", "10"),
    (
        "routing.strategy",
        "\"partner\" (or \"salesforce\", \"reject\")",
    ),
    ("routing.url", "\"https://partner.example/byoc/routing\""),
    ("routing.secret", "\"...\" (a shared signing secret)"),
    ("routing.decision_timeout_secs", "45"),
    ("routing.window_secs", "60"),
    ("routing.rep_user_field", "\"userId\""),
    ("routing.fallback_queue_id", "\"00G5g000001abcd\""),
    ("routing.soql_api_version", "\"62.0\""),
    ("capabilities.register", "true"),
    (
        "capabilities.file",
        "\"/etc/byoc-connector/capabilities.json\"",
    ),
    ("capabilities.integration_namespace", "\"00D000000000001\""),
    (
        "capabilities.formats",
        "[\"StaticContentMessage:Text\", \"StaticContentMessage:Attachments\"]",
    ),
    ("capabilities.text_max_length", "2000"),
    (
        "capabilities.attachment_mime_types",
        "[\"image/png\", \"application/pdf\"]",
    ),
    ("capabilities.attachment_max_size_kb", "25600"),
    ("log.format", "\"auto\" (or \"json\", \"text\")"),
];

/// Whether `key` holds a secret.
pub(super) fn is_secret(key: &str) -> bool {
    SECRET_KEYS.contains(&key)
}

/// "write it like `leaf = example` in [section]" for a known key, a generic hint otherwise.
pub(super) fn example_hint(key: &str) -> String {
    let Some((_, example)) = KEY_EXAMPLES.iter().find(|(known, _)| *known == key) else {
        return "see docs/configuration.md for the keys and their types".to_owned();
    };
    match key.split_once('.') {
        Some((section, leaf)) => format!("write it like `{leaf} = {example}` in [{section}]"),
        None => format!("write it like `{key} = {example}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_sets_only_listed_keys() {
        let example: toml::Table = super::super::EXAMPLE_TOML.parse().unwrap();
        for (section, table) in &example {
            for key in table.as_table().unwrap().keys() {
                let full = format!("{section}.{key}");
                assert!(
                    KEY_EXAMPLES.iter().any(|(known, _)| *known == full),
                    "{full} is missing from KEY_EXAMPLES"
                );
            }
        }
    }
}
