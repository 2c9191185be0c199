//! The connector's log lines, read as a log collector reads them: a full run of the real
//! binary (retries, a dead letter, a refused routingResult, a failed Pub/Sub stream) emits
//! JSON lines with one key per name, numbers as numbers, the ids each problem concerns, one
//! line per refusal and the resume summary once; `--log-format text` and `--help` too; the
//! config file's `log.format` and the order flag, environment, file.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use fake_salesforce::faults::FaultRequest;
use fake_salesforce::interaction_service::InteractionFault;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::support::pipeline::*;
use crate::support::routing::session_id;
use crate::support::start_fake;

/// A JSON value that refuses an object with the same key twice (serde_json keeps the last).
struct NoDuplicateKeys;

impl<'de> Deserialize<'de> for NoDuplicateKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NoDuplicateKeysVisitor)
    }
}

struct NoDuplicateKeysVisitor;

impl<'de> Visitor<'de> for NoDuplicateKeysVisitor {
    type Value = NoDuplicateKeys;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("any json value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicateKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            map.next_value::<NoDuplicateKeys>()?;
        }
        Ok(NoDuplicateKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<NoDuplicateKeys, A::Error> {
        while seq.next_element::<NoDuplicateKeys>()?.is_some() {}
        Ok(NoDuplicateKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicateKeys, E> {
        Ok(NoDuplicateKeys)
    }
}

/// Fields that hold a count, a duration or a status: they must be JSON numbers.
fn is_numeric_field(name: &str) -> bool {
    name.ends_with("_ms")
        || name.ends_with("_secs")
        || [
            "attempt",
            "status",
            "grpc_code",
            "resumed",
            "missed",
            "credit",
        ]
        .contains(&name)
}

/// The `fields` of a JSON log line (the event's own fields and its message).
fn fields(line: &Value) -> &serde_json::Map<String, Value> {
    line["fields"].as_object().expect("every line has fields")
}

/// Whether `line` mentions `needle` in its fields or its spans.
fn mentions(line: &Value, needle: &str) -> bool {
    line.to_string().contains(needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_run_logs_json_lines_with_one_key_per_name_numbers_and_the_ids_of_each_problem() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let first_answers = Arc::new(AtomicU32::new(0));
    let partner = Partner::start(Arc::new(move |received| match received.seq {
        // seq 2 fails twice, then is accepted: two retries.
        Some(2) if first_answers.fetch_add(1, Ordering::SeqCst) < 2 => {
            (StatusCode::INTERNAL_SERVER_ERROR, Duration::ZERO)
        }
        Some(4) => (StatusCode::UNPROCESSABLE_ENTITY, Duration::ZERO),
        _ => (StatusCode::OK, Duration::ZERO),
    }))
    .await;
    let dir = ScratchDir::new("logs");
    let config = write_connector_config(&fake, dir.path(), &partner.url, REJECT_ROUTING);
    let refused_conversation = conversation_name(900);
    let refused_event = "0Mwlogs-refused-event";
    // Salesforce knows the conversation's session, then refuses the post for good.
    fake.interaction()
        .seed_conversation(&refused_conversation, &session_id());
    fake.interaction()
        .inject_fault(InteractionFault::status("routingResult", 400, 1))
        .unwrap();
    let mut events = numbered_messages(6, 2);
    events.push(routing_requested_event(
        &routing_request_payload("queue", &refused_conversation, refused_event),
        epoch_ms(),
    ));
    fake.publish(&events).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env(
            "RUST_LOG",
            "debug,h2=info,hyper=info,tonic=info,tower=info,reqwest=info,rustls=info",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let reader = {
        let (lines, stderr) = (lines.clone(), child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let logged = |needle: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|line| line.contains(needle))
    };
    let handled = || {
        partner.distinct_seqs().len() == 6
            && logged("event dead-lettered")
            && logged("routing result refused")
    };
    for _ in 0..300 {
        if handled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        handled(),
        "delivered {:?}; log:\n{}",
        partner.distinct_seqs(),
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|line| !line.contains("DEBUG") && !line.contains("TRACE"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // A failed stream: the line that once had two `message` keys.
    fake.apply_faults(&FaultRequest {
        unavailable_after_events: Some(0),
        ..FaultRequest::default()
    });
    fake.publish(&[message_event(&conversation_name(0), 7)])
        .unwrap();
    wait_until(
        "the stream failure is logged",
        Duration::from_secs(30),
        || logged("pubsub stream failed"),
    )
    .await;
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success());

    let lines = lines.lock().unwrap().clone();
    let mut parsed = Vec::new();
    for line in &lines {
        if let Err(error) = serde_json::from_str::<NoDuplicateKeys>(line) {
            panic!("{error} in log line:\n{line}");
        }
        let value: Value = serde_json::from_str(line).unwrap();
        for (name, field) in fields(&value) {
            if is_numeric_field(name) && !field.is_null() {
                assert!(field.is_number(), "`{name}` is not a number in:\n{line}");
            }
        }
        parsed.push(value);
    }
    let with_message = |text: &str| -> Vec<&Value> {
        parsed
            .iter()
            .filter(|line| {
                fields(line)["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
            })
            .collect()
    };

    let problems_about_refusal: Vec<&Value> = parsed
        .iter()
        .filter(|line| line["level"] == "WARN" || line["level"] == "ERROR")
        .filter(|line| mentions(line, refused_event))
        .collect();
    assert_eq!(
        problems_about_refusal.len(),
        1,
        "{problems_about_refusal:#?}"
    );
    assert!(mentions(problems_about_refusal[0], &refused_conversation));

    assert_eq!(with_message("pending routing requests resumed").len(), 1);

    let dead_lettered = with_message("event dead-lettered");
    assert_eq!(dead_lettered.len(), 1);
    assert!(fields(dead_lettered[0])["conversation_id"].is_string());
    assert!(fields(dead_lettered[0])["replay_id"].is_string());

    let retries = with_message("delivery failed, retrying");
    assert_eq!(retries.len(), 2, "{retries:#?}");
    for retry in retries {
        assert!(mentions(retry, &conversation_name(0)), "{retry}");
        assert!(retry["span"]["replay_id"].is_string(), "{retry}");
    }

    let stream_failed = with_message("pubsub stream failed");
    assert!(!stream_failed.is_empty());
    assert!(fields(stream_failed[0])["grpc_message"].is_string());
    assert!(fields(stream_failed[0])["grpc_code"].is_number());
}

#[test]
fn text_format_writes_plain_lines_and_help_documents_rust_log() {
    let help = Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("RUST_LOG"), "{help}");
    assert!(help.contains("--log-format"), "{help}");

    for (format, json) in [("text", false), ("json", true)] {
        let first_line = first_log_line(None, Some(format), None);
        assert!(first_line.contains("no config file"), "{first_line}");
        assert_eq!(first_line.starts_with('{'), json, "{format}: {first_line}");
        if !json {
            assert!(first_line.contains("INFO"), "{first_line}");
        }
    }
}

/// The first line the binary logs on `run` with, when given, a config file whose `[log]
/// format` is `file_format`, `--log-format flag` and `BYOC_LOG_FORMAT=env`; every other key
/// comes from the environment.
fn first_log_line(file_format: Option<&str>, flag: Option<&str>, env: Option<&str>) -> String {
    let dir = ScratchDir::new("log-format");
    let mut command = Command::new(env!("CARGO_BIN_EXE_byoc-connector"));
    command.arg("run");
    if let Some(file_format) = file_format {
        let config = dir.path().join("connector.toml");
        std::fs::write(&config, format!("[log]\nformat = \"{file_format}\"\n")).unwrap();
        command.arg("--config").arg(&config);
    }
    if let Some(flag) = flag {
        command.args(["--log-format", flag]);
    }
    command.env_remove("BYOC_LOG_FORMAT");
    if let Some(env) = env {
        command.env("BYOC_LOG_FORMAT", env);
    }
    let mut child = command
        .envs(crate::support::config::MINIMAL_ENV.iter().copied())
        .env("BYOC__SERVER__LISTEN", "127.0.0.1:0")
        .env("BYOC__SERVER__SIDECAR_LISTEN", "127.0.0.1:0")
        .env("BYOC__STORE__PATH", dir.path().join("state.redb"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    first_line
}

/// Whether `line` is a JSON log line; panics on a line that is neither JSON nor a text log
/// line (a configuration error, or nothing at all).
fn is_json_log_line(line: &str) -> bool {
    if serde_json::from_str::<Value>(line).is_ok() {
        return true;
    }
    assert!(
        ["INFO", "WARN", "ERROR"]
            .iter()
            .any(|level| line.contains(level)),
        "not a log line: {line:?}"
    );
    false
}

#[test]
fn the_config_files_log_format_applies_unless_the_flag_or_the_environment_says_otherwise() {
    // stderr is a pipe here, so `auto` (the default) would write JSON.
    let (text, json) = (Some("text"), Some("json"));
    assert!(!is_json_log_line(&first_log_line(text, None, None)));
    assert!(is_json_log_line(&first_log_line(json, None, None)));
    // BYOC_LOG_FORMAT wins over the file, --log-format over both.
    assert!(is_json_log_line(&first_log_line(text, None, json)));
    assert!(is_json_log_line(&first_log_line(text, json, None)));
    assert!(!is_json_log_line(&first_log_line(json, text, json)));
}

#[test]
fn a_bad_log_format_in_the_file_is_a_config_error_naming_the_key_and_the_values() {
    use super::config::{byoc, config_file, stderr, stdout};
    let text = format!(
        "{}\n[log]\nformat = \"yaml\"\n",
        crate::support::config::MINIMAL
    );
    let path = config_file(&text);
    let refused = byoc(&["run", "--config", path.to_str().unwrap()], &[]);
    std::fs::write(&path, text.replace("yaml", "text")).unwrap();
    let shown = byoc(&["config", "show", "--config", path.to_str().unwrap()], &[]);
    std::fs::remove_file(path).unwrap();

    assert_eq!(refused.status.code(), Some(64));
    let error = stderr(&refused);
    assert!(
        error.contains("log.format has unknown value `yaml`"),
        "{error}"
    );
    assert!(error.contains("`auto`, `json`, `text`"), "{error}");
    assert!(shown.status.success(), "{}", stderr(&shown));
    assert!(
        stdout(&shown).contains("[log]\nformat = \"text\"  # file"),
        "{}",
        stdout(&shown)
    );
}
