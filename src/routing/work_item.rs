//! `workItemId` (the MessagingSession id, `0Mw…`) of a routing request, resolved in the order
//! DESIGN §5 gives: the event's `workRecordId`, then the conversation→session map learned from
//! `SessionStatusChanged`, `RoutingResult` entries and `/interactions` answers, then a SOQL
//! query on MessagingSession through the REST API.
//!
//! Which field links a MessagingSession to a conversation is a spec gap. Our reading, chosen
//! as the safest: `MessagingSession.ConversationId` is a lookup to the `Conversation` record
//! (API 55.0+), whose `ConversationIdentifier` is the UUID the events carry; the newest
//! session wins (`ORDER BY CreatedDate DESC LIMIT 1`), since a transfer concerns the current
//! session. Only ids with the MessagingSession key prefix are ever learned, so a wrong id
//! never reaches routingResult. Knows nothing about strategies, the store or Pub/Sub.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::auth::{url_policy, AccessGrant, TokenProvider};

use super::soql_batch::{BatchAnswer, QueryBatcher};
use super::views::SessionLookup;

/// Key prefix of MessagingSession record ids.
pub const MESSAGING_SESSION_PREFIX: &str = "0Mw";

/// How many conversation→session pairs are remembered; the oldest are forgotten first.
pub const LEARNED_SESSIONS_CAPACITY: usize = 100_000;

/// Upper bound on one SOQL request.
const SOQL_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// First delay between SOQL attempts (jitter adds up to 100%): the same bounds as the
/// Interaction Service calls, which race the same routing deadline.
const SOQL_RETRY_MIN_DELAY: Duration = crate::interaction::RETRY_MIN_DELAY;
/// Longest delay between SOQL attempts.
const SOQL_RETRY_MAX_DELAY: Duration = crate::interaction::RETRY_MAX_DELAY;
/// Longest `Retry-After` honoured.
const SOQL_RETRY_AFTER_MAX: Duration = Duration::from_secs(10);

/// Why no `workItemId` could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkItemError {
    /// The conversation id is not a plain identifier, so it is never put into a query.
    #[error("conversation identifier {0:?} cannot be used in a soql query")]
    UnsafeConversationId(String),
    /// The query found no session.
    #[error("no messaging session found for conversation {0}")]
    NotFound(String),
    /// The query failed for good, or kept failing until the deadline.
    #[error("messaging session query failed: {0}")]
    Query(String),
}

/// Where a `workItemId` came from, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WorkItemSource {
    /// The event's `workRecordId`.
    Event,
    /// The learned conversation→session map.
    Learned,
    /// A SOQL query.
    Query,
}

impl WorkItemSource {
    /// Lowercase name for logs.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Learned => "learned",
            Self::Query => "soql",
        }
    }
}

/// Whether `id` looks like a MessagingSession id.
pub(super) fn is_messaging_session_id(id: &str) -> bool {
    id.starts_with(MESSAGING_SESSION_PREFIX)
        && matches!(id.len(), 15 | 18)
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

/// Conversation→session pairs with a bound; the oldest insertions are forgotten first.
#[derive(Debug, Default)]
struct LearnedSessions {
    by_conversation: HashMap<String, String>,
    insertion_order: VecDeque<String>,
}

impl LearnedSessions {
    fn learn(&mut self, conversation: &str, session: &str) {
        let previous = self
            .by_conversation
            .insert(conversation.to_owned(), session.to_owned());
        if previous.is_some() {
            return;
        }
        self.insertion_order.push_back(conversation.to_owned());
        while self.insertion_order.len() > LEARNED_SESSIONS_CAPACITY {
            if let Some(oldest) = self.insertion_order.pop_front() {
                self.by_conversation.remove(&oldest);
            }
        }
    }
}

/// One attempt's failure, classified.
pub(super) enum QueryFailure {
    Retryable(String, Option<Duration>),
    Rejected(AccessGrant),
    Permanent(String),
}

/// The SOQL answer shape (`records[].Id`, and the conversation a batched query names).
#[derive(Deserialize)]
pub(super) struct QueryAnswer {
    /// Whether every record is in this answer (more than 2,000 come in further batches).
    #[serde(default = "all_done")]
    pub(super) done: bool,
    #[serde(default)]
    pub(super) records: Vec<QueryRecord>,
}

fn all_done() -> bool {
    true
}

/// One MessagingSession row.
#[derive(Deserialize)]
pub(super) struct QueryRecord {
    #[serde(rename = "Id")]
    pub(super) id: Option<String>,
    /// `Conversation.ConversationIdentifier`, selected by the batched query.
    #[serde(rename = "Conversation")]
    pub(super) conversation: Option<ConversationField>,
}

/// The `Conversation` relationship of a row.
#[derive(Deserialize)]
pub(super) struct ConversationField {
    #[serde(rename = "ConversationIdentifier")]
    pub(super) identifier: Option<String>,
}

/// Finds and remembers MessagingSession ids.
pub(super) struct WorkItemResolver {
    learned: Mutex<LearnedSessions>,
    /// The stored conversation→session map, consulted before SOQL.
    lookup: OnceLock<Arc<dyn SessionLookup>>,
    client: Arc<SoqlClient>,
    /// Look-ups that arrive together share one `… IN (…)` query.
    batches: QueryBatcher,
}

/// Sends SOQL queries to the REST API; shared with the batching task.
#[derive(Debug)]
pub(super) struct SoqlClient {
    http: reqwest::Client,
    tokens: TokenProvider,
    /// e.g. `62.0`, without the `v`.
    api_version: String,
    /// Allow plain http to a loopback instance URL (the harness only).
    insecure: bool,
}

impl WorkItemResolver {
    /// A resolver querying with `http` and tokens from `tokens`.
    pub(super) fn new(
        http: reqwest::Client,
        tokens: TokenProvider,
        api_version: &str,
        insecure: bool,
    ) -> Self {
        let client = Arc::new(SoqlClient {
            http,
            tokens,
            api_version: api_version.trim_start_matches(['v', 'V']).to_owned(),
            insecure,
        });
        Self {
            learned: Mutex::new(LearnedSessions::default()),
            lookup: OnceLock::new(),
            batches: QueryBatcher::new(client.clone()),
            client,
        }
    }

    /// Remembers that `conversation` is served by `session`; ignores ids that are not
    /// MessagingSession ids. Returns whether it learned.
    pub(super) fn learn(&self, conversation: &str, session: &str) -> bool {
        if conversation.is_empty() || !is_messaging_session_id(session) {
            return false;
        }
        self.lock().learn(conversation, session);
        true
    }

    /// Sets the stored conversation→session lookup; false when one was set already.
    pub(super) fn set_lookup(&self, lookup: Arc<dyn SessionLookup>) -> bool {
        self.lookup.set(lookup).is_ok()
    }

    /// The learned session of `conversation`.
    pub(super) fn learned(&self, conversation: &str) -> Option<String> {
        self.lock().by_conversation.get(conversation).cloned()
    }

    /// The `workItemId` of a request: `work_record_id`, else learned, else queried (retrying
    /// until `deadline`).
    pub(super) async fn resolve(
        &self,
        conversation: &str,
        work_record_id: Option<&str>,
        deadline: Instant,
    ) -> Result<(String, WorkItemSource), WorkItemError> {
        if let Some(id) = work_record_id.filter(|id| !id.trim().is_empty()) {
            return Ok((id.to_owned(), WorkItemSource::Event));
        }
        if let Some(id) = self.learned(conversation) {
            return Ok((id, WorkItemSource::Learned));
        }
        let stored = self
            .lookup
            .get()
            .and_then(|lookup| lookup.session_of(conversation))
            .filter(|id| is_messaging_session_id(id));
        if let Some(id) = stored {
            self.learn(conversation, &id);
            return Ok((id, WorkItemSource::Learned));
        }
        let soql = session_query(conversation)?;
        let id = match self.batches.look_up(conversation, deadline).await {
            BatchAnswer::Found(id) => id,
            BatchAnswer::NotFound => return Err(WorkItemError::NotFound(conversation.to_owned())),
            // The shared query failed or its answer was cut short: ask alone, with retries.
            BatchAnswer::AskAlone => self.client.query(conversation, &soql, deadline).await?,
        };
        self.learn(conversation, &id);
        Ok((id, WorkItemSource::Query))
    }

    fn lock(&self) -> MutexGuard<'_, LearnedSessions> {
        // Every critical section is one map update that cannot panic halfway.
        self.learned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl std::fmt::Debug for WorkItemResolver {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("WorkItemResolver")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

impl SoqlClient {
    /// Queries the newest MessagingSession of `conversation` with `soql`, retrying until
    /// `deadline`.
    async fn query(
        &self,
        conversation: &str,
        soql: &str,
        deadline: Instant,
    ) -> Result<String, WorkItemError> {
        let mut delays = ExponentialBuilder::default()
            .with_min_delay(SOQL_RETRY_MIN_DELAY)
            .with_max_delay(SOQL_RETRY_MAX_DELAY)
            .with_jitter()
            .without_max_times()
            .build();
        let mut refreshed = false;
        let mut grant = self
            .tokens
            .grant()
            .await
            .map_err(|error| WorkItemError::Query(error.to_string()))?;
        loop {
            let failure = match self.attempt(&grant, soql, deadline).await {
                Ok(answer) => {
                    return answer
                        .records
                        .into_iter()
                        .filter_map(|record| record.id)
                        .find(|id| is_messaging_session_id(id))
                        .ok_or_else(|| WorkItemError::NotFound(conversation.to_owned()))
                }
                Err(failure) => failure,
            };
            let (reason, asked_delay) = match failure {
                QueryFailure::Rejected(rejected) if !refreshed => {
                    refreshed = true;
                    grant = self
                        .tokens
                        .refresh_after_rejection(&rejected)
                        .await
                        .map_err(|error| WorkItemError::Query(error.to_string()))?;
                    continue;
                }
                QueryFailure::Rejected(_) => {
                    return Err(WorkItemError::Query(
                        "the access token was refused twice".to_owned(),
                    ))
                }
                QueryFailure::Permanent(reason) => return Err(WorkItemError::Query(reason)),
                QueryFailure::Retryable(reason, asked_delay) => (reason, asked_delay),
            };
            let backoff = delays.next().unwrap_or(SOQL_RETRY_MAX_DELAY);
            let delay = asked_delay.map_or(backoff, |asked| {
                asked.min(SOQL_RETRY_AFTER_MAX).max(backoff)
            });
            if Instant::now() + delay >= deadline {
                return Err(WorkItemError::Query(reason));
            }
            warn!(conversation_id = conversation, reason = %reason, "messaging session query failed, retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// The current access grant.
    pub(super) async fn grant(&self) -> Option<AccessGrant> {
        self.tokens.grant().await.ok()
    }

    /// One query and its answer.
    pub(super) async fn attempt(
        &self,
        grant: &AccessGrant,
        soql: &str,
        deadline: Instant,
    ) -> Result<QueryAnswer, QueryFailure> {
        let mut url = url_policy::require_tls_or_loopback(
            "auth.instance_url",
            &grant.instance_url,
            self.insecure,
        )
        .map_err(|error| QueryFailure::Permanent(error.to_string()))?;
        let path = format!(
            "{}/services/data/v{}/query",
            url.path().trim_end_matches('/'),
            self.api_version
        );
        url.set_path(&path);
        url.query_pairs_mut().clear().append_pair("q", soql);
        let mut bearer = HeaderValue::from_str(&format!("Bearer {}", grant.access_token.expose()))
            .map_err(|_| {
                QueryFailure::Permanent(
                    "the access token contains characters not allowed in a header".to_owned(),
                )
            })?;
        bearer.set_sensitive(true);
        let timeout = SOQL_REQUEST_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
        let sent = self
            .http
            .get(url)
            .header(AUTHORIZATION, bearer)
            .timeout(timeout.max(Duration::from_millis(1)))
            .send()
            .await;
        let response = sent.map_err(|error| QueryFailure::Retryable(error.to_string(), None))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|text| text.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response
            .bytes()
            .await
            .map_err(|error| QueryFailure::Retryable(error.to_string(), None))?;
        debug!(status = status.as_u16(), "messaging session query answered");
        if status.as_u16() == 401 {
            return Err(QueryFailure::Rejected(grant.clone()));
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(QueryFailure::Retryable(
                format!("http {}", status.as_u16()),
                retry_after,
            ));
        }
        if !status.is_success() {
            let excerpt: String = String::from_utf8_lossy(&body).chars().take(200).collect();
            return Err(QueryFailure::Permanent(format!(
                "http {}: {excerpt}",
                status.as_u16()
            )));
        }
        serde_json::from_slice(&body).map_err(|error| {
            QueryFailure::Permanent(format!("answer is not a query result: {error}"))
        })
    }
}

/// Whether `conversation` may be put into a SOQL literal: plain letters, digits and `-`.
pub(super) fn is_plain_identifier(conversation: &str) -> bool {
    !conversation.is_empty()
        && conversation.len() <= 64
        && conversation
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-')
}

/// The SOQL text for `conversation`; refuses ids that are not plain identifiers, so nothing
/// from an event is ever interpreted as SOQL.
pub fn session_query(conversation: &str) -> Result<String, WorkItemError> {
    if !is_plain_identifier(conversation) {
        return Err(WorkItemError::UnsafeConversationId(conversation.to_owned()));
    }
    Ok(format!(
        "SELECT Id FROM MessagingSession WHERE Conversation.ConversationIdentifier = \
         '{conversation}' ORDER BY CreatedDate DESC LIMIT 1"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_conversation_ids_reach_a_query() {
        let query = session_query("06f6c69b-bf42-4ec2-a6fa-9ae595218ea0").unwrap();
        assert!(query.contains("'06f6c69b-bf42-4ec2-a6fa-9ae595218ea0'"));
        assert!(session_query("x' OR Id != '").is_err());
        assert!(session_query("").is_err());
    }

    #[test]
    fn only_messaging_session_ids_are_learned() {
        assert!(is_messaging_session_id("0MwXX0000012345"));
        assert!(is_messaging_session_id("0MwXX0000012345AAA"));
        assert!(!is_messaging_session_id("0BzXX0000012345"));
        assert!(!is_messaging_session_id("0Mw-short"));
    }

    #[test]
    fn the_oldest_pairs_are_forgotten_beyond_capacity() {
        let mut learned = LearnedSessions::default();
        for index in 0..=LEARNED_SESSIONS_CAPACITY {
            learned.learn(&format!("c{index}"), "0MwXX0000012345");
        }
        assert!(!learned.by_conversation.contains_key("c0"));
        assert!(learned.by_conversation.contains_key("c1"));
        assert_eq!(learned.by_conversation.len(), LEARNED_SESSIONS_CAPACITY);
    }
}
