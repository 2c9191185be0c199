//! What a gRPC error from Salesforce means for the subscriber.
//!
//! Salesforce puts its own error code in the `error-code` trailer (spec §3.6). Retry
//! decisions are made here, from the status code and that trailer, and nowhere else.

use tonic::{Code, Status};

/// Trailer carrying Salesforce's error code.
pub const ERROR_CODE_TRAILER: &str = "error-code";
/// Trailer carrying the server's RPC id.
pub const RPC_ID_TRAILER: &str = "rpc-id";

/// Expired or invalid token.
pub const AUTH_ERROR: &str = "sfdc.platform.eventbus.grpc.service.auth.error";
/// Failed internal token refresh; treated like an auth error.
pub const AUTH_REFRESH_INVALID: &str = "sfdc.platform.eventbus.grpc.service.auth.refresh.invalid";
/// Replay id invalid or outside the retention window.
pub(crate) const REPLAY_ID_CORRUPTED: &str =
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted";
/// CUSTOM preset without a replay id.
pub const REPLAY_ID_VALIDATION_FAILED: &str =
    "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed";
/// `num_requested` was zero or negative.
pub const REQUESTED_EVENTS_INVALID: &str =
    "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid";
/// What marks Salesforce's "the service is unavailable, try again later" error code. Only this
/// part of the code is known (spec §3.6: clients match it as a substring), so it is matched so.
pub(crate) const SERVICE_UNAVAILABLE_MARK: &str = "service.unavailable";
/// Topic does not exist (the exact code is unverified; our fake uses it).
pub const TOPIC_NOT_FOUND: &str = "sfdc.platform.eventbus.grpc.subscription.topic.notfound";

/// How the subscriber should react to a failed RPC or stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureKind {
    /// Refresh the token, then subscribe again.
    Auth,
    /// The stored replay id is unusable (corrupted, expired or unreadable): apply the
    /// corrupted-replay policy.
    ReplayIdCorrupted,
    /// Salesforce is down for now: wait at least its suggested ~5 s, then subscribe again.
    ServiceUnavailable,
    /// Anything else: back off and subscribe again.
    Transient,
}

/// Salesforce's `error-code` trailer, if present.
pub(crate) fn error_code(status: &Status) -> Option<&str> {
    status.metadata().get(ERROR_CODE_TRAILER)?.to_str().ok()
}

/// The server's `rpc-id` trailer, if present.
pub fn rpc_id(status: &Status) -> Option<&str> {
    status.metadata().get(RPC_ID_TRAILER)?.to_str().ok()
}

/// Classifies a status from any Pub/Sub RPC.
pub(crate) fn classify(status: &Status) -> FailureKind {
    let code = error_code(status).unwrap_or_default();
    if status.code() == Code::Unauthenticated || code.contains("service.auth") {
        return FailureKind::Auth;
    }
    // Salesforce's guidance treats both alike: the stored position cannot be used, and
    // subscribing at it again would be refused again, forever.
    if code == REPLAY_ID_CORRUPTED || code == REPLAY_ID_VALIDATION_FAILED {
        return FailureKind::ReplayIdCorrupted;
    }
    // The message is Salesforce's too; it also came without the trailer, as INTERNAL, in an
    // outage (spec §3.6). Waiting a little longer than needed costs only a few seconds.
    if code.contains(SERVICE_UNAVAILABLE_MARK)
        || status
            .message()
            .to_ascii_lowercase()
            .contains("service is unavailable")
    {
        return FailureKind::ServiceUnavailable;
    }
    FailureKind::Transient
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_with_code(code: Code, error_code: &str) -> Status {
        let mut status = Status::new(code, "failed");
        status
            .metadata_mut()
            .insert(ERROR_CODE_TRAILER, error_code.parse().unwrap());
        status
    }

    #[test]
    fn auth_failures_are_recognised_by_status_or_trailer() {
        assert_eq!(classify(&Status::unauthenticated("x")), FailureKind::Auth);
        assert_eq!(
            classify(&status_with_code(Code::Internal, AUTH_REFRESH_INVALID)),
            FailureKind::Auth
        );
    }

    #[test]
    fn corrupted_replay_id_is_recognised_by_trailer() {
        let status = status_with_code(Code::InvalidArgument, REPLAY_ID_CORRUPTED);
        assert_eq!(classify(&status), FailureKind::ReplayIdCorrupted);
        let status = status_with_code(Code::InvalidArgument, REPLAY_ID_VALIDATION_FAILED);
        assert_eq!(classify(&status), FailureKind::ReplayIdCorrupted);
    }

    #[test]
    fn service_unavailable_is_recognised_by_trailer_or_message() {
        let status = status_with_code(
            Code::Unavailable,
            "sfdc.platform.eventbus.grpc.service.unavailable",
        );
        assert_eq!(classify(&status), FailureKind::ServiceUnavailable);
        let status = Status::internal(
            "Received RST_STREAM with code 0. The service is unavailable. Try again later.",
        );
        assert_eq!(classify(&status), FailureKind::ServiceUnavailable);
    }

    #[test]
    fn everything_else_is_transient() {
        assert_eq!(
            classify(&Status::unavailable("down")),
            FailureKind::Transient
        );
        assert_eq!(
            classify(&Status::resource_exhausted("busy")),
            FailureKind::Transient
        );
    }
}
