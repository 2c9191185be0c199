//! `POST /acknowledgement`: delivered and read receipts of the end user, up to 25 per call.
//!
//! Each receipt stores a new conversation entry whose id the client generates
//! (`acknowledgmentCreatedConversationEntryIdentifier`), so a retried call cannot store a
//! second one. It knows nothing about Pub/Sub.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError};

/// Most acknowledgements Salesforce takes in one request.
pub(crate) const MAX_ACKNOWLEDGEMENTS: usize = 25;

/// Read or Delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AcknowledgementType {
    /// The end user read the entry.
    Read,
    /// The entry reached the end user's device.
    Delivered,
}

/// A conversation participant as the Interaction Service names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// `custom` for a BYOC end user.
    pub app_type: String,
    /// `EndUser` for a BYOC end user.
    pub role: String,
    /// The end user's client id.
    pub subject: String,
}

impl Participant {
    /// The end user `subject` of a custom channel.
    pub fn end_user(subject: impl Into<String>) -> Self {
        Self {
            app_type: "custom".to_owned(),
            role: "EndUser".to_owned(),
            subject: subject.into(),
        }
    }
}

/// One receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Acknowledgement {
    /// Epoch milliseconds, as a string (the API types it so).
    pub acknowledgement_timestamp: String,
    /// Read or Delivered.
    pub acknowledgement_type: AcknowledgementType,
    /// The entry being acknowledged.
    pub acknowledged_conversation_entry_identifier: String,
    /// The client-generated id of the receipt entry this call stores.
    pub acknowledgment_created_conversation_entry_identifier: String,
}

/// Body of `POST /acknowledgement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AcknowledgementRequest {
    /// Conversation UUID.
    pub conversation_identifier: String,
    /// The end user sending the receipts.
    pub sender: Participant,
    /// 1 to [`MAX_ACKNOWLEDGEMENTS`] receipts.
    pub acknowledgements: Vec<Acknowledgement>,
}

/// Answer to `POST /acknowledgement` (200).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct AcknowledgementResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const POST_ACKNOWLEDGEMENT: Endpoint = Endpoint {
    method: Method::POST,
    path: "acknowledgement",
    sends_context_type: false,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /acknowledgement`: stores delivered / read receipts.
    pub(crate) async fn post_acknowledgement(
        &self,
        request: &AcknowledgementRequest,
    ) -> Result<AcknowledgementResponse, InteractionError> {
        self.call(&POST_ACKNOWLEDGEMENT, json_body(request)?).await
    }
}
