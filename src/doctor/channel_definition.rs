//! The doctor's channel-definition step: the ConversationChannelDefinition whose
//! `DeveloperName` is `interaction.authorization_context`, read by SOQL, and whether it
//! matches the configuration.
//!
//! It must name the configured topic's platform event and event fields, have
//! `RoutingOwner = Partner` (every `routing.strategy` answers `RoutingRequested` events, which
//! Salesforce sends only then) and the `ConsentOwner` that `channel.consent_owner` says (the
//! sidecar's consent route sends only when it is the partner; an empty value is Salesforce's
//! documented default). Whether SOQL answers the event
//! fields bare (`Payload__c`) or qualified (`Event__e.Payload__c`) is unverified, so both are
//! accepted. It knows nothing about the other steps.

use reqwest::header::{HeaderValue, AUTHORIZATION};
use serde_json::Value;

use super::salesforce::STEP_TIMEOUT;
use super::Outcome;
use crate::auth::{url_policy, AccessGrant};
use crate::config::{Config, ConsentOwner, TOPIC_PREFIX};

/// The fields read, by their SOQL names.
const QUERY_FIELDS: &str = "Id, DeveloperName, RoutingOwner, ConsentOwner, CustomPlatformEvent, \
                            CustomEventTypeField, CustomEventPayloadField";

/// Step 5: the channel definition found and matching the configuration.
pub(super) async fn check(config: &Config, grant: &AccessGrant) -> Outcome {
    let name = &config.interaction.authorization_context;
    let record = match query(config, grant).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            return Outcome::fail(
                format!("no ConversationChannelDefinition has DeveloperName = '{name}'"),
                "set interaction.authorization_context to the DeveloperName of the channel's \
                 ConversationChannelDefinition, and let the integration user read it",
            )
        }
        Err(failure) => return failure,
    };
    let problems = mismatches(config, &record);
    if problems.is_empty() {
        return Outcome::Pass(format!(
            "{name}: platform event {}, RoutingOwner Partner, ConsentOwner {}",
            text(&record, "CustomPlatformEvent"),
            consent_owner(&record)
        ));
    }
    let (reasons, hints): (Vec<String>, Vec<String>) = problems.into_iter().unzip();
    Outcome::fail(
        format!(
            "{name} does not match the configuration: {}",
            reasons.join("; ")
        ),
        hints.join("; "),
    )
}

/// The record, `None` when the query finds none, or the failed step.
async fn query(config: &Config, grant: &AccessGrant) -> Result<Option<Value>, Outcome> {
    let mut url = url_policy::require_tls_or_loopback(
        "the instance URL",
        &grant.instance_url,
        config.interaction.insecure,
    )
    .map_err(|error| Outcome::fail(error.to_string(), "see step 3"))?;
    let path = format!(
        "{}/services/data/v{}/query",
        url.path().trim_end_matches('/'),
        config.routing.soql_api_version
    );
    url.set_path(&path);
    let soql = format!(
        "SELECT {QUERY_FIELDS} FROM ConversationChannelDefinition WHERE DeveloperName = '{}' \
         LIMIT 1",
        config.interaction.authorization_context
    );
    url.query_pairs_mut().clear().append_pair("q", &soql);
    let mut bearer = HeaderValue::from_str(&format!("Bearer {}", grant.access_token.expose()))
        .map_err(|_| {
            Outcome::fail(
                "the access token holds characters not allowed in a header",
                "check the [auth] section",
            )
        })?;
    bearer.set_sensitive(true);
    // The same extra trust anchor as `run` gives every Salesforce connection.
    let client =
        crate::auth::url_policy::client_builder(config.pubsub.ca_certificate_pem.as_deref())
            .and_then(reqwest::ClientBuilder::build)
            .map_err(|error| {
                Outcome::fail(
                    format!("cannot build the REST client: {error}"),
                    "check pubsub.ca_certificate_file",
                )
            })?;
    let response = client
        .get(url)
        .header(AUTHORIZATION, bearer)
        .timeout(STEP_TIMEOUT)
        .send()
        .await
        .map_err(|error| {
            Outcome::fail(
                format!("the SOQL query got no answer: {error}"),
                "check that this machine may reach the instance URL",
            )
        })?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = body[0]["errorCode"].as_str().unwrap_or("no error code");
        let message = body[0]["message"].as_str().unwrap_or_default();
        let hint = match status {
            401 => "the REST API refused the token: check the [auth] section",
            404 => "routing.soql_api_version names an API version the org does not serve",
            _ => {
                "the integration user needs the API Enabled permission and read access to \
                 ConversationChannelDefinition; routing.soql_api_version must be one that has \
                 these fields"
            }
        };
        return Err(Outcome::fail(
            format!("the SOQL query was refused (http {status}, {code}): {message}"),
            hint,
        ));
    }
    Ok(body["records"]
        .as_array()
        .and_then(|records| records.first())
        .cloned())
}

/// Each way `record` differs from the configuration: what differs, and what to change.
pub(crate) fn mismatches(config: &Config, record: &Value) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let event = config
        .pubsub
        .topic
        .strip_prefix(TOPIC_PREFIX)
        .unwrap_or(&config.pubsub.topic);
    let platform_event = text(record, "CustomPlatformEvent");
    if !platform_event.eq_ignore_ascii_case(event) {
        problems.push((
            format!("CustomPlatformEvent is {platform_event}, pubsub.topic names {event}"),
            format!("set pubsub.topic = \"{TOPIC_PREFIX}{platform_event}\""),
        ));
    }
    for (field, key, configured) in [
        (
            "CustomEventTypeField",
            "pubsub.event_type_field",
            &config.pubsub.event_type_field,
        ),
        (
            "CustomEventPayloadField",
            "pubsub.payload_field",
            &config.pubsub.payload_field,
        ),
    ] {
        let found = text(record, field);
        let bare = found.rsplit('.').next().unwrap_or(found);
        if !bare.eq_ignore_ascii_case(configured) {
            problems.push((
                format!("{field} is {found}, {key} is {configured}"),
                format!("set {key} = \"{bare}\""),
            ));
        }
    }
    let routing_owner = text(record, "RoutingOwner");
    if routing_owner != "Partner" {
        problems.push((
            format!(
                "RoutingOwner is {routing_owner}, but routing.strategy = \"{}\" answers \
                 RoutingRequested events, which Salesforce sends only when it is Partner",
                config.routing.strategy
            ),
            "set the channel definition's RoutingOwner to Partner".to_owned(),
        ));
    }
    let consent = consent_owner(record);
    let (expected, configured) = match config.channel.consent_owner {
        ConsentOwner::Salesforce => ("Salesforce", "salesforce"),
        ConsentOwner::Partner => ("Partner", "partner"),
    };
    if consent != expected {
        problems.push((
            format!("ConsentOwner is {consent}, channel.consent_owner is \"{configured}\""),
            format!(
                "set channel.consent_owner = \"{}\", or the channel definition's ConsentOwner \
                 to {expected}",
                consent.to_ascii_lowercase()
            ),
        ));
    }
    problems
}

/// `ConsentOwner`, empty meaning Salesforce's documented default.
fn consent_owner(record: &Value) -> &str {
    match text(record, "ConsentOwner") {
        "(empty)" => "Salesforce",
        owner => owner,
    }
}

/// A text field of `record`, `(empty)` when null or missing.
fn text<'a>(record: &'a Value, field: &str) -> &'a str {
    record[field]
        .as_str()
        .filter(|value| !value.is_empty())
        .unwrap_or("(empty)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        Config::from_toml_str(crate::config::Config::example_toml()).unwrap()
    }

    fn record() -> Value {
        json!({
            "DeveloperName": "Partner1_ChannelDefinition1",
            "RoutingOwner": "Partner",
            "ConsentOwner": null,
            "CustomPlatformEvent": "Partner_Event__e",
            "CustomEventTypeField": "EventType__c",
            "CustomEventPayloadField": "Partner_Event__e.Payload__c",
        })
    }

    #[test]
    fn a_matching_definition_passes_with_bare_or_qualified_fields() {
        assert_eq!(mismatches(&config(), &record()), Vec::new());
    }

    #[test]
    fn each_difference_names_the_field_and_the_key_to_change() {
        let mut record = record();
        record["RoutingOwner"] = json!("Salesforce");
        record["ConsentOwner"] = json!("Partner");
        record["CustomPlatformEvent"] = json!("Other__e");
        let problems = mismatches(&config(), &record);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].1.contains("pubsub.topic = \"/event/Other__e\""));
        assert!(problems[1].0.starts_with("RoutingOwner is Salesforce"));
        assert!(problems[2].0.starts_with("ConsentOwner is Partner"));
        assert!(problems[2]
            .1
            .contains("channel.consent_owner = \"partner\""));
    }

    #[test]
    fn a_partner_consent_owner_matches_when_the_config_says_partner() {
        let mut record = record();
        record["ConsentOwner"] = json!("Partner");
        let mut config = config();
        config.channel.consent_owner = ConsentOwner::Partner;
        assert_eq!(mismatches(&config, &record), Vec::new());
        let mut salesforce_owned = super::tests::record();
        salesforce_owned["ConsentOwner"] = json!("Salesforce");
        let problems = mismatches(&config, &salesforce_owned);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0]
            .0
            .contains("channel.consent_owner is \"partner\""));
    }
}
