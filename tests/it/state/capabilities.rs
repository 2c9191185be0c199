//! `[capabilities]` is registered with `PATCH /capabilities` before the connector is ready; a
//! refusal stops it with Salesforce's code; a bad section is a config error naming the key.

use super::{config_text, Embedded, GRACE};
use crate::support::pipeline::{Partner, ScratchDir, REJECT_ROUTING};
use crate::support::start_fake;
use byoc_connector::config::Config;
use fake_salesforce::interaction_service::InteractionFault;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use serde_json::json;

const REGISTER: &[(&str, &str)] = &[
    ("capabilities.register", "true"),
    (
        "capabilities.formats",
        r#"["StaticContentMessage:Text", "StaticContentMessage:Attachments"]"#,
    ),
    ("capabilities.text_max_length", "2000"),
    ("capabilities.attachment_mime_types", r#"["image/png"]"#),
    ("capabilities.attachment_max_size_kb", "1024"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_capabilities_section_is_registered_before_the_connector_is_ready() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    // Salesforce is briefly unavailable: the connector retries and is not ready meanwhile.
    fake.interaction()
        .inject_fault(InteractionFault::status("capabilities", 503, 3))
        .unwrap();
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("capabilities-registered");
    let config = config_text(
        &fake,
        &partner.url,
        &dir.path().join("state.redb"),
        REJECT_ROUTING,
        REGISTER,
    );
    let connector = Embedded::start(&config).await;
    tokio::time::sleep(GRACE).await;
    let accepted_before = fake
        .interaction()
        .calls_to("capabilities")
        .iter()
        .any(|call| call.status == 200);
    if !accepted_before {
        assert_eq!(
            connector.status_of("/readyz").await,
            Some(503),
            "not ready before salesforce accepted the capabilities"
        );
    }
    connector.wait_ready().await;
    let calls = fake.interaction().calls_to("capabilities");
    assert_eq!(
        calls.iter().map(|call| call.status).collect::<Vec<_>>(),
        vec![503, 503, 503, 200]
    );
    let org_15 = &fake.endpoints().org_id[..15];
    let definition = &fake.endpoints().authorization_context;
    assert_eq!(
        fake.interaction().capabilities(),
        Some(
            json!({"capabilities": {"appType": "custom", "channelCapabilities": [{
                "channelType": "custom",
                "customIntegration": {"customIntegrationType": "CustomChannelIntegration",
                                      "integrationNamespace": org_15,
                                      "conversationChannelDefinitionDevName": definition},
                "messageTypeCapabilities": [{"messageType": "StaticContentMessage", "formatTypeCapabilities": [
                    {"formatType": "Text", "capabilityFieldRestriction": [{"fieldJsonPath": "$.staticContent.text",
                        "restriction": {"fieldRestrictionType": "StringFieldRestriction", "encoding": "UTF8", "maxLength": 2000}}]},
                    {"formatType": "Attachments", "capabilityFieldRestriction": [
                        {"fieldJsonPath": "$.staticContent.attachments.mimeType",
                         "restriction": {"fieldRestrictionType": "MimeTypeRestriction", "mimeType": "image/png"}},
                        {"fieldJsonPath": "$.staticContent.attachments",
                         "restriction": {"fieldRestrictionType": "FileSizeRestriction", "maxSizeInKb": 1024}}]}]}]
            }]}})
        )
    );
    connector.stop().await.unwrap();
    fake.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_registration_stops_the_connector_naming_what_salesforce_refused() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("capabilities-refused");
    let file = dir.path().join("capabilities.json");
    let body = json!({"appType": "agent", "channelCapabilities": [{
        "customIntegration": {"customIntegrationType": "CustomChannelIntegration",
                              "integrationNamespace": "ns", "conversationChannelDefinitionDevName": "x"},
        "messageTypeCapabilities": [{"messageType": "StaticContentMessage",
                                     "formatTypeCapabilities": [{"formatType": "Text"}]}]}]});
    std::fs::write(&file, body.to_string()).unwrap();
    let config = config_text(
        &fake,
        &partner.url,
        &dir.path().join("state.redb"),
        REJECT_ROUTING,
        &[
            ("capabilities.register", "true"),
            (
                "capabilities.file",
                &format!("{:?}", file.display().to_string()),
            ),
        ],
    );
    let connector = Embedded::start(&config).await;
    let error = connector
        .ended()
        .await
        .expect_err("the connector refuses to run");
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    assert!(text.contains("capabilities"), "{text}");
    assert!(text.contains("10037"), "{text}");
    assert!(
        !text.contains(&fake.endpoints().token),
        "no secret in {text}"
    );
    assert!(
        fake.pubsub().sessions().is_empty(),
        "nothing was consumed before the registration"
    );
    fake.shutdown().await;
}

#[test]
fn a_bad_capabilities_section_is_a_config_error_naming_the_key() {
    let base = crate::support::config::MINIMAL;
    let with = |extra: &str| format!("{base}\n[capabilities]\nregister = true\n{extra}\n");
    let error = Config::from_toml_str(&with(r#"formats = ["Carrier:Pigeon"]"#))
        .unwrap_err()
        .to_string();
    assert!(error.contains("capabilities.formats"), "{error}");
    Config::from_toml_str(&with(r#"formats = ["StaticContentMessage:Flow"]"#))
        .expect("Flow is one of the official definition's format types");
    let error = Config::from_toml_str(&with(r#"file = "/nonexistent/capabilities.json""#))
        .unwrap_err()
        .to_string();
    assert!(error.contains("capabilities.file"), "{error}");
    let dir = ScratchDir::new("capabilities-bad-file");
    let file = dir.path().join("capabilities.json");
    std::fs::write(
        &file,
        r#"{"capabilities": {"appType": "custom", "channelCapabilities": 7}}"#,
    )
    .unwrap();
    let error = Config::from_toml_str(&with(&format!("file = {:?}", file.display().to_string())))
        .unwrap_err()
        .to_string();
    assert!(error.contains("capabilities.file"), "{error}");
    assert!(error.contains("channelCapabilities"), "{error}");
    let error = Config::from_toml_str(&with("attachment_max_size_kb = 0"))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("capabilities.attachment_max_size_kb"),
        "{error}"
    );
    let error = Config::from_toml_str(&format!("{base}\n[capabilities]\nregistr = true\n"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("capabilities.registr"), "{error}");
}

#[test]
fn the_example_config_registers_capabilities() {
    let example = Config::from_toml_str(Config::example_toml()).unwrap();
    let request = example
        .capabilities
        .request("00D000000000001", "Partner1_ChannelDefinition1")
        .expect("the example registers");
    assert_eq!(request.capabilities.app_type, "custom");
}
