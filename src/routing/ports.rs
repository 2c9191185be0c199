//! [`RoutingPorts`]: everything a routing request's driver asks of the world — the partner
//! call, the `workItemId` lookup (SOQL), the claim, `/route`, `/agentWork`, routingResult,
//! durable record writes, telemetry and a cancelled request's cleanup — and [`Request`], what
//! those calls need to know about the request.
//!
//! The engine implements the ports with the real clients (`live.rs`); tests can implement
//! them without a socket. Knows nothing about how a port is carried out, nor about the
//! machine's rules.

use std::future::Future;

use bytes::Bytes;
use tokio::time::Instant;

use crate::events::RoutingRequestedEvent;
use crate::interaction::RoutingInfo;

use super::active::Claimant;
use super::deadline::Timeline;
use super::machine::{CallFailure, Cleanup, Count, PartnerReply, PostOutcome};
use super::pending::{Decision, PendingRecord, RouteReceipt};
use super::RoutingError;

/// One armed request, as its calls see it.
#[derive(Debug)]
pub(super) struct Request {
    /// The record as it was armed (its key, conversation, `CreatedDate`, idempotency key).
    pub record: PendingRecord,
    /// The decoded request.
    pub event: Box<RoutingRequestedEvent>,
    /// The `routing.requested` webhook body; empty once armed when the plan never asks the
    /// partner.
    pub body: Bytes,
    /// Its deadlines on tokio's clock.
    pub timeline: Timeline,
}

/// What a routing request's driver calls; every future is bounded by the times it is given.
pub(super) trait RoutingPorts: Send + Sync {
    /// Delivers `routing.requested` to the partner until it answers or its time is over.
    fn ask_partner(&self, request: &Request) -> impl Future<Output = PartnerReply> + Send;

    /// The request's MessagingSession id, or why there is none.
    fn resolve_work_item(
        &self,
        request: &Request,
    ) -> impl Future<Output = Result<String, String>> + Send;

    /// Claims the request for `claimant`; false when someone decided first.
    fn claim(&self, request: &Request, claimant: Claimant) -> bool;

    /// `POST /route`, retried until `until`.
    fn post_route(
        &self,
        request: &Request,
        routing_info: RoutingInfo,
        kind: &'static str,
        until: Instant,
    ) -> impl Future<Output = Result<RouteReceipt, CallFailure>> + Send;

    /// `POST /agentWork` for `user_id`, retried until `until`; the AgentWork id if any.
    fn post_agent_work(
        &self,
        request: &Request,
        work_item_id: String,
        user_id: String,
        correlation_id: Option<String>,
        until: Instant,
    ) -> impl Future<Output = Result<Option<String>, CallFailure>> + Send;

    /// Posts routingResult, retried until the request's deadline and never after it.
    fn post_routing_result(
        &self,
        request: &Request,
        decision: Decision,
        work_item_id: String,
    ) -> impl Future<Output = PostOutcome> + Send;

    /// Durably writes `record`.
    fn write(
        &self,
        record: &PendingRecord,
    ) -> impl Future<Output = Result<(), RoutingError>> + Send;

    /// Salesforce accepted the routingResult: cancellations no longer reach the request.
    fn mark_posted(&self, request: &Request);

    /// Now on Salesforce's clock, epoch ms: when a routingResult was accepted.
    fn now_ms(&self) -> i64;

    /// Counts and logs what happened to `record`.
    fn count(&self, record: &PendingRecord, count: Count);

    /// Undoes what a cancelled request left in Salesforce and tells the partner.
    fn clean_up(&self, record: &PendingRecord, cleanup: Cleanup)
        -> impl Future<Output = ()> + Send;

    /// `DELETE /route` for a route that `/route` may have created without saying so.
    fn withdraw_route(&self, record: &PendingRecord) -> impl Future<Output = ()> + Send;
}
