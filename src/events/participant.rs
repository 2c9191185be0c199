//! Who takes part in a conversation: `Participant` (`{appType, subject, role}`) and an
//! entry's `recipients` lists (spec/byoc-ccaas.md §2.3).
//!
//! Plain data decoded from the payload JSON; it knows nothing about Avro, routing or
//! how events are delivered.

use serde::Deserialize;

use super::raw::{null_as_empty, string_enum, RawJson};

string_enum! {
    /// The kind of application a participant speaks through (`appType`).
    pub enum AppType {
        /// The partner's own channel: end users (`custom`).
        Custom => "custom",
        /// A Salesforce rep (`agent`).
        Agent => "agent",
        /// A bot (`chatbot`).
        Chatbot => "chatbot",
        /// The conversation itself (`conversation`).
        Conversation => "conversation",
        /// Legacy live message (`live_message`).
        LiveMessage => "live_message",
        /// Apple Messages for Business (`iamessage`).
        Iamessage => "iamessage",
        /// An Agentforce digital worker (`digital_worker`).
        DigitalWorker => "digital_worker",
        /// Salesforce messaging (`messaging`).
        Messaging => "messaging",
        /// A telephony integration (`telephony_integration`).
        TelephonyIntegration => "telephony_integration",
        /// A translation service (`translation`).
        Translation => "translation",
        /// A voice bot (`voice_bot`).
        VoiceBot => "voice_bot",
    }
}

string_enum! {
    /// A participant's role in the conversation (`role`).
    pub enum ParticipantRole {
        /// The customer on the partner's channel.
        EndUser => "EndUser",
        /// A bot.
        Chatbot => "Chatbot",
        /// A Salesforce rep.
        Agent => "Agent",
        /// A supervisor.
        Supervisor => "Supervisor",
        /// Salesforce itself.
        System => "System",
        /// The router participant.
        Router => "Router",
        /// An Agentforce digital worker.
        DigitalWorker => "DigitalWorker",
    }
}

/// One participant: `{appType, subject, role}`, all required.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// The application the participant uses.
    pub app_type: AppType,
    /// The participant's id: the end-user client id, or a rep's User id (`005…`).
    pub subject: String,
    /// The participant's role.
    pub role: ParticipantRole,
}

/// An entry's addressees by visibility (`recipients`); every list is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipients {
    /// Addressees who see the entry.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub primary: Vec<Recipient>,
    /// Addressees in copy.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub secondary: Vec<Recipient>,
    /// Addressees hidden from the others.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub hidden: Vec<Recipient>,
}

/// One addressee: `{identifier, displayName?, contact?}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// The addressee's identifier.
    pub identifier: String,
    /// The name shown for the addressee.
    pub display_name: Option<String>,
    /// Contact details, kept verbatim (the spec gives no shape).
    pub contact: Option<RawJson>,
}
