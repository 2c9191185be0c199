//! The real binary delivering to its own standard output: every event comes out as one whole
//! JSON line, in order per conversation, and SIGTERM exits 0 with the checkpoint at the last
//! event, so nothing acknowledged is missing from the output.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

const EVENTS: u64 = 300;
const CONVERSATIONS: u64 = 7;

/// The lines written to `path` so far, each parsed; panics on a line that is not JSON.
fn json_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line still being written has no newline yet; only whole lines count.
    let whole = text.rfind('\n').map_or("", |end| &text[..=end]);
    whole
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line:?}")))
        .collect()
}

/// Writes, in `dir`, a config delivering to stdout with its store in `dir`; returns its path.
fn stdout_config(fake: &fake_salesforce::FakeSalesforce, dir: &std::path::Path) -> PathBuf {
    let config = connector_config_toml_for(
        fake.endpoints(),
        "http://127.0.0.1:9/unused",
        &dir.join("state.redb"),
        REJECT_ROUTING,
    )
    .replace(
        "kind = \"webhook\"\nurl = \"http://127.0.0.1:9/unused\"",
        "kind = \"stdout\"",
    );
    assert!(config.contains("kind = \"stdout\""), "{config}");
    let config_path = dir.join("connector.toml");
    std::fs::write(&config_path, config).unwrap();
    config_path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_writes_every_event_to_stdout_as_a_whole_line_in_conversation_order() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let dir = scratch_dir("stdout-delivery");
    let config_path = stdout_config(&fake, &dir);
    let output_path = dir.join("delivered.jsonl");
    let output = std::fs::File::create(&output_path).unwrap();
    fake.publish(&numbered_messages(EVENTS, CONVERSATIONS))
        .unwrap();

    let connector = ConnectorProcess::start_writing_stdout_to(&config_path, output.into()).await;
    wait_until("every event is on stdout", Duration::from_secs(30), || {
        json_lines(&output_path).len() >= usize::try_from(EVENTS).unwrap()
    })
    .await;
    let exit = connector.terminate().await;
    assert_eq!(exit.code(), Some(0), "SIGTERM is a clean exit");

    let lines = json_lines(&output_path);
    let text = std::fs::read_to_string(&output_path).unwrap();
    assert!(text.ends_with('\n'), "the output ends with a whole line");
    let mut last_seq: HashMap<String, u64> = HashMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in &lines {
        let seq = seq_in_text(line).unwrap_or_else(|| panic!("a numbered message: {line}"));
        let conversation = line["conversationIdentifier"].as_str().unwrap().to_owned();
        if let Some(previous) = last_seq.insert(conversation.clone(), seq) {
            assert!(
                previous < seq,
                "conversation {conversation}: seq {seq} came out after {previous}"
            );
        }
        seen.insert(seq);
    }
    assert_eq!(seen, (0..EVENTS).collect(), "every event came out");
    assert_eq!(
        lines.len(),
        usize::try_from(EVENTS).unwrap(),
        "no repeats in a clean run"
    );
    let store = byoc_connector::store::Store::open_existing(dir.join("state.redb")).unwrap();
    assert_eq!(
        stored_checkpoint(&store, &fake),
        Some(fake.pubsub().topic.latest_id()),
        "the checkpoint is at the last event"
    );
    fake.shutdown().await;
    drop(store);
    std::fs::remove_dir_all(&dir).ok();
}

/// Reads lines from `reader` until `count` came, then closes it, as a consumer that stops.
fn read_then_close(
    reader: std::io::PipeReader,
    count: usize,
) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(reader)
            .lines()
            .take(count)
            .map(Result::unwrap)
            .collect()
    })
}

// The output's reader reads the first events and goes away. Nobody will ever read the output
// again, so retrying cannot help: the binary stops with an error naming stdout, its checkpoint
// at the last event that got out, and a restart with a reader delivers the rest, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_stops_the_binary_with_an_error_and_loses_nothing() {
    const LATER: u64 = 50;
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let dir = scratch_dir("stdout-closed");
    let config_path = stdout_config(&fake, &dir);
    fake.publish(&numbered_messages(EVENTS, CONVERSATIONS))
        .unwrap();
    let last_read = fake.pubsub().topic.latest_id();
    let (reader, writer) = std::io::pipe().unwrap();
    let reading = read_then_close(reader, usize::try_from(EVENTS).unwrap());

    let first = ConnectorProcess::start_writing_stdout_to(&config_path, writer.into()).await;
    let read = tokio::task::spawn_blocking(move || reading.join().unwrap())
        .await
        .unwrap();
    assert_eq!(read.len(), usize::try_from(EVENTS).unwrap());
    let later: Vec<_> = (EVENTS..EVENTS + LATER)
        .map(|seq| message_event(&conversation_name(seq % CONVERSATIONS), seq))
        .collect();
    fake.publish(&later).unwrap();
    wait_until(
        "the binary reports stdout closed",
        Duration::from_secs(30),
        || first.log().contains("stdout is closed"),
    )
    .await;
    let log = first.log();
    let exit = first.exit_within(Duration::from_secs(30)).await;
    assert_eq!(
        exit.code(),
        Some(1),
        "a closed output is an error; log:\n{log}"
    );
    {
        let store = byoc_connector::store::Store::open_existing(dir.join("state.redb")).unwrap();
        assert_eq!(
            stored_checkpoint(&store, &fake),
            Some(last_read),
            "checkpointed up to the last event that got out, and no further"
        );
    }

    let output_path = dir.join("delivered.jsonl");
    let output = std::fs::File::create(&output_path).unwrap();
    let second = ConnectorProcess::start_writing_stdout_to(&config_path, output.into()).await;
    wait_until(
        "the later events are on stdout",
        Duration::from_secs(30),
        || json_lines(&output_path).len() >= usize::try_from(LATER).unwrap(),
    )
    .await;
    assert_eq!(second.terminate().await.code(), Some(0));
    let seen: Vec<u64> = json_lines(&output_path)
        .iter()
        .filter_map(seq_in_text)
        .collect();
    let expected: std::collections::BTreeSet<u64> = (EVENTS..EVENTS + LATER).collect();
    assert_eq!(
        seen.iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        expected,
        "the restart delivers what never got out"
    );
    assert_eq!(seen.len(), expected.len(), "and only that, once");
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
}
