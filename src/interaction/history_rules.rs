//! The rules of `POST /conversationHistory` that Salesforce states for an import, written once
//! for both callers: the Interaction client checks a [`ConversationHistoryRequest`] with them
//! before sending it, and the sidecar checks its own import body with them before anything is
//! stored or sent, each naming the broken field in its own words ([`Place`]).
//!
//! From the official definition and docs: 1 to 3 participants (`maxItems: 3`), unique
//! (10101), each an `EndUser` or a `Chatbot` (10043), exactly one end user (10042, 10044), the
//! end user without a `leftTime` (10065), a chatbot with one (10066) after its `joinedTime`
//! (10067); 1 to 25 entries (`maxItems: 25`), each from one of the participants (10068) while it
//! was in the conversation (10074), none older than 24 hours nor in the future; an attached
//! session named by its id, an established one not starting in the future (10061). It knows
//! nothing about HTTP.

use crate::interaction::{ConversationHistoryRequest, MAX_HISTORY_PARTICIPANTS};
use crate::interaction::{HistorySession, MAX_HISTORY_AGE, MAX_HISTORY_ENTRIES};

/// Longest attached session id.
const MAX_SESSION_ID_CHARS: usize = 240;

/// One participant as the rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stay<'a> {
    /// Who (unique).
    pub(crate) subject: &'a str,
    /// `EndUser` or `Chatbot`.
    pub(crate) role: &'a str,
    /// Epoch ms it joined.
    pub(crate) joined_time: i64,
    /// Epoch ms it left.
    pub(crate) left_time: Option<i64>,
}

/// One entry as the rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sent<'a> {
    /// The sending participant's subject.
    pub(crate) sender: &'a str,
    /// Epoch ms it was sent.
    pub(crate) client_timestamp: i64,
}

/// A field of a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParticipantField {
    Subject,
    Role,
    LeftTime,
}

/// A field of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryField {
    Sender,
    ClientTimestamp,
}

/// A field of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionField {
    SessionId,
    StartTime,
}

/// Where a rule broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The participant list as a whole.
    Participants,
    /// One participant (its index).
    Participant(usize, ParticipantField),
    /// The entry list as a whole.
    Entries,
    /// One entry (its index).
    Entry(usize, EntryField),
    /// The messaging session.
    Session(SessionField),
}

impl ParticipantField {
    /// The field's JSON name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::Role => "role",
            Self::LeftTime => "leftTime",
        }
    }
}

impl EntryField {
    /// The field's JSON name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::ClientTimestamp => "clientTimestamp",
        }
    }
}

impl SessionField {
    /// The field's JSON name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::SessionId => "sessionId",
            Self::StartTime => "startTime",
        }
    }
}

impl Place {
    /// The field as `POST /conversationHistory` names it.
    pub(crate) fn api_field(self) -> &'static str {
        match self {
            Self::Participants => "conversationParticipants",
            Self::Participant(_, ParticipantField::Subject) => {
                "conversationParticipants.participant.subject"
            }
            Self::Participant(_, ParticipantField::Role) => {
                "conversationParticipants.participant.role"
            }
            Self::Participant(_, ParticipantField::LeftTime) => "conversationParticipants.leftTime",
            Self::Entries => "conversationEntries",
            Self::Entry(_, EntryField::Sender) => "conversationEntries.sender",
            Self::Entry(_, EntryField::ClientTimestamp) => "conversationEntries.clientTimestamp",
            Self::Session(SessionField::SessionId) => "messagingSession.payload.sessionId",
            Self::Session(SessionField::StartTime) => "messagingSession.payload.startTime",
        }
    }
}

/// A broken rule: where, and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broken {
    pub(crate) place: Place,
    pub(crate) rule: String,
}

fn broken(place: Place, rule: impl Into<String>) -> Broken {
    Broken {
        place,
        rule: rule.into(),
    }
}

/// `length` is within 1..=`max`.
fn count(place: Place, length: usize, max: usize) -> Result<(), Broken> {
    if (1..=max).contains(&length) {
        return Ok(());
    }
    Err(broken(place, format!("1..={max} items (got {length})")))
}

/// Every participant and entry rule, at `now_ms`.
pub(crate) fn check(
    participants: &[Stay<'_>],
    entries: &[Sent<'_>],
    now_ms: i64,
) -> Result<(), Broken> {
    count(
        Place::Participants,
        participants.len(),
        MAX_HISTORY_PARTICIPANTS,
    )?;
    for (index, stay) in participants.iter().enumerate() {
        let at = |field| Place::Participant(index, field);
        match (stay.role, stay.left_time) {
            ("EndUser", Some(_)) => {
                return Err(broken(
                    at(ParticipantField::LeftTime),
                    "absent for the end user, whose conversation stays open",
                ))
            }
            ("Chatbot", None) => {
                return Err(broken(
                    at(ParticipantField::LeftTime),
                    "required for a chatbot",
                ))
            }
            ("Chatbot", Some(left)) if left <= stay.joined_time => {
                return Err(broken(at(ParticipantField::LeftTime), "after joinedTime"))
            }
            ("EndUser" | "Chatbot", _) => {}
            _ => return Err(broken(at(ParticipantField::Role), "EndUser or Chatbot")),
        }
        if participants[..index]
            .iter()
            .any(|earlier| earlier.subject == stay.subject)
        {
            return Err(broken(
                at(ParticipantField::Subject),
                "unique among the participants",
            ));
        }
    }
    if participants
        .iter()
        .filter(|stay| stay.role == "EndUser")
        .count()
        != 1
    {
        return Err(broken(
            Place::Participants,
            "exactly one participant with role EndUser",
        ));
    }
    count(Place::Entries, entries.len(), MAX_HISTORY_ENTRIES)?;
    let oldest =
        now_ms.saturating_sub(i64::try_from(MAX_HISTORY_AGE.as_millis()).unwrap_or(i64::MAX));
    for (index, entry) in entries.iter().enumerate() {
        let at = |field| Place::Entry(index, field);
        let Some(sender) = participants
            .iter()
            .find(|stay| stay.subject == entry.sender)
        else {
            return Err(broken(
                at(EntryField::Sender),
                "the subject of one of the participants",
            ));
        };
        let stamp = entry.client_timestamp;
        if !(oldest..=now_ms).contains(&stamp) {
            return Err(broken(
                at(EntryField::ClientTimestamp),
                "epoch ms within the last 24 hours (Salesforce refuses older history)",
            ));
        }
        if stamp < sender.joined_time || sender.left_time.is_some_and(|left| stamp > left) {
            return Err(broken(
                at(EntryField::ClientTimestamp),
                "while the sender was in the conversation (joinedTime..=leftTime)",
            ));
        }
    }
    Ok(())
}

/// The session rules, at `now_ms`.
pub(crate) fn check_session(session: Option<&HistorySession>, now_ms: i64) -> Result<(), Broken> {
    match session {
        Some(HistorySession::AttachMessagingSession { session_id }) => {
            let chars = session_id.chars().count();
            if session_id.trim().is_empty() || chars > MAX_SESSION_ID_CHARS {
                return Err(broken(
                    Place::Session(SessionField::SessionId),
                    format!("required, 1..={MAX_SESSION_ID_CHARS} characters"),
                ));
            }
            Ok(())
        }
        Some(HistorySession::EstablishMessagingSession { start_time: None }) => Err(broken(
            Place::Session(SessionField::StartTime),
            "required to establish a session: epoch ms, not in the future",
        )),
        Some(HistorySession::EstablishMessagingSession {
            start_time: Some(start),
        }) if *start > now_ms => Err(broken(
            Place::Session(SessionField::StartTime),
            "epoch ms, not in the future",
        )),
        _ => Ok(()),
    }
}

/// Every rule, on the request as it would be sent.
pub(crate) fn check_request(
    request: &ConversationHistoryRequest,
    now_ms: i64,
) -> Result<(), Broken> {
    let participants: Vec<Stay<'_>> = request
        .conversation_participants
        .iter()
        .map(|stay| Stay {
            subject: &stay.participant.subject,
            role: &stay.participant.role,
            joined_time: stay.joined_time,
            left_time: stay.left_time,
        })
        .collect();
    let entries: Vec<Sent<'_>> = request
        .conversation_entries
        .iter()
        .map(|entry| Sent {
            sender: &entry.sender.subject,
            client_timestamp: entry.client_timestamp,
        })
        .collect();
    check(&participants, &entries, now_ms)?;
    check_session(request.messaging_session.as_ref(), now_ms)
}
