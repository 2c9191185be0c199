//! One org of the fake Salesforce: its id, tokens, topic, OAuth clients, Interaction Service
//! (channel definition, recorded calls, faults), SOQL answers and routing window.
//!
//! A fake serves one or more orgs over the same ports, as Salesforce serves every org from one
//! Pub/Sub endpoint: nothing is shared between two orgs but the listeners, so an event published
//! on one org's topic never reaches another org's subscriber, and a token of one org is refused
//! by every other. Which org a request belongs to is decided in `org_routing`; this
//! module only builds and exposes one org. It knows nothing about the listeners.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::avro::{EncodeError, EventSchemaSpec};
use crate::faults::FaultRequest;
use crate::interaction_service::{self, InteractionFake};
use crate::oauth::{self, OAuthFake, OAuthSettings};
use crate::pubsub_fake::{PubSubFake, PubSubFakeConfig};
use crate::routing_window::{self, RoutingWindow};
use crate::soql::{self, SoqlFake};
use crate::tokens::TokenRegistry;
use crate::topic::{NewEvent, TopicLog};
use crate::{channel_definition, control, Endpoints, DEFAULT_RETENTION, FAKE_CHANNEL_DEFINITION};

/// How one org of the fake is set up; [`crate::FakeConfig::extra_orgs`] takes a list.
///
/// ```
/// use fake_salesforce::FakeOrgConfig;
///
/// let second = FakeOrgConfig {
///     channel_definition: "Acme_ChannelDefinition1".to_owned(),
///     ..FakeOrgConfig::numbered(2)
/// };
/// assert_eq!(second.org_id, "00DFAKE0000002AAAA");
/// ```
#[derive(Debug, Clone)]
pub struct FakeOrgConfig {
    /// The org id, 18 characters like Salesforce's (`tenantid` on Pub/Sub, the 15-character
    /// prefix as `OrgId` on the Interaction Service). Distinct from every other org's.
    pub org_id: String,
    /// A long-lived token of this org to accept; generated (`<orgId>!<random>`) when absent.
    pub static_token: Option<String>,
    /// The org's topic and its schema (the topic is `/event/<event_name>`). Two orgs may use
    /// the same topic name, as two real orgs may: each still has its own topic.
    pub schema: EventSchemaSpec,
    /// How long the org's events stay replayable.
    pub retention: Duration,
    /// The org's channel definition developer name: the only `AuthorizationContext` its
    /// Interaction Service accepts, and the record its SOQL answers.
    pub channel_definition: String,
    /// Lifetime of tokens the fake OAuth server issues for this org.
    pub token_lifetime: Duration,
    /// The org's routing window; `None` turns it off.
    pub routing_window: Option<Duration>,
}

impl FakeOrgConfig {
    /// An org with id `org_id` and every other setting at its default: topic
    /// `/event/Byoc_Event__e`, channel definition [`FAKE_CHANNEL_DEFINITION`], 72 h retention,
    /// Salesforce's token lifetime and routing window.
    pub fn new(org_id: impl Into<String>) -> Self {
        Self {
            org_id: org_id.into(),
            static_token: None,
            schema: EventSchemaSpec::default(),
            retention: DEFAULT_RETENTION,
            channel_definition: FAKE_CHANNEL_DEFINITION.to_owned(),
            token_lifetime: oauth::DEFAULT_TOKEN_LIFETIME,
            routing_window: Some(routing_window::ROUTING_WINDOW),
        }
    }

    /// The org numbered `number` (1 is [`crate::FAKE_ORG_ID`]): id `00DFAKE<number, 7
    /// digits>AAAA`, everything else as [`FakeOrgConfig::new`].
    pub fn numbered(number: u32) -> Self {
        Self::new(numbered_org_id(number))
    }
}

/// The id of the org numbered `number`: `00DFAKE0000002AAAA` for 2.
pub fn numbered_org_id(number: u32) -> String {
    format!("00DFAKE{number:07}AAAA")
}

/// Whether `presented` names the org `org_id`: equal to it, or to its 15-character form.
pub fn same_org(org_id: &str, presented: &str) -> bool {
    presented == org_id || org_id.get(..15).is_some_and(|short| short == presented)
}

/// One running org of the fake. Cheap to clone: every part is shared.
#[derive(Debug, Clone)]
pub struct FakeOrg {
    pubsub: Arc<PubSubFake>,
    soql: Arc<SoqlFake>,
    routing_window: Option<Arc<RoutingWindow>>,
    oauth: Arc<OAuthFake>,
    interaction: Arc<InteractionFake>,
    tokens: Arc<TokenRegistry>,
    endpoints: Endpoints,
}

/// What every org of one fake shares: where it is served and how its streams behave.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    /// The Pub/Sub URL.
    pub(crate) pubsub_url: String,
    /// The plain-http base URL (control plane; the REST side too).
    pub(crate) http_base: String,
    /// The REST side's own base URL: https with TLS, else `http_base`.
    pub(crate) rest_base: String,
    /// Whether TLS is on.
    pub(crate) tls: bool,
    /// Stream behaviour.
    pub(crate) pubsub: PubSubFakeConfig,
}

impl FakeOrg {
    /// Builds the org's parts and its HTTP routes; its routing window's watcher, when on, is
    /// spawned and returned.
    pub(crate) fn start(
        config: &FakeOrgConfig,
        site: &Site,
        shutdown: &CancellationToken,
    ) -> Result<(Self, Router, Option<JoinHandle<()>>), EncodeError> {
        let tokens = Arc::new(TokenRegistry::new(
            config.org_id.clone(),
            config.static_token.clone(),
        ));
        let topic = TopicLog::new(config.schema.clone(), config.retention)?;
        let pubsub = Arc::new(PubSubFake::new(
            topic,
            tokens.clone(),
            site.pubsub.clone(),
            shutdown.clone(),
        ));
        let mut oauth_settings = OAuthSettings::new(site.rest_base.clone());
        oauth_settings.token_lifetime = config.token_lifetime;
        let oauth = Arc::new(OAuthFake::new(tokens.clone(), oauth_settings));
        oauth.add_audience(&site.http_base);
        let interaction = Arc::new(InteractionFake::new(
            tokens.clone(),
            config.channel_definition.clone(),
        ));
        let soql = Arc::new(SoqlFake::new(tokens.clone(), interaction.clone()));
        soql.set_channel_definition(Some(channel_definition::ChannelDefinition::matching(
            &config.schema,
            &config.channel_definition,
        )));
        let publisher: routing_window::Publisher = {
            let pubsub = pubsub.clone();
            Arc::new(move |events: &[NewEvent]| pubsub.topic.publish(events))
        };
        let window = config
            .routing_window
            .map(|window| Arc::new(RoutingWindow::new(window, interaction.clone(), publisher)));
        let mut router = control::router(pubsub.clone(), window.clone(), interaction.clone())
            .merge(oauth::router(oauth.clone()))
            .merge(interaction_service::router(interaction.clone()))
            .merge(soql::router(soql.clone()));
        let mut watcher = None;
        if let Some(window) = &window {
            router = router.merge(routing_window::router(window.clone()));
            watcher = Some(window.spawn(shutdown.clone()));
        }
        let endpoints = Endpoints {
            pubsub: site.pubsub_url.clone(),
            control: site.http_base.clone(),
            instance_url: site.rest_base.clone(),
            http_instance_url: site.http_base.clone(),
            login_url: site.rest_base.clone(),
            interaction: site.rest_base.clone(),
            authorization_context: config.channel_definition.clone(),
            topic: pubsub.topic.topic_name().to_owned(),
            token: tokens.static_token().to_owned(),
            org_id: tokens.org_id().to_owned(),
            tls: site.tls,
        };
        let org = Self {
            pubsub,
            soql,
            routing_window: window,
            oauth,
            interaction,
            tokens,
            endpoints,
        };
        Ok((org, router, watcher))
    }

    /// The org id (18 characters unless configured otherwise).
    pub fn org_id(&self) -> &str {
        self.tokens.org_id()
    }

    /// Whether `org_id` names this org, in its 15- or 18-character form.
    pub fn is(&self, org_id: &str) -> bool {
        same_org(self.org_id(), org_id)
    }

    /// Where this org is reached: the fake's shared URLs with this org's topic, token, org id
    /// and `AuthorizationContext`.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The org's Pub/Sub state (topic, faults, Subscribe session logs, authenticated calls).
    pub fn pubsub(&self) -> &Arc<PubSubFake> {
        &self.pubsub
    }

    /// The org's OAuth server (register clients, count token requests). Client ids must be
    /// unique across the fake's orgs, as consumer keys are: a token request goes to the org
    /// that registered its client id.
    pub fn oauth(&self) -> &Arc<OAuthFake> {
        &self.oauth
    }

    /// The org's Interaction Service: the calls made with this org's tokens, its faults.
    pub fn interaction(&self) -> &Arc<InteractionFake> {
        &self.interaction
    }

    /// The org's accepted tokens.
    pub fn tokens(&self) -> &Arc<TokenRegistry> {
        &self.tokens
    }

    /// The org's SOQL endpoint (MessagingSession look-ups, its ConversationChannelDefinition).
    pub fn soql(&self) -> &Arc<SoqlFake> {
        &self.soql
    }

    /// The org's routing window, when on.
    pub fn routing_window(&self) -> Option<&Arc<RoutingWindow>> {
        self.routing_window.as_ref()
    }

    /// Publishes events on the org's topic in order; returns their replay ids. Routing
    /// requests among them start the org's routing window, and the fake learns the
    /// MessagingSession each names.
    pub fn publish(&self, events: &[NewEvent]) -> Result<Vec<u64>, EncodeError> {
        // Salesforce knows a session before it publishes a request naming it.
        self.interaction.learn_sessions(events);
        let replay_ids = self.pubsub.topic.publish(events)?;
        if let Some(window) = &self.routing_window {
            window.track_all(events);
        }
        Ok(replay_ids)
    }

    /// Changes the org's Pub/Sub fault plan.
    pub fn apply_faults(&self, request: &FaultRequest) {
        self.pubsub.apply_faults(request);
    }
}
