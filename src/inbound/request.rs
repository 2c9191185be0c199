//! The sidecar's inbound request bodies, and the checks that keep out of Salesforce whatever
//! the official API definition forbids (lengths, enums, required fields, item counts).
//!
//! Bodies are parsed with unknown fields refused and every failure naming the field; then
//! [`Check`] applies the API's limits. It knows nothing about HTTP or the store.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::answer::Answer;
use crate::interaction::MAX_ACKNOWLEDGEMENTS;

/// Longest `channelAddressIdentifier` (`to`) and `conversationIdentifier`.
pub(crate) const MAX_ADDRESS_CHARS: usize = 240;
/// Longest end user client id (`from`).
pub(crate) const MAX_END_USER_CHARS: usize = 255;

/// Parses `body` as `T`, or the `400` naming the field that broke it.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Answer> {
    crate::json_body::parse(body).map_err(|error| Answer::invalid(&error.field, error.rule))
}

/// `value` has 1..=`max` characters, or the `400` naming `field`.
pub(crate) fn check_length(field: &str, value: &str, max: usize) -> Result<(), Answer> {
    let length = value.chars().count();
    if value.trim().is_empty() || length > max {
        return Err(Answer::invalid(
            field,
            format!("required, 1..={max} characters (got {length})"),
        ));
    }
    Ok(())
}

/// The channel address a call is for: the one given, or the only configured one.
pub(crate) fn channel_address(
    given: Option<&str>,
    configured: &[String],
) -> Result<String, Answer> {
    match (given, configured) {
        (Some(given), _) => {
            check_length("channelAddressIdentifier", given, MAX_ADDRESS_CHARS)?;
            Ok(given.to_owned())
        }
        (None, [only]) => Ok(only.clone()),
        (None, _) => Err(Answer::invalid(
            "channelAddressIdentifier",
            "required unless channel.address_identifiers configures exactly one address",
        )),
    }
}

/// `POST /v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SendMessage {
    pub(crate) channel_address_identifier: Option<String>,
    pub(crate) end_user_client_id: String,
    pub(crate) text: String,
    #[serde(default)]
    pub(crate) routing_attributes: Option<BTreeMap<String, String>>,
}

/// `POST /v1/conversations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StartConversation {
    pub(crate) channel_address_identifier: Option<String>,
    pub(crate) end_user_client_id: String,
    #[serde(default)]
    pub(crate) routing_attributes: Option<BTreeMap<String, String>>,
}

/// Whether the end user started or stopped typing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum TypingState {
    Started,
    Stopped,
}

/// `POST /v1/typing`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Typing {
    pub(crate) channel_address_identifier: Option<String>,
    pub(crate) end_user_client_id: String,
    pub(crate) state: TypingState,
}

/// One receipt of `POST /v1/conversations/{id}/receipts`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Receipt {
    #[serde(rename = "type")]
    pub(crate) kind: crate::interaction::AcknowledgementType,
    pub(crate) entry_id: String,
    #[serde(default)]
    pub(crate) timestamp: Option<i64>,
}

/// `POST /v1/conversations/{id}/receipts`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Receipts {
    pub(crate) end_user_client_id: String,
    pub(crate) receipts: Vec<Receipt>,
}

impl Receipts {
    /// 1..=25 receipts, each naming an entry.
    pub(crate) fn check(&self) -> Result<(), Answer> {
        check_length(
            "endUserClientId",
            &self.end_user_client_id,
            MAX_END_USER_CHARS,
        )?;
        if !(1..=MAX_ACKNOWLEDGEMENTS).contains(&self.receipts.len()) {
            return Err(Answer::invalid(
                "receipts",
                format!(
                    "1..={MAX_ACKNOWLEDGEMENTS} items (got {})",
                    self.receipts.len()
                ),
            ));
        }
        for (index, receipt) in self.receipts.iter().enumerate() {
            check_length(
                &format!("receipts[{index}].entryId"),
                &receipt.entry_id,
                MAX_ADDRESS_CHARS,
            )?;
        }
        Ok(())
    }
}

/// End or Inactivate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum SessionOperation {
    End,
    Inactivate,
}

/// EndUser or System.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum OperationBy {
    EndUser,
    System,
}

/// `POST /v1/conversations/{id}/session`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SessionChange {
    pub(crate) channel_address_identifier: Option<String>,
    pub(crate) end_user_client_id: String,
    pub(crate) operation: SessionOperation,
    #[serde(default)]
    pub(crate) operation_by: Option<OperationBy>,
    #[serde(default)]
    pub(crate) session_id: Option<String>,
}

/// `PATCH /v1/consent`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ConsentChange {
    pub(crate) channel_address_identifier: Option<String>,
    pub(crate) end_user_client_id: String,
    pub(crate) consent_status: crate::interaction::ConsentStatus,
}

/// Accept, Decline or Close.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum WorkStatus {
    Accept,
    Decline,
    Close,
}

/// `PATCH /v1/agent-work/{workId}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AgentWorkChange {
    pub(crate) status: WorkStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_body_names_the_field_and_the_rule() {
        let error = parse::<Typing>(br#"{"endUserClientId":"u","state":"paused"}"#).unwrap_err();
        assert_eq!(error.status, 400);
        assert_eq!(error.body["error"]["field"], "state");
        assert!(error.body["error"]["rule"]
            .as_str()
            .unwrap()
            .contains("started"));
        let unknown =
            parse::<Typing>(br#"{"endUserClientId":"u","state":"started","x":1}"#).unwrap_err();
        assert!(unknown.body["error"]["rule"]
            .as_str()
            .unwrap()
            .contains("unknown field"));
        assert_eq!(unknown.body["error"]["field"], "x");
        let missing = parse::<Typing>(br#"{"endUserClientId":"u"}"#).unwrap_err();
        assert_eq!(missing.body["error"]["field"], "state");
        assert_eq!(missing.body["error"]["rule"], "missing field `state`");
    }

    #[test]
    fn lengths_count_characters_and_refuse_blank_values() {
        assert!(check_length("f", "abc", 3).is_ok());
        assert!(check_length("f", "abcd", 3).is_err());
        assert!(check_length("f", "  ", 3).is_err());
        assert!(check_length("f", "ééé", 3).is_ok());
    }
}
