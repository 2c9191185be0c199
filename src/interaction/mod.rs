//! Client of Salesforce's Interaction Service REST API (`https://<MyDomain>.my.salesforce-scrt.com/api/v1`).
//!
//! One typed method per endpoint the connector uses, the required headers on every call, one
//! token refresh on an auth-class answer, error classification ([`ErrorClass`]) and a retry
//! helper bounded by a deadline ([`retry_until`]). Tokens come from [`crate::auth`]. It knows
//! nothing about Pub/Sub, nor about when or why a call is made.

mod acknowledgement;
mod agent_work;
mod capabilities;
mod client;
mod consent;
mod conversation;
mod delivery_failed;
mod error;
pub mod headers;
mod history;
pub(crate) mod history_rules;
mod interactions;
mod limiter;
mod messaging_session;
mod record_id;
mod retry;
mod routing;
pub mod rules;
mod streamed;

pub use acknowledgement::Acknowledgement;

pub use acknowledgement::AcknowledgementType;

pub use acknowledgement::Participant;

pub(crate) use acknowledgement::{AcknowledgementRequest, MAX_ACKNOWLEDGEMENTS};
pub use agent_work::AgentAction;
pub use agent_work::{AgentActionVisibility, AgentWorkResponse, PatchAgentWorkResponse};
pub use agent_work::{
    AgentWorkRequest, AgentWorkRoutingContext, AgentWorkStatus, Capacity, PatchAgentWorkRequest,
    WorkContextType,
};
pub use capabilities::CapabilityViolation;
pub use capabilities::FormatTypeCapability;
pub use capabilities::RegisteredCapabilities;
pub use capabilities::{Capabilities, CapabilitiesRequest, ChannelCapability};
pub use capabilities::{CapabilitiesResponse, CustomIntegration, MessageTypeCapability};
pub(crate) use capabilities::{FORMAT_TYPES, MESSAGE_TYPES};
pub use client::SendGate;
pub(crate) use client::DEFAULT_REQUEST_TIMEOUT;
pub use client::{Attachment, ClientSettings, ConfigErrorObserver, InteractionClient};
pub use consent::{ConsentRequest, ConsentStatus, RemoveParticipantRequest};
pub(crate) use conversation::ConversationRequest;
pub use delivery_failed::DeliveryFailure;
pub(crate) use delivery_failed::{is_messaging_error_code, MESSAGING_ERROR_CODES};
pub use error::{ErrorClass, InteractionError};
pub(crate) use error::{AUTHORIZATION_CONTEXT_MISMATCH_CODE, AUTH_CODES};
pub use headers::AuthorizationContextType;
pub use history::HistorySession;
pub use history::{ConversationHistoryRequest, HistoryEntry, HistoryParticipant};
pub(crate) use history::{
    HistoryAttachment, MAX_HISTORY_AGE, MAX_HISTORY_ENTRIES, MAX_HISTORY_PARTICIPANTS,
};
pub use interactions::InteractionResponse;
pub(crate) use interactions::InteractionsObserver;
pub use interactions::{Interaction, InteractionRequest};
pub(crate) use limiter::RateLimiter;
pub use limiter::INTERACTION_RATE_LIMIT;
pub use messaging_session::MessagingSessionResponse;
pub use messaging_session::{MessagingSessionRequest, OperationBy, SessionOperation};
pub use retry::retry_until;
pub(crate) use retry::{RETRY_MAX_DELAY, RETRY_MIN_DELAY};
pub use routing::{CancelReason, DeleteRouteResponse, PostRouteResponse, RoutingResultResponse};
pub use routing::{
    DeleteRouteRequest, FlowRouting, PostRouteRequest, RoutingInfo, RoutingOutcome,
    RoutingResultRequest, RoutingType,
};
pub(crate) use streamed::{StreamedFile, MAX_ATTACHMENT_BYTES};
