//! `bench process`: the shipped binary as its own process against `fake-salesforce` in
//! another, over TLS, with durable checkpoints, as an operator runs it.
//!
//! It starts `<this binary> fake-salesforce --tls`, publishes the events through the fake's
//! control plane, then runs `<this binary> run` from EARLIEST with delivery to stdout into a
//! file and times the first to the last delivered line. CPU time of each process comes from
//! `/proc/<pid>/stat` over that window, FetchRequests from the connector's `/metrics`. With
//! an npm script (`bench/npm/consume.mjs`), the npm `salesforce-pubsub-api-client` then
//! consumes the same stream from the same fake, for a comparison in one run. It knows the
//! binary's command line and config file, not its internals; Linux only (`/proc`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt};
use tokio::process::{Child, Command};

use super::{sample_text_message_payload, BenchResult};

/// Events per control-plane publish request.
const PUBLISH_CHUNK: u64 = 5_000;
/// How long a run may take before the bench gives up.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// How often the output file is polled for new lines.
const POLL: Duration = Duration::from_millis(2);
/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// What `bench process` runs.
#[derive(Debug, Clone)]
pub struct ProcessBenchPlan {
    /// Events published and consumed.
    pub events: u64,
    /// The npm comparison script, run with `node` after the connector when given.
    pub npm_script: Option<PathBuf>,
}

/// One consumer's figures over the window from its first to its last event.
#[derive(Debug, Clone)]
pub struct ConsumerFigures {
    /// Events counted.
    pub events: u64,
    /// First to last event.
    pub elapsed: Duration,
    /// CPU seconds of the consumer process over the window.
    pub consumer_cpu: Duration,
    /// CPU seconds of the fake over the window.
    pub fake_cpu: Duration,
    /// FetchRequests the consumer sent, when known.
    pub fetch_requests: Option<u64>,
    /// The consumer's peak resident set, in kB.
    pub peak_rss_kb: Option<u64>,
}

impl ConsumerFigures {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn micros_per_event(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.events.max(1) as f64
    }
}

/// The figures of one `bench process` run.
#[derive(Debug, Clone)]
pub struct ProcessReport {
    /// The connector's run.
    pub connector: ConsumerFigures,
    /// The npm client's run, when a script was given.
    pub npm: Option<ConsumerFigures>,
    /// `uname -srm`, CPU model and count.
    pub machine: String,
    /// UTC date and time of the run.
    pub date: String,
}

impl fmt::Display for ProcessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench process: separate processes, TLS, durable checkpoints"
        )?;
        writeln!(f, "  machine: {}", self.machine)?;
        writeln!(f, "  date:    {}", self.date)?;
        write_figures(f, "connector (run, stdout to a file)", &self.connector)?;
        if let Some(npm) = &self.npm {
            write_figures(f, "npm salesforce-pubsub-api-client 5.5.2", npm)?;
            writeln!(
                f,
                "  connector / npm: {:.2}x events/s",
                self.connector.events_per_sec() / npm.events_per_sec().max(f64::EPSILON)
            )?;
        }
        Ok(())
    }
}

fn write_figures(f: &mut fmt::Formatter<'_>, name: &str, figures: &ConsumerFigures) -> fmt::Result {
    writeln!(f, "  {name}")?;
    writeln!(
        f,
        "    {} events in {:.3} s: {:.0} events/s",
        figures.events,
        figures.elapsed.as_secs_f64(),
        figures.events_per_sec()
    )?;
    writeln!(
        f,
        "    CPU per event: consumer {:.1} us, fake {:.1} us",
        figures.micros_per_event(figures.consumer_cpu),
        figures.micros_per_event(figures.fake_cpu)
    )?;
    if let Some(requests) = figures.fetch_requests {
        writeln!(
            f,
            "    FetchRequests: {requests} ({:.4} per event)",
            requests as f64 / figures.events.max(1) as f64
        )?;
    }
    if let Some(rss) = figures.peak_rss_kb {
        writeln!(f, "    peak RSS: {:.1} MB", rss as f64 / 1024.0)?;
    }
    Ok(())
}

/// The fake, as its ready line describes it.
struct RunningFake {
    child: Child,
    pid: u32,
    pubsub: String,
    control: String,
    instance_url: String,
    token: String,
    org_id: String,
    topic: String,
    certificate: PathBuf,
}

/// Runs the plan: fake, publish, connector, then the npm script if any.
pub async fn run(plan: ProcessBenchPlan) -> BenchResult<ProcessReport> {
    let binary = std::env::current_exe()?;
    let dir = crate::dev::embedded::scratch_dir("bench-process")?;
    let mut fake = start_fake(&binary, &dir).await?;
    publish(&fake, plan.events).await?;
    let connector = run_connector(&binary, &dir, &fake, plan.events).await?;
    let npm = match &plan.npm_script {
        Some(script) => Some(run_npm(script, &fake, plan.events).await?),
        None => None,
    };
    fake.child.start_kill()?;
    fake.child.wait().await?;
    // Best effort: a leftover temp dir is harmless.
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ProcessReport {
        connector,
        npm,
        machine: machine(),
        date: command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
    })
}

async fn start_fake(binary: &Path, dir: &Path) -> BenchResult<RunningFake> {
    let certificate = dir.join("fake.pem");
    let mut child = Command::new(binary)
        .arg("fake-salesforce")
        .arg("--tls")
        .arg("--cert-out")
        .arg(&certificate)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the fake has no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .map_err(|_| "the fake printed no ready line within 30 s")??
        .ok_or("the fake exited before its ready line")?;
    let ready: serde_json::Value = serde_json::from_str(&ready)?;
    let field = |name: &str| -> BenchResult<String> {
        Ok(ready[name]
            .as_str()
            .ok_or_else(|| format!("the fake's ready line has no {name}"))?
            .to_owned())
    };
    Ok(RunningFake {
        pid: child.id().ok_or("the fake has no pid")?,
        pubsub: field("pubsub")?,
        control: field("control")?,
        instance_url: field("instanceUrl")?,
        token: field("token")?,
        org_id: field("orgId")?,
        topic: field("topic")?,
        certificate,
        child,
    })
}

/// Publishes `events` text messages over 100 conversations through the control plane.
async fn publish(fake: &RunningFake, events: u64) -> BenchResult<()> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    let mut published = 0;
    while published < events {
        let chunk = PUBLISH_CHUNK.min(events - published);
        let items: Vec<serde_json::Value> = (published..published + chunk)
            .map(|sequence| {
                let payload = sample_text_message_payload(sequence);
                serde_json::json!({"eventType": "Interaction", "payload": payload})
            })
            .collect();
        http.post(format!("{}/_harness/publish", fake.control))
            .json(&serde_json::json!({ "events": items }))
            .send()
            .await?
            .error_for_status()?;
        published += chunk;
    }
    Ok(())
}

async fn run_connector(
    binary: &Path,
    dir: &Path,
    fake: &RunningFake,
    events: u64,
) -> BenchResult<ConsumerFigures> {
    let listen = free_loopback_port()?;
    let config = format!(
        "[pubsub]\nendpoint = \"{pubsub}\"\nca_certificate_file = \"{cert}\"\ntopic = \"{topic}\"\n\
         start = \"earliest\"\n\n\
         [auth]\nkind = \"static\"\ntoken = \"{token}\"\ninstance_url = \"{instance}\"\norg_id = \"{org}\"\n\n\
         [interaction]\nbase_url = \"{instance}\"\nauthorization_context = \"bench\"\ninsecure = true\n\n\
         [delivery]\nkind = \"stdout\"\n\n\
         [store]\npath = \"{store}\"\n\n[server]\nlisten = \"{listen}\"\n\n\
         [routing]\nstrategy = \"reject\"\n",
        pubsub = fake.pubsub,
        cert = fake.certificate.display(),
        topic = fake.topic,
        token = fake.token,
        instance = fake.instance_url,
        org = fake.org_id,
        store = dir.join("state.redb").display(),
    );
    let config_path = dir.join("connector.toml");
    std::fs::write(&config_path, config)?;
    let output_path = dir.join("delivered.jsonl");
    let output = std::fs::File::create(&output_path)?;
    let mut child = Command::new(binary)
        .args(["run", "--config"])
        .arg(&config_path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(output)
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the connector has no pid")?;
    let window = watch_lines(&output_path, events, pid, fake.pid).await?;
    let metrics = reqwest::Client::builder()
        .no_proxy()
        .build()?
        .get(format!("http://{listen}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let fetch_requests = metric(&metrics, "byoc_pubsub_fetch_requests_total");
    let peak_rss_kb = peak_rss_kb(pid);
    child.start_kill()?;
    child.wait().await?;
    Ok(ConsumerFigures {
        fetch_requests,
        peak_rss_kb,
        ..window
    })
}

/// Waits until `path` holds `events` lines; the window runs from its first line to its last.
async fn watch_lines(
    path: &Path,
    events: u64,
    consumer: u32,
    fake: u32,
) -> BenchResult<ConsumerFigures> {
    let deadline = Instant::now() + RUN_LIMIT;
    let mut file = tokio::fs::File::open(path).await?;
    let mut buffer = vec![0_u8; 1 << 20];
    let mut lines = 0_u64;
    let mut start: Option<(Instant, Duration, Duration)> = None;
    while lines < events {
        if Instant::now() > deadline {
            return Err(format!("only {lines} of {events} lines within {RUN_LIMIT:?}").into());
        }
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            tokio::time::sleep(POLL).await;
            // Re-reading from the same position picks up what was appended meanwhile.
            file.seek(std::io::SeekFrom::Current(0)).await?;
            continue;
        }
        if start.is_none() {
            start = Some((Instant::now(), cpu_time(consumer)?, cpu_time(fake)?));
        }
        // Counting is not what is measured here: the connector runs in another process.
        #[allow(clippy::naive_bytecount)]
        let newlines = buffer[..read].iter().filter(|byte| **byte == b'\n').count();
        lines += newlines as u64;
    }
    let (started, consumer_cpu, fake_cpu) = start.ok_or("no line was delivered")?;
    Ok(ConsumerFigures {
        events,
        elapsed: started.elapsed(),
        consumer_cpu: cpu_time(consumer)?.saturating_sub(consumer_cpu),
        fake_cpu: cpu_time(fake)?.saturating_sub(fake_cpu),
        fetch_requests: None,
        peak_rss_kb: None,
    })
}

/// Runs the npm script; it prints one line per event it received and a summary JSON line.
async fn run_npm(script: &Path, fake: &RunningFake, events: u64) -> BenchResult<ConsumerFigures> {
    let mut child = Command::new("node")
        .arg(script)
        .env(
            "PUBSUB_ENDPOINT",
            fake.pubsub.trim_start_matches("https://"),
        )
        .env(
            "INSTANCE_URL",
            fake.instance_url.replacen("http://", "https://", 1),
        )
        .env("ACCESS_TOKEN", &fake.token)
        .env("ORG_ID", &fake.org_id)
        .env("TOPIC", &fake.topic)
        .env("EVENTS", events.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| format!("cannot run node {}: {err}", script.display()))?;
    let pid = child.id().ok_or("node has no pid")?;
    let stdout = child.stdout.take().ok_or("node has no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let deadline = tokio::time::Instant::now() + RUN_LIMIT;
    let mut marks = Vec::new();
    let mut peak_rss = None;
    // The script prints "first" at its first event and "last" at the last one.
    while marks.len() < 2 {
        let line = tokio::time::timeout_at(deadline, lines.next_line())
            .await
            .map_err(|_| "the npm script did not finish in time")??
            .ok_or("the npm script exited early")?;
        if line == "first" || line == "last" {
            marks.push((Instant::now(), cpu_time(pid)?, cpu_time(fake.pid)?));
            peak_rss = peak_rss_kb(pid);
        }
    }
    let _ = child.wait().await?;
    let ((started, consumer_start, fake_start), (ended, consumer_end, fake_end)) =
        (marks[0], marks[1]);
    Ok(ConsumerFigures {
        events,
        elapsed: ended - started,
        consumer_cpu: consumer_end.saturating_sub(consumer_start),
        fake_cpu: fake_end.saturating_sub(fake_start),
        fetch_requests: None,
        peak_rss_kb: peak_rss,
    })
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> BenchResult<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .map(|index| {
            fields
                .get(*index)
                .and_then(|value| value.parse::<u64>().ok())
        })
        .sum::<Option<u64>>()
        .ok_or("unexpected /proc/<pid>/stat format")?;
    Ok(Duration::from_secs_f64(ticks as f64 / CLOCK_TICKS_PER_SEC))
}

/// Peak resident set (`VmHWM`) of a process, in kB.
pub(super) fn peak_rss_kb(pid: u32) -> Option<u64> {
    status_kb(pid, "VmHWM")
}

/// A kB figure of `/proc/<pid>/status` (`VmHWM`, `VmRSS`).
pub(super) fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// The value of an unlabelled counter in Prometheus text.
fn metric(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse::<f64>().ok())
        // Counters are whole numbers well below 2^53.
        .map(|value| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = value as u64;
            whole
        })
}

/// A loopback port free right now, for the connector's sidecar server.
pub(super) fn free_loopback_port() -> BenchResult<std::net::SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// `uname -srm`, the CPU model and count.
pub(super) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    format!(
        "{}, {model}, {cpus} CPUs",
        command_output("uname", &["-srm"])
    )
}

/// What `program args` prints, trimmed; empty when it cannot run.
pub(super) fn command_output(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default()
}
