//! Renamed keys: `pubsub.max_in_flight` is now `pubsub.credit_window` and
//! `pipeline.max_in_flight` is now `pipeline.max_concurrent_conversations`. The new names load;
//! the old ones still load, in the file and in the environment, with a notice naming the new
//! key; giving both is refused.

use crate::support::config::{env, error_text, int, minimal_with, MINIMAL};
use byoc_connector::config::{Config, DeprecatedKey};

#[test]
fn the_new_keys_load_without_a_notice() {
    let text = minimal_with(&[
        ("pubsub.credit_window", int(25)),
        ("pipeline.max_concurrent_conversations", int(8)),
    ]);

    let config = Config::from_toml_str(&text).unwrap();

    assert_eq!(config.pubsub.credit_window, 25);
    assert_eq!(config.pipeline.max_concurrent_conversations, 8);
    assert!(config.deprecated_keys.is_empty());
}

#[test]
fn the_old_keys_still_load_and_leave_a_notice_naming_the_new_key() {
    let text = minimal_with(&[
        ("pubsub.max_in_flight", int(25)),
        ("pipeline.max_in_flight", int(8)),
    ]);

    let config = Config::from_toml_str(&text).unwrap();

    assert_eq!(config.pubsub.credit_window, 25);
    assert_eq!(config.pipeline.max_concurrent_conversations, 8);
    assert_eq!(
        config.deprecated_keys,
        vec![
            DeprecatedKey {
                old_key: "pubsub.max_in_flight",
                new_key: "pubsub.credit_window",
                env_var: None,
            },
            DeprecatedKey {
                old_key: "pipeline.max_in_flight",
                new_key: "pipeline.max_concurrent_conversations",
                env_var: None,
            },
        ]
    );
    assert_eq!(
        config.deprecated_keys[0].to_string(),
        "pubsub.max_in_flight is deprecated; rename it to pubsub.credit_window"
    );
}

#[test]
fn the_old_keys_still_load_from_the_environment_and_the_notice_names_both_variables() {
    let config = Config::from_toml_str_with_env(
        MINIMAL,
        env(&[
            ("BYOC__PUBSUB__MAX_IN_FLIGHT", "30"),
            ("BYOC__PIPELINE__MAX_IN_FLIGHT", "4"),
        ]),
    )
    .unwrap();

    assert_eq!(config.pubsub.credit_window, 30);
    assert_eq!(config.pipeline.max_concurrent_conversations, 4);
    let notices: Vec<String> = config
        .deprecated_keys
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        notices,
        vec![
            "pubsub.max_in_flight is deprecated; rename it to pubsub.credit_window \
             (set by BYOC__PUBSUB__MAX_IN_FLIGHT; use BYOC__PUBSUB__CREDIT_WINDOW)",
            "pipeline.max_in_flight is deprecated; rename it to \
             pipeline.max_concurrent_conversations (set by BYOC__PIPELINE__MAX_IN_FLIGHT; \
             use BYOC__PIPELINE__MAX_CONCURRENT_CONVERSATIONS)",
        ]
    );
}

#[test]
fn an_old_key_in_the_environment_beside_the_new_key_in_the_file_is_refused() {
    let text = minimal_with(&[("pubsub.credit_window", int(50))]);

    let error = error_text(&text, &[("BYOC__PUBSUB__MAX_IN_FLIGHT", "30")]);

    assert!(
        error.contains(
            "pubsub.max_in_flight is the old name of pubsub.credit_window, which is also set"
        ),
        "{error}"
    );
    assert!(
        error.contains("(set by BYOC__PUBSUB__MAX_IN_FLIGHT)"),
        "{error}"
    );
}

#[test]
fn giving_both_the_old_and_the_new_key_is_refused_naming_both() {
    let text = minimal_with(&[
        ("pipeline.max_in_flight", int(8)),
        ("pipeline.max_concurrent_conversations", int(16)),
    ]);

    let error = Config::from_toml_str(&text).unwrap_err();

    assert_eq!(error.problems().len(), 1, "{error}");
    let problem = &error.problems()[0];
    assert_eq!(problem.key, "pipeline.max_in_flight");
    assert!(
        problem
            .problem
            .contains("old name of pipeline.max_concurrent_conversations"),
        "{error}"
    );
    assert!(
        problem.hint.contains("remove pipeline.max_in_flight")
            && problem
                .hint
                .contains("keep pipeline.max_concurrent_conversations"),
        "{error}"
    );
}

#[test]
fn both_keys_across_the_file_and_the_environment_are_refused_naming_the_variable() {
    let text = minimal_with(&[("pubsub.max_in_flight", int(50))]);

    let error = error_text(&text, &[("BYOC__PUBSUB__CREDIT_WINDOW", "30")]);

    assert!(
        error.contains(
            "pubsub.max_in_flight is the old name of pubsub.credit_window, which is also set \
             (by BYOC__PUBSUB__CREDIT_WINDOW)"
        ),
        "{error}"
    );
}

#[test]
fn a_bad_value_under_an_old_name_is_reported_under_that_name() {
    let in_file = error_text(&minimal_with(&[("pubsub.max_in_flight", int(0))]), &[]);
    let from_env = error_text(MINIMAL, &[("BYOC__PIPELINE__MAX_IN_FLIGHT", "0")]);

    assert!(
        in_file.contains("pubsub.max_in_flight must be between 1 and 100, got 0"),
        "{in_file}"
    );
    assert!(
        from_env.contains(
            "pipeline.max_in_flight must be at least 1, got 0 (set by BYOC__PIPELINE__MAX_IN_FLIGHT)"
        ),
        "{from_env}"
    );
}
