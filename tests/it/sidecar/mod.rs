//! The sidecar API's partner → Salesforce routes, driven over real sockets with reqwest
//! against the real `byoc-connector` binary and the fake Salesforce: each route's Salesforce
//! call, the 4xx that names a field and a rule with nothing sent, Salesforce's code and
//! message passed on, idempotency across a restart, retries inside the caller's deadline,
//! the bearer token, and the OpenAPI document.

mod attachment;
mod capabilities;
mod consent;
mod delivery_failures;
mod fake_rules;
mod history;
mod inbound;
mod openapi;
mod participant;

use std::time::Duration;

use crate::support::pipeline::{
    write_connector_config, ConnectorProcess, ScratchDir, REJECT_ROUTING,
};
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;
use serde_json::Value;

/// The channel address the connector is configured with (the fake takes UUIDs).
pub const CHANNEL: &str = "b0ffeafe-0d89-4338-b14a-172ad203f22a";
/// The end user of the tests.
pub const END_USER: &str = "end-user-7";

/// Waits (bounded) until the connector reports ready on its ops listener: by then it holds a
/// token and the sidecar's inbound routes are live.
async fn wait_ready(http: &reqwest::Client, connector: &ConnectorProcess) {
    let url = format!("http://{}/readyz", connector.ops);
    for _ in 0..200 {
        let ready = http
            .get(&url)
            .send()
            .await
            .is_ok_and(|response| response.status() == 200);
        if ready {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the connector did not become ready; log:\n{}",
        connector.log()
    );
}

/// A fake Salesforce and the real binary in front of it, with its sidecar API.
pub struct Sidecar {
    pub fake: FakeSalesforce,
    pub dir: ScratchDir,
    pub config: std::path::PathBuf,
    pub connector: ConnectorProcess,
    pub http: reqwest::Client,
}

impl Sidecar {
    /// Starts the fake and the binary, with `server_extra` appended to `[server]`.
    pub async fn start_with(server_extra: &str) -> Self {
        Self::start_configured(server_extra, "").await
    }

    /// [`Sidecar::start_with`], with `tail` appended to the config after `[channel]`'s
    /// addresses: more `[channel]` keys first, then any further sections.
    pub async fn start_configured(server_extra: &str, tail: &str) -> Self {
        let fake = start_fake(false, PubSubFakeConfig::default()).await;
        let dir = ScratchDir::new("sidecar");
        let config = write_connector_config(
            &fake,
            dir.path(),
            "http://127.0.0.1:9/unused",
            REJECT_ROUTING,
        );
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "sidecar_listen = \"127.0.0.1:0\"\n",
            &format!("sidecar_listen = \"127.0.0.1:0\"\n{server_extra}"),
        );
        let text = format!("{text}\n[channel]\naddress_identifiers = [\"{CHANNEL}\"]\n{tail}");
        std::fs::write(&config, text).unwrap();
        let connector = ConnectorProcess::start(&config).await;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        wait_ready(&http, &connector).await;
        Self {
            fake,
            dir,
            config,
            connector,
            http,
        }
    }

    /// Starts the fake and the binary with a loopback sidecar and no token.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Kills the binary and starts it again on the same config and store.
    pub async fn restart(self) -> Self {
        self.restart_after(|| {}).await
    }

    /// Kills the binary, runs `between`, and starts it again on the same config.
    pub async fn restart_after(self, between: impl FnOnce()) -> Self {
        let Self {
            fake,
            dir,
            config,
            connector,
            http,
        } = self;
        connector.kill().await;
        between();
        let connector = ConnectorProcess::start(&config).await;
        wait_ready(&http, &connector).await;
        Self {
            fake,
            dir,
            config,
            connector,
            http,
        }
    }

    /// The URL of `path` on the sidecar.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.connector.sidecar)
    }

    /// Sends `method path` with `body` and `headers`; returns the status and JSON body. A
    /// `503` while the connector starts is retried.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (u16, Value) {
        for _ in 0..100 {
            let mut request = self.http.request(method.clone(), self.url(path)).json(body);
            for (name, value) in headers {
                request = request.header(*name, *value);
            }
            let response = request.send().await.expect("the sidecar answers");
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status == 503 && body["error"]["kind"] == "starting" {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            return (status, body);
        }
        panic!("the sidecar kept answering 503 starting");
    }

    /// `PATCH path` with an `Idempotency-Key`.
    pub async fn patch(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::PATCH,
            path,
            &[("idempotency-key", key)],
            body,
        )
        .await
    }

    /// `POST path` with an `Idempotency-Key`.
    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            &[("idempotency-key", key)],
            body,
        )
        .await
    }
}
