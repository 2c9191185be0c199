//! The partner webhook body (DESIGN §6), written by splicing Salesforce's original
//! JSON into a small envelope.
//!
//! `type` names: `interaction.<entry type in snake_case>` for every modelled entry type
//! (`interaction.message`, `interaction.message_updated`, …), `interaction.unknown`
//! for entry types this version does not model, and `routing.requested`. The `entry`
//! and `routing` members are the bytes Salesforce sent, never re-serialized, so
//! fields we do not model still reach the partner. Knows nothing about HTTP, signing
//! or retries.

use std::time::Duration;

use bytes::Bytes;

use super::hex::write_hex;
use super::outbound::{DecodedEvent, OutboundEvent};
use super::time::write_rfc3339_millis;
use crate::json_text::write_json_string;

/// How long Salesforce waits for a routingResult, counted from `CreatedDate`.
pub const ROUTING_WINDOW: Duration = Duration::from_secs(60);

/// `ROUTING_WINDOW` in milliseconds, for arithmetic on epoch milliseconds.
#[allow(clippy::cast_possible_truncation)] // 60 000 fits; `try_from` is not usable in a const.
const ROUTING_WINDOW_MS: i64 = ROUTING_WINDOW.as_millis() as i64;

/// Room for the envelope's own text (member names, quotes, the event type, two RFC 3339
/// times), on top of the values whose lengths are known: a buffer that has to grow midway
/// ends up twice the body's size, and a routing request's body is kept while it waits.
const ENVELOPE_OVERHEAD_BYTES: usize = 256;

impl DecodedEvent {
    /// The webhook `type`, also sent as the `X-Byoc-Event-Type` header.
    pub fn event_type_name(&self) -> &'static str {
        self.event.event_type_name()
    }

    /// For routing requests, the time by which Salesforce needs the routingResult:
    /// `CreatedDate + 60 s`, epoch milliseconds.
    pub fn routing_deadline_ms(&self) -> Option<i64> {
        match self.event {
            OutboundEvent::RoutingRequested(_) => {
                Some(self.created_date_ms.saturating_add(ROUTING_WINDOW_MS))
            }
            OutboundEvent::Interaction(_) => None,
        }
    }

    /// The webhook body as JSON bytes.
    pub fn webhook_body(&self) -> Bytes {
        let mut body = Vec::new();
        self.write_webhook_body(&mut body);
        Bytes::from(body)
    }

    /// Appends the webhook body to `out`, so a caller can reuse one buffer.
    pub fn write_webhook_body(&self, out: &mut Vec<u8>) {
        let (spliced_member, spliced_json) = match &self.event {
            OutboundEvent::Interaction(event) => ("entry", event.raw_entry()),
            OutboundEvent::RoutingRequested(event) => ("routing", event.raw_routing()),
        };
        let raw_recipient = match &self.event {
            OutboundEvent::Interaction(event) => event.raw_recipient(),
            OutboundEvent::RoutingRequested(event) => event.raw_recipient(),
        };
        // Ids rarely need escaping; one that does only costs a grow.
        let values = self.idempotency_key.len()
            + 2 * self.replay_id.len()
            + self.event.channel_address_identifier().len()
            + self.event.conversation_identifier().len();
        out.reserve(ENVELOPE_OVERHEAD_BYTES + values + spliced_json.len() + raw_recipient.len());

        out.extend_from_slice(b"{\"id\":");
        write_json_string(out, &self.idempotency_key);
        out.extend_from_slice(b",\"type\":\"");
        out.extend_from_slice(self.event_type_name().as_bytes());
        out.extend_from_slice(b"\",\"replayId\":\"");
        write_hex(out, &self.replay_id);
        out.extend_from_slice(b"\",\"createdDate\":\"");
        write_rfc3339_millis(out, self.created_date_ms);
        if let Some(deadline_ms) = self.routing_deadline_ms() {
            out.extend_from_slice(b"\",\"deadline\":\"");
            write_rfc3339_millis(out, deadline_ms);
        }
        out.extend_from_slice(b"\",\"channelAddressIdentifier\":");
        write_json_string(out, self.event.channel_address_identifier());
        out.extend_from_slice(b",\"conversationIdentifier\":");
        write_json_string(out, self.event.conversation_identifier());
        out.extend_from_slice(b",\"recipient\":");
        out.extend_from_slice(raw_recipient.as_bytes());
        out.extend_from_slice(b",\"");
        out.extend_from_slice(spliced_member.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(spliced_json.as_bytes());
        out.push(b'}');
    }
}
