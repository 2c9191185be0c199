//! Salesforce record ids in their two forms: the case-sensitive 15-character id and the
//! 18-character id that appends a 3-character case checksum.
//!
//! The REST API (and so SOQL) answers with the 18-character form; the Interaction Service's
//! routing bodies take only the 15-character one. The fake keeps state by the 15-character
//! form and speaks each API's own form.

/// Length of the case-sensitive id.
pub const SHORT_ID_LEN: usize = 15;
/// Length of the id with its case checksum.
pub const LONG_ID_LEN: usize = 18;

/// The alphabet of the checksum characters: the index is a 5-bit mask of upper-case letters.
const CHECKSUM_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 18-character form of a 15-character id; any other input is returned unchanged.
///
/// Each checksum character encodes, for one 5-character chunk of the short id, which of its
/// characters are upper-case letters (bit `i` for character `i`).
#[must_use]
pub fn long_form(id: &str) -> String {
    if id.len() != SHORT_ID_LEN || !id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        return id.to_owned();
    }
    let mut long = String::with_capacity(LONG_ID_LEN);
    long.push_str(id);
    for chunk in id.as_bytes().chunks(5) {
        let mask = chunk
            .iter()
            .enumerate()
            .filter(|(_, byte)| byte.is_ascii_uppercase())
            .fold(0usize, |mask, (bit, _)| mask | (1 << bit));
        long.push(char::from(CHECKSUM_ALPHABET[mask]));
    }
    long
}

/// The 15-character form of a 15- or 18-character id; any other input is returned unchanged.
#[must_use]
pub fn short_form(id: &str) -> &str {
    if id.len() == LONG_ID_LEN && id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        &id[..SHORT_ID_LEN]
    } else {
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_marks_upper_case_letters_per_five_character_chunk() {
        // "001D0": 'D' is character 3 -> mask 8 -> 'I'; "00000" -> 'A'; "IqhSL": characters
        // 0, 3 and 4 -> mask 25 -> 'Z'.
        assert_eq!(long_form("001D000000IqhSL"), "001D000000IqhSLIAZ");
        assert_eq!(long_form("0mw000000000001"), "0mw000000000001AAA");
        assert_eq!(long_form("ABCDE0000000000"), "ABCDE00000000005AA");
    }

    #[test]
    fn the_two_forms_round_trip_and_other_input_is_left_alone() {
        let long = long_form("0Mw5g0000000001");
        assert_eq!(long.len(), LONG_ID_LEN);
        assert_eq!(short_form(&long), "0Mw5g0000000001");
        assert_eq!(short_form("0Mw5g0000000001"), "0Mw5g0000000001");
        assert_eq!(long_form("not-an-id"), "not-an-id");
        assert_eq!(short_form("0Mw5g00000000-1xyz"), "0Mw5g00000000-1xyz");
    }
}
