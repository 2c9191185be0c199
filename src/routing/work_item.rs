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
//! never reaches routingResult. The query itself is `soql.rs`'s. Knows nothing about
//! strategies, the store or Pub/Sub.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::time::Instant;

use crate::auth::TokenProvider;

use super::soql::{is_messaging_session_id, session_query, SoqlClient, WorkItemError};
use super::soql_batch::{BatchAnswer, QueryBatcher};
use super::views::SessionLookup;

/// How many conversation→session pairs are remembered; the oldest are forgotten first.
pub(crate) const LEARNED_SESSIONS_CAPACITY: usize = 100_000;

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

/// Finds and remembers MessagingSession ids.
pub(super) struct WorkItemResolver {
    learned: Mutex<LearnedSessions>,
    /// The stored conversation→session map, consulted before SOQL.
    lookup: OnceLock<Arc<dyn SessionLookup>>,
    client: Arc<SoqlClient>,
    /// Look-ups that arrive together share one `… IN (…)` query.
    batches: QueryBatcher,
}

impl WorkItemResolver {
    /// A resolver querying with `http` and tokens from `tokens`.
    pub(super) fn new(
        http: reqwest::Client,
        tokens: TokenProvider,
        api_version: &str,
        insecure: bool,
    ) -> Self {
        let client = Arc::new(SoqlClient::new(http, tokens, api_version, insecure));
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
