//! Wire rules of the fake Pub/Sub server and the client's metadata, checked with a raw
//! gRPC client where the connector's own client would hide the detail.

use std::collections::BTreeSet;

use crate::support::*;
use byoc_connector::pubsub::connection::connect_lazy;
use byoc_connector::pubsub::proto::pub_sub_client::PubSubClient as RawClient;
use byoc_connector::pubsub::proto::{
    FetchRequest, ProducerEvent, PublishRequest, ReplayPreset, SchemaRequest, TopicRequest,
};
use byoc_connector::pubsub::status::{
    AUTH_ERROR, ERROR_CODE_TRAILER, REPLAY_ID_VALIDATION_FAILED, REQUESTED_EVENTS_INVALID,
    RPC_ID_TRAILER,
};
use byoc_connector::pubsub::{PubSubClient, RpcError};
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use tokio_util::sync::CancellationToken;
use tonic::Code;

fn raw_client(fake: &fake_salesforce::FakeSalesforce) -> RawClient<tonic::transport::Channel> {
    RawClient::new(connect_lazy(&subscriber_settings(fake).endpoint).unwrap())
}

#[tokio::test]
async fn calls_without_auth_headers_get_unauthenticated_with_salesforce_trailers() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    let mut raw = raw_client(&fake);
    let status = raw
        .get_topic(TopicRequest {
            topic_name: fake.endpoints().topic.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.metadata().get(ERROR_CODE_TRAILER).unwrap(),
        AUTH_ERROR
    );
    let rpc_id = status
        .metadata()
        .get(RPC_ID_TRAILER)
        .expect("rpc-id trailer")
        .to_str()
        .unwrap();
    assert!(
        status.message().ends_with(&format!("rpcId: {rpc_id}")),
        "{}",
        status.message()
    );
    let subscribe = raw
        .subscribe(futures::stream::iter(Vec::<FetchRequest>::new()))
        .await
        .unwrap_err();
    assert_eq!(subscribe.code(), Code::Unauthenticated);
    fake.shutdown().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_a_successful_response_carries_an_rpc_id() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let mut credentials = static_credentials(&fake);
    credentials.0.access_token = "00DFAKE!not-issued".into();
    let client = PubSubClient::new(
        connect_lazy(&subscriber_settings(&fake).endpoint).unwrap(),
        credentials,
    );
    match client.get_topic(&fake.endpoints().topic).await {
        Err(RpcError::Status { status, .. }) => assert_eq!(status.code(), Code::Unauthenticated),
        other => panic!("expected unauthenticated, got {other:?}"),
    }
    let client = PubSubClient::new(
        connect_lazy(&subscriber_settings(&fake).endpoint).unwrap(),
        static_credentials(&fake),
    );
    let topic = client.get_topic(&fake.endpoints().topic).await.unwrap();
    assert!(!topic.rpc_id.is_empty());
    assert!(!topic.schema_id.is_empty());
    // The raw client shows the trailer itself (tonic merges unary trailers into metadata).
    let mut raw = raw_client(&fake);
    let mut request = tonic::Request::new(SchemaRequest {
        schema_id: topic.schema_id.clone(),
    });
    let credentials = static_credentials(&fake).0;
    byoc_connector::pubsub::client::attach_metadata(request.metadata_mut(), &credentials).unwrap();
    let response = raw.get_schema(request).await.unwrap();
    assert!(
        response.metadata().get(RPC_ID_TRAILER).is_some(),
        "rpc-id on a successful response"
    );
    assert!(response
        .into_inner()
        .schema_json
        .contains("com.sforce.eventbus"));
    fake.shutdown().await;
}

#[tokio::test]
async fn every_rpc_carries_a_fresh_client_trace_id() {
    let fake = start_fake(true, PubSubFakeConfig::default()).await;
    fake.publish(&numbered_events(0, 1)).unwrap();
    let mut config = subscriber_settings(&fake);
    config.start = byoc_connector::pubsub::ReplayStart::Earliest;
    let shutdown = CancellationToken::new();
    let mut subscriber = spawn_subscriber(config, &fake, &shutdown);
    next_event(&mut subscriber).await;
    let calls = fake.pubsub().calls();
    let methods: BTreeSet<_> = calls.iter().map(|call| call.method).collect();
    assert!(
        methods.contains("GetTopic")
            && methods.contains("GetSchema")
            && methods.contains("Subscribe")
    );
    let trace_ids: BTreeSet<_> = calls
        .iter()
        .map(|call| call.client_trace_id.clone().expect("trace id"))
        .collect();
    assert_eq!(
        trace_ids.len(),
        calls.len(),
        "each call has its own trace id"
    );
    shutdown.cancel();
    subscriber.join().await.unwrap();
    fake.shutdown().await;
}

/// Opens a raw Subscribe stream with `requests` and returns its final error.
async fn stream_error(
    fake: &fake_salesforce::FakeSalesforce,
    requests: Vec<FetchRequest>,
) -> tonic::Status {
    let mut raw = raw_client(fake);
    let mut request =
        tonic::Request::new(futures::stream::iter(requests).chain(futures::stream::pending()));
    byoc_connector::pubsub::client::attach_metadata(
        request.metadata_mut(),
        &static_credentials(fake).0,
    )
    .unwrap();
    let mut inbound = match raw.subscribe(request).await {
        Ok(response) => response.into_inner(),
        Err(status) => return status,
    };
    loop {
        match tokio::time::timeout(ITEM_TIMEOUT, inbound.message())
            .await
            .expect("stream ends in time")
        {
            Ok(Some(_)) => {}
            Ok(None) => panic!("stream closed without an error"),
            Err(status) => return status,
        }
    }
}

use futures::StreamExt;

#[tokio::test]
async fn zero_credit_is_refused_with_the_salesforce_error_code() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let topic_name = fake.endpoints().topic.clone();
    let status = stream_error(
        &fake,
        vec![FetchRequest {
            topic_name: topic_name.clone(),
            num_requested: 0,
            ..FetchRequest::default()
        }],
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        status.metadata().get(ERROR_CODE_TRAILER).unwrap(),
        REQUESTED_EVENTS_INVALID
    );
    let later_zero = stream_error(
        &fake,
        vec![
            FetchRequest {
                topic_name,
                num_requested: 5,
                ..FetchRequest::default()
            },
            FetchRequest {
                num_requested: -1,
                ..FetchRequest::default()
            },
        ],
    )
    .await;
    assert_eq!(
        later_zero.metadata().get(ERROR_CODE_TRAILER).unwrap(),
        REQUESTED_EVENTS_INVALID
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn a_later_request_naming_another_topic_is_invalid_and_custom_needs_an_id() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let topic_name = fake.endpoints().topic.clone();
    let status = stream_error(
        &fake,
        vec![
            FetchRequest {
                topic_name: topic_name.clone(),
                num_requested: 5,
                ..FetchRequest::default()
            },
            FetchRequest {
                topic_name: "/event/Other__e".to_owned(),
                num_requested: 5,
                ..FetchRequest::default()
            },
        ],
    )
    .await;
    assert_eq!(status.code(), Code::InvalidArgument);
    let custom_without_id = stream_error(
        &fake,
        vec![FetchRequest {
            topic_name,
            replay_preset: ReplayPreset::Custom as i32,
            num_requested: 5,
            ..FetchRequest::default()
        }],
    )
    .await;
    assert_eq!(
        custom_without_id
            .metadata()
            .get(ERROR_CODE_TRAILER)
            .unwrap(),
        REPLAY_ID_VALIDATION_FAILED
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn getschema_with_a_blank_id_is_invalid_and_publish_rejects_oversized_events() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let client = PubSubClient::new(
        connect_lazy(&subscriber_settings(&fake).endpoint).unwrap(),
        static_credentials(&fake),
    );
    match client.get_schema("").await {
        Err(RpcError::Status { status, .. }) => {
            assert_eq!(status.code(), Code::InvalidArgument);
            assert!(status.message().contains("can't be blank"));
        }
        other => panic!("expected invalid argument, got {other:?}"),
    }
    let schema_id = fake.pubsub().topic.current_schema_id();
    let small = ProducerEvent {
        id: "small".to_owned(),
        schema_id: schema_id.clone(),
        payload: vec![0u8; 10].into(),
        headers: Vec::new(),
    };
    let huge = ProducerEvent {
        id: "huge".to_owned(),
        schema_id,
        payload: vec![0u8; 1_100_000].into(),
        headers: Vec::new(),
    };
    let response = client
        .publish(PublishRequest {
            topic_name: fake.endpoints().topic.clone(),
            events: vec![small, huge],
            auth_refresh: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(response.results[0].correlation_key, "small");
    assert_eq!(response.results[0].replay_id.len(), 8);
    assert!(response.results[0].error.is_none());
    assert_eq!(response.results[1].correlation_key, "huge");
    assert!(
        response.results[1].error.is_some(),
        "an event over 1 MB is refused"
    );
    fake.shutdown().await;
}
