//! What the `checkpoint` commands do to a stopped connector's store: list the checkpoints, set
//! one to a replay id (to replay from a point) or forget one (to start over from
//! `pubsub.start`).
//!
//! It owns choosing which org a command means and reading a replay id typed by an operator;
//! it knows nothing about the command line or the Pub/Sub stream.

use super::{Checkpoint, Store, StoreError};

/// Why a checkpoint command cannot do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The replay id is not an even number of hex digits.
    #[error(
        "replay id `{0}` is not hex: give the bytes as hex digits, as `checkpoint list` shows them"
    )]
    ReplayIdNotHex(String),
    /// No org was named and the store has no checkpoint of the topic to take it from.
    #[error("the store has no checkpoint of {topic}, so its org is unknown: pass --org with the org id the connector subscribes as")]
    OrgUnknown {
        /// The topic asked for.
        topic: String,
    },
    /// No org was named and several orgs have a checkpoint of the topic.
    #[error("several orgs have a checkpoint of {topic} ({orgs}): pass --org to say which")]
    OrgAmbiguous {
        /// The topic asked for.
        topic: String,
        /// The orgs found, comma separated.
        orgs: String,
    },
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A checkpoint as an operator reads it: the replay id in hex.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckpointView {
    /// The org id.
    pub org: String,
    /// The topic.
    pub topic: String,
    /// The replay id to resume after, as hex.
    pub replay_id: String,
}

impl From<&Checkpoint> for CheckpointView {
    fn from(checkpoint: &Checkpoint) -> Self {
        Self {
            org: checkpoint.org.clone(),
            topic: checkpoint.topic.clone(),
            replay_id: hex::encode(&checkpoint.replay_id),
        }
    }
}

/// Every checkpoint of the store.
pub fn list(store: &Store) -> Result<Vec<CheckpointView>, OperatorError> {
    Ok(store.list_checkpoints()?.iter().map(Into::into).collect())
}

/// The org a command about `topic` means: `org` when given, else the one org that has a
/// checkpoint of `topic`.
pub fn resolve_org(store: &Store, org: Option<&str>, topic: &str) -> Result<String, OperatorError> {
    if let Some(org) = org {
        return Ok(org.to_owned());
    }
    let orgs: Vec<String> = store
        .list_checkpoints()?
        .into_iter()
        .filter(|checkpoint| checkpoint.topic == topic)
        .map(|checkpoint| checkpoint.org)
        .collect();
    match orgs.as_slice() {
        [] => Err(OperatorError::OrgUnknown {
            topic: topic.to_owned(),
        }),
        [org] => Ok(org.clone()),
        _ => Err(OperatorError::OrgAmbiguous {
            topic: topic.to_owned(),
            orgs: orgs.join(", "),
        }),
    }
}

/// Sets the checkpoint of (`org`, `topic`) to the hex `replay_id`; returns the replaced one.
pub fn set(
    store: &Store,
    org: &str,
    topic: &str,
    replay_id: &str,
) -> Result<Option<String>, OperatorError> {
    let bytes = hex::decode(replay_id.trim())
        .map_err(|_| OperatorError::ReplayIdNotHex(replay_id.to_owned()))?;
    if bytes.is_empty() {
        return Err(OperatorError::ReplayIdNotHex(replay_id.to_owned()));
    }
    Ok(store.set_checkpoint(org, topic, &bytes)?.map(hex::encode))
}

/// Forgets the checkpoint of (`org`, `topic`); whether there was one.
pub fn reset(store: &Store, org: &str, topic: &str) -> Result<bool, OperatorError> {
    Ok(store.delete_checkpoint(org, topic)?)
}
