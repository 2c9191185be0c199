//! `RoutingRequested`: Salesforce asks the partner to route a conversation (transfer
//! or conference) and expects one routingResult within 60 s (spec §2.5).
//!
//! Owns the typed routing request, its `channelData` context and the choice of
//! target (rep, queue, flow, bot, external contact). It does not decide or post
//! anything: that is `routing/`'s job. Payload JSON only; no Avro, no HTTP.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::participant::Participant;
use super::raw::{null_as_empty, string_enum};
use super::source::SourcePayload;

string_enum! {
    /// Why routing happens (`routingType`).
    pub enum RoutingType {
        /// First routing of a new conversation.
        Initial => "Initial",
        /// A rep transfers the conversation.
        Transfer => "Transfer",
        /// A rep adds a participant.
        Conference => "Conference",
    }
}

/// A routing request, the `RoutingRequested` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRequestedEvent {
    /// The channel (required).
    pub channel_address_identifier: String,
    /// The end user (required).
    pub recipient: Participant,
    /// The conversation: `payload.conversationIdentifier`, or when that is absent
    /// `channelData.conversationId`. A request naming neither cannot be answered and does not
    /// decode.
    pub conversation_identifier: String,
    /// Why routing happens, as the payload states it.
    pub routing_type: Option<RoutingType>,
    /// The MessagingSession id, when Salesforce sends it.
    pub work_record_id: Option<String>,
    /// Where to route, and the flags Salesforce set.
    pub routing_parameters: RoutingParameters,
    /// The request's identity, parsed from the JSON string `channelData`; `None` when
    /// `channelData` is absent or unreadable (every payload field is optional in the schema).
    pub routing_context: Option<RoutingContext>,
    /// Why `channelData` gave no event id although it was sent, for the logs.
    pub channel_data_problem: Option<String>,
    /// The `routingParameters` fields that could not be read and were left out, for the logs;
    /// the readable ones still route the request.
    pub routing_parameters_problem: Option<String>,
    /// The payload field as received; the webhook forwards its `payload` as `routing`.
    pub source: SourcePayload,
}

/// Where to route and how (`routingParameters`). Every field is optional in the spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutingParameters {
    /// A queue to route to.
    pub queue_id: Option<String>,
    /// A rep (User id) to route to.
    pub user_id: Option<String>,
    /// An Omni-Channel flow to route through.
    pub flow_id: Option<String>,
    /// A bot to route to.
    pub bot_id: Option<String>,
    /// A routing configuration.
    pub routing_config_id: Option<String>,
    /// A service channel.
    pub service_channel_id: Option<String>,
    /// Whether this is a transfer.
    pub is_transfer: Option<bool>,
    /// Whether to fall back when no PendingServiceRouting was created.
    pub is_fallback_on_psr_not_created: Option<bool>,
    /// Whether an estimated wait time is asked for.
    pub is_estimated_wait_time_requested: Option<bool>,
    /// Whether the org runs SCRT 2.
    pub is_scrt2: Option<bool>,
    /// Whether a specific user is required.
    pub is_user_required: Option<bool>,
    /// Skills the target must have.
    pub skills_list: Vec<Skill>,
    /// The `channelData` JSON string exactly as sent; empty when absent.
    pub channel_data: String,
    /// An external contact's id. The spec does not name its field (a gap); see
    /// `external_contact_from` for the reading we chose.
    pub external_contact_id: Option<String>,
}

/// One skill requirement (`skillsList[]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Skill {
    /// The skill id.
    pub id: Option<String>,
    /// The requirement id.
    pub requirement_id: Option<String>,
    /// The skill level.
    pub level: Option<i64>,
    /// The requirement's priority.
    pub priority: Option<i64>,
    /// Whether the skill is additional.
    pub is_additional_skill: Option<bool>,
}

/// The identity of a routing request, parsed from `channelData`.
///
/// Our notes on the public schemas make `eventId`, `conversationId` and `routingType` required,
/// while the official YAML only says `channelData` "maps to RoutingContext", whose fields are
/// named `routingCorrelationId`, `conversationIdentifier` and `routingType`. Every field is
/// read when present under either name and none is required, so a missing `routingType` never
/// costs the request its `eventId`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoutingContext {
    /// The originating ConversationRoutingRequestedEvent's UUID: the key of the request and
    /// the `routingCorrelationId` for `POST /agentWork`.
    pub event_id: Option<String>,
    /// The same UUID under the inbound `RoutingContext`'s name, read when `eventId` is absent.
    pub routing_correlation_id: Option<String>,
    /// The conversation.
    pub conversation_id: Option<String>,
    /// The conversation under the inbound `RoutingContext`'s name, read when `conversationId`
    /// is absent.
    pub conversation_identifier: Option<String>,
    /// Why routing happens.
    pub routing_type: Option<RoutingType>,
    /// The router participant.
    pub router_participant_subject: Option<String>,
}

impl RoutingContext {
    /// The request's UUID: `eventId`, else `routingCorrelationId`; empty counts as absent.
    pub fn key(&self) -> Option<&str> {
        present(self.event_id.as_deref()).or(present(self.routing_correlation_id.as_deref()))
    }

    /// The conversation: `conversationId`, else `conversationIdentifier`; empty counts as
    /// absent.
    pub fn conversation(&self) -> Option<&str> {
        present(self.conversation_id.as_deref())
            .or(present(self.conversation_identifier.as_deref()))
    }
}

/// Where a routing request asks the conversation to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingTarget {
    /// A rep (`routingParameters.userId`).
    Rep {
        /// The rep's User id.
        user_id: String,
    },
    /// A queue (`routingParameters.queueId`).
    Queue {
        /// The queue id.
        queue_id: String,
    },
    /// An Omni-Channel flow (`routingParameters.flowId`).
    Flow {
        /// The flow id.
        flow_id: String,
        /// A queue sent with the flow, usable as `/route`'s fallback queue.
        fallback_queue_id: Option<String>,
    },
    /// A bot (`routingParameters.botId`).
    Bot {
        /// The bot id.
        bot_id: String,
    },
    /// A contact outside the org; answered with `externallyRouted: true`.
    External {
        /// The external contact's id.
        contact_id: String,
    },
    /// No target we recognise; a safe strategy answers `success: false`.
    Unknown,
}

impl RoutingRequestedEvent {
    /// The requested target.
    ///
    /// Precedence when several ids are set: flow (a flow may carry its fallback
    /// queue), then rep, queue, bot, external contact. Empty strings count as absent.
    pub fn target(&self) -> RoutingTarget {
        let parameters = &self.routing_parameters;
        if let Some(flow_id) = present(parameters.flow_id.as_deref()) {
            return RoutingTarget::Flow {
                flow_id: flow_id.to_owned(),
                fallback_queue_id: present(parameters.queue_id.as_deref()).map(str::to_owned),
            };
        }
        if let Some(user_id) = present(parameters.user_id.as_deref()) {
            return RoutingTarget::Rep {
                user_id: user_id.to_owned(),
            };
        }
        if let Some(queue_id) = present(parameters.queue_id.as_deref()) {
            return RoutingTarget::Queue {
                queue_id: queue_id.to_owned(),
            };
        }
        if let Some(bot_id) = present(parameters.bot_id.as_deref()) {
            return RoutingTarget::Bot {
                bot_id: bot_id.to_owned(),
            };
        }
        if let Some(contact_id) = present(parameters.external_contact_id.as_deref()) {
            return RoutingTarget::External {
                contact_id: contact_id.to_owned(),
            };
        }
        RoutingTarget::Unknown
    }

    /// `channelData.eventId`, the originating routing event's UUID, when `channelData` gave one:
    /// the request's key and `/agentWork`'s `routingCorrelationId`.
    pub fn event_id(&self) -> Option<&str> {
        self.routing_context.as_ref().and_then(RoutingContext::key)
    }

    /// The envelope's `payload` (the `RoutingRequestedEvent`) exactly as Salesforce sent it.
    pub fn raw_routing(&self) -> &str {
        self.source.body_json()
    }

    /// The envelope's `recipient` exactly as Salesforce sent it.
    pub fn raw_recipient(&self) -> &str {
        self.source.recipient_json()
    }
}

fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|text| !text.is_empty())
}

/// `routingParameters` as sent; every field is optional.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RoutingParametersFields {
    queue_id: Option<String>,
    user_id: Option<String>,
    flow_id: Option<String>,
    bot_id: Option<String>,
    routing_config_id: Option<String>,
    service_channel_id: Option<String>,
    is_transfer: Option<bool>,
    is_fallback_on_psr_not_created: Option<bool>,
    is_estimated_wait_time_requested: Option<bool>,
    is_scrt2: Option<bool>,
    is_user_required: Option<bool>,
    #[serde(default, deserialize_with = "null_as_empty")]
    skills_list: Vec<Skill>,
    pub(crate) channel_data: Option<String>,
}

impl RoutingParametersFields {
    /// The typed parameters; `channel_data` is empty when absent.
    pub(crate) fn into_parameters(
        self,
        channel_data: String,
        external_contact_id: Option<String>,
    ) -> RoutingParameters {
        RoutingParameters {
            queue_id: self.queue_id,
            user_id: self.user_id,
            flow_id: self.flow_id,
            bot_id: self.bot_id,
            routing_config_id: self.routing_config_id,
            service_channel_id: self.service_channel_id,
            is_transfer: self.is_transfer,
            is_fallback_on_psr_not_created: self.is_fallback_on_psr_not_created,
            is_estimated_wait_time_requested: self.is_estimated_wait_time_requested,
            is_scrt2: self.is_scrt2,
            is_user_required: self.is_user_required,
            skills_list: self.skills_list,
            channel_data,
            external_contact_id,
        }
    }

    /// Whether any modelled target id is set.
    pub(crate) fn has_known_target(&self) -> bool {
        [&self.queue_id, &self.user_id, &self.flow_id, &self.bot_id]
            .into_iter()
            .any(|id| present(id.as_deref()).is_some())
    }
}

/// Finds an external contact's id in `routingParameters` [gap].
///
/// The docs say the event "provides the ID of the external contact" but no field is
/// named. Our reading, chosen to be safe: only when no rep, queue, flow or bot id is
/// set, the first non-empty string field whose name contains `external`
/// (case-insensitive, e.g. `externalContactId`) is the contact. Without such a field
/// the target is `Unknown`, never `External`, so we never claim an external transfer
/// (`externallyRouted: true`) that nothing asked for.
pub(crate) fn external_contact_from(routing_parameters: &RawValue) -> Option<String> {
    let fields: Vec<(Cow<'_, str>, &RawValue)> =
        serde_json::from_str::<RawObject<'_>>(routing_parameters.get())
            .ok()?
            .0;
    fields.into_iter().find_map(|(key, value)| {
        if !key.to_ascii_lowercase().contains("external") {
            return None;
        }
        serde_json::from_str::<String>(value.get())
            .ok()
            .filter(|text| !text.is_empty())
    })
}

/// An object's fields in order, each as borrowed raw JSON.
struct RawObject<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawObjectVisitor;
        impl<'de> serde::de::Visitor<'de> for RawObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::new();
                while let Some(key) = map.next_key_seed(super::raw::CowStr)? {
                    fields.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(RawObject(fields))
            }
        }
        deserializer.deserialize_map(RawObjectVisitor)
    }
}
