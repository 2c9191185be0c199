//! `byoc-connector fake-salesforce` as another process would use it: the ready line,
//! the control plane, the https instance URL, and a TLS subscription trusting the written
//! certificate.

use std::process::Stdio;
use std::time::Duration;

use crate::support::*;
use byoc_connector::pubsub::{
    EndpointSettings, PubSubCredentials, ReplayStart, StaticCredentials, Subscriber,
    SubscriberSettings,
};
use byoc_connector::telemetry::Telemetry;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_prints_its_endpoints_and_publishes_through_the_control_plane() {
    byoc_connector::install_crypto_provider();
    let scratch = std::env::temp_dir().join(format!("byoc-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let cert_path = scratch.join("fake.pem");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["fake-salesforce", "--tls", "--cert-out"])
        .arg(&cert_path)
        .args(["--secret-client", "3MVG9ready.client=ready-secret"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("ready line in time")
        .unwrap()
        .expect("a ready line");
    let endpoints: serde_json::Value = serde_json::from_str(&ready).unwrap();
    for key in [
        "pubsub",
        "control",
        "topic",
        "token",
        "orgId",
        "instanceUrl",
        "httpInstanceUrl",
        "certificate",
    ] {
        assert!(
            endpoints[key].is_string(),
            "ready line names {key}: {ready}"
        );
    }
    assert!(endpoints["pubsub"]
        .as_str()
        .unwrap()
        .starts_with("https://127.0.0.1:"));
    assert!(endpoints["httpInstanceUrl"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    let instance_url = endpoints["instanceUrl"].as_str().unwrap();
    assert!(instance_url.starts_with("https://127.0.0.1:"), "{ready}");
    assert_https_instance_answers_token_requests(instance_url, &cert_path).await;

    let control = endpoints["control"].as_str().unwrap();
    let http = reqwest::Client::new();
    let published: serde_json::Value = http
        .post(format!("{control}/_harness/publish"))
        .json(&serde_json::json!({"events": [
            {"eventType": "Interaction", "payload": {"seq": 0}},
            {"eventType": "Interaction", "payload": "{\"seq\":1}"}
        ]}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let replay_ids = published["replayIds"].as_array().expect("replay ids");
    assert_eq!(replay_ids.len(), 2);
    let bad = http
        .post(format!("{control}/_harness/publish"))
        .json(&serde_json::json!({"evnts": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "a malformed publish body is refused");

    let mut config = SubscriberSettings::new(endpoints["topic"].as_str().unwrap());
    config.endpoint = EndpointSettings {
        url: endpoints["pubsub"].as_str().unwrap().to_owned(),
        ca_certificate_pem: Some(std::fs::read_to_string(&cert_path).unwrap()),
        ..EndpointSettings::default()
    };
    config.start = ReplayStart::Earliest;
    let credentials = StaticCredentials(PubSubCredentials {
        access_token: endpoints["token"].as_str().unwrap().into(),
        instance_url: endpoints["instanceUrl"].as_str().unwrap().to_owned(),
        tenant_id: endpoints["orgId"].as_str().unwrap().to_owned(),
    });
    let shutdown = CancellationToken::new();
    let mut subscriber =
        Subscriber::spawn(config, credentials, Telemetry::new(), shutdown.clone()).unwrap();
    for expected in 0..2 {
        let event = next_event(&mut subscriber).await;
        assert_eq!(seq_of(&event), expected);
        assert_eq!(
            event.replay_id.as_u64(),
            replay_ids[expected as usize].as_u64()
        );
    }
    shutdown.cancel();
    subscriber.join().await.unwrap();
    child.kill().await.unwrap();
    std::fs::remove_dir_all(&scratch).ok();
}

/// `instance_url` answers `/services/oauth2/token` over TLS to a client that trusts only the
/// fake's certificate, and the token names that same https instance.
async fn assert_https_instance_answers_token_requests(
    instance_url: &str,
    cert_path: &std::path::Path,
) {
    let pem = std::fs::read(cert_path).unwrap();
    let only_the_fake = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&pem).unwrap())
        .build()
        .unwrap();
    let response = only_the_fake
        .post(format!("{instance_url}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "3MVG9ready.client"),
            ("client_secret", "ready-secret"),
        ])
        .send()
        .await
        .expect("the https instance url answers over tls");
    assert_eq!(response.status(), 200);
    let grant: serde_json::Value = response.json().await.unwrap();
    assert_eq!(grant["instance_url"], instance_url, "{grant}");
}

/// The fake's flags as its command parses them.
fn fake_flags(flags: &[&str]) -> fake_salesforce::cli::Args {
    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        args: fake_salesforce::cli::Args,
    }
    let argv = std::iter::once("fake-salesforce").chain(flags.iter().copied());
    <Command as clap::Parser>::try_parse_from(argv)
        .unwrap()
        .args
}

#[tokio::test]
async fn a_jwt_client_whose_key_file_is_missing_or_not_a_key_is_refused_naming_the_file() {
    let missing = fake_flags(&["--jwt-client", "bogus=/nonexistent/key.pem"]);
    let error = fake_salesforce::cli::start(&missing).await.unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("bogus") && message.contains("/nonexistent/key.pem"),
        "{message}"
    );

    let not_a_key = std::env::temp_dir().join(format!("byoc-not-a-key-{}.pem", std::process::id()));
    std::fs::write(&not_a_key, "hello").unwrap();
    let flags = format!("client={}", not_a_key.display());
    let error = fake_salesforce::cli::start(&fake_flags(&["--jwt-client", &flags]))
        .await
        .unwrap_err();
    std::fs::remove_file(&not_a_key).unwrap();
    assert!(
        error.to_string().contains("not an RSA public key"),
        "{error}"
    );
}

#[tokio::test]
async fn a_secret_client_given_on_the_command_line_can_get_a_token() {
    let flags = fake_flags(&["--secret-client", "3MVG9cli.client=cli-secret"]);
    let (fake, ready) = fake_salesforce::cli::start(&flags).await.unwrap();
    let token_url = format!(
        "{}/services/oauth2/token",
        ready["loginUrl"].as_str().unwrap()
    );
    let http = reqwest::Client::new();
    let grant = |secret: &'static str| {
        http.post(&token_url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "3MVG9cli.client"),
                ("client_secret", secret),
            ])
            .send()
    };

    let accepted = grant("cli-secret").await.unwrap();
    let refused = grant("wrong").await.unwrap();

    assert_eq!(accepted.status(), 200);
    let body: serde_json::Value = accepted.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");
    assert_eq!(refused.status(), 400);
    fake.shutdown().await;
}

#[tokio::test]
async fn the_control_plane_takes_a_publish_larger_than_axums_default_limit() {
    let (fake, ready) = fake_salesforce::cli::start(&fake_flags(&[])).await.unwrap();
    let control = ready["control"].as_str().unwrap();
    // About 4 MB: twice the 2 MB that a default axum body limit refuses.
    let text = "x".repeat(1_000);
    let events: Vec<serde_json::Value> = (0..4_000)
        .map(|seq| {
            serde_json::json!({"eventType": "Interaction",
                               "payload": {"conversationIdentifier": format!("c-{seq}"), "text": text}})
        })
        .collect();

    let response = reqwest::Client::new()
        .post(format!("{control}/_harness/publish"))
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["replayIds"].as_array().unwrap().len(), 4_000);
    fake.shutdown().await;
}
