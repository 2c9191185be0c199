//! The MessagingSession query through the REST API: its SOQL text (only plain conversation
//! ids ever reach a literal), the answer's shape, and [`SoqlClient`], which sends one query
//! with retries (429, 5xx, transport errors; one token refresh on 401) until a deadline.
//!
//! Shared by `work_item.rs` (a look-up alone) and `soql_batch.rs` (look-ups that arrive
//! together share one `… IN (…)` query). Knows nothing about routing requests, the learned
//! map, the store or Pub/Sub.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use serde::Deserialize;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::auth::{url_policy, AccessGrant, TokenProvider};

/// Key prefix of MessagingSession record ids.
pub(crate) const MESSAGING_SESSION_PREFIX: &str = "0Mw";

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
pub(crate) enum WorkItemError {
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

/// Whether `id` looks like a MessagingSession id.
pub(super) fn is_messaging_session_id(id: &str) -> bool {
    id.starts_with(MESSAGING_SESSION_PREFIX)
        && matches!(id.len(), 15 | 18)
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric())
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

impl SoqlClient {
    /// A client querying with `http` and tokens from `tokens`, at REST API `api_version`.
    pub(super) fn new(
        http: reqwest::Client,
        tokens: TokenProvider,
        api_version: &str,
        insecure: bool,
    ) -> Self {
        Self {
            http,
            tokens,
            api_version: api_version.trim_start_matches(['v', 'V']).to_owned(),
            insecure,
        }
    }

    /// Queries the newest MessagingSession of `conversation` with `soql`, retrying until
    /// `deadline`.
    pub(super) async fn query(
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
pub(crate) fn session_query(conversation: &str) -> Result<String, WorkItemError> {
    if !is_plain_identifier(conversation) {
        return Err(WorkItemError::UnsafeConversationId(conversation.to_owned()));
    }
    Ok(format!(
        "SELECT Id FROM MessagingSession WHERE Conversation.ConversationIdentifier = \
         '{conversation}' ORDER BY CreatedDate DESC LIMIT 1"
    ))
}
