//! Loading a valid configuration: the example file, defaults, environment overrides and the
//! conversions into each module's settings.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::config::{env, minimal_with, string, MINIMAL, MINIMAL_ENV};
use byoc_connector::auth::AuthConfig;
use byoc_connector::channel::WebhookSettings;
use byoc_connector::config::{Config, DeliveryKind, StartPosition, DEFAULT_SERVER_LISTEN};
use byoc_connector::pubsub::{
    CorruptedReplayPolicy, ReplayStart, SubscriberSettings, DEFAULT_PUBSUB_ENDPOINT,
};
use byoc_connector::routing::{RoutingSettings, RoutingStrategy};
use byoc_connector::store::StoreSettings;

#[test]
fn the_example_configuration_loads_with_the_values_it_documents() {
    let config = Config::from_toml_str(Config::example_toml()).unwrap();

    assert_eq!(config.pubsub.topic, "/event/Partner_Event__e");
    assert_eq!(config.pubsub.endpoint, DEFAULT_PUBSUB_ENDPOINT);
    assert!(matches!(config.auth, AuthConfig::JwtBearer(_)));
    assert_eq!(
        config.interaction.authorization_context,
        "Partner1_ChannelDefinition1"
    );
    assert_eq!(config.delivery.kind, DeliveryKind::Webhook);
    assert_eq!(config.routing.strategy, RoutingStrategy::Partner);
    assert_eq!(config.server.listen, DEFAULT_SERVER_LISTEN);
    assert_eq!(
        config.store.path,
        PathBuf::from("/var/lib/byoc-connector/state.redb")
    );
}

#[test]
fn absent_optional_keys_take_their_documented_defaults() {
    let config = Config::from_toml_str(MINIMAL).unwrap();

    assert_eq!(
        config.pubsub.endpoint,
        "https://api.pubsub.salesforce.com:7443"
    );
    assert!(!config.pubsub.insecure);
    assert_eq!(config.pubsub.event_type_field, "EventType__c");
    assert_eq!(config.pubsub.payload_field, "Payload__c");
    assert_eq!(config.pubsub.start, StartPosition::Latest);
    assert_eq!(config.pubsub.credit_window, 100);
    assert_eq!(config.pubsub.keepalive_timeout(), Duration::from_secs(300));
    assert_eq!(
        config.pubsub.corrupted_replay_policy,
        CorruptedReplayPolicy::Earliest
    );
    assert_eq!(config.pubsub.min_backoff(), Duration::from_millis(500));
    assert_eq!(config.pubsub.max_backoff(), Duration::from_secs(60));
    assert_eq!(
        config.interaction.request_timeout(),
        Duration::from_secs(20)
    );
    assert_eq!(config.delivery.connect_timeout_ms, 5_000);
    assert_eq!(config.delivery.request_timeout_ms, 30_000);
    assert!(config.channel.address_identifiers.is_none());
    assert_eq!(config.pipeline.max_concurrent_conversations, 64);
    assert_eq!(config.pipeline.max_watermark_lag, 10_000);
    assert_eq!(config.pipeline.prefetch_events, 1_000);
    assert_eq!(config.pipeline.grace(), Duration::from_secs(20));
    assert_eq!(config.store.path, PathBuf::from("byoc-connector.redb"));
    assert_eq!(config.store.ack_batch_max_acks, 1_000);
    assert_eq!(config.store.ack_batch_max_delay_ms, 50);
    assert_eq!(config.store.dedup_max_keys, 200_000);
    assert_eq!(config.store.dedup_max_age_secs, 259_200);
    assert_eq!(
        StoreSettings::from(&config.store).conversation_max_age,
        Some(Duration::from_secs(30 * 24 * 3600))
    );
    assert_eq!(
        config.server.listen,
        "127.0.0.1:9464".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.routing.decision_timeout(), Duration::from_secs(45));
    assert_eq!(config.routing.window(), Duration::from_secs(60));
    assert_eq!(config.routing.rep_user_field, "userId");
    assert_eq!(config.routing.soql_api_version, "62.0");
}

#[test]
fn environment_overrides_win_over_the_file_and_are_typed() {
    let config = Config::from_toml_str_with_env(
        MINIMAL,
        env(&[
            ("BYOC__PIPELINE__MAX_CONCURRENT_CONVERSATIONS", "8"),
            ("BYOC__PUBSUB__START", "earliest"),
            ("BYOC__DELIVERY__URL", "https://other.example/hook"),
            ("BYOC__DELIVERY__SECRET", "whsec-from-env"),
            ("BYOC__ROUTING__WINDOW_SECS", "30"),
            ("BYOC__ROUTING__DECISION_TIMEOUT_SECS", "20"),
            ("BYOC__INTERACTION__INSECURE", "false"),
            (
                "BYOC__CHANNEL__ADDRESS_IDENTIFIERS",
                "[\"+15550100\", \"+15550101\"]",
            ),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();

    assert_eq!(config.pipeline.max_concurrent_conversations, 8);
    assert_eq!(config.pubsub.start, StartPosition::Earliest);
    assert_eq!(
        config.delivery.url.as_deref(),
        Some("https://other.example/hook")
    );
    let secret = config.delivery.secret.as_ref().unwrap();
    assert_eq!(secret.expose(), "whsec-from-env");
    assert_eq!(config.routing.window(), Duration::from_secs(30));
    assert_eq!(config.routing.decision_timeout(), Duration::from_secs(20));
    assert!(config.channel.accepts("+15550101"));
    assert!(!config.channel.accepts("+15550199"));
}

#[test]
fn environment_values_that_look_like_numbers_stay_text_for_string_keys() {
    let config = Config::from_toml_str_with_env(
        MINIMAL,
        env(&[
            ("BYOC__ROUTING__SOQL_API_VERSION", "63.0"),
            ("BYOC__AUTH__CLIENT_SECRET", "987654"),
            ("BYOC__INTERACTION__AUTHORIZATION_CONTEXT", "12345"),
        ]),
    )
    .unwrap();

    assert_eq!(config.routing.soql_api_version, "63.0");
    let AuthConfig::ClientCredentials(auth) = &config.auth else {
        panic!("wrong auth kind");
    };
    assert_eq!(auth.client_secret.expose(), "987654");
    assert_eq!(config.interaction.authorization_context, "12345");
}

#[test]
fn the_environment_alone_can_supply_every_required_key() {
    let config = Config::load(None, env(MINIMAL_ENV)).unwrap();

    assert_eq!(config.pubsub.topic, "/event/Env_Event__e");
    assert!(matches!(config.auth, AuthConfig::Static(_)));
    assert_eq!(config.delivery.kind, DeliveryKind::Stdout);
    assert!(Option::<WebhookSettings>::from(&config.delivery).is_none());
    assert_eq!(config.routing.strategy, RoutingStrategy::Reject);
    assert!(Option::<WebhookSettings>::from(&config.routing).is_none());
}

#[test]
fn a_config_file_is_read_from_its_path() {
    let dir = scratch_dir("file");
    let path = dir.join("byoc.toml");
    std::fs::write(&path, MINIMAL).unwrap();

    let config = Config::load(Some(&path), env(&[("BYOC__PIPELINE__GRACE_SECS", "5")])).unwrap();

    assert_eq!(config.pubsub.topic, "/event/Partner_Event__e");
    assert_eq!(config.pipeline.grace(), Duration::from_secs(5));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn every_auth_kind_decodes_to_its_own_variant() {
    let jwt = minimal_with(&[
        ("auth.kind", string("jwt-bearer")),
        ("auth.client_secret", None),
        ("auth.username", string("integration@example.com")),
        ("auth.private_key_file", string("/etc/byoc/key.pem")),
    ]);
    let AuthConfig::JwtBearer(jwt) = Config::from_toml_str(&jwt).unwrap().auth else {
        panic!("jwt-bearer expected");
    };
    assert_eq!(jwt.username, "integration@example.com");

    let client_credentials = Config::from_toml_str(MINIMAL).unwrap().auth;
    assert!(matches!(
        client_credentials,
        AuthConfig::ClientCredentials(_)
    ));
}

#[test]
fn the_pubsub_section_builds_the_subscriber_settings() {
    let dir = scratch_dir("ca");
    let ca_file = dir.join("ca.pem");
    std::fs::write(
        &ca_file,
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let text = minimal_with(&[
        ("pubsub.endpoint", string("http://127.0.0.1:7443")),
        ("pubsub.insecure", Some(toml::Value::Boolean(true))),
        (
            "pubsub.ca_certificate_file",
            string(ca_file.to_str().unwrap()),
        ),
        ("pubsub.credit_window", crate::support::config::int(25)),
        ("pubsub.corrupted_replay_policy", string("fail")),
        ("pubsub.start", string("earliest")),
    ]);
    let config = Config::from_toml_str(&text).unwrap();

    let subscriber = SubscriberSettings::from(&config.pubsub);

    assert_eq!(subscriber.start, ReplayStart::Earliest);
    assert_eq!(subscriber.endpoint.url, "http://127.0.0.1:7443");
    assert!(subscriber.endpoint.insecure);
    assert!(subscriber
        .endpoint
        .ca_certificate_pem
        .as_deref()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    assert_eq!(subscriber.topic, "/event/Partner_Event__e");
    assert_eq!(subscriber.credit_window, 25);
    assert_eq!(
        subscriber.corrupted_replay_policy,
        CorruptedReplayPolicy::Fail
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn delivery_store_and_routing_sections_build_their_module_settings() {
    let text = minimal_with(&[
        ("delivery.secret", string("whsec")),
        (
            "delivery.connect_timeout_ms",
            crate::support::config::int(1_500),
        ),
        ("store.ack_batch_max_acks", crate::support::config::int(10)),
        (
            "store.dedup_max_age_secs",
            crate::support::config::int(3_600),
        ),
        (
            "store.conversation_max_age_days",
            crate::support::config::int(0),
        ),
        (
            "routing.decision_timeout_secs",
            crate::support::config::int(10),
        ),
    ]);
    let config = Config::from_toml_str(&text).unwrap();

    let webhook = Option::<WebhookSettings>::from(&config.delivery).unwrap();
    assert_eq!(webhook.url, "https://partner.example/byoc/events");
    assert_eq!(webhook.secret.unwrap().expose(), "whsec");
    assert_eq!(webhook.connect_timeout, Duration::from_millis(1_500));
    assert_eq!(webhook.request_timeout, Duration::from_secs(30));

    let store = StoreSettings::from(&config.store);
    assert_eq!(store.ack_batch_max_acks, 10);
    assert_eq!(store.dedup_max_age, Duration::from_secs(3_600));
    assert_eq!(store.conversation_max_age, None, "0 keeps conversations");

    let routing = Option::<WebhookSettings>::from(&config.routing).unwrap();
    assert_eq!(routing.url, "https://partner.example/byoc/routing");
    assert_eq!(routing.request_timeout, Duration::from_secs(10));
}

#[test]
fn a_prefetch_above_the_watermark_lag_acts_as_the_lag() {
    let lowered_lag = minimal_with(&[(
        "pipeline.max_watermark_lag",
        crate::support::config::int(500),
    )]);
    let config = Config::from_toml_str(&lowered_lag).unwrap();
    assert_eq!(
        config.pipeline_settings("00D000000000001").prefetch_events,
        500
    );

    let none = minimal_with(&[
        (
            "pipeline.max_watermark_lag",
            crate::support::config::int(500),
        ),
        ("pipeline.prefetch_events", crate::support::config::int(0)),
    ]);
    let config = Config::from_toml_str(&none).unwrap();
    assert_eq!(
        config.pipeline_settings("00D000000000001").prefetch_events,
        0
    );
}

#[test]
fn the_pipeline_and_routing_settings_gather_their_keys_from_every_section() {
    let text = minimal_with(&[
        ("pubsub.event_type_field", string("Kind__c")),
        (
            "pipeline.max_watermark_lag",
            crate::support::config::int(500),
        ),
        ("pipeline.grace_secs", crate::support::config::int(7)),
        ("pipeline.prefetch_events", crate::support::config::int(250)),
        (
            "channel.address_identifiers",
            Some(toml::Value::Array(vec![toml::Value::String(
                "+15550100".to_owned(),
            )])),
        ),
        ("routing.strategy", string("salesforce")),
        ("routing.window_secs", crate::support::config::int(30)),
        (
            "routing.decision_timeout_secs",
            crate::support::config::int(20),
        ),
        ("interaction.base_url", string("http://127.0.0.1:8443")),
        ("interaction.insecure", Some(toml::Value::Boolean(true))),
    ]);
    let config = Config::from_toml_str(&text).unwrap();

    let pipeline = config.pipeline_settings("00D000000000001");
    assert_eq!(pipeline.org_id, "00D000000000001");
    assert_eq!(pipeline.topic, "/event/Partner_Event__e");
    assert_eq!(pipeline.field_names.event_type, "Kind__c");
    assert_eq!(pipeline.field_names.payload, "Payload__c");
    assert_eq!(pipeline.max_watermark_lag, 500);
    assert_eq!(pipeline.prefetch_events, 250);
    assert_eq!(pipeline.grace, Duration::from_secs(7));
    let channels = pipeline.channel_filter.unwrap();
    assert!(channels.contains("+15550100") && channels.len() == 1);

    let routing = RoutingSettings::from(&config);
    assert_eq!(routing.strategy, RoutingStrategy::Salesforce);
    assert_eq!(routing.window, Duration::from_secs(30));
    assert_eq!(routing.decision_timeout, Duration::from_secs(20));
    assert!(routing.insecure);
}

/// A fresh directory under the system temp dir for one test.
fn scratch_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("byoc-config-test-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
