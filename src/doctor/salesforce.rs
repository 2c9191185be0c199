//! The doctor's Salesforce identity and Pub/Sub steps: a token from the configured auth flow,
//! the org id and instance URL it came with, then `GetTopic` and `GetSchema` for the
//! configured topic and the two event fields in its schema.
//!
//! It uses the connector's own token provider and Pub/Sub client, so a pass means the
//! connector would get as far; it knows nothing about the steps after these.

use std::time::Duration;

use serde_json::Value;
use tonic::Code;

use super::Outcome;
use crate::auth::{url_policy, AccessGrant, AuthConfig, TokenProvider};
use crate::config::Config;
use crate::pubsub::connection::connect_lazy;
use crate::pubsub::{
    EndpointSettings, PubSubClient, PubSubCredentials, RpcError, StaticCredentials,
};

/// Longest wait for any one network step.
pub(super) const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Step 2: a token from the configured flow; with it, the provider for the later steps.
pub(super) async fn token(config: &Config) -> (Outcome, Option<(TokenProvider, AccessGrant)>) {
    let hint = auth_hint(&config.auth);
    // The same extra trust anchor as `run` gives every Salesforce connection.
    let ca_certificate_pem = config.pubsub.ca_certificate_pem.as_deref();
    let provider = match TokenProvider::with_ca_certificate(&config.auth, ca_certificate_pem) {
        Ok(provider) => provider,
        Err(error) => return (Outcome::fail(error.to_string(), hint), None),
    };
    let kind = provider.kind();
    let grant = match tokio::time::timeout(STEP_TIMEOUT, provider.grant()).await {
        Ok(Ok(grant)) => grant,
        Ok(Err(error)) => {
            return (
                Outcome::fail(format!("the {kind} flow got no token: {error}"), hint),
                None,
            )
        }
        Err(_) => {
            return (
                Outcome::fail(
                    format!(
                        "the {kind} flow got no answer within {} s",
                        STEP_TIMEOUT.as_secs()
                    ),
                    hint,
                ),
                None,
            )
        }
    };
    let detail = match &config.auth {
        AuthConfig::Static(_) => {
            "static token from auth.token (Salesforce checks it in the steps below)".to_owned()
        }
        AuthConfig::JwtBearer(jwt) => format!("{kind} flow, from {}", jwt.login_url),
        AuthConfig::ClientCredentials(cc) => format!("{kind} flow, from {}", cc.login_url),
    };
    (Outcome::Pass(detail), Some((provider, grant)))
}

/// What to check when the configured flow gets no token.
fn auth_hint(auth: &AuthConfig) -> &'static str {
    match auth {
        AuthConfig::JwtBearer(_) => {
            "check auth.client_id (the External Client App's consumer key), auth.username (a \
             user pre-authorized for the app), auth.login_url (login, test or My Domain URL) and \
             auth.private_key_file (the key whose certificate the app holds)"
        }
        AuthConfig::ClientCredentials(_) => {
            "check auth.client_id and auth.client_secret (BYOC__AUTH__CLIENT_SECRET), that the \
             app enables the client credentials flow with a run-as user, and that \
             auth.login_url is the org's My Domain URL"
        }
        AuthConfig::Static(_) => "check auth.token, auth.instance_url and auth.org_id",
    }
}

/// Step 3: the org id (printed in its 15-character form) and an instance URL the connector
/// may call.
pub(super) fn org(config: &Config, grant: &AccessGrant) -> Outcome {
    if let Err(error) = url_policy::require_tls_or_loopback(
        "the instance URL",
        &grant.instance_url,
        config.interaction.insecure,
    ) {
        return Outcome::fail(
            error.to_string(),
            "the instance URL comes from the token answer (auth.instance_url for a static \
             token); plain http is only for the loopback fake with interaction.insecure = true",
        );
    }
    Outcome::Pass(format!(
        "org id {}, instance URL {}",
        grant.org_id.as_15(),
        grant.instance_url
    ))
}

/// Step 4: `GetTopic` for `pubsub.topic`, `GetSchema` for its schema, and the event-type and
/// payload fields in that schema as strings.
pub(super) async fn pubsub(config: &Config, grant: &AccessGrant) -> Outcome {
    let topic = &config.pubsub.topic;
    let channel = match connect_lazy(&EndpointSettings::from(&config.pubsub)) {
        Ok(channel) => channel,
        Err(error) => {
            return Outcome::fail(
                error.to_string(),
                "check pubsub.endpoint, pubsub.insecure and pubsub.ca_certificate_file",
            )
        }
    };
    let client = PubSubClient::new(
        channel,
        StaticCredentials(PubSubCredentials {
            access_token: grant.access_token.clone(),
            instance_url: grant.instance_url.clone(),
            tenant_id: grant.org_id.as_str().to_owned(),
        }),
    );
    let info = match tokio::time::timeout(STEP_TIMEOUT, client.get_topic(topic)).await {
        Ok(Ok(info)) => info,
        Ok(Err(error)) => return rpc_failure("GetTopic", topic, &error),
        Err(_) => return no_answer("GetTopic"),
    };
    if !info.can_subscribe {
        return Outcome::fail(
            format!("the integration user may not subscribe to {topic}"),
            "give the integration user Read on the platform event (a permission set), or set \
             pubsub.topic to the channel's event",
        );
    }
    let schema = match tokio::time::timeout(STEP_TIMEOUT, client.get_schema(&info.schema_id)).await
    {
        Ok(Ok(schema)) => schema,
        Ok(Err(error)) => return rpc_failure("GetSchema", &info.schema_id, &error),
        Err(_) => return no_answer("GetSchema"),
    };
    let wanted = [
        (
            "pubsub.event_type_field",
            config.pubsub.event_type_field.as_str(),
        ),
        ("pubsub.payload_field", config.pubsub.payload_field.as_str()),
    ];
    let problems = field_problems(&schema.schema_json, &wanted);
    if problems.is_empty() {
        return Outcome::Pass(format!(
            "{topic} (schema {}) has {} and {}",
            info.schema_id, wanted[0].1, wanted[1].1
        ));
    }
    Outcome::fail(
        format!("the schema of {topic}: {}", problems.join("; ")),
        "set pubsub.event_type_field and pubsub.payload_field to the API names of the platform \
         event's two text fields (the channel definition's CustomEventTypeField and \
         CustomEventPayloadField), or add the fields to the event",
    )
}

/// What is wrong with each `(key, field)` in the Avro record schema `schema_json`: missing, or
/// not a string (plain or nullable).
pub(crate) fn field_problems(schema_json: &str, wanted: &[(&str, &str)]) -> Vec<String> {
    let Ok(schema) = serde_json::from_str::<Value>(schema_json) else {
        return vec!["GetSchema answered a schema that is not JSON".to_owned()];
    };
    let fields = schema["fields"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = fields
        .iter()
        .filter_map(|field| field["name"].as_str())
        .collect();
    let mut problems = Vec::new();
    for (key, name) in wanted {
        match fields.iter().find(|field| field["name"] == *name) {
            None => problems.push(format!(
                "no field {name} ({key}); its fields are {}",
                names.join(", ")
            )),
            Some(field) if !is_string_type(&field["type"]) => {
                problems.push(format!("field {name} ({key}) is not a text field"));
            }
            Some(_) => {}
        }
    }
    problems
}

/// `"string"`, `{"type": "string"}`, or a union holding one of them.
fn is_string_type(avro_type: &Value) -> bool {
    match avro_type {
        Value::String(name) => name == "string",
        Value::Array(members) => members.iter().any(is_string_type),
        Value::Object(object) => object.get("type").is_some_and(is_string_type),
        _ => false,
    }
}

fn no_answer(rpc: &str) -> Outcome {
    Outcome::fail(
        format!("{rpc} got no answer within {} s", STEP_TIMEOUT.as_secs()),
        "check pubsub.endpoint and that this machine may reach it (port 7443)",
    )
}

/// A refused or failed Pub/Sub call, with what to change for its code.
fn rpc_failure(rpc: &str, subject: &str, error: &RpcError) -> Outcome {
    let RpcError::Status { status, .. } = error else {
        return Outcome::fail(
            format!("{rpc} {subject}: {error}"),
            "check the [auth] section",
        );
    };
    let hint = match status.code() {
        Code::NotFound | Code::InvalidArgument if rpc == "GetTopic" => {
            "set pubsub.topic to /event/ followed by the channel definition's CustomPlatformEvent \
             (the platform event's API name, ending in __e)"
        }
        Code::Unauthenticated => {
            "pub/sub refused the token: check the [auth] section and that the token's org is the \
             one pubsub.endpoint serves"
        }
        Code::PermissionDenied => {
            "give the integration user Read on the platform event (a permission set) and the \
             API Enabled permission"
        }
        _ => {
            "check pubsub.endpoint, pubsub.insecure and pubsub.ca_certificate_file, and that this \
             machine may reach the endpoint"
        }
    };
    Outcome::fail(
        format!(
            "{rpc} {subject} was refused: {:?}: {}",
            status.code(),
            status.message()
        ),
        hint,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = r#"{"type": "record", "name": "E", "fields": [
        {"name": "CreatedDate", "type": "long"},
        {"name": "EventType__c", "type": ["null", "string"], "default": null},
        {"name": "Count__c", "type": ["null", "double"], "default": null}
    ]}"#;

    #[test]
    fn fields_must_be_present_and_text() {
        assert!(field_problems(SCHEMA, &[("k", "EventType__c")]).is_empty());
        let missing = field_problems(SCHEMA, &[("pubsub.payload_field", "Payload__c")]);
        assert_eq!(
            missing,
            ["no field Payload__c (pubsub.payload_field); its fields are CreatedDate, EventType__c, Count__c"]
        );
        let number = field_problems(SCHEMA, &[("k", "Count__c")]);
        assert_eq!(number, ["field Count__c (k) is not a text field"]);
    }
}
