//! Salesforce record ids as the Interaction Service takes them.
//!
//! Salesforce ids come in a case-sensitive 15-character form and an 18-character form that
//! appends a case checksum. SOQL and some events give the 18-character form, but the official
//! API definition makes `workItemId` exactly 15 characters (`minLength: 15, maxLength: 15`) in
//! `routingResult` and `agentWork` bodies, and Salesforce refuses the longer one with 10012.
//! Request bodies therefore serialize ids through [`short_form`], so no caller can send the
//! wrong form, whatever the id's source.

/// Length of the case-sensitive id.
const SHORT_ID_LEN: usize = 15;
/// Length of the id with its case checksum.
const LONG_ID_LEN: usize = 18;

/// The 15-character form of an 18-character id; anything else is returned unchanged, so a
/// malformed id still reaches Salesforce and is refused there with its own error code.
pub(crate) fn short_form(id: &str) -> &str {
    if id.len() == LONG_ID_LEN && id.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
        &id[..SHORT_ID_LEN]
    } else {
        id
    }
}

/// Serializes a record id in its 15-character form (`#[serde(serialize_with = ...)]`).
pub(crate) fn serialize_short<S: serde::Serializer>(
    id: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(short_form(id))
}

/// Like [`serialize_short`], for an optional id.
// serde's `serialize_with` hands over `&Option<String>`.
#[allow(clippy::ref_option)]
pub(crate) fn serialize_short_option<S: serde::Serializer>(
    id: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => serializer.serialize_some(short_form(id)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::short_form;

    #[test]
    fn an_eighteen_character_id_loses_its_checksum_and_others_are_left_alone() {
        assert_eq!(short_form("0Mw5g0000000001AAA"), "0Mw5g0000000001");
        assert_eq!(short_form("0Mw5g0000000001"), "0Mw5g0000000001");
        assert_eq!(short_form("0Mw5g00000-0001AAA"), "0Mw5g00000-0001AAA");
        assert_eq!(short_form("0Mw"), "0Mw");
    }
}
