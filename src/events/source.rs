//! The payload field's JSON text as received, and the single pass that decodes its
//! envelope while remembering where `recipient` and `payload` sit in the text.
//!
//! Losslessness without a second parse: keys come back from serde_json as slices of
//! the text, so the span of each value lies between its key and the next key (or the
//! envelope's closing brace), and serde_json has already validated everything in
//! between. If a key is escaped (never the case in Salesforce output), the spans are
//! found with a second, raw-value pass instead. Knows JSON; not Avro, not HTTP.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::participant::Participant;
use super::raw::CowStr;

/// The payload field's JSON text, kept whole, with the spans the webhook forwards.
#[derive(Clone, PartialEq, Eq)]
pub struct SourcePayload {
    text: String,
    recipient: Range<usize>,
    body: Range<usize>,
}

impl SourcePayload {
    /// The whole payload field, exactly as received.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The envelope's `recipient` JSON, exactly as received.
    pub fn recipient_json(&self) -> &str {
        self.slice(&self.recipient)
    }

    /// The envelope's `payload` JSON (the entry or routing request), exactly as received.
    pub fn body_json(&self) -> &str {
        self.slice(&self.body)
    }

    fn slice(&self, range: &Range<usize>) -> &str {
        // Spans come from validated parser positions, so this always succeeds.
        self.text.get(range.clone()).unwrap_or("null")
    }
}

impl fmt::Debug for SourcePayload {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SourcePayload")
            .field("recipient", &self.recipient_json())
            .field("body", &self.body_json())
            .finish()
    }
}

/// The envelope members every BYOC payload has, decoded in one pass.
pub(crate) struct Envelope<P> {
    pub(crate) conversation_identifier: Option<String>,
    pub(crate) channel_address_identifier: String,
    pub(crate) recipient: Participant,
    pub(crate) payload: P,
    spans: Option<(Range<usize>, Range<usize>)>,
}

impl<P> Envelope<P> {
    /// Turns the payload into another value, e.g. an owned one, keeping the spans.
    pub(crate) fn try_map_payload<Q, E>(
        self,
        convert: impl FnOnce(P) -> Result<Q, E>,
    ) -> Result<Envelope<Q>, E> {
        Ok(Envelope {
            conversation_identifier: self.conversation_identifier,
            channel_address_identifier: self.channel_address_identifier,
            recipient: self.recipient,
            payload: convert(self.payload)?,
            spans: self.spans,
        })
    }

    /// Takes ownership of the text the envelope was parsed from. `None` when the spans of
    /// `recipient` and `payload` cannot be found in it, which a text this envelope was decoded
    /// from never gives: the webhook must not forward what it cannot locate.
    pub(crate) fn into_parts(self, text: String) -> Option<(EnvelopeFields<P>, SourcePayload)> {
        let (recipient, body) = self.spans.or_else(|| spans_by_raw_values(&text))?;
        let fields = EnvelopeFields {
            conversation_identifier: self.conversation_identifier,
            channel_address_identifier: self.channel_address_identifier,
            recipient: self.recipient,
            payload: self.payload,
        };
        Some((
            fields,
            SourcePayload {
                text,
                recipient,
                body,
            },
        ))
    }
}

/// The decoded envelope members, once the text has moved into a `SourcePayload`.
pub(crate) struct EnvelopeFields<P> {
    pub(crate) conversation_identifier: Option<String>,
    pub(crate) channel_address_identifier: String,
    pub(crate) recipient: Participant,
    pub(crate) payload: P,
}

/// Decodes an envelope whose `payload` member is a `P`.
pub(crate) struct EnvelopeSeed<'t, P> {
    pub(crate) text: &'t str,
    /// `Interaction` envelopes require `conversationIdentifier`; routing ones lack it.
    pub(crate) conversation_identifier_required: bool,
    pub(crate) payload: PhantomData<P>,
}

impl<'de, P: Deserialize<'de>> DeserializeSeed<'de> for EnvelopeSeed<'_, P> {
    type Value = Envelope<P>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// The member whose value span is still open while the next key is awaited.
#[derive(Clone, Copy)]
enum SpannedMember {
    Recipient,
    Payload,
}

impl<'de, P: Deserialize<'de>> Visitor<'de> for EnvelopeSeed<'_, P> {
    type Value = Envelope<P>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a BYOC event envelope object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut conversation_identifier = None;
        let mut channel_address_identifier = None;
        let mut recipient = None;
        let mut payload = None;
        let mut tracker = SpanTracker::new(self.text);
        while let Some(key) = map.next_key_seed(CowStr)? {
            let member = match key.as_ref() {
                "conversationIdentifier" => {
                    conversation_identifier = map.next_value::<Option<String>>()?;
                    None
                }
                "channelAddressIdentifier" => {
                    channel_address_identifier = Some(map.next_value::<String>()?);
                    None
                }
                "recipient" => {
                    recipient = Some(map.next_value::<Participant>()?);
                    Some(SpannedMember::Recipient)
                }
                "payload" => {
                    payload = Some(map.next_value::<P>()?);
                    Some(SpannedMember::Payload)
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    None
                }
            };
            tracker.saw_key(&key, member);
        }
        if self.conversation_identifier_required && conversation_identifier.is_none() {
            return Err(de::Error::missing_field("conversationIdentifier"));
        }
        Ok(Envelope {
            conversation_identifier,
            channel_address_identifier: channel_address_identifier
                .ok_or_else(|| de::Error::missing_field("channelAddressIdentifier"))?,
            recipient: recipient.ok_or_else(|| de::Error::missing_field("recipient"))?,
            payload: payload.ok_or_else(|| de::Error::missing_field("payload"))?,
            spans: tracker.finish(),
        })
    }
}

/// Works out value spans from the positions of the keys around them.
struct SpanTracker<'t> {
    text: &'t str,
    /// The member whose value follows the last key, and where that value starts.
    open: Option<(SpannedMember, usize)>,
    recipient: Option<Range<usize>>,
    body: Option<Range<usize>>,
    /// Set when a key was not a slice of the text; spans are then found another way.
    lost_track: bool,
}

impl<'t> SpanTracker<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            open: None,
            recipient: None,
            body: None,
            lost_track: false,
        }
    }

    /// Notes a key; an unescaped key is a slice of the text, an escaped one is a
    /// copy elsewhere, which `offset_in` tells apart.
    fn saw_key(&mut self, key: &str, member: Option<SpannedMember>) {
        let Some(key_offset) = offset_in(self.text, key) else {
            self.lost_track = true;
            return;
        };
        // The previous value ends at the comma before this key's opening quote.
        let opening_quote = key_offset.saturating_sub(1);
        self.close_open_value(value_end_before(self.text, opening_quote, b','));
        let closing_quote = key_offset + key.len();
        self.open = member.and_then(|member| {
            value_start_after(self.text, closing_quote + 1).map(|start| (member, start))
        });
        if member.is_some() && self.open.is_none() {
            self.lost_track = true;
        }
    }

    fn close_open_value(&mut self, end: Option<usize>) {
        let Some((member, start)) = self.open.take() else {
            return;
        };
        let Some(end) = end.filter(|end| *end > start) else {
            self.lost_track = true;
            return;
        };
        match member {
            SpannedMember::Recipient => self.recipient = Some(start..end),
            SpannedMember::Payload => self.body = Some(start..end),
        }
    }

    fn finish(mut self) -> Option<(Range<usize>, Range<usize>)> {
        // The last value ends at the envelope's closing brace, the text's last token.
        let closing_brace = self.text.trim_end().len().saturating_sub(1);
        self.close_open_value(value_end_before(self.text, closing_brace, b'}'));
        if self.lost_track {
            return None;
        }
        Some((self.recipient?, self.body?))
    }
}

/// Where `inner` starts in `outer`, if it is a slice of it.
fn offset_in(outer: &str, inner: &str) -> Option<usize> {
    let outer_start = outer.as_ptr() as usize;
    let inner_start = inner.as_ptr() as usize;
    let offset = inner_start.checked_sub(outer_start)?;
    (offset + inner.len() <= outer.len()).then_some(offset)
}

/// The first value byte after a key: skips whitespace, the colon, whitespace.
fn value_start_after(text: &str, after_key: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let colon = after_key + skip_whitespace(bytes.get(after_key..)?);
    if bytes.get(colon) != Some(&b':') {
        return None;
    }
    let value = colon + 1;
    Some(value + skip_whitespace(bytes.get(value..)?))
}

/// The end of the value before `delimiter_search_end`: walks back over whitespace,
/// expects `delimiter` (`,` or `}`), then walks back over whitespace again.
fn value_end_before(text: &str, token: usize, delimiter: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut position = token;
    if delimiter == b',' {
        position = trim_whitespace_back(bytes, position);
        if position == 0 || bytes.get(position - 1) != Some(&b',') {
            return None;
        }
        position -= 1;
    } else if bytes.get(position) != Some(&b'}') {
        return None;
    }
    Some(trim_whitespace_back(bytes, position))
}

fn skip_whitespace(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .take_while(|byte| matches!(byte, b' ' | b'\n' | b'\r' | b'\t'))
        .count()
}

fn trim_whitespace_back(bytes: &[u8], mut end: usize) -> usize {
    while end > 0 && matches!(bytes.get(end - 1), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        end -= 1;
    }
    end
}

/// Finds the spans with a raw-value pass, for the rare envelope with escaped keys. Takes
/// the last `recipient` and `payload` when a member repeats, as the single pass does, so the
/// webhook forwards the values that were decoded.
fn spans_by_raw_values(text: &str) -> Option<(Range<usize>, Range<usize>)> {
    struct LastMembers;

    impl<'de> Visitor<'de> for LastMembers {
        type Value = (Option<&'de RawValue>, Option<&'de RawValue>);

        fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            formatter.write_str("a BYOC event envelope object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let (mut recipient, mut payload) = (None, None);
            while let Some(key) = map.next_key_seed(CowStr)? {
                let value = map.next_value::<&'de RawValue>()?;
                match key.as_ref() {
                    "recipient" => recipient = Some(value),
                    "payload" => payload = Some(value),
                    _ => {}
                }
            }
            Ok((recipient, payload))
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let (recipient, payload) = deserializer.deserialize_map(LastMembers).ok()?;
    let span_of = |raw: &RawValue| {
        let start = offset_in(text, raw.get())?;
        Some(start..start + raw.get().len())
    };
    Some((span_of(recipient?)?, span_of(payload?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans_of(text: &str) -> (String, String) {
        let envelope: Envelope<IgnoredAny> = EnvelopeSeed {
            text,
            conversation_identifier_required: false,
            payload: PhantomData,
        }
        .deserialize(&mut serde_json::Deserializer::from_str(text))
        .expect("envelope parses");
        let (_, source) = envelope.into_parts(text.to_owned()).expect("spans found");
        (
            source.recipient_json().to_owned(),
            source.body_json().to_owned(),
        )
    }

    const RECIPIENT: &str = r#"{"appType":"custom","subject":"u","role":"EndUser"}"#;

    #[test]
    fn spans_are_found_whatever_the_member_order_and_whitespace() {
        let compact = format!(
            r#"{{"channelAddressIdentifier":"c","recipient":{RECIPIENT},"payload":[1,{{"a":"}}"}}]}}"#
        );
        assert_eq!(
            spans_of(&compact),
            (RECIPIENT.to_owned(), r#"[1,{"a":"}"}]"#.to_owned())
        );
        let spaced = format!(
            "{{\n  \"payload\" :  {{\"x\": \"y\"}} ,\n  \"recipient\"\t:\n{RECIPIENT}\n,\"channelAddressIdentifier\":\"c\"\n}}\n"
        );
        assert_eq!(
            spans_of(&spaced),
            (RECIPIENT.to_owned(), r#"{"x": "y"}"#.to_owned())
        );
    }

    #[test]
    fn repeated_members_beside_an_escaped_key_give_the_last_ones_spans() {
        // The single pass takes the last `recipient` and `payload`; the raw-value pass an
        // escaped key sends it to must find the same ones, not give up on the repetition.
        let text = format!(
            r#"{{"recipient":{{"appType":"custom","subject":"first","role":"EndUser"}},"channel\u0041ddressIdentifier":"c","payload":1,"recipient":{RECIPIENT},"payload":{{"last":true}}}}"#
        );
        assert_eq!(
            spans_of(&text),
            (RECIPIENT.to_owned(), r#"{"last":true}"#.to_owned())
        );
    }

    #[test]
    fn escaped_keys_fall_back_to_raw_values() {
        let text = format!(
            r#"{{"channelAddress\u0049dentifier":"c","recipient":{RECIPIENT},"payload":{{}}}}"#
        );
        assert_eq!(spans_of(&text), (RECIPIENT.to_owned(), "{}".to_owned()));
    }
}
