//! The BYOC outbound event model: from a platform event's Avro bytes to a typed,
//! lossless `OutboundEvent`, and from that to the partner webhook body.
//!
//! Flow: `decode_avro` (Avro datum → `PlatformEventRecord`), then
//! `OutboundEvent::from_record` (record → `DecodedEvent` with the idempotency key and
//! replay id), then `DecodedEvent::webhook_body` (DESIGN §6). `decode_event` does the
//! first two in one call. Every event keeps Salesforce's original JSON, and decoding
//! never panics: bad input is a `DecodeError` naming the replay id and JSON path.
//! This module knows the spec's payloads (spec/byoc-ccaas.md §1–§2); it must not know
//! gRPC, the Pub/Sub crate types, the pipeline or HTTP.

mod choices;
mod entry;
mod entry_payloads;
mod envelope;
mod error;
mod hex;
mod json_path;
mod message;
mod outbound;
mod participant;
mod raw;
mod record;
mod routing;
mod source;
mod static_content;
mod tagged;
mod time;

pub use choices::{
    ButtonsContent, CarouselContent, Choices, ChoicesResponse, Form, FormInputsContent,
    FormResponse, FormResponseInputsContent, FormResultContent, ListPickerContent, OptionItem,
    QuickRepliesContent, SelectedOption, SelectionsContent, TimePickerContent,
};
pub use entry::{ConversationEntry, EntryPayload, EntryType};
pub use entry_payloads::{
    AcknowledgementEntry, CancelReason, ConsentStatus, ConsultConversationInfoEntry,
    EndUserConsentUpdatedEntry, EstimatedWaitTime, FlagLowerEntry, FlagRaiseEntry, MenuMetadata,
    MenuOption, MessageDeliveryFailedEntry, MessageEntry, MessageReason, MessageUpdatedEntry,
    NoteEntry, ParticipantChange, ParticipantChangedEntry, ParticipantOperation, ProgressIndicator,
    ProgressIndicatorEntry, ProgressIndicatorType, ProgressMessage, QueuePositionEntry,
    RoutingConfigurationDetails, RoutingConfigurationType, RoutingFailureType, RoutingResultEntry,
    RoutingWorkResultEntry, SessionStatus, SessionStatusChangedEntry, TypingIndicatorEntry,
    WorkType,
};
pub use envelope::ROUTING_WINDOW;
pub use error::DecodeError;
pub use hex::replay_id_hex;
pub use message::{
    AbstractMessage, ContentCategory, CustomHandlingType, MessageContent, MessageReference,
    MessageType,
};
pub use outbound::{
    decode_event, DecodedEvent, EventContext, InteractionEvent, OutboundEvent,
    INTERACTION_EVENT_TYPE, ROUTING_REQUESTED_EVENT_TYPE,
};
pub use participant::{AppType, Participant, ParticipantRole, Recipient, Recipients};
pub use raw::RawJson;
pub use record::{decode_avro, FieldNames, PlatformEventRecord};
pub use routing::{
    RoutingContext, RoutingParameters, RoutingRequestedEvent, RoutingTarget, RoutingType, Skill,
};
pub use source::SourcePayload;
pub use static_content::{
    AssetType, Attachment, AttachmentUploadResult, AttachmentsContent, CompletedUpload,
    FailedUpload, Link, LinkItem, LinksContent, MediaAsset, MediaContent, PendingUpload,
    RichLinkContent, StaticContent, TextContent, TitleItem, UploadErrorType, WebViewContent,
    WebViewDisplayType,
};
pub use time::{format_rfc3339_millis, write_rfc3339_millis};
