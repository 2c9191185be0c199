//! `ConversationEntry`: the `payload` of an `Interaction` event, and the choice of its
//! `entryPayload` by `entryType` (spec §2.3–§2.4).
//!
//! The variant is chosen by the `entryType` inside `entryPayload` (the spec says the
//! outer `entryType` repeats it). An entry type this version does not model becomes
//! `EntryPayload::Other` with its JSON verbatim and is never an error. This file knows
//! the payload JSON only; not Avro, not the webhook.

use serde::Deserialize;

use super::entry_payloads::{
    AcknowledgementEntry, ConsultConversationInfoEntry, EndUserConsentUpdatedEntry, FlagLowerEntry,
    FlagRaiseEntry, MessageDeliveryFailedEntry, MessageEntry, MessageUpdatedEntry, NoteEntry,
    ParticipantChangedEntry, ProgressIndicatorEntry, QueuePositionEntry, RoutingResultEntry,
    RoutingWorkResultEntry, SessionStatusChangedEntry, TypingIndicatorEntry,
};
use super::participant::{Participant, Recipients};
use super::raw::string_enum;
use super::tagged::tagged_enum;

string_enum! {
    /// The kind of a conversation entry (`entryType`).
    pub enum EntryType {
        /// A message to show the end user.
        Message => "Message",
        /// A message changed, e.g. an attachment upload finished.
        MessageUpdated => "MessageUpdated",
        /// Participants joined, left or changed.
        ParticipantChanged => "ParticipantChanged",
        /// Salesforce's record of a routing outcome.
        RoutingResult => "RoutingResult",
        /// A rep accepted, declined or closed work.
        RoutingWorkResult => "RoutingWorkResult",
        /// Someone started typing.
        TypingStartedIndicator => "TypingStartedIndicator",
        /// Someone stopped typing.
        TypingStoppedIndicator => "TypingStoppedIndicator",
        /// An Agentforce "working on it" update.
        ProgressIndicator => "ProgressIndicator",
        /// The messaging session changed status.
        SessionStatusChanged => "SessionStatusChanged",
        /// An entry was delivered.
        DeliveryAcknowledgement => "DeliveryAcknowledgement",
        /// An entry was read.
        ReadAcknowledgement => "ReadAcknowledgement",
        /// A message could not be delivered.
        MessageDeliveryFailed => "MessageDeliveryFailed",
        /// The end user's consent changed.
        EndUserConsentUpdated => "EndUserConsentUpdated",
        /// The conversation's place in a queue.
        QueuePosition => "QueuePosition",
        /// A consult conversation was opened.
        ConsultConversationInfo => "ConsultConversationInfo",
        /// An internal note (whisper).
        Note => "Note",
        /// A rep raised a flag.
        FlagRaise => "FlagRaise",
        /// A rep lowered a flag.
        FlagLower => "FlagLower",
        /// In the spec's enum, without a schema.
        TransferProgress => "TransferProgress",
        /// In the spec's enum, without a schema.
        ParticipantsConferenced => "ParticipantsConferenced",
    }
}

/// One conversation entry, the `payload` of an `Interaction` event.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationEntry {
    /// The conversation entry id (required); a natural de-duplication key.
    pub identifier: String,
    /// The entry kind as the envelope states it (required).
    pub entry_type: EntryType,
    /// The typed entry payload (`entryPayload`, required).
    #[serde(rename = "entryPayload")]
    pub payload: EntryPayload,
    /// Who wrote the entry (required).
    pub sender: Participant,
    /// The sender's display name.
    pub sender_display_name: Option<String>,
    /// Addressees by visibility.
    pub recipients: Option<Recipients>,
    /// When Salesforce recorded the entry, epoch milliseconds (required).
    #[serde(rename = "transcriptedTimestamp")]
    pub transcripted_timestamp_ms: i64,
    /// When the sender's client created the entry, epoch milliseconds (required).
    #[serde(rename = "clientTimestamp")]
    pub client_timestamp_ms: i64,
    /// Client-side duration in milliseconds (required).
    #[serde(rename = "clientDuration")]
    pub client_duration_ms: i64,
}

tagged_enum! {
    /// An entry's typed payload, selected by `entryPayload.entryType`.
    ///
    /// `Message`, by far the most frequent variant, stays inline; the others are
    /// boxed so the enum stays small without an allocation per message.
    #[allow(clippy::large_enum_variant)]
    pub enum EntryPayload (tag "entryType", unknown tag in entry_type) {
        /// `Message`.
        Message(MessageEntry) => "Message",
        /// `MessageUpdated`.
        MessageUpdated(Box<MessageUpdatedEntry>) => "MessageUpdated",
        /// `ParticipantChanged`.
        ParticipantChanged(ParticipantChangedEntry) => "ParticipantChanged",
        /// `RoutingResult`.
        RoutingResult(Box<RoutingResultEntry>) => "RoutingResult",
        /// `RoutingWorkResult`.
        RoutingWorkResult(Box<RoutingWorkResultEntry>) => "RoutingWorkResult",
        /// `TypingStartedIndicator`.
        TypingStartedIndicator(TypingIndicatorEntry) => "TypingStartedIndicator",
        /// `TypingStoppedIndicator`.
        TypingStoppedIndicator(TypingIndicatorEntry) => "TypingStoppedIndicator",
        /// `ProgressIndicator`.
        ProgressIndicator(Box<ProgressIndicatorEntry>) => "ProgressIndicator",
        /// `SessionStatusChanged`.
        SessionStatusChanged(Box<SessionStatusChangedEntry>) => "SessionStatusChanged",
        /// `DeliveryAcknowledgement`.
        DeliveryAcknowledgement(Box<AcknowledgementEntry>) => "DeliveryAcknowledgement",
        /// `ReadAcknowledgement`.
        ReadAcknowledgement(Box<AcknowledgementEntry>) => "ReadAcknowledgement",
        /// `MessageDeliveryFailed`.
        MessageDeliveryFailed(Box<MessageDeliveryFailedEntry>) => "MessageDeliveryFailed",
        /// `EndUserConsentUpdated`.
        EndUserConsentUpdated(Box<EndUserConsentUpdatedEntry>) => "EndUserConsentUpdated",
        /// `QueuePosition`.
        QueuePosition(Box<QueuePositionEntry>) => "QueuePosition",
        /// `ConsultConversationInfo`.
        ConsultConversationInfo(Box<ConsultConversationInfoEntry>) => "ConsultConversationInfo",
        /// `Note`: an internal whisper, normally not shown to the end user.
        Note(Box<NoteEntry>) => "Note",
        /// `FlagRaise`.
        FlagRaise(Box<FlagRaiseEntry>) => "FlagRaise",
        /// `FlagLower`.
        FlagLower(FlagLowerEntry) => "FlagLower",
    }
}

impl EntryPayload {
    /// The webhook `type` of an entry: `interaction.` plus the entry type in
    /// snake_case, or `interaction.unknown` for entry types this version does not model.
    pub fn event_type_name(&self) -> &'static str {
        match self {
            Self::Message(_) => "interaction.message",
            Self::MessageUpdated(_) => "interaction.message_updated",
            Self::ParticipantChanged(_) => "interaction.participant_changed",
            Self::RoutingResult(_) => "interaction.routing_result",
            Self::RoutingWorkResult(_) => "interaction.routing_work_result",
            Self::TypingStartedIndicator(_) => "interaction.typing_started_indicator",
            Self::TypingStoppedIndicator(_) => "interaction.typing_stopped_indicator",
            Self::ProgressIndicator(_) => "interaction.progress_indicator",
            Self::SessionStatusChanged(_) => "interaction.session_status_changed",
            Self::DeliveryAcknowledgement(_) => "interaction.delivery_acknowledgement",
            Self::ReadAcknowledgement(_) => "interaction.read_acknowledgement",
            Self::MessageDeliveryFailed(_) => "interaction.message_delivery_failed",
            Self::EndUserConsentUpdated(_) => "interaction.end_user_consent_updated",
            Self::QueuePosition(_) => "interaction.queue_position",
            Self::ConsultConversationInfo(_) => "interaction.consult_conversation_info",
            Self::Note(_) => "interaction.note",
            Self::FlagRaise(_) => "interaction.flag_raise",
            Self::FlagLower(_) => "interaction.flag_lower",
            Self::Other { .. } => "interaction.unknown",
        }
    }
}
