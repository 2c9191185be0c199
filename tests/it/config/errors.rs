//! Refusing a bad configuration: every problem names the full key, says what is wrong and
//! gives a hint (G5), and a secret's value never shows (G6).

use crate::support::config::{env, error_text, int, minimal_with, string, MINIMAL, MINIMAL_ENV};
use byoc_connector::config::{Config, ConfigError};

#[test]
fn an_unknown_key_is_named_with_its_section_and_the_known_keys() {
    let text = minimal_with(&[("pubsub.tpoic", string("/event/X__e"))]);

    let error = error_text(&text, &[]);

    assert!(error.contains("pubsub.tpoic is not a known key"), "{error}");
    assert!(
        error.contains("hint:") && error.contains("`topic`"),
        "{error}"
    );
}

#[test]
fn an_unknown_section_is_named_with_the_known_sections() {
    let text = format!("{MINIMAL}\n[delivry]\nurl = \"https://x.example\"\n");

    let error = error_text(&text, &[]);

    assert!(error.contains("delivry is not a known section"), "{error}");
    assert!(error.contains("delivery"), "{error}");
}

#[test]
fn a_missing_required_key_is_named_with_an_example_value() {
    let text = minimal_with(&[("pubsub.topic", None)]);

    let error = error_text(&text, &[]);

    assert!(error.contains("pubsub.topic is missing"), "{error}");
    assert!(error.contains("hint: write it like `topic = "), "{error}");
}

#[test]
fn a_missing_auth_key_is_named_inside_the_auth_section() {
    let text = minimal_with(&[("auth.client_id", None)]);

    let error = error_text(&text, &[]);

    assert!(error.contains("auth.client_id is missing"), "{error}");
}

#[test]
fn an_unknown_auth_kind_lists_the_kinds() {
    let text = minimal_with(&[("auth.kind", string("password"))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("auth.kind has unknown value `password`"),
        "{error}"
    );
    assert!(error.contains("jwt-bearer"), "{error}");
}

#[test]
fn a_webhook_url_that_is_not_http_is_refused_with_a_hint() {
    let text = minimal_with(&[("delivery.url", string("ftp://partner.example/in"))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("delivery.url must be an http(s) url, got scheme `ftp`"),
        "{error}"
    );
    assert!(
        error.contains("hint: write it like `url = \"https://"),
        "{error}"
    );
}

#[test]
fn a_url_that_does_not_parse_is_refused() {
    let text = minimal_with(&[("routing.url", string("partner.example/routing"))]);

    let error = error_text(&text, &[]);

    assert!(error.contains("routing.url is not a valid url"), "{error}");
}

#[test]
fn a_fallback_queue_that_is_not_a_group_id_is_refused_naming_the_key() {
    for bad in ["300SG00000jJder", "00G5g00000", "00G5g000001ab-d"] {
        let text = minimal_with(&[("routing.fallback_queue_id", string(bad))]);

        let error = error_text(&text, &[]);

        assert!(
            error.contains("routing.fallback_queue_id must be a queue's Group id"),
            "{error}"
        );
        assert!(
            error.contains("hint: write it like `fallback_queue_id = \"00G"),
            "{error}"
        );
    }
}

#[test]
fn a_fallback_queue_in_either_id_form_is_accepted() {
    for good in ["00G5g000001abcd", "00G5g000001abcdEAA"] {
        let text = minimal_with(&[("routing.fallback_queue_id", string(good))]);
        let config = Config::from_toml_str(&text).unwrap();
        assert_eq!(config.routing.fallback_queue_id.as_deref(), Some(good));
    }
}

#[test]
fn a_webhook_delivery_without_url_is_refused() {
    let text = minimal_with(&[("delivery.url", None)]);

    let error = error_text(&text, &[]);

    assert!(error.contains("delivery.url is missing"), "{error}");
    assert!(error.contains("kind = \"stdout\""), "{error}");
}

#[test]
fn a_decision_timeout_not_below_the_window_is_refused() {
    let text = minimal_with(&[
        ("routing.decision_timeout_secs", int(60)),
        ("routing.window_secs", int(60)),
    ]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains(
            "routing.decision_timeout_secs must be less than routing.window_secs (60), got 60"
        ),
        "{error}"
    );
    assert!(error.contains("hint:"), "{error}");
}

#[test]
fn a_window_longer_than_salesforces_sixty_seconds_is_refused() {
    let text = minimal_with(&[("routing.window_secs", int(90))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("routing.window_secs must be between 1 and 60, got 90"),
        "{error}"
    );
}

#[test]
fn a_plaintext_pubsub_endpoint_without_insecure_is_refused() {
    let text = minimal_with(&[("pubsub.endpoint", string("http://127.0.0.1:7443"))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("pubsub.endpoint uses plaintext http without pubsub.insecure = true"),
        "{error}"
    );
    assert!(
        error.contains("hint: use https://, or set insecure = true"),
        "{error}"
    );
}

#[test]
fn a_plaintext_endpoint_to_a_remote_host_is_refused_even_with_insecure() {
    let text = minimal_with(&[
        ("interaction.base_url", string("http://scrt.example.com")),
        ("interaction.insecure", Some(toml::Value::Boolean(true))),
    ]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("interaction.base_url uses plaintext http"),
        "{error}"
    );
}

#[test]
fn a_zero_credit_window_or_conversation_limit_is_refused() {
    let text = minimal_with(&[
        ("pubsub.credit_window", int(0)),
        ("pipeline.max_concurrent_conversations", int(0)),
    ]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("pubsub.credit_window must be between 1 and 100, got 0"),
        "{error}"
    );
    assert!(
        error.contains("pipeline.max_concurrent_conversations must be at least 1, got 0"),
        "{error}"
    );
}

#[test]
fn every_problem_is_reported_on_its_own_line() {
    let text = minimal_with(&[
        ("pubsub.topic", string("Partner_Event__e")),
        ("pipeline.max_concurrent_conversations", int(0)),
        ("store.color", string("blue")),
    ]);

    let error = Config::from_toml_str(&text).unwrap_err();

    assert_eq!(error.problems().len(), 3, "{error}");
    assert_eq!(error.to_string().lines().count(), 3, "{error}");
    assert!(error
        .to_string()
        .contains("pubsub.topic must be /event/<EventName>"));
}

#[test]
fn a_value_of_the_wrong_type_names_the_expected_type() {
    let text = minimal_with(&[("pipeline.grace_secs", string("twenty"))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("pipeline.grace_secs must be a whole number, found a string"),
        "{error}"
    );
}

#[test]
fn a_bad_environment_value_names_the_variable_that_set_it() {
    let error = error_text(
        MINIMAL,
        &[("BYOC__PIPELINE__MAX_CONCURRENT_CONVERSATIONS", "0")],
    );

    assert!(
        error.contains(
            "pipeline.max_concurrent_conversations must be at least 1, got 0 (set by BYOC__PIPELINE__MAX_CONCURRENT_CONVERSATIONS)"
        ),
        "{error}"
    );
}

#[test]
fn an_environment_variable_without_a_key_is_refused() {
    let error = error_text(MINIMAL, &[("BYOC__DELIVERY", "https://x.example")]);

    assert!(
        error.contains("BYOC__DELIVERY does not name a config key"),
        "{error}"
    );
    assert!(error.contains("BYOC__SECTION__KEY"), "{error}");
}

#[test]
fn an_unreadable_file_is_named_in_the_error() {
    let path = std::path::Path::new("/nonexistent/byoc-connector.toml");

    let error = Config::load(Some(path), env(&[])).unwrap_err();

    assert!(matches!(error, ConfigError::Read { .. }));
    assert!(error
        .to_string()
        .contains("/nonexistent/byoc-connector.toml"));
}

#[test]
fn a_secret_of_the_wrong_type_is_refused_without_showing_it() {
    let text = minimal_with(&[("delivery.secret", int(987_654_321))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("delivery.secret must be a string, found an integer"),
        "{error}"
    );
    assert!(!error.contains("987654321"), "{error}");
}

#[test]
fn a_secret_given_where_it_does_not_belong_is_refused_without_showing_it() {
    let text = minimal_with(&[
        ("auth.kind", string("jwt-bearer")),
        ("auth.client_secret", None),
        ("auth.username", string("integration@example.com")),
        ("auth.private_key_file", string("/etc/byoc/key.pem")),
    ]);

    let error = error_text(&text, &[("BYOC__AUTH__CLIENT_SECRET", "misplaced-s3cret")]);

    assert!(
        error.contains("auth.client_secret is not a known key"),
        "{error}"
    );
    assert!(
        error.contains("(set by BYOC__AUTH__CLIENT_SECRET)"),
        "{error}"
    );
    assert!(!error.contains("misplaced-s3cret"), "{error}");
}

#[test]
fn an_empty_secret_is_refused_without_showing_it() {
    let error = error_text(MINIMAL, &[("BYOC__ROUTING__SECRET", "   ")]);

    assert!(error.contains("routing.secret is empty"), "{error}");
}

/// A blank credential is refused at load, naming the key and where it came from, instead of
/// failing at Salesforce's token endpoint as `invalid_client` far from its cause.
#[test]
fn a_blank_client_secret_is_refused_at_load_naming_the_key_and_its_variable() {
    let error = error_text(MINIMAL, &[("BYOC__AUTH__CLIENT_SECRET", "   ")]);

    assert!(error.contains("auth.client_secret is empty"), "{error}");
    assert!(
        error.contains("(set by BYOC__AUTH__CLIENT_SECRET)"),
        "{error}"
    );
}

#[test]
fn a_syntax_error_gives_its_position_but_not_the_line_holding_a_secret() {
    let text = MINIMAL.replace(
        "client_secret = \"cc-secret-value\"",
        "client_secret = \"unterminated-s3cret",
    );

    let error = Config::from_toml_str(&text).unwrap_err();

    let ConfigError::Syntax { line, .. } = &error else {
        panic!("syntax error expected, got {error}");
    };
    assert_eq!(*line, 8);
    assert!(
        !error.to_string().contains("unterminated-s3cret"),
        "{error}"
    );
}

#[test]
fn secrets_never_appear_in_the_debug_output_of_a_loaded_config() {
    let text = minimal_with(&[
        ("delivery.secret", string("whsec-delivery-hidden")),
        (
            "delivery.url",
            string("https://partner.example/hook?token=url-token-hidden"),
        ),
        ("routing.secret", string("whsec-routing-hidden")),
    ]);

    let config = Config::from_toml_str(&text).unwrap();
    let debug = format!("{config:?}");

    for secret in [
        "cc-secret-value",
        "whsec-delivery-hidden",
        "url-token-hidden",
        "whsec-routing-hidden",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked: {debug}");
    }
}

#[test]
fn a_static_token_never_appears_in_debug_output() {
    let config = Config::load(None, env(MINIMAL_ENV)).unwrap();

    assert!(!format!("{config:?}").contains("static-token-hidden"));
}

#[test]
fn a_sidecar_bound_beyond_loopback_without_a_token_is_refused_naming_server_sidecar_token() {
    let text = minimal_with(&[("server.sidecar_listen", string("0.0.0.0:9465"))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("server.sidecar_token is required"),
        "{error}"
    );
    assert!(error.contains("0.0.0.0:9465"), "{error}");
}

#[test]
fn a_sidecar_token_from_the_environment_admits_a_wide_sidecar_and_never_shows() {
    let token = "sidecar-token-value-4f1c";
    let text = minimal_with(&[("server.sidecar_listen", string("0.0.0.0:9465"))]);

    let config =
        Config::from_toml_str_with_env(&text, env(&[("BYOC__SERVER__SIDECAR_TOKEN", token)]))
            .unwrap();

    assert_eq!(
        config
            .server
            .sidecar_token
            .as_ref()
            .map(byoc_connector::secret::SecretString::expose),
        Some(token)
    );
    assert!(!format!("{config:?}").contains(token));
    assert!(!toml::to_string(&config).unwrap().contains(token));
}

#[test]
fn batch_max_events_is_refused_outside_its_range_and_with_stdout() {
    for bad in [0, 1_001] {
        let text = minimal_with(&[("delivery.batch_max_events", int(bad))]);
        let error = error_text(&text, &[]);
        assert!(
            error.contains("delivery.batch_max_events must be between 1 and 1000"),
            "{error}"
        );
    }
    let text = minimal_with(&[
        ("delivery.kind", string("stdout")),
        ("delivery.url", None),
        ("delivery.batch_max_events", int(5)),
    ]);
    let error = error_text(&text, &[]);
    assert!(
        error.contains("delivery.batch_max_events applies only to kind = \"webhook\""),
        "{error}"
    );
}

#[test]
fn batch_max_events_of_one_keeps_one_event_per_request_and_more_selects_batches() {
    use byoc_connector::channel::AnyChannel;
    let channel_for = |edits: &[(&str, Option<toml::Value>)]| {
        let config = Config::from_toml_str_with_env(&minimal_with(edits), env(&[])).unwrap();
        AnyChannel::try_from(&config.delivery).unwrap()
    };
    assert!(matches!(channel_for(&[]), AnyChannel::Webhook(_)));
    assert!(matches!(
        channel_for(&[("delivery.batch_max_events", int(1))]),
        AnyChannel::Webhook(_)
    ));
    assert!(matches!(
        channel_for(&[("delivery.batch_max_events", int(50))]),
        AnyChannel::BatchedWebhook(_)
    ));
}
