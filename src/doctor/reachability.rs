//! The doctor's reachability steps: the Interaction Service accepting the token and
//! `AuthorizationContext`, and the partner's webhooks answering.
//!
//! The Interaction Service has no read-only call for a CCaaS connector, so the probe is the
//! least harmful documented one: `POST /routingResult` with an empty body, which Salesforce
//! must refuse for the body after checking the token (10003, 10004) and the context (10005);
//! a body refusal therefore passes, an auth refusal fails. The webhooks get a `HEAD`, which
//! no partner can mistake for an event delivery. It knows nothing about the other steps.

use std::time::Duration;

use super::salesforce::STEP_TIMEOUT;
use super::Outcome;
use crate::auth::TokenProvider;
use crate::channel::redacted_url;
use crate::config::{Config, DeliveryKind};
use crate::interaction::{ClientSettings, InteractionClient, InteractionError, AUTH_CODES};
use crate::routing::RoutingStrategy;

/// Salesforce's code for a refused header (the `OrgId`, for instance).
const INVALID_HEADER_CODE: i64 = 10016;

/// Step 6: the empty `routingResult` probe, refused for its body and not for auth.
pub(super) async fn interaction_service(config: &Config, provider: TokenProvider) -> Outcome {
    let context = &config.interaction.authorization_context;
    let mut settings = ClientSettings::from(&config.interaction);
    // The same extra trust anchor as `run` gives every Salesforce connection.
    settings.ca_certificate_pem = config.pubsub.ca_certificate_pem.clone();
    let client = match InteractionClient::new(
        &config.interaction.base_url,
        context.clone(),
        provider,
        settings,
    ) {
        Ok(client) => client,
        Err(error) => {
            return Outcome::fail(
                error.to_string(),
                "check interaction.base_url (https://<MyDomain>.my.salesforce-scrt.com) and \
                 interaction.insecure",
            )
        }
    };
    let Ok(answer) = tokio::time::timeout(STEP_TIMEOUT, client.probe_authorization()).await else {
        return Outcome::fail(
            format!(
                "POST /routingResult got no answer within {} s",
                STEP_TIMEOUT.as_secs()
            ),
            "check interaction.base_url and that this machine may reach it",
        );
    };
    probe_outcome(context, answer)
}

/// What the probe's answer says about the token and `AuthorizationContext`.
pub(crate) fn probe_outcome(
    context: &str,
    answer: Result<serde_json::Value, InteractionError>,
) -> Outcome {
    let Err(error) = answer else {
        return Outcome::Pass(format!("{context} accepted"));
    };
    let refused = |hint: &str| {
        Outcome::fail(
            format!("POST /routingResult (an empty probe) was refused: {error}"),
            hint,
        )
    };
    match (error.status(), error.code()) {
        (_, Some(code)) if code == crate::interaction::AUTHORIZATION_CONTEXT_MISMATCH_CODE => {
            refused(
                "set interaction.authorization_context to the DeveloperName of a channel \
                 definition the token's user may act for (the External Client App linked to \
                 the channel definition)",
            )
        }
        (Some(401), _) | (_, Some(10003 | 10004)) => refused(
            "the token was refused: the External Client App needs the interaction_api scope \
             (and refresh_token, offline_access); check the [auth] section",
        ),
        (Some(403), _) => refused(
            "set interaction.authorization_context to the DeveloperName of a channel definition \
             the token's user may act for",
        ),
        (_, Some(INVALID_HEADER_CODE)) => refused(
            "a header was refused: the org id (step 3) must be this org's, and \
             interaction.base_url this org's Interaction Service",
        ),
        (Some(400), Some(code)) if !AUTH_CODES.contains(&code) => Outcome::Pass(format!(
            "{context} accepted (the empty probe was refused for its body, code {code}, as \
             intended)"
        )),
        (None, None) if matches!(error, InteractionError::Auth(_)) => {
            refused("the token was refused and could not be renewed: check the [auth] section")
        }
        (None, None) => refused(
            "check interaction.base_url (https://<MyDomain>.my.salesforce-scrt.com) and that \
             this machine may reach it",
        ),
        _ => refused(
            "interaction.base_url must be this org's Interaction Service \
             (https://<MyDomain>.my.salesforce-scrt.com); retry later if it answered 429 or 5xx",
        ),
    }
}

/// Step 7: a `HEAD` to `delivery.url`, and to `routing.url` when the partner routes.
pub(super) async fn partner_webhooks(config: &Config) -> Outcome {
    let mut targets = Vec::new();
    if config.delivery.kind == DeliveryKind::Webhook {
        if let Some(url) = &config.delivery.url {
            targets.push(("delivery.url", url.as_str()));
        }
    }
    if config.routing.strategy == RoutingStrategy::Partner {
        if let Some(url) = &config.routing.url {
            targets.push(("routing.url", url.as_str()));
        }
    }
    if targets.is_empty() {
        return Outcome::Pass("no partner webhook configured (delivery.kind = stdout)".to_owned());
    }
    let connect_timeout = Duration::from_millis(config.delivery.connect_timeout_ms);
    let client = match reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(STEP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => return Outcome::fail(error.to_string(), "report this as a bug"),
    };
    let mut found = Vec::new();
    for (key, url) in targets {
        let shown = redacted_url(url);
        let status = match client.head(url).send().await {
            Ok(response) => response.status().as_u16(),
            Err(error) => {
                return Outcome::fail(
                    format!("HEAD {shown} ({key}) got no answer: {}", without_url(error)),
                    format!(
                        "check {key}: the partner's server must listen there and this machine \
                         may reach it"
                    ),
                )
            }
        };
        if status == 404 || status == 410 || status >= 500 {
            return Outcome::fail(
                format!("HEAD {shown} ({key}) answered http {status}"),
                format!(
                    "check {key}'s path (404 and 410 mean nothing is served there) and that the \
                     partner's server is healthy (5xx); see docs/partner-webhook.md"
                ),
            );
        }
        found.push(format!("{shown} ({key}) answered HEAD with http {status}"));
    }
    Outcome::Pass(found.join("; "))
}

/// The error's text without the URL, which may carry a secret in its query.
fn without_url(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, code: Option<i64>) -> Result<serde_json::Value, InteractionError> {
        Err(InteractionError::Api {
            status,
            code,
            message: "refused".to_owned(),
            retry_after: None,
        })
    }

    fn passes(answer: Result<serde_json::Value, InteractionError>) -> bool {
        matches!(probe_outcome("Def", answer), Outcome::Pass(_))
    }

    #[test]
    fn only_a_refusal_of_the_body_passes() {
        assert!(passes(api(400, Some(10018))));
        assert!(passes(api(400, Some(10089))));
        for (status, code) in [
            (403, Some(10005)),
            (400, Some(10005)),
            (401, Some(10004)),
            (400, Some(10003)),
            (400, Some(10016)),
            (400, None),
            (404, None),
            (429, None),
            (503, Some(503)),
        ] {
            assert!(!passes(api(status, code)), "{status} {code:?}");
        }
    }

    #[test]
    fn each_failure_hints_at_the_key_to_change() {
        let Outcome::Fail { hint, .. } = probe_outcome("Def", api(403, Some(10005))) else {
            panic!("10005 passed");
        };
        assert!(hint.contains("interaction.authorization_context"), "{hint}");
        let Outcome::Fail { hint, .. } = probe_outcome("Def", api(401, Some(10004))) else {
            panic!("10004 passed");
        };
        assert!(hint.contains("interaction_api"), "{hint}");
    }
}
