//! The five-minute walkthrough of docs/fake-salesforce.md, run as written: the fake started
//! with the documented command line, the connector with the documented config, and the
//! documented `curl` body published, until the message reaches the connector's stdout. Only
//! the fixed ports and the /tmp paths are swapped for free ports and a scratch directory, so
//! parallel tests cannot collide.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The walkthrough's ports, in the order they appear in its fake command.
const DOC_PORTS: [&str; 3] = ["7443", "7080", "7444"];

/// The text of the walkthrough section.
fn section() -> String {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/fake-salesforce.md"
    ))
    .unwrap();
    let start = doc
        .find("## Five minutes")
        .expect("the walkthrough section exists");
    let rest = &doc[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3);
    rest[..end].to_owned()
}

/// The fenced blocks of `text` whose fence names `language`, in order.
fn blocks(text: &str, language: &str) -> Vec<String> {
    let fence = format!("```{language}");
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&fence) {
        let body = &rest[start + fence.len()..];
        let body = &body[body.find('\n').unwrap() + 1..];
        let end = body.find("```").unwrap();
        found.push(body[..end].to_owned());
        rest = &body[end + 3..];
    }
    found
}

fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port().to_string()
}

/// `text` with the documented ports and /tmp paths swapped for this run's.
fn localised(text: &str, ports: &[(String, String)], scratch: &std::path::Path) -> String {
    let mut text = text
        .replace(
            "/tmp/fake.pem",
            &scratch.join("fake.pem").display().to_string(),
        )
        .replace(
            "/tmp/byoc-walkthrough",
            &scratch.join("store").display().to_string(),
        );
    for (doc_port, port) in ports {
        text = text.replace(
            &format!("127.0.0.1:{doc_port}"),
            &format!("127.0.0.1:{port}"),
        );
    }
    text
}

/// The arguments after `cargo run --release --` of a documented command, quotes removed.
fn binary_args(command: &str) -> Vec<String> {
    let joined = command.replace("\\\n", " ");
    let words: Vec<String> = joined
        .split_whitespace()
        .map(|word| word.trim_matches('\'').to_owned())
        .collect();
    assert_eq!(
        words[..4],
        ["cargo", "run", "--release", "--"],
        "the walkthrough runs the binary through cargo: {command}"
    );
    words[4..].to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_five_minute_walkthrough_delivers_the_published_message_as_documented() {
    let section = section();
    let commands = blocks(&section, "sh");
    let configs = blocks(&section, "toml");
    assert_eq!(commands.len(), 3, "fake, connector, publish: {commands:?}");
    assert_eq!(configs.len(), 1);
    let scratch = std::env::temp_dir().join(format!("byoc-docs-walk-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).unwrap();
    let ports: Vec<(String, String)> = DOC_PORTS
        .iter()
        .map(|port| ((*port).to_owned(), free_port()))
        .collect();
    let binary = env!("CARGO_BIN_EXE_byoc-connector");

    let mut fake = Command::new(binary)
        .args(binary_args(&localised(&commands[0], &ports, &scratch)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut fake_lines = BufReader::new(fake.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), fake_lines.next_line())
        .await
        .expect("the fake's ready line in time")
        .unwrap()
        .expect("a ready line");
    assert!(ready.contains("walkthrough"), "the fixed token: {ready}");

    let config = scratch.join("walkthrough.toml");
    std::fs::write(&config, localised(&configs[0], &ports, &scratch)).unwrap();
    let run_args = binary_args(&commands[1]);
    assert_eq!(run_args, ["run", "--config", "walkthrough.toml"]);
    let connector_log = scratch.join("connector.log");
    let mut connector = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config)
        // The ops and sidecar listeners' defaults would collide between parallel tests.
        .env("BYOC__SERVER__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env(
            "BYOC__SERVER__SIDECAR_LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .stdout(Stdio::piped())
        // Kept in a file, so a connector that stops early says why in the failure.
        .stderr(std::fs::File::create(&connector_log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut delivered = BufReader::new(connector.stdout.take().unwrap()).lines();

    let curl = localised(&commands[2], &ports, &scratch);
    let url = curl
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .expect("the publish command names the control plane");
    let body = curl
        .split_once("-d '")
        .and_then(|(_, rest)| rest.trim_end().strip_suffix('\''))
        .expect("the publish command has a -d body");
    let published = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(
        published.status(),
        200,
        "{}",
        published.text().await.unwrap()
    );

    let line = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let Some(line) = delivered.next_line().await.unwrap() else {
                panic!(
                    "the connector stopped; its log:\n{}",
                    std::fs::read_to_string(&connector_log).unwrap_or_default()
                );
            };
            if line.contains("Hi, how are you?") {
                return line;
            }
        }
    })
    .await
    .expect("the published message reaches the connector's stdout");
    let envelope: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(
        line.contains("interaction.message"),
        "the documented envelope type: {envelope}"
    );

    connector.kill().await.unwrap();
    fake.kill().await.unwrap();
    std::fs::remove_dir_all(&scratch).ok();
}
