//! Replay ids as lowercase hex, the one spelling the envelope, logs and errors use.
//!
//! It owns only the digits; what a replay id is belongs to the Pub/Sub side.

/// A replay id as lowercase hex, as it appears in `replayId` and in errors.
pub fn replay_id_hex(replay_id: &[u8]) -> String {
    let mut text = Vec::with_capacity(replay_id.len() * 2);
    write_hex(&mut text, replay_id);
    // Hex digits are ASCII.
    String::from_utf8(text).unwrap_or_default()
}

/// Appends `bytes` to `out` as lowercase hex digits, without allocating.
pub(crate) fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)]);
        out.push(DIGITS[usize::from(byte & 0x0f)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_id_is_lowercase_hex() {
        assert_eq!(replay_id_hex(&[0x00, 0x0a, 0xff, 0x10]), "000aff10");
        assert_eq!(replay_id_hex(&[]), "");
    }
}
