//! The typed `entryPayload` of each entry type the spec describes (spec §2.4 table):
//! messages, participant changes, routing outcomes, indicators, session status,
//! acknowledgements, delivery failures, consent, queue position and notes.
//!
//! Field names and required-ness follow the spec: required fields are plain types,
//! optional ones are `Option` (so `null` is accepted), and unknown enum values are
//! kept, never rejected. Payload JSON only; no Avro, no delivery, no routing logic.

use serde::Deserialize;

use super::message::AbstractMessage;
use super::participant::{Participant, ParticipantRole};
use super::raw::{null_as_empty, string_enum, RawJson};
use super::routing::RoutingType;

string_enum! {
    /// Why a message was sent (`messageReason`).
    pub enum MessageReason {
        /// Sent automatically.
        AutomatedResponse => "AutomatedResponse",
        /// A consent message.
        Consent => "Consent",
    }
}

/// `Message`: a message to show the end user.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The message (required).
    pub abstract_message: AbstractMessage,
    /// Why the message was sent.
    pub message_reason: Option<MessageReason>,
}

/// `MessageUpdated`: a message changed, e.g. an attachment upload finished.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageUpdatedEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The message as it is now (required); attachments carry `attachmentUploadResult`.
    pub updated_message: AbstractMessage,
}

string_enum! {
    /// What happened to a participant (`operation`).
    pub enum ParticipantOperation {
        /// The participant joined.
        Add => "add",
        /// The participant left.
        Remove => "remove",
        /// The participant's details changed.
        Update => "update",
    }
}

/// `ParticipantChanged`: participants joined, left or changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantChangedEntry {
    /// The entry payload id (required).
    pub id: String,
    /// One change per participant.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub entries: Vec<ParticipantChange>,
}

/// One participant change.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParticipantChange {
    /// Add, remove or update. The YAML does not require it (only `participant`), so a
    /// change without one still decodes; the conversation tracker reads it as present.
    pub operation: Option<ParticipantOperation>,
    /// The participant concerned (required).
    pub participant: Participant,
    /// The participant's display name.
    pub display_name: Option<String>,
    /// A menu the participant offers.
    pub menu_metadata: Option<MenuMetadata>,
    /// Modalities in use, kept verbatim.
    pub active_modalities: Option<RawJson>,
    /// Modalities supported, kept verbatim.
    pub supported_modalities: Option<RawJson>,
}

/// A participant's menu (`menuMetadata`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuMetadata {
    /// The menu's options.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub menu_options: Vec<MenuOption>,
}

/// One menu option.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MenuOption {
    /// The option's id (required).
    pub option_identifier: String,
    /// The option's title (required).
    pub title: String,
}

string_enum! {
    /// How routing failed (`failureType`); `None` means it succeeded.
    pub enum RoutingFailureType {
        /// Routing succeeded.
        None => "None",
        /// An unknown failure.
        Unknown => "Unknown",
        /// The routing request could not be submitted.
        SubmissionError => "SubmissionError",
        /// Routing itself failed.
        RoutingError => "RoutingError",
        /// Routing was cancelled.
        Cancelled => "Cancelled",
    }
}

string_enum! {
    /// Why routing was cancelled (`cancelReason`).
    pub enum CancelReason {
        /// No reason given.
        Unknown => "Unknown",
        /// Nobody was available.
        Unavailable => "Unavailable",
        /// The rep declined.
        Decline => "Decline",
        /// Cancelled on request.
        Cancel => "Cancel",
        /// The end user ended the conversation.
        EndUserEnded => "EndUserEnded",
    }
}

/// `RoutingResult`: Salesforce's record of a routing outcome.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingResultEntry {
    /// The entry payload id (required).
    pub id: String,
    /// Initial, transfer or conference (required).
    pub routing_type: RoutingType,
    /// How routing failed; `None` on success (required).
    pub failure_type: RoutingFailureType,
    /// Error messages (required, may be empty).
    pub error_messages: Vec<String>,
    /// Why routing failed.
    pub failure_reason: Option<String>,
    /// Whether the partner routed outside Salesforce.
    pub is_externally_routed: Option<bool>,
    /// The routed record, on success.
    pub record_id: Option<String>,
    /// The PendingServiceRouting id, on success.
    pub pending_service_routing_id: Option<String>,
    /// Who started the routing.
    pub initiator: Option<Participant>,
    /// The user who asked for cancellation.
    pub work_owner_id: Option<String>,
    /// Why routing was cancelled.
    pub cancel_reason: Option<CancelReason>,
    /// The estimated wait.
    pub estimated_wait_time: Option<EstimatedWaitTime>,
    /// The routing configuration used.
    pub routing_configuration_details: Option<RoutingConfigurationDetails>,
    /// Whether the router participant stays when routing had no failures.
    #[serde(rename = "skipRouterCPRemovalIfNoRoutingFailures")]
    pub skip_router_cp_removal_if_no_routing_failures: Option<bool>,
}

/// An estimated wait (`estimatedWaitTime`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EstimatedWaitTime {
    /// The estimate in seconds.
    #[serde(rename = "estimatedWaitTimeInSeconds")]
    pub estimated_wait_time_seconds: Option<i64>,
    /// Whether an estimate was asked for.
    #[serde(rename = "isEWTRequested")]
    pub is_ewt_requested: Option<bool>,
}

string_enum! {
    /// How a routing configuration routes (`routingConfigurationType`).
    pub enum RoutingConfigurationType {
        /// Routed to a queue.
        QueueRoutingType => "QueueRoutingType",
        /// Routed to a rep.
        AgentRoutingType => "AgentRoutingType",
    }
}

/// The routing configuration used (`routingConfigurationDetails`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingConfigurationDetails {
    /// Queue or rep routing.
    pub routing_configuration_type: Option<RoutingConfigurationType>,
    /// The queue, for queue routing.
    pub queue_id: Option<String>,
    /// The rep, for rep routing.
    pub agent_id: Option<String>,
}

string_enum! {
    /// What happened to a piece of work (`workType`).
    pub enum WorkType {
        /// Assigned to a rep.
        Assigned => "Assigned",
        /// The rep accepted it.
        Accepted => "Accepted",
        /// Cancelled.
        Cancelled => "Cancelled",
        /// Closed.
        Closed => "Closed",
        /// The rep declined it.
        Declined => "Declined",
        /// A transfer failed.
        TransferError => "TransferError",
        /// Transferred.
        Transferred => "Transferred",
    }
}

/// `RoutingWorkResult`: a rep accepted, declined or closed work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingWorkResultEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The AgentWork id (required).
    pub work_id: String,
    /// The routed record, e.g. the MessagingSession id (required).
    pub work_target_id: String,
    /// What happened (required).
    pub work_type: WorkType,
    /// Error messages (required, may be empty).
    pub error_messages: Vec<String>,
    /// Initial, transfer or conference.
    pub routing_type: Option<RoutingType>,
    /// The queue involved.
    pub queue_id: Option<String>,
    /// The rep's session.
    pub agent_session_id: Option<String>,
    /// The bot involved.
    pub bot_id: Option<String>,
    /// The rep's groups.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub agent_group_ids: Vec<String>,
}

/// `TypingStartedIndicator` / `TypingStoppedIndicator`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingIndicatorEntry {
    /// The entry payload id (required).
    pub id: String,
    /// When typing started or stopped, epoch milliseconds (required).
    #[serde(rename = "timestamp")]
    pub timestamp_ms: i64,
}

/// `ProgressIndicator`: an Agentforce "working on it" update.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressIndicatorEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The indicator (required).
    pub progress_indicator: ProgressIndicator,
}

string_enum! {
    /// The kind of progress indicator (`indicatorType`).
    pub enum ProgressIndicatorType {
        /// A progress update.
        ProgressUpdateIndicator => "ProgressUpdateIndicator",
    }
}

/// A progress indicator (`progressIndicator`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressIndicator {
    /// The indicator kind (required).
    pub indicator_type: ProgressIndicatorType,
    /// When it was raised, epoch milliseconds (required).
    #[serde(rename = "timestamp")]
    pub timestamp_ms: i64,
    /// The message to show.
    pub progress_message: Option<ProgressMessage>,
}

/// The text of a progress update (`progressMessage`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressMessage {
    /// The format, `Text`.
    pub format_type: Option<String>,
    /// The text (required).
    pub text: String,
}

string_enum! {
    /// A messaging session's status (`sessionStatus`).
    pub enum SessionStatus {
        /// In progress.
        Active => "Active",
        /// Ended.
        Ended => "Ended",
        /// Waiting for a rep.
        Waiting => "Waiting",
        /// Just created.
        New => "New",
        /// Waiting for consent.
        Consent => "Consent",
        /// Inactive.
        Inactive => "Inactive",
        /// Failed.
        Error => "Error",
        /// Paused.
        Paused => "Paused",
    }
}

/// `SessionStatusChanged`: the messaging session changed status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatusChangedEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The conversation (required).
    pub conversation_identifier: String,
    /// The channel (required).
    pub channel_address_identifier: String,
    /// The MessagingSession id (required).
    pub session_id: String,
    /// The new status (required).
    pub session_status: SessionStatus,
    /// When the session started, epoch milliseconds (required).
    #[serde(rename = "sessionStartTime")]
    pub session_start_time_ms: i64,
    /// The previous status.
    pub session_status_prev: Option<SessionStatus>,
    /// When the session ended, epoch milliseconds.
    #[serde(rename = "sessionEndTime")]
    pub session_end_time_ms: Option<i64>,
    /// Who ended the session.
    pub session_ended_by_role: Option<ParticipantRole>,
}

/// `DeliveryAcknowledgement` / `ReadAcknowledgement`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AcknowledgementEntry {
    /// The entry payload id (required).
    pub id: String,
    /// Who received or read the entry (required).
    pub recipient: Participant,
    /// The acknowledged entry (required).
    pub acknowledged_conversation_entry_identifier: String,
    /// When, epoch milliseconds (required).
    #[serde(rename = "acknowledgementTimestamp")]
    pub acknowledgement_timestamp_ms: i64,
}

/// `MessageDeliveryFailed`: a message could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDeliveryFailedEntry {
    /// The entry payload id (required).
    pub id: String,
    /// Whom the message was for (required).
    pub recipient: Participant,
    /// The error code (required).
    pub error_code: String,
    /// A human-readable explanation.
    pub error_message: Option<String>,
    /// The entry that failed.
    pub failed_conversation_entry_identifier: Option<String>,
}

string_enum! {
    /// An end user's consent (`consentStatus`).
    pub enum ConsentStatus {
        /// Opted in.
        OptIn => "OptIn",
        /// Opted out.
        OptOut => "OptOut",
    }
}

/// `EndUserConsentUpdated`: the end user's consent changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndUserConsentUpdatedEntry {
    /// The entry payload id (required).
    pub id: String,
    /// Whether the end user made the change (required).
    pub is_end_user_initiated: bool,
    /// The end user (required).
    pub end_user_subject: String,
    /// The new consent (required).
    pub consent_status: ConsentStatus,
    /// The end user's display name.
    pub end_user_display_name: Option<String>,
    /// The entry that started the change.
    pub initiating_conversation_entry_identifier: Option<String>,
    /// The entry that confirmed the change.
    pub confirmation_conversation_entry_identifier: Option<String>,
}

/// `QueuePosition`: the conversation's place in a queue.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueuePositionEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The PendingServiceRouting id (required).
    pub pending_service_routing_id: String,
    /// The work item, e.g. the MessagingSession id (required).
    pub work_item_id: String,
    /// The position, 1 being next (required).
    pub position: i64,
}

/// `ConsultConversationInfo`: a consult conversation was opened.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsultConversationInfoEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The consult conversation (required).
    pub conversation_identifier: String,
    /// When, epoch milliseconds (required).
    #[serde(rename = "timestamp")]
    pub timestamp_ms: i64,
}

/// `Note`: an internal whisper between reps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NoteEntry {
    /// The entry payload id (required).
    pub id: String,
    /// The note (required).
    pub abstract_message: AbstractMessage,
}

/// `FlagRaise`: a rep raised a flag for help.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagRaiseEntry {
    /// The entry payload id (required).
    pub id: String,
    /// An optional message with the flag.
    pub abstract_message: Option<AbstractMessage>,
}

/// `FlagLower`: a rep lowered a flag.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlagLowerEntry {
    /// The entry payload id (required).
    pub id: String,
}
