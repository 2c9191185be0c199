//! jwt-bearer against the fake OAuth server, with RSA keys generated in the test.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::support::salesforce::{test_key, KeyFile, Salesforce, TestKey, JWT_CLIENT_ID, ORG_ID};
use byoc_connector::auth::{AuthConfig, AuthError, TokenProvider};
use fake_salesforce::oauth::JWT_BEARER_GRANT_TYPE;

/// The token endpoint's refusal, or a panic naming what came instead.
fn refusal(result: Result<impl std::fmt::Debug, AuthError>) -> (String, String) {
    match result {
        Err(AuthError::Rejected {
            error, description, ..
        }) => (error, description),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn jwt_bearer_obtains_a_token_instance_url_and_org_id_from_the_fake() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let provider = fake.jwt_provider(&key_file);

    let grant = provider.grant().await.unwrap();

    assert!(grant
        .access_token
        .expose()
        .starts_with(&format!("{ORG_ID}!")));
    assert_eq!(grant.instance_url, fake.base_url);
    assert_eq!(grant.org_id.as_str(), ORG_ID);
    assert_eq!(provider.kind(), "jwt-bearer");
    // Cached: a second grant needs no second token request.
    assert_eq!(provider.grant().await.unwrap(), grant);
    assert_eq!(fake.oauth.token_requests(), 1);
}

#[tokio::test]
async fn a_key_the_fake_does_not_know_is_refused_with_an_error_that_names_the_signature() {
    let fake = Salesforce::start().await;
    let other_key = TestKey::generate();
    let key_file = KeyFile::write(&other_key.private_pem);
    let provider = fake.jwt_provider(&key_file);

    let (error, description) = refusal(provider.grant().await);

    assert_eq!(error, "invalid_grant");
    assert!(description.contains("signature"), "{description}");
}

#[tokio::test]
async fn a_wrong_audience_is_refused_with_an_error_that_names_the_audience() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let mut config = fake.jwt_config(&key_file);
    // Same server, but the audience (the login URL as written) differs from what it accepts.
    config.login_url = fake.base_url.replace("127.0.0.1", "localhost");
    let provider = TokenProvider::new(&AuthConfig::JwtBearer(config)).unwrap();

    let (error, description) = refusal(provider.grant().await);

    assert_eq!(error, "invalid_grant");
    assert_eq!(description, "audience is invalid");
    let message = provider.grant().await.unwrap_err().to_string();
    assert!(message.contains("audience is invalid"), "{message}");
}

#[tokio::test]
async fn an_unknown_client_id_or_username_is_refused_with_distinct_errors() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();

    let mut unknown_client = fake.jwt_config(&key_file);
    unknown_client.client_id = "3MVG9unknown".to_owned();
    let provider = TokenProvider::new(&AuthConfig::JwtBearer(unknown_client)).unwrap();
    let (error, description) = refusal(provider.grant().await);
    assert_eq!(
        (error.as_str(), description.as_str()),
        ("invalid_client_id", "client identifier invalid")
    );

    let mut unknown_user = fake.jwt_config(&key_file);
    unknown_user.username = "someone.else@byoc.example".to_owned();
    let provider = TokenProvider::new(&AuthConfig::JwtBearer(unknown_user)).unwrap();
    let (error, description) = refusal(provider.grant().await);
    assert_eq!(error, "invalid_grant");
    assert!(description.contains("subject"), "{description}");
}

#[tokio::test]
async fn the_org_id_comes_from_userinfo_when_the_token_response_has_no_identity_url() {
    let fake = Salesforce::start().await;
    fake.oauth.set_identity_url_in_response(false);
    let key_file = KeyFile::registered();

    let grant = fake.jwt_provider(&key_file).grant().await.unwrap();

    assert_eq!(grant.org_id.as_str(), ORG_ID);
}

#[tokio::test]
async fn the_fake_refuses_assertions_that_expire_too_late_or_already_expired() {
    let fake = Salesforce::start().await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let http = crate::support::salesforce::raw_http();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(test_key().private_pem.as_bytes()).unwrap();
    let cases = [
        (now + 10 * 60, "more than 3 minutes"),
        (now - 10 * 60, "expired assertion"),
    ];
    for (exp, expected) in cases {
        let claims = serde_json::json!({
            "iss": JWT_CLIENT_ID, "sub": "integration@byoc.example", "aud": fake.base_url, "exp": exp
        });
        let assertion = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
            &claims,
            &key,
        )
        .unwrap();
        let response = http
            .post(format!("{}/services/oauth2/token", fake.base_url))
            .form(&[
                ("grant_type", JWT_BEARER_GRANT_TYPE),
                ("assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let body: serde_json::Value = response.json().await.unwrap();
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(expected), "{description}");
    }
}

#[tokio::test]
async fn an_unreadable_or_malformed_key_file_fails_at_construction_naming_the_key() {
    let fake = Salesforce::start().await;
    let not_a_key = KeyFile::write(
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXN0dWZm\n-----END PRIVATE KEY-----\n",
    );
    let missing = KeyFile::write("");
    let mut missing_config = fake.jwt_config(&missing);
    missing_config.private_key_file = missing.path.with_extension("absent");

    for config in [fake.jwt_config(&not_a_key), missing_config] {
        let err = TokenProvider::new(&AuthConfig::JwtBearer(config)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("auth.private_key_file"), "{message}");
        assert!(!message.contains("c2VjcmV0LXN0dWZm"), "{message}");
    }
}

/// The PEM parser takes an RSA public key or a certificate as well; they cannot sign, and the
/// refusal comes at construction naming the key, not at the first token request. (A
/// certificate is what the setup guide has operators make next to the key.)
#[tokio::test]
async fn a_public_key_or_a_certificate_given_as_the_private_key_fails_at_construction_naming_the_key(
) {
    let fake = Salesforce::start().await;
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["byoc.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap()
        .pem();
    let public_key = KeyFile::write(&key.public_key_pem());
    let certificate = KeyFile::write(&certificate);

    for file in [&public_key, &certificate] {
        let err = TokenProvider::new(&AuthConfig::JwtBearer(fake.jwt_config(file))).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("auth.private_key_file"), "{message}");
        assert!(
            message.contains("not a pem-encoded rsa private key"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn plain_http_login_url_is_refused_unless_insecure_is_set() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let mut config = fake.jwt_config(&key_file);
    config.insecure = false;

    let err = TokenProvider::new(&AuthConfig::JwtBearer(config)).unwrap_err();

    assert!(matches!(err, AuthError::Url(_)), "{err:?}");
    assert!(err.to_string().contains("auth.login_url"));
}
