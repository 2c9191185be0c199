//! Token caching, proactive refresh and single-flight refresh after a rejection.

use std::time::Duration;

use crate::support::salesforce::{sample_capabilities, KeyFile, Salesforce, SECRET_CLIENT_ID};
use byoc_connector::auth::{AuthConfig, TokenProvider};
use tokio::task::JoinSet;

/// Concurrent callers in the tests below.
const CONCURRENT_CALLERS: usize = 8;

#[tokio::test]
async fn a_token_that_expires_mid_run_is_refreshed_and_the_call_succeeds() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let provider = fake.jwt_provider(&key_file);
    let client = fake.client(provider.clone());
    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();
    let first = provider.grant().await.unwrap();

    fake.registry.expire_all_issued();
    client
        .patch_capabilities(&sample_capabilities())
        .await
        .unwrap();

    let second = provider.grant().await.unwrap();
    assert!(!second.same_token(&first));
    assert_eq!(fake.oauth.token_requests(), 2);
    assert_eq!(fake.call_statuses(), [200, 401, 200]);
}

#[tokio::test]
async fn concurrent_calls_with_an_expired_token_cause_exactly_one_refresh() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let provider = fake.jwt_provider(&key_file);
    let client = fake.client(provider.clone());
    provider.grant().await.unwrap();
    fake.registry.expire_all_issued();

    let mut callers = JoinSet::new();
    for _ in 0..CONCURRENT_CALLERS {
        let client = client.clone();
        callers.spawn(async move { client.patch_capabilities(&sample_capabilities()).await });
    }
    while let Some(outcome) = callers.join_next().await {
        outcome.unwrap().unwrap();
    }

    assert_eq!(fake.oauth.token_requests(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rejections_of_the_same_token_share_one_refresh() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let provider = fake.jwt_provider(&key_file);
    let rejected = provider.grant().await.unwrap();

    let mut callers = JoinSet::new();
    for _ in 0..CONCURRENT_CALLERS {
        let provider = provider.clone();
        let rejected = rejected.clone();
        callers.spawn(async move { provider.refresh_after_rejection(&rejected).await });
    }
    let mut replacements = Vec::new();
    while let Some(outcome) = callers.join_next().await {
        replacements.push(outcome.unwrap().unwrap());
    }

    assert_eq!(fake.oauth.token_requests(), 2);
    assert!(replacements.iter().all(|grant| grant == &replacements[0]));
    assert!(!replacements[0].same_token(&rejected));
}

#[tokio::test]
async fn callers_waiting_on_a_failed_refresh_share_its_failure_instead_of_repeating_it() {
    let fake = Salesforce::start().await;
    let provider = TokenProvider::new(&AuthConfig::ClientCredentials(
        fake.client_credentials_config(),
    ))
    .unwrap();
    let rejected = provider.grant().await.unwrap();
    // From now on the fake refuses our secret.
    fake.oauth.add_secret_client(SECRET_CLIENT_ID, "rotated");

    let mut callers = JoinSet::new();
    for _ in 0..CONCURRENT_CALLERS {
        let provider = provider.clone();
        let rejected = rejected.clone();
        callers.spawn(async move { provider.refresh_after_rejection(&rejected).await });
    }
    let mut failures = 0;
    while let Some(outcome) = callers.join_next().await {
        let err = outcome.unwrap().unwrap_err();
        assert!(
            err.to_string().contains("invalid client credentials"),
            "{err}"
        );
        failures += 1;
    }

    assert_eq!(failures, CONCURRENT_CALLERS);
    assert_eq!(fake.oauth.token_requests(), 2);
}

#[tokio::test]
async fn a_caller_whose_token_was_already_replaced_gets_the_new_one_without_a_request() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let provider = fake.jwt_provider(&key_file);
    let old = provider.grant().await.unwrap();
    let new = provider.refresh_after_rejection(&old).await.unwrap();

    let late_reporter = provider.refresh_after_rejection(&old).await.unwrap();

    assert_eq!(late_reporter, new);
    assert_eq!(fake.oauth.token_requests(), 2);
}

#[tokio::test]
async fn the_token_is_replaced_proactively_when_its_assumed_lifetime_nears_its_end() {
    let fake = Salesforce::start().await;
    let key_file = KeyFile::registered();
    let mut config = fake.jwt_config(&key_file);
    config.token_lifetime_secs = 120;
    config.refresh_margin_secs = 60;
    let provider = TokenProvider::new(&AuthConfig::JwtBearer(config)).unwrap();
    let first = provider.grant().await.unwrap();

    // Only the clock moves: no request is in flight while time is paused.
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(30)).await;
    tokio::time::resume();
    assert_eq!(provider.grant().await.unwrap(), first);

    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(31)).await;
    tokio::time::resume();
    let second = provider.grant().await.unwrap();

    assert!(!second.same_token(&first));
    assert_eq!(fake.oauth.token_requests(), 2);
}

#[tokio::test]
async fn a_failed_proactive_refresh_keeps_the_token_until_its_assumed_lifetime_ends() {
    let fake = Salesforce::start().await;
    let mut config = fake.client_credentials_config();
    config.token_lifetime_secs = 120;
    config.refresh_margin_secs = 60;
    let provider = TokenProvider::new(&AuthConfig::ClientCredentials(config)).unwrap();
    let first = provider.grant().await.unwrap();
    // From now on the fake refuses our secret.
    fake.oauth.add_secret_client(SECRET_CLIENT_ID, "rotated");

    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(90)).await;
    tokio::time::resume();
    assert_eq!(provider.grant().await.unwrap(), first);

    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(31)).await;
    tokio::time::resume();
    assert!(provider.grant().await.is_err());
    assert_eq!(fake.oauth.token_requests(), 3);
}
