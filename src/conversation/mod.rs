//! What the connector knows about each conversation, and what it tells Salesforce about
//! deliveries that failed.
//!
//! It owns the conversation state record ([`state`]), the tracker that keeps it in the store
//! off the delivery path ([`tracker`]), the MessageDeliveryFailed notices ([`notice`]), the
//! sidecar route `GET /v1/conversations/{conversationIdentifier}` ([`routes`]), and the
//! observers through which the pipeline, the Interaction Service client and routing reach it
//! ([`ConversationObserver`]). It knows nothing about Pub/Sub or the server's listeners.

pub(crate) mod notice;
pub(crate) mod routes;
pub(crate) mod state;
pub(crate) mod tracker;

use crate::channel::PermanentFailure;
use crate::events::{EntryPayload, InteractionEvent};
use crate::interaction::{
    DeliveryFailure, InteractionRequest, InteractionResponse, InteractionsObserver,
};
use crate::pipeline::{EntryObserver, EntryRef};
use crate::routing::SessionLookup;

pub(crate) use notice::{
    DeliveryFailureNotifier, FailureNotice, ReportedBy, DEFAULT_REFUSAL_ERROR_CODE,
};
#[cfg(test)]
pub(crate) use routes::CONVERSATION_PATH;
pub(crate) use routes::{router, ConversationServices};
pub(crate) use state::{ConversationState, Update};
pub(crate) use tracker::ConversationTracker;

/// What happens when the partner's webhook refuses a message for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusalSettings {
    /// Send MessageDeliveryFailed for refused messages.
    pub report: bool,
    /// The code sent when the refusal names no valid one.
    pub default_code: String,
}

impl Default for RefusalSettings {
    fn default() -> Self {
        Self {
            report: true,
            default_code: DEFAULT_REFUSAL_ERROR_CODE.to_owned(),
        }
    }
}

/// Feeds the tracker from the pipeline and reports refused messages.
#[derive(Debug, Clone)]
pub(crate) struct ConversationObserver {
    tracker: ConversationTracker,
    /// Reports refused messages; `None` when reporting is off.
    notifier: Option<DeliveryFailureNotifier>,
    default_code: String,
}

impl ConversationObserver {
    /// An observer over `tracker`; `notifier` reports refusals when `refusals.report` is on.
    pub(crate) fn new(
        tracker: ConversationTracker,
        notifier: Option<DeliveryFailureNotifier>,
        refusals: &RefusalSettings,
    ) -> Self {
        Self {
            tracker,
            notifier: notifier.filter(|_| refusals.report),
            default_code: refusals.default_code.clone(),
        }
    }
}

impl EntryObserver for ConversationObserver {
    fn seen(&self, event: &InteractionEvent) {
        let change = match &event.entry.payload {
            EntryPayload::SessionStatusChanged(entry) => state::Change::SessionStatus {
                session_id: entry.session_id.clone(),
                status: entry.session_status.as_str().to_owned(),
            },
            EntryPayload::ParticipantChanged(entry) => state::Change::Participants(
                entry
                    .entries
                    .iter()
                    .map(|change| {
                        let operation = match change.operation {
                            Some(crate::events::ParticipantOperation::Remove) => {
                                state::ParticipantOperation::Remove
                            }
                            _ => state::ParticipantOperation::AddOrUpdate,
                        };
                        let participant = state::ParticipantState {
                            app_type: change.participant.app_type.as_str().to_owned(),
                            subject: change.participant.subject.clone(),
                            role: change.participant.role.as_str().to_owned(),
                            display_name: change.display_name.clone(),
                        };
                        (operation, participant)
                    })
                    .collect(),
            ),
            _ => return,
        };
        self.tracker.update(Update {
            conversation: event.conversation_identifier.clone(),
            channel_address_identifier: Some(event.channel_address_identifier.clone()),
            end_user_client_id: Some(event.recipient.subject.clone()),
            change,
            at_ms: notice::now_ms(),
        });
    }

    fn delivered(&self, entry: EntryRef) {
        let at_ms = notice::now_ms();
        self.tracker.update(Update {
            conversation: entry.conversation_identifier,
            channel_address_identifier: Some(entry.channel_address_identifier),
            end_user_client_id: Some(entry.end_user_client_id),
            change: state::Change::Delivered(state::DeliveredEntry {
                identifier: entry.entry_identifier,
                event_type: entry.event_type.to_owned(),
                replay_id: entry.replay_id,
                delivered_at_ms: at_ms,
            }),
            at_ms,
        });
    }

    fn refused(&self, entry: &EntryRef, refusal: &PermanentFailure) {
        // Only a message can fail to reach the end user; other entries tell the rep nothing.
        let Some(notifier) = &self.notifier else {
            return;
        };
        if entry.event_type != "interaction.message" {
            return;
        }
        let (error_code, error_message) =
            notice::refusal_code(&refusal.body_prefix, &self.default_code);
        notifier.report_in_background(FailureNotice {
            conversation: entry.conversation_identifier.clone(),
            channel_address_identifier: entry.channel_address_identifier.clone(),
            failure: DeliveryFailure {
                entry_id: notice::new_entry_id(),
                end_user_client_id: entry.end_user_client_id.clone(),
                error_code,
                failed_entry_id: Some(entry.entry_identifier.clone()),
                error_message,
            },
        });
    }

    fn settle(&self) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(self.tracker.settle())
    }
}

/// Learns from every accepted `/interactions` answer which MessagingSession serves the
/// conversation. Registered on the Interaction Service client, so it holds nothing that holds
/// the client (a cycle would keep the store open after the connector stops); routing reads
/// what it learned through the tracker, its [`SessionLookup`].
#[derive(Debug, Clone)]
pub(crate) struct SessionLearner(pub ConversationTracker);

impl InteractionsObserver for SessionLearner {
    fn interactions_answered(&self, request: &InteractionRequest, response: &InteractionResponse) {
        let (Some(conversation), Some(session)) = (
            response.conversation_identifier.as_deref(),
            response.work_item_ids.first(),
        ) else {
            return;
        };
        let session = state::short_id(session);
        self.0.update(Update {
            conversation: conversation.to_owned(),
            channel_address_identifier: Some(request.to.clone()),
            end_user_client_id: Some(request.from.clone()),
            change: state::Change::SessionLearned {
                session_id: session,
            },
            at_ms: notice::now_ms(),
        });
    }
}

impl SessionLookup for ConversationTracker {
    fn session_of(&self, conversation: &str) -> Option<String> {
        ConversationTracker::session_of(self, conversation)
    }
}
