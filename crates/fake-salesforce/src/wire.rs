//! Facts of Salesforce's Pub/Sub wire that the fake enforces: the error codes it puts in the
//! `error-code` trailer, the trailer names, and the flow-control and message-size limits.
//!
//! Written from the Pub/Sub API documentation, independently of any client, so a client
//! that disagrees with Salesforce disagrees with the fake too.

use tonic::{Code, Status};

/// Trailer carrying Salesforce's error code.
pub const ERROR_CODE_TRAILER: &str = "error-code";
/// Trailer carrying the server's RPC id.
pub const RPC_ID_TRAILER: &str = "rpc-id";

/// Expired or invalid token.
pub const AUTH_ERROR: &str = "sfdc.platform.eventbus.grpc.service.auth.error";
/// Replay id invalid or outside the retention window.
pub const REPLAY_ID_CORRUPTED: &str =
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted";
/// CUSTOM preset without a replay id.
pub const REPLAY_ID_VALIDATION_FAILED: &str =
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed";
/// `num_requested` was zero or negative.
pub const REQUESTED_EVENTS_INVALID: &str =
    "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid";
/// The service is down for now; Salesforce's guidance is to wait about 5 s and retry. The
/// full code is unverified (clients match its `service.unavailable` part); the fake uses this.
pub const SERVICE_UNAVAILABLE: &str = "sfdc.platform.eventbus.grpc.service.unavailable";
/// Topic does not exist. The exact code is unverified; the fake uses this one.
pub const TOPIC_NOT_FOUND: &str = "sfdc.platform.eventbus.grpc.subscription.topic.notfound";

/// The most events a subscriber may have requested and not yet received (Salesforce caps
/// `num_requested` at 100).
pub const MAX_OUTSTANDING_EVENTS: u32 = 100;
/// The largest gRPC message the fake sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A Salesforce-shaped error: description ending in `rpcId: <id>`, and the `error-code`
/// and `rpc-id` trailers.
pub fn sf_status(code: Code, message: &str, error_code: Option<&str>, rpc_id: &str) -> Status {
    let mut status = Status::new(code, format!("{message} rpcId: {rpc_id}"));
    if let Some(error_code) = error_code.and_then(|value| value.parse().ok()) {
        status.metadata_mut().insert(ERROR_CODE_TRAILER, error_code);
    }
    if let Ok(value) = rpc_id.parse() {
        status.metadata_mut().insert(RPC_ID_TRAILER, value);
    }
    status
}
