//! The Salesforce Pub/Sub API: generated `eventbus.v1` code, the subscriber, the schema
//! cache and replay-id helpers.
//!
//! This module owns the gRPC wire and its rules (auth metadata, flow control, replay,
//! reconnects). It knows nothing about BYOC: events leave it as Avro bytes with their
//! writer schema.

pub mod client;
pub mod connection;
pub mod credentials;
pub mod flow;
pub mod received;
pub mod replay;
pub mod requests;
pub(crate) mod schema_cache;
pub mod status;
pub mod subscriber;
pub mod telemetry;

/// Code generated from `proto/pubsub_api.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("eventbus.v1");
}

pub use client::{PubSubClient, RpcError};
pub use connection::{EndpointSettings, DEFAULT_PUBSUB_ENDPOINT};
pub use credentials::{CredentialError, CredentialSource, PubSubCredentials, StaticCredentials};
pub use received::{AvroDecodeError, ReceivedEvent, RestartPoint, SubscriberItem};
pub use replay::{CorruptedReplayPolicy, ReplayId};
pub use requests::FetchRequestObserver;
pub use subscriber::{
    AckHandle, ReplayStart, Subscriber, SubscriberError, SubscriberSettings,
    SERVICE_UNAVAILABLE_WAIT,
};
pub use telemetry::{ReconnectReason, SubscriberOccurrence, SubscriberTelemetry};
