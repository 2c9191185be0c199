//! Guarantee G6: tokens, client secrets and private keys never appear in Debug, Display or logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::support::salesforce::{
    sample_capabilities, test_key, KeyFile, Salesforce, TestKey, CLIENT_SECRET,
};
use byoc_connector::auth::{AuthConfig, TokenProvider};
use byoc_connector::secret::SecretString;

/// A tracing writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Fails naming the secret's label (never its value) when `haystack` contains it.
fn assert_absent(haystack: &str, secret: &str, label: &str) {
    assert!(!secret.is_empty());
    assert!(
        !haystack.contains(secret),
        "{label} leaked into captured output"
    );
}

#[tokio::test]
async fn secrets_never_appear_in_logs_debug_or_display_while_auth_fails_and_succeeds() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Tests on other threads of this binary hit the same log call sites. While only one
    // dispatcher exists, tracing decides a call site's interest from the thread that registers
    // it and caches "nobody listens" for every thread. A second, global dispatcher makes it ask
    // every registered dispatcher, this test's capture included.
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let wrong_key = TestKey::generate();
    let wrong_key_file = KeyFile::write(&wrong_key.private_pem);
    let mut shown = Vec::new();
    let mut tokens = vec![fake.registry.static_token().to_owned()];

    // Failing: an unknown key, then a wrong client secret.
    let failing_jwt = fake.jwt_provider(&wrong_key_file);
    let err = failing_jwt.grant().await.unwrap_err();
    shown.push(format!("{err} {err:?} {failing_jwt:?}"));
    let mut bad_secret = fake.client_credentials_config();
    bad_secret.client_secret = SecretString::new(format!("{CLIENT_SECRET}-wrong"));
    let bad_secret_config = AuthConfig::ClientCredentials(bad_secret);
    let failing_cc = TokenProvider::new(&bad_secret_config).unwrap();
    let err = failing_cc.grant().await.unwrap_err();
    shown.push(format!("{err} {err:?} {bad_secret_config:?}"));

    // Succeeding: jwt-bearer and client-credentials, an Interaction call, an expiry and refresh.
    let jwt = fake.jwt_provider(&key_file);
    let client = fake.client(jwt.clone());
    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();
    let grant = jwt.grant().await.unwrap();
    tokens.push(grant.access_token.expose().to_owned());
    shown.push(format!("{grant:?} {jwt:?} {client:?}"));
    fake.registry.expire_all_issued();
    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();
    tokens.push(jwt.grant().await.unwrap().access_token.expose().to_owned());
    let cc_config = AuthConfig::ClientCredentials(fake.client_credentials_config());
    let cc = TokenProvider::new(&cc_config).unwrap();
    let cc_grant = cc.grant().await.unwrap();
    tokens.push(cc_grant.access_token.expose().to_owned());
    shown.push(format!(
        "{cc_config:?} {cc:?} {cc_grant:?} {}",
        cc_grant.access_token
    ));

    // Static: a rejected static token gives an error, never the token.
    let static_config = AuthConfig::Static(fake.static_config());
    let static_provider = TokenProvider::new(&static_config).unwrap();
    let static_grant = static_provider.grant().await.unwrap();
    let err = static_provider
        .refresh_after_rejection(&static_grant)
        .await
        .unwrap_err();
    shown.push(format!("{static_config:?} {static_grant:?} {err} {err:?}"));

    // The recorded calls redact the bearer token too.
    shown.push(serde_json::to_string(&fake.interaction.calls()).unwrap());

    let captured = logs.text();
    assert!(
        captured.contains("obtained access token"),
        "the capture saw no auth log lines"
    );
    let everything = format!("{captured}\n{}", shown.join("\n"));
    for token in &tokens {
        assert_absent(&everything, token, "an access token");
        // The random part alone must not leak either.
        let random_part = token.split('!').nth(1).unwrap();
        assert_absent(&everything, random_part, "an access token's random part");
    }
    assert_absent(&everything, CLIENT_SECRET, "the client secret");
    assert_absent(
        &everything,
        test_key().private_key_fragment(),
        "the private key",
    );
    assert_absent(
        &everything,
        wrong_key.private_key_fragment(),
        "the unregistered private key",
    );
    // A signed JWT assertion starts with the base64 of `{"`.
    assert_absent(&everything, "eyJ", "a jwt assertion");
}
