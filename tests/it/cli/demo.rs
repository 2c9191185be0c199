//! `byoc-connector demo`, the README's first command: the real binary plays its conversation
//! through the fake Salesforce, the connector and the demo channel, prints each hop and exits 0.

use std::time::Duration;

#[tokio::test]
async fn the_demo_delivers_every_message_answers_the_routing_request_and_exits_zero() {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_byoc-connector"))
        .args(["demo", "--messages", "3"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the demo finishes in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let deliveries = stdout
        .lines()
        .filter(|line| line.starts_with("channel    <- interaction.message"))
        .count();
    assert_eq!(deliveries, 3, "{stdout}");
    assert!(
        stdout.contains("channel    <- routing.requested"),
        "{stdout}"
    );
    assert!(
        stdout.contains("salesforce <- routingResult success=true workItemId=\"0MwXX00000000D3\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo: done. 3 messages delivered"),
        "{stdout}"
    );
}
