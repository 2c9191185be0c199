//! JSON text written by hand on the delivery path (the webhook envelope, the batch body),
//! where going through serde's serializer for a handful of ids costs more than the copy.
//! It knows JSON's string rules and nothing of what the strings mean.

/// Writes `text` as a JSON string. Ids almost never need escaping, so they are copied
/// directly; anything else goes through serde_json's escaper.
pub(crate) fn write_json_string(out: &mut Vec<u8>, text: &str) {
    // A fold without early exit, so the compiler can vectorize the check.
    let needs_escaping = text.bytes().fold(false, |found, byte| {
        found || (byte < 0x20) || (byte == b'"') || (byte == b'\\')
    });
    if needs_escaping {
        // Serializing a &str into a Vec cannot fail: the writer is infallible.
        let _ = serde_json::to_writer(&mut *out, text);
        return;
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_needing_escapes_are_escaped_and_others_copied() {
        let mut out = Vec::new();
        write_json_string(&mut out, "plain-id");
        write_json_string(&mut out, "quote\" back\\ newline\n");
        assert_eq!(
            String::from_utf8(out).unwrap_or_default(),
            r#""plain-id""quote\" back\\ newline\n""#
        );
    }
}
