//! The request field rules of the official `inbound-interaction-api.yaml` that types alone
//! cannot enforce (lengths, item counts, ranges, non-empty required strings), checked before a
//! request leaves, so the connector never sends what Salesforce refuses: a broken field is a
//! clear [`InteractionError::InvalidRequest`] naming it and its rule, not a 400 from Salesforce.
//! Enums and required booleans are Rust types already. Ids are never truncated: a wrong id
//! would address another record. It knows nothing about why a request is made.

use crate::interaction::record_id;
use crate::interaction::{
    AgentWorkRequest, CapabilitiesRequest, Capacity, DeleteRouteRequest, InteractionError,
    InteractionRequest, PatchAgentWorkRequest, PostRouteRequest, RoutingResultRequest,
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
pub(crate) const WORK_ITEM_ID_CHARS: usize = 15;

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
    use crate::interaction::{RoutingOutcome, RoutingType};

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
}
