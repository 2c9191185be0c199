//! Pending routing requests as the store takes them: one write of a group commit. The records
//! themselves are opaque bytes the routing module serializes; the store knows nothing about
//! deadlines, states or what a routing request is.

/// One write of a group commit: a record to insert unless its event id has one, or to put.
#[derive(Debug, Clone)]
pub(crate) struct PendingRoutingWrite {
    /// The record's event id.
    pub(crate) event_id: String,
    /// The serialized record.
    pub(crate) record: Vec<u8>,
    /// Replace a record already there (`put`), or keep it (`insert if absent`).
    pub(crate) replace: bool,
}
