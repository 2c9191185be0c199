//! Dead letters: events the connector gave up on, kept with their exact raw bytes so an
//! operator can inspect and replay them.
//!
//! Each letter gets a monotonic id that is never reused. Recording the same replay id again
//! bumps the letter's attempts and last attempt time instead of adding a second letter. Every
//! write commits durably before it returns, because a dead-lettered event counts as complete
//! and the checkpoint may pass it right after. Recording one also removes, oldest id first,
//! the letters past the configured age or count, never the one just recorded. The store does
//! not interpret the raw bytes, the decoded JSON or the attributes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::StoreSettings;

/// An event to dead-letter, as the caller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    /// The event's replay id; it identifies the event across attempts.
    pub replay_id: Vec<u8>,
    /// The raw event bytes, kept exactly.
    pub raw: Vec<u8>,
    /// The decoded event as JSON text, when decoding got that far.
    pub decoded_json: Option<String>,
    /// Why the connector gave up, for the operator.
    pub reason: String,
    /// Whatever the caller needs to replay it later (schema id, idempotency key, status…).
    pub attributes: BTreeMap<String, String>,
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Monotonic id, never reused.
    pub id: u64,
    /// The event's replay id.
    pub replay_id: Vec<u8>,
    /// The raw event bytes, exactly as recorded.
    pub raw: Vec<u8>,
    /// The decoded event as JSON text, if any.
    pub decoded_json: Option<String>,
    /// The reason of the latest attempt.
    pub reason: String,
    /// The attributes of the latest attempt.
    pub attributes: BTreeMap<String, String>,
    /// When the event was first dead-lettered.
    pub first_attempt_at: SystemTime,
    /// When the event was last dead-lettered.
    pub last_attempt_at: SystemTime,
    /// How many times the event was dead-lettered.
    pub attempts: u32,
}

/// How long and how many dead letters are kept; each backend enforces it each time it records
/// one, in the same transaction.
pub(crate) struct DeadLetterRetention {
    /// Letters first recorded longer ago than this go; `None` keeps them.
    pub(crate) max_age: Option<Duration>,
    /// The oldest letters beyond this many go; `None` keeps them.
    pub(crate) max_count: Option<u64>,
}

impl From<&StoreSettings> for DeadLetterRetention {
    fn from(settings: &StoreSettings) -> Self {
        Self {
            max_age: settings.dead_letter_max_age,
            max_count: settings.dead_letter_max_count,
        }
    }
}
