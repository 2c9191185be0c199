//! `POST /conversation`: starts a conversation with an end user proactively.
//!
//! It knows nothing about Pub/Sub.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError, Participant};

/// Body of `POST /conversation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ConversationRequest {
    /// The channel's `channelAddressIdentifier`.
    pub channel_address_identifier: String,
    /// Exactly one: the end user.
    pub participants: Vec<Participant>,
    /// Channel variable → value, for Salesforce-owned routing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_attributes: Option<BTreeMap<String, String>>,
}

/// Answer to `POST /conversation` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ConversationResponse {
    /// The conversation started (or the existing one).
    pub conversation_identifier: Option<String>,
    /// Its MessagingSession id.
    pub messaging_session_id: Option<String>,
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const POST_CONVERSATION: Endpoint = Endpoint {
    method: Method::POST,
    path: "conversation",
    sends_context_type: false,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /conversation`: starts a conversation with one end user.
    pub(crate) async fn post_conversation(
        &self,
        request: &ConversationRequest,
    ) -> Result<ConversationResponse, InteractionError> {
        self.call(&POST_CONVERSATION, json_body(request)?).await
    }
}
