//! End-to-end scenarios: fake Pub/Sub → connector pipeline → a local HTTP webhook.
//!
//! `throughput` pushes a backlog through as fast as it goes; `latency` publishes at a fixed
//! rate and measures publish → webhook receipt; `stalled` runs the real binary against a
//! partner that never answers and reports its peak resident memory as the backlog in
//! Salesforce grows. Figures are printed, never asserted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use tokio_util::sync::CancellationToken;

use super::{
    connector_config, percentile, sample_text_message_payload, scratch_dir, serve_loopback,
};
use crate::channel::{AnyChannel, WebhookChannel, WebhookSettings};
use crate::conversation::{ConversationObserver, ConversationTracker, RefusalSettings};
use crate::pipeline::{Pipeline, PipelineSettings};
use crate::pubsub::Subscriber;
use crate::store::{CheckpointWriter, Store, StoreSettings};
use fake_salesforce::topic::NewEvent;
use fake_salesforce::{FakeConfig, FakeSalesforce};

use super::BenchResult;

/// What the benchmark partner does with each request.
#[derive(Clone)]
struct PartnerState {
    /// Receipt time per message `seq` (taken from the entry id), for latency.
    received: Arc<Mutex<Vec<(u64, Instant)>>>,
    /// Never answer (a stalled partner).
    stalled: bool,
}

async fn partner(State(state): State<PartnerState>, body: axum::body::Bytes) -> StatusCode {
    if state.stalled {
        std::future::pending::<()>().await;
    }
    let now = Instant::now();
    // A real partner would parse the body; the bench partner only finds the sequence number
    // so that the figures measure the connector, not the bench's own JSON parsing.
    let seq = sequence_in(&body).unwrap_or(u64::MAX);
    if let Ok(mut received) = state.received.lock() {
        received.push((seq, now));
    }
    StatusCode::OK
}

/// The number at the end of the first `"identifier":"…-<seq>"` in the envelope.
fn sequence_in(body: &[u8]) -> Option<u64> {
    super::field_in(body, "identifier")?
        .rsplit('-')
        .next()?
        .parse()
        .ok()
}

async fn start_partner(stalled: bool) -> BenchResult<(String, Arc<Mutex<Vec<(u64, Instant)>>>)> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = PartnerState {
        received: received.clone(),
        stalled,
    };
    let app = Router::new()
        .route("/webhook", post(partner))
        .with_state(state);
    let address = serve_loopback(app).await?;
    Ok((format!("http://{address}/webhook"), received))
}

pub(super) fn message(seq: u64, conversations: u64) -> NewEvent {
    let payload = sample_text_message_payload(seq).replace(
        "9bc16b48-cd9b-4d8b-b7f2-a376f0a05c09",
        &format!("9bc16b48-cd9b-4d8b-b7f2-{:012}", seq % conversations),
    );
    NewEvent {
        event_type: Some("Interaction".to_owned()),
        payload: Some(payload),
        ..NewEvent::default()
    }
}

/// The bench's redb store, in `store_dir`.
fn open_redb(store_dir: &std::path::Path) -> BenchResult<Store> {
    Ok(Store::open(
        store_dir.join("bench.redb"),
        StoreSettings::default(),
    )?)
}

/// A pipeline over `fake` delivering to `url`, committing to `store`; with
/// `conversation_state`, the connector's conversation tracker observes it as in `run`.
fn start_pipeline(
    fake: &FakeSalesforce,
    url: &str,
    store: Store,
    conversation_state: bool,
) -> BenchResult<CancellationToken> {
    let endpoints = fake.endpoints().clone();
    let (config, credentials) = super::earliest_subscription(fake);
    let shutdown = CancellationToken::new();
    let telemetry = crate::telemetry::Telemetry::new();
    let settings = PipelineSettings::new(endpoints.org_id, endpoints.topic);
    let subscriber = Subscriber::spawn_preparing(
        config,
        credentials,
        telemetry.clone(),
        shutdown.child_token(),
        settings.decoder(),
    )?;
    let channel = Arc::new(AnyChannel::Webhook(WebhookChannel::new(
        WebhookSettings::new(url),
    )?));
    let writer = CheckpointWriter::spawn(store);
    let observer = conversation_state.then(|| {
        ConversationObserver::new(
            ConversationTracker::spawn(writer.clone()),
            None,
            &RefusalSettings::default(),
        )
    });
    let mut pipeline = Pipeline::new(settings, subscriber, writer, channel, None, telemetry);
    if let Some(observer) = observer {
        pipeline = pipeline.with_observer(Arc::new(observer));
    }
    let stop = shutdown.clone();
    tokio::spawn(async move {
        if let Err(err) = pipeline.run(stop).await {
            tracing::error!(error = %err, "bench pipeline failed");
        }
    });
    Ok(shutdown)
}

/// Throughput: `events` backlog events over `conversations` conversations, on a redb file or,
/// with `postgres_url`, on a fresh namespace of that database.
pub(crate) async fn throughput(
    events: u64,
    conversations: u64,
    conversation_state: bool,
    postgres_url: Option<&str>,
) -> BenchResult<String> {
    let fake = FakeSalesforce::start(FakeConfig::default()).await?;
    let batch: Vec<NewEvent> = (0..events).map(|seq| message(seq, conversations)).collect();
    for chunk in batch.chunks(1_000) {
        fake.publish(chunk)?;
    }
    let (url, received) = start_partner(false).await?;
    let dir = scratch_dir("throughput")?;
    let (store, store_name) = match postgres_url {
        None => (open_redb(&dir)?, "redb"),
        Some(url) => {
            let (url, namespace) = (url.to_owned(), format!("bench-{}", uuid::Uuid::new_v4()));
            let store = tokio::task::spawn_blocking(move || {
                Store::open_postgres(&url, &namespace, StoreSettings::default())
            })
            .await??;
            (store, "postgres")
        }
    };
    let started = Instant::now();
    let shutdown = start_pipeline(&fake, &url, store, conversation_state)?;
    let deadline = started + Duration::from_secs(600);
    while (received.lock().map_or(0, |r| r.len()) as u64) < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let delivered = received.lock().map_or(0, |r| r.len());
    shutdown.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
    Ok(format!(
        "end-to-end throughput ({store_name} store): {delivered} events over {conversations} conversations in {:.3} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    ))
}

/// Latency: publish `rate` events/s for `seconds`, report publish → receipt percentiles.
pub async fn latency(rate: u64, seconds: u64, conversation_state: bool) -> BenchResult<String> {
    let fake = FakeSalesforce::start(FakeConfig::default()).await?;
    let (url, received) = start_partner(false).await?;
    let dir = scratch_dir("latency")?;
    let shutdown = start_pipeline(&fake, &url, open_redb(&dir)?, conversation_state)?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let total = rate * seconds;
    let mut published_at = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    let period = Duration::from_secs_f64(1.0 / rate as f64);
    let started = Instant::now();
    for seq in 0..total {
        let due = started + period.mul_f64(seq as f64);
        tokio::time::sleep_until(due.into()).await;
        fake.publish(&[message(seq, 100)])?;
        published_at.push(Instant::now());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while (received.lock().map_or(0, |r| r.len()) as u64) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut latencies: Vec<Duration> = received
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(seq, at)| {
            published_at
                .get(usize::try_from(seq).unwrap_or(usize::MAX))
                .map(|sent| at.saturating_duration_since(*sent))
        })
        .collect();
    latencies.sort_unstable();
    shutdown.cancel();
    fake.shutdown().await;
    std::fs::remove_dir_all(&dir).ok();
    let percentile = |p: f64| percentile(&latencies, p);
    Ok(format!(
        "latency at {rate} events/s for {seconds} s ({} delivered): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (publish -> webhook receipt)",
        latencies.len(),
        percentile(0.50).as_secs_f64() * 1e3,
        percentile(0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    ))
}

/// Stalled partner: peak RSS of the real connector process for each backlog size.
pub async fn stalled(backlogs: &[u64], seconds: u64) -> BenchResult<String> {
    let mut lines = Vec::new();
    for backlog in backlogs {
        let fake = FakeSalesforce::start(FakeConfig::default()).await?;
        let batch: Vec<NewEvent> = (0..*backlog).map(|seq| message(seq, 100)).collect();
        for chunk in batch.chunks(1_000) {
            fake.publish(chunk)?;
        }
        let (url, _) = start_partner(true).await?;
        let dir = scratch_dir(&format!("stalled-{backlog}"))?;
        let config_path = dir.join("connector.toml");
        std::fs::write(
            &config_path,
            connector_config(
                &fake,
                &url,
                &dir.join("state.redb"),
                "strategy = \"reject\"",
            ),
        )?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("run")
            .arg("--config")
            .arg(&config_path)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        let peak_kib = child.id().and_then(peak_rss_kib).unwrap_or(0);
        child.kill().await.ok();
        fake.shutdown().await;
        std::fs::remove_dir_all(&dir).ok();
        lines.push(format!(
            "stalled partner, {backlog} events pending in salesforce: connector peak RSS {:.1} MiB after {seconds} s",
            peak_kib as f64 / 1024.0
        ));
    }
    Ok(lines.join("\n"))
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
