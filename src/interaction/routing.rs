//! `POST /routingResult`, `POST /route` and `DELETE /route`: the partner-owned routing calls,
//! and the setup check's empty `routingResult` probe.
//!
//! [`RoutingOutcome`] makes Salesforce's `success`/`errorMessage` rule (10033, 10034) impossible
//! to break. It knows nothing about routing strategy or deadlines.

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::interaction::client::{json_body, Endpoint, RequestBody};
use crate::interaction::record_id;
use crate::interaction::{InteractionClient, InteractionError};

/// The kind of routing a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoutingType {
    /// First routing of a conversation.
    Initial,
    /// A transfer the rep asked for.
    Transfer,
    /// Adding a participant to a conference.
    Conference,
}

/// What the partner did with a routing request.
#[derive(Debug, Clone, PartialEq)]
pub enum RoutingOutcome {
    /// Routed; `externally_routed` when the target is outside this org or contact center.
    Routed {
        /// True for an external contact or another contact center.
        externally_routed: bool,
    },
    /// Not routed; the message is shown to the rep, who may retry.
    Failed {
        /// Why routing failed; Salesforce requires one (10034).
        error_message: String,
        /// Whether the target was outside this org; `externallyRouted` is a required boolean
        /// on failures too, so the partner's value is kept.
        externally_routed: bool,
    },
}

/// Body of `POST /routingResult`.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingResultRequest {
    /// Conversation UUID.
    pub conversation_identifier: String,
    /// MessagingSession id (`0Mw…`), in either form; sent in its 15-character form.
    pub work_item_id: String,
    /// Success or failure, with what Salesforce requires for each.
    pub outcome: RoutingOutcome,
    /// Which routing this answers; optional for Salesforce.
    pub routing_type: Option<RoutingType>,
}

/// The wire form of [`RoutingResultRequest`].
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoutingResultWire<'a> {
    conversation_identifier: &'a str,
    work_item_id: &'a str,
    success: bool,
    externally_routed: bool,
    /// Absent on success (10033). Whether `""` counts as absent is unverified, so it is omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    routing_type: Option<RoutingType>,
}

/// Message used when a failure is reported with an empty reason, which Salesforce refuses (10034).
const UNSPECIFIED_FAILURE_MESSAGE: &str = "routing failed";

impl Serialize for RoutingResultRequest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (success, externally_routed, error_message) = match &self.outcome {
            RoutingOutcome::Routed { externally_routed } => (true, *externally_routed, None),
            RoutingOutcome::Failed {
                error_message,
                externally_routed,
            } if error_message.trim().is_empty() => {
                (false, *externally_routed, Some(UNSPECIFIED_FAILURE_MESSAGE))
            }
            RoutingOutcome::Failed {
                error_message,
                externally_routed,
            } => (false, *externally_routed, Some(error_message.as_str())),
        };
        RoutingResultWire {
            conversation_identifier: &self.conversation_identifier,
            work_item_id: record_id::short_form(&self.work_item_id),
            success,
            externally_routed,
            error_message,
            routing_type: self.routing_type,
        }
        .serialize(serializer)
    }
}

/// Answer to `POST /routingResult` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RoutingResultResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

/// Where `POST /route` should send the conversation; omit it to use the channel's routing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingInfo {
    /// Target queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<String>,
    /// Target Omni-Channel flow with its fallback queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<FlowRouting>,
    /// Channel variables for the flow, by name; the official definition types the values as
    /// strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_attributes: Option<BTreeMap<String, String>>,
}

/// A flow target; Salesforce requires the fallback queue (10024).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowRouting {
    /// Omni-Channel flow id (`300…`).
    pub flow_id: String,
    /// Queue used when the flow fails.
    pub queue_id: String,
}

/// Body of `POST /route`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostRouteRequest {
    /// Conversation UUID.
    pub conversation_identifier: String,
    /// Initial, Transfer or Conference.
    pub routing_type: RoutingType,
    /// The target; `None` uses the routing configured on the messaging channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_info: Option<RoutingInfo>,
}

/// Answer to `POST /route` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PostRouteResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
    /// The PendingServiceRouting created.
    pub psr_id: Option<String>,
    /// The MessagingSession routed.
    pub work_item_id: Option<String>,
    /// Correlation id to put into a later `POST /agentWork`.
    pub routing_correlation_id: Option<String>,
    /// Why Salesforce did not route, when it did not.
    pub reason_for_not_routing: Option<String>,
    /// Extra context parameters, as sent.
    pub context_param_map: Option<Value>,
    /// Error details Salesforce may add, as sent.
    pub errors: Option<Value>,
}

/// Why a pending route is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelReason {
    /// No particular reason.
    Unknown,
    /// The target is unavailable.
    Unavailable,
    /// The target declined.
    Decline,
    /// The requester cancelled.
    Cancel,
}

/// Body of `DELETE /route` (a JSON body on DELETE, as Salesforce specifies).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRouteRequest {
    /// Conversation UUID.
    pub conversation_identifier: String,
    /// Why; orgs that do not support it answer 10076.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<CancelReason>,
}

/// Answer to `DELETE /route` (202).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DeleteRouteResponse {
    /// Salesforce's `success`.
    pub success: Option<bool>,
}

const ROUTING_RESULT: Endpoint = Endpoint {
    method: Method::POST,
    path: "routingResult",
    sends_context_type: false,
    leader_only: true,
};
const POST_ROUTE: Endpoint = Endpoint {
    method: Method::POST,
    path: "route",
    sends_context_type: true,
    leader_only: true,
};
const DELETE_ROUTE: Endpoint = Endpoint {
    method: Method::DELETE,
    path: "route",
    sends_context_type: false,
    leader_only: false,
};

impl InteractionClient {
    /// `POST /routingResult`: tells Salesforce whether the partner routed the conversation.
    pub async fn routing_result(
        &self,
        request: &RoutingResultRequest,
    ) -> Result<RoutingResultResponse, InteractionError> {
        super::rules::routing_result(request)?;
        self.call(&ROUTING_RESULT, json_body(request)?).await
    }

    /// `POST /route`: asks Omni-Channel to route the conversation to a queue or flow.
    pub async fn post_route(
        &self,
        request: &PostRouteRequest,
    ) -> Result<PostRouteResponse, InteractionError> {
        super::rules::post_route(request)?;
        self.call(&POST_ROUTE, json_body(request)?).await
    }

    /// `POST /routingResult` with an empty JSON object, which Salesforce must refuse for its
    /// body: the answer shows whether the token and `AuthorizationContext` pass the checks
    /// made before the body's, and nothing can be recorded. The setup check's probe; its
    /// `Ok` would mean Salesforce accepted an empty routing result.
    pub(crate) async fn probe_authorization(&self) -> Result<Value, InteractionError> {
        self.call(&ROUTING_RESULT, RequestBody::Json(b"{}".to_vec()))
            .await
    }

    /// `DELETE /route`: cancels a pending route.
    pub async fn delete_route(
        &self,
        request: &DeleteRouteRequest,
    ) -> Result<DeleteRouteResponse, InteractionError> {
        super::rules::delete_route(request)?;
        self.call(&DELETE_ROUTE, json_body(request)?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_never_carries_an_error_message_and_failure_always_does() {
        let routed = RoutingResultRequest {
            conversation_identifier: "c".into(),
            work_item_id: "w".into(),
            outcome: RoutingOutcome::Routed {
                externally_routed: true,
            },
            routing_type: Some(RoutingType::Transfer),
        };
        let json = serde_json::to_value(&routed).unwrap();
        assert_eq!(json["success"], true);
        assert_eq!(json["externallyRouted"], true);
        assert!(json.get("errorMessage").is_none());
        let failed = RoutingResultRequest {
            outcome: RoutingOutcome::Failed {
                error_message: " ".into(),
                externally_routed: true,
            },
            ..routed
        };
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["success"], false);
        assert_eq!(json["externallyRouted"], true);
        assert_eq!(json["errorMessage"], UNSPECIFIED_FAILURE_MESSAGE);
    }
}
