//! One fake serving two orgs, driven over its real ports by a plain gRPC client and a plain
//! HTTP client: events, tokens, OAuth clients and recorded calls stay within their org, and a
//! token of one org is refused by the other with Salesforce's errors.

use std::time::Duration;

use fake_salesforce::proto::{FetchRequest, FetchResponse, ReplayPreset, TopicInfo, TopicRequest};
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{Endpoints, FakeConfig, FakeOrgConfig, FakeSalesforce, HarnessError};
use serde_json::{json, Value};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The second org's id.
const ACME: &str = "00DFAKE0000002AAAA";
/// The second org's channel definition.
const ACME_CHANNEL: &str = "Acme_ChannelDefinition1";
/// Longest a test waits for one stream response.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A fake whose first org is the default one and whose second org, `ACME`, has its own
/// channel definition and, when `own_topic`, its own topic name.
async fn two_orgs(own_topic: bool) -> FakeSalesforce {
    let mut acme = FakeOrgConfig {
        channel_definition: ACME_CHANNEL.to_owned(),
        ..FakeOrgConfig::numbered(2)
    };
    if own_topic {
        "Acme_Event__e".clone_into(&mut acme.schema.event_name);
    }
    FakeSalesforce::start(FakeConfig {
        extra_orgs: vec![acme],
        ..FakeConfig::default()
    })
    .await
    .expect("the fake starts")
}

fn event(marker: &str) -> NewEvent {
    NewEvent {
        event_type: Some("Interaction".to_owned()),
        payload: Some(json!({ "marker": marker }).to_string()),
        event_uuid: Some(marker.to_owned()),
        ..NewEvent::default()
    }
}

/// The JSON answer to `request`.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A client credentials token request to the fake at `login_url`.
fn client_credentials(login_url: &str, client_id: &str, secret: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{login_url}/services/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
}

/// `message` with the Pub/Sub auth metadata of `token` and `tenant`.
fn authed<T>(message: T, token: &str, tenant: &str, endpoints: &Endpoints) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert("accesstoken", token.parse().unwrap());
    metadata.insert("tenantid", tenant.parse().unwrap());
    metadata.insert("instanceurl", endpoints.instance_url.parse().unwrap());
    request
}

async fn grpc(endpoints: &Endpoints) -> tonic::client::Grpc<Channel> {
    let channel = Channel::from_shared(endpoints.pubsub.clone())
        .unwrap()
        .connect()
        .await
        .expect("the fake's pubsub port answers");
    tonic::client::Grpc::new(channel)
}

async fn get_topic(
    endpoints: &Endpoints,
    token: &str,
    tenant: &str,
    topic: &str,
) -> Result<TopicInfo, Status> {
    let mut client = grpc(endpoints).await;
    client.ready().await.unwrap();
    let request = TopicRequest {
        topic_name: topic.to_owned(),
    };
    client
        .unary(
            authed(request, token, tenant, endpoints),
            PathAndQuery::from_static("/eventbus.v1.PubSub/GetTopic"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .map(tonic::Response::into_inner)
}

/// Subscribes from the earliest event with `endpoints`' token and org, and returns every
/// event received until one carries `last_marker` (an event's marker is its `EventUuid`,
/// which its Avro payload holds as plain text).
async fn earliest_until(endpoints: &Endpoints, last_marker: &str, markers: &[&str]) -> Vec<String> {
    let mut client = grpc(endpoints).await;
    client.ready().await.unwrap();
    let (requests, outbound) = tokio::sync::mpsc::channel(1);
    requests
        .send(FetchRequest {
            topic_name: endpoints.topic.clone(),
            replay_preset: ReplayPreset::Earliest as i32,
            num_requested: 100,
            ..FetchRequest::default()
        })
        .await
        .unwrap();
    let mut responses = client
        .streaming::<_, FetchRequest, FetchResponse, _>(
            authed(
                tokio_stream::wrappers::ReceiverStream::new(outbound),
                &endpoints.token,
                &endpoints.org_id,
                endpoints,
            ),
            PathAndQuery::from_static("/eventbus.v1.PubSub/Subscribe"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("the subscription is accepted")
        .into_inner();
    let mut seen = Vec::new();
    loop {
        let response = tokio::time::timeout(RESPONSE_TIMEOUT, responses.message())
            .await
            .expect("a response in time")
            .expect("the stream stays healthy")
            .expect("the stream stays open");
        for consumed in response.events {
            let payload = consumed.event.expect("an event").payload;
            let marker = markers
                .iter()
                .find(|marker| {
                    payload
                        .windows(marker.len())
                        .any(|w| w == marker.as_bytes())
                })
                .expect("every event carries a known marker");
            seen.push((*marker).to_owned());
            if *marker == last_marker {
                drop(requests);
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn publishing_on_one_orgs_topic_never_reaches_another_orgs_subscriber() {
    let fake = two_orgs(false).await;
    let acme = fake.org(ACME).expect("the second org");
    assert_eq!(
        acme.endpoints().topic,
        fake.endpoints().topic,
        "both orgs name their topic alike"
    );
    assert_eq!(
        acme.endpoints().pubsub,
        fake.endpoints().pubsub,
        "one endpoint"
    );
    fake.publish(&[event("first-1"), event("first-2")]).unwrap();
    acme.publish(&[event("acme-1")]).unwrap();
    fake.publish(&[event("first-3")]).unwrap();
    let markers = ["first-1", "first-2", "first-3", "acme-1"];

    let acme_saw = earliest_until(acme.endpoints(), "acme-1", &markers).await;
    assert_eq!(
        acme_saw,
        ["acme-1"],
        "the second org's subscriber got only its own event"
    );
    let first_saw = earliest_until(fake.endpoints(), "first-3", &markers).await;
    assert_eq!(first_saw, ["first-1", "first-2", "first-3"]);
    assert_eq!(acme.pubsub().sessions().len(), 1, "sessions are per org");
    assert_eq!(fake.pubsub().sessions().len(), 1);
    fake.shutdown().await;
}

#[tokio::test]
async fn a_token_of_one_org_is_refused_by_pubsub_for_another_org() {
    let fake = two_orgs(true).await;
    let first = fake.endpoints().clone();
    let acme = fake
        .org(&ACME[..15])
        .expect("found by its 15-character id")
        .endpoints()
        .clone();
    assert_eq!(acme.topic, "/event/Acme_Event__e");

    let own = get_topic(&acme, &acme.token, ACME, &acme.topic)
        .await
        .unwrap();
    assert_eq!(own.tenant_guid, ACME);
    let other_tenant = get_topic(&acme, &first.token, ACME, &acme.topic)
        .await
        .unwrap_err();
    assert_eq!(
        other_tenant.code(),
        Code::PermissionDenied,
        "{other_tenant:?}"
    );
    let other_topic = get_topic(&acme, &first.token, &first.org_id, &acme.topic)
        .await
        .unwrap_err();
    assert_eq!(other_topic.code(), Code::NotFound, "{other_topic:?}");
    assert_eq!(
        other_topic
            .metadata()
            .get("error-code")
            .and_then(|value| value.to_str().ok()),
        Some("sfdc.platform.eventbus.grpc.subscription.topic.notfound")
    );
    let unknown = get_topic(&acme, "00DFAKE0000002AAAA!forged", ACME, &acme.topic)
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::Unauthenticated);
    fake.shutdown().await;
}

/// The conversation and MessagingSession the routingResult calls name.
const CONVERSATION: &str = "5c3f1a2b-0d4e-4f6a-8b9c-000000000001";
const WORK_ITEM: &str = "0MwFAKE00000001";

/// `POST /api/v1/routingResult` with `token`, `org_id` (cut to 15 characters) and `context`.
async fn routing_result(base: &str, token: &str, org_id: &str, context: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/routingResult"))
        .bearer_auth(token)
        .header("OrgId", &org_id[..15])
        .header("AuthorizationContext", context)
        .header("RequestId", uuid::Uuid::new_v4().to_string())
        .json(&json!({
            "conversationIdentifier": CONVERSATION,
            "workItemId": WORK_ITEM,
            "success": true,
            "externallyRouted": false,
        }))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn interaction_service_calls_are_refused_across_orgs_and_recorded_per_org() {
    let fake = two_orgs(false).await;
    let first = fake.endpoints().clone();
    let acme_org = fake.org(ACME).unwrap();
    let acme = acme_org.endpoints().clone();
    let base = &acme.interaction;
    acme_org
        .interaction()
        .seed_conversation(CONVERSATION, WORK_ITEM);

    let (status, body) = routing_result(base, &acme.token, ACME, ACME_CHANNEL).await;
    assert_eq!((status, &body), (202, &json!({"success": true})));
    let (status, body) = routing_result(base, &first.token, ACME, ACME_CHANNEL).await;
    assert_eq!(
        status, 400,
        "first org's token with the second org's OrgId: {body}"
    );
    assert_eq!(body["code"], 10016);
    let (status, body) = routing_result(base, &first.token, &first.org_id, ACME_CHANNEL).await;
    assert_eq!(status, 403, "the second org's AuthorizationContext: {body}");
    assert_eq!(body["code"], 10005);
    let (status, body) =
        routing_result(base, &acme.token, ACME, &first.authorization_context).await;
    assert_eq!((status, &body["code"]), (403, &json!(10005)));

    let acme_calls = acme_org.interaction().calls();
    assert_eq!(
        acme_calls.len(),
        2,
        "the calls made with the second org's token"
    );
    assert!(acme_calls
        .iter()
        .all(|call| call.headers["orgid"] == ACME[..15]));
    assert_eq!(
        fake.interaction().calls().len(),
        2,
        "the first org's token's calls"
    );

    // The control plane reads each org's recording.
    let http = reqwest::Client::new();
    let calls = |org: Option<&str>| {
        let url = match org {
            Some(org) => format!(
                "{}/_harness/calls?path=routingResult&org={org}",
                first.control
            ),
            None => format!("{}/_harness/calls?path=routingResult", first.control),
        };
        let http = http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let listed: Vec<Value> = calls(Some(&ACME[..15])).await.json().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["status"], 202);
    let listed: Vec<Value> = calls(None).await.json().await.unwrap();
    assert!(
        listed.iter().all(|call| call["status"] != 202),
        "{listed:?}"
    );
    let unknown = calls(Some("00DNOSUCHORG0001")).await;
    assert_eq!(unknown.status(), 404);
    fake.shutdown().await;
}

#[tokio::test]
async fn the_control_plane_publishes_on_the_org_it_names_and_lists_every_org() {
    let fake = two_orgs(false).await;
    let control = &fake.endpoints().control;
    let http = reqwest::Client::new();
    let published = json_of(
        http.post(format!("{control}/_harness/publish?org={ACME}"))
            .json(&json!({"events": [{"eventType": "Interaction", "payload": {"seq": 1}}]})),
    )
    .await;
    let replay_id = published["replayIds"][0].as_u64().unwrap();
    let acme = fake.org(ACME).unwrap();
    assert_eq!(acme.pubsub().topic.latest_id(), replay_id);
    assert!(
        fake.pubsub()
            .topic
            .read_from(fake_salesforce::topic::FIRST_REPLAY_ID, 10)
            .is_empty(),
        "nothing on the first org's topic"
    );
    let listed = json_of(http.get(format!("{control}/_harness/orgs"))).await;
    let org_ids: Vec<&str> = listed["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|org| org["orgId"].as_str().unwrap())
        .collect();
    assert_eq!(org_ids, [fake.endpoints().org_id.as_str(), ACME]);
    assert_eq!(listed["orgs"][1]["authorizationContext"], ACME_CHANNEL);
    fake.shutdown().await;
}

#[tokio::test]
async fn a_token_request_is_answered_by_the_org_that_registered_the_client() {
    let fake = two_orgs(false).await;
    let acme = fake.org(ACME).unwrap();
    acme.oauth().add_secret_client("3MVG9acme", "acme-secret");
    let login = &acme.endpoints().login_url;
    let granted = json_of(client_credentials(login, "3MVG9acme", "acme-secret")).await;
    let token = granted["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&format!("{ACME}!")), "{token}");
    assert_eq!(acme.oauth().tokens_issued(), 1);
    assert_eq!(fake.oauth().tokens_issued(), 0);
    let userinfo = json_of(
        reqwest::Client::new()
            .get(format!("{login}/services/oauth2/userinfo"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(userinfo["organization_id"], ACME);

    let refused = client_credentials(login, "3MVG9unknown", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        fake.oauth().token_requests(),
        1,
        "an unknown client meets the first org"
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn two_orgs_with_one_id_or_one_static_token_are_refused_at_start() {
    let duplicate = FakeSalesforce::start(FakeConfig {
        extra_orgs: vec![FakeOrgConfig::new(&fake_salesforce::FAKE_ORG_ID[..15])],
        ..FakeConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(duplicate, HarnessError::DuplicateOrg(_)),
        "{duplicate}"
    );
    let shared = FakeSalesforce::start(FakeConfig {
        static_token: Some("same".to_owned()),
        extra_orgs: vec![FakeOrgConfig {
            static_token: Some("same".to_owned()),
            ..FakeOrgConfig::numbered(2)
        }],
        ..FakeConfig::default()
    })
    .await
    .unwrap_err();
    assert!(
        matches!(shared, HarnessError::SharedToken { .. }),
        "{shared}"
    );
}

#[tokio::test]
async fn the_command_starts_several_orgs_and_its_ready_line_lists_them() {
    #[derive(clap::Parser)]
    struct Command {
        #[command(flatten)]
        args: fake_salesforce::cli::Args,
    }
    let parse = |flags: &[&str]| {
        let argv = std::iter::once("fake-salesforce").chain(flags.iter().copied());
        <Command as clap::Parser>::try_parse_from(argv)
            .unwrap()
            .args
    };
    let refused = fake_salesforce::cli::start(&parse(&["--orgs", "2", "--secret-client", "3:c=s"]))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("orgs 1 to 2"), "{refused}");
    let args = parse(&["--orgs", "3", "--secret-client", "2:3MVG9two=two-secret"]);
    let (fake, ready) = fake_salesforce::cli::start(&args).await.unwrap();
    let orgs = ready["orgs"]
        .as_array()
        .expect("the ready line lists the orgs");
    let org_ids: Vec<&str> = orgs
        .iter()
        .map(|org| org["orgId"].as_str().unwrap())
        .collect();
    assert_eq!(
        org_ids,
        [
            "00DFAKE0000001AAAA",
            "00DFAKE0000002AAAA",
            "00DFAKE0000003AAAA"
        ]
    );
    assert_eq!(
        ready["orgId"], "00DFAKE0000001AAAA",
        "the first org at the top level"
    );
    let tokens: std::collections::HashSet<&str> = orgs
        .iter()
        .map(|org| org["token"].as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 3, "each org has its own token");
    assert_eq!(fake.orgs().len(), 3);
    let granted: Value = reqwest::Client::new()
        .post(format!(
            "{}/services/oauth2/token",
            ready["loginUrl"].as_str().unwrap()
        ))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "3MVG9two"),
            ("client_secret", "two-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = granted["access_token"].as_str().expect("a token");
    assert!(
        token.starts_with("00DFAKE0000002AAAA!"),
        "the second org's client: {token}"
    );
    fake.shutdown().await;
}
