//! Exactly once across a crash: the engine runs on its own runtime, which the test drops
//! mid-request (everything in flight stops, as with `kill -9`); a new engine on the same store
//! file resumes with the original deadlines.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::support::routing::*;
use byoc_connector::events::ROUTING_WINDOW as WINDOW;
use byoc_connector::routing::DEFAULT_DECISION_TIMEOUT as DECISION_TIMEOUT;
use byoc_connector::routing::{RequestStatus, RoutingEngine, RoutingSettings, RoutingStrategy};
use fake_salesforce::interaction_service::InteractionFault;
use serde_json::json;
use tokio::runtime::Runtime;

/// The first connector process: an engine on a runtime of its own, so the test can stop
/// everything it runs at once.
struct FirstRun {
    runtime: Runtime,
    engine: RoutingEngine,
}

impl FirstRun {
    /// Starts an engine on a fresh runtime and hands it `request`.
    async fn start(
        salesforce: &Salesforce,
        store: &TempStore,
        partner: &Partner,
        settings: RoutingSettings,
        request: &RequestSpec,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let engine = engine(salesforce, store.open().await, Some(partner), settings);
        let first = engine.clone();
        let input = salesforce.input_for(request);
        runtime
            .spawn(async move { first.on_routing_requested(input).await })
            .await
            .unwrap()
            .unwrap();
        Self { runtime, engine }
    }

    /// Crashes it: everything in flight stops where it is, as with `kill -9`.
    fn crash(self) {
        self.runtime.shutdown_background();
        drop(self.engine);
    }
}

/// Runs `request` in a first run until the partner has been asked about it, then crashes it.
async fn crash_once_the_partner_is_asked(
    salesforce: &Salesforce,
    store: &TempStore,
    partner: &Partner,
    settings: RoutingSettings,
    request: &RequestSpec,
) {
    let first = FirstRun::start(salesforce, store, partner, settings, request).await;
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 1).await);
    first.crash();
}

#[tokio::test]
async fn a_request_pending_across_a_crash_is_posted_exactly_once_before_its_deadline() {
    let salesforce = Salesforce::start().await;
    let partner = Partner::always(PartnerReply::accept()).await;
    let store = TempStore::new();
    let request = RequestSpec::transfer();
    let settings = settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT);

    crash_once_the_partner_is_asked(&salesforce, &store, &partner, settings.clone(), &request)
        .await;

    let second = engine(&salesforce, store.open().await, Some(&partner), settings);
    let summary = second.resume().await.unwrap();
    assert_eq!(summary.resumed, 1);
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 2).await);
    let deliveries = partner.requests();
    assert_eq!(
        deliveries[0].headers["idempotency-key"], deliveries[1].headers["idempotency-key"],
        "the resumed delivery carries the same key"
    );
    assert_eq!(
        deliveries[0].body["deadline"],
        deliveries[1].body["deadline"]
    );

    let (sidecar, _server) = serve_sidecar(&second).await;
    let (status, body) =
        sidecar_decide(&sidecar, &request.event_id, json!({"success": true})).await;
    assert_eq!(status, 200, "{body}");

    // The sidecar's 200 means the routingResult was posted. The pipeline redelivers the event
    // after the crash: no second post.
    second
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    tokio::time::sleep(QUIET_PERIOD).await;
    let calls = salesforce.calls_to("routingResult");
    assert_eq!(calls.len(), 1, "exactly one routingResult in total");
    assert_before_deadline(&calls[0], request.created_date_ms, WINDOW);
    assert_eq!(
        second.telemetry().snapshot().routing_requests_redelivered,
        1
    );
    assert_eq!(
        partner.requests().len(),
        2,
        "the redelivery did not reach the partner"
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_request_decided_before_a_crash_posts_its_stored_decision_without_asking_again() {
    let salesforce = Salesforce::start().await;
    salesforce
        .interaction
        .inject_fault(InteractionFault::status("routingResult", 503, 10_000))
        .unwrap();
    let partner = Partner::always(PartnerReply::decide(
        json!({"success": false, "errorMessage": "queue closed"}),
    ))
    .await;
    let store = TempStore::new();
    let request = RequestSpec::transfer();
    let settings = settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT);

    let first = FirstRun::start(&salesforce, &store, &partner, settings.clone(), &request).await;
    let mut decided = false;
    for _ in 0..200 {
        if matches!(
            first
                .engine
                .request_status(&request.event_id)
                .await
                .unwrap(),
            Some(RequestStatus::Decided { success: false })
        ) {
            decided = true;
            break;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
    assert!(
        decided,
        "the decision was recorded while posting kept failing"
    );
    first.crash();
    salesforce.interaction.clear_faults();
    let failed_attempts = salesforce.calls_to("routingResult").len();

    let second = engine(&salesforce, store.open().await, Some(&partner), settings);
    assert_eq!(second.resume().await.unwrap().resumed, 1);

    let calls = wait_for_calls(&salesforce, "routingResult", failed_attempts + 1).await;
    let accepted: Vec<_> = calls.iter().filter(|call| call.status == 202).collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].body["errorMessage"], "queue closed");
    assert_before_deadline(accepted[0], request.created_date_ms, WINDOW);
    assert_eq!(
        partner.requests().len(),
        1,
        "the partner was not asked again"
    );
    assert!(
        wait_until(WAIT_LIMIT, || second
            .telemetry()
            .snapshot()
            .routing_results_posted
            .failure
            == 1)
        .await
    );
    second.shutdown().await;
}

#[tokio::test]
async fn requests_whose_deadline_passed_while_down_are_counted_missed_and_never_posted() {
    let salesforce = Salesforce::start().await;
    let partner = Partner::always(PartnerReply::accept()).await;
    let store = TempStore::new();
    let request = RequestSpec::transfer();

    crash_once_the_partner_is_asked(
        &salesforce,
        &store,
        &partner,
        settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT),
        &request,
    )
    .await;

    // The connector comes back 61 s after the request was created.
    let clock = Arc::new(ShiftedClock::default());
    clock.offset_ms.store(61_000, Ordering::SeqCst);
    let mut later = settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT);
    later.clock = clock;
    let second = engine(&salesforce, store.open().await, Some(&partner), later);
    let summary = second.resume().await.unwrap();

    assert_eq!(summary.missed, 1);
    assert_eq!(summary.resumed, 0);
    assert_eq!(second.telemetry().snapshot().routing_deadlines_missed, 1);
    assert!(matches!(
        second.request_status(&request.event_id).await.unwrap(),
        Some(RequestStatus::Missed { .. })
    ));
    // A request that is new by the moved clock is posted by the same engine to the same fake,
    // so the missed request's silence is not a setup that posts nothing.
    let mut fresh = RequestSpec::transfer();
    fresh.created_date_ms = now_ms() + 61_000;
    second
        .on_routing_requested(salesforce.input_for(&fresh))
        .await
        .unwrap();
    let (sidecar, _server) = serve_sidecar(&second).await;
    let (status, body) = sidecar_decide(&sidecar, &fresh.event_id, json!({"success": true})).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(QUIET_PERIOD).await;
    assert_only_routing_result_is_for(&salesforce, &fresh);
    let asked_about_missed = partner
        .requests()
        .iter()
        .filter(|asked| asked.headers["idempotency-key"] == request.idempotency_key.as_str())
        .count();
    assert_eq!(asked_about_missed, 1, "the partner was not asked again");
    second.shutdown().await;
}

#[tokio::test]
async fn a_redelivery_before_resume_arms_the_stored_request_once() {
    let salesforce = Salesforce::start().await;
    let partner = Partner::always(PartnerReply::accept()).await;
    let store = TempStore::new();
    let request = RequestSpec::transfer();
    let settings = settings(RoutingStrategy::Partner, WINDOW, DECISION_TIMEOUT);

    crash_once_the_partner_is_asked(&salesforce, &store, &partner, settings.clone(), &request)
        .await;

    let second = engine(&salesforce, store.open().await, Some(&partner), settings);
    second
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    second
        .on_routing_requested(salesforce.input_for(&request))
        .await
        .unwrap();
    assert_eq!(second.resume().await.unwrap().resumed, 0, "already armed");

    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 2).await);
    let (sidecar, _server) = serve_sidecar(&second).await;
    let (status, _) = sidecar_decide(&sidecar, &request.event_id, json!({"success": true})).await;
    assert_eq!(status, 200, "posted");
    tokio::time::sleep(QUIET_PERIOD).await;
    assert_eq!(salesforce.calls_to("routingResult").len(), 1);
    assert_eq!(partner.requests().len(), 2);
    second.shutdown().await;
}

#[tokio::test]
async fn a_resumed_request_keeps_the_deadlines_of_its_created_date_not_of_the_restart() {
    // A restart-based clock would post 2 s (the downtime) after the CreatedDate-based one; the
    // test tells them apart with 1.5 s to spare for a loaded machine.
    let window = Duration::from_secs(6);
    let decision_timeout = Duration::from_secs(3);
    let salesforce = Salesforce::start().await;
    let partner = Partner::always(PartnerReply::accept()).await;
    let store = TempStore::new();
    let request = RequestSpec::transfer();
    let settings = settings(RoutingStrategy::Partner, window, decision_timeout);

    let first = FirstRun::start(&salesforce, &store, &partner, settings.clone(), &request).await;
    assert!(wait_until(WAIT_LIMIT, || partner.requests().len() == 1).await);
    // Down for two seconds: a restart-based clock would move the decision to about 5 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    first.crash();
    let second = engine(&salesforce, store.open().await, Some(&partner), settings);
    assert_eq!(second.resume().await.unwrap().resumed, 1);

    let calls = wait_for_calls(&salesforce, "routingResult", 1).await;
    let decision_ms = request.created_date_ms + decision_timeout.as_millis() as i64;
    let posted_ms = calls[0].received_at_ms as i64;
    assert_eq!(calls[0].body["success"], false);
    assert!(
        posted_ms >= decision_ms,
        "posted {} ms early",
        decision_ms - posted_ms
    );
    assert!(
        posted_ms < decision_ms + 1_500,
        "posted {} ms after the original decision deadline",
        posted_ms - decision_ms
    );
    assert_before_deadline(&calls[0], request.created_date_ms, window);
    second.shutdown().await;
}
