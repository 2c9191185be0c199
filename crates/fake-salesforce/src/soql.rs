//! The fake REST query endpoint, `GET /services/data/{version}/query?q=…`, answering the
//! SOQL queries the connector makes: the newest MessagingSession of a conversation, the
//! sessions of several conversations at once, and the org's ConversationChannelDefinition by
//! developer name ([`crate::channel_definition`]).
//!
//! Accepted shapes: `SELECT Id FROM MessagingSession WHERE Conversation.ConversationIdentifier
//! = '<id>'` and `SELECT Id, Conversation.ConversationIdentifier FROM MessagingSession WHERE
//! Conversation.ConversationIdentifier IN ('<id>', …)`, each optionally followed by
//! `ORDER BY …` and `LIMIT n`. Sessions come from the [`InteractionFake`]'s
//! conversation→workItem map (seeded, or created by `/interactions`); ids are answered in their
//! 18-character form and relationship fields as nested objects, as the REST API does.
//! Anything else is refused as `MALFORMED_QUERY`, a URI longer than Salesforce's 16,384 bytes
//! with `414`, and an answer holds at most 2,000 rows (`done: false` beyond, as Salesforce cuts
//! a query's first batch). Tokens are checked against the shared [`TokenRegistry`]. Every query
//! text is recorded. The control plane's `/_harness/channel-definition` routes live here too,
//! beside the record they change. It must not import connector modules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::channel_definition::{self, ChannelDefinition, QueryError};
use super::interaction_service::InteractionFake;
use super::tokens::{TokenRegistry, TokenStatus};

/// The query's fixed beginning, compared case-insensitively with whitespace collapsed.
const QUERY_PREFIX: &str =
    "select id from messagingsession where conversation.conversationidentifier = '";
/// The batched query's fixed beginning, the same way.
const BATCH_QUERY_PREFIX: &str = "select id, conversation.conversationidentifier from messagingsession where conversation.conversationidentifier in (";
/// Longest request URI Salesforce's REST API takes (longer ones get `414 URI Too Long`).
pub const MAX_URI_BYTES: usize = 16_384;
/// Most rows in one query answer; the rest would come through `nextRecordsUrl`.
pub const MAX_ROWS_PER_ANSWER: usize = 2_000;

/// The fake query endpoint's state.
#[derive(Debug)]
pub struct SoqlFake {
    registry: Arc<TokenRegistry>,
    interaction: Arc<InteractionFake>,
    queries: Mutex<Vec<String>>,
    channel_definition: Mutex<Option<ChannelDefinition>>,
}

impl SoqlFake {
    /// A fake answering from `interaction`'s sessions, for tokens in `registry`.
    pub fn new(registry: Arc<TokenRegistry>, interaction: Arc<InteractionFake>) -> Self {
        Self {
            registry,
            interaction,
            queries: Mutex::new(Vec::new()),
            channel_definition: Mutex::new(None),
        }
    }

    /// Replaces the org's ConversationChannelDefinition record; `None` removes it, so queries
    /// for it find nothing.
    pub fn set_channel_definition(&self, definition: Option<ChannelDefinition>) {
        *self
            .channel_definition
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = definition;
    }

    /// The org's ConversationChannelDefinition record, when it has one.
    pub fn channel_definition(&self) -> Option<ChannelDefinition> {
        self.channel_definition
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Every query text received, in order.
    pub fn queries(&self) -> Vec<String> {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        // A push cannot panic halfway; a poisoned lock is still consistent.
        self.queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The `GET /services/data/{version}/query` route, and the control plane's
/// `GET`/`PUT`/`DELETE /_harness/channel-definition`.
pub fn router(fake: Arc<SoqlFake>) -> Router {
    Router::new()
        .route("/services/data/{version}/query", get(query))
        .route(
            "/_harness/channel-definition",
            get(show_definition)
                .put(replace_definition)
                .delete(remove_definition),
        )
        .with_state(fake)
}

/// `GET /_harness/channel-definition`: the record, `404` when the org has none.
async fn show_definition(State(fake): State<Arc<SoqlFake>>) -> Response {
    match fake.channel_definition() {
        Some(definition) => Json(definition).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `PUT /_harness/channel-definition`: replaces the record (every field, PascalCase).
async fn replace_definition(
    State(fake): State<Arc<SoqlFake>>,
    Json(definition): Json<ChannelDefinition>,
) -> StatusCode {
    fake.set_channel_definition(Some(definition));
    StatusCode::NO_CONTENT
}

/// `DELETE /_harness/channel-definition`: the org has no channel definition any more.
async fn remove_definition(State(fake): State<Arc<SoqlFake>>) -> StatusCode {
    fake.set_channel_definition(None);
    StatusCode::NO_CONTENT
}

async fn query(
    State(fake): State<Arc<SoqlFake>>,
    Path(version): Path<String>,
    uri: Uri,
    Query(parameters): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if uri.to_string().len() > MAX_URI_BYTES {
        return rest_error(
            StatusCode::URI_TOO_LONG,
            "URI_TOO_LONG",
            "The request URI is longer than 16,384 bytes",
        );
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    if token.map(|token| fake.registry.status(token)) != Some(TokenStatus::Valid) {
        return rest_error(
            StatusCode::UNAUTHORIZED,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        );
    }
    if !is_api_version(&version) {
        return rest_error(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The requested resource does not exist",
        );
    }
    let Some(soql) = parameters.get("q") else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "A query string is required",
        );
    };
    fake.lock().push(soql.clone());
    match channel_definition::parse(soql) {
        Ok(query) => return definition_answer(&fake, &query, &version),
        Err(QueryError::InvalidField(field)) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "INVALID_FIELD",
                &format!(
                    "No such column '{field}' on entity '{}'",
                    channel_definition::OBJECT
                ),
            )
        }
        Err(QueryError::Malformed) => {
            return rest_error(
                StatusCode::BAD_REQUEST,
                "MALFORMED_QUERY",
                "The fake answers only the ConversationChannelDefinition-by-DeveloperName query",
            )
        }
        Err(QueryError::NotThisObject) => {}
    }
    let Some(query) = parse(soql) else {
        return rest_error(
            StatusCode::BAD_REQUEST,
            "MALFORMED_QUERY",
            "The fake answers only the MessagingSession-by-conversation queries",
        );
    };
    let mut records: Vec<Value> = Vec::new();
    for conversation in &query.conversations {
        if let Some(id) = fake.interaction.work_item_for(conversation) {
            // The REST API answers with the 18-character form of every id.
            let id = crate::record_id::long_form(&id);
            let mut record = json!({
                "attributes": {
                    "type": "MessagingSession",
                    "url": format!("/services/data/{version}/sobjects/MessagingSession/{id}"),
                },
                "Id": id,
            });
            if query.batched {
                record["Conversation"] = json!({
                    "attributes": {"type": "Conversation"},
                    "ConversationIdentifier": conversation,
                });
            }
            records.push(record);
        }
    }
    let total = records.len();
    let done = total <= MAX_ROWS_PER_ANSWER;
    records.truncate(MAX_ROWS_PER_ANSWER);
    let mut answer = json!({"totalSize": total, "done": done, "records": records});
    if !done {
        answer["nextRecordsUrl"] = json!(format!("/services/data/{version}/query/01gFAKE-2000"));
    }
    Json(answer).into_response()
}

/// The answer to a channel-definition query: the record when its developer name matches.
fn definition_answer(
    fake: &SoqlFake,
    query: &channel_definition::DefinitionQuery,
    version: &str,
) -> Response {
    let records: Vec<Value> = fake
        .channel_definition()
        .filter(|definition| definition.developer_name == query.developer_name)
        .map(|definition| definition.as_record(&query.fields, version))
        .into_iter()
        .collect();
    Json(json!({"totalSize": records.len(), "done": true, "records": records})).into_response()
}

/// A query the fake understands: the conversations it names, and whether it is the batched
/// form (which selects the conversation too).
#[derive(Debug, PartialEq, Eq)]
struct SessionQuery {
    conversations: Vec<String>,
    batched: bool,
}

fn parse(soql: &str) -> Option<SessionQuery> {
    if let Some(conversation) = conversation_of(soql) {
        return Some(SessionQuery {
            conversations: vec![conversation],
            batched: false,
        });
    }
    conversations_of(soql).map(|conversations| SessionQuery {
        conversations,
        batched: true,
    })
}

/// The conversation ids a batched query asks about, when it has the accepted shape.
fn conversations_of(soql: &str) -> Option<Vec<String>> {
    let collapsed = soql.split_whitespace().collect::<Vec<_>>().join(" ");
    let prefix = collapsed.get(..BATCH_QUERY_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(BATCH_QUERY_PREFIX) {
        return None;
    }
    let rest = &collapsed[BATCH_QUERY_PREFIX.len()..];
    let (list, tail) = rest.split_once(')')?;
    let mut conversations = Vec::new();
    for literal in list.split(',') {
        let literal = literal.trim().strip_prefix('\'')?.strip_suffix('\'')?;
        if literal.is_empty() || literal.contains(['\'', '\\']) {
            return None;
        }
        conversations.push(literal.to_owned());
    }
    let tail = tail.trim().to_ascii_lowercase();
    let tail_ok = tail.is_empty() || tail.starts_with("order by ") || tail.starts_with("limit ");
    (tail_ok && !conversations.is_empty()).then_some(conversations)
}

/// `v62.0` and the like.
fn is_api_version(version: &str) -> bool {
    let Some(number) = version.strip_prefix('v') else {
        return false;
    };
    let mut parts = number.split('.');
    let is_digits = |part: Option<&str>| {
        part.is_some_and(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
    };
    is_digits(parts.next()) && is_digits(parts.next()) && parts.next().is_none()
}

/// The conversation id the query asks about, when it has the accepted shape.
fn conversation_of(soql: &str) -> Option<String> {
    let collapsed = soql.split_whitespace().collect::<Vec<_>>().join(" ");
    let prefix = collapsed.get(..QUERY_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(QUERY_PREFIX) {
        return None;
    }
    let rest = &collapsed[QUERY_PREFIX.len()..];
    let (literal, tail) = rest.split_once('\'')?;
    if literal.contains('\\') || literal.is_empty() {
        return None;
    }
    let tail = tail.trim().to_ascii_lowercase();
    let tail_ok = tail.is_empty() || tail.starts_with("order by ") || tail.starts_with("limit ");
    tail_ok.then(|| literal.to_owned())
}

/// A REST API error in Salesforce's shape: `[{"message", "errorCode"}]`.
fn rest_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!([{"message": message, "errorCode": code}])),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_session_query_is_understood() {
        assert_eq!(
            conversation_of(
                "SELECT Id FROM MessagingSession WHERE Conversation.ConversationIdentifier = 'c-1' ORDER BY CreatedDate DESC LIMIT 1"
            ),
            Some("c-1".to_owned())
        );
        assert_eq!(
            conversation_of("select id  from messagingsession where conversation.conversationidentifier = 'c-2'"),
            Some("c-2".to_owned())
        );
        assert_eq!(conversation_of("SELECT Id FROM Case"), None);
        assert_eq!(
            conversation_of(
                "SELECT Id FROM MessagingSession WHERE Conversation.ConversationIdentifier = 'a' OR Id != 'b'"
            ),
            None
        );
    }

    #[test]
    fn the_batched_session_query_is_understood() {
        assert_eq!(
            conversations_of(
                "SELECT Id, Conversation.ConversationIdentifier FROM MessagingSession WHERE Conversation.ConversationIdentifier IN ('c-1','c-2', 'c-3') ORDER BY CreatedDate DESC"
            ),
            Some(vec!["c-1".to_owned(), "c-2".to_owned(), "c-3".to_owned()])
        );
        assert_eq!(
            conversations_of(
                "SELECT Id, Conversation.ConversationIdentifier FROM MessagingSession WHERE Conversation.ConversationIdentifier IN ('a', b)"
            ),
            None
        );
        assert_eq!(
            conversations_of(
                "SELECT Id, Conversation.ConversationIdentifier FROM MessagingSession WHERE Conversation.ConversationIdentifier IN ('a') OR Id != 'b'"
            ),
            None
        );
    }

    #[test]
    fn api_versions_look_like_v62_0() {
        assert!(is_api_version("v62.0"));
        assert!(!is_api_version("62.0"));
        assert!(!is_api_version("v62"));
    }
}
