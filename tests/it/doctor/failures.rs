//! Each way a setup can be wrong, one test each: the failing step's line, its hint, the steps
//! skipped after it, and the exit status.

use fake_salesforce::avro::EventSchemaSpec;
use fake_salesforce::channel_definition::ChannelDefinition;
use toml::Value;

use super::{assert_fails, stdout, step, Setup, EXIT_CHECK_FAILED};

fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_config_fails_step_1_skips_the_rest_and_exits_64() {
    let setup = Setup::start().await;
    let config = setup.config(&[("pubsub", "credit_window", Value::Integer(0))]);

    let output = setup.doctor(&config, &[]).await;

    assert_fails(&output, 64, 1, "pubsub.credit_window", "config example");
    for number in 2..=8 {
        assert!(
            step(&output, number).ends_with(": skipped (needs 1. config valid)"),
            "{}",
            stdout(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_the_fake_refuses_fail_step_2_without_printing_the_secret() {
    let setup = Setup::start().await;
    setup
        .fake
        .oauth()
        .add_secret_client("doctor-client", "the-right-secret");
    let mut config: toml::Table = setup.config(&[]).parse().unwrap();
    let mut auth = toml::Table::new();
    for (key, value) in [
        ("kind", "client-credentials"),
        ("client_id", "doctor-client"),
        ("client_secret", "wrong-secret-5e1"),
        ("login_url", setup.fake.endpoints().login_url.as_str()),
    ] {
        auth.insert(key.to_owned(), text(value));
    }
    auth.insert("insecure".to_owned(), Value::Boolean(true));
    config.insert("auth".to_owned(), Value::Table(auth));

    let output = setup.doctor(&toml::to_string(&config).unwrap(), &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        2,
        "invalid_client",
        "auth.client_secret",
    );
    assert!(step(&output, 3).ends_with("skipped (needs 2. token obtained)"));
    assert!(
        step(&output, 7).starts_with("[pass]"),
        "{}",
        stdout(&output)
    );
    assert!(
        step(&output, 8).starts_with("[pass]"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains("wrong-secret-5e1"));
    assert!(!stdout(&output).contains("the-right-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_the_org_does_not_have_fails_step_4() {
    let setup = Setup::start().await;
    let config = setup.config(&[("pubsub", "topic", text("/event/Wrong__e"))]);

    let output = setup.doctor(&config, &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        4,
        "GetTopic /event/Wrong__e was refused: NotFound",
        "set pubsub.topic",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_field_missing_from_the_schema_fails_step_4() {
    let setup = Setup::start().await;
    let config = setup.config(&[("pubsub", "payload_field", text("Body__c"))]);

    let output = setup.doctor(&config, &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        4,
        "no field Body__c (pubsub.payload_field)",
        "pubsub.payload_field",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_channel_definition_fails_step_5() {
    let setup = Setup::start().await;
    setup.fake.soql().set_channel_definition(None);

    let output = setup.doctor(&setup.config(&[]), &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        5,
        "no ConversationChannelDefinition has DeveloperName = 'Byoc_ChannelDefinition1'",
        "interaction.authorization_context",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_definition_routed_by_salesforce_fails_step_5() {
    let setup = Setup::start().await;
    let mut definition = setup.fake.soql().channel_definition().unwrap();
    definition.routing_owner = "Salesforce".to_owned();
    setup.fake.soql().set_channel_definition(Some(definition));

    let output = setup.doctor(&setup.config(&[]), &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        5,
        "RoutingOwner is Salesforce",
        "RoutingOwner to Partner",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_context_the_token_may_not_use_fails_step_6_with_10005() {
    let setup = Setup::start().await;
    // The org has this channel definition, but the fake's Interaction Service accepts only
    // its own context for the token.
    setup
        .fake
        .soql()
        .set_channel_definition(Some(ChannelDefinition::matching(
            &EventSchemaSpec::default(),
            "Other_ChannelDefinition",
        )));
    let config = setup.config(&[(
        "interaction",
        "authorization_context",
        text("Other_ChannelDefinition"),
    )]);

    let output = setup.doctor(&config, &[]).await;

    assert!(
        step(&output, 5).starts_with("[pass]"),
        "{}",
        stdout(&output)
    );
    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        6,
        "code 10005",
        "interaction.authorization_context",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_webhook_nobody_listens_on_fails_step_7() {
    let setup = Setup::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/webhook");
    let config = setup.config(&[("delivery", "url", text(&url))]);

    let output = setup.doctor(&config, &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        7,
        "(delivery.url) got no answer",
        "check delivery.url",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_under_a_file_fails_step_8() {
    let setup = Setup::start().await;
    let blocker = setup.dir.path().join("not-a-directory");
    std::fs::write(&blocker, "").unwrap();
    let store = blocker.join("state.redb");
    let config = setup.config(&[("store", "path", text(store.to_str().unwrap()))]);

    let output = setup.doctor(&config, &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        8,
        "is not a directory",
        "store.path",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_consent_owner_set_over_the_control_plane_fails_step_5() {
    let setup = Setup::start().await;
    let control = format!(
        "{}/_harness/channel-definition",
        setup.fake.endpoints().control
    );
    let http = reqwest::Client::new();
    let mut definition: serde_json::Value = http
        .get(&control)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    definition["ConsentOwner"] = serde_json::json!("Partner");
    let replaced = http.put(&control).json(&definition).send().await.unwrap();
    assert_eq!(replaced.status(), 204);

    let output = setup.doctor(&setup.config(&[]), &[]).await;

    assert_fails(
        &output,
        EXIT_CHECK_FAILED,
        5,
        "ConsentOwner is Partner, channel.consent_owner is \"salesforce\"",
        "set channel.consent_owner = \"partner\"",
    );
}
