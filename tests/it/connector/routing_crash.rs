//! A decision is durable before it is posted: the real binary is `SIGKILL`ed at fixed points
//! of a routing request's life and restarted on the same store, and every routingResult the
//! fake received for that request carries the same answer.
//!
//! The crash points are deterministic, set up with the fake's faults and holds:
//! - **before the post**: the decision is in, every routingResult is refused with 503, so
//!   none has been accepted when the kill lands;
//! - **in flight, not accepted**: the fake answers the routingResult 503 but holds that answer,
//!   so the binary is killed waiting for it;
//! - **accepted, not recorded**: the fake accepts the routingResult but holds the answer, so the
//!   binary never learns of it and cannot record `Posted` before it dies.
//!
//! The partner's script answers differently on a second ask, so a restart that asked again
//! instead of re-posting the stored decision would show up as a second, different answer.

use std::time::Duration;

use crate::support::pipeline::{
    epoch_ms, routing_request_payload, routing_requested_event, wait_until, write_connector_config,
    ConnectorProcess, Partner as DeliveryPartner, ScratchDir,
};
use crate::support::routing::{Partner, PartnerReply};
use crate::support::start_fake;
use fake_salesforce::interaction_service::{InteractionFault, RecordedCall, ResponseHold};
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use serde_json::{json, Value};

/// Longest a test waits for one thing it expects.
const WAIT: Duration = Duration::from_secs(20);
/// How long the fake holds an answer: longer than any test runs to the kill.
const HOLD: Duration = Duration::from_secs(60);
/// How long a test watches to prove that nothing more happens (never the assertion itself).
const GRACE: Duration = Duration::from_millis(500);

/// Where the binary dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CrashPoint {
    BeforePost,
    InFlightNotAccepted,
    AcceptedNotRecorded,
}

/// Who decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The partner's `200` answer.
    Partner,
    /// The partner answers `202` and decides through the sidecar.
    Sidecar,
    /// Nobody decides before the decision timeout.
    Timeout,
    /// The `salesforce` strategy (`/route`, then routingResult).
    Salesforce,
}

/// The partner's first answer, and a different one for any later ask.
fn first_answer() -> Value {
    json!({"success": false, "externallyRouted": true, "errorMessage": "first answer"})
}

fn later_answer() -> Value {
    json!({"success": true, "externallyRouted": false})
}

fn routing_section(source: Source, partner_url: &str) -> String {
    match source {
        Source::Partner | Source::Sidecar => format!(
            "strategy = \"partner\"\nurl = \"{partner_url}\"\ndecision_timeout_secs = 45\nwindow_secs = 60"
        ),
        Source::Timeout => format!(
            "strategy = \"partner\"\nurl = \"{partner_url}\"\ndecision_timeout_secs = 2\nwindow_secs = 60"
        ),
        Source::Salesforce => "strategy = \"salesforce\"".to_owned(),
    }
}

fn routing_results(fake: &FakeSalesforce, conversation: &str) -> Vec<RecordedCall> {
    fake.interaction()
        .calls_to("routingResult")
        .into_iter()
        .filter(|call| call.body["conversationIdentifier"] == conversation)
        .collect()
}

fn accepted(calls: &[RecordedCall]) -> usize {
    calls
        .iter()
        .filter(|call| (200..300).contains(&call.status))
        .count()
}

/// Runs one request to `point`, kills the binary there, restarts it, and checks the answers.
async fn kill_at(point: CrashPoint, source: Source, case: u32) {
    let conversation = format!("2a0c6c2e-1f43-4d1e-9f61-0000000009{case:02}");
    let work_item = format!("0MwXX00000009{case:02}AAA");
    let event_id = format!("e2e00009-0000-4000-8000-0000000009{case:02}");
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    fake.interaction()
        .seed_conversation(&conversation, &work_item);
    let partner = Partner::start(move |_, attempt| match source {
        Source::Partner if attempt == 0 => PartnerReply::decide(first_answer()),
        Source::Partner => PartnerReply::decide(later_answer()),
        _ => PartnerReply::accept(),
    })
    .await;
    let deliveries = DeliveryPartner::accepting().await;
    let dir = ScratchDir::new("routing-crash");
    let config = write_connector_config(
        &fake,
        dir.path(),
        &deliveries.url,
        &routing_section(source, &partner.url),
    );
    match point {
        CrashPoint::BeforePost => {
            let mut refused = InteractionFault::status("routingResult", 503, 10_000);
            refused.retry_after_secs = Some(0);
            fake.interaction().inject_fault(refused).unwrap();
        }
        CrashPoint::InFlightNotAccepted => {
            fake.interaction()
                .inject_fault(InteractionFault::status("routingResult", 503, 1))
                .unwrap();
            fake.interaction()
                .hold_responses(ResponseHold::new("routingResult", HOLD, 1));
        }
        CrashPoint::AcceptedNotRecorded => {
            fake.interaction()
                .hold_responses(ResponseHold::new("routingResult", HOLD, 1));
        }
    }
    let payload = routing_request_payload("queue", &conversation, &event_id);
    fake.publish(&[routing_requested_event(&payload, epoch_ms())])
        .unwrap();

    let first = ConnectorProcess::start(&config).await;
    if source == Source::Sidecar {
        wait_until("the partner is asked", WAIT, || {
            !partner.requests().is_empty()
        })
        .await;
        // The call waits for the post the kill interrupts; its answer is not the point.
        let url = format!("http://{}/v1/routing/{event_id}/result", first.sidecar);
        tokio::spawn(async move {
            let _ = reqwest::Client::new()
                .post(url)
                .json(&first_answer())
                .send()
                .await;
        });
    }
    let seen_before_kill = if point == CrashPoint::BeforePost {
        2
    } else {
        1
    };
    wait_until("the fake records the routingResult", WAIT, || {
        routing_results(&fake, &conversation).len() >= seen_before_kill
    })
    .await;
    first.kill().await;
    fake.interaction().clear_faults();
    let before_restart = routing_results(&fake, &conversation);
    let accepted_before = accepted(&before_restart);

    let second = ConnectorProcess::start(&config).await;
    wait_until("the restarted binary posts again", WAIT, || {
        accepted(&routing_results(&fake, &conversation)) > accepted_before
    })
    .await;
    tokio::time::sleep(GRACE).await;

    let results = routing_results(&fake, &conversation);
    let log = second.log();
    for call in &results {
        assert_eq!(
            call.body, results[0].body,
            "{point:?}/{source:?}: every routingResult carries the same answer\n{log}"
        );
    }
    let expected_accepted = if point == CrashPoint::AcceptedNotRecorded {
        2
    } else {
        1
    };
    assert_eq!(
        accepted(&results),
        expected_accepted,
        "{point:?}/{source:?}: {results:?}"
    );
    match source {
        Source::Partner => {
            assert_eq!(
                partner.requests().len(),
                1,
                "the restart re-posts the stored decision instead of asking again"
            );
            assert_eq!(results[0].body["errorMessage"], "first answer");
        }
        Source::Sidecar => assert_eq!(results[0].body["errorMessage"], "first answer"),
        Source::Timeout => assert_eq!(
            results[0].body["errorMessage"],
            "the partner made no routing decision within 2 s"
        ),
        Source::Salesforce => {
            assert_eq!(results[0].body["success"], true);
            assert_eq!(
                fake.interaction().calls_to("route").len(),
                1,
                "the restart does not route a second time"
            );
        }
    }
    second.kill().await;
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_partner_decided_but_before_any_post_was_accepted() {
    kill_at(CrashPoint::BeforePost, Source::Partner, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_the_partners_routing_result_is_in_flight() {
    kill_at(CrashPoint::InFlightNotAccepted, Source::Partner, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_partners_routing_result_was_accepted_but_before_it_was_recorded() {
    kill_at(CrashPoint::AcceptedNotRecorded, Source::Partner, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_a_sidecar_decision_was_accepted_but_before_it_was_recorded() {
    kill_at(CrashPoint::AcceptedNotRecorded, Source::Sidecar, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_the_decision_timeouts_routing_result_is_in_flight() {
    kill_at(CrashPoint::InFlightNotAccepted, Source::Timeout, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_salesforce_strategy_routed_and_posted_but_before_it_recorded() {
    kill_at(CrashPoint::AcceptedNotRecorded, Source::Salesforce, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_the_salesforce_strategy_routed_but_before_its_post_was_accepted() {
    kill_at(CrashPoint::BeforePost, Source::Salesforce, 7).await;
}
