//! `Idempotency-Key` handling: the client entry ids derived from a key, and the answers kept
//! in the store so a retried call — also after a restart — gets the first answer.
//!
//! An entry id is a hash of the route, the scope (the conversation, or the channel address and
//! end user before a conversation exists) and the key, shaped as a UUID, so the same call
//! always carries the same id and Salesforce refuses a second entry (10073). It knows nothing
//! about the routes' bodies.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use axum::http::HeaderMap;

use super::answer::Answer;
use crate::store::{
    GroupCommitter, SidecarAnswerWrite, Store, StoreError, DEFAULT_SIDECAR_ANSWER_MAX_AGE,
    DEFAULT_SIDECAR_ANSWER_MAX_KEYS,
};

/// Keeps final answers in the store, many calls per commit.
pub(crate) type AnswerKeeper = GroupCommitter<SidecarAnswerWrite, Vec<u8>>;

/// The keeper of `store`'s sidecar answers, with the default retention.
pub(crate) fn answer_keeper(store: Store) -> AnswerKeeper {
    GroupCommitter::new(store, keep_answers)
}

fn keep_answers(store: &Store, writes: &[SidecarAnswerWrite]) -> Result<Vec<Vec<u8>>, StoreError> {
    store.put_sidecar_answers(
        writes,
        DEFAULT_SIDECAR_ANSWER_MAX_AGE,
        DEFAULT_SIDECAR_ANSWER_MAX_KEYS,
    )
}

/// The header every write carries.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest key accepted.
const MAX_KEY_CHARS: usize = 255;
/// Salesforce's code for an entry id it already stored.
pub(crate) const DUPLICATE_ENTRY_CODE: i64 = 10073;

/// A call's idempotency scope: route, scope and key.
#[derive(Debug, Clone)]
pub(crate) struct CallKey {
    route: &'static str,
    scope: String,
    key: String,
}

impl CallKey {
    /// The key of `headers`, or the `400` naming the header and the rule.
    pub(crate) fn from_headers(
        headers: &HeaderMap,
        route: &'static str,
        scope: impl Into<String>,
    ) -> Result<Self, Answer> {
        let rule = format!("required on every write: 1..={MAX_KEY_CHARS} visible ASCII characters, the same on each retry of one call");
        let key = headers
            .get(IDEMPOTENCY_KEY)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|key| !key.is_empty() && key.chars().count() <= MAX_KEY_CHARS)
            .ok_or_else(|| Answer::invalid("Idempotency-Key", rule))?;
        Ok(Self {
            route,
            scope: scope.into(),
            key: key.to_owned(),
        })
    }

    /// The store key of this call's answer.
    fn store_key(&self) -> String {
        format!("{}\u{1f}{}\u{1f}{}", self.route, self.scope, self.key)
    }

    /// The client-generated entry id for the `part`-th entry this call creates.
    pub(crate) fn entry_id(&self, part: usize) -> String {
        let material = format!("byoc-sidecar-entry\u{0}{}\u{0}{part}", self.store_key());
        let hash = digest::digest(&digest::SHA256, material.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&hash.as_ref()[..16]);
        // Shaped as a UUID (version and variant bits set) because Salesforce takes UUIDs.
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }

    /// The answer a previous call with this key got, if it is still kept.
    pub(crate) async fn recall(&self, store: &Store) -> Result<Option<Answer>, Answer> {
        let key = self.store_key();
        let stored = store
            .run_blocking(move |store| store.sidecar_answer(&key))
            .await
            .map_err(|error| {
                tracing::error!(error = %error, "sidecar answer could not be read");
                Answer::store_failed()
            })?;
        Ok(stored.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }

    /// Keeps `answer` when it is final, and returns what is kept (the first answer wins).
    pub(crate) async fn remember(&self, answers: &AnswerKeeper, answer: Answer) -> Answer {
        if !answer.is_final() {
            return answer;
        }
        let Ok(bytes) = serde_json::to_vec(&answer) else {
            return answer;
        };
        let key = self.store_key();
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or_default();
        let stored = answers
            .write(SidecarAnswerWrite {
                key,
                answer: bytes,
                now_ms,
            })
            .await;
        match stored {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(answer),
            Err(error) => {
                // Salesforce has the entry; a retry carries the same entry id and is refused
                // as a duplicate, so nothing is stored twice.
                tracing::warn!(error = %error, "sidecar answer could not be stored");
                answer
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(route: &'static str, scope: &str, key: &str) -> CallKey {
        CallKey {
            route,
            scope: scope.to_owned(),
            key: key.to_owned(),
        }
    }

    #[test]
    fn entry_ids_are_uuids_fixed_by_route_scope_key_and_part() {
        let first = key("messages", "conv-1", "k-1").entry_id(0);
        assert_eq!(first, key("messages", "conv-1", "k-1").entry_id(0));
        assert!(uuid::Uuid::parse_str(&first).is_ok());
        assert_ne!(first, key("messages", "conv-2", "k-1").entry_id(0));
        assert_ne!(first, key("messages", "conv-1", "k-2").entry_id(0));
        assert_ne!(first, key("typing", "conv-1", "k-1").entry_id(0));
        assert_ne!(first, key("messages", "conv-1", "k-1").entry_id(1));
    }
}
