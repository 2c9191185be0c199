//! Who decides a routing request (`routing.strategy`), and what the `salesforce` and `reject`
//! strategies do (spec §3.3).
//!
//! - `partner`: the partner decides (see `partner.rs`).
//! - `salesforce`: the connector acts itself. Queue or flow → `POST /route`, then routingResult
//!   (a flow's fallback queue is the request's `queueId`, else `routing.fallback_queue_id`);
//!   rep → `POST /agentWork`, then routingResult, or routingResult first when time is short;
//!   external contact → routingResult with `externallyRouted: true`, except in a conference,
//!   which BYOC CCaaS cannot hold with an external contact; bot or unknown target →
//!   routingResult `success=false`.
//! - `reject`: routingResult `success=false` at once.
//!
//! Preliminary calls retry (429, 5xx, 10019, 10055, 10056, 10094) until the deadline minus a
//! reserve for routingResult. Knows nothing about the store, the pipeline or Pub/Sub.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::events::{self, RoutingRequestedEvent, RoutingTarget};
use crate::interaction::{
    retry_until, AgentWorkRequest, AgentWorkRoutingContext, Capacity, ErrorClass, FlowRouting,
    InteractionClient, InteractionError, PostRouteRequest, RoutingInfo, RoutingType,
};

use super::machine::{CallFailure, Target};
use super::pending::{Decision, RouteReceipt};

/// The answer of the `reject` strategy.
pub const REJECT_MESSAGE: &str = "transfers are not supported by this channel";

/// Salesforce's error code for "an active AgentWork already exists": the work is done.
pub(crate) const AGENT_WORK_EXISTS_CODE: i64 = 15109;

/// The answer to a flow transfer when neither the request nor the config names a fallback queue.
pub const NO_FALLBACK_QUEUE_MESSAGE: &str = "flow transfer needs a fallback queue: the request \
     names none and routing.fallback_queue_id is not set";

/// The answer to a conference with an external contact, which BYOC CCaaS does not offer.
pub const EXTERNAL_CONFERENCE_MESSAGE: &str =
    "BYOC CCaaS does not support conferencing an external contact";

/// The answer when a request gives no routing type and says it is not a transfer:
/// `/route` and `/agentWork` need a type, and sending a conference or a first routing as a
/// transfer would move the conversation away from its rep.
pub const UNTYPED_ROUTING_MESSAGE: &str = "the routing request gives no routingType and \
     isTransfer is false; the connector will not guess between a conference and an initial routing";

/// Capacity an AgentWork created for a transfer takes.
const AGENT_WORK_CAPACITY_WEIGHT: f64 = 1.0;

/// Who decides a routing request (DESIGN §5); the config reads it from `routing.strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingStrategy {
    /// The partner decides, in its answer or through the sidecar.
    #[default]
    Partner,
    /// The connector routes through Salesforce itself.
    Salesforce,
    /// Every request is answered `success=false`.
    Reject,
}

impl RoutingStrategy {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Partner => "partner",
            Self::Salesforce => "salesforce",
            Self::Reject => "reject",
        }
    }
}

impl fmt::Display for RoutingStrategy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The error for a strategy name that is not `partner`, `salesforce` or `reject`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("routing strategy must be partner, salesforce or reject, got {0:?}")]
pub struct UnknownStrategy(pub String);

impl FromStr for RoutingStrategy {
    type Err = UnknownStrategy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "partner" => Ok(Self::Partner),
            "salesforce" => Ok(Self::Salesforce),
            "reject" => Ok(Self::Reject),
            _ => Err(UnknownStrategy(text.to_owned())),
        }
    }
}

/// The routing type of a request, as the Interaction Service spells it: the payload's
/// `routingType`, else `channelData`'s, else a transfer when `isTransfer` says so; `None` when
/// none of them gives a type this version knows.
pub(super) fn wire_routing_type(event: &RoutingRequestedEvent) -> Option<RoutingType> {
    let from_context = event
        .routing_context
        .as_ref()
        .and_then(|context| context.routing_type.as_ref());
    let known = [event.routing_type.as_ref(), from_context]
        .into_iter()
        .flatten()
        .find_map(|routing_type| match routing_type {
            events::RoutingType::Initial => Some(RoutingType::Initial),
            events::RoutingType::Transfer => Some(RoutingType::Transfer),
            events::RoutingType::Conference => Some(RoutingType::Conference),
            events::RoutingType::Other(_) => None,
        });
    known.or(match event.routing_parameters.is_transfer {
        Some(true) => Some(RoutingType::Transfer),
        _ => None,
    })
}

/// The requested target, reading the rep's id from `rep_user_field` of `routingParameters`
/// when that is not the spec's `userId` (spec §7 gap 3).
pub(super) fn target_of(event: &RoutingRequestedEvent, rep_user_field: &str) -> RoutingTarget {
    let target = event.target();
    if rep_user_field == "userId" || matches!(target, RoutingTarget::Flow { .. }) {
        return target;
    }
    match custom_rep_id(event, rep_user_field) {
        Some(user_id) => RoutingTarget::Rep { user_id },
        None => target,
    }
}

/// A non-empty string at `routingParameters.<field>` of the raw routing payload.
fn custom_rep_id(event: &RoutingRequestedEvent, field: &str) -> Option<String> {
    let routing: serde_json::Value = serde_json::from_str(event.raw_routing()).ok()?;
    routing
        .get("routingParameters")?
        .get(field)?
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// What the salesforce strategy needs to know about one request's calls.
#[derive(Debug, Clone, Copy)]
pub(super) struct SalesforceRequest<'a> {
    /// The request's key, for logs.
    pub event_id: &'a str,
    /// The AgentWork's `routingCorrelationId`; without it the optional `routingContext` is
    /// left out rather than filled with an id Salesforce never issued.
    pub routing_correlation_id: Option<&'a str>,
    /// The conversation.
    pub conversation_identifier: &'a str,
    /// The routing type, when known.
    pub routing_type: Option<RoutingType>,
    /// The MessagingSession id.
    pub work_item_id: &'a str,
}

impl SalesforceRequest<'_> {
    /// `/route` and `/agentWork` require a routing type; an unknown one is sent as a transfer.
    fn required_routing_type(&self) -> RoutingType {
        self.routing_type.unwrap_or(RoutingType::Transfer)
    }
}

/// What the `salesforce` strategy does for `target`: the calls themselves are the machine's.
pub(super) fn plan_target(
    target: RoutingTarget,
    routing_type: Option<RoutingType>,
    fallback_queue_id: Option<&str>,
    is_transfer: Option<bool>,
) -> Target {
    if routing_type.is_none() && is_transfer == Some(false) {
        return Target::Answer(Decision::failed(UNTYPED_ROUTING_MESSAGE));
    }
    match target {
        RoutingTarget::Queue { queue_id } => Target::Route {
            routing_info: RoutingInfo {
                queue_id: Some(queue_id),
                ..RoutingInfo::default()
            },
            kind: "queue",
        },
        RoutingTarget::Flow {
            flow_id,
            fallback_queue_id: requested,
        } => {
            // Salesforce's own example sends `"queueId": null` with a flow, and `/route`
            // refuses a flow without a fallback queue (10024): the configured one fills in.
            let Some(queue_id) = requested.or_else(|| fallback_queue_id.map(str::to_owned)) else {
                return Target::Answer(Decision::failed(NO_FALLBACK_QUEUE_MESSAGE));
            };
            Target::Route {
                routing_info: RoutingInfo {
                    flow: Some(FlowRouting { flow_id, queue_id }),
                    ..RoutingInfo::default()
                },
                kind: "flow",
            }
        }
        RoutingTarget::Rep { user_id } => Target::Rep { user_id },
        RoutingTarget::External { .. } if routing_type == Some(RoutingType::Conference) => {
            Target::Answer(Decision::failed(EXTERNAL_CONFERENCE_MESSAGE))
        }
        RoutingTarget::External { .. } => Target::Answer(Decision::Routed {
            externally_routed: true,
        }),
        RoutingTarget::Bot { .. } => Target::Answer(Decision::failed(
            "transfers to bots are not supported by this channel",
        )),
        RoutingTarget::Unknown => Target::Answer(Decision::failed(
            "the routing request names no rep, queue, flow or external contact",
        )),
    }
}

/// `POST /route` for `routing_info`, retried until `until`.
pub(super) async fn post_route(
    client: &InteractionClient,
    request: &SalesforceRequest<'_>,
    routing_info: RoutingInfo,
    kind: &str,
    until: Instant,
) -> Result<RouteReceipt, CallFailure> {
    let body = PostRouteRequest {
        conversation_identifier: request.conversation_identifier.to_owned(),
        routing_type: request.required_routing_type(),
        routing_info: Some(routing_info),
    };
    match bounded(until, || client.post_route(&body)).await {
        Ok(answer) => {
            info!(
                event_id = request.event_id,
                kind,
                psr_id = answer.psr_id.as_deref(),
                "conversation routed through salesforce"
            );
            Ok(RouteReceipt {
                psr_id: answer.psr_id,
                routing_correlation_id: answer.routing_correlation_id,
            })
        }
        Err(InteractionError::NotLeader) => stand_down(request.event_id).await,
        Err(error) => {
            warn!(event_id = request.event_id, kind, error = %error, "route request failed");
            Err(call_failure(&error))
        }
    }
}

/// What a leader-only call does once this replica no longer leads: nothing, ever. Neither a
/// failure nor a decision may be recorded, because the store may still accept this replica's
/// writes for a moment; the request stays as it was stored, the new leader resumes it, and
/// this replica stops (the connector exits when its lease is lost).
pub(super) async fn stand_down<T>(event_id: &str) -> T {
    warn!(event_id, "routing call not sent: this replica no longer leads; leaving the request to the new leader");
    std::future::pending().await
}

/// A failed call as the machine sees it. A call cut off at its time limit is not permanent:
/// it may have reached Salesforce, so what it asked for may exist (a rep's `/agentWork` is then
/// repeated after the result, where "exists already" counts as done).
pub(super) fn call_failure(error: &InteractionError) -> CallFailure {
    CallFailure {
        text: api_error_text(error),
        permanent: error.class() == ErrorClass::Permanent
            && !matches!(error, InteractionError::DeadlineExceeded),
    }
}

/// `POST /agentWork` for `user_id`, retried until `until`; 15109 counts as done. Gives the
/// AgentWork id Salesforce returned, if any.
pub(super) async fn agent_work(
    client: &InteractionClient,
    request: &SalesforceRequest<'_>,
    user_id: &str,
    until: Instant,
) -> Result<Option<String>, InteractionError> {
    let body = AgentWorkRequest {
        user_id: user_id.to_owned(),
        work_item_id: request.work_item_id.to_owned(),
        capacity: Some(Capacity::Weight(AGENT_WORK_CAPACITY_WEIGHT)),
        routing_context: request.routing_correlation_id.map(|correlation_id| {
            AgentWorkRoutingContext {
                conversation_identifier: request.conversation_identifier.to_owned(),
                routing_type: request.required_routing_type(),
                routing_correlation_id: correlation_id.to_owned(),
            }
        }),
        agent_action_visibilities: None,
    };
    match bounded(until, || client.post_agent_work(&body)).await {
        Ok(answer) => Ok(answer.work_id().map(str::to_owned)),
        Err(error) if error.code() == Some(AGENT_WORK_EXISTS_CODE) => {
            info!(
                event_id = request.event_id,
                "agent work already exists, counted as done"
            );
            Ok(None)
        }
        Err(error) => {
            error!(event_id = request.event_id, error = %error, "agent work failed");
            Err(error)
        }
    }
}

/// Retries `op` until `until`, and cuts off an attempt still in flight there.
pub(super) async fn bounded<T, F, Fut>(until: Instant, op: F) -> Result<T, InteractionError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, InteractionError>>,
{
    match tokio::time::timeout_at(until, retry_until(until, op)).await {
        Ok(result) => result,
        Err(_elapsed) => Err(InteractionError::DeadlineExceeded),
    }
}

/// Salesforce's message and code for the rep, else the error's text.
fn api_error_text(error: &InteractionError) -> String {
    match (error.message(), error.code()) {
        (Some(message), Some(code)) => format!("{message} (code {code})"),
        (Some(message), None) => message.to_owned(),
        _ => error.to_string(),
    }
}
