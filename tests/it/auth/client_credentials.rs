//! client-credentials and static auth against the fake OAuth server.

use crate::support::salesforce::{Salesforce, ORG_ID};
use byoc_connector::auth::{AuthConfig, AuthError, TokenProvider};
use byoc_connector::secret::SecretString;

#[tokio::test]
async fn client_credentials_obtains_a_token_from_the_fake() {
    let fake = Salesforce::start().await;
    let provider = TokenProvider::new(&AuthConfig::ClientCredentials(
        fake.client_credentials_config(),
    ))
    .unwrap();

    let grant = provider.grant().await.unwrap();

    assert!(grant.access_token.expose().starts_with(ORG_ID));
    assert_eq!(grant.org_id.as_str(), ORG_ID);
    assert_eq!(grant.instance_url, fake.base_url);
    assert_eq!(fake.oauth.tokens_issued(), 1);
}

#[tokio::test]
async fn a_wrong_client_secret_is_refused_as_invalid_client() {
    let fake = Salesforce::start().await;
    let mut config = fake.client_credentials_config();
    config.client_secret = SecretString::new("not-the-secret");
    let provider = TokenProvider::new(&AuthConfig::ClientCredentials(config)).unwrap();

    let err = provider.grant().await.unwrap_err();

    match &err {
        AuthError::Rejected {
            status,
            error,
            description,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error, "invalid_client");
            assert_eq!(description, "invalid client credentials");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_static_token_is_handed_out_as_given_and_cannot_be_refreshed() {
    let fake = Salesforce::start().await;
    let provider = TokenProvider::new(&AuthConfig::Static(fake.static_config())).unwrap();

    let grant = provider.grant().await.unwrap();
    assert_eq!(grant.access_token.expose(), fake.registry.static_token());
    assert_eq!(grant.org_id.as_15(), &ORG_ID[..15]);

    let err = provider.refresh_after_rejection(&grant).await.unwrap_err();
    assert!(matches!(err, AuthError::StaticTokenRejected), "{err:?}");
    assert_eq!(fake.oauth.token_requests(), 0);
}

#[tokio::test]
async fn a_token_endpoint_that_cannot_be_reached_is_a_retryable_error() {
    // Bind and drop a listener so the port is (very likely) closed; loopback only.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    let fake = Salesforce::start().await;
    let mut config = fake.client_credentials_config();
    config.login_url = format!("http://{address}");
    let provider = TokenProvider::new(&AuthConfig::ClientCredentials(config)).unwrap();

    let err = provider.grant().await.unwrap_err();

    assert!(matches!(err, AuthError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
}
