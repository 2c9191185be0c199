//! `byoc-connector demo`, the README's first command: the real binary plays its conversation
//! in both directions through the fake Salesforce, the connector and the demo channel, prints
//! each hop and exits 0.

use std::time::Duration;

#[tokio::test]
async fn the_demo_sends_through_the_sidecar_delivers_the_reps_answers_routes_and_exits_zero() {
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
    let lines_starting = |prefix: &str| -> Vec<&str> {
        stdout
            .lines()
            .filter(|line| line.starts_with(prefix))
            .collect()
    };
    // Three turns: end user, rep, end user.
    let sent = lines_starting("end user   -> ");
    assert_eq!(sent.len(), 2, "{stdout}");
    // What the fake Interaction Service recorded, with the headers the connector added.
    let received = lines_starting("salesforce <- POST /api/v1/interactions from end-user-42: ");
    assert_eq!(received.len(), 2, "{stdout}");
    assert!(
        received[0].contains("\"Hi, my order #4711 has not arrived yet.\" (202; OrgId 00D"),
        "{stdout}"
    );
    assert!(
        received[1].contains("\"Thanks. It was due on Monday.\" (202; OrgId 00D"),
        "{stdout}"
    );
    let answered = lines_starting("partner    <- 202 conversation ");
    assert_eq!(answered.len(), 2, "{stdout}");
    // The rep's answer, published on the stream, at the channel's webhook.
    let delivered = lines_starting("channel    <- interaction.message");
    assert_eq!(delivered.len(), 1, "{stdout}");
    assert!(
        delivered[0].contains("\"Sorry to hear that! Let me check the tracking for you.\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("channel    <- routing.requested"),
        "{stdout}"
    );
    assert!(
        stdout.contains("salesforce <- routingResult success=true workItemId=\"0Mw"),
        "{stdout}"
    );
    assert!(
        stdout.contains("demo: done. 2 end-user message(s) reached Salesforce through the sidecar, 1 rep answer(s) reached the channel"),
        "{stdout}"
    );
}
