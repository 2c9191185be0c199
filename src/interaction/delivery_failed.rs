//! MessageDeliveryFailed: the entry that tells the rep a message did not reach the end user.
//!
//! It is sent through `POST /interactions` like the end user's own traffic, with the end user
//! as `recipient` and one of Salesforce's messaging error codes (Messaging admin guide). This
//! file owns those codes and the entry's shape. It knows nothing about why a delivery failed.

use serde_json::{json, Map, Value};

use crate::interaction::Interaction;

/// The messaging error codes `MessageDeliveryFailed.errorCode` takes, each a family of causes
/// shown to the rep: 0xxx the messaging service, 1xxx the sender, 2xxx the recipient, 3xxx the
/// message itself.
pub(crate) const MESSAGING_ERROR_CODES: [&str; 20] = [
    "0001", "0002", "0003", "0004", "0005", "0006", "1001", "1002", "1003", "1004", "2001", "2002",
    "2004", "3001", "3002", "3003", "3004", "3005", "3006", "3007",
];

/// Whether `code` is one of [`MESSAGING_ERROR_CODES`].
pub(crate) fn is_messaging_error_code(code: &str) -> bool {
    MESSAGING_ERROR_CODES.contains(&code)
}

/// What a MessageDeliveryFailed entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    /// Client-generated id of the new entry.
    pub entry_id: String,
    /// The end user the message was for (`recipient.subject`, also the request's `from`).
    pub end_user_client_id: String,
    /// One of `MESSAGING_ERROR_CODES`.
    pub error_code: String,
    /// The entry that was not delivered, when known.
    pub failed_entry_id: Option<String>,
    /// A text for the rep, when there is one.
    pub error_message: Option<String>,
}

impl Interaction {
    /// A MessageDeliveryFailed entry for `failure`, at `timestamp_ms`.
    pub fn delivery_failed(failure: &DeliveryFailure, timestamp_ms: i64) -> Self {
        let mut payload = Map::new();
        payload.insert("entryType".to_owned(), json!("MessageDeliveryFailed"));
        payload.insert("id".to_owned(), json!(failure.entry_id));
        payload.insert(
            "recipient".to_owned(),
            json!({"appType": "custom", "role": "EndUser", "subject": failure.end_user_client_id}),
        );
        payload.insert("errorCode".to_owned(), json!(failure.error_code));
        if let Some(failed) = &failure.failed_entry_id {
            payload.insert(
                "failedConversationEntryIdentifier".to_owned(),
                json!(failed),
            );
        }
        if let Some(message) = &failure.error_message {
            payload.insert("errorMessage".to_owned(), json!(message));
        }
        Self::EntryInteraction {
            timestamp: timestamp_ms,
            payload: Value::Object(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_names_the_end_user_as_recipient_and_leaves_out_what_is_unknown() {
        let failure = DeliveryFailure {
            entry_id: "e-1".into(),
            end_user_client_id: "user-1".into(),
            error_code: "2002".into(),
            failed_entry_id: None,
            error_message: None,
        };
        let json = serde_json::to_value(Interaction::delivery_failed(&failure, 5)).unwrap();
        assert_eq!(json["payload"]["recipient"]["subject"], "user-1");
        assert_eq!(json["payload"]["recipient"]["role"], "EndUser");
        assert!(json["payload"]
            .get("failedConversationEntryIdentifier")
            .is_none());
        assert!(is_messaging_error_code("3007"));
        assert!(!is_messaging_error_code("2003"));
    }
}
