//! Client of Salesforce's Interaction Service REST API (`https://<MyDomain>.my.salesforce-scrt.com/api/v1`).
//!
//! One typed method per endpoint the connector uses, the required headers on every call, one
//! token refresh on an auth-class answer, error classification ([`ErrorClass`]) and a retry
//! helper bounded by a deadline ([`retry_until`]). Tokens come from [`crate::auth`]. It knows
//! nothing about Pub/Sub, nor about when or why a call is made.

mod agent_work;
mod capabilities;
mod client;
mod error;
pub mod headers;
mod interactions;
mod messaging_session;
mod record_id;
mod retry;
mod routing;
pub mod rules;

pub use agent_work::{
    AgentAction, AgentActionVisibility, AgentWorkRequest, AgentWorkResponse,
    AgentWorkRoutingContext, AgentWorkStatus, Capacity, PatchAgentWorkRequest,
    PatchAgentWorkResponse, WorkContextType,
};
pub use capabilities::{
    Capabilities, CapabilitiesRequest, CapabilitiesResponse, ChannelCapability, CustomIntegration,
    FormatTypeCapability, MessageTypeCapability,
};
pub use client::{Attachment, ClientSettings, InteractionClient, DEFAULT_REQUEST_TIMEOUT};
pub use error::{
    classify, ErrorClass, InteractionError, AUTHORIZATION_CONTEXT_MISMATCH_CODE, AUTH_CODES,
    RETRYABLE_CODES,
};
pub use headers::AuthorizationContextType;
pub use interactions::{Interaction, InteractionRequest, InteractionResponse};
pub use messaging_session::{
    MessagingSessionRequest, MessagingSessionResponse, OperationBy, SessionOperation,
};
pub use retry::{retry_until, RETRY_MAX_DELAY, RETRY_MIN_DELAY};
pub use routing::{
    CancelReason, DeleteRouteRequest, DeleteRouteResponse, FlowRouting, PostRouteRequest,
    PostRouteResponse, RoutingInfo, RoutingOutcome, RoutingResultRequest, RoutingResultResponse,
    RoutingType,
};
