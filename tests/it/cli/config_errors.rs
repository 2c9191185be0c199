//! A refused configuration, seen through the real binary: exit 64 before anything binds,
//! every problem at once, each printed once, never a secret, and a clear word when there is
//! no config file at all.

use super::config::{byoc, config_file, stderr};

/// One section with several wrong values, an unknown key, a missing required key elsewhere
/// and a secret of the wrong type.
const MANY_PROBLEMS: &str = r#"
[pubsub]
credit_window = "lots"
keepalive_timeout_secs = "long"
colour = "blue"

[auth]
kind = "client-credentials"
client_id = "3MVG9example"
client_secret = 98765432123
login_url = "https://example.my.salesforce.com"

[interaction]
base_url = "https://example.my.salesforce-scrt.com"
authorization_context = "Partner1_ChannelDefinition1"

[delivery]
url = "https://partner.example/byoc/events"

[pipeline]
grace_secs = "twenty"
max_concurrent_conversations = 0

[routing]
url = "https://partner.example/byoc/routing"
"#;

#[test]
fn run_lists_every_problem_at_once_and_exits_64_without_quoting_a_secret() {
    let path = config_file(MANY_PROBLEMS);
    let output = byoc(&["run", "--config", path.to_str().unwrap()], &[]);
    std::fs::remove_file(path).unwrap();

    assert_eq!(output.status.code(), Some(64));
    let error = stderr(&output);
    for expected in [
        "pubsub.topic is missing",
        "pubsub.credit_window must be a whole number, found a string",
        "pubsub.keepalive_timeout_secs must be a whole number, found a string",
        "pubsub.colour is not a known key",
        "auth.client_secret must be a string, found an integer",
        "pipeline.grace_secs must be a whole number, found a string",
        "pipeline.max_concurrent_conversations must be at least 1, got 0",
    ] {
        assert_eq!(error.matches(expected).count(), 1, "{expected}:\n{error}");
    }
    assert!(!error.contains("98765432123"), "{error}");
    assert!(!error.contains("Caused by"), "{error}");
    let problem_lines = error
        .lines()
        .filter(|line| line.contains("; hint: "))
        .count();
    assert_eq!(problem_lines, 7, "{error}");
}

#[test]
fn run_without_a_config_file_says_so_and_where_it_looked() {
    let output = byoc(&["run"], &[]);

    assert_eq!(output.status.code(), Some(64));
    let error = stderr(&output);
    assert!(error.contains("no config file"), "{error}");
    assert!(
        error.contains("--config was not given and BYOC_CONFIG is not set"),
        "{error}"
    );
    assert!(error.contains("BYOC__SECTION__KEY"), "{error}");
    assert!(error.contains("config example"), "{error}");
}

#[test]
fn an_unreadable_or_malformed_key_file_exits_64_before_anything_starts() {
    let store = std::env::temp_dir().join(format!("byoc-preflight-{}", uuid::Uuid::new_v4()));
    let text = format!(
        r#"
[pubsub]
topic = "/event/Partner_Event__e"

[auth]
kind = "jwt-bearer"
client_id = "3MVG9example"
username = "byoc@example.com"
login_url = "https://login.salesforce.com"
private_key_file = "/nonexistent/byoc-key.pem"

[interaction]
base_url = "https://example.my.salesforce-scrt.com"
authorization_context = "Partner1_ChannelDefinition1"

[delivery]
kind = "stdout"

[store]
path = "{store}/state.redb"

[server]
listen = "127.0.0.1:0"

[routing]
strategy = "reject"
"#,
        store = store.display()
    );
    let path = config_file(&text);

    let unreadable = byoc(&["run", "--config", path.to_str().unwrap()], &[]);
    std::fs::write(
        &path,
        text.replace("/nonexistent/byoc-key.pem", "/dev/null"),
    )
    .unwrap();
    let malformed = byoc(&["run", "--config", path.to_str().unwrap()], &[]);
    std::fs::remove_file(path).unwrap();

    assert_eq!(
        unreadable.status.code(),
        Some(64),
        "{}",
        stderr(&unreadable)
    );
    let error = stderr(&unreadable);
    assert!(
        error.contains("auth.private_key_file is unusable: cannot read /nonexistent/byoc-key.pem"),
        "{error}"
    );
    assert_eq!(malformed.status.code(), Some(64));
    let error = stderr(&malformed);
    assert!(
        error.contains(
            "auth.private_key_file is unusable: /dev/null is not a pem-encoded rsa private key"
        ),
        "{error}"
    );
    for output in [&unreadable, &malformed] {
        let error = stderr(output);
        assert!(
            !error.lines().any(|line| line.starts_with('{')),
            "started before refusing:\n{error}"
        );
    }
    assert!(!store.exists(), "the store was created before the refusal");
}

#[test]
fn a_port_in_use_exits_64_naming_server_listen_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = byoc(
        &["run"],
        &[
            ("BYOC__PUBSUB__TOPIC", "/event/Env_Event__e"),
            ("BYOC__AUTH__KIND", "static"),
            ("BYOC__AUTH__TOKEN", "00Dxx!static-token-hidden"),
            (
                "BYOC__AUTH__INSTANCE_URL",
                "https://example.my.salesforce.com",
            ),
            ("BYOC__AUTH__ORG_ID", "00D000000000001AAA"),
            (
                "BYOC__INTERACTION__BASE_URL",
                "https://example.my.salesforce-scrt.com",
            ),
            ("BYOC__INTERACTION__AUTHORIZATION_CONTEXT", "Env_Channel"),
            ("BYOC__DELIVERY__KIND", "stdout"),
            ("BYOC__ROUTING__STRATEGY", "reject"),
            ("BYOC__SERVER__LISTEN", &format!("127.0.0.1:{port}")),
        ],
    );
    drop(taken);

    assert_eq!(output.status.code(), Some(64));
    let error = stderr(&output);
    assert!(error.contains("server.listen cannot be bound"), "{error}");
    assert!(
        error.contains("(set by BYOC__SERVER__LISTEN)") || error.contains("hint:"),
        "{error}"
    );
    assert!(!error.contains("static-token-hidden"), "{error}");
    assert!(
        !error.lines().any(|line| line.starts_with('{')),
        "logged before refusing:\n{error}"
    );
}

#[test]
fn a_failure_after_start_is_printed_once_without_a_repeated_cause() {
    let path = config_file(
        r#"
[store]
path = "/nonexistent/byoc/state.redb"
"#,
    );
    let output = byoc(
        &["dlq", "list", "--config", path.to_str().unwrap()],
        crate::support::config::MINIMAL_ENV,
    );
    std::fs::remove_file(path).unwrap();

    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "{error}");
    assert!(
        error.starts_with("byoc-connector: cannot open the store"),
        "{error}"
    );
    assert!(!error.contains("Caused by"), "{error}");
}
