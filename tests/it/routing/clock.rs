//! Deadlines run on Salesforce's clock: the connector learns the skew from the `Date` headers
//! of the Interaction Service's answers, exports it as `byoc_clock_skew_seconds`, and counts a
//! request's window from its `CreatedDate` on that clock. Also: 10005 is counted, not retried.

use std::sync::Arc;
use std::time::Duration;

use crate::support::metric_sample;
use crate::support::routing::*;
use byoc_connector::interaction::{
    ClientSettings, ConfigErrorObserver, DeleteRouteRequest, InteractionClient,
};
use byoc_connector::routing::{RequestStatus, RoutingDeps, RoutingEngine, RoutingStrategy};
use byoc_connector::telemetry::Telemetry;
use tokio::time::Instant;

/// How far Salesforce's clock is behind the local one in these tests.
const SALESFORCE_BEHIND_SECS: i64 = 30;

/// An engine whose deadlines follow the clock its client learns, with the skew exported.
fn engine_on_salesforce_clock(
    salesforce: &Salesforce,
    store: byoc_connector::store::Store,
    partner: &Partner,
    telemetry: &Telemetry,
) -> (RoutingEngine, InteractionClient) {
    let provider = salesforce.token_provider();
    let skew = telemetry.clone();
    provider
        .salesforce_clock()
        .on_estimate(move |seconds| skew.set_clock_skew(seconds));
    let client = InteractionClient::new(
        &salesforce.base_url,
        CHANNEL_DEFINITION,
        provider.clone(),
        ClientSettings {
            insecure: true,
            ..ClientSettings::default()
        },
    )
    .unwrap();
    let mut routing = settings(
        RoutingStrategy::Partner,
        Duration::from_secs(6),
        Duration::from_secs(3),
    );
    routing.clock = Arc::new(provider.salesforce_clock().clone());
    let deps = RoutingDeps {
        interaction: client.clone(),
        store,
        partner: Some(partner.channel()),
        token_provider: provider,
        http: reqwest::Client::new(),
        telemetry: telemetry.clone(),
    };
    (RoutingEngine::new(routing, deps), client)
}

#[tokio::test]
async fn a_request_stamped_on_a_skewed_salesforce_clock_gets_its_full_window_and_the_skew_is_exported(
) {
    let salesforce = Salesforce::start().await;
    salesforce
        .interaction
        .set_date_skew(-SALESFORCE_BEHIND_SECS);
    let partner = Partner::always(PartnerReply::hang()).await;
    let store = TempStore::new();
    let telemetry = Telemetry::new();
    let (engine, client) =
        engine_on_salesforce_clock(&salesforce, store.open().await, &partner, &telemetry);
    // Any answer teaches the skew; a DELETE /route is the cheapest call.
    client
        .delete_route(&DeleteRouteRequest {
            conversation_identifier: uuid::Uuid::new_v4().to_string(),
            cancel_reason: None,
        })
        .await
        .unwrap();
    let metrics = telemetry.encode().unwrap();
    let skew = metric_sample(&metrics, "byoc_clock_skew_seconds");
    assert!(
        (skew + SALESFORCE_BEHIND_SECS as f64).abs() <= 1.0,
        "skew {skew}"
    );

    // Created now on Salesforce's clock: 30 s ago on the local one. On the local clock it
    // would be past its 6 s window already and never answered.
    let request = RequestSpec::transfer().aged(Duration::from_secs(SALESFORCE_BEHIND_SECS as u64));
    let submitted = Instant::now();
    engine
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();

    let posted = wait_for_calls(&salesforce, "routingResult", 1).await;
    let after = posted[0].received_at.duration_since(submitted);
    assert!(
        after >= Duration::from_secs(2) && after < Duration::from_secs(6),
        "posted {after:?} after arrival: at the 3 s decision timeout on salesforce's clock"
    );
    assert_eq!(posted[0].status, 202);
    let mut status = None;
    for _ in 0..200 {
        status = engine.request_status(request.key()).await.unwrap();
        if matches!(status, Some(RequestStatus::Posted { .. })) {
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    assert_eq!(status, Some(RequestStatus::Posted { success: false }));
    engine.shutdown().await;
}

/// A tracing writer that appends to a shared buffer.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn an_authorization_context_mismatch_is_logged_once_counted_every_time_and_never_refreshed() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // A second, global dispatcher makes tracing ask this test's capture too (see auth/secrets.rs).
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    let salesforce = Salesforce::start().await;
    let telemetry = Telemetry::new();
    let mismatches = telemetry.clone();
    let client = InteractionClient::new(
        &salesforce.base_url,
        "Some_Other_Channel_Definition",
        salesforce.token_provider(),
        ClientSettings {
            insecure: true,
            on_config_error: ConfigErrorObserver::new(move || {
                mismatches.authorization_context_mismatch();
            }),
            ..ClientSettings::default()
        },
    )
    .unwrap();
    let request = DeleteRouteRequest {
        conversation_identifier: uuid::Uuid::new_v4().to_string(),
        cancel_reason: None,
    };

    for _ in 0..2 {
        let error = client.delete_route(&request).await.unwrap_err();
        assert_eq!(error.code(), Some(10005), "{error}");
    }

    assert_eq!(
        salesforce.calls_to("route").len(),
        2,
        "one call each: 10005 is not retried after a refresh"
    );
    let metrics = telemetry.encode().unwrap();
    assert!(
        metrics.contains("byoc_authorization_context_mismatches_total 2"),
        "{metrics}"
    );
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert_eq!(
        text.matches("refused interaction.authorization_context")
            .count(),
        1,
        "one clear log line, not one per call:\n{text}"
    );
}
