//! What the subscriber reports as it runs: each notable occurrence is one
//! [`SubscriberOccurrence`], handed to a [`SubscriberTelemetry`] that logs and counts it in one
//! call.
//!
//! The subscriber only describes what happened, with the details a log line needs; whoever
//! implements the trait (the connector's `telemetry`) decides the log level, the message and
//! the metric. This file knows no BYOC and no metrics library.

use std::time::Duration;

use tonic::Status;

use super::client::RpcError;
use super::replay::CorruptedReplayPolicy;

/// Why the Pub/Sub subscriber opened a new stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReconnectReason {
    /// The stream was silent for longer than the keepalive timeout.
    Watchdog,
    /// The server ended the stream cleanly.
    ServerClosed,
    /// The RPC failed (network, UNAVAILABLE, RESOURCE_EXHAUSTED, …).
    StreamFailed,
    /// The token was rejected and refreshed first.
    AuthRejected,
    /// The stored replay id was refused and the corrupted-replay policy applied.
    ReplayReset,
}

impl ReconnectReason {
    /// Every reason, so each metric series can exist from the start.
    pub const ALL: [Self; 5] = [
        Self::Watchdog,
        Self::ServerClosed,
        Self::StreamFailed,
        Self::AuthRejected,
        Self::ReplayReset,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Watchdog => "watchdog",
            Self::ServerClosed => "server_closed",
            Self::StreamFailed => "stream_failed",
            Self::AuthRejected => "auth_rejected",
            Self::ReplayReset => "replay_reset",
        }
    }
}

/// A notable occurrence in the subscriber, with what its log line needs.
#[derive(Debug)]
pub enum SubscriberOccurrence<'a> {
    /// No response for `timeout`: the stream is presumed dead and opened again.
    StreamSilent {
        /// The keepalive timeout that ran out.
        timeout: Duration,
    },
    /// The server ended the stream cleanly; it is opened again.
    StreamClosed,
    /// A call could not be made (connection, credentials, metadata); it is tried again.
    CallFailed {
        /// What went wrong.
        error: &'a RpcError,
    },
    /// A call failed with a status that is worth retrying; the stream is opened again.
    StreamFailed {
        /// The status the server answered.
        status: &'a Status,
        /// Salesforce's `error-code` trailer, empty when absent.
        error_code: &'a str,
        /// Salesforce's `rpc-id` trailer, empty when absent.
        rpc_id: &'a str,
    },
    /// The access token was refused; it is refreshed and the stream opened again.
    TokenRejected {
        /// Salesforce's `error-code` trailer, empty when absent.
        error_code: &'a str,
        /// Salesforce's `rpc-id` trailer, empty when absent.
        rpc_id: &'a str,
        /// Refusals with no stream working in between, this one included: above 1, a token
        /// refreshed after a refusal was refused too, and refreshing will not fix it.
        in_a_row: u32,
    },
    /// The stored replay id was refused as corrupted or outside retention; `policy` says
    /// whether the subscription starts again elsewhere or stops.
    ReplayIdRefused {
        /// The refused position, empty when unknown.
        lost_position: &'a str,
        /// The configured reaction.
        policy: CorruptedReplayPolicy,
        /// Salesforce's `rpc-id` trailer, empty when absent.
        rpc_id: &'a str,
    },
}

impl SubscriberOccurrence<'_> {
    /// Why a new stream follows this occurrence; `None` when the subscriber stops instead.
    pub fn reconnect_reason(&self) -> Option<ReconnectReason> {
        match self {
            Self::StreamSilent { .. } => Some(ReconnectReason::Watchdog),
            Self::StreamClosed => Some(ReconnectReason::ServerClosed),
            Self::CallFailed { .. } | Self::StreamFailed { .. } => {
                Some(ReconnectReason::StreamFailed)
            }
            Self::TokenRejected { .. } => Some(ReconnectReason::AuthRejected),
            Self::ReplayIdRefused { policy, .. } => match policy {
                CorruptedReplayPolicy::Fail => None,
                CorruptedReplayPolicy::Earliest | CorruptedReplayPolicy::Latest => {
                    Some(ReconnectReason::ReplayReset)
                }
            },
        }
    }
}

/// Logs and counts what the subscriber reports. One call per occurrence, so the log line and
/// the count can never disagree.
pub trait SubscriberTelemetry: Send + Sync + 'static {
    /// Logs `occurrence` and counts it.
    fn emit(&self, occurrence: SubscriberOccurrence<'_>);
}
