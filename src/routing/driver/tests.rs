//! The driver over ports that need no socket, on paused time: what it calls, in which order,
//! and when.

use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{drive, Job};
use crate::events::{OutboundEvent, RoutingRequestedEvent};
use crate::interaction::RoutingInfo;
use crate::routing::active::{Claimant, Registration};
use crate::routing::deadline::Timeline;
use crate::routing::machine::{
    CallFailure, Cleanup, Count, Machine, PartnerReply, Plan, PostOutcome, Setup, Target,
};
use crate::routing::pending::{Decision, PendingRecord, PendingState, RouteReceipt};
use crate::routing::ports::{Request, RoutingPorts};
use crate::routing::RoutingError;

const WORK_ITEM: &str = "0Mw5g000000WORK";

/// Ports that answer at once or after a chosen delay, and note every call with its time.
struct FakePorts {
    start: Instant,
    /// The partner's answer and how long it takes; `None`: it never answers.
    partner: Option<(Duration, PartnerReply)>,
    /// How long a routingResult post takes.
    post_takes: Duration,
    log: Mutex<Vec<String>>,
}

impl FakePorts {
    fn new(partner: Option<(Duration, PartnerReply)>, post_takes: Duration) -> Self {
        Self {
            start: Instant::now(),
            partner,
            post_takes,
            log: Mutex::new(Vec::new()),
        }
    }

    fn note(&self, what: impl Into<String>) {
        let at = self.start.elapsed().as_secs();
        self.log
            .lock()
            .unwrap()
            .push(format!("{at}s {}", what.into()));
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl RoutingPorts for FakePorts {
    async fn ask_partner(&self, _request: &Request) -> PartnerReply {
        self.note("partner");
        match &self.partner {
            Some((takes, reply)) => {
                tokio::time::sleep(*takes).await;
                reply.clone()
            }
            None => std::future::pending().await,
        }
    }

    async fn resolve_work_item(&self, _request: &Request) -> Result<String, String> {
        self.note("soql");
        Ok(WORK_ITEM.to_owned())
    }

    fn claim(&self, _request: &Request, claimant: Claimant) -> bool {
        self.note(format!("claim {claimant:?}"));
        true
    }

    async fn post_route(
        &self,
        _request: &Request,
        _routing_info: RoutingInfo,
        kind: &'static str,
        _until: Instant,
    ) -> Result<RouteReceipt, CallFailure> {
        self.note(format!("route {kind}"));
        Ok(RouteReceipt {
            psr_id: Some("0JR5g000000PSR1".to_owned()),
            routing_correlation_id: None,
        })
    }

    async fn post_agent_work(
        &self,
        _request: &Request,
        _work_item_id: String,
        _user_id: String,
        _correlation_id: Option<String>,
        _until: Instant,
    ) -> Result<Option<String>, CallFailure> {
        self.note("agentWork");
        Ok(None)
    }

    async fn post_routing_result(
        &self,
        _request: &Request,
        decision: Decision,
        _work_item_id: String,
    ) -> PostOutcome {
        self.note(format!("routingResult success={}", decision.is_success()));
        tokio::time::sleep(self.post_takes).await;
        PostOutcome::Posted
    }

    async fn write(&self, record: &PendingRecord) -> Result<(), RoutingError> {
        self.note(format!("write {}", record.state.name()));
        Ok(())
    }

    fn mark_posted(&self, _request: &Request) {}

    fn now_ms(&self) -> i64 {
        0
    }

    fn count(&self, _record: &PendingRecord, count: Count) {
        if matches!(count, Count::Cancelled | Count::DecisionTimedOut) {
            self.note(format!("count {count:?}"));
        }
    }

    async fn clean_up(&self, _record: &PendingRecord, cleanup: Cleanup) {
        self.note(format!("cleanup route={}", cleanup.delete_route));
    }

    async fn withdraw_route(&self, _record: &PendingRecord) {
        self.note("withdraw route".to_owned());
    }
}

fn event() -> Box<RoutingRequestedEvent> {
    let payload = json!({
        "channelAddressIdentifier": "b0ffeafe-0d89-4338-b14a-172ad203f22a",
        "recipient": {"appType": "custom", "subject": "end-user", "role": "EndUser"},
        "payload": {
            "conversationIdentifier": "conversation-1",
            "routingType": "Transfer",
            "routingParameters": {
                "channelData": json!({"eventId": "event-1"}).to_string(),
                "queueId": "00G5g000000QUEU",
            },
        },
    })
    .to_string();
    match OutboundEvent::from_json("RoutingRequested", &payload, &[1]).unwrap() {
        OutboundEvent::RoutingRequested(event) => event,
        OutboundEvent::Interaction(_) => unreachable!("a routing request decodes as one"),
    }
}

fn job() -> (Job, CancellationToken) {
    let now = Instant::now();
    let record = PendingRecord::new(
        "event-1".to_owned(),
        "conversation-1".to_owned(),
        0,
        45_000,
        60_000,
        "key-1".to_owned(),
        "01".to_owned(),
        "".into(),
        PendingState::Pending,
    );
    let (_sender, decisions) = oneshot::channel();
    let cancelled = CancellationToken::new();
    let job = Job {
        request: Request {
            record,
            event: event(),
            body: Bytes::new(),
            timeline: Timeline {
                decision_at: now + Duration::from_secs(45),
                deadline_at: now + Duration::from_secs(60),
            },
        },
        registration: Registration {
            decisions,
            cancelled: cancelled.clone(),
        },
    };
    (job, cancelled)
}

fn setup(plan: Plan) -> Setup {
    Setup {
        plan,
        resumed: None,
        work_item_id: None,
        route: None,
        agent_work_id: None,
        correlation_id: Some("event-1".to_owned()),
        decision_at: Duration::from_secs(45),
        deadline_at: Duration::from_secs(60),
        result_reserve: Duration::from_secs(5),
        agent_work_margin: Duration::from_secs(10),
        timeout_message: "the partner made no routing decision within 45 s".to_owned(),
        owed_follow_up: None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_partner_is_answered_success_false_at_45_s_once_that_is_written() {
    let ports = FakePorts::new(None, Duration::from_millis(100));
    let (job, _cancelled) = job();
    drive_from_now(&ports, Plan::Partner, job, &CancellationToken::new()).await;
    assert_eq!(
        ports.log(),
        [
            "0s soql",
            "0s partner",
            "45s claim DecisionTimeout",
            "45s count DecisionTimedOut",
            "45s write decided",
            "45s routingResult success=false",
            "45s write posted",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_overtaking_the_post_drops_it_records_cancelled_and_cleans_up() {
    let routed = PartnerReply::Decided(Decision::Routed {
        externally_routed: false,
    });
    let ports = FakePorts::new(
        Some((Duration::from_secs(1), routed)),
        Duration::from_secs(30),
    );
    let (job, cancelled) = job();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        cancelled.cancel();
    });
    drive_from_now(&ports, Plan::Partner, job, &CancellationToken::new()).await;
    assert_eq!(
        ports.log()[2..],
        [
            "1s claim Partner",
            "1s write decided",
            "1s routingResult success=true",
            "5s write cancelled",
            "5s count Cancelled",
            "5s cleanup route=false",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_queue_transfer_calls_route_before_writing_and_posting_its_routing_result() {
    let ports = FakePorts::new(None, Duration::ZERO);
    let (job, _cancelled) = job();
    let queue = Target::Route {
        routing_info: RoutingInfo {
            queue_id: Some("00G5g000000QUEU".to_owned()),
            ..RoutingInfo::default()
        },
        kind: "queue",
    };
    drive_from_now(
        &ports,
        Plan::Salesforce(queue),
        job,
        &CancellationToken::new(),
    )
    .await;
    assert_eq!(
        ports.log(),
        [
            "0s soql",
            "0s claim Strategy",
            "0s route queue",
            "0s write decided",
            "0s routingResult success=true",
            "0s write posted",
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_while_the_partner_thinks_leaves_the_request_pending_for_the_next_run() {
    let ports = FakePorts::new(None, Duration::ZERO);
    let (job, _cancelled) = job();
    let shutdown = CancellationToken::new();
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        stopping.cancel();
    });
    let started = Instant::now();
    drive_from_now(&ports, Plan::Partner, job, &shutdown).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
    assert!(!ports.log().iter().any(|entry| entry.contains("write")));
}

/// Drives `job` under `plan`'s machine, its times counted from now.
async fn drive_from_now(ports: &FakePorts, plan: Plan, job: Job, shutdown: &CancellationToken) {
    let machine = Box::new(Machine::new(setup(plan)));
    drive(ports, machine, Box::new(job), Instant::now(), shutdown).await;
}
