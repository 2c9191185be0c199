//! `POST /v1/conversation-history`: imports up to 25 earlier text entries of a conversation
//! (`POST /conversationHistory`), none older than 24 hours, between the end user and up to two
//! chatbots, optionally establishing or attaching a messaging session.
//!
//! Every rule Salesforce states for the import is checked first and a broken one named by its
//! field: 1 to 3 participants, exactly one end user, an end user without and a chatbot with a
//! `leftTime` after its `joinedTime`, 1 to 25 entries, each from a participant while it was in
//! the conversation, within the last 24 hours. The entry ids derive from the
//! `Idempotency-Key`. It knows nothing about the server that serves the route.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::answer::Answer;
use super::request::{check_length, parse, MAX_ADDRESS_CHARS, MAX_END_USER_CHARS};
use super::write::{now_ms, Write};
use super::InboundSlot;
use crate::interaction::{
    ConversationHistoryRequest, HistoryEntry, HistoryParticipant, HistorySession, Participant,
    MAX_HISTORY_AGE, MAX_HISTORY_ENTRIES, MAX_HISTORY_PARTICIPANTS,
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

/// One text entry of the import.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportEntry {
    /// The sending participant's subject.
    sender: String,
    client_timestamp: i64,
    text: String,
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

/// `field` has 1..=`max` items.
fn count(field: &str, length: usize, max: usize) -> Result<(), Answer> {
    if (1..=max).contains(&length) {
        return Ok(());
    }
    Err(Answer::invalid(
        field,
        format!("1..={max} items (got {length})"),
    ))
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

    fn check(&self, index: usize) -> Result<(), Answer> {
        let field = |name: &str| format!("participants[{index}].{name}");
        check_length(&field("subject"), &self.subject, MAX_END_USER_CHARS)?;
        match (self.role, self.left_time) {
            (Role::EndUser, Some(_)) => Err(Answer::invalid(
                &field("leftTime"),
                "absent for the end user, whose conversation stays open",
            )),
            (Role::Chatbot, None) => Err(Answer::invalid(
                &field("leftTime"),
                "required for a chatbot",
            )),
            (_, Some(left)) if left <= self.joined_time => {
                Err(Answer::invalid(&field("leftTime"), "after joinedTime"))
            }
            _ => Ok(()),
        }
    }
}

impl Import {
    /// Every rule of the import; returns the end user's subject.
    fn check(&self, now_ms: i64) -> Result<&str, Answer> {
        count(
            "participants",
            self.participants.len(),
            MAX_HISTORY_PARTICIPANTS,
        )?;
        for (index, participant) in self.participants.iter().enumerate() {
            participant.check(index)?;
            if self.participants[..index]
                .iter()
                .any(|earlier| earlier.subject == participant.subject)
            {
                return Err(Answer::invalid(
                    &format!("participants[{index}].subject"),
                    "unique among the participants",
                ));
            }
        }
        let mut end_users = self
            .participants
            .iter()
            .filter(|participant| participant.role == Role::EndUser);
        let (Some(end_user), None) = (end_users.next(), end_users.next()) else {
            return Err(Answer::invalid(
                "participants",
                "exactly one participant with role EndUser",
            ));
        };
        count("entries", self.entries.len(), MAX_HISTORY_ENTRIES)?;
        let oldest =
            now_ms.saturating_sub(i64::try_from(MAX_HISTORY_AGE.as_millis()).unwrap_or(i64::MAX));
        for (index, entry) in self.entries.iter().enumerate() {
            let field = |name: &str| format!("entries[{index}].{name}");
            if entry.text.trim().is_empty() {
                return Err(Answer::invalid(&field("text"), "required, not blank"));
            }
            let Some(sender) = self
                .participants
                .iter()
                .find(|participant| participant.subject == entry.sender)
            else {
                return Err(Answer::invalid(
                    &field("sender"),
                    "the subject of one of the participants",
                ));
            };
            let stamp = entry.client_timestamp;
            if !(oldest..=now_ms).contains(&stamp) {
                return Err(Answer::invalid(
                    &field("clientTimestamp"),
                    "epoch ms within the last 24 hours (Salesforce refuses older history)",
                ));
            }
            if stamp < sender.joined_time || sender.left_time.is_some_and(|left| stamp > left) {
                return Err(Answer::invalid(
                    &field("clientTimestamp"),
                    "while the sender was in the conversation (joinedTime..=leftTime)",
                ));
            }
        }
        self.check_session(now_ms)?;
        Ok(&end_user.subject)
    }

    fn check_session(&self, now_ms: i64) -> Result<(), Answer> {
        let Some(session) = &self.messaging_session else {
            return Ok(());
        };
        match (session.kind, &session.session_id) {
            (SessionChoice::Attach, None) => Err(Answer::invalid(
                "messagingSession.sessionId",
                "required when type is Attach",
            )),
            (SessionChoice::Attach, Some(id)) => {
                check_length("messagingSession.sessionId", id, MAX_ADDRESS_CHARS)
            }
            (SessionChoice::Establish, Some(_)) => Err(Answer::invalid(
                "messagingSession.sessionId",
                "only when type is Attach",
            )),
            (SessionChoice::Establish, None)
                if session.start_time.is_some_and(|start| start > now_ms) =>
            {
                Err(Answer::invalid(
                    "messagingSession.startTime",
                    "epoch ms, not in the future",
                ))
            }
            (SessionChoice::Establish, None) => Ok(()),
        }
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

pub(super) async fn import(
    State(slot): State<InboundSlot>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Answer, Answer> {
    let request: Import = parse(&body)?;
    let now = now_ms();
    let end_user = request.check(now)?;
    let write = Write::begin(&slot, &headers)?;
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
            .zip(&entry_ids)
            .filter_map(|(entry, id)| {
                let from = sender(&entry.sender)?;
                Some(HistoryEntry::text(
                    id,
                    from,
                    &entry.text,
                    entry.client_timestamp,
                ))
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
