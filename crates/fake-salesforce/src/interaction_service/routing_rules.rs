//! Body rules of the fake's partner-routing endpoints: `routingResult`, `route`, `agentWork`.
//!
//! Codes from Salesforce's error table: 10012, 10013–10015, 10018, 10024, 10030, 10032, 10033,
//! 10034, 10082–10085, 15106, 15107, 15109, 15111. It knows nothing about the connector's client.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::interaction_service::checks::{
    conversation_id, enum_field, is_record_id, object, required_bool, required_str,
    short_work_item_id, work_item_id, ErrorShape, Refusal, INVALID_PARAMETERS, ROUTING_TYPES,
};
use crate::interaction_service::{random_record_id, InteractionFake};

/// `RoutingResultRequest.conversationIdentifier` is `maxLength: 240`.
const MAX_CONVERSATION_IDENTIFIER_LEN: usize = 240;

/// `POST /routingResult`; errors in the `{success, errorDetail}` shape its response schema has.
pub(super) fn routing_result(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    check_routing_result(fake, body).map_err(|refusal| refusal.shaped(ErrorShape::Detail))?;
    Ok((StatusCode::ACCEPTED, json!({"success": true})))
}

fn check_routing_result(fake: &InteractionFake, body: &Value) -> Result<(), Refusal> {
    let body = object(body)?;
    let conversation = conversation_id(body)?;
    if conversation.len() > MAX_CONVERSATION_IDENTIFIER_LEN {
        return Err(Refusal::bad_request(
            10018,
            "The conversation identifier is not valid.",
        ));
    }
    let work_item = short_work_item_id(body, "workItemId")?;
    let success = required_bool(body, "success")?;
    required_bool(body, "externallyRouted")?;
    enum_field(body, "routingType", &ROUTING_TYPES, false)?;
    // Whether "" or null counts as absent is unverified [gap]; the fake takes the strict
    // reading, so any errorMessage key on success is refused.
    if success && body.contains_key("errorMessage") {
        return Err(Refusal::bad_request(
            10033,
            "Should not pass in error message when routing result success.",
        ));
    }
    let has_message = body
        .get("errorMessage")
        .and_then(Value::as_str)
        .is_some_and(|message| !message.trim().is_empty());
    if !success && !has_message {
        return Err(Refusal::bad_request(
            10034,
            "Error message missing when routing result false.",
        ));
    }
    check_work_item(fake, conversation, work_item)
}

/// The MessagingSession must exist (15111) and be the conversation's (15107).
fn check_work_item(
    fake: &InteractionFake,
    conversation: &str,
    work_item: &str,
) -> Result<(), Refusal> {
    let Some(known) = fake.conversation_of_session(work_item) else {
        return Err(unknown_work_item(work_item));
    };
    if known != conversation {
        return Err(Refusal::bad_request(
            15107,
            &format!("Enter a conversationId that matches a conversation linked to workItemId {work_item}. conversationId {conversation} doesn't match."),
        ));
    }
    Ok(())
}

fn unknown_work_item(work_item: &str) -> Refusal {
    Refusal::bad_request(
        15111,
        &format!("WorkItemId {work_item} for the MessagingSession ID not found."),
    )
}

/// `POST /route`.
pub(super) fn post_route(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    let conversation = conversation_id(body)?;
    enum_field(body, "routingType", &ROUTING_TYPES, true)?;
    if let Some(info) = body.get("routingInfo").filter(|info| !info.is_null()) {
        check_routing_info(object(info)?)?;
    }
    let response = json!({
        "success": true,
        "psrId": random_record_id("0JR"),
        "workItemId": fake.work_item_for(conversation),
        "routingCorrelationId": uuid::Uuid::new_v4().to_string(),
    });
    Ok((StatusCode::ACCEPTED, response))
}

fn check_routing_info(info: &serde_json::Map<String, Value>) -> Result<(), Refusal> {
    let present = |value: Option<&Value>| value.is_some_and(|value| !value.is_null());
    if let Some(flow) = info.get("flow").filter(|flow| !flow.is_null()) {
        let message = "For Flow based Routing, flow ID and Fallback Queue ID are required fields.";
        let flow = object(flow)?;
        required_str(flow, "flowId", 10024, message)?;
        let queue = required_str(flow, "queueId", 10024, message)?;
        return check_queue_id(queue);
    }
    if !present(info.get("queueId")) {
        return Err(Refusal::bad_request(
            10030,
            "Specify either a flow or a queue to Route API.",
        ));
    }
    check_queue_id(
        info.get("queueId")
            .and_then(Value::as_str)
            .unwrap_or_default(),
    )
}

/// Queues are Group records, key prefix `00G`.
fn check_queue_id(queue: &str) -> Result<(), Refusal> {
    if is_record_id(queue, "00G") {
        Ok(())
    } else {
        Err(Refusal::bad_request(
            10032,
            "Specified Queue ID is invalid.",
        ))
    }
}

/// `DELETE /route`.
pub(super) fn delete_route(body: &Value) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    conversation_id(body)?;
    enum_field(
        body,
        "cancelReason",
        &["Unknown", "Unavailable", "Decline", "Cancel"],
        false,
    )?;
    Ok((StatusCode::ACCEPTED, json!({"success": true})))
}

/// `POST /agentWork`.
pub(super) fn post_agent_work(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    let body = object(body)?;
    // An external user id is allowed too, so only presence is checked.
    let user = required_str(body, "userId", 15106, "Invalid User Id parameter")?;
    let work_item = short_work_item_id(body, "workItemId")?;
    check_capacity(body)?;
    let mut conversation = None;
    if let Some(context) = body
        .get("routingContext")
        .filter(|context| !context.is_null())
    {
        let context = object(context)?;
        conversation = Some(conversation_id(context)?);
        enum_field(context, "routingType", &ROUTING_TYPES, true)?;
        required_str(context, "routingCorrelationId", 10089, INVALID_PARAMETERS)?;
    }
    check_action_visibilities(body)?;
    match conversation {
        Some(conversation) => check_work_item(fake, conversation, work_item)?,
        None if fake.conversation_of_session(work_item).is_none() => {
            return Err(unknown_work_item(work_item))
        }
        None => {}
    }
    let Some(work_id) = fake.start_agent_work(user, work_item) else {
        return Err(Refusal::bad_request(
            15109,
            "An active AgentWork record already exists with the same UserId and WorkItemId.",
        ));
    };
    Ok((
        StatusCode::ACCEPTED,
        json!({"success": true, "agentWorkId": work_id}),
    ))
}

/// `agentActionVisibilities`: an array of `{agentAction: Transfer|Conference, visible: bool}`,
/// both required (`AgentActionVisibilityItem`); anything else is 10089.
fn check_action_visibilities(body: &serde_json::Map<String, Value>) -> Result<(), Refusal> {
    let Some(items) = body
        .get("agentActionVisibilities")
        .filter(|items| !items.is_null())
    else {
        return Ok(());
    };
    let items = items
        .as_array()
        .ok_or_else(|| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    for item in items {
        let item = object(item)?;
        enum_field(item, "agentAction", &["Transfer", "Conference"], true)
            .map_err(|_| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
        required_bool(item, "visible")
            .map_err(|_| Refusal::bad_request(10089, INVALID_PARAMETERS))?;
    }
    Ok(())
}

/// Weight or percentage, not both (10013); weight ≥ 0 (10014); percentage 0–100 (10015).
fn check_capacity(body: &serde_json::Map<String, Value>) -> Result<(), Refusal> {
    let weight = body.get("capacityWeight").filter(|value| !value.is_null());
    let percentage = body
        .get("capacityPercentage")
        .filter(|value| !value.is_null());
    if weight.is_some() && percentage.is_some() {
        return Err(Refusal::bad_request(
            10013,
            "Enter either a capacityPercentage or a capacityWeight, but not both.",
        ));
    }
    if let Some(weight) = weight {
        if !weight.as_f64().is_some_and(|weight| weight >= 0.0) {
            return Err(Refusal::bad_request(
                10014,
                "Enter a capacity weight greater than or equal to 0.",
            ));
        }
    }
    if let Some(percentage) = percentage {
        if !percentage
            .as_f64()
            .is_some_and(|percentage| (0.0..=100.0).contains(&percentage))
        {
            return Err(Refusal::bad_request(
                10015,
                "Enter a capacity percentage between 0 and 100, inclusive.",
            ));
        }
    }
    Ok(())
}

/// `PATCH /agentWork`; errors in the `{success, errorDetail}` shape its response schema has.
pub(super) fn patch_agent_work(
    fake: &InteractionFake,
    body: &Value,
) -> Result<(StatusCode, Value), Refusal> {
    check_patch_agent_work(fake, body).map_err(|refusal| refusal.shaped(ErrorShape::Detail))?;
    Ok((StatusCode::ACCEPTED, json!({"success": true})))
}

fn check_patch_agent_work(fake: &InteractionFake, body: &Value) -> Result<(), Refusal> {
    let body = object(body)?;
    let work_message = "Invalid workId: Please provide a valid workId.";
    let work_id = required_str(body, "workId", 10082, work_message)?;
    if !is_record_id(work_id, "0Bz") {
        return Err(Refusal::bad_request(10082, work_message));
    }
    let context_type = body.get("contextType").and_then(Value::as_str);
    if !matches!(context_type, Some("Agent" | "Chatbot")) {
        return Err(Refusal::bad_request(
            10083,
            "Invalid context type: The context type provided is not supported or is invalid.",
        ));
    }
    let status = body.get("status").and_then(Value::as_str);
    let Some(status @ ("Accept" | "Close" | "Decline" | "Cancel")) = status else {
        return Err(Refusal::bad_request(
            10085,
            "Invalid status: Please provide a valid status.",
        ));
    };
    if context_type == Some("Chatbot") {
        work_item_id(body, "workItemId")?;
        required_str(
            body,
            "botId",
            10084,
            "Invalid botId: Please provide a valid botId.",
        )?;
    }
    if status != "Accept" {
        fake.finish_agent_work(work_id);
    }
    Ok(())
}
