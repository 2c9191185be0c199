//! `POST /v1/conversation-history`: imports up to 25 earlier entries of a conversation (texts,
//! or attachments already uploaded and named by URL, with an optional caption)
//! (`POST /conversationHistory`), none older than 24 hours, between the end user and up to two
//! chatbots, optionally establishing or attaching a messaging session.
//!
//! Every rule Salesforce states for the import is checked first and a broken one named by its
//! field: 1 to 3 participants, exactly one end user, an end user without and a chatbot with a
//! `leftTime` after its `joinedTime`, 1 to 25 entries, each from a participant while it was in
//! the conversation, within the last 24 hours. Those rules are the Interaction client's own
//! ([`crate::interaction::history_rules`]), so the route and a library caller of the client
//! are held to one definition. The entry ids derive from the `Idempotency-Key`. It knows
//! nothing about the server that serves the route.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::answer::Answer;
use super::request::{check_length, parse, MAX_END_USER_CHARS};
use super::write::{now_ms, Write};
use super::InboundSlot;
use crate::interaction::history_rules::{self, Broken, Place, Sent, Stay};
use crate::interaction::{
    ConversationHistoryRequest, HistoryAttachment, HistoryEntry, HistoryParticipant,
    HistorySession, Participant, RegisteredCapabilities, MAX_HISTORY_ENTRIES,
};

/// Who may appear in imported history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Role {
    EndUser,
    Chatbot,
}

/// One participant of the import.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportParticipant {
    subject: String,
    role: Role,
    #[serde(default)]
    display_name: Option<String>,
    joined_time: i64,
    #[serde(default)]
    left_time: Option<i64>,
}

/// One entry of the import: a text, or an attachment already uploaded (with an optional
/// caption in `text`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportEntry {
    /// The sending participant's subject.
    sender: String,
    client_timestamp: i64,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachment: Option<ImportAttachment>,
}

/// A file of an imported entry, already uploaded to Salesforce and named by its URL.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportAttachment {
    name: String,
    mime_type: String,
    url: String,
    #[serde(default)]
    content_version_id: Option<String>,
}

/// Longest attachment name, URL or ContentVersion id this route takes (the official
/// `Attachment` sets no length; these keep a body within reason).
const MAX_ATTACHMENT_FIELD_CHARS: usize = 2_048;

impl ImportEntry {
    /// The entry's own rules: a text or an attachment, an attachment's fields present, its URL
    /// http(s).
    fn check(&self, index: usize) -> Result<(), Answer> {
        let field = |name: &str| format!("entries[{index}].{name}");
        let blank_text = self
            .text
            .as_deref()
            .is_none_or(|text| text.trim().is_empty());
        let Some(attachment) = &self.attachment else {
            if blank_text {
                return Err(Answer::invalid(
                    &field("text"),
                    "required, not blank (or an attachment)",
                ));
            }
            return Ok(());
        };
        if self.text.is_some() && blank_text {
            return Err(Answer::invalid(&field("text"), "not blank when given"));
        }
        for (name, value) in [
            ("attachment.name", &attachment.name),
            ("attachment.mimeType", &attachment.mime_type),
            ("attachment.url", &attachment.url),
        ] {
            check_length(&field(name), value, MAX_ATTACHMENT_FIELD_CHARS)?;
        }
        if let Some(id) = &attachment.content_version_id {
            check_length(
                &field("attachment.contentVersionId"),
                id,
                MAX_ATTACHMENT_FIELD_CHARS,
            )?;
        }
        if !(attachment.url.starts_with("https://") || attachment.url.starts_with("http://")) {
            return Err(Answer::invalid(
                &field("attachment.url"),
                "an absolute http(s) URL of the uploaded file",
            ));
        }
        if !attachment.mime_type.contains('/') {
            return Err(Answer::invalid(
                &field("attachment.mimeType"),
                "a MIME type, e.g. application/pdf",
            ));
        }
        Ok(())
    }

    /// An attachment's type is among the registered ones, when the channel registered types
    /// (the file is uploaded already, so its size is not known here).
    fn check_registered(
        &self,
        index: usize,
        registered: &RegisteredCapabilities,
    ) -> Result<(), Answer> {
        let Some(attachment) = &self.attachment else {
            return Ok(());
        };
        registered
            .check_attachment(&attachment.mime_type, 0)
            .map_err(|violation| {
                Answer::invalid(
                    &format!("entries[{index}].attachment.mimeType"),
                    violation.to_string(),
                )
            })
    }

    /// The entry as sent, with the client-generated `entry_id` (and `attachment_id`).
    fn history_entry(
        &self,
        entry_id: &str,
        attachment_id: &str,
        from: Participant,
    ) -> HistoryEntry {
        let text = self.text.as_deref();
        match &self.attachment {
            None => HistoryEntry::text(
                entry_id,
                from,
                text.unwrap_or_default(),
                self.client_timestamp,
            ),
            Some(attachment) => HistoryEntry::attachment(
                entry_id,
                from,
                &HistoryAttachment {
                    id: attachment_id.to_owned(),
                    name: attachment.name.clone(),
                    mime_type: attachment.mime_type.clone(),
                    url: attachment.url.clone(),
                    content_version_id: attachment.content_version_id.clone(),
                },
                text,
                self.client_timestamp,
            ),
        }
    }
}

/// Establish a new session or attach to an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum SessionChoice {
    Establish,
    Attach,
}

/// The session part of the import.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportSession {
    #[serde(rename = "type")]
    kind: SessionChoice,
    #[serde(default)]
    start_time: Option<i64>,
    #[serde(default)]
    session_id: Option<String>,
}

/// The body of `POST /v1/conversation-history`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Import {
    #[serde(default)]
    channel_address_identifier: Option<String>,
    participants: Vec<ImportParticipant>,
    entries: Vec<ImportEntry>,
    #[serde(default)]
    messaging_session: Option<ImportSession>,
}

impl ImportParticipant {
    fn participant(&self) -> Participant {
        let (app_type, role) = match self.role {
            Role::EndUser => ("custom", "EndUser"),
            Role::Chatbot => ("chatbot", "Chatbot"),
        };
        Participant {
            app_type: app_type.to_owned(),
            role: role.to_owned(),
            subject: self.subject.clone(),
        }
    }

    fn stay(&self) -> Stay<'_> {
        Stay {
            subject: &self.subject,
            role: match self.role {
                Role::EndUser => "EndUser",
                Role::Chatbot => "Chatbot",
            },
            joined_time: self.joined_time,
            left_time: self.left_time,
        }
    }
}

impl Import {
    /// Every rule of the import; returns the end user's subject. Salesforce's import rules
    /// are [`history_rules`]'s, shared with the Interaction client; the lengths and the shape of
    /// `messagingSession` are this route's own.
    fn check(&self, now_ms: i64) -> Result<&str, Answer> {
        for (index, participant) in self.participants.iter().enumerate() {
            check_length(
                &format!("participants[{index}].subject"),
                &participant.subject,
                MAX_END_USER_CHARS,
            )?;
        }
        for (index, entry) in self.entries.iter().enumerate() {
            entry.check(index)?;
        }
        let stays: Vec<Stay<'_>> = self
            .participants
            .iter()
            .map(ImportParticipant::stay)
            .collect();
        let sent: Vec<Sent<'_>> = self
            .entries
            .iter()
            .map(|entry| Sent {
                sender: &entry.sender,
                client_timestamp: entry.client_timestamp,
            })
            .collect();
        history_rules::check(&stays, &sent, now_ms).map_err(refusal)?;
        if let Some(session) = &self.messaging_session {
            match (session.kind, &session.session_id) {
                (SessionChoice::Attach, None) => {
                    return Err(Answer::invalid(
                        "messagingSession.sessionId",
                        "required when type is Attach",
                    ))
                }
                (SessionChoice::Establish, Some(_)) => {
                    return Err(Answer::invalid(
                        "messagingSession.sessionId",
                        "only when type is Attach",
                    ))
                }
                _ => {}
            }
        }
        history_rules::check_session(self.session().as_ref(), now_ms).map_err(refusal)?;
        let end_user = self
            .participants
            .iter()
            .find(|participant| participant.role == Role::EndUser)
            .map_or("", |participant| participant.subject.as_str());
        Ok(end_user)
    }

    fn session(&self) -> Option<HistorySession> {
        let session = self.messaging_session.as_ref()?;
        Some(match session.kind {
            SessionChoice::Establish => HistorySession::EstablishMessagingSession {
                start_time: session.start_time,
            },
            SessionChoice::Attach => HistorySession::AttachMessagingSession {
                session_id: session.session_id.clone().unwrap_or_default(),
            },
        })
    }
}

/// A broken import rule, named as this route names its fields.
fn refusal(broken: Broken) -> Answer {
    let field = match broken.place {
        Place::Participants => "participants".to_owned(),
        Place::Participant(index, field) => format!("participants[{index}].{}", field.name()),
        Place::Entries => "entries".to_owned(),
        Place::Entry(index, field) => format!("entries[{index}].{}", field.name()),
        Place::Session(field) => format!("messagingSession.{}", field.name()),
    };
    Answer::invalid(&field, broken.rule)
}

pub(super) async fn import(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    let request: Import = parse(&body)?;
    let now = now_ms();
    let end_user = request.check(now)?;
    let write = Write::begin(&slot, &headers)?;
    if let Some(registered) = &write.inbound.capabilities {
        for (index, entry) in request.entries.iter().enumerate() {
            entry.check_registered(index, registered)?;
        }
    }
    let channel = write.channel(request.channel_address_identifier.as_deref())?;
    let key = write.end_user_key("history", &channel, end_user)?;
    let entry_ids: Vec<String> = (0..request.entries.len())
        .map(|index| key.entry_id(index))
        .collect();
    let sender = |subject: &str| {
        request
            .participants
            .iter()
            .find(|participant| participant.subject == subject)
            .map(ImportParticipant::participant)
    };
    let call = ConversationHistoryRequest {
        channel_address_identifier: channel,
        conversation_participants: request
            .participants
            .iter()
            .map(|participant| HistoryParticipant {
                participant: participant.participant(),
                display_name: participant.display_name.clone(),
                joined_time: participant.joined_time,
                left_time: participant.left_time,
            })
            .collect(),
        conversation_entries: request
            .entries
            .iter()
            .enumerate()
            .filter_map(|(index, entry)| {
                let from = sender(&entry.sender)?;
                // Attachment ids come after every possible entry id of the same key.
                let attachment_id = key.entry_id(MAX_HISTORY_ENTRIES + index);
                Some(entry.history_entry(&entry_ids[index], &attachment_id, from))
            })
            .collect(),
        messaging_session: request.session(),
    };
    let client = &write.inbound.client;
    Ok(write
        .once(
            &key,
            || client.post_conversation_history(&call),
            |response| {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"conversationIdentifier": response.conversation_identifier,
                           "messagingSessionId": response.messaging_session_id,
                           "entryIds": entry_ids}),
                )
            },
            || {
                Answer::ok(
                    StatusCode::ACCEPTED,
                    json!({"entryIds": entry_ids, "alreadyCreated": true}),
                )
            },
        )
        .await)
}
