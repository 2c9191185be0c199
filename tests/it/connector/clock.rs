//! The real binary learns Salesforce's clock from the Interaction Service's `Date` headers and
//! exports the skew as `byoc_clock_skew_seconds` on `/metrics`.

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::{metric_sample, start_fake};
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_the_skew_of_salesforces_date_headers() {
    const CONVERSATION: &str = "2a0c6c2e-1f43-4d1e-9f61-000000000a01";
    const EVENT_ID: &str = "e2e0000a-0000-4000-8000-000000000a01";
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.interaction()
        .seed_conversation(CONVERSATION, "0MwXX0000000A01AAA");
    fake.interaction().set_date_skew(5);
    let deliveries = Partner::accepting().await;
    let dir = ScratchDir::new("e2e-clock");
    let config = write_connector_config(&fake, dir.path(), &deliveries.url, REJECT_ROUTING);
    let payload = routing_request_payload("queue", CONVERSATION, EVENT_ID);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();
    let connector = ConnectorProcess::start(&config).await;
    wait_until("the request is answered", Duration::from_secs(20), || {
        !fake.interaction().calls_to("routingResult").is_empty()
    })
    .await;

    let metrics = reqwest::get(format!("http://{}/metrics", connector.ops))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let skew = metric_sample(&metrics, "byoc_clock_skew_seconds");
    assert!((skew - 5.0).abs() <= 1.0, "skew {skew}");
    connector.kill().await;
    fake.shutdown().await;
}
