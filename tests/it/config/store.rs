//! The `[store]` engine keys: `kind`, `url` and `namespace` must agree, and the URL (it may hold a
//! password) never shows in a problem or in Debug output.

use crate::support::config::{env, error_text, minimal_with, string};
use byoc_connector::config::{Config, StoreKind, DEFAULT_STORE_NAMESPACE};
use byoc_connector::store::Location;

#[test]
fn the_embedded_redb_store_in_the_default_namespace_is_the_default() {
    let config = Config::from_toml_str(&minimal_with(&[])).unwrap();

    assert_eq!(config.store.kind, StoreKind::Redb);
    assert!(config.store.url.is_none());
    assert_eq!(config.store.namespace, DEFAULT_STORE_NAMESPACE);
}

#[test]
fn postgres_without_a_url_is_refused_naming_store_url() {
    let text = minimal_with(&[("store.kind", string("postgres"))]);

    let error = error_text(&text, &[]);

    assert!(error.contains("store.url is required"), "{error}");
    assert!(error.contains("BYOC__STORE__URL"), "{error}");
}

#[test]
fn an_unknown_engine_is_refused_naming_store_kind() {
    let text = minimal_with(&[("store.kind", string("mysql"))]);

    let error = error_text(&text, &[]);

    assert!(error.contains("store.kind"), "{error}");
    assert!(error.contains("postgres"), "{error}");
}

#[test]
fn a_url_with_the_redb_engine_is_refused_without_showing_the_url() {
    let url = "postgres://byoc:pw-7c1e@db.internal/byoc";
    let text = minimal_with(&[("store.url", string(url))]);

    let error = error_text(&text, &[]);

    assert!(
        error.contains("store.url is only read when store.kind is \"postgres\""),
        "{error}"
    );
    assert!(!error.contains("pw-7c1e"), "{error}");
}

#[test]
fn a_url_that_is_not_postgres_is_refused_without_being_quoted() {
    let text = minimal_with(&[("store.kind", string("postgres"))]);

    let error = error_text(&text, &[("BYOC__STORE__URL", "mysql://root:pw-99aa@db/x")]);

    assert!(
        error.contains("store.url must start with postgres://"),
        "{error}"
    );
    assert!(!error.contains("pw-99aa"), "{error}");
}

#[test]
fn a_namespace_outside_the_allowed_characters_or_length_is_refused() {
    for bad in ["", "has space", "semi;colon", &"n".repeat(65)] {
        let text = minimal_with(&[("store.namespace", string(bad))]);

        let error = error_text(&text, &[]);

        assert!(
            error.contains("store.namespace must be 1 to 64"),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn a_namespace_is_read_from_the_file() {
    let text = minimal_with(&[("store.namespace", string("acme-sms.eu_1"))]);

    let config = Config::from_toml_str_with_env(&text, env(&[])).unwrap();

    assert_eq!(config.store.namespace, "acme-sms.eu_1");
}

#[test]
fn a_postgres_url_is_accepted_and_names_the_database_and_namespace() {
    let text = minimal_with(&[
        ("store.kind", string("postgres")),
        ("store.namespace", string("acme-sms")),
    ]);

    let config = Config::from_toml_str_with_env(
        &text,
        env(&[(
            "BYOC__STORE__URL",
            "postgres://byoc:pw-31f0@db.internal:5432/byoc",
        )]),
    )
    .unwrap();

    assert_eq!(config.store.kind, StoreKind::Postgres);
    match config.store.location() {
        Location::Postgres { url, namespace } => {
            assert_eq!(
                url.expose(),
                "postgres://byoc:pw-31f0@db.internal:5432/byoc"
            );
            assert_eq!(namespace, "acme-sms");
        }
        Location::File(path) => panic!("a postgres store is not the file {}", path.display()),
    }
    assert!(!format!("{config:?}").contains("pw-31f0"));
}

#[test]
fn a_postgres_url_asking_for_tls_loads_and_a_missing_sslrootcert_is_refused_without_quoting_it() {
    let text = minimal_with(&[("store.kind", string("postgres"))]);
    let url = "postgres://byoc:pw-77ab@db.internal/byoc?sslmode=verify-full";
    Config::from_toml_str_with_env(&text, env(&[("BYOC__STORE__URL", url)]))
        .expect("verify-full with the web roots loads");

    let error = error_text(
        &text,
        &[(
            "BYOC__STORE__URL",
            "postgres://byoc:pw-77ab@db.internal/byoc?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )],
    );

    assert!(
        error.contains("store.url") && error.contains("sslrootcert=/nonexistent/ca.pem"),
        "{error}"
    );
    assert!(!error.contains("pw-77ab"), "{error}");
}
