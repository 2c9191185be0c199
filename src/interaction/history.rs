//! `POST /conversationHistory`: imports earlier entries of a conversation (at most 25, none
//! older than 24 hours; text messages, or attachments already uploaded and named by URL),
//! optionally establishing or attaching a messaging session.
//!
//! Entry ids are client-generated, so a retried call cannot store an entry twice. It knows
//! nothing about Pub/Sub.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError, Participant};

/// Most entries one request may carry (`maxItems: 25`).
pub(crate) const MAX_HISTORY_ENTRIES: usize = 25;
/// Most participants one request may name (`maxItems: 3`).
pub(crate) const MAX_HISTORY_PARTICIPANTS: usize = 3;
/// How old an imported entry may be: Salesforce refuses history older than 24 hours.
pub(crate) const MAX_HISTORY_AGE: std::time::Duration =
    std::time::Duration::from_secs(24 * 60 * 60);

/// Body of `POST /conversationHistory`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationHistoryRequest {
    /// The channel's `channelAddressIdentifier`.
    pub channel_address_identifier: String,
    /// 1 to 3 participants.
    pub conversation_participants: Vec<HistoryParticipant>,
    /// 1 to 25 entries.
    pub conversation_entries: Vec<HistoryEntry>,
    /// The session to establish or attach to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messaging_session: Option<HistorySession>,
}

/// A participant of the imported conversation and its stay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryParticipant {
    /// Who.
    pub participant: Participant,
    /// Its display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Epoch ms it joined.
    pub joined_time: i64,
    /// Epoch ms it left (required for a chatbot, absent for the end user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_time: Option<i64>,
}

/// One imported entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// Epoch ms it was sent.
    pub client_timestamp: i64,
    /// Who sent it (one of the participants).
    pub sender: Participant,
    /// The entry, as an `AbstractEntry`.
    pub entry_payload: Value,
}

impl HistoryEntry {
    /// A text message of `sender` at `timestamp_ms`, with the client-generated `entry_id`.
    pub fn text(entry_id: &str, sender: Participant, text: &str, timestamp_ms: i64) -> Self {
        let payload = serde_json::json!({
            "entryType": "Message",
            "id": entry_id,
            "abstractMessage": {
                "messageType": "StaticContentMessage",
                "id": entry_id,
                "staticContent": {"formatType": "Text", "text": text}
            }
        });
        Self {
            client_timestamp: timestamp_ms,
            sender,
            entry_payload: payload,
        }
    }
}

/// A file shown as an attachment of an imported entry: already uploaded (a ContentVersion),
/// named by a URL, as the official README's attachment-based history example has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HistoryAttachment {
    /// The attachment's client-generated id (a UUID).
    pub id: String,
    /// File name shown to the rep.
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    pub mime_type: String,
    /// Where the uploaded file is read (`url` of the official `Attachment`).
    pub url: String,
    /// The uploaded file's ContentVersion id, sent as the message's `references`, when known.
    pub content_version_id: Option<String>,
}

impl HistoryEntry {
    /// An attachment message of `sender` at `timestamp_ms`, with the client-generated
    /// `entry_id` and an optional caption `text`.
    ///
    /// The message's `references` entry and the attachment's `referenceId` share the
    /// attachment's id when a ContentVersion id is given (UNVERIFIED: the README shows both as
    /// placeholders without saying how they relate).
    pub(crate) fn attachment(
        entry_id: &str,
        sender: Participant,
        file: &HistoryAttachment,
        text: Option<&str>,
        timestamp_ms: i64,
    ) -> Self {
        let mut attachment = serde_json::json!({
            "id": file.id,
            "name": file.name,
            "mimeType": file.mime_type,
            "url": file.url,
        });
        let mut static_content = serde_json::json!({
            "formatType": "Attachments",
            "attachments": [],
        });
        if let Some(text) = text {
            static_content["text"] = text.into();
        }
        let mut message = serde_json::json!({
            "messageType": "StaticContentMessage",
            "id": entry_id,
        });
        if let Some(record_id) = &file.content_version_id {
            attachment["referenceId"] = file.id.clone().into();
            message["references"] = serde_json::json!([{"recordId": record_id, "id": file.id}]);
        }
        static_content["attachments"] = serde_json::json!([attachment]);
        message["staticContent"] = static_content;
        Self {
            client_timestamp: timestamp_ms,
            sender,
            entry_payload: serde_json::json!({
                "entryType": "Message",
                "id": entry_id,
                "abstractMessage": message,
            }),
        }
    }
}

/// The messaging session of an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "messagingSessionRequestType", content = "payload")]
pub enum HistorySession {
    /// A new session, started at `startTime` (epoch ms).
    EstablishMessagingSession {
        /// When the session started.
        #[serde(rename = "startTime", skip_serializing_if = "Option::is_none")]
        start_time: Option<i64>,
    },
    /// An existing session.
    AttachMessagingSession {
        /// The MessagingSession id.
        #[serde(rename = "sessionId")]
        session_id: String,
    },
}

/// Answer to `POST /conversationHistory` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConversationHistoryResponse {
    /// The conversation the entries joined.
    pub conversation_identifier: Option<String>,
    /// Its MessagingSession.
    pub messaging_session_id: Option<String>,
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

/// The local wall clock in Unix epoch milliseconds.
fn epoch_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

const POST_CONVERSATION_HISTORY: Endpoint = Endpoint {
    method: Method::POST,
    path: "conversationHistory",
    // The official definition makes AuthorizationContextType required here.
    sends_context_type: true,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /conversationHistory`: imports earlier entries of a conversation. A request
    /// breaking one of Salesforce's import rules (1 to 3 participants with exactly one end
    /// user, 1 to 25 entries from the participants while they were in the conversation, none
    /// older than 24 hours, …) is refused before sending ([`InteractionError::InvalidRequest`]).
    pub async fn post_conversation_history(
        &self,
        request: &ConversationHistoryRequest,
    ) -> Result<ConversationHistoryResponse, InteractionError> {
        super::rules::conversation_history(request, epoch_ms_now())?;
        self.call(&POST_CONVERSATION_HISTORY, json_body(request)?)
            .await
    }
}
