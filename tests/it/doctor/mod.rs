//! `byoc-connector doctor`, run as the real binary against the fake Salesforce and a real
//! partner: every step passes on a good setup, and each way a setup can be wrong fails its
//! own step, with a reason, a hint and the documented exit status.

mod failures;
mod tenants;

use std::path::PathBuf;
use std::process::Output;

use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use fake_salesforce::FakeSalesforce;

use crate::support::pipeline::{connector_config_toml, Partner, ScratchDir, REJECT_ROUTING};
use crate::support::start_fake;

/// `doctor`'s exit status when a step other than the configuration fails.
const EXIT_CHECK_FAILED: i32 = 69;

/// A fake Salesforce, a partner and a scratch directory for the config and the store.
struct Setup {
    fake: FakeSalesforce,
    partner: Partner,
    dir: ScratchDir,
}

impl Setup {
    async fn start() -> Self {
        Self {
            fake: start_fake(false, PubSubFakeConfig::default()).await,
            partner: Partner::accepting().await,
            dir: ScratchDir::new("doctor"),
        }
    }

    /// Where the connector's store would be.
    fn store_path(&self) -> PathBuf {
        self.dir.path().join("state").join("state.redb")
    }

    /// A connector config that passes every step, with `edits` applied as
    /// `(section, key, value)`.
    fn config(&self, edits: &[(&str, &str, toml::Value)]) -> String {
        let text = connector_config_toml(
            &self.fake,
            &self.partner.url,
            &self.store_path(),
            REJECT_ROUTING,
        );
        let mut table: toml::Table = text.parse().unwrap();
        for (section, key, value) in edits {
            let section = table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            section
                .as_table_mut()
                .unwrap()
                .insert((*key).to_owned(), value.clone());
        }
        toml::to_string(&table).unwrap()
    }

    /// Runs `doctor --config <file holding config_text>` plus `extra` arguments.
    async fn doctor(&self, config_text: &str, extra: &[&str]) -> Output {
        let path = self
            .dir
            .path()
            .join(format!("{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&path, config_text).unwrap();
        let extra: Vec<String> = extra.iter().map(|arg| (*arg).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"));
            for (name, _) in std::env::vars_os() {
                if name.to_string_lossy().starts_with("BYOC") {
                    command.env_remove(name);
                }
            }
            command
                .arg("doctor")
                .arg("--config")
                .arg(&path)
                .args(extra)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The report line of step `number`, with the hint line under it when there is one.
fn step(output: &Output, number: usize) -> String {
    let text = stdout(output);
    let mut lines = text.lines().skip_while(|line| {
        !line
            .split_once("] ")
            .is_some_and(|(_, rest)| rest.starts_with(&format!("{number}. ")))
    });
    let mut found = lines
        .next()
        .unwrap_or_else(|| panic!("no step {number} in:\n{text}"))
        .to_owned();
    for line in lines.take_while(|line| line.starts_with("       ")) {
        found.push('\n');
        found.push_str(line);
    }
    found
}

/// Asserts `doctor` exited with `code` and step `number` failed with `reason` and a hint
/// holding `hint`.
fn assert_fails(output: &Output, code: i32, number: usize, reason: &str, hint: &str) -> String {
    let line = step(output, number);
    assert_eq!(output.status.code(), Some(code), "{}", stdout(output));
    assert!(line.starts_with("[FAIL] "), "{line}");
    assert!(line.contains(reason), "{reason} not in:\n{line}");
    let hint_line = line
        .lines()
        .find(|line| line.trim_start().starts_with("hint: "))
        .unwrap_or_else(|| panic!("no hint in:\n{line}"));
    assert!(hint_line.contains(hint), "{hint} not in:\n{line}");
    line
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_passes_against_a_matching_fake_and_nothing_is_recorded() {
    let setup = Setup::start().await;
    let output = setup.doctor(&setup.config(&[]), &[]).await;

    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    for number in 1..=8 {
        assert!(step(&output, number).starts_with("[pass] "), "{text}");
    }
    let endpoints = setup.fake.endpoints();
    assert!(
        step(&output, 3).contains(&format!(
            "org id {}, instance URL {}",
            &endpoints.org_id[..15],
            endpoints.instance_url
        )),
        "{text}"
    );
    assert!(
        step(&output, 4).contains("EventType__c and Payload__c"),
        "{text}"
    );
    assert!(step(&output, 5).contains("RoutingOwner Partner"), "{text}");
    assert!(step(&output, 7).contains("http 405"), "{text}");
    assert!(step(&output, 8).contains("does not exist yet"), "{text}");
    assert!(text.ends_with("8 passed, 0 failed, 0 skipped\n"), "{text}");
    assert!(
        !text.contains(&endpoints.token),
        "the token is printed:\n{text}"
    );
    // The probe was refused for its body, so nothing was recorded; no delivery, no store.
    let probes = setup.fake.interaction().calls_to("/api/v1/routingResult");
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0].status, 400);
    assert!(setup.partner.received().is_empty());
    assert!(!setup.store_path().exists());
    assert!(setup.fake.soql().queries()[0].contains("FROM ConversationChannelDefinition"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_has_one_entry_per_step() {
    let setup = Setup::start().await;
    let output = setup.doctor(&setup.config(&[]), &["--json"]).await;

    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8);
    assert_eq!(steps[5]["step"], "interaction_service");
    assert_eq!(steps[5]["number"], 6);
    assert!(
        steps.iter().all(|step| step["status"] == "pass"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_held_by_a_running_connector_passes_with_that_note_and_a_stopped_one_is_opened() {
    let setup = Setup::start().await;
    let store = byoc_connector::store::Store::open(
        setup.store_path(),
        byoc_connector::store::StoreSettings::default(),
    )
    .unwrap();

    let output = setup.doctor(&setup.config(&[]), &[]).await;

    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        step(&output, 8).contains("in use by a running connector"),
        "{}",
        stdout(&output)
    );
    drop(store);
    let stopped = setup.doctor(&setup.config(&[]), &[]).await;
    assert!(
        step(&stopped, 8).contains("opened for writing"),
        "{}",
        stdout(&stopped)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_passes_when_reachable_and_fails_without_its_password_when_not() {
    use crate::support::store::{fresh_namespace, postgres_url};
    let setup = Setup::start().await;
    let namespace = fresh_namespace();
    let postgres = |url: String| {
        setup.config(&[
            ("store", "kind", toml::Value::String("postgres".to_owned())),
            ("store", "url", toml::Value::String(url)),
            ("store", "namespace", toml::Value::String(namespace.clone())),
        ])
    };

    let reachable = setup.doctor(&postgres(postgres_url()), &[]).await;
    let unreachable = setup
        .doctor(
            &postgres("postgres://byoc:pw-d0c7@127.0.0.1:1/byoc".to_owned()),
            &[],
        )
        .await;

    assert_eq!(reachable.status.code(), Some(0), "{}", stdout(&reachable));
    assert!(
        step(&reachable, 8).contains(&format!("namespace {namespace} opened")),
        "{}",
        stdout(&reachable)
    );
    assert_fails(
        &unreachable,
        EXIT_CHECK_FAILED,
        8,
        "cannot open the PostgreSQL store byoc@127.0.0.1:1/byoc",
        "store.url",
    );
    assert!(
        !stdout(&unreachable).contains("pw-d0c7"),
        "{}",
        stdout(&unreachable)
    );
    assert!(
        !setup.store_path().exists(),
        "no file next to a postgres store"
    );
}
