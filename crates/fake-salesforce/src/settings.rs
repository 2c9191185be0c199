//! How a fake is set up ([`FakeConfig`]) and where it answers ([`Endpoints`]). It knows
//! nothing about the servers.

use std::net::SocketAddr;
use std::time::Duration;

use crate::avro::EventSchemaSpec;
use crate::oauth;
use crate::org::FakeOrgConfig;
use crate::pubsub_fake::PubSubFakeConfig;
use crate::routing_window;
use crate::{DEFAULT_RETENTION, FAKE_CHANNEL_DEFINITION, FAKE_ORG_ID};

/// How to run the fake.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Pub/Sub gRPC address; loopback only.
    pub pubsub_listen: SocketAddr,
    /// HTTP address (control plane, OAuth, Interaction Service, SOQL); loopback only.
    pub http_listen: SocketAddr,
    /// HTTPS address of the same REST side when `tls` is on; loopback only.
    pub https_listen: SocketAddr,
    /// Serve Pub/Sub, and the REST side on `https_listen` too, over TLS with a generated
    /// self-signed certificate.
    pub tls: bool,
    /// The org tokens belong to.
    pub org_id: String,
    /// A long-lived token to accept; generated when absent.
    pub static_token: Option<String>,
    /// The topic's schema.
    pub schema: EventSchemaSpec,
    /// How long events stay replayable.
    pub retention: Duration,
    /// Stream behaviour.
    pub pubsub: PubSubFakeConfig,
    /// The `AuthorizationContext` the Interaction Service accepts.
    pub channel_definition: String,
    /// Lifetime of tokens the fake OAuth server issues.
    pub token_lifetime: Duration,
    /// The routing window the fake enforces (late routingResults recorded, a failure entry
    /// published on timeout); `None` turns it off.
    pub routing_window: Option<Duration>,
    /// More orgs served by the same fake on the same ports, each with its own id, tokens,
    /// topic, OAuth clients, channel definition, recorded calls, SOQL answers and routing
    /// window ([`crate::FakeSalesforce::org`] reaches them). The fields above describe the first org.
    /// Empty by default: one org.
    pub extra_orgs: Vec<FakeOrgConfig>,
}

impl FakeConfig {
    /// The first org's settings, as the top-level fields give them.
    pub fn first_org(&self) -> FakeOrgConfig {
        FakeOrgConfig {
            org_id: self.org_id.clone(),
            static_token: self.static_token.clone(),
            schema: self.schema.clone(),
            retention: self.retention,
            channel_definition: self.channel_definition.clone(),
            token_lifetime: self.token_lifetime,
            routing_window: self.routing_window,
        }
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        let loopback_any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        Self {
            pubsub_listen: loopback_any_port,
            http_listen: loopback_any_port,
            https_listen: loopback_any_port,
            tls: false,
            org_id: FAKE_ORG_ID.to_owned(),
            static_token: None,
            schema: EventSchemaSpec::default(),
            retention: DEFAULT_RETENTION,
            pubsub: PubSubFakeConfig::default(),
            channel_definition: FAKE_CHANNEL_DEFINITION.to_owned(),
            token_lifetime: oauth::DEFAULT_TOKEN_LIFETIME,
            routing_window: Some(routing_window::ROUTING_WINDOW),
            extra_orgs: Vec::new(),
        }
    }
}

/// Where one org of the running fake can be reached; printed as one JSON line by the CLI.
///
/// Every org of a fake has the same URLs (one Pub/Sub endpoint, one REST side, as Salesforce
/// serves every org from one Pub/Sub endpoint); its `topic`, `token`, `org_id` and
/// `authorization_context` are its own, and the fake tells orgs apart by the token a call
/// carries.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Endpoints {
    /// Pub/Sub gRPC URL (`https://` with TLS, else `http://`).
    pub pubsub: String,
    /// Control plane base URL (plain http).
    pub control: String,
    /// Instance URL for the `instanceurl` header and REST calls (SOQL): `https://` with TLS,
    /// which clients that refuse a plain-http instance accept once they trust the certificate.
    pub instance_url: String,
    /// The same REST side over plain http (the control plane's port), TLS or not.
    pub http_instance_url: String,
    /// OAuth login URL (`/services/oauth2/token`, `/services/oauth2/userinfo`): `https://`
    /// with TLS. Tokens name the instance on the scheme they were asked for on.
    pub login_url: String,
    /// Interaction Service base URL (`/api/v1/...` below it): `https://` with TLS.
    pub interaction: String,
    /// The `AuthorizationContext` the Interaction Service accepts.
    pub authorization_context: String,
    /// The topic to subscribe to.
    pub topic: String,
    /// The long-lived static token.
    pub token: String,
    /// The fake org id.
    pub org_id: String,
    /// Whether Pub/Sub and the REST side use TLS.
    pub tls: bool,
}
