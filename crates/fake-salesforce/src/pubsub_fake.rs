//! The fake Pub/Sub gRPC service: all six RPCs, auth metadata, errors shaped like
//! Salesforce's.
//!
//! Every call must carry `accesstoken`, `instanceurl` and `tenantid`; a missing or
//! unaccepted token gets UNAUTHENTICATED with the `error-code` trailer Salesforce uses.
//! Error descriptions end with `rpcId: <id>` and carry `error-code`/`rpc-id` trailers.
//! Streams are served by [`super::session`], which sees this service only through
//! `session::StreamHost`. It uses only the generated proto, never the connector's client code.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status, Streaming};

use super::faults::Faults;
use super::rpc_id::RpcId;
use super::session::{self, SessionRecord, StreamHost};
use super::tokens::{TokenRegistry, TokenStatus};
use super::topic::TopicLog;
use crate::proto::pub_sub_server::PubSub;
use crate::proto::{
    CommitReplayResponse, Error as EventError, ErrorCode, FetchRequest, FetchResponse,
    ManagedFetchRequest, ManagedFetchResponse, PublishRequest, PublishResponse, PublishResult,
    SchemaInfo, SchemaRequest, TopicInfo, TopicRequest,
};
use crate::wire::{sf_status, AUTH_ERROR, SERVICE_UNAVAILABLE, TOPIC_NOT_FOUND};

/// Largest event the fake accepts, like Salesforce's 1 MB limit.
pub const MAX_EVENT_BYTES: usize = 1_000_000;

/// Stream behaviour settings.
#[derive(Debug, Clone)]
pub struct PubSubFakeConfig {
    /// Idle streams get an empty keepalive this often (Salesforce: within 270 s).
    pub keepalive_interval: Duration,
    /// Close a stream whose credit stayed at zero this long (Salesforce: about 70 s).
    pub idle_close_after: Option<Duration>,
    /// Most events in one response.
    pub max_events_per_response: usize,
    /// Send a Subscribe stream's response headers together with its first response, as gRPC
    /// servers in Java and Go do, instead of at once; on a quiet topic the client then hears
    /// nothing until the first keepalive.
    pub headers_with_first_response: bool,
}

impl Default for PubSubFakeConfig {
    fn default() -> Self {
        Self {
            keepalive_interval: Duration::from_secs(60),
            idle_close_after: Some(Duration::from_secs(70)),
            max_events_per_response: 100,
            headers_with_first_response: false,
        }
    }
}

/// Shared state of the fake Pub/Sub service.
#[derive(Debug)]
pub struct PubSubFake {
    /// The one topic.
    pub topic: TopicLog,
    /// Accepted tokens.
    pub tokens: Arc<TokenRegistry>,
    /// Injected faults.
    pub faults: Faults,
    /// Stream behaviour.
    pub config: PubSubFakeConfig,
    /// Every Subscribe stream so far, oldest first.
    sessions: Mutex<Vec<Arc<SessionRecord>>>,
    /// Method and `x-client-trace-id` of every authenticated call, oldest first.
    calls: Mutex<Vec<GrpcCall>>,
    /// Managed subscriptions' committed positions.
    managed_commits: Arc<Mutex<HashMap<String, bytes::Bytes>>>,
    /// Ends every stream when the fake stops.
    pub(crate) shutdown: CancellationToken,
}

impl PubSubFake {
    /// A fake serving `topic`, accepting `tokens`.
    pub fn new(
        topic: TopicLog,
        tokens: Arc<TokenRegistry>,
        config: PubSubFakeConfig,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            topic,
            tokens,
            faults: Faults::default(),
            config,
            sessions: Mutex::new(Vec::new()),
            calls: Mutex::new(Vec::new()),
            managed_commits: Arc::new(Mutex::new(HashMap::new())),
            shutdown,
        }
    }

    /// Logs of every Subscribe stream so far, oldest first.
    pub fn sessions(&self) -> Vec<super::session::SessionLog> {
        let sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions.iter().map(|record| record.snapshot()).collect()
    }

    /// Every call that passed authentication, oldest first.
    pub fn calls(&self) -> Vec<GrpcCall> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn new_session(&self) -> Arc<SessionRecord> {
        let record = Arc::new(SessionRecord::default());
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record.clone());
        record
    }

    /// Checks the three auth headers and records the call; returns the token.
    fn authenticate(
        &self,
        method: &'static str,
        metadata: &MetadataMap,
        rpc_id: &str,
    ) -> Result<String, Status> {
        let header = |name: &str| {
            metadata
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| !value.is_empty())
        };
        let unauthenticated =
            |message: &str| sf_status(Code::Unauthenticated, message, Some(AUTH_ERROR), rpc_id);
        let (Some(token), Some(_instance_url), Some(tenant_id)) = (
            header("accesstoken"),
            header("instanceurl"),
            header("tenantid"),
        ) else {
            return Err(unauthenticated(
                "the accesstoken, instanceurl and tenantid headers are required",
            ));
        };
        match self.tokens.status(token) {
            TokenStatus::Valid => {}
            TokenStatus::Expired => return Err(unauthenticated("the access token expired")),
            TokenStatus::Unknown => return Err(unauthenticated("the access token is not valid")),
        }
        let org_id = self.tokens.org_id();
        if tenant_id != org_id && Some(tenant_id) != org_id.get(..15) {
            return Err(sf_status(
                Code::PermissionDenied,
                &format!("tenant {tenant_id} does not match the token's org"),
                None,
                rpc_id,
            ));
        }
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(GrpcCall {
                method,
                client_trace_id: header("x-client-trace-id").map(str::to_owned),
            });
        Ok(token.to_owned())
    }

    async fn delay(&self) {
        let latency = self.faults.latency();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
    }

    fn check_topic(&self, topic_name: &str, rpc_id: &str) -> Result<(), Status> {
        if topic_name == self.topic.topic_name() {
            return Ok(());
        }
        Err(sf_status(
            Code::NotFound,
            &format!("topic {topic_name} not found"),
            Some(TOPIC_NOT_FOUND),
            rpc_id,
        ))
    }

    fn publish_results(&self, request: PublishRequest) -> Vec<PublishResult> {
        let mut results = Vec::with_capacity(request.events.len());
        let mut accepted = Vec::new();
        let mut accepted_positions = Vec::new();
        for event in request.events {
            let correlation_key = event.id.clone();
            if event.payload.len() > MAX_EVENT_BYTES {
                results.push(PublishResult {
                    replay_id: bytes::Bytes::new(),
                    error: Some(EventError {
                        code: ErrorCode::Publish as i32,
                        msg: format!(
                            "the event exceeds the maximum size of {MAX_EVENT_BYTES} bytes"
                        ),
                    }),
                    correlation_key,
                });
                continue;
            }
            accepted_positions.push(results.len());
            results.push(PublishResult {
                replay_id: bytes::Bytes::new(),
                error: None,
                correlation_key,
            });
            accepted.push(event);
        }
        let replay_ids = self.topic.append(accepted);
        for (position, replay_id) in accepted_positions.into_iter().zip(replay_ids) {
            results[position].replay_id = bytes::Bytes::copy_from_slice(&replay_id.to_be_bytes());
        }
        results
    }
}

/// One authenticated call, as the fake saw it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrpcCall {
    /// RPC name, e.g. `Subscribe`.
    pub method: &'static str,
    /// The client's `x-client-trace-id`, if sent.
    pub client_trace_id: Option<String>,
}

impl StreamHost for PubSubFake {
    fn topic(&self) -> &TopicLog {
        &self.topic
    }

    fn faults(&self) -> &Faults {
        &self.faults
    }

    fn tokens(&self) -> &TokenRegistry {
        &self.tokens
    }

    fn keepalive_interval(&self) -> Duration {
        self.config.keepalive_interval
    }

    fn idle_close_after(&self) -> Option<Duration> {
        self.config.idle_close_after
    }

    fn max_events_per_response(&self) -> usize {
        self.config.max_events_per_response
    }

    fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }
}

/// The tonic service over a shared [`PubSubFake`].
#[derive(Debug, Clone)]
pub struct PubSubService(pub Arc<PubSubFake>);

type ResponseStream<T> = ReceiverStream<Result<T, Status>>;

#[tonic::async_trait]
impl PubSub for PubSubService {
    type SubscribeStream = BoxStream<'static, Result<FetchResponse, Status>>;
    type PublishStreamStream = ResponseStream<PublishResponse>;
    type ManagedSubscribeStream = ResponseStream<ManagedFetchResponse>;

    async fn subscribe(
        &self,
        request: Request<Streaming<FetchRequest>>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let rpc_id = RpcId::of(&request);
        let token = self
            .0
            .authenticate("Subscribe", request.metadata(), &rpc_id)?;
        if self.0.faults.take_resource_exhausted() {
            return Err(sf_status(
                Code::ResourceExhausted,
                "the service received too many connections and doesn't have the resources to accept new connections",
                None,
                &rpc_id,
            ));
        }
        if self.0.faults.take_service_unavailable() {
            return Err(sf_status(
                Code::Unavailable,
                "The service is unavailable. Try again later.",
                Some(SERVICE_UNAVAILABLE),
                &rpc_id,
            ));
        }
        let (outbound, mut responses) = mpsc::channel(4);
        let record = self.0.new_session();
        let inbound = request.into_inner();
        tokio::spawn(session::run(
            self.0.clone(),
            token,
            rpc_id,
            inbound,
            outbound,
            record,
        ));
        if !self.0.config.headers_with_first_response {
            return Ok(Response::new(ReceiverStream::new(responses).boxed()));
        }
        // Returning from the handler sends the headers, so wait for the first response; a
        // stream that fails first answers with trailers only, as those servers do.
        match responses.recv().await {
            Some(Ok(first)) => Ok(Response::new(
                futures::stream::once(async { Ok(first) })
                    .chain(ReceiverStream::new(responses))
                    .boxed(),
            )),
            Some(Err(status)) => Err(status),
            None => Ok(Response::new(futures::stream::empty().boxed())),
        }
    }

    async fn get_schema(
        &self,
        request: Request<SchemaRequest>,
    ) -> Result<Response<SchemaInfo>, Status> {
        let rpc_id = RpcId::of(&request);
        self.0
            .authenticate("GetSchema", request.metadata(), &rpc_id)?;
        self.0.delay().await;
        let schema_id = request.into_inner().schema_id;
        if schema_id.is_empty() {
            return Err(sf_status(
                Code::InvalidArgument,
                "Schema validation failed. The schema ID can't be blank.",
                None,
                &rpc_id,
            ));
        }
        let Some(schema_json) = self.0.topic.schema_json(&schema_id) else {
            return Err(sf_status(
                Code::NotFound,
                &format!("schema {schema_id} not found"),
                None,
                &rpc_id,
            ));
        };
        Ok(Response::new(SchemaInfo {
            schema_json,
            schema_id,
            rpc_id,
        }))
    }

    async fn get_topic(
        &self,
        request: Request<TopicRequest>,
    ) -> Result<Response<TopicInfo>, Status> {
        let rpc_id = RpcId::of(&request);
        self.0
            .authenticate("GetTopic", request.metadata(), &rpc_id)?;
        self.0.delay().await;
        let topic_name = request.into_inner().topic_name;
        self.0.check_topic(&topic_name, &rpc_id)?;
        Ok(Response::new(TopicInfo {
            topic_name,
            tenant_guid: self.0.tokens.org_id().to_owned(),
            can_publish: true,
            can_subscribe: true,
            schema_id: self.0.topic.current_schema_id(),
            rpc_id,
        }))
    }

    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let rpc_id = RpcId::of(&request);
        self.0
            .authenticate("Publish", request.metadata(), &rpc_id)?;
        self.0.delay().await;
        let request = request.into_inner();
        self.0.check_topic(&request.topic_name, &rpc_id)?;
        let results = self.0.publish_results(request);
        Ok(Response::new(PublishResponse {
            results,
            schema_id: self.0.topic.current_schema_id(),
            rpc_id,
        }))
    }

    async fn publish_stream(
        &self,
        request: Request<Streaming<PublishRequest>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let rpc_id = RpcId::of(&request);
        self.0
            .authenticate("PublishStream", request.metadata(), &rpc_id)?;
        let mut inbound = request.into_inner();
        let (outbound, responses) = mpsc::channel(4);
        let fake = self.0.clone();
        tokio::spawn(async move {
            let mut stream_topic: Option<String> = None;
            while let Some(Ok(request)) = inbound.next().await {
                let topic = stream_topic.get_or_insert_with(|| request.topic_name.clone());
                let reply = if !request.topic_name.is_empty() && request.topic_name != *topic {
                    Err(sf_status(
                        Code::InvalidArgument,
                        "a publish request named a different topic than the stream",
                        None,
                        &rpc_id,
                    ))
                } else {
                    fake.check_topic(topic, &rpc_id).map(|()| PublishResponse {
                        results: fake.publish_results(request),
                        schema_id: fake.topic.current_schema_id(),
                        rpc_id: rpc_id.clone(),
                    })
                };
                let failed = reply.is_err();
                if outbound.send(reply).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(responses)))
    }

    async fn managed_subscribe(
        &self,
        request: Request<Streaming<ManagedFetchRequest>>,
    ) -> Result<Response<Self::ManagedSubscribeStream>, Status> {
        let rpc_id = RpcId::of(&request);
        let token = self
            .0
            .authenticate("ManagedSubscribe", request.metadata(), &rpc_id)?;
        let mut inbound = request.into_inner();
        let Some(first) = inbound.next().await.transpose()? else {
            return Err(sf_status(
                Code::InvalidArgument,
                "no request on the stream",
                None,
                &rpc_id,
            ));
        };
        let subscription = [&first.subscription_id, &first.developer_name]
            .into_iter()
            .find(|name| !name.is_empty())
            .cloned()
            .ok_or_else(|| {
                sf_status(
                    Code::InvalidArgument,
                    "a subscription_id or developer_name is required",
                    None,
                    &rpc_id,
                )
            })?;
        let commits = self.0.managed_commits.clone();
        let committed = commits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&subscription)
            .cloned();
        // A managed subscription resumes after its last commit, else at the tip.
        let first_fetch = FetchRequest {
            topic_name: self.0.topic.topic_name().to_owned(),
            replay_preset: if committed.is_some() { 2 } else { 0 },
            replay_id: committed.unwrap_or_default(),
            num_requested: first.num_requested,
            auth_refresh: String::new(),
        };
        let acknowledged: Arc<Mutex<Vec<CommitReplayResponse>>> = Arc::default();
        let fetches = {
            let acknowledged = acknowledged.clone();
            let commits = commits.clone();
            let subscription = subscription.clone();
            futures::stream::once(async move { Ok(first_fetch) }).chain(inbound.filter_map(
                move |request| {
                    let translated = match request {
                        Err(status) => Some(Err(status)),
                        Ok(request) => {
                            if let Some(commit) = &request.commit_replay_id_request {
                                commits
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .insert(subscription.clone(), commit.replay_id.clone());
                                acknowledged
                                    .lock()
                                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                                    .push(CommitReplayResponse {
                                        commit_request_id: commit.commit_request_id.clone(),
                                        replay_id: commit.replay_id.clone(),
                                        error: None,
                                        process_time: super::topic::wall_clock_ms(),
                                    });
                            }
                            let commit_only = request.commit_replay_id_request.is_some()
                                && request.num_requested == 0;
                            (!commit_only).then(|| {
                                Ok(FetchRequest {
                                    num_requested: request.num_requested,
                                    ..FetchRequest::default()
                                })
                            })
                        }
                    };
                    std::future::ready(translated)
                },
            ))
        };
        let (fetch_out, mut fetch_responses) = mpsc::channel(4);
        let (outbound, responses) = mpsc::channel(4);
        let record = self.0.new_session();
        tokio::spawn(session::run(
            self.0.clone(),
            token,
            rpc_id,
            Box::pin(fetches),
            fetch_out,
            record,
        ));
        tokio::spawn(async move {
            while let Some(response) = fetch_responses.recv().await {
                let managed = response.map(|fetch| ManagedFetchResponse {
                    events: fetch.events,
                    latest_replay_id: fetch.latest_replay_id,
                    rpc_id: fetch.rpc_id,
                    pending_num_requested: fetch.pending_num_requested,
                    commit_response: acknowledged
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .drain(..)
                        .last(),
                });
                if outbound.send(managed).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(responses)))
    }
}

impl PubSubFake {
    /// Applies a fault request, including the parts that act on tokens and retention.
    pub fn apply_faults(&self, request: &super::faults::FaultRequest) {
        if request.expire_tokens == Some(true) {
            self.tokens.expire_all_issued();
        }
        if let Some(token) = &request.expire_token {
            self.tokens.expire(token);
        }
        if let Some(replay_id) = request.expire_through {
            self.topic.expire_through(replay_id);
        }
        self.faults.apply(request);
    }
}
