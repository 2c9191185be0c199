//! Replay ids: the opaque positions Salesforce gives every event.
//!
//! Salesforce documents them as opaque bytes; in practice they are an 8-byte big-endian
//! unsigned integer (spec/pubsub-api.md §3.3). We keep the bytes exactly as received (so a
//! stored id is sent back byte for byte) and only interpret them for ordering and display.

use std::fmt;

use bytes::Bytes;

/// Length of every replay id Salesforce (and our fake) produces.
pub(crate) const REPLAY_ID_LEN: usize = 8;

/// An event's position in the topic, as the server sent it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ReplayId(Bytes);

impl ReplayId {
    /// Wraps bytes received from the server or read from the store.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// The 8-byte big-endian form of `value`.
    pub fn from_u64(value: u64) -> Self {
        Self(Bytes::copy_from_slice(&value.to_be_bytes()))
    }

    /// The raw bytes, to send back to the server or store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The raw bytes as a cheaply cloneable buffer.
    pub(crate) fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// The numeric value when the id has the usual 8-byte shape.
    pub fn as_u64(&self) -> Option<u64> {
        let array: [u8; REPLAY_ID_LEN] = self.0.as_ref().try_into().ok()?;
        Some(u64::from_be_bytes(array))
    }

    /// Lowercase hex of the raw bytes, the form used in logs and webhook envelopes.
    pub(crate) fn to_hex(&self) -> String {
        let mut hex = String::with_capacity(self.0.len() * 2);
        for byte in &self.0 {
            hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
            hex.push(char::from_digit(u32::from(byte & 0x0f), 16).unwrap_or('0'));
        }
        hex
    }

    /// Parses the hex form produced by `ReplayId::to_hex`.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if !hex.len().is_multiple_of(2) || hex.is_empty() {
            return None;
        }
        let mut bytes = Vec::with_capacity(hex.len() / 2);
        for pair in hex.as_bytes().chunks(2) {
            let text = std::str::from_utf8(pair).ok()?;
            bytes.push(u8::from_str_radix(text, 16).ok()?);
        }
        Some(Self(Bytes::from(bytes)))
    }

    /// Whether `self` is at or after `other`, for ids of the usual 8-byte shape.
    ///
    /// Ids of another length are opaque; they compare as not-after so callers never move a
    /// checkpoint on a guess.
    pub(crate) fn is_at_or_after(&self, other: &ReplayId) -> bool {
        match (self.as_u64(), other.as_u64()) {
            (Some(mine), Some(theirs)) => mine >= theirs,
            _ => self == other,
        }
    }
}

impl fmt::Debug for ReplayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplayId({self})")
    }
}

impl fmt::Display for ReplayId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_u64() {
            Some(value) => write!(f, "{value}"),
            None => write!(f, "0x{}", self.to_hex()),
        }
    }
}

/// What to do when the server refuses the stored replay id as corrupted or expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CorruptedReplayPolicy {
    /// Replay every retained event (duplicates are possible, loss is not beyond retention).
    #[default]
    Earliest,
    /// Skip to the tip of the stream (events in between are lost).
    Latest,
    /// Stop the subscriber with an error.
    Fail,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replay_id_is_eight_bytes_big_endian() {
        let id = ReplayId::from_u64(0x0102_0304_0506_0708);
        assert_eq!(id.as_bytes(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(id.to_hex(), "0102030405060708");
        assert_eq!(id.to_string(), "72623859790382856");
    }

    #[test]
    fn odd_length_ids_are_shown_in_hex_and_never_ordered() {
        let odd = ReplayId::from_bytes(vec![0xab, 0xcd]);
        assert_eq!(odd.to_string(), "0xabcd");
        assert_eq!(odd.as_u64(), None);
        assert!(!odd.is_at_or_after(&ReplayId::from_u64(1)));
        assert!(odd.is_at_or_after(&odd.clone()));
    }

    proptest! {
        #[test]
        fn byte_order_matches_numeric_order(a: u64, b: u64) {
            let (left, right) = (ReplayId::from_u64(a), ReplayId::from_u64(b));
            prop_assert_eq!(left.as_bytes().cmp(right.as_bytes()), a.cmp(&b));
            prop_assert_eq!(left.is_at_or_after(&right), a >= b);
        }

        #[test]
        fn hex_round_trips(bytes: Vec<u8>) {
            prop_assume!(!bytes.is_empty());
            let id = ReplayId::from_bytes(bytes);
            prop_assert_eq!(ReplayId::from_hex(&id.to_hex()), Some(id));
        }
    }
}
