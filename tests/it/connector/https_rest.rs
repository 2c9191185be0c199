//! The connector against the fake's REST side over TLS, configured as for a real org: every
//! URL `https`, no `insecure` anywhere, and the fake's self-signed certificate as the one extra
//! trust anchor (`pubsub.ca_certificate_file`), which covers the token endpoint, SOQL and the
//! Interaction Service as well as Pub/Sub, for `run` and for `doctor`.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use byoc_connector::config::Config;
use byoc_connector::connector::{run_on, ConnectorError, Listeners};
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const CLIENT_ID: &str = "3MVG9https.client";
const CLIENT_SECRET: &str = "https-client-secret";

/// A connector config for the TLS `fake` with https URLs only, trusting the certificate in
/// `ca` (when given); client-credentials auth, so the instance URL comes from the token.
fn https_config(
    fake: &FakeSalesforce,
    ca: Option<&std::path::Path>,
    dir: &std::path::Path,
    delivery_url: &str,
) -> String {
    let endpoints = fake.endpoints();
    let trust = ca.map_or(String::new(), |ca| {
        format!("ca_certificate_file = \"{}\"", ca.display())
    });
    format!(
        r#"
[pubsub]
endpoint = "{pubsub}"
{trust}
topic = "{topic}"
start = "earliest"

[auth]
kind = "client-credentials"
client_id = "{CLIENT_ID}"
client_secret = "{CLIENT_SECRET}"
login_url = "{login}"

[interaction]
base_url = "{interaction}"
authorization_context = "{context}"

[delivery]
url = "{delivery_url}"

[store]
path = "{store}"

[routing]
strategy = "reject"
"#,
        pubsub = endpoints.pubsub,
        topic = endpoints.topic,
        login = endpoints.login_url,
        interaction = endpoints.interaction,
        context = endpoints.authorization_context,
        store = dir.join("state.redb").display(),
    )
}

/// Starts the connector on `config` in this process; cancelling the token stops it.
async fn spawn_connector(
    config: Config,
) -> (CancellationToken, JoinHandle<Result<(), ConnectorError>>) {
    let shutdown = CancellationToken::new();
    let listeners = Listeners::loopback().await.unwrap();
    let connector = tokio::spawn(run_on(config, listeners, shutdown.clone()));
    (shutdown, connector)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connector_gets_its_token_queries_and_posts_routing_results_over_https() {
    const CONVERSATION: &str = "2a0c6c2e-1f43-4d1e-9f61-000000000901";
    const WORK_ITEM: &str = "0MwXX0000000901AAA";
    const EVENT_ID: &str = "e2e00009-0000-4000-8000-000000000901";
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    fake.oauth().add_secret_client(CLIENT_ID, CLIENT_SECRET);
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    let endpoints = fake.endpoints();
    for url in [
        &endpoints.instance_url,
        &endpoints.login_url,
        &endpoints.interaction,
    ] {
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    }
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("https-rest");
    let ca = dir.path().join("fake-ca.pem");
    std::fs::write(&ca, fake.certificate_pem().unwrap()).unwrap();
    let config =
        Config::from_toml_str(&https_config(&fake, Some(&ca), dir.path(), &partner.url)).unwrap();
    let payload = routing_request_payload("queue", CONVERSATION, EVENT_ID);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();

    let (shutdown, connector) = spawn_connector(config).await;
    wait_until("a routingResult is posted", Duration::from_secs(20), || {
        !fake.interaction().calls_to("routingResult").is_empty()
    })
    .await;
    shutdown.cancel();
    connector.await.unwrap().unwrap();

    assert!(
        fake.oauth().tokens_issued() >= 1,
        "the token came over https"
    );
    assert!(
        !fake.soql().queries().is_empty(),
        "the work item was looked up at the https instance url the token named"
    );
    let results = fake.interaction().calls_to("routingResult");
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].body["conversationIdentifier"], CONVERSATION);
    assert_eq!(results[0].body["workItemId"], &WORK_ITEM[..15]);
    assert_eq!(results[0].body["success"], false);
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_fakes_certificate_the_connector_gets_no_token() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    fake.oauth().add_secret_client(CLIENT_ID, CLIENT_SECRET);
    let dir = ScratchDir::new("https-untrusted");
    let config = Config::from_toml_str(&https_config(
        &fake,
        None,
        dir.path(),
        "https://partner.invalid/",
    ))
    .unwrap();

    let (shutdown, connector) = spawn_connector(config).await;
    // The token request fails its handshake and is retried; it never reaches the token endpoint.
    tokio::time::sleep(Duration::from_secs(2)).await;
    shutdown.cancel();
    let _ = connector.await.unwrap();

    assert_eq!(fake.oauth().token_requests(), 0);
    fake.shutdown().await;
}

/// `doctor` trusts `pubsub.ca_certificate_file` for every Salesforce connection, as `run`
/// does: against the fake over TLS, the token, the channel definition and the Interaction
/// Service steps pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_trusts_the_configured_certificate_for_every_salesforce_call() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    fake.oauth().add_secret_client(CLIENT_ID, CLIENT_SECRET);
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("https-doctor");
    let ca = dir.path().join("fake-ca.pem");
    std::fs::write(&ca, fake.certificate_pem().unwrap()).unwrap();
    let config = dir.path().join("connector.toml");
    std::fs::write(
        &config,
        https_config(&fake, Some(&ca), dir.path(), &partner.url),
    )
    .unwrap();

    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
            .arg("doctor")
            .arg("--config")
            .arg(&config)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    })
    .await
    .unwrap();

    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{report}");
    assert!(!report.contains("[FAIL]"), "{report}");
    fake.shutdown().await;
}
