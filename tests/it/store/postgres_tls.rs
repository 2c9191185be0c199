//! TLS to PostgreSQL: the throwaway cluster of `scripts/test` speaks TLS with a certificate
//! signed by a test CA. A `store.url` asking for TLS gets it, verified against `sslrootcert`;
//! a server whose certificate the trusted roots did not sign is refused, never used in
//! plaintext instead. The HA lease connects the same way.

use crate::support::store::{fresh_namespace, postgres_client, postgres_tls_url};
use byoc_connector::ha::LeaseDb;
use byoc_connector::secret::SecretString;
use byoc_connector::store::{Store, StoreError, StoreSettings};

use super::tables::{replay_id, ORG, TOPIC};

/// Sessions the server reports as encrypted for `application_name = tag`.
fn encrypted_sessions(tag: &str) -> i64 {
    postgres_client()
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE s.ssl AND a.application_name = $1",
            &[&tag],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_store_url_asking_for_tls_gets_an_encrypted_verified_connection() {
    for sslmode in ["require", "verify-ca", "verify-full"] {
        let tag = format!("byoc-tls-{}", uuid::Uuid::new_v4().simple());
        let url = postgres_tls_url(sslmode, true, &tag);

        let store = Store::open_postgres(&url, &fresh_namespace(), StoreSettings::default())
            .unwrap_or_else(|error| panic!("sslmode={sslmode}: {error}"));
        store.set_checkpoint(ORG, TOPIC, &replay_id(7)).unwrap();

        assert_eq!(
            store.load_checkpoint(ORG, TOPIC).unwrap(),
            Some(replay_id(7))
        );
        assert!(encrypted_sessions(&tag) >= 1, "sslmode={sslmode}");
    }
}

#[test]
fn a_server_certificate_the_trusted_roots_did_not_sign_is_refused() {
    // Without sslrootcert only the public web roots are trusted, and they did not sign the
    // test CA: the connection must fail rather than go on unverified or in plaintext.
    let tag = format!("byoc-tls-{}", uuid::Uuid::new_v4().simple());
    let url = postgres_tls_url("require", false, &tag);

    let Err(error) = Store::open_postgres(&url, &fresh_namespace(), StoreSettings::default())
    else {
        panic!("an unverified server is refused");
    };

    assert!(
        matches!(error, StoreError::PostgresOpen { .. }),
        "{error:?}"
    );
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    assert_eq!(encrypted_sessions(&tag), 0);
}

#[test]
fn an_unreadable_sslrootcert_is_refused_naming_the_file() {
    let url = format!(
        "{}&sslrootcert=/nonexistent/byoc-ca.pem",
        postgres_tls_url("verify-full", false, "byoc-tls-missing-ca")
    );

    let Err(error) = Store::open_postgres(&url, &fresh_namespace(), StoreSettings::default())
    else {
        panic!("a missing CA file is refused");
    };

    assert!(
        matches!(error, StoreError::PostgresTlsRoots { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("/nonexistent/byoc-ca.pem"),
        "{error}"
    );
}

#[tokio::test]
async fn the_ha_lease_connects_over_tls_too() {
    let tag = format!("byoc-tls-{}", uuid::Uuid::new_v4().simple());
    let url = SecretString::new(postgres_tls_url("verify-full", true, &tag));

    let lease_db = LeaseDb::connect(&url).await.unwrap();
    let namespace = fresh_namespace();
    assert!(lease_db.current(&namespace).await.unwrap().is_none());

    let sessions = tokio::task::spawn_blocking(move || encrypted_sessions(&tag))
        .await
        .unwrap();
    assert_eq!(sessions, 1);

    let refused = SecretString::new(postgres_tls_url("require", false, "byoc-tls-lease-refused"));
    assert!(LeaseDb::connect(&refused).await.is_err());
}
