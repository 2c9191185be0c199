//! `POST /agentWork` and `PATCH /agentWork`: assigning a conversation to a rep and updating it.
//!
//! [`Capacity`] makes "weight or percentage, not both" (10013) impossible to break. `PATCH` sends
//! the `AuthorizationContextType` header, which Salesforce requires there. It knows nothing about
//! routing strategy.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interaction::client::{json_body, Endpoint};
use crate::interaction::record_id;
use crate::interaction::{InteractionClient, InteractionError, RoutingType};

/// How much of the rep's capacity the work takes: one of the two, never both (10013).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Capacity {
    /// Units of capacity, ≥ 0 (10014).
    #[serde(rename = "capacityWeight")]
    Weight(f64),
    /// Percent of capacity, 0 to 100 inclusive (10015).
    #[serde(rename = "capacityPercentage")]
    Percentage(f64),
}

/// Ties the AgentWork to the routing request it answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWorkRoutingContext {
    /// Conversation UUID.
    pub conversation_identifier: String,
    /// Initial, Transfer or Conference.
    pub routing_type: RoutingType,
    /// The routing event's UUID (`channelData.eventId` of RoutingRequested).
    pub routing_correlation_id: String,
}

/// A rep console action the work may show or hide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AgentAction {
    /// The transfer button.
    Transfer,
    /// The conference button.
    Conference,
}

/// Whether the rep sees one console action for this work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentActionVisibility {
    /// The action.
    pub agent_action: AgentAction,
    /// Shown or hidden.
    pub visible: bool,
}

/// Body of `POST /agentWork`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentWorkRequest {
    /// Salesforce User id (`005…`) of the rep.
    pub user_id: String,
    /// MessagingSession id (`0Mw…`), in either form; sent in its 15-character form.
    #[serde(serialize_with = "record_id::serialize_short")]
    pub work_item_id: String,
    /// Capacity the work takes; `None` when a PendingServiceRouting already exists.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// The routing request this answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_context: Option<AgentWorkRoutingContext>,
    /// Console actions to show or hide.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_action_visibilities: Option<Vec<AgentActionVisibility>>,
}

/// Answer to `POST /agentWork` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AgentWorkResponse {
    /// Record id, when Salesforce sends it under `id`.
    pub id: Option<String>,
    /// The AgentWork id (`0Bz…`).
    pub agent_work_id: Option<String>,
    /// Salesforce's `success`.
    pub success: Option<bool>,
    /// PSR and capacity details, as sent.
    pub agent_work_details: Option<Value>,
}

impl AgentWorkResponse {
    /// The AgentWork id, from whichever field carried it.
    pub fn work_id(&self) -> Option<&str> {
        self.agent_work_id.as_deref().or(self.id.as_deref())
    }
}

/// Who works the item in `PATCH /agentWork`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum WorkContextType {
    /// A rep.
    Agent,
    /// A bot; then `work_item_id` and `bot_id` are required.
    Chatbot,
}

/// New state of an AgentWork.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AgentWorkStatus {
    /// The rep accepted.
    Accept,
    /// The work is done.
    Close,
    /// The rep declined.
    Decline,
    /// The work is withdrawn.
    Cancel,
}

/// Body of `PATCH /agentWork`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchAgentWorkRequest {
    /// AgentWork id (`0Bz…`).
    pub work_id: String,
    /// Agent or Chatbot.
    pub context_type: WorkContextType,
    /// New state.
    pub status: AgentWorkStatus,
    /// MessagingSession id; required for Chatbot. Sent in its 15-character form, as the
    /// other agentWork call requires.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "record_id::serialize_short_option"
    )]
    pub work_item_id: Option<String>,
    /// Bot id; required for Chatbot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bot_id: Option<String>,
}

/// Answer to `PATCH /agentWork` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PatchAgentWorkResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const POST_AGENT_WORK: Endpoint = Endpoint {
    method: Method::POST,
    path: "agentWork",
    sends_context_type: false,
    leader_only: false,
};
const PATCH_AGENT_WORK: Endpoint = Endpoint {
    method: Method::PATCH,
    path: "agentWork",
    sends_context_type: true,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /agentWork`: assigns the work item to a rep. Not idempotent: 15109 means it exists.
    pub async fn post_agent_work(
        &self,
        request: &AgentWorkRequest,
    ) -> Result<AgentWorkResponse, InteractionError> {
        super::rules::post_agent_work(request)?;
        self.call(&POST_AGENT_WORK, json_body(request)?).await
    }

    /// `PATCH /agentWork`: accepts, closes, declines or cancels an AgentWork.
    pub async fn patch_agent_work(
        &self,
        request: &PatchAgentWorkRequest,
    ) -> Result<PatchAgentWorkResponse, InteractionError> {
        super::rules::patch_agent_work(request)?;
        self.call(&PATCH_AGENT_WORK, json_body(request)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_goes_out_as_exactly_one_field() {
        let request = AgentWorkRequest {
            user_id: "005xx0000012345".into(),
            work_item_id: "0Mwxx0000012345".into(),
            capacity: Some(Capacity::Percentage(50.0)),
            routing_context: None,
            agent_action_visibilities: None,
        };
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["capacityPercentage"], 50.0);
        assert!(json.get("capacityWeight").is_none());
        let without = AgentWorkRequest {
            capacity: None,
            ..request
        };
        let json = serde_json::to_value(&without).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 2);
    }
}
