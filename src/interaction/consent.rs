//! `PATCH /consent` and `POST /participant`: the end user's messaging consent (only when the
//! channel's Consent Owner is the partner) and removing a rep from a conversation.
//!
//! It knows nothing about Pub/Sub, nor about who owns consent.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::{InteractionClient, InteractionError, Participant};

/// `ConsentEnum`: the end user's messaging consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentStatus {
    /// The end user opted out.
    OptedOut,
    /// Opted in by writing first.
    ImplicitlyOptedIn,
    /// Opted in explicitly.
    ExplicitlyOptedIn,
    /// Opted in and confirmed.
    DoublyOptedIn,
}

/// Body of `PATCH /consent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentRequest {
    /// The channel's `channelAddressIdentifier` (at most 240 characters).
    pub channel_address_identifier: String,
    /// The end user's client id (at most 240 characters).
    pub end_user_client_id: String,
    /// The new status.
    pub consent_status: ConsentStatus,
}

/// Body of `POST /participant`: removes one participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveParticipantRequest {
    /// The conversation.
    pub conversation_identifier: String,
    /// Always `Remove`, the only operation the API has.
    pub operation: &'static str,
    /// Exactly one: the rep to remove.
    pub participants: Vec<Participant>,
}

impl RemoveParticipantRequest {
    /// Removes the rep `user_id` (a User id, sent in its 15-character form) from `conversation`.
    pub fn rep(conversation: impl Into<String>, user_id: &str) -> Self {
        Self {
            conversation_identifier: conversation.into(),
            operation: "Remove",
            participants: vec![Participant {
                app_type: "agent".to_owned(),
                role: "Agent".to_owned(),
                subject: super::record_id::short_form(user_id).to_owned(),
            }],
        }
    }
}

/// Answer to `PATCH /consent` and `POST /participant` (200).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SuccessResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const PATCH_CONSENT: Endpoint = Endpoint {
    method: Method::PATCH,
    path: "consent",
    sends_context_type: false,
    leader_only: false,
};

const POST_PARTICIPANT: Endpoint = Endpoint {
    method: Method::POST,
    path: "participant",
    sends_context_type: false,
    leader_only: false,
};

impl InteractionClient {
    /// `PATCH /consent`: sets the end user's consent status. Fields longer than the API
    /// allows are refused before sending ([`InteractionError::InvalidRequest`]).
    pub async fn patch_consent(
        &self,
        request: &ConsentRequest,
    ) -> Result<SuccessResponse, InteractionError> {
        super::rules::patch_consent(request)?;
        self.call(&PATCH_CONSENT, json_body(request)?).await
    }

    /// `POST /participant`: removes a participant from a conversation. Anything but exactly
    /// one rep named by a 15-character User id is refused before sending.
    pub async fn remove_participant(
        &self,
        request: &RemoveParticipantRequest,
    ) -> Result<SuccessResponse, InteractionError> {
        super::rules::remove_participant(request)?;
        self.call(&POST_PARTICIPANT, json_body(request)?).await
    }
}
