//! Which org a request belongs to, on the fake's shared ports: one gRPC service and one HTTP
//! router in front of every org's own.
//!
//! As on Salesforce, the credentials decide: a Pub/Sub call goes to the org that issued its
//! `accesstoken`, a REST call (Interaction Service, SOQL, `/userinfo`) to the org that issued
//! its bearer token, and a token request to the org that registered its client id (the
//! `client_id` field, or a JWT assertion's `iss`). That org then checks the rest as Salesforce
//! does, so a token of org A presented with org B's `tenantid` or `OrgId`, or with org B's
//! `AuthorizationContext`, is refused by org A. A request no org recognises (unknown token,
//! unknown client) goes to the first org, which refuses it. Control-plane calls
//! (`/_harness/...`) name their org with an `org=<orgId>` query parameter (15 or 18
//! characters), and go to the first org without one; `GET /_harness/orgs` lists every org's
//! endpoints. This module knows nothing about the rules each org enforces.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tonic::metadata::MetadataMap;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status, Streaming};
use tower::ServiceExt;

use crate::oauth::{self, ServedAt};
use crate::org::FakeOrg;
use crate::proto::pub_sub_server::PubSub;
use crate::proto::{
    FetchRequest, ManagedFetchRequest, PublishRequest, PublishResponse, SchemaInfo, SchemaRequest,
    TopicInfo, TopicRequest,
};
use crate::pubsub_fake::PubSubService;
use crate::tokens::TokenStatus;

/// Largest token request body read to find its client id; real ones are about 1 KB.
const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;
/// The token endpoint, whose requests carry a client id instead of a token.
const TOKEN_PATH: &str = "/services/oauth2/token";

/// Every org of one fake, first org first, each with its HTTP routes.
#[derive(Debug)]
pub(crate) struct OrgDirectory {
    orgs: Vec<FakeOrg>,
    routers: Vec<Router>,
}

impl OrgDirectory {
    /// A directory of `orgs` (at least one), in the order given.
    pub(crate) fn new(orgs: Vec<(FakeOrg, Router)>) -> Self {
        let (orgs, routers) = orgs.into_iter().unzip();
        Self { orgs, routers }
    }

    /// The org that issued `token` (valid or expired), else the first.
    fn by_token(&self, token: &str) -> usize {
        self.orgs
            .iter()
            .position(|org| org.tokens().status(token) != TokenStatus::Unknown)
            .unwrap_or(0)
    }

    /// The org named `org_id` (15 or 18 characters).
    fn by_id(&self, org_id: &str) -> Option<usize> {
        self.orgs.iter().position(|org| org.is(org_id))
    }

    /// The org that registered `client_id`, else the first.
    fn by_client(&self, client_id: &str) -> usize {
        self.orgs
            .iter()
            .position(|org| org.oauth().knows_client(client_id))
            .unwrap_or(0)
    }

    /// Whether the fake serves one org only, so every request is the first org's.
    fn single(&self) -> bool {
        self.orgs.len() == 1
    }

    /// The Pub/Sub service of the org that issued the call's `accesstoken`.
    fn pubsub_for(&self, metadata: &MetadataMap) -> PubSubService {
        let token = metadata
            .get("accesstoken")
            .and_then(|value| value.to_str().ok())
            .filter(|_| !self.single());
        let index = token.map_or(0, |token| self.by_token(token));
        PubSubService(self.orgs[index].pubsub().clone())
    }
}

/// The fake's gRPC service: each call is served by its org's [`PubSubService`].
#[derive(Debug, Clone)]
pub(crate) struct OrgRoutedPubSub(pub(crate) Arc<OrgDirectory>);

type Answer<T> = Result<GrpcResponse<T>, Status>;

#[tonic::async_trait]
impl PubSub for OrgRoutedPubSub {
    type SubscribeStream = <PubSubService as PubSub>::SubscribeStream;
    type PublishStreamStream = <PubSubService as PubSub>::PublishStreamStream;
    type ManagedSubscribeStream = <PubSubService as PubSub>::ManagedSubscribeStream;

    async fn subscribe(
        &self,
        request: GrpcRequest<Streaming<FetchRequest>>,
    ) -> Answer<Self::SubscribeStream> {
        self.0
            .pubsub_for(request.metadata())
            .subscribe(request)
            .await
    }

    async fn get_schema(&self, request: GrpcRequest<SchemaRequest>) -> Answer<SchemaInfo> {
        self.0
            .pubsub_for(request.metadata())
            .get_schema(request)
            .await
    }

    async fn get_topic(&self, request: GrpcRequest<TopicRequest>) -> Answer<TopicInfo> {
        self.0
            .pubsub_for(request.metadata())
            .get_topic(request)
            .await
    }

    async fn publish(&self, request: GrpcRequest<PublishRequest>) -> Answer<PublishResponse> {
        self.0.pubsub_for(request.metadata()).publish(request).await
    }

    async fn publish_stream(
        &self,
        request: GrpcRequest<Streaming<PublishRequest>>,
    ) -> Answer<Self::PublishStreamStream> {
        self.0
            .pubsub_for(request.metadata())
            .publish_stream(request)
            .await
    }

    async fn managed_subscribe(
        &self,
        request: GrpcRequest<Streaming<ManagedFetchRequest>>,
    ) -> Answer<Self::ManagedSubscribeStream> {
        self.0
            .pubsub_for(request.metadata())
            .managed_subscribe(request)
            .await
    }
}

/// What the HTTP front shares: the orgs, and the base URL of the listener it serves.
#[derive(Debug, Clone)]
struct Front {
    directory: Arc<OrgDirectory>,
    served_at: ServedAt,
}

/// The fake's HTTP side for the listener at `served_at`: `GET /_harness/orgs`, and every other
/// request handed to its org's routes.
pub(crate) fn http_router(directory: Arc<OrgDirectory>, served_at: ServedAt) -> Router {
    Router::new()
        .route("/_harness/orgs", get(list_orgs))
        .fallback(dispatch)
        .with_state(Front {
            directory,
            served_at,
        })
}

/// `GET /_harness/orgs`: `{"orgs": [<endpoints of each org>, …]}`, first org first.
async fn list_orgs(State(front): State<Front>) -> Json<serde_json::Value> {
    let orgs: Vec<_> = front
        .directory
        .orgs
        .iter()
        .map(FakeOrg::endpoints)
        .collect();
    Json(json!({ "orgs": orgs }))
}

async fn dispatch(State(front): State<Front>, mut request: Request) -> Response {
    request.extensions_mut().insert(front.served_at.clone());
    let directory = &front.directory;
    let index = if request.uri().path().starts_with("/_harness/") {
        match take_org_parameter(request.uri()) {
            None => 0,
            Some((org_id, rest)) => {
                let Some(index) = directory.by_id(&org_id) else {
                    return unknown_org(directory, &org_id);
                };
                *request.uri_mut() = rest;
                index
            }
        }
    } else if directory.single() {
        0
    } else if let Some(token) = bearer_token(request.headers()) {
        directory.by_token(token)
    } else if request.uri().path() == TOKEN_PATH {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_TOKEN_REQUEST_BYTES).await else {
            let body = json!({"error": "invalid_request", "error_description": "the token request body is too large"});
            return (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response();
        };
        let index = oauth::requested_client_id(&bytes).map_or(0, |id| directory.by_client(&id));
        request = Request::from_parts(parts, Body::from(bytes));
        index
    } else {
        0
    };
    match directory.routers[index].clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

fn unknown_org(directory: &OrgDirectory, org_id: &str) -> Response {
    let known: Vec<&str> = directory.orgs.iter().map(FakeOrg::org_id).collect();
    let body = json!({"error": format!("this fake serves no org {org_id:?}; its orgs: {known:?}")});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

/// The value of the `org` query parameter and the URI without it, when it has one.
fn take_org_parameter(uri: &Uri) -> Option<(String, Uri)> {
    let query = uri.query()?;
    let mut org_id = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("org=") {
            Some(value) => {
                org_id = Some(value.to_owned());
                false
            }
            None => true,
        })
        .collect();
    let org_id = org_id?;
    let path_and_query = if rest.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), rest.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).ok()?);
    Some((org_id, Uri::from_parts(parts).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_org_parameter_is_taken_out_of_the_query_and_the_rest_kept() {
        let uri: Uri = "/_harness/calls?path=routingResult&org=00DFAKE0000002AAAA"
            .parse()
            .unwrap();
        let (org, rest) = take_org_parameter(&uri).unwrap();
        assert_eq!(org, "00DFAKE0000002AAAA");
        assert_eq!(rest.to_string(), "/_harness/calls?path=routingResult");
        let (_, bare) = take_org_parameter(&"/_harness/publish?org=x".parse().unwrap()).unwrap();
        assert_eq!(bare.to_string(), "/_harness/publish");
        assert!(take_org_parameter(&"/_harness/calls?path=x".parse().unwrap()).is_none());
    }
}
