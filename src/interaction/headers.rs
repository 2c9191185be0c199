//! The Interaction Service's required request headers.
//!
//! Names as Salesforce documents them; HTTP header names are case-insensitive and go out in
//! lower case (HTTP/2 requires it). It knows nothing about the request bodies.

use std::fmt;

use serde::Deserialize;

/// The 15-character org id.
pub const ORG_ID: &str = "OrgId";
/// The ConversationChannelDefinition developer name, e.g. `Partner1_ChannelDefinition1`.
pub(crate) const AUTHORIZATION_CONTEXT: &str = "AuthorizationContext";
/// What kind of thing `AuthorizationContext` names; required on `PATCH /agentWork`.
pub(crate) const AUTHORIZATION_CONTEXT_TYPE: &str = "AuthorizationContextType";
/// A fresh UUID per request, for tracing on Salesforce's side.
pub(crate) const REQUEST_ID: &str = "RequestId";

/// Values of the `AuthorizationContextType` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum AuthorizationContextType {
    /// A ConversationChannelDefinition: what a BYOC CCaaS connector uses.
    #[default]
    ConversationChannelDefinition,
    /// An Embedded Messaging channel.
    EmbeddedMessagingChannel,
    /// An external conversation participant (bring your own bot).
    ExternalConversationParticipant,
}

impl AuthorizationContextType {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConversationChannelDefinition => "ConversationChannelDefinition",
            Self::EmbeddedMessagingChannel => "EmbeddedMessagingChannel",
            Self::ExternalConversationParticipant => "ExternalConversationParticipant",
        }
    }
}

impl fmt::Display for AuthorizationContextType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
