//! A thin Pub/Sub client that attaches the auth metadata to every RPC.
//!
//! Each call asks the [`CredentialSource`] afresh and sends `accesstoken`, `instanceurl`,
//! `tenantid` and a new `x-client-trace-id`, so errors can be traced and a refreshed token is
//! used at once. Errors remember which credentials were sent, so a rejection can be reported
//! back precisely. Nothing here retries: that is the subscriber's job.

use futures::Stream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};

use super::connection::MAX_DECODED_MESSAGE_BYTES;
use super::credentials::{CredentialError, CredentialSource, PubSubCredentials};
use super::proto::pub_sub_client::PubSubClient as GrpcClient;
use super::proto::{
    FetchRequest, FetchResponse, PublishRequest, PublishResponse, SchemaInfo, SchemaRequest,
    TopicInfo, TopicRequest,
};

/// A failed RPC.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// No credentials could be obtained; nothing was sent.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    /// A credential value cannot be sent as gRPC metadata.
    #[error("pub/sub credential `{header}` is not valid ascii metadata")]
    InvalidMetadata {
        /// Which header was refused (never its value).
        header: &'static str,
    },
    /// The server answered with an error status.
    #[error("pub/sub call failed: {status}")]
    Status {
        /// The status, with Salesforce's trailers.
        status: Status,
        /// The credentials the failed call carried, so a rejection can be refreshed.
        credentials: Box<PubSubCredentials>,
    },
}

/// Pub/Sub RPCs with auth metadata.
#[derive(Debug, Clone)]
pub struct PubSubClient<C> {
    grpc: GrpcClient<Channel>,
    credentials: C,
}

impl<C: CredentialSource> PubSubClient<C> {
    /// A client over `channel` that takes its credentials from `credentials`.
    pub fn new(channel: Channel, credentials: C) -> Self {
        let grpc = GrpcClient::new(channel)
            .max_decoding_message_size(MAX_DECODED_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_DECODED_MESSAGE_BYTES);
        Self { grpc, credentials }
    }

    /// The credential source, for refreshing after a rejection.
    pub(crate) fn credential_source(&self) -> &C {
        &self.credentials
    }

    /// `GetTopic`: the topic's current schema id and permissions.
    pub async fn get_topic(&self, topic_name: &str) -> Result<TopicInfo, RpcError> {
        let message = TopicRequest {
            topic_name: topic_name.to_owned(),
        };
        let (request, credentials) = self.authorised(message).await?;
        let mut grpc = self.grpc.clone();
        match grpc.get_topic(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(rejected(status, credentials)),
        }
    }

    /// `GetSchema`: the Avro schema JSON for `schema_id`.
    pub async fn get_schema(&self, schema_id: &str) -> Result<SchemaInfo, RpcError> {
        let message = SchemaRequest {
            schema_id: schema_id.to_owned(),
        };
        let (request, credentials) = self.authorised(message).await?;
        let mut grpc = self.grpc.clone();
        match grpc.get_schema(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(rejected(status, credentials)),
        }
    }

    /// `Publish`: one batch of events.
    pub async fn publish(&self, message: PublishRequest) -> Result<PublishResponse, RpcError> {
        let (request, credentials) = self.authorised(message).await?;
        let mut grpc = self.grpc.clone();
        match grpc.publish(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(rejected(status, credentials)),
        }
    }

    /// Opens a `Subscribe` stream fed by `requests`; returns the responses and the
    /// credentials the stream was opened with.
    pub async fn subscribe<S>(
        &self,
        requests: S,
    ) -> Result<(Streaming<FetchResponse>, PubSubCredentials), RpcError>
    where
        S: Stream<Item = FetchRequest> + Send + 'static,
    {
        let (request, credentials) = self.authorised(requests).await?;
        let mut grpc = self.grpc.clone();
        match grpc.subscribe(request).await {
            Ok(response) => Ok((response.into_inner(), credentials)),
            Err(status) => Err(rejected(status, credentials)),
        }
    }

    async fn authorised<T>(&self, message: T) -> Result<(Request<T>, PubSubCredentials), RpcError> {
        let credentials = self.credentials.credentials().await?;
        let mut request = Request::new(message);
        attach_metadata(request.metadata_mut(), &credentials)?;
        Ok((request, credentials))
    }
}

/// Adds the three auth headers and a fresh `x-client-trace-id` to `metadata`.
pub fn attach_metadata(
    metadata: &mut MetadataMap,
    credentials: &PubSubCredentials,
) -> Result<(), RpcError> {
    let values = [
        ("accesstoken", credentials.access_token.expose()),
        ("instanceurl", credentials.instance_url.as_str()),
        ("tenantid", credentials.tenant_id.as_str()),
    ];
    for (header, value) in values {
        let value: MetadataValue<_> = value
            .parse()
            .map_err(|_| RpcError::InvalidMetadata { header })?;
        metadata.insert(header, value);
    }
    let trace_id = uuid::Uuid::new_v4().to_string();
    if let Ok(value) = trace_id.parse() {
        metadata.insert("x-client-trace-id", value);
    }
    Ok(())
}

fn rejected(status: Status, credentials: PubSubCredentials) -> RpcError {
    RpcError::Status {
        status,
        credentials: Box::new(credentials),
    }
}
