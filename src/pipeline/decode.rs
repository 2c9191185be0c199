//! Decoding on the subscriber's task: what the pipeline makes of each event before its
//! dispatcher sees it, so the dispatcher's one task spends its time on dispatch and the
//! decoding runs beside it, still in stream order.
//!
//! It knows the event model and the configured field names, nothing of delivery, lanes or
//! the store.

use crate::events::{decode_event, DecodedEvent, EventContext, FieldNames};
use crate::pubsub::ReceivedEvent;

/// An event as the pipeline receives it: decoded, or why not.
pub type PreparedEvent = Result<DecodedEvent, Undecodable>;

/// Why an event could not be decoded; its raw bytes go to the dead-letter store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// The dead-letter kind, e.g. `schema_unavailable`.
    pub kind: &'static str,
    /// What the decoder said.
    pub reason: String,
}

/// Decodes each event with `field_names`; the preparer a pipeline's subscriber runs.
pub(super) fn decoder(
    field_names: FieldNames,
) -> impl Fn(&ReceivedEvent) -> PreparedEvent + Send + Sync + 'static {
    move |event| decode(event, &field_names)
}

fn decode(event: &ReceivedEvent, field_names: &FieldNames) -> PreparedEvent {
    let schema = event.schema.as_ref().map_err(|unavailable| Undecodable {
        kind: "schema_unavailable",
        reason: unavailable.to_string(),
    })?;
    let context = EventContext {
        replay_id: event.replay_id.as_bytes(),
        producer_event_id: &event.event_id,
    };
    decode_event(&event.payload, schema, field_names, &context).map_err(|err| Undecodable {
        kind: err.kind(),
        reason: err.to_string(),
    })
}
