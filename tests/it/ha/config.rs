//! `[ha]`: off by default, only on PostgreSQL, a takeover time inside the routing window, and
//! lease timings derived from it.

use std::time::Duration;

use crate::support::config::{error_text, int, minimal_with, string};
use byoc_connector::config::Config;

fn boolean(value: bool) -> Option<toml::Value> {
    Some(toml::Value::Boolean(value))
}

#[test]
fn ha_is_off_by_default_with_a_ten_second_takeover() {
    let config = Config::from_toml_str(&minimal_with(&[])).unwrap();

    assert!(!config.ha.enabled);
    assert_eq!(config.ha.takeover_secs, 10);
    assert!(config.ha.keeper_settings(&config.store).is_none());
    let timings = config.ha.timings();
    assert_eq!(timings.ttl + timings.poll, Duration::from_secs(10));
}

#[test]
fn ha_on_the_embedded_store_is_refused_naming_ha_enabled() {
    let text = minimal_with(&[("ha.enabled", boolean(true))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("ha.enabled requires store.kind = \"postgres\""),
        "{error}"
    );
}

#[test]
fn ha_on_postgres_raises_no_problem_of_its_own() {
    let text = minimal_with(&[
        ("ha.enabled", boolean(true)),
        ("store.kind", string("postgres")),
        (
            "store.url",
            string("postgres://byoc:pw-31ad@db.internal/byoc"),
        ),
    ]);

    match Config::from_toml_str(&text) {
        Ok(config) => {
            let settings = config.ha.keeper_settings(&config.store).unwrap();
            assert_eq!(settings.namespace, "default");
            assert!(settings
                .holder
                .ends_with(&format!("-{}", std::process::id())));
        }
        Err(error) => {
            let error = error.to_string();
            assert!(!error.contains("ha."), "{error}");
            assert!(!error.contains("pw-31ad"), "{error}");
        }
    }
}

#[test]
fn a_takeover_outside_three_to_thirty_seconds_is_refused() {
    for takeover in [0, 2, 31, 600] {
        let text = minimal_with(&[("ha.takeover_secs", int(takeover))]);

        let error = error_text(&text, &[]);

        assert!(
            error.contains(&format!(
                "ha.takeover_secs must be between 3 and 30, got {takeover}"
            )),
            "{error}"
        );
    }
}

#[test]
fn a_replica_id_with_spaces_is_refused_and_one_from_the_environment_is_used() {
    let error = error_text(&minimal_with(&[("ha.replica_id", string("pod 0"))]), &[]);
    assert!(error.contains("ha.replica_id must be"), "{error}");

    let config = Config::from_toml_str_with_env(
        &minimal_with(&[]),
        vec![(
            "BYOC__HA__REPLICA_ID".to_owned(),
            "byoc-connector-7f9c".to_owned(),
        )],
    )
    .unwrap();
    assert_eq!(config.ha.replica_id(), "byoc-connector-7f9c");
}
