//! The endpoints the fake Interaction Service serves: method, path, and the header rules that
//! differ between them. It knows nothing about their bodies.

use axum::http::Method;

/// The endpoints the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    RoutingResult,
    PostRoute,
    DeleteRoute,
    PostAgentWork,
    PatchAgentWork,
    PostInteractions,
    PatchCapabilities,
    PostMessagingSession,
    PostAcknowledgement,
    PostConversation,
    PatchConsent,
    PostParticipant,
    PostConversationHistory,
}

impl Endpoint {
    pub(crate) fn method(self) -> Method {
        match self {
            Self::DeleteRoute => Method::DELETE,
            Self::PatchAgentWork | Self::PatchCapabilities | Self::PatchConsent => Method::PATCH,
            _ => Method::POST,
        }
    }

    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::RoutingResult => "/api/v1/routingResult",
            Self::PostRoute | Self::DeleteRoute => "/api/v1/route",
            Self::PostAgentWork | Self::PatchAgentWork => "/api/v1/agentWork",
            Self::PostInteractions => "/api/v1/interactions",
            Self::PatchCapabilities => "/api/v1/capabilities",
            Self::PostMessagingSession => "/api/v1/messagingSession",
            Self::PostAcknowledgement => "/api/v1/acknowledgement",
            Self::PostConversation => "/api/v1/conversation",
            Self::PatchConsent => "/api/v1/consent",
            Self::PostParticipant => "/api/v1/participant",
            Self::PostConversationHistory => "/api/v1/conversationHistory",
        }
    }

    /// Salesforce requires `AuthorizationContextType` here (the official definition marks
    /// the header required on `PATCH /agentWork` and `POST /conversationHistory`).
    pub(crate) fn requires_context_type(self) -> bool {
        matches!(self, Self::PatchAgentWork | Self::PostConversationHistory)
    }

    pub(crate) fn is_multipart(self) -> bool {
        self == Self::PostInteractions
    }
}
