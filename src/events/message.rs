//! `AbstractMessage`: the message inside a `Message`, `MessageUpdated`, `Note` or
//! `FlagRaise` entry, and the choice of content by `messageType` (spec §2.4).
//!
//! The formats of each content kind live in `static_content.rs` and `choices.rs`.
//! A message type this version does not model keeps its header and its JSON
//! verbatim. This file knows the payload JSON only; not Avro, not delivery.

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::choices::{Choices, ChoicesResponse, Form, FormResponse};
use super::json_path::{locate, nested_error_message, Anchor};
use super::raw::{null_as_empty, string_enum, RawJson};
use super::static_content::StaticContent;
use super::tagged::{deserialize_tagged, TaggedObject, UnknownObject};

string_enum! {
    /// The kind of message (`messageType`).
    pub enum MessageType {
        /// Text, attachments, links and other fixed content.
        StaticContentMessage => "StaticContentMessage",
        /// Options offered to the end user.
        ChoicesMessage => "ChoicesMessage",
        /// The end user's pick among offered options.
        ChoicesResponseMessage => "ChoicesResponseMessage",
        /// A form to fill in.
        FormMessage => "FormMessage",
        /// A filled-in form.
        FormResponseMessage => "FormResponseMessage",
    }
}

string_enum! {
    /// Special handling asked for a message (`customHandlingType`).
    pub enum CustomHandlingType {
        /// No special handling.
        None => "None",
        /// The message is a survey.
        Survey => "Survey",
    }
}

string_enum! {
    /// What a message is about, for channels with content rules (`contentCategory`).
    pub enum ContentCategory {
        /// A reminder.
        Reminder => "Reminder",
        /// A feedback request.
        Feedback => "Feedback",
        /// An order update.
        OrderUpdate => "OrderUpdate",
        /// An account update.
        AccountUpdate => "AccountUpdate",
        /// Promotional outreach.
        PromotionalOutreach => "PromotionalOutreach",
        /// An authentication message.
        Authentication => "Authentication",
    }
}

/// A record or message a message refers to (`references[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageReference {
    /// A Salesforce record id.
    pub record_id: Option<String>,
    /// A message id.
    pub id: Option<String>,
}

/// A message: common header plus the content its `messageType` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbstractMessage {
    /// The message id (required).
    pub id: String,
    /// The message kind (required); unknown kinds are kept as `Other`.
    pub message_type: MessageType,
    /// The message this one answers.
    pub in_reply_to_message_id: Option<String>,
    /// Records or messages this message refers to.
    pub references: Vec<MessageReference>,
    /// Special handling asked for.
    pub custom_handling_type: Option<CustomHandlingType>,
    /// What the message is about.
    pub content_category: Option<ContentCategory>,
    /// The content, by message kind.
    pub content: MessageContent,
}

/// A message's content, selected by `messageType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageContent {
    /// `StaticContentMessage`: `staticContent`.
    StaticContent(StaticContent),
    /// `ChoicesMessage`: `choices`.
    Choices(Choices),
    /// `ChoicesResponseMessage`: `choicesResponse`.
    ChoicesResponse(ChoicesResponse),
    /// `FormMessage`: `form`.
    Form(Form),
    /// `FormResponseMessage`: `formResponse`.
    FormResponse(FormResponse),
    /// A message type this version does not model; `raw` is the whole message.
    Other {
        /// The whole `AbstractMessage` object as Salesforce sent it.
        raw: RawJson,
    },
}

/// Defines the fields of one message kind: the common header plus its required
/// content member, so a missing content member is reported by its own name.
macro_rules! message_kind_fields {
    ($name:ident, $content_field:ident: $content_type:ty, $variant:ident) => {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct $name {
            id: String,
            in_reply_to_message_id: Option<String>,
            #[serde(default, deserialize_with = "null_as_empty")]
            references: Vec<MessageReference>,
            custom_handling_type: Option<CustomHandlingType>,
            content_category: Option<ContentCategory>,
            $content_field: $content_type,
        }

        impl $name {
            fn into_message(self, message_type: MessageType) -> AbstractMessage {
                AbstractMessage {
                    id: self.id,
                    message_type,
                    in_reply_to_message_id: self.in_reply_to_message_id,
                    references: self.references,
                    custom_handling_type: self.custom_handling_type,
                    content_category: self.content_category,
                    content: MessageContent::$variant(self.$content_field),
                }
            }
        }
    };
}

message_kind_fields!(StaticContentMessageFields, static_content: StaticContent, StaticContent);
message_kind_fields!(ChoicesMessageFields, choices: Choices, Choices);
message_kind_fields!(ChoicesResponseMessageFields, choices_response: ChoicesResponse, ChoicesResponse);
message_kind_fields!(FormMessageFields, form: Form, Form);
message_kind_fields!(FormResponseMessageFields, form_response: FormResponse, FormResponse);

/// The header of a message kind we do not model.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageHeaderFields {
    id: String,
    in_reply_to_message_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    references: Vec<MessageReference>,
    custom_handling_type: Option<CustomHandlingType>,
    content_category: Option<ContentCategory>,
}

impl<'de> TaggedObject<'de> for AbstractMessage {
    const TAG: &'static str = "messageType";

    fn is_known(tag: &str) -> bool {
        !matches!(MessageType::from_wire(tag), MessageType::Other(_))
    }

    fn from_known<D: Deserializer<'de>>(tag: &str, rest: D) -> Result<Self, D::Error> {
        let message_type = MessageType::from_wire(tag);
        match message_type {
            MessageType::StaticContentMessage => StaticContentMessageFields::deserialize(rest)
                .map(|fields| fields.into_message(message_type)),
            MessageType::ChoicesMessage => ChoicesMessageFields::deserialize(rest)
                .map(|fields| fields.into_message(message_type)),
            MessageType::ChoicesResponseMessage => ChoicesResponseMessageFields::deserialize(rest)
                .map(|fields| fields.into_message(message_type)),
            MessageType::FormMessage => {
                FormMessageFields::deserialize(rest).map(|fields| fields.into_message(message_type))
            }
            MessageType::FormResponseMessage => FormResponseMessageFields::deserialize(rest)
                .map(|fields| fields.into_message(message_type)),
            MessageType::Other(other) => Err(de::Error::unknown_variant(&other, &[])),
        }
    }

    fn from_unknown<E: de::Error>(tag: &str, object: UnknownObject<'de>) -> Result<Self, E> {
        let raw = object.to_raw::<E>()?;
        let header: MessageHeaderFields = serde_json::from_str(raw.as_str()).map_err(|error| {
            E::custom(nested_error_message(
                &locate(raw.as_str(), &error),
                Anchor::Object,
            ))
        })?;
        Ok(AbstractMessage {
            id: header.id,
            message_type: MessageType::from_wire(tag),
            in_reply_to_message_id: header.in_reply_to_message_id,
            references: header.references,
            custom_handling_type: header.custom_handling_type,
            content_category: header.content_category,
            content: MessageContent::Other { raw },
        })
    }
}

impl<'de> Deserialize<'de> for AbstractMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_tagged(deserializer)
    }
}

impl AbstractMessage {
    /// The message's plain text, when its format has one (Text, and the optional
    /// caption of Attachments and RichLink, the prompt of Buttons and QuickReplies).
    pub fn text(&self) -> Option<&str> {
        match &self.content {
            MessageContent::StaticContent(content) => content.text(),
            MessageContent::Choices(choices) => choices.text(),
            _ => None,
        }
    }
}
