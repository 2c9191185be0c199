//! Shared setup for the auth and interaction tests: the fake OAuth and Interaction Service on one
//! loopback port, RSA keys generated in the test, temporary key files, configs and sample requests.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use byoc_connector::auth::{
    AuthConfig, ClientCredentialsConfig, JwtBearerConfig, StaticConfig, TokenProvider,
    DEFAULT_REFRESH_MARGIN, DEFAULT_TOKEN_LIFETIME,
};
use byoc_connector::interaction::{
    AgentWorkRequest, AgentWorkRoutingContext, AgentWorkStatus, Capabilities, CapabilitiesRequest,
    Capacity, ChannelCapability, ClientSettings, DeleteRouteRequest, FlowRouting, Interaction,
    InteractionClient, InteractionRequest, MessagingSessionRequest, OperationBy,
    PatchAgentWorkRequest, PostRouteRequest, RoutingInfo, RoutingOutcome, RoutingResultRequest,
    RoutingType, SessionOperation, WorkContextType,
};
use byoc_connector::secret::SecretString;
use fake_salesforce::interaction_service::InteractionFake;
use fake_salesforce::oauth::OAuthFake;
use fake_salesforce::tokens::TokenRegistry;
use fake_salesforce::FakeConfig;

/// The fake org's 18-character id.
pub const ORG_ID: &str = "00D5g000004abcdEAA";
/// Its 15-character form, the only one the `OrgId` header accepts.
pub const ORG_ID_15: &str = "00D5g000004abcd";
/// The channel definition developer name used as `AuthorizationContext`.
pub const CHANNEL_DEFINITION: &str = "Partner1_ChannelDefinition1";
/// The JWT bearer consumer key registered at the fake.
pub const JWT_CLIENT_ID: &str = "3MVG9jwt.client";
/// The client credentials consumer key and secret registered at the fake.
pub const SECRET_CLIENT_ID: &str = "3MVG9secret.client";
pub const CLIENT_SECRET: &str = "cs-5f1b9c2e-super-secret-value";
/// The channel address and end user used by sample requests.
pub const CHANNEL_ADDRESS: &str = "b0ffeafe-0d89-4338-b14a-172ad203f22a";
pub const END_USER: &str = "end-user-42";

/// The fake Salesforce as the auth and interaction tests use it: the fake org and channel
/// definition above, both test clients registered, no routing window. Stops when dropped.
pub struct Salesforce {
    /// The fake's HTTP base URL: OAuth login, instance and Interaction Service.
    pub base_url: String,
    /// The tokens the fake accepts.
    pub registry: Arc<TokenRegistry>,
    /// The fake OAuth server.
    pub oauth: Arc<OAuthFake>,
    /// The fake Interaction Service.
    pub interaction: Arc<InteractionFake>,
    /// Keeps the fake running.
    _fake: fake_salesforce::FakeSalesforce,
}

impl Salesforce {
    /// Starts the fake on loopback and registers both test clients.
    pub async fn start() -> Self {
        let fake = fake_salesforce::FakeSalesforce::start(FakeConfig {
            org_id: ORG_ID.to_owned(),
            channel_definition: CHANNEL_DEFINITION.to_owned(),
            routing_window: None,
            ..FakeConfig::default()
        })
        .await
        .unwrap();
        fake.oauth()
            .add_jwt_client(JWT_CLIENT_ID, &test_key().public_pem)
            .unwrap();
        fake.oauth()
            .add_secret_client(SECRET_CLIENT_ID, CLIENT_SECRET);
        Self {
            base_url: fake.endpoints().instance_url.clone(),
            registry: fake.tokens().clone(),
            oauth: fake.oauth().clone(),
            interaction: fake.interaction().clone(),
            _fake: fake,
        }
    }

    /// A jwt-bearer config for this fake with the given key file.
    pub fn jwt_config(&self, key_file: &KeyFile) -> JwtBearerConfig {
        JwtBearerConfig {
            client_id: JWT_CLIENT_ID.to_owned(),
            username: "integration@byoc.example".to_owned(),
            login_url: self.base_url.clone(),
            private_key_file: key_file.path.clone(),
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME.as_secs(),
            refresh_margin_secs: DEFAULT_REFRESH_MARGIN.as_secs(),
            insecure: true,
        }
    }

    /// A client-credentials config for this fake.
    pub fn client_credentials_config(&self) -> ClientCredentialsConfig {
        ClientCredentialsConfig {
            client_id: SECRET_CLIENT_ID.to_owned(),
            client_secret: SecretString::new(CLIENT_SECRET),
            login_url: self.base_url.clone(),
            token_lifetime_secs: DEFAULT_TOKEN_LIFETIME.as_secs(),
            refresh_margin_secs: DEFAULT_REFRESH_MARGIN.as_secs(),
            insecure: true,
        }
    }

    /// A static config with the fake's long-lived token.
    pub fn static_config(&self) -> StaticConfig {
        StaticConfig {
            token: SecretString::new(self.registry.static_token()),
            instance_url: self.base_url.clone(),
            org_id: ORG_ID.parse().unwrap(),
        }
    }

    /// A jwt-bearer provider signing with the test key.
    pub fn jwt_provider(&self, key_file: &KeyFile) -> TokenProvider {
        TokenProvider::new(&AuthConfig::JwtBearer(self.jwt_config(key_file))).unwrap()
    }

    /// An Interaction Service client for this fake.
    pub fn client(&self, provider: TokenProvider) -> InteractionClient {
        let options = ClientSettings {
            insecure: true,
            ..ClientSettings::default()
        };
        InteractionClient::new(&self.base_url, CHANNEL_DEFINITION, provider, options).unwrap()
    }

    /// A hand-made `method /api/v1/{path}` with every header the fake requires on each call:
    /// the static token, `OrgId`, `AuthorizationContext` and a fresh `RequestId`.
    pub fn authorized_request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        raw_http()
            .request(method, format!("{}/api/v1/{path}", self.base_url))
            .bearer_auth(self.registry.static_token())
            .header("OrgId", ORG_ID_15)
            .header("AuthorizationContext", CHANNEL_DEFINITION)
            .header("RequestId", uuid::Uuid::new_v4().to_string())
    }

    /// An Interaction Service client for this fake that sends its static token.
    pub fn static_client(&self) -> InteractionClient {
        self.client(TokenProvider::new(&AuthConfig::Static(self.static_config())).unwrap())
    }

    /// A fresh conversation and the MessagingSession (15 characters) the fake knows it by, for
    /// calls that name a work item: the fake refuses one it does not know (15111).
    pub fn known_session(&self) -> (String, String) {
        let conversation = uuid::Uuid::new_v4().to_string();
        let work_item = format!("0Mw{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        self.interaction
            .seed_conversation(&conversation, &work_item);
        (conversation, work_item)
    }

    /// The status of every Interaction Service call the fake recorded, in arrival order.
    pub fn call_statuses(&self) -> Vec<u16> {
        self.interaction
            .calls()
            .iter()
            .map(|call| call.status)
            .collect()
    }
}

/// Posts the sample interaction through `client`; returns the conversation and the work item
/// the fake opened for it.
pub async fn open_conversation(client: &InteractionClient) -> (String, String) {
    let inbound = client
        .post_interactions(&sample_interaction(), None)
        .await
        .unwrap();
    let conversation = inbound.conversation_identifier.unwrap();
    (conversation, inbound.work_item_ids[0].clone())
}

/// Upper bound on one raw HTTP exchange in a test, so a hung fake fails the test instead of hanging it.
pub const RAW_HTTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A plain HTTP client for sending hand-made requests to the fakes.
pub fn raw_http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(RAW_HTTP_TIMEOUT)
        .build()
        .unwrap()
}

/// An RSA key pair as PEM text.
pub struct TestKey {
    pub private_pem: String,
    pub public_pem: String,
}

impl TestKey {
    /// A fresh 2048-bit RSA key pair.
    pub fn generate() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        Self {
            private_pem: key.serialize_pem(),
            public_pem: key.public_key_pem(),
        }
    }

    /// A line of the private key's base64 body, to grep logs for.
    pub fn private_key_fragment(&self) -> &str {
        self.private_pem
            .lines()
            .find(|line| !line.starts_with("-----") && line.len() > 40)
            .unwrap()
    }
}

/// The key pair registered for [`JWT_CLIENT_ID`], generated once per test binary.
pub fn test_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

/// A file under the temp dir, removed when dropped.
pub struct KeyFile {
    pub path: PathBuf,
}

impl KeyFile {
    /// Writes `contents` to a new file.
    pub fn write(contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("byoc-test-key-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&path, contents).unwrap();
        Self { path }
    }

    /// A file holding the registered test key.
    pub fn registered() -> Self {
        Self::write(&test_key().private_pem)
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A text message from the sample end user.
pub fn sample_interaction() -> InteractionRequest {
    let message_id = uuid::Uuid::new_v4().to_string();
    InteractionRequest {
        to: CHANNEL_ADDRESS.to_owned(),
        from: END_USER.to_owned(),
        routing_attributes: None,
        interactions: vec![Interaction::text_message(
            &message_id,
            "hello",
            1_700_000_000_000,
        )],
    }
}

/// A capability registration for the sample channel.
pub fn sample_capabilities() -> CapabilitiesRequest {
    CapabilitiesRequest {
        capabilities: Capabilities {
            app_type: "custom".to_owned(),
            channel_capabilities: vec![ChannelCapability::custom(
                ORG_ID,
                CHANNEL_DEFINITION,
                &[("StaticContentMessage", &["Text", "Attachments"])],
            )],
        },
    }
}

/// A flow transfer with its fallback queue.
pub fn sample_route(conversation: &str) -> PostRouteRequest {
    PostRouteRequest {
        conversation_identifier: conversation.to_owned(),
        routing_type: RoutingType::Transfer,
        routing_info: Some(RoutingInfo {
            queue_id: None,
            flow: Some(FlowRouting {
                flow_id: "300SG00000jJder".to_owned(),
                queue_id: "00G5g000001abcd".to_owned(),
            }),
            routing_attributes: None,
        }),
    }
}

/// A route cancellation.
pub fn sample_delete_route(conversation: &str) -> DeleteRouteRequest {
    DeleteRouteRequest {
        conversation_identifier: conversation.to_owned(),
        cancel_reason: None,
    }
}

/// AgentWork for a rep, answering a transfer.
pub fn sample_agent_work(conversation: &str, work_item: &str) -> AgentWorkRequest {
    AgentWorkRequest {
        user_id: "0055g00000ABCDE".to_owned(),
        work_item_id: work_item.to_owned(),
        capacity: Some(Capacity::Weight(1.0)),
        routing_context: Some(AgentWorkRoutingContext {
            conversation_identifier: conversation.to_owned(),
            routing_type: RoutingType::Transfer,
            routing_correlation_id: uuid::Uuid::new_v4().to_string(),
        }),
        agent_action_visibilities: None,
    }
}

/// The rep accepts the work.
pub fn sample_patch_agent_work(work_id: &str) -> PatchAgentWorkRequest {
    PatchAgentWorkRequest {
        work_id: work_id.to_owned(),
        context_type: WorkContextType::Agent,
        status: AgentWorkStatus::Accept,
        work_item_id: None,
        bot_id: None,
    }
}

/// A successful routing result.
pub fn sample_routing_result(conversation: &str, work_item: &str) -> RoutingResultRequest {
    RoutingResultRequest {
        conversation_identifier: conversation.to_owned(),
        work_item_id: work_item.to_owned(),
        outcome: RoutingOutcome::Routed {
            externally_routed: false,
        },
        routing_type: Some(RoutingType::Transfer),
    }
}

/// Ends the sample end user's session.
pub fn sample_end_session(conversation: &str) -> MessagingSessionRequest {
    MessagingSessionRequest {
        channel_address_identifier: CHANNEL_ADDRESS.to_owned(),
        end_user_client_id: END_USER.to_owned(),
        conversation_identifier: conversation.to_owned(),
        operation: SessionOperation::End,
        operation_by: Some(OperationBy::System),
        session_id: None,
    }
}
