//! `byoc-connector config example` and `config show`, run as the real binary: the example
//! loads as is, and the effective configuration says where each value came from without ever
//! printing a secret.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::config::MINIMAL_ENV;
use byoc_connector::config::Config;

/// A client-credentials configuration whose secrets are easy to search for.
const FILE_WITH_SECRETS: &str = r#"
[pubsub]
topic = "/event/Partner_Event__e"
max_in_flight = 50

[auth]
kind = "client-credentials"
client_id = "3MVG9example"
client_secret = "file-client-secret-7d1"
login_url = "https://example.my.salesforce.com"

[interaction]
base_url = "https://example.my.salesforce-scrt.com"
authorization_context = "Partner1_ChannelDefinition1"

[delivery]
url = "https://partner.example/byoc/events"
secret = "file-webhook-secret-3f9"

[pipeline]
max_concurrent_conversations = 16
grace_secs = 30

[routing]
url = "https://partner.example/byoc/routing"
"#;

/// Runs the binary with `args` and exactly the `BYOC…` variables of `env`, so the test
/// machine's own environment cannot change the outcome.
pub(super) fn byoc(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_byoc-connector"));
    command.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BYOC") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied()).output().unwrap()
}

/// A fresh file holding `text`.
pub(super) fn config_file(text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("byoc-cli-config-{}.toml", uuid::Uuid::new_v4()));
    std::fs::write(&path, text).unwrap();
    path
}

pub(super) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub(super) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// The line of `section`'s `leaf` in `config show` output.
fn line_of<'a>(shown: &'a str, section: &str, leaf: &str) -> &'a str {
    let header = format!("[{section}]");
    shown
        .lines()
        .skip_while(|line| *line != header)
        .skip(1)
        .take_while(|line| !line.starts_with('['))
        .find(|line| line.starts_with(&format!("{leaf} = ")))
        .unwrap_or_else(|| panic!("no {section}.{leaf} in:\n{shown}"))
}

#[test]
fn config_example_prints_a_configuration_that_loads_as_is() {
    let output = byoc(&["config", "example"], &[]);

    assert!(output.status.success(), "{}", stderr(&output));
    let example = stdout(&output);
    assert_eq!(example, Config::example_toml());
    assert!(example.lines().filter(|line| line.starts_with('#')).count() > 10);
    let path = config_file(&example);
    Config::load(Some(&path), Vec::new()).unwrap();
    let shown = byoc(&["config", "show", "--config", path.to_str().unwrap()], &[]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    std::fs::remove_file(path).unwrap();
}

#[test]
fn config_show_never_prints_a_secret_from_the_file_or_the_environment() {
    let path = config_file(FILE_WITH_SECRETS);
    let output = byoc(
        &["config", "show", "--config", path.to_str().unwrap()],
        &[
            ("BYOC__ROUTING__SECRET", "env-routing-secret-b42"),
            (
                "BYOC__DELIVERY__URL",
                "https://partner.example/byoc/events?token=env-url-token-c77",
            ),
        ],
    );
    std::fs::remove_file(path).unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let (shown, logged) = (stdout(&output), stderr(&output));
    for secret in [
        "file-client-secret-7d1",
        "file-webhook-secret-3f9",
        "env-routing-secret-b42",
        "env-url-token-c77",
    ] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        assert!(!logged.contains(secret), "{secret} logged:\n{logged}");
    }
    assert_eq!(
        line_of(&shown, "auth", "client_secret"),
        r#"client_secret = "[redacted]"  # file"#
    );
    assert_eq!(
        line_of(&shown, "delivery", "secret"),
        r#"secret = "[redacted]"  # file"#
    );
    assert_eq!(
        line_of(&shown, "routing", "secret"),
        r#"secret = "[redacted]"  # env BYOC__ROUTING__SECRET"#
    );
    assert_eq!(
        line_of(&shown, "delivery", "url"),
        r#"url = "https://partner.example/byoc/events?[redacted]"  # env BYOC__DELIVERY__URL"#
    );
}

#[test]
fn config_show_never_prints_a_static_token_from_the_environment() {
    let output = byoc(&["config", "show"], MINIMAL_ENV);

    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(!shown.contains("static-token-hidden"), "{shown}");
    assert_eq!(
        line_of(&shown, "auth", "token"),
        r#"token = "[redacted]"  # env BYOC__AUTH__TOKEN"#
    );
}

#[test]
fn config_show_gives_each_effective_value_and_whether_file_environment_or_default_set_it() {
    let path = config_file(FILE_WITH_SECRETS);
    let output = byoc(
        &["config", "show"],
        &[
            ("BYOC_CONFIG", path.to_str().unwrap()),
            ("BYOC__PIPELINE__MAX_CONCURRENT_CONVERSATIONS", "8"),
        ],
    );
    std::fs::remove_file(&path).unwrap();

    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    let expected_lines = [
        ("pipeline", "grace_secs", "grace_secs = 30  # file"),
        (
            "pipeline",
            "max_concurrent_conversations",
            "max_concurrent_conversations = 8  # env BYOC__PIPELINE__MAX_CONCURRENT_CONVERSATIONS",
        ),
        (
            "store",
            "ack_batch_max_acks",
            "ack_batch_max_acks = 1000  # default",
        ),
        ("pubsub", "credit_window", "credit_window = 50  # file"),
        (
            "server",
            "listen",
            r#"listen = "127.0.0.1:9464"  # default"#,
        ),
    ];
    for (section, leaf, expected) in expected_lines {
        assert_eq!(line_of(&shown, section, leaf), expected);
    }
    assert!(
        shown.contains("pubsub.max_in_flight is deprecated; rename it to pubsub.credit_window"),
        "{shown}"
    );
    assert!(
        shown.contains("# address_identifiers is not set"),
        "{shown}"
    );
    // The output is TOML and says what the connector would use.
    let as_toml: toml::Table = shown.parse().unwrap();
    assert_eq!(
        as_toml["pipeline"]["max_concurrent_conversations"].as_integer(),
        Some(8)
    );
    assert_eq!(as_toml["routing"]["window_secs"].as_integer(), Some(60));
}

#[test]
fn config_show_refuses_a_bad_configuration_like_run_without_quoting_a_secret() {
    let without_topic = FILE_WITH_SECRETS.replace("topic = \"/event/Partner_Event__e\"", "");
    let path = config_file(&without_topic);
    let output = byoc(&["config", "show", "--config", path.to_str().unwrap()], &[]);
    std::fs::remove_file(path).unwrap();

    assert_eq!(output.status.code(), Some(64));
    let (shown, logged) = (stdout(&output), stderr(&output));
    assert!(shown.is_empty(), "{shown}");
    assert!(logged.contains("pubsub.topic is missing"), "{logged}");
    assert!(!logged.contains("file-client-secret-7d1"), "{logged}");
}
