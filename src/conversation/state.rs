//! The state of one conversation as the connector knows it, and how each thing it learns
//! changes it.
//!
//! A record is built only from what passes through the connector: the entries on the stream
//! (session status, participants, deliveries to the partner) and the sidecar's and the
//! connector's own calls to Salesforce (the MessagingSession an `/interactions` answer names, a
//! reported delivery failure). It is JSON both in the store and on the sidecar. It knows
//! nothing about where updates come from or how they are stored.

use serde::{Deserialize, Serialize};

/// What the connector knows about one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationState {
    /// The conversation.
    pub conversation_identifier: String,
    /// The channel it runs on, once seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_address_identifier: Option<String>,
    /// The end user's client id, once seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_user_client_id: Option<String>,
    /// The MessagingSession serving it, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionState>,
    /// Participants present, in the order they joined.
    #[serde(default)]
    pub participants: Vec<ParticipantState>,
    /// The last entry the partner accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivered_entry: Option<DeliveredEntry>,
    /// The last delivery failure reported to Salesforce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_failure: Option<ReportedFailure>,
    /// When anything here last changed, epoch milliseconds.
    pub updated_at_ms: i64,
}

/// The MessagingSession of a conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionState {
    /// The MessagingSession id, 15 characters.
    pub id: String,
    /// Its last status from a SessionStatusChanged entry, when one was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// One participant as the stream describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ParticipantState {
    /// `appType`.
    pub app_type: String,
    /// `subject`: the end user's client id or a rep's user id.
    pub subject: String,
    /// `role`.
    pub role: String,
    /// The name shown, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// An entry the partner accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeliveredEntry {
    /// The ConversationEntry's identifier.
    pub identifier: String,
    /// The webhook `type`, e.g. `interaction.message`.
    pub event_type: String,
    /// The event's replay id, hex.
    pub replay_id: String,
    /// When the partner accepted it, epoch milliseconds.
    pub delivered_at_ms: i64,
}

/// A MessageDeliveryFailed the connector sent to Salesforce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportedFailure {
    /// The messaging error code.
    pub error_code: String,
    /// The entry that did not arrive, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_entry_identifier: Option<String>,
    /// `partner` (through the sidecar) or `connector` (a refused webhook delivery).
    pub reported_by: String,
    /// When Salesforce accepted it, epoch milliseconds.
    pub reported_at_ms: i64,
}

/// What a participant change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParticipantOperation {
    /// Joined, or changed its details.
    AddOrUpdate,
    /// Left.
    Remove,
}

/// One thing learned about a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A SessionStatusChanged entry.
    SessionStatus {
        /// The MessagingSession id (either length).
        session_id: String,
        /// The new status.
        status: String,
    },
    /// A ParticipantChanged entry.
    Participants(Vec<(ParticipantOperation, ParticipantState)>),
    /// An `/interactions` answer named the MessagingSession.
    SessionLearned {
        /// The MessagingSession id (either length).
        session_id: String,
    },
    /// The partner accepted an entry.
    Delivered(DeliveredEntry),
    /// A MessageDeliveryFailed was accepted by Salesforce.
    FailureReported(ReportedFailure),
}

/// A [`Change`] with the conversation it is about and what else the source knew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Update {
    /// The conversation.
    pub conversation: String,
    /// The channel, when the source names it.
    pub channel_address_identifier: Option<String>,
    /// The end user, when the source names it.
    pub end_user_client_id: Option<String>,
    /// What changed.
    pub change: Change,
    /// When it was learned, epoch milliseconds.
    pub at_ms: i64,
}

impl ConversationState {
    /// An empty record for `conversation`.
    pub(crate) fn new(conversation: &str) -> Self {
        Self {
            conversation_identifier: conversation.to_owned(),
            ..Self::default()
        }
    }

    /// Applies `update`.
    pub(crate) fn apply(&mut self, update: Update) {
        if update.channel_address_identifier.is_some() {
            self.channel_address_identifier = update.channel_address_identifier;
        }
        if update.end_user_client_id.is_some() {
            self.end_user_client_id = update.end_user_client_id;
        }
        self.updated_at_ms = self.updated_at_ms.max(update.at_ms);
        match update.change {
            Change::SessionStatus { session_id, status } => {
                self.session = Some(SessionState {
                    id: short_id(&session_id),
                    status: Some(status),
                });
            }
            Change::SessionLearned { session_id } => {
                let id = short_id(&session_id);
                match &mut self.session {
                    Some(session) if session.id == id => {}
                    _ => self.session = Some(SessionState { id, status: None }),
                }
            }
            Change::Participants(changes) => {
                for (operation, participant) in changes {
                    let position = self.participants.iter().position(|known| {
                        known.subject == participant.subject && known.role == participant.role
                    });
                    match (operation, position) {
                        (ParticipantOperation::AddOrUpdate, Some(index)) => {
                            self.participants[index] = participant;
                        }
                        (ParticipantOperation::AddOrUpdate, None) => {
                            self.participants.push(participant);
                        }
                        (ParticipantOperation::Remove, Some(index)) => {
                            self.participants.remove(index);
                        }
                        (ParticipantOperation::Remove, None) => {}
                    }
                }
            }
            Change::Delivered(entry) => self.last_delivered_entry = Some(entry),
            Change::FailureReported(failure) => self.last_delivery_failure = Some(failure),
        }
    }
}

/// The 15-character form of a record id (Salesforce's case-insensitive 18-character form
/// only adds a checksum).
pub(crate) fn short_id(id: &str) -> String {
    id.get(..15).unwrap_or(id).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(change: Change) -> Update {
        Update {
            conversation: "c".into(),
            channel_address_identifier: None,
            end_user_client_id: None,
            change,
            at_ms: 1,
        }
    }

    fn person(subject: &str, role: &str) -> ParticipantState {
        ParticipantState {
            app_type: "agent".into(),
            subject: subject.into(),
            role: role.into(),
            display_name: None,
        }
    }

    #[test]
    fn participants_join_and_leave_and_a_session_keeps_its_status_when_learned_again() {
        let mut state = ConversationState::new("c");
        state.apply(update(Change::SessionStatus {
            session_id: "0MwXX0000012345AAA".into(),
            status: "Active".into(),
        }));
        state.apply(update(Change::SessionLearned {
            session_id: "0MwXX0000012345".into(),
        }));
        assert_eq!(
            state.session.as_ref().unwrap().status.as_deref(),
            Some("Active")
        );
        state.apply(update(Change::Participants(vec![
            (ParticipantOperation::AddOrUpdate, person("005A", "Agent")),
            (ParticipantOperation::AddOrUpdate, person("005B", "Agent")),
        ])));
        state.apply(update(Change::Participants(vec![(
            ParticipantOperation::Remove,
            person("005A", "Agent"),
        )])));
        assert_eq!(state.participants, vec![person("005B", "Agent")]);
    }
}
