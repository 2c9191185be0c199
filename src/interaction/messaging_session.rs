//! `POST /messagingSession`: ends or inactivates a messaging session (the "conversation end" call).
//!
//! A `{success: false, errorReason}` answer becomes an error whose message is the reason. It
//! knows nothing about Pub/Sub.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError};

/// What to do with the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SessionOperation {
    /// End it.
    End,
    /// Make it inactive; needs `session_id`.
    Inactivate,
}

/// Who ends the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum OperationBy {
    /// The end user.
    EndUser,
    /// The system (the connector).
    System,
}

/// Body of `POST /messagingSession`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessagingSessionRequest {
    /// The channel's `channelAddressIdentifier`.
    pub channel_address_identifier: String,
    /// The end user's client id.
    pub end_user_client_id: String,
    /// Conversation UUID.
    pub conversation_identifier: String,
    /// End or Inactivate.
    pub operation: SessionOperation,
    /// Who asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_by: Option<OperationBy>,
    /// MessagingSession id; required for Inactivate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}

/// Answer to `POST /messagingSession` (200).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessagingSessionResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const POST_MESSAGING_SESSION: Endpoint = Endpoint {
    method: Method::POST,
    path: "messagingSession",
    sends_context_type: false,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /messagingSession`: ends or inactivates the conversation's session.
    pub async fn post_messaging_session(
        &self,
        request: &MessagingSessionRequest,
    ) -> Result<MessagingSessionResponse, InteractionError> {
        self.call(&POST_MESSAGING_SESSION, json_body(request)?)
            .await
    }
}
