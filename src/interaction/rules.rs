//! The request field rules of the official `inbound-interaction-api.yaml` that types alone
//! cannot enforce (lengths, item counts, ranges, non-empty required strings), checked before a
//! request leaves, so the connector never sends what Salesforce refuses: a broken field is a
//! clear [`InteractionError::InvalidRequest`] naming it and its rule, not a 400 from Salesforce.
//! Enums and required booleans are Rust types already. Ids are never truncated: a wrong id
//! would address another record. It knows nothing about why a request is made.

use crate::interaction::record_id;
use crate::interaction::{history_rules, ConsentRequest, ConversationHistoryRequest};
use crate::interaction::{
    AgentWorkRequest, CapabilitiesRequest, Capacity, DeleteRouteRequest, InteractionError,
    InteractionRequest, PatchAgentWorkRequest, PostRouteRequest, RemoveParticipantRequest,
    RoutingResultRequest,
};

/// `conversationIdentifier` (RoutingResultRequest): `maxLength: 240`.
pub(crate) const MAX_CONVERSATION_IDENTIFIER_CHARS: usize = 240;
/// `InteractionRequestJson.from`: `maxLength: 255`.
pub(crate) const MAX_FROM_CHARS: usize = 255;
/// `InteractionRequestJson.to`: `maxLength: 240`.
pub(crate) const MAX_TO_CHARS: usize = 240;
/// `CustomChannelIntegration.integrationNamespace` and `conversationChannelDefinitionDevName`:
/// `maxLength: 240`.
pub(crate) const MAX_INTEGRATION_NAME_CHARS: usize = 240;
/// `workItemId` (RoutingResultRequest, AgentWorkRequest): `minLength: 15, maxLength: 15`.
pub const WORK_ITEM_ID_CHARS: usize = 15;
/// `ConsentRequest.channelAddressIdentifier` and `endUserClientId`: `maxLength: 240`.
pub const MAX_CONSENT_FIELD_CHARS: usize = 240;

/// Whether `id` is a User id (`005`, 15 letters and digits or their 18-character form).
pub fn is_user_id(id: &str) -> bool {
    (id.len() == 15 || id.len() == 18)
        && id.starts_with("005")
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric())
}

fn invalid(field: &'static str, rule: impl Into<String>) -> InteractionError {
    InteractionError::InvalidRequest {
        field,
        rule: rule.into(),
    }
}

fn required(field: &'static str, value: &str) -> Result<(), InteractionError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "is required and must not be empty"));
    }
    Ok(())
}

fn at_most(field: &'static str, value: &str, max: usize) -> Result<(), InteractionError> {
    required(field, value)?;
    let chars = value.chars().count();
    if chars > max {
        return Err(invalid(
            field,
            format!("is at most {max} characters, this one has {chars}"),
        ));
    }
    Ok(())
}

/// The id as sent (its 15-character form) must have exactly 15 characters.
fn work_item_id(field: &'static str, id: &str) -> Result<(), InteractionError> {
    let sent = record_id::short_form(id);
    if sent.chars().count() != WORK_ITEM_ID_CHARS
        || !sent.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(invalid(
            field,
            format!(
                "is a record id of exactly {WORK_ITEM_ID_CHARS} letters and digits (or its \
                 18-character form), not {} characters",
                id.chars().count()
            ),
        ));
    }
    Ok(())
}

/// `POST /routingResult`.
pub(crate) fn routing_result(request: &RoutingResultRequest) -> Result<(), InteractionError> {
    at_most(
        "conversationIdentifier",
        &request.conversation_identifier,
        MAX_CONVERSATION_IDENTIFIER_CHARS,
    )?;
    work_item_id("workItemId", &request.work_item_id)
}

/// `POST /route`.
pub(crate) fn post_route(request: &PostRouteRequest) -> Result<(), InteractionError> {
    required("conversationIdentifier", &request.conversation_identifier)?;
    if let Some(flow) = request
        .routing_info
        .as_ref()
        .and_then(|info| info.flow.as_ref())
    {
        required("routingInfo.flow.flowId", &flow.flow_id)?;
        required("routingInfo.flow.queueId", &flow.queue_id)?;
    }
    Ok(())
}

/// `DELETE /route`.
pub(crate) fn delete_route(request: &DeleteRouteRequest) -> Result<(), InteractionError> {
    required("conversationIdentifier", &request.conversation_identifier)
}

/// `POST /agentWork`.
pub(crate) fn post_agent_work(request: &AgentWorkRequest) -> Result<(), InteractionError> {
    required("userId", &request.user_id)?;
    work_item_id("workItemId", &request.work_item_id)?;
    match request.capacity {
        Some(Capacity::Weight(weight)) if !(weight >= 0.0 && weight.is_finite()) => {
            return Err(invalid("capacityWeight", "is a number of at least 0"));
        }
        Some(Capacity::Percentage(percentage)) if !(0.0..=100.0).contains(&percentage) => {
            return Err(invalid("capacityPercentage", "is between 0 and 100"));
        }
        _ => {}
    }
    if let Some(context) = &request.routing_context {
        required(
            "routingContext.conversationIdentifier",
            &context.conversation_identifier,
        )?;
        required(
            "routingContext.routingCorrelationId",
            &context.routing_correlation_id,
        )?;
    }
    Ok(())
}

/// `PATCH /agentWork`.
pub(crate) fn patch_agent_work(request: &PatchAgentWorkRequest) -> Result<(), InteractionError> {
    required("workId", &request.work_id)
}

/// `POST /interactions` (the `json` part).
pub(crate) fn post_interactions(request: &InteractionRequest) -> Result<(), InteractionError> {
    at_most("to", &request.to, MAX_TO_CHARS)?;
    at_most("from", &request.from, MAX_FROM_CHARS)?;
    if request.interactions.len() != 1 {
        return Err(invalid(
            "interactions",
            format!(
                "holds exactly one interaction, this one has {}",
                request.interactions.len()
            ),
        ));
    }
    Ok(())
}

/// `PATCH /consent`.
pub fn patch_consent(request: &ConsentRequest) -> Result<(), InteractionError> {
    at_most(
        "channelAddressIdentifier",
        &request.channel_address_identifier,
        MAX_CONSENT_FIELD_CHARS,
    )?;
    at_most(
        "endUserClientId",
        &request.end_user_client_id,
        MAX_CONSENT_FIELD_CHARS,
    )
}

/// `POST /participant`: one rep, named by the 15-character form of its User id (Salesforce
/// answers 10036 for anything else), removed from a conversation.
pub fn remove_participant(request: &RemoveParticipantRequest) -> Result<(), InteractionError> {
    required("conversationIdentifier", &request.conversation_identifier)?;
    if request.operation != "Remove" {
        return Err(invalid(
            "operation",
            "is Remove, the only operation (10097)",
        ));
    }
    let [participant] = request.participants.as_slice() else {
        return Err(invalid(
            "participants",
            format!(
                "holds exactly one participant, this one has {}",
                request.participants.len()
            ),
        ));
    };
    if participant.app_type != "agent" || participant.role != "Agent" {
        return Err(invalid(
            "participants.role",
            "is a rep: appType agent, role Agent (10037, 10038)",
        ));
    }
    if participant.subject.len() != WORK_ITEM_ID_CHARS || !is_user_id(&participant.subject) {
        return Err(invalid(
            "participants.subject",
            "is the 15-character form of a rep's User id (005…)",
        ));
    }
    Ok(())
}

/// `POST /conversationHistory`, at `now_ms` (epoch ms): the rules in
/// [`history_rules`], the broken item's index in the rule.
pub(crate) fn conversation_history(
    request: &ConversationHistoryRequest,
    now_ms: i64,
) -> Result<(), InteractionError> {
    history_rules::check_request(request, now_ms).map_err(|broken| {
        let rule = match broken.place {
            history_rules::Place::Participant(index, _) => {
                format!("(participant {index}) is {}", broken.rule)
            }
            history_rules::Place::Entry(index, _) => format!("(entry {index}) is {}", broken.rule),
            _ => format!("is {}", broken.rule),
        };
        invalid(broken.place.api_field(), rule)
    })
}

/// `PATCH /capabilities`.
pub(crate) fn patch_capabilities(request: &CapabilitiesRequest) -> Result<(), InteractionError> {
    let channels = &request.capabilities.channel_capabilities;
    if channels.is_empty() {
        return Err(invalid(
            "capabilities.channelCapabilities",
            "holds at least one channel",
        ));
    }
    for channel in channels {
        let integration = &channel.custom_integration;
        at_most(
            "customIntegration.integrationNamespace",
            &integration.integration_namespace,
            MAX_INTEGRATION_NAME_CHARS,
        )?;
        at_most(
            "customIntegration.conversationChannelDefinitionDevName",
            &integration.conversation_channel_definition_dev_name,
            MAX_INTEGRATION_NAME_CHARS,
        )?;
        if channel.message_type_capabilities.is_empty() {
            return Err(invalid(
                "channelCapabilities.messageTypeCapabilities",
                "holds at least one message type",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interaction::{HistorySession, RoutingOutcome, RoutingType};

    fn routing_result(conversation: &str, work_item: &str) -> RoutingResultRequest {
        RoutingResultRequest {
            conversation_identifier: conversation.to_owned(),
            work_item_id: work_item.to_owned(),
            outcome: RoutingOutcome::Routed {
                externally_routed: false,
            },
            routing_type: Some(RoutingType::Transfer),
        }
    }

    #[test]
    fn a_routing_result_breaking_a_length_names_the_field() {
        assert!(super::routing_result(&routing_result("c", "0Mw5g0000000001AAA")).is_ok());
        let long = "c".repeat(241);
        let err = super::routing_result(&routing_result(&long, "0Mw5g0000000001")).unwrap_err();
        assert!(err.to_string().contains("conversationIdentifier"), "{err}");
        let err = super::routing_result(&routing_result("c", "0Mw5g00000001")).unwrap_err();
        assert!(err.to_string().contains("workItemId"), "{err}");
    }

    const NOW: i64 = 1_700_000_000_000;
    const MINUTE: i64 = 60_000;

    fn history(entries: usize) -> ConversationHistoryRequest {
        use crate::interaction::{HistoryEntry, HistoryParticipant, Participant};
        let end_user = Participant::end_user("u-1");
        ConversationHistoryRequest {
            channel_address_identifier: "b0ffeafe-0d89-4338-b14a-172ad203f22a".to_owned(),
            conversation_participants: vec![HistoryParticipant {
                participant: end_user.clone(),
                display_name: None,
                joined_time: NOW - 60 * MINUTE,
                left_time: None,
            }],
            conversation_entries: (0..entries)
                .map(|n| {
                    HistoryEntry::text(&format!("id-{n}"), end_user.clone(), "hi", NOW - MINUTE)
                })
                .collect(),
            messaging_session: None,
        }
    }

    fn broken_field(request: &ConversationHistoryRequest) -> &'static str {
        match conversation_history(request, NOW) {
            Err(InteractionError::InvalidRequest { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_history_import_breaking_salesforces_rules_is_refused_before_sending() {
        assert!(conversation_history(&history(25), NOW).is_ok());
        assert_eq!(broken_field(&history(26)), "conversationEntries");
        assert_eq!(broken_field(&history(0)), "conversationEntries");
        let mut old = history(1);
        old.conversation_entries[0].client_timestamp = NOW - 25 * 60 * MINUTE;
        assert_eq!(broken_field(&old), "conversationEntries.clientTimestamp");
        let mut before_joining = history(1);
        before_joining.conversation_entries[0].client_timestamp = NOW - 61 * MINUTE;
        assert_eq!(
            broken_field(&before_joining),
            "conversationEntries.clientTimestamp"
        );
        let mut stranger = history(1);
        stranger.conversation_entries[0].sender.subject = "someone".to_owned();
        assert_eq!(broken_field(&stranger), "conversationEntries.sender");
        let mut bot_forever = history(1);
        let mut bot = bot_forever.conversation_participants[0].clone();
        bot.participant.role = "Chatbot".to_owned();
        bot.participant.app_type = "chatbot".to_owned();
        bot.participant.subject = "bot-1".to_owned();
        bot_forever.conversation_participants.push(bot.clone());
        assert_eq!(
            broken_field(&bot_forever),
            "conversationParticipants.leftTime"
        );
        let mut two_end_users = history(1);
        let mut second = two_end_users.conversation_participants[0].clone();
        second.participant.subject = "u-2".to_owned();
        two_end_users.conversation_participants.push(second);
        assert_eq!(broken_field(&two_end_users), "conversationParticipants");
        let mut attached = history(1);
        attached.messaging_session = Some(HistorySession::AttachMessagingSession {
            session_id: String::new(),
        });
        assert_eq!(
            broken_field(&attached),
            "messagingSession.payload.sessionId"
        );
        let err = conversation_history(&history(26), NOW).unwrap_err();
        assert!(err.to_string().contains("1..=25"), "{err}");
    }

    #[test]
    fn consent_and_participant_removal_breaking_a_rule_are_refused_before_sending() {
        use crate::interaction::ConsentStatus;
        let consent = |end_user: &str| ConsentRequest {
            channel_address_identifier: "b0ffeafe-0d89-4338-b14a-172ad203f22a".to_owned(),
            end_user_client_id: end_user.to_owned(),
            consent_status: ConsentStatus::OptedOut,
        };
        assert!(patch_consent(&consent("u-1")).is_ok());
        let err = patch_consent(&consent(&"u".repeat(241))).unwrap_err();
        assert!(err.to_string().contains("endUserClientId"), "{err}");

        let rep = RemoveParticipantRequest::rep("c-1", "005000000000001AAA");
        assert!(
            remove_participant(&rep).is_ok(),
            "the 18-character id is sent short"
        );
        let mut long_id = rep.clone();
        long_id.participants[0].subject = "005000000000001AAA".to_owned();
        let err = remove_participant(&long_id).unwrap_err();
        assert!(err.to_string().contains("participants.subject"), "{err}");
        let mut end_user = rep.clone();
        end_user.participants[0].role = "EndUser".to_owned();
        assert!(remove_participant(&end_user).is_err());
        let mut two = rep.clone();
        two.participants.push(rep.participants[0].clone());
        let err = remove_participant(&two).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }
}
