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

pub use acknowledgement::{
    Acknowledgement, AcknowledgementRequest, AcknowledgementResponse, AcknowledgementType,
    Participant, MAX_ACKNOWLEDGEMENTS,
};
pub use agent_work::{
    AgentAction, AgentActionVisibility, AgentWorkRequest, AgentWorkResponse,
    AgentWorkRoutingContext, AgentWorkStatus, Capacity, PatchAgentWorkRequest,
    PatchAgentWorkResponse, WorkContextType,
};
pub use capabilities::{
    Capabilities, CapabilitiesRequest, CapabilitiesResponse, CapabilityViolation,
    ChannelCapability, CustomIntegration, FormatTypeCapability, MessageTypeCapability,
    RegisteredCapabilities, FORMAT_TYPES, MESSAGE_TYPES,
};
pub use client::{
    Attachment, ClientSettings, ConfigErrorObserver, InteractionClient, SendGate,
    DEFAULT_REQUEST_TIMEOUT,
};
pub use consent::{ConsentRequest, ConsentStatus, RemoveParticipantRequest, SuccessResponse};
pub use conversation::{ConversationRequest, ConversationResponse};
pub use delivery_failed::{is_messaging_error_code, DeliveryFailure, MESSAGING_ERROR_CODES};
pub use error::{
    classify, ErrorClass, InteractionError, AUTHORIZATION_CONTEXT_MISMATCH_CODE, AUTH_CODES,
    RETRYABLE_CODES,
};
pub use headers::AuthorizationContextType;
pub use history::{
    ConversationHistoryRequest, ConversationHistoryResponse, HistoryAttachment, HistoryEntry,
    HistoryParticipant, HistorySession, MAX_HISTORY_AGE, MAX_HISTORY_ENTRIES,
    MAX_HISTORY_PARTICIPANTS,
};
pub use interactions::{
    Interaction, InteractionRequest, InteractionResponse, InteractionsObserver,
};
pub use limiter::{RateLimiter, DEFAULT_BURST, DEFAULT_RATE, INTERACTION_RATE_LIMIT};
pub use messaging_session::{
    MessagingSessionRequest, MessagingSessionResponse, OperationBy, SessionOperation,
};
pub use retry::{retry_until, RETRY_MAX_DELAY, RETRY_MIN_DELAY};
pub use routing::{
    CancelReason, DeleteRouteRequest, DeleteRouteResponse, FlowRouting, PostRouteRequest,
    PostRouteResponse, RoutingInfo, RoutingOutcome, RoutingResultRequest, RoutingResultResponse,
    RoutingType,
};
pub use streamed::{StreamError, StreamedFile, MAX_ATTACHMENT_BYTES};
