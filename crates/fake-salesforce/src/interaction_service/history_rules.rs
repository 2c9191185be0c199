//! Body rules of the fake's `POST /conversationHistory` (importing earlier entries of a
//! conversation), as the official definition and its README state them.
//!
//! `channelAddressIdentifier` a channel UUID (10069); 1 to 3 `conversationParticipants`, each a
//! `Participant` with a `joinedTime`, exactly one end user (10042, 10044), only EndUser and
//! Chatbot roles (10043), no duplicates (10101), an end user without and a chatbot with a
//! `leftTime` (10065, 10066) after its `joinedTime` (10067); 1 to 25 `conversationEntries`
//! (10078), each with a `clientTimestamp` not older than 24 hours (10046) inside its sender's
//! stay (10074), a sender among the participants (10068), an entry payload with an id and the
//! content [`entry_rules`] states (10045, 10048), a message id equal to the entry id (10060),
//! ids never used before (10073); an optional `messagingSession` to establish (a required
//! `startTime` not in the future, 10061) or to attach (a known session, 10072, 10071). Which
//! code Salesforce gives a count outside the limits is not documented: 10078, its "invalid
//! payload parameter" code for this API. It knows nothing about the connector's client.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use crate::interaction_service::ack_rules::{participant, DUPLICATE_ENTRY};
use crate::interaction_service::checks::{is_record_id, object, required_str, Refusal};
use crate::interaction_service::entry_rules::{self, ENTRY_FORMAT};
use crate::interaction_service::InteractionFake;

/// Most participants one request may name.
const MAX_PARTICIPANTS: usize = 3;
/// Most entries one request may carry.
const MAX_ENTRIES: usize = 25;
/// How old an imported entry may be.
pub(super) const MAX_ENTRY_AGE_MS: i64 = 24 * 60 * 60 * 1000;
/// Salesforce's message for 10078.
const INVALID_PAYLOAD: &str = "An error occurred due to an invalid payload parameter. Check the parameters and try again. For help, see Send Historical Conversation Entries.";

/// One participant as the rules need it: identity and stay.
struct Stay<'a> {
    identity: (&'a str, &'a str, &'a str),
    joined: i64,
    left: Option<i64>,
}

/// `POST /conversationHistory`.
pub(super) fn post_conversation_history(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    let channel = required_str(body, "channelAddressIdentifier", 10069, CHANNEL_MESSAGE)?;
    if uuid::Uuid::parse_str(channel).is_err() {
        return Err(Refusal::bad_request(10069, CHANNEL_MESSAGE));
    }
    let stays = participants(body)?;
    let now_ms = now_ms();
    let items = counted(body, "conversationEntries", MAX_ENTRIES)?;
    let mut entry_ids = Vec::with_capacity(items.len());
    for item in items {
        entry_ids.push(entry(object(item)?, &stays, now_ms)?);
    }
    let attached = session(fake, body, now_ms)?;
    // Ids are claimed only once every other rule passed: a refused import stores nothing.
    let unique: HashSet<&str> = entry_ids.iter().copied().collect();
    if unique.len() != entry_ids.len() || !fake.claim_entry_ids(&entry_ids) {
        return Err(Refusal::bad_request(10073, DUPLICATE_ENTRY));
    }
    let end_user = stays
        .iter()
        .find(|stay| stay.identity.1 == "EndUser")
        .map_or_else(String::new, |stay| stay.identity.2.to_owned());
    let (conversation, session) = match attached {
        Some(attached) => attached,
        None => fake.conversation_of(channel, &end_user),
    };
    Ok((
        StatusCode::ACCEPTED,
        json!({"success": true, "conversationIdentifier": conversation, "messagingSessionId": session}),
    ))
}

/// Salesforce's message for 10069.
const CHANNEL_MESSAGE: &str =
    "Specify a valid channel address identifier or check your authorization configuration.";

/// The array `field` with 1..=`max` items, else 10078.
fn counted<'a>(
    body: &'a Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<&'a Vec<Value>, Refusal> {
    body.get(field)
        .and_then(Value::as_array)
        .filter(|items| (1..=max).contains(&items.len()))
        .ok_or_else(|| Refusal::bad_request(10078, INVALID_PAYLOAD))
}

/// The participants and their stays.
fn participants(body: &Map<String, Value>) -> Result<Vec<Stay<'_>>, Refusal> {
    let mut stays: Vec<Stay<'_>> = Vec::new();
    for item in counted(body, "conversationParticipants", MAX_PARTICIPANTS)? {
        let item = object(item)?;
        participant(item.get("participant"))?;
        let who = object(item.get("participant").unwrap_or(&Value::Null))?;
        let text = |field: &str| who.get(field).and_then(Value::as_str).unwrap_or_default();
        let identity = (text("appType"), text("role"), text("subject"));
        if !matches!(identity.1, "EndUser" | "Chatbot") {
            return Err(Refusal::bad_request(
                10043,
                "Invalid participant role. Specify a Chatbot or EndUser role for all participants.",
            ));
        }
        let joined = item
            .get("joinedTime")
            .and_then(Value::as_i64)
            .ok_or_else(|| Refusal::bad_request(10078, INVALID_PAYLOAD))?;
        let left = match item.get("leftTime") {
            None | Some(Value::Null) => None,
            Some(value) => Some(
                value
                    .as_i64()
                    .ok_or_else(|| Refusal::bad_request(10078, INVALID_PAYLOAD))?,
            ),
        };
        match (identity.1, left) {
            ("EndUser", Some(_)) => return Err(Refusal::bad_request(10065, "Invalid end-user participant details. Conversations with end-users remain open and don't have a leftTime.")),
            ("Chatbot", None) => return Err(Refusal::bad_request(10066, "Invalid chatbot participant details. leftTime is required for conversations with chatbots when the conversation is ended.")),
            (_, Some(left)) if joined >= left => return Err(Refusal::bad_request(10067, "Invalid joinedTime. Specify a joinedTime that is earlier than the leftTime.")),
            _ => {}
        }
        if stays.iter().any(|stay| stay.identity == identity) {
            return Err(Refusal::bad_request(
                10101,
                "We found duplicate participants. Make sure each participant is unique and try again.",
            ));
        }
        stays.push(Stay {
            identity,
            joined,
            left,
        });
    }
    match stays
        .iter()
        .filter(|stay| stay.identity.1 == "EndUser")
        .count()
    {
        0 => Err(Refusal::bad_request(
            10042,
            "Include one end user participant in the conversation.",
        )),
        1 => Ok(stays),
        _ => Err(Refusal::bad_request(
            10044,
            "Include only one end user participant in the conversation.",
        )),
    }
}

/// One entry; returns its id.
fn entry<'a>(
    item: &'a Map<String, Value>,
    stays: &[Stay<'_>],
    now_ms: i64,
) -> Result<&'a str, Refusal> {
    let timestamp = item
        .get("clientTimestamp")
        .and_then(Value::as_i64)
        .ok_or_else(|| Refusal::bad_request(10078, INVALID_PAYLOAD))?;
    if timestamp < now_ms - MAX_ENTRY_AGE_MS || timestamp > now_ms {
        return Err(Refusal::bad_request(
            10046,
            "Invalid clientTimestamp. Send messages within the allowed response time frame.",
        ));
    }
    participant(item.get("sender"))?;
    let sender = object(item.get("sender").unwrap_or(&Value::Null))?;
    let text = |field: &str| {
        sender
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let identity = (text("appType"), text("role"), text("subject"));
    let stay = stays
        .iter()
        .find(|stay| stay.identity == identity)
        .ok_or_else(|| {
            Refusal::bad_request(
                10068,
                "Invalid participant. The message isn't from an approved participant.",
            )
        })?;
    if timestamp < stay.joined || stay.left.is_some_and(|left| timestamp > left) {
        return Err(Refusal::bad_request(10074, "Invalid message timestamp. The message Timestamp must occur while the sender is in the conversation."));
    }
    let payload = object(item.get("entryPayload").unwrap_or(&Value::Null))?;
    let id = required_str(payload, "id", 10045, ENTRY_FORMAT)?;
    if entry_rules::entry_type(payload)? == "Message" {
        let message = payload
            .get("abstractMessage")
            .and_then(Value::as_object)
            .ok_or_else(|| Refusal::bad_request(10045, ENTRY_FORMAT))?;
        if message.get("id").and_then(Value::as_str) != Some(id) {
            return Err(Refusal::bad_request(
                10060,
                "Interaction ID and Message ID are mismatched.",
            ));
        }
        entry_rules::message(message)?;
    }
    Ok(id)
}

/// The conversation and session to attach to, `None` to establish one (or none given).
fn session(
    fake: &InteractionFake,
    body: &Map<String, Value>,
    now_ms: i64,
) -> Result<Option<(String, String)>, Refusal> {
    let Some(session) = body
        .get("messagingSession")
        .filter(|value| !value.is_null())
    else {
        return Ok(None);
    };
    let session = object(session)?;
    let payload = session.get("payload").and_then(Value::as_object);
    match session
        .get("messagingSessionRequestType")
        .and_then(Value::as_str)
    {
        Some("EstablishMessagingSession") => {
            let valid = payload
                .and_then(|payload| payload.get("startTime"))
                .and_then(Value::as_i64)
                .is_some_and(|start| start <= now_ms);
            if !valid {
                return Err(Refusal::bad_request(
                    10061,
                    "The StartTime provided for messaging session is invalid.",
                ));
            }
            Ok(None)
        }
        Some("AttachMessagingSession") => {
            let id = payload
                .and_then(|payload| payload.get("sessionId"))
                .and_then(Value::as_str)
                .filter(|id| is_record_id(id, "0Mw"))
                .ok_or_else(|| Refusal::bad_request(10072, "Specify a valid session ID."))?;
            let short = crate::record_id::short_form(id).to_owned();
            let conversation = fake
                .conversation_of_session(&short)
                .ok_or_else(|| Refusal::bad_request(10071, "Session is not found."))?;
            Ok(Some((conversation, short)))
        }
        _ => Err(Refusal::bad_request(10078, INVALID_PAYLOAD)),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
