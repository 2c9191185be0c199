//! `schema_id → parsed Avro schema`, filled by `GetSchema`.
//!
//! Every event names its own writer schema; a topic's schema changes when the platform
//! event definition changes, so lookups are always by the event's id, never the topic's.
//! A schema the server refuses to serve (blank or unknown id) is remembered as unavailable
//! for this stream, so the affected events can be dead-lettered instead of stalling the
//! stream; transient failures are returned so the subscriber can reconnect.

use std::sync::Arc;

use serde_avro_fast::Schema;
use tonic::Code;

use super::client::{PubSubClient, RpcError};
use super::credentials::CredentialSource;
use crate::fast_hash::FastMap;

/// A schema that cannot be obtained for an event; carried with the event.
#[derive(Debug, Clone, thiserror::Error)]
#[error("writer schema `{schema_id}` is unavailable: {reason}")]
pub struct SchemaUnavailable {
    /// The event's schema id.
    pub schema_id: String,
    /// Why (server refusal or parse failure).
    pub reason: Arc<str>,
}

/// Parsed schemas by id, plus ids known to be unavailable.
#[derive(Default)]
pub(crate) struct SchemaCache {
    schemas: FastMap<String, Arc<Schema>>,
    unavailable: FastMap<String, SchemaUnavailable>,
}

impl std::fmt::Debug for SchemaCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaCache")
            .field("schema_ids", &self.schemas.keys().collect::<Vec<_>>())
            .field("unavailable", &self.unavailable.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SchemaCache {
    /// The cached result for `schema_id`, if it was looked up before.
    pub(crate) fn get(&self, schema_id: &str) -> Option<Result<Arc<Schema>, SchemaUnavailable>> {
        if let Some(schema) = self.schemas.get(schema_id) {
            return Some(Ok(schema.clone()));
        }
        self.unavailable.get(schema_id).cloned().map(Err)
    }

    /// Forgets unavailable ids, so they are asked for again on the next stream.
    pub(crate) fn forget_unavailable(&mut self) {
        self.unavailable.clear();
    }

    /// The schema for `schema_id`, from the cache or `GetSchema`.
    ///
    /// `Ok(Err(_))` means the schema cannot be had (the event should be dead-lettered);
    /// `Err(_)` is a transient or auth failure of the RPC itself.
    pub(crate) async fn resolve<C: CredentialSource>(
        &mut self,
        client: &PubSubClient<C>,
        schema_id: &str,
    ) -> Result<Result<Arc<Schema>, SchemaUnavailable>, RpcError> {
        if let Some(cached) = self.get(schema_id) {
            return Ok(cached);
        }
        let unavailable = |reason: String| SchemaUnavailable {
            schema_id: schema_id.to_owned(),
            reason: reason.into(),
        };
        if schema_id.is_empty() {
            let problem = unavailable("the event has a blank schema id".to_owned());
            self.unavailable.insert(String::new(), problem.clone());
            return Ok(Err(problem));
        }
        let info = match client.get_schema(schema_id).await {
            Ok(info) => info,
            Err(RpcError::Status { status, .. })
                if matches!(status.code(), Code::InvalidArgument | Code::NotFound) =>
            {
                let problem = unavailable(format!("getschema refused it: {}", status.message()));
                self.unavailable
                    .insert(schema_id.to_owned(), problem.clone());
                return Ok(Err(problem));
            }
            Err(other) => return Err(other),
        };
        match info.schema_json.parse::<Schema>() {
            Ok(schema) => {
                let schema = Arc::new(schema);
                self.schemas.insert(schema_id.to_owned(), schema.clone());
                Ok(Ok(schema))
            }
            Err(err) => {
                let problem = unavailable(format!("schema json does not parse: {err}"));
                self.unavailable
                    .insert(schema_id.to_owned(), problem.clone());
                Ok(Err(problem))
            }
        }
    }
}
