//! Two of today's connectors, one per org with the single-channel configuration, as separate
//! processes against ONE fake Salesforce serving both orgs: each delivers only its own org's
//! events, and each registers its capabilities with its own org.

use std::time::Duration;

use crate::support::pipeline::*;
use fake_salesforce::{FakeConfig, FakeOrgConfig, FakeSalesforce};

/// The second org's id.
const ACME: &str = "00DFAKE0000002AAAA";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_connectors_on_one_fake_each_deliver_only_their_own_orgs_events() {
    byoc_connector::install_crypto_provider();
    let fake = FakeSalesforce::start(FakeConfig {
        extra_orgs: vec![FakeOrgConfig {
            channel_definition: "Acme_ChannelDefinition1".to_owned(),
            ..FakeOrgConfig::numbered(2)
        }],
        ..FakeConfig::default()
    })
    .await
    .expect("fake salesforce starts");
    let first = fake.orgs()[0].clone();
    let acme = fake.org(ACME).expect("the second org").clone();
    assert_eq!(
        first.endpoints().topic,
        acme.endpoints().topic,
        "same topic name"
    );

    // One conversation on both orgs: the connector delivers a conversation in order, so an
    // event of the other org on a connector's stream would arrive before that org's last one.
    let conversation = conversation_name(1);
    first
        .publish(
            &(0..10)
                .map(|seq| message_event(&conversation, seq))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    acme.publish(
        &(100..105)
            .map(|seq| message_event(&conversation, seq))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    first.publish(&[message_event(&conversation, 10)]).unwrap();
    acme.publish(&[message_event(&conversation, 105)]).unwrap();

    let first_partner = Partner::accepting().await;
    let acme_partner = Partner::accepting().await;
    let first_dir = ScratchDir::new("multi-org-first");
    let acme_dir = ScratchDir::new("multi-org-acme");
    let first_config = write_connector_config_for(
        first.endpoints(),
        first_dir.path(),
        &first_partner.url,
        REJECT_ROUTING,
    );
    let acme_config = write_connector_config_for(
        acme.endpoints(),
        acme_dir.path(),
        &acme_partner.url,
        REJECT_ROUTING,
    );
    for config in [&first_config, &acme_config] {
        let text = std::fs::read_to_string(config).unwrap();
        std::fs::write(config, format!("{text}\n[capabilities]\nregister = true\n")).unwrap();
    }
    let first_connector = ConnectorProcess::start(&first_config).await;
    let acme_connector = ConnectorProcess::start(&acme_config).await;

    let limit = Duration::from_secs(30);
    wait_until("the first org's last event is delivered", limit, || {
        first_partner.distinct_seqs().contains(&10)
    })
    .await;
    wait_until("the second org's last event is delivered", limit, || {
        acme_partner.distinct_seqs().contains(&105)
    })
    .await;
    assert_eq!(
        first_partner.distinct_seqs(),
        (0..=10).collect(),
        "the first org's connector delivered exactly its org's events; log:\n{}",
        first_connector.log()
    );
    assert_eq!(
        acme_partner.distinct_seqs(),
        (100..=105).collect(),
        "the second org's connector delivered exactly its org's events; log:\n{}",
        acme_connector.log()
    );

    // Each connector registered its capabilities with its own org, under its own OrgId and
    // channel definition.
    for org in [&first, &acme] {
        let calls = org.interaction().calls_to("capabilities");
        assert_eq!(calls.len(), 1, "{}: {calls:?}", org.org_id());
        assert_eq!(calls[0].status, 200, "{calls:?}");
        assert_eq!(calls[0].headers["orgid"], org.org_id()[..15]);
        let registered = org.interaction().capabilities().unwrap();
        assert_eq!(
            registered["capabilities"]["channelCapabilities"][0]["customIntegration"]
                ["conversationChannelDefinitionDevName"],
            org.endpoints().authorization_context.as_str(),
        );
    }
    drop(first_connector);
    drop(acme_connector);
    fake.shutdown().await;
}
