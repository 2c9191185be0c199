//! A store that can no longer be written is loud, never a silent stall: the real binary
//! retries the commit with backoff, turns `/readyz` off while it does, then exits non-zero
//! naming the store. The failure is real: the process may not grow any file past the size the
//! store had when it started (RLIMIT_FSIZE, as on a full disk).

use std::time::Duration;

use crate::support::pipeline::*;
use crate::support::start_fake;
use fake_salesforce::pubsub_fake::PubSubFakeConfig;

/// Events published per round while waiting for the store to need more room.
const ROUND: u64 = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_cannot_grow_turns_readiness_off_and_exits_non_zero() {
    let fake = start_fake(false, PubSubFakeConfig::default()).await;
    let partner = Partner::accepting().await;
    let dir = ScratchDir::new("store-full");
    let config = write_connector_config(&fake, dir.path(), &partner.url, REJECT_ROUTING);
    let message = |seq: u64| message_event(&conversation_name(seq % 20), seq);

    // A first run creates the store; the second may not grow it.
    fake.publish(&(0..100).map(message).collect::<Vec<_>>())
        .unwrap();
    let connector = ConnectorProcess::start(&config).await;
    wait_until("the first run delivers", Duration::from_secs(30), || {
        partner.distinct_seqs().len() == 100
    })
    .await;
    assert!(connector.terminate().await.success());
    let size = std::fs::metadata(dir.path().join("state.redb"))
        .unwrap()
        .len();
    let connector = ConnectorProcess::start_with_file_size_limit(&config, size).await;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let readyz = format!("http://{}/readyz", connector.ops);
    let status = |http: reqwest::Client, url: String| async move {
        http.get(url)
            .send()
            .await
            .ok()
            .map(|response| response.status().as_u16())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while status(http.clone(), readyz.clone()).await != Some(200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never ready; log:\n{}",
            connector.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut published = 100;
    let mut last_publish = tokio::time::Instant::now() - Duration::from_secs(1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        match status(http.clone(), readyz.clone()).await {
            Some(503) => break,
            Some(200) => {}
            other => panic!(
                "/readyz answered {other:?} before it turned 503; log:\n{}",
                connector.log()
            ),
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the store never failed after {published} events; log:\n{}",
            connector.log()
        );
        if last_publish.elapsed() >= Duration::from_millis(500) {
            fake.publish(
                &(published..published + ROUND)
                    .map(message)
                    .collect::<Vec<_>>(),
            )
            .unwrap();
            published += ROUND;
            last_publish = tokio::time::Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The process logs the retry before readiness turns off, but the harness reads its stderr
    // on a task of its own, so the line can reach `log()` a moment after the 503.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !connector.log().contains("store commit failed; retrying") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failure was retried; log:\n{}",
            connector.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exit = connector.exit_within(Duration::from_secs(60)).await;
    assert!(!exit.success(), "exit status {exit:?}");
    fake.shutdown().await;
}
