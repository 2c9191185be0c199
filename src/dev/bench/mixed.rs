//! `bench mixed`: message delivery with routing requests mixed into the stream, against the
//! same stream without them, in one run of the whole connector against the fake.
//!
//! Four phases run one after the other on one in-process connector ([`crate::connector::run_on`]):
//! 1. a backlog of Text messages only, published at once: events/s until the last delivery;
//! 2. a backlog of the same size where one event in ten is a RoutingRequested (each for a
//!    conversation of its own whose MessagingSession the fake's SOQL endpoint knows): delivered
//!    events/s until the partner has every message and every RoutingRequested (compared with
//!    phase 1: routing must not slow delivery), and apart from it the time until the last
//!    routingResult, which Salesforce's 2,000 requests per second bound from below whatever
//!    the connector does;
//! 3. RoutingRequested alone at a steady rate: decision → routingResult percentiles;
//! 4. a burst of RoutingRequested published at once: misses, repeats and the same percentiles.
//!
//! The partner is the `bench routing` one (even requests decided in its answer, odd ones
//! through the sidecar); it counts deliveries without parsing them. Figures are printed, never
//! asserted.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio::time::Instant;

use super::pipeline::message;
use super::routing::{
    conversation_id, finish_phase, route, routing_requested, work_item_id, PartnerLog,
    PartnerState, PHASE_LIMIT,
};
use super::BenchResult;
use crate::connector::Listeners;
use crate::dev::embedded::{serve_loopback, EmbeddedConnector};
use crate::events::ROUTING_WINDOW;
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};

/// Conversations the Text messages are spread over.
const MESSAGE_CONVERSATIONS: u64 = 100;
/// First request number of each routing phase, so phases never share a conversation.
const MIXED_FIRST: u64 = 0;
const STEADY_FIRST: u64 = 1_000_000;
const BURST_FIRST: u64 = 2_000_000;

/// The shape of one run.
#[derive(Debug, Clone, Copy)]
pub struct MixedBenchPlan {
    /// Events in each of the two backlog phases.
    pub events: u64,
    /// One event in this many is a RoutingRequested in the mixed phase.
    pub routing_every: u64,
    /// Routing requests per second in the steady phase.
    pub rate: u64,
    /// Routing requests in the steady phase.
    pub steady_requests: u64,
    /// Routing requests published at once in the burst phase.
    pub burst: u64,
}

async fn count_delivery(State(delivered): State<Arc<AtomicU64>>) -> StatusCode {
    delivered.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

/// Runs the four phases; returns the printed figures.
pub async fn run(plan: MixedBenchPlan) -> BenchResult<String> {
    let fake = FakeSalesforce::start(FakeConfig {
        routing_window: Some(ROUTING_WINDOW),
        ..FakeConfig::default()
    })
    .await?;
    let listeners = Listeners::loopback().await?;
    let log = Arc::new(Mutex::new(PartnerLog::default()));
    let delivered = Arc::new(AtomicU64::new(0));
    let partner = PartnerState {
        log: log.clone(),
        http: reqwest::Client::builder().tcp_nodelay(true).build()?,
        sidecar: format!("http://{}", listeners.sidecar.local_addr()?),
    };
    let app = Router::new()
        .route("/routing", post(route))
        .with_state(partner)
        .merge(
            Router::new()
                .route("/events", post(count_delivery))
                .with_state(delivered.clone()),
        );
    let partner_address = serve_loopback(app).await?;
    let connector = EmbeddedConnector::start(&fake, "bench-mixed", listeners, partner_address)?;
    // Let the subscription start, so the first phase does not time the connection.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut created = HashMap::new();
    let every = plan.routing_every.max(2);

    // Phase 1: messages only.
    let batch: Vec<NewEvent> = (0..plan.events)
        .map(|seq| message(seq, MESSAGE_CONVERSATIONS))
        .collect();
    let started = Instant::now();
    for chunk in batch.chunks(1_000) {
        fake.publish(chunk)?;
    }
    let plain_elapsed = wait_for(&delivered, plan.events, started).await;
    let plain_rate = plan.events as f64 / plain_elapsed.as_secs_f64();

    // Phase 2: the same size, one event in `every` a RoutingRequested.
    let mut routed = Vec::new();
    let mut events = Vec::new();
    let mut messages = 0;
    for seq in 0..plan.events {
        if seq % every == every - 1 {
            let n = MIXED_FIRST + seq / every;
            fake.interaction()
                .seed_conversation(&conversation_id(n), &work_item_id(n));
            let event = routing_requested(n);
            created.insert(n, event.created_date.unwrap_or_default());
            routed.push(n);
            events.push(event);
        } else {
            events.push(message(plan.events + seq, MESSAGE_CONVERSATIONS));
            messages += 1;
        }
    }
    let base = delivered.load(Ordering::Relaxed);
    let started = Instant::now();
    for chunk in events.chunks(1_000) {
        fake.publish(chunk)?;
    }
    let messages_elapsed = wait_for(&delivered, base + messages, started).await;
    let mixed_report = finish_phase(&fake, &log, &routed, &created).await;
    let routing_delivered_at = log
        .lock()
        .ok()
        .and_then(|log| log.last_received(&routed))
        .unwrap_or_else(Instant::now);
    let delivered_elapsed =
        messages_elapsed.max(routing_delivered_at.saturating_duration_since(started));
    let delivered_rate = plan.events as f64 / delivered_elapsed.as_secs_f64();
    let answered_at = fake
        .interaction()
        .calls_to("routingResult")
        .iter()
        .map(|call| call.received_at)
        .max()
        .unwrap_or(started);
    let answered_elapsed = answered_at.saturating_duration_since(started);
    let answered_floor =
        routed.len() as f64 / f64::from(crate::interaction::INTERACTION_RATE_LIMIT);
    let message_rate = messages as f64 / messages_elapsed.as_secs_f64();

    // Phase 3: steady routing requests.
    let steady: Vec<u64> = (STEADY_FIRST..STEADY_FIRST + plan.steady_requests).collect();
    let period = Duration::from_secs_f64(1.0 / plan.rate.max(1) as f64);
    let started = Instant::now();
    for (index, n) in steady.iter().enumerate() {
        tokio::time::sleep_until(started + period.mul_f64(index as f64)).await;
        fake.interaction()
            .seed_conversation(&conversation_id(*n), &work_item_id(*n));
        let event = routing_requested(*n);
        created.insert(*n, event.created_date.unwrap_or_default());
        fake.publish(&[event])?;
    }
    let steady_report = finish_phase(&fake, &log, &steady, &created).await;

    // Phase 4: a burst at once.
    let burst: Vec<u64> = (BURST_FIRST..BURST_FIRST + plan.burst).collect();
    for n in &burst {
        fake.interaction()
            .seed_conversation(&conversation_id(*n), &work_item_id(*n));
    }
    let events: Vec<NewEvent> = burst.iter().map(|n| routing_requested(*n)).collect();
    for (n, event) in burst.iter().zip(&events) {
        created.insert(*n, event.created_date.unwrap_or_default());
    }
    fake.publish(&events)?;
    let burst_report = finish_phase(&fake, &log, &burst, &created).await;
    let soql_queries = fake.soql().queries().len();

    connector.stop().await?;
    fake.shutdown().await;
    Ok(format!(
        "mixed, {events} messages only: {plain_rate:.0} events/s ({:.3} s)\n\
         mixed, {events} events with one RoutingRequested in {every}: {delivered_rate:.0} events/s \
         delivered ({:.3} s) = {:.1} % of messages only; the {messages} messages alone at \
         {message_rate:.0}/s; last routingResult after {:.3} s (Salesforce's limit alone needs \
         {answered_floor:.3} s for {}); routing: {mixed_report}\n\
         mixed, steady {} requests/s ({} requests): {steady_report}\n\
         mixed, burst of {} requests published at once: {burst_report}\n\
         mixed, soql queries over the whole run: {soql_queries}",
        plain_elapsed.as_secs_f64(),
        delivered_elapsed.as_secs_f64(),
        delivered_rate / plain_rate * 100.0,
        answered_elapsed.as_secs_f64(),
        routed.len(),
        plan.rate,
        plan.steady_requests,
        plan.burst,
        events = plan.events,
    ))
}

/// Waits until `delivered` reaches `target` (or the phase limit passes); time since `started`.
async fn wait_for(delivered: &AtomicU64, target: u64, started: Instant) -> Duration {
    let limit = started + PHASE_LIMIT * 4;
    while delivered.load(Ordering::Relaxed) < target && Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}
