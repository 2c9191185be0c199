//! `bench sidecar`: the partner → Salesforce half, through the shipped binary run as its own
//! process in front of the fake Salesforce (in this process, over plaintext loopback).
//!
//! Two measurements. First, one 25 MB attachment through `POST /v1/messages/attachment`: the
//! connector's resident set before (`VmRSS`) and its peak during the upload (`VmHWM`, reset
//! just before through `/proc/<pid>/clear_refs` so earlier peaks do not count). Then
//! `POST /v1/messages` at a fixed rate, each request started on its own schedule slot whatever
//! the others do: the latency the partner app sees, minus the time the fake Interaction
//! Service spent on the same call (recorded by the fake, matched by entry id), is the
//! connector's added latency. It knows the binary's command line and config keys, not its
//! internals; Linux only (`/proc`).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::time::{Instant, MissedTickBehavior};

use super::proc_stats::{command_output, free_loopback_port, machine, peak_rss_kb, status_kb};
use super::{percentile, BenchResult};
use crate::dev::embedded::scratch_dir;
use crate::dev::samples::{connector_config_toml, with_settings};
use fake_salesforce::{FakeConfig, FakeSalesforce};

/// The channel address the connector is configured with.
const CHANNEL_ADDRESS: &str = "b0ffeafe-0d89-4338-b14a-172ad203f22a";
/// The sidecar's bearer token in the bench.
const TOKEN: &str = "bench-sidecar-token";
/// End users the messages are spread over.
const END_USERS: u64 = 100;
/// Messages sent one by one before anything is measured.
const WARM_UP: u64 = 50;
/// Salesforce's largest attachment, the one the bench sends.
pub(crate) const ATTACHMENT_BYTES: usize = 25 * 1024 * 1024;
/// How long the connector may take to become ready.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// A request that starts later than this after its slot counts as late.
const LATE: Duration = Duration::from_millis(1);

/// What `bench sidecar` runs.
#[derive(Debug, Clone, Copy)]
pub struct SidecarBenchPlan {
    /// Send-message requests per second.
    pub rate: u64,
    /// Seconds to send them for.
    pub seconds: u64,
}

/// The figures of one `bench sidecar` run.
#[derive(Debug, Clone, Default)]
pub struct SidecarReport {
    /// `uname -srm`, CPU model and count.
    pub machine: String,
    /// UTC date and time of the run.
    pub date: String,
    /// `uptime` at the start and at the end.
    pub load: (String, String),
    /// The plan.
    pub rate: u64,
    /// The plan's duration, in seconds.
    pub seconds: u64,
    /// Requests answered 202 (and matched to the fake's record) out of those sent.
    pub accepted: usize,
    /// Requests sent.
    pub sent: usize,
    /// Requests that started more than `LATE` (1 ms) after their slot.
    pub late: usize,
    /// Latency the partner app saw (sorted).
    pub client: Vec<Duration>,
    /// The fake's own time on each call (sorted).
    pub fake: Vec<Duration>,
    /// Client latency minus the fake's time, per request (sorted).
    pub added: Vec<Duration>,
    /// The attachment's status and time.
    pub attachment_status: u16,
    /// How long the attachment upload took.
    pub attachment_elapsed: Duration,
    /// The connector's `VmRSS` before the attachment, in kB.
    pub rss_before_kb: u64,
    /// The connector's `VmHWM` after it, in kB.
    pub rss_peak_kb: u64,
    /// Whether the peak was reset before the upload (else it may include earlier peaks).
    pub peak_reset: bool,
    /// The connector's `VmHWM` at the end of the run, in kB.
    pub final_peak_kb: u64,
}

impl fmt::Display for SidecarReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |sorted: &[Duration], p: f64| percentile(sorted, p).as_secs_f64() * 1e3;
        writeln!(
            f,
            "bench sidecar: the release binary as its own process, the fake Salesforce in the bench"
        )?;
        writeln!(f, "  machine: {}", self.machine)?;
        writeln!(f, "  date:    {}", self.date)?;
        writeln!(f, "  load:    start {}", self.load.0)?;
        writeln!(f, "           end   {}", self.load.1)?;
        let growth_kb = self.rss_peak_kb.saturating_sub(self.rss_before_kb);
        writeln!(
            f,
            "  attachment {} MB: {} in {:.2} s; connector RSS {:.1} MB before, peak {:.1} MB{}: \
             growth {:.1} MB (target < 16 MB: {})",
            ATTACHMENT_BYTES / (1024 * 1024),
            self.attachment_status,
            self.attachment_elapsed.as_secs_f64(),
            self.rss_before_kb as f64 / 1024.0,
            self.rss_peak_kb as f64 / 1024.0,
            if self.peak_reset {
                ""
            } else {
                " (peak not reset: an upper bound)"
            },
            growth_kb as f64 / 1024.0,
            verdict(growth_kb < 16 * 1024),
        )?;
        writeln!(
            f,
            "  send-message at {}/s for {} s: {} of {} accepted, {} started over 1 ms late",
            self.rate, self.seconds, self.accepted, self.sent, self.late
        )?;
        for (name, sorted) in [
            ("partner app sees", &self.client),
            ("fake's own time", &self.fake),
            ("added by connector", &self.added),
        ] {
            writeln!(
                f,
                "    {name:<19} p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                ms(sorted, 0.50),
                ms(sorted, 0.99),
                ms(sorted, 1.0)
            )?;
        }
        writeln!(
            f,
            "    target p99 added < 2 ms: {}",
            verdict(
                percentile(&self.added, 0.99) < Duration::from_millis(2) && !self.added.is_empty()
            )
        )?;
        write!(
            f,
            "  connector peak RSS over the run: {:.1} MB",
            self.final_peak_kb as f64 / 1024.0
        )
    }
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// The connector process and how to reach it.
struct Connector {
    child: Child,
    pid: u32,
    ops: std::net::SocketAddr,
    sidecar: std::net::SocketAddr,
}

/// Runs the plan.
pub async fn run(plan: SidecarBenchPlan) -> BenchResult<SidecarReport> {
    let mut report = SidecarReport {
        machine: machine(),
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        rate: plan.rate,
        seconds: plan.seconds,
        ..SidecarReport::default()
    };
    report.load.0 = command_output("uptime", &[]);
    let fake = FakeSalesforce::start(FakeConfig::default()).await?;
    let dir = scratch_dir("bench-sidecar")?;
    let mut connector = start_connector(&fake, &dir)?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let measured = measure(&fake, &connector, &http, plan, &mut report).await;
    report.final_peak_kb = peak_rss_kb(connector.pid).unwrap_or_default();
    connector.child.start_kill()?;
    connector.child.wait().await?;
    fake.shutdown().await;
    // Best effort: a leftover temp dir is harmless.
    let _ = std::fs::remove_dir_all(&dir);
    measured?;
    report.load.1 = command_output("uptime", &[]);
    Ok(report)
}

async fn measure(
    fake: &FakeSalesforce,
    connector: &Connector,
    http: &reqwest::Client,
    plan: SidecarBenchPlan,
    report: &mut SidecarReport,
) -> BenchResult<()> {
    wait_ready(http, connector).await?;
    let url = format!("http://{}/v1/messages", connector.sidecar);
    for sequence in 0..WARM_UP {
        let (status, _) = send_message(http, &url, &format!("warm-{sequence}"), sequence).await?;
        if status != 202 {
            return Err(format!("a warm-up message was answered {status}").into());
        }
    }
    attachment(connector, http, report).await?;
    fake.interaction().clear_calls();
    rate_phase(fake, http, &url, plan, report).await
}

/// Writes the config and starts `<this binary> run` on it.
fn start_connector(fake: &FakeSalesforce, dir: &Path) -> BenchResult<Connector> {
    let ops = free_loopback_port()?;
    let sidecar = free_loopback_port()?;
    let config = with_settings(
        &connector_config_toml(
            fake,
            "http://127.0.0.1:9/unused",
            &dir.join("state.redb"),
            "strategy = \"reject\"",
        ),
        &[
            ("server", "listen", ops.to_string().into()),
            ("server", "sidecar_listen", sidecar.to_string().into()),
            ("server", "sidecar_token", TOKEN.into()),
            (
                "channel",
                "address_identifiers",
                toml::Value::Array(vec![CHANNEL_ADDRESS.into()]),
            ),
        ],
    )?;
    let path = dir.join("connector.toml");
    std::fs::write(&path, config)?;
    let child = Command::new(std::env::current_exe()?)
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the connector has no pid")?;
    Ok(Connector {
        child,
        pid,
        ops,
        sidecar,
    })
}

async fn wait_ready(http: &reqwest::Client, connector: &Connector) -> BenchResult<()> {
    let url = format!("http://{}/readyz", connector.ops);
    let deadline = Instant::now() + READY_LIMIT;
    while Instant::now() < deadline {
        let ready = http
            .get(&url)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success());
        if ready {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the connector was not ready within 30 s".into())
}

/// One send-message call; its status and entry id.
async fn send_message(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    sequence: u64,
) -> BenchResult<(u16, String)> {
    let response = http
        .post(url)
        .bearer_auth(TOKEN)
        .header("idempotency-key", key)
        .json(&json!({
            "endUserClientId": format!("bench-user-{}", sequence % END_USERS),
            "text": format!("Hi, where is my order #{sequence}?"),
        }))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    let entry_id = body["entryId"].as_str().unwrap_or_default().to_owned();
    Ok((status, entry_id))
}

/// One 25 MB upload, with the connector's resident set before and its peak during it.
async fn attachment(
    connector: &Connector,
    http: &reqwest::Client,
    report: &mut SidecarReport,
) -> BenchResult<()> {
    let file = vec![0x5a_u8; ATTACHMENT_BYTES];
    report.rss_before_kb = status_kb(connector.pid, "VmRSS").ok_or("no VmRSS")?;
    // "5" resets the peak resident set to the current one (Linux 4.0+).
    report.peak_reset = std::fs::write(format!("/proc/{}/clear_refs", connector.pid), "5").is_ok();
    let started = Instant::now();
    let response = http
        .post(format!(
            "http://{}/v1/messages/attachment?endUserClientId=bench-user-file&fileName=scan.pdf",
            connector.sidecar
        ))
        .bearer_auth(TOKEN)
        .header("idempotency-key", "bench-attachment")
        .header("content-type", "application/pdf")
        .body(file)
        .send()
        .await?;
    report.attachment_status = response.status().as_u16();
    let _ = response.bytes().await?;
    report.attachment_elapsed = started.elapsed();
    report.rss_peak_kb = peak_rss_kb(connector.pid).ok_or("no VmHWM")?;
    Ok(())
}

/// Send-message at the plan's rate, each request on its own task at its slot.
async fn rate_phase(
    fake: &FakeSalesforce,
    http: &reqwest::Client,
    url: &str,
    plan: SidecarBenchPlan,
    report: &mut SidecarReport,
) -> BenchResult<()> {
    let total = plan.rate.saturating_mul(plan.seconds);
    let period = Duration::from_secs_f64(1.0 / plan.rate.max(1) as f64);
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut tasks = Vec::new();
    for sequence in 0..total {
        let slot = ticks.tick().await;
        let (http, url) = (http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let late = started.duration_since(slot) > LATE;
            let outcome = send_message(&http, &url, &format!("bench-{sequence}"), sequence).await;
            (outcome, started.elapsed(), late)
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        let (outcome, latency, late) = task.await?;
        report.sent += 1;
        report.late += usize::from(late);
        if let Ok((202, entry_id)) = outcome {
            seen.push((entry_id, latency));
        }
    }
    let fake_time: HashMap<String, Duration> = fake
        .interaction()
        .calls_to("interactions")
        .into_iter()
        .filter_map(|call| {
            let entry_id = call.body["json"]["interactions"][0]["payload"]["id"]
                .as_str()?
                .to_owned();
            Some((entry_id, Duration::from_micros(call.handling_micros)))
        })
        .collect();
    for (entry_id, latency) in seen {
        let Some(own) = fake_time.get(&entry_id) else {
            continue;
        };
        report.accepted += 1;
        report.client.push(latency);
        report.fake.push(*own);
        report.added.push(latency.saturating_sub(*own));
    }
    report.client.sort_unstable();
    report.fake.sort_unstable();
    report.added.sort_unstable();
    Ok(())
}
