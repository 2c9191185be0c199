//! What routing shows to and asks of the rest of the connector about a conversation: the
//! routing requests still pending for it ([`PendingRouting`], for the sidecar's conversation
//! state), where a MessagingSession it has not learned may be stored ([`SessionLookup`]), and
//! what became of a decision sent to the sidecar ([`SidecarOutcome`]).
//! Plain types; it knows nothing about how either is produced.

/// Finds the MessagingSession of a conversation from what the connector stored (the
/// conversation state), so routing needs no SOQL after a restart either.
pub(crate) trait SessionLookup: Send + Sync + 'static {
    /// The MessagingSession id (15 characters) serving `conversation`, when known.
    fn session_of(&self, conversation: &str) -> Option<String>;
}

/// A routing request still waiting for its routingResult, as the sidecar shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PendingRouting {
    /// `channelData.eventId` (or the platform event's id).
    pub event_id: String,
    /// `Initial`, `Transfer` or `Conference`, when the request says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_type: Option<String>,
    /// The event's CreatedDate, epoch milliseconds.
    pub created_date_ms: i64,
    /// When Salesforce stops waiting for the routingResult, epoch milliseconds.
    pub deadline_ms: i64,
    /// Whether a decision was taken and is being posted.
    pub decided: bool,
}

/// What became of a partner decision sent to the sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SidecarOutcome {
    /// Salesforce accepted the routingResult (`200`).
    Posted {
        /// Whether it reported success.
        success: bool,
        /// The routingResult's `errorMessage`, on a failure: what the rep is told, with
        /// Salesforce's own reason when it refused an assignment.
        error_message: Option<String>,
    },
    /// The decision was taken but Salesforce did not accept it before the deadline (`502`).
    NotPosted {
        /// Why.
        reason: String,
    },
    /// No such routing request (`404`).
    Unknown,
    /// Someone decided first (`409`).
    AlreadyDecided {
        /// The request's state: `decided`, `posted`, `cancelled` or `missed`.
        state: String,
    },
    /// The partner's time to decide is over (`410`).
    PastDeadline,
    /// The routing strategy is not `partner`, so partner decisions are not taken (`409`).
    NotAccepted,
    /// The request is stored but not armed yet, e.g. during start-up (`503`).
    Resuming,
}
