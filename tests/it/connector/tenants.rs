//! Two tenants in one process (`[[tenants]]`), each against its own fake org: each tenant's
//! events reach only its own partner and its own checkpoint, its routingResult goes to its
//! own org with its own token, its metrics carry its name, and the sidecar sends to the org
//! the path names.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::tenants;
use byoc_connector::config::Config;
use byoc_connector::connector::{run_on, Listeners};
use byoc_connector::store::Store;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::FakeSalesforce;
use serde_json::json;
use tokio_util::sync::CancellationToken;

const CHANNEL: &str = "b0ffeafe-0d89-4338-b14a-172ad203f22a";
const CONVERSATION: &str = "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09";
const WORK_ITEM: &str = "0MwXX0000000001AAA";

/// A fake org of its own, knowing the conversation of the routing request fixture.
async fn start_org(org_id: &str) -> FakeSalesforce {
    let fake = tenants::start_org(org_id).await;
    fake.interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);
    fake
}

/// One `[[tenants]]` entry for `fake` with its static token, delivering to `partner_url`.
fn tenant_toml(name: &str, fake: &FakeSalesforce, partner_url: &str) -> String {
    let delivery = format!("delivery = {{ url = \"{partner_url}\" }}");
    tenants::tenant_toml(
        name,
        fake.endpoints(),
        &tenants::static_auth(fake.endpoints()),
        &delivery,
    )
}

/// The shared sections, a redb store at `store_path`, then `tenants`.
fn tenants_config(store_path: &std::path::Path, tenants: &[String]) -> String {
    format!(
        r#"{shared}
[delivery]
kind = "webhook"

[channel]
address_identifiers = ["{CHANNEL}"]

[store]
path = "{store}"
ack_batch_max_delay_ms = 20
{tenants}"#,
        shared = tenants::SHARED_SECTIONS,
        store = store_path.display(),
        tenants = tenants.concat(),
    )
}

/// A connector serving `tenants` in-process, on loopback listeners.
struct Running {
    ops: std::net::SocketAddr,
    sidecar: std::net::SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), byoc_connector::connector::ConnectorError>>,
}

/// Starts a connector with the shared sections and `tenants`, its stores in `dir`.
async fn start_tenants(dir: &ScratchDir, tenants: &[String]) -> Running {
    let text = tenants_config(&dir.path().join("state.redb"), tenants);
    let config = Config::from_toml_str(&text).unwrap();
    let listeners = Listeners::loopback().await.unwrap();
    let ops = listeners.ops.local_addr().unwrap();
    let sidecar = listeners.sidecar.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_on(config, listeners, shutdown.clone()));
    Running {
        ops,
        sidecar,
        shutdown,
        task,
    }
}

/// The ops listener's `/metrics` text.
async fn scrape(ops: std::net::SocketAddr) -> String {
    reqwest::get(format!("http://{ops}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn routing_requested() -> NewEvent {
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string("tests/fixtures/events/routing-requested-queue.json").unwrap(),
    )
    .unwrap();
    NewEvent {
        event_type: Some("RoutingRequested".to_owned()),
        payload: Some(fixture["payload"].to_string()),
        ..NewEvent::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tenants_each_deliver_checkpoint_route_count_and_send_through_their_own_org() {
    let acme = start_org("00D000000000001AAA").await;
    let globex = start_org("00D000000000002AAA").await;
    let acme_partner = Partner::accepting().await;
    let globex_partner = Partner::accepting().await;
    let acme_messages: Vec<NewEvent> = (0..6)
        .map(|seq| message_event(&conversation_name(seq % 2), seq))
        .collect();
    let globex_messages: Vec<NewEvent> = (100..104)
        .map(|seq| message_event(&conversation_name(seq % 2), seq))
        .collect();
    acme.publish(&acme_messages).unwrap();
    acme.publish(&[routing_requested()]).unwrap();
    globex.publish(&globex_messages).unwrap();
    globex.publish(&[routing_requested()]).unwrap();
    let acme_latest = acme.pubsub().topic.latest_id();
    let globex_latest = globex.pubsub().topic.latest_id();
    let dir = ScratchDir::new("tenants");
    let Running {
        ops,
        sidecar,
        shutdown,
        task: connector,
    } = start_tenants(
        &dir,
        &[
            tenant_toml("acme", &acme, &acme_partner.url),
            tenant_toml("globex", &globex, &globex_partner.url),
        ],
    )
    .await;

    wait_until(
        "each partner has its messages",
        Duration::from_secs(30),
        || acme_partner.distinct_seqs().len() == 6 && globex_partner.distinct_seqs().len() == 4,
    )
    .await;
    let (acme_interaction, globex_interaction) =
        (acme.interaction().clone(), globex.interaction().clone());
    wait_until(
        "each org has its routingResult",
        Duration::from_secs(30),
        || {
            !acme_interaction.calls_to("routingResult").is_empty()
                && !globex_interaction.calls_to("routingResult").is_empty()
        },
    )
    .await;

    assert_eq!(acme_partner.distinct_seqs(), (0..6).collect());
    assert_eq!(globex_partner.distinct_seqs(), (100..104).collect());
    for (org, interaction) in [("acme", &acme_interaction), ("globex", &globex_interaction)] {
        let posted = interaction.calls_to("routingResult");
        assert_eq!(posted.len(), 1, "{org}: {posted:?}");
        // The fake accepts only its own org's token: 202 says the tenant used its own.
        assert_eq!(posted[0].status, 202, "{org}: {:?}", posted[0].response);
        assert_eq!(posted[0].body["success"], false);
    }

    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{ops}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = scrape(ops).await;
    assert!(
        metrics.contains("byoc_events_received_total{tenant=\"acme\"} 7"),
        "{metrics}"
    );
    assert!(
        metrics.contains("byoc_events_received_total{tenant=\"globex\"} 5"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("byoc_events_received_total "),
        "no unlabelled series: {metrics}"
    );
    assert_eq!(
        metrics
            .matches("# TYPE byoc_events_received counter")
            .count(),
        1,
        "{metrics}"
    );
    assert!(
        metrics.contains("process_open_fds "),
        "process metrics stay unlabelled: {metrics}"
    );

    let post_message = |path: String| {
        http.post(format!("http://{sidecar}{path}"))
            .header("Idempotency-Key", "tenant-message-1")
            .json(&json!({"endUserClientId": "end-user-7", "text": "hello"}))
            .send()
    };
    let sent = post_message("/v1/tenants/globex/messages".to_owned())
        .await
        .unwrap();
    assert_eq!(sent.status(), 202, "{:?}", sent.text().await);
    assert_eq!(globex_interaction.calls_to("interactions").len(), 1);
    assert!(acme_interaction.calls_to("interactions").is_empty());
    let unknown = post_message("/v1/tenants/initech/messages".to_owned())
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("no tenant named `initech`"));
    let unprefixed = post_message("/v1/messages".to_owned()).await.unwrap();
    assert_eq!(
        unprefixed.status(),
        404,
        "two tenants: the path must name one"
    );

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), connector)
        .await
        .expect("every tenant drains in time")
        .unwrap()
        .unwrap();
    let acme_store = Store::open_existing(dir.path().join("state.acme.redb")).unwrap();
    let globex_store = Store::open_existing(dir.path().join("state.globex.redb")).unwrap();
    assert_eq!(stored_checkpoint(&acme_store, &acme), Some(acme_latest));
    assert_eq!(
        stored_checkpoint(&globex_store, &globex),
        Some(globex_latest)
    );
    assert_eq!(
        stored_checkpoint(&acme_store, &globex),
        None,
        "one org's checkpoint per file"
    );
    acme.shutdown().await;
    globex.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_credentials_are_refused_stops_alone_and_the_others_keep_serving() {
    let acme = start_org("00D000000000001AAA").await;
    let refusing = start_org("00D000000000002AAA").await;
    let partner = Partner::accepting().await;
    acme.publish(&[message_event(&conversation_name(0), 1)])
        .unwrap();
    let refused_login = format!(
        "kind = \"client-credentials\", client_id = \"not-the-app\", client_secret = \"not-the-secret\", login_url = \"{}\", insecure = true",
        refusing.endpoints().instance_url
    );
    let delivery = format!("delivery = {{ url = \"{}\" }}", partner.url);
    let broken = tenants::tenant_toml("broken", refusing.endpoints(), &refused_login, &delivery);
    let dir = ScratchDir::new("tenants-refused");
    let Running {
        ops,
        sidecar,
        shutdown,
        task: connector,
    } = start_tenants(&dir, &[tenant_toml("acme", &acme, &partner.url), broken]).await;
    let http = reqwest::Client::new();

    wait_until("acme delivers", Duration::from_secs(30), || {
        partner.distinct_seqs().contains(&1)
    })
    .await;
    let started = tokio::time::Instant::now();
    while !scrape(ops)
        .await
        .contains("byoc_channel_up{tenant=\"broken\"} 0")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{}",
            scrape(ops).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let shown = scrape(ops).await;
    assert!(
        shown.contains("byoc_channel_up{tenant=\"acme\"} 1"),
        "{shown}"
    );
    let ready = http
        .get(format!("http://{ops}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        ready.status(),
        200,
        "the stopped tenant is left out of readiness"
    );
    let sent = http
        .post(format!("http://{sidecar}/v1/tenants/broken/messages"))
        .header("Idempotency-Key", "broken-1")
        .json(&json!({"endUserClientId": "end-user-7", "text": "hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 503);
    assert!(!connector.is_finished(), "acme keeps running");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(60), connector)
        .await
        .expect("acme drains in time")
        .unwrap()
        .unwrap();
    acme.shutdown().await;
    refusing.shutdown().await;
}
