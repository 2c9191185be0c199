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

pub use acknowledgement::{Acknowledgement, AcknowledgementType, Participant};

pub(crate) use acknowledgement::{AcknowledgementRequest, MAX_ACKNOWLEDGEMENTS};
pub use agent_work::{
    AgentAction, AgentActionVisibility, AgentWorkRequest, AgentWorkResponse,
    AgentWorkRoutingContext, AgentWorkStatus, Capacity, PatchAgentWorkRequest,
    PatchAgentWorkResponse, WorkContextType,
};
pub use capabilities::{
    Capabilities, CapabilitiesRequest, CapabilitiesResponse, CapabilityViolation,
    ChannelCapability, CustomIntegration, FormatTypeCapability, MessageTypeCapability,
    RegisteredCapabilities,
};
pub(crate) use capabilities::{FORMAT_TYPES, MESSAGE_TYPES};
pub(crate) use client::DEFAULT_REQUEST_TIMEOUT;
pub use client::{Attachment, ClientSettings, ConfigErrorObserver, InteractionClient, SendGate};
pub use consent::{ConsentRequest, ConsentStatus, RemoveParticipantRequest};
pub(crate) use conversation::ConversationRequest;
pub use delivery_failed::DeliveryFailure;
pub(crate) use delivery_failed::{is_messaging_error_code, MESSAGING_ERROR_CODES};
pub use error::{ErrorClass, InteractionError};
pub(crate) use error::{AUTHORIZATION_CONTEXT_MISMATCH_CODE, AUTH_CODES};
pub use headers::AuthorizationContextType;
pub use history::{ConversationHistoryRequest, HistoryEntry, HistoryParticipant, HistorySession};
pub(crate) use history::{
    HistoryAttachment, MAX_HISTORY_AGE, MAX_HISTORY_ENTRIES, MAX_HISTORY_PARTICIPANTS,
};
pub(crate) use interactions::InteractionsObserver;
pub use interactions::{Interaction, InteractionRequest, InteractionResponse};
pub(crate) use limiter::RateLimiter;
pub use limiter::INTERACTION_RATE_LIMIT;
pub use messaging_session::{
    MessagingSessionRequest, MessagingSessionResponse, OperationBy, SessionOperation,
};
pub use retry::retry_until;
pub(crate) use retry::{RETRY_MAX_DELAY, RETRY_MIN_DELAY};
pub use routing::{
    CancelReason, DeleteRouteRequest, DeleteRouteResponse, FlowRouting, PostRouteRequest,
    PostRouteResponse, RoutingInfo, RoutingOutcome, RoutingResultRequest, RoutingResultResponse,
    RoutingType,
};
pub(crate) use streamed::{StreamedFile, MAX_ATTACHMENT_BYTES};
