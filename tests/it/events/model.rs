//! The event model decodes every fixture to the right variant and exposes what a
//! partner needs: text, attachment URLs, participant operations, routing targets.

use crate::support::events::{all_fixtures, decode_value, fixture};
use byoc_connector::events::{
    AttachmentUploadResult, Choices, ChoicesResponse, EntryPayload, EntryType, Form, FormResponse,
    MessageContent, MessageType, OutboundEvent, ParticipantOperation, RoutingTarget, SessionStatus,
    StaticContent, UploadErrorType,
};
use serde_json::Value;

/// Every fixture and the webhook `type` it must decode to.
const EXPECTED_TYPES: &[(&str, &str)] = &[
    (
        "consult-conversation-info",
        "interaction.consult_conversation_info",
    ),
    (
        "delivery-acknowledgement",
        "interaction.delivery_acknowledgement",
    ),
    (
        "end-user-consent-updated",
        "interaction.end_user_consent_updated",
    ),
    ("flag-lower", "interaction.flag_lower"),
    ("flag-raise", "interaction.flag_raise"),
    ("message-attachments", "interaction.message"),
    ("message-buttons", "interaction.message"),
    ("message-carousel", "interaction.message"),
    (
        "message-delivery-failed",
        "interaction.message_delivery_failed",
    ),
    ("message-form", "interaction.message"),
    ("message-form-response-inputs", "interaction.message"),
    ("message-form-response-result", "interaction.message"),
    ("message-links", "interaction.message"),
    ("message-list-picker", "interaction.message"),
    ("message-media", "interaction.message"),
    ("message-quick-replies", "interaction.message"),
    ("message-rich-link", "interaction.message"),
    ("message-selections", "interaction.message"),
    ("message-text", "interaction.message"),
    ("message-text-markdown", "interaction.message"),
    ("message-text-with-citations", "interaction.message"),
    ("message-time-picker", "interaction.message"),
    ("message-unmodelled-message-type", "interaction.message"),
    ("message-unmodelled-static-format", "interaction.message"),
    ("message-updated", "interaction.message_updated"),
    ("message-web-view", "interaction.message"),
    ("note", "interaction.note"),
    ("participant-changed-add", "interaction.participant_changed"),
    (
        "participant-changed-remove",
        "interaction.participant_changed",
    ),
    ("progress-indicator", "interaction.progress_indicator"),
    ("queue-position", "interaction.queue_position"),
    ("read-acknowledgement", "interaction.read_acknowledgement"),
    ("routing-requested-bot", "routing.requested"),
    ("routing-requested-conference", "routing.requested"),
    ("routing-requested-external", "routing.requested"),
    ("routing-requested-flow", "routing.requested"),
    ("routing-requested-queue", "routing.requested"),
    ("routing-requested-rep", "routing.requested"),
    ("routing-requested-unknown", "routing.requested"),
    ("routing-result", "interaction.routing_result"),
    ("routing-result-failed", "interaction.routing_result"),
    ("routing-work-result", "interaction.routing_work_result"),
    (
        "session-status-changed",
        "interaction.session_status_changed",
    ),
    (
        "typing-started-indicator",
        "interaction.typing_started_indicator",
    ),
    (
        "typing-stopped-indicator",
        "interaction.typing_stopped_indicator",
    ),
    ("unknown-entry-type", "interaction.unknown"),
];

fn interaction_payload(name: &str) -> EntryPayload {
    match fixture(name).decode() {
        OutboundEvent::Interaction(event) => event.entry.payload,
        other @ OutboundEvent::RoutingRequested(_) => {
            panic!("{name} must be an interaction, got {other:?}")
        }
    }
}

fn message_content(name: &str) -> MessageContent {
    match interaction_payload(name) {
        EntryPayload::Message(message) => message.abstract_message.content,
        other => panic!("{name} must be a message, got {other:?}"),
    }
}

fn static_content(name: &str) -> StaticContent {
    match message_content(name) {
        MessageContent::StaticContent(content) => content,
        other => panic!("{name} must be static content, got {other:?}"),
    }
}

fn choices(name: &str) -> Choices {
    match message_content(name) {
        MessageContent::Choices(choices) => choices,
        other => panic!("{name} must be choices, got {other:?}"),
    }
}

fn routing_target(name: &str) -> RoutingTarget {
    match fixture(name).decode() {
        OutboundEvent::RoutingRequested(request) => request.target(),
        other @ OutboundEvent::Interaction(_) => {
            panic!("{name} must be a routing request, got {other:?}")
        }
    }
}

#[test]
fn every_fixture_decodes_to_the_type_its_name_promises() {
    let fixtures = all_fixtures();
    let mut names: Vec<&str> = fixtures
        .iter()
        .map(|fixture| fixture.name.as_str())
        .collect();
    let mut expected_names: Vec<&str> = EXPECTED_TYPES.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    expected_names.sort_unstable();
    assert_eq!(
        names, expected_names,
        "fixture list and expectations differ"
    );
    for fixture in &fixtures {
        let expected = EXPECTED_TYPES
            .iter()
            .find(|(name, _)| *name == fixture.name)
            .map(|(_, type_name)| *type_name);
        assert_eq!(
            Some(fixture.decode().event_type_name()),
            expected,
            "fixture {}",
            fixture.name
        );
    }
}

#[test]
fn every_interaction_fixture_states_the_same_entry_type_inside_and_out() {
    for fixture in all_fixtures() {
        let OutboundEvent::Interaction(event) = fixture.decode() else {
            continue;
        };
        let payload_type = match &event.entry.payload {
            EntryPayload::Other { entry_type, .. } => EntryType::from_wire(entry_type),
            _ => EntryType::from_wire(&snake_to_pascal(
                event
                    .entry
                    .payload
                    .event_type_name()
                    .trim_start_matches("interaction."),
            )),
        };
        assert_eq!(
            event.entry.entry_type, payload_type,
            "fixture {}",
            fixture.name
        );
    }
}

fn snake_to_pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn text_message_exposes_its_text_sender_and_recipient() {
    let OutboundEvent::Interaction(event) = fixture("message-text").decode() else {
        panic!("message-text must be an interaction");
    };
    assert_eq!(
        event.conversation_identifier,
        "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09"
    );
    assert_eq!(
        event.channel_address_identifier,
        "b0ffeafe-0d89-4338-b14a-172ad203f22a"
    );
    assert_eq!(event.recipient.subject, "end-user-7f3a2c");
    assert_eq!(event.entry.sender.subject, "005xx0000012345");
    assert_eq!(event.entry.sender_display_name.as_deref(), Some("John Dow"));
    assert_eq!(event.entry.transcripted_timestamp_ms, 1_690_344_475_508);
    let EntryPayload::Message(message) = event.entry.payload else {
        panic!("message-text must carry a message");
    };
    assert_eq!(
        message.abstract_message.message_type,
        MessageType::StaticContentMessage
    );
    assert_eq!(message.abstract_message.text(), Some("Hi, how are you?"));
    assert_eq!(message.message_reason, None);
}

#[test]
fn markdown_text_and_message_header_fields_are_kept() {
    let EntryPayload::Message(message) = interaction_payload("message-text-markdown") else {
        panic!("must be a message");
    };
    let text = message.abstract_message.text().unwrap_or_default();
    assert!(text.starts_with("Your order **#4521**"), "{text}");
    assert_eq!(
        message.abstract_message.in_reply_to_message_id.as_deref(),
        Some("prev-msg-01")
    );
    assert_eq!(message.abstract_message.references.len(), 1);
    assert_eq!(
        message
            .message_reason
            .map(|reason| reason.as_str().to_owned()),
        Some("AutomatedResponse".to_owned())
    );
}

#[test]
fn text_with_format_type_after_its_fields_still_decodes_with_citations() {
    let StaticContent::Text(text) = static_content("message-text-with-citations") else {
        panic!("must be text");
    };
    assert!(text.text.starts_with("According to our policy"));
    let citations = text.citation_content.expect("citations are kept");
    assert!(citations.as_str().contains("help.example.com/returns"));
}

#[test]
fn attachments_expose_their_download_urls() {
    let StaticContent::Attachments(content) = static_content("message-attachments") else {
        panic!("must be attachments");
    };
    assert_eq!(content.text.as_deref(), Some("Here is your invoice"));
    assert_eq!(content.attachments.len(), 1);
    let attachment = &content.attachments[0];
    assert_eq!(attachment.mime_type, "image/png");
    assert!(attachment
        .url
        .starts_with("https://example--dev.sandbox.file.force.com/sfc/dist/"));
    assert_eq!(attachment.attachment_upload_result, None);
}

#[test]
fn rich_link_media_links_and_web_view_expose_their_urls() {
    let StaticContent::RichLink(rich_link) = static_content("message-rich-link") else {
        panic!("must be a rich link");
    };
    assert_eq!(
        rich_link.link_item.url.as_deref(),
        Some("https://shop.example.com/spring")
    );
    let StaticContent::Media(media) = static_content("message-media") else {
        panic!("must be media");
    };
    assert_eq!(
        media.media_asset.asset_url,
        "https://cdn.example.com/howto.mp4"
    );
    let StaticContent::Links(links) = static_content("message-links") else {
        panic!("must be links");
    };
    assert_eq!(links.links[0].url, "https://status.example.com");
    let StaticContent::WebView(web_view) = static_content("message-web-view") else {
        panic!("must be a web view");
    };
    assert_eq!(web_view.url, "https://forms.example.com/address");
    assert_eq!(
        web_view.title.and_then(|title| title.title).as_deref(),
        Some("Update your address")
    );
}

#[test]
fn choices_expose_their_prompt_and_option_identifiers() {
    for name in [
        "message-buttons",
        "message-quick-replies",
        "message-list-picker",
    ] {
        let choices = choices(name);
        assert!(choices.text().is_some(), "{name}");
        let identifiers: Vec<&str> = choices
            .option_items()
            .iter()
            .map(|item| item.option_identifier.as_str())
            .collect();
        assert_eq!(identifiers, ["opt-yes", "opt-no"], "{name}");
    }
    let Choices::Carousel(carousel) = choices("message-carousel") else {
        panic!("must be a carousel");
    };
    assert_eq!(carousel.items.len(), 2);
    assert!(matches!(
        choices("message-time-picker"),
        Choices::TimePicker(_)
    ));
}

#[test]
fn selections_and_forms_decode_to_their_formats() {
    let MessageContent::ChoicesResponse(ChoicesResponse::Selections(selections)) =
        message_content("message-selections")
    else {
        panic!("must be selections");
    };
    assert_eq!(selections.selected_options[0].option_identifier, "opt-yes");
    assert_eq!(
        selections.selected_options[0]
            .option_title
            .as_ref()
            .and_then(|title| title.title.as_deref()),
        Some("Yes")
    );
    let MessageContent::Form(Form::Inputs(form)) = message_content("message-form") else {
        panic!("must be a form");
    };
    assert_eq!(form.form_title.title.as_deref(), Some("Shipping address"));
    assert!(matches!(
        message_content("message-form-response-inputs"),
        MessageContent::FormResponse(FormResponse::Inputs(_))
    ));
    assert!(matches!(
        message_content("message-form-response-result"),
        MessageContent::FormResponse(FormResponse::Result(_))
    ));
}

/// The schema makes every title an `AbstractTitleItem` object; a bare string is read too, as the
/// title's text, so a sender that flattens it never costs the event.
#[test]
fn a_title_given_as_a_bare_string_is_read_as_its_text() {
    let mut payload = fixture("message-form").payload_value();
    let form = &mut payload["payload"]["entryPayload"]["abstractMessage"]["form"];
    form["formTitle"] = Value::from("Shipping address");
    let event = decode_value("Interaction", &payload).expect("a string title decodes");
    let OutboundEvent::Interaction(event) = event else {
        panic!("must be an interaction");
    };
    let EntryPayload::Message(message) = event.entry.payload else {
        panic!("must be a message");
    };
    let MessageContent::Form(Form::Inputs(form)) = message.abstract_message.content else {
        panic!("must be a form");
    };
    assert_eq!(form.form_title.title.as_deref(), Some("Shipping address"));
    assert_eq!(form.form_title.item_type, None);
}

#[test]
fn unmodelled_static_format_is_kept_verbatim() {
    let StaticContent::Other { format_type, raw } =
        static_content("message-unmodelled-static-format")
    else {
        panic!("must be kept as other");
    };
    assert_eq!(format_type, "Application");
    let raw_value: Value = serde_json::from_str(raw.as_str()).expect("raw is JSON");
    assert_eq!(raw_value["application"]["applicationType"], "AppleClip");
    assert_eq!(raw_value["formatType"], "Application");
}

#[test]
fn unmodelled_message_type_keeps_its_header_and_raw_json() {
    let EntryPayload::Message(message) = interaction_payload("message-unmodelled-message-type")
    else {
        panic!("must be a message");
    };
    let message = message.abstract_message;
    assert_eq!(message.message_type.as_str(), "ConsentRequestMessage");
    assert!(message.id.starts_with("7a1d0c3e-"));
    let MessageContent::Other { raw } = message.content else {
        panic!("content must be kept as other");
    };
    assert!(raw.as_str().contains("\"consentRequest\""));
}

#[test]
fn message_updated_reports_each_attachment_upload_result() {
    let EntryPayload::MessageUpdated(updated) = interaction_payload("message-updated") else {
        panic!("must be message updated");
    };
    let MessageContent::StaticContent(StaticContent::Attachments(content)) =
        updated.updated_message.content
    else {
        panic!("must carry attachments");
    };
    let results: Vec<&AttachmentUploadResult> = content
        .attachments
        .iter()
        .filter_map(|attachment| attachment.attachment_upload_result.as_ref())
        .collect();
    assert!(matches!(results[0], AttachmentUploadResult::Completed(_)));
    let AttachmentUploadResult::Error(failed) = results[1] else {
        panic!("second upload failed");
    };
    assert_eq!(failed.error_type, UploadErrorType::AttachmentTooLarge);
    let AttachmentUploadResult::Pending(pending) = results[2] else {
        panic!("third upload is pending");
    };
    assert_eq!(pending.reference_id, "upload-90");
}

#[test]
fn participant_changed_reports_the_operation_and_participant() {
    for (name, operation) in [
        ("participant-changed-add", ParticipantOperation::Add),
        ("participant-changed-remove", ParticipantOperation::Remove),
    ] {
        let EntryPayload::ParticipantChanged(changed) = interaction_payload(name) else {
            panic!("{name} must be participant changed");
        };
        assert_eq!(changed.entries[0].operation, Some(operation), "{name}");
        assert_eq!(changed.entries[0].participant.subject, "005xx0000012345");
    }
}

#[test]
fn routing_outcomes_session_status_and_acknowledgements_decode() {
    let EntryPayload::RoutingResult(result) = interaction_payload("routing-result-failed") else {
        panic!("must be a routing result");
    };
    assert_eq!(result.failure_type.as_str(), "RoutingError");
    assert_eq!(result.error_messages.len(), 1);
    let EntryPayload::RoutingWorkResult(work) = interaction_payload("routing-work-result") else {
        panic!("must be a routing work result");
    };
    assert_eq!(work.work_target_id, "0Mwxx0000004CqG");
    assert!(work.agent_group_ids.is_empty());
    let EntryPayload::SessionStatusChanged(status) = interaction_payload("session-status-changed")
    else {
        panic!("must be session status changed");
    };
    assert_eq!(status.session_status, SessionStatus::Ended);
    assert_eq!(status.session_end_time_ms, Some(1_690_344_475_000));
    let EntryPayload::ReadAcknowledgement(read) = interaction_payload("read-acknowledgement")
    else {
        panic!("must be a read acknowledgement");
    };
    assert_eq!(
        read.acknowledged_conversation_entry_identifier,
        "56e10dce-0001-4e2c-9a47-0c2f4a1b2c3d"
    );
    let EntryPayload::ProgressIndicator(progress) = interaction_payload("progress-indicator")
    else {
        panic!("must be a progress indicator");
    };
    assert_eq!(
        progress
            .progress_indicator
            .progress_message
            .map(|message| message.text),
        Some("Looking up your order…".to_owned())
    );
}

#[test]
fn unknown_entry_type_is_kept_verbatim_and_forwarded_as_unknown() {
    let EntryPayload::Other { entry_type, raw } = interaction_payload("unknown-entry-type") else {
        panic!("must be other");
    };
    assert_eq!(entry_type, "TransferProgress");
    let raw_value: Value = serde_json::from_str(raw.as_str()).expect("raw is JSON");
    assert_eq!(raw_value["newFieldNextRelease"]["nested"][2], 3);
}

#[test]
fn each_routing_request_fixture_names_its_target() {
    assert_eq!(
        routing_target("routing-requested-rep"),
        RoutingTarget::Rep {
            user_id: "005xx0000067890".to_owned()
        }
    );
    assert_eq!(
        routing_target("routing-requested-queue"),
        RoutingTarget::Queue {
            queue_id: "00Gxx000000Qabc".to_owned()
        }
    );
    assert_eq!(
        routing_target("routing-requested-flow"),
        RoutingTarget::Flow {
            flow_id: "300SG00000jJder".to_owned(),
            fallback_queue_id: None
        }
    );
    assert_eq!(
        routing_target("routing-requested-bot"),
        RoutingTarget::Bot {
            bot_id: "0Xxxx0000000001".to_owned()
        }
    );
    assert_eq!(
        routing_target("routing-requested-external"),
        RoutingTarget::External {
            contact_id: "+4915112345678".to_owned()
        }
    );
    assert_eq!(
        routing_target("routing-requested-unknown"),
        RoutingTarget::Unknown
    );
}

#[test]
fn routing_request_exposes_event_id_context_and_parameters() {
    let OutboundEvent::RoutingRequested(request) = fixture("routing-requested-flow").decode()
    else {
        panic!("must be a routing request");
    };
    assert_eq!(
        request.event_id(),
        Some("d3bdacb1-7c2e-4f5a-8b9c-0d1e2f3a4b5c")
    );
    let context = request.routing_context.as_ref().unwrap();
    assert_eq!(
        context.conversation(),
        Some(request.conversation_identifier.as_str())
    );
    assert_eq!(
        context.router_participant_subject.as_deref(),
        Some("cb1e4929-5a1b-4c7e-9d2f-0e1f2a3b4c5d")
    );
    assert_eq!(
        request
            .routing_type
            .as_ref()
            .map(byoc_connector::events::RoutingType::as_str),
        Some("Transfer")
    );
    assert_eq!(request.work_record_id, None);
    assert_eq!(request.routing_parameters.is_scrt2, Some(true));
    let OutboundEvent::RoutingRequested(queue) = fixture("routing-requested-queue").decode() else {
        panic!("must be a routing request");
    };
    assert_eq!(queue.routing_parameters.skills_list[0].level, Some(5));
}
