//! The figures `bench process` prints: one consumer's run (events/s, CPU per event, requests,
//! latency, memory) and the report of a whole run, with the `BYOC__…` settings the connector
//! inherited. Pure formatting and picking names; it measures nothing and reads no environment.

use std::fmt;
use std::time::Duration;

use super::percentile;

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
    /// Webhook requests, when delivering to the webhook.
    pub requests: Option<u64>,
    /// Publish → partner latency of each event, sorted, when published at a pace.
    pub latencies: Vec<Duration>,
    /// RoutingRequested events and the routing results posted for them, when mixed in.
    pub routing: Option<(u64, u64)>,
}

impl ConsumerFigures {
    /// No events yet.
    pub(super) fn empty() -> Self {
        Self {
            events: 0,
            elapsed: Duration::ZERO,
            consumer_cpu: Duration::ZERO,
            fake_cpu: Duration::ZERO,
            fetch_requests: None,
            peak_rss_kb: None,
            requests: None,
            latencies: Vec::new(),
            routing: None,
        }
    }

    pub(super) fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn micros_per_event(&self, cpu: Duration) -> f64 {
        cpu.as_secs_f64() * 1e6 / self.events.max(1) as f64
    }
}

/// The figures of one `bench process` run.
#[derive(Debug, Clone)]
pub struct ProcessReport {
    /// What the connector's run did.
    pub variant: String,
    /// The connector's run.
    pub connector: ConsumerFigures,
    /// The npm client's run, when a script was given and could run.
    pub npm: Option<ConsumerFigures>,
    /// Why the npm client did not run although a script was given.
    pub npm_skipped: Option<String>,
    /// `uname -srm`, CPU model and count.
    pub machine: String,
    /// UTC date and time of the run.
    pub date: String,
    /// `uptime` at the end of the run: the machine is shared.
    pub load: String,
    /// `bench events`' work on one thread, ns per event, just before and just after the
    /// connector's run: how fast the shared host ran around it.
    pub host_gauge_ns: (f64, f64),
    /// Names of the `BYOC__…` variables the connector inherits, and `TOKIO_WORKER_THREADS`:
    /// they win over the bench's settings and the connector's defaults, so a reader must know.
    pub overrides: Vec<String>,
}

/// The `BYOC__…` names among the environment's variable `names`, and tokio's worker count
/// (which sets the connector's runtime), sorted. Names only: the values may be secrets.
pub(super) fn config_overrides(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|name| name.starts_with(crate::config::ENV_PREFIX) || name == TOKIO_WORKER_THREADS)
        .collect();
    names.sort();
    names
}

/// Tokio's variable for its worker count, which the connector inherits like any other.
const TOKIO_WORKER_THREADS: &str = "TOKIO_WORKER_THREADS";

impl fmt::Display for ProcessReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "bench process: separate processes, TLS, durable checkpoints, the connector logging at its default level"
        )?;
        writeln!(f, "  machine: {}", self.machine)?;
        writeln!(f, "  date:    {}", self.date)?;
        writeln!(f, "  load:    {}", self.load)?;
        writeln!(
            f,
            "  gauge:   `bench events` work on one thread, {:.0} ns/event before the run, {:.0} after",
            self.host_gauge_ns.0, self.host_gauge_ns.1
        )?;
        if !self.overrides.is_empty() {
            writeln!(
                f,
                "  config:  overridden from the environment: {}",
                self.overrides.join(", ")
            )?;
        }
        write_figures(
            f,
            &format!("connector (run, {})", self.variant),
            &self.connector,
        )?;
        if let Some(reason) = &self.npm_skipped {
            writeln!(f, "  npm comparison skipped: {reason}")?;
        }
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
    if let Some(requests) = figures.requests {
        writeln!(
            f,
            "    webhook requests: {requests} ({:.1} events per request)",
            figures.events as f64 / requests.max(1) as f64
        )?;
    }
    if !figures.latencies.is_empty() {
        let ms = |p: f64| percentile(&figures.latencies, p).as_secs_f64() * 1e3;
        writeln!(
            f,
            "    publish -> partner over {} events: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            figures.latencies.len(),
            ms(0.50),
            ms(0.99),
            ms(1.0)
        )?;
    }
    if let Some((requested, posted)) = figures.routing {
        writeln!(
            f,
            "    routing: {requested} RoutingRequested, {posted} routingResults posted"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(overrides: Vec<String>) -> ProcessReport {
        ProcessReport {
            variant: "stdout".to_owned(),
            connector: ConsumerFigures::empty(),
            npm: None,
            npm_skipped: None,
            machine: "m".to_owned(),
            date: "d".to_owned(),
            load: "l".to_owned(),
            host_gauge_ns: (1_312.4, 1_650.0),
            overrides,
        }
    }

    #[test]
    fn overrides_are_the_byoc_and_tokio_variables_by_name_sorted() {
        let names = config_overrides(
            [
                "BYOC__PUBSUB__CREDIT_WINDOW",
                "HOME",
                "TOKIO_WORKER_THREADS",
                "BYOC__AUTH__CLIENT_SECRET",
            ]
            .map(str::to_owned),
        );
        assert_eq!(
            names,
            [
                "BYOC__AUTH__CLIENT_SECRET",
                "BYOC__PUBSUB__CREDIT_WINDOW",
                "TOKIO_WORKER_THREADS"
            ]
        );
        let printed = report(names).to_string();
        assert!(printed.contains(
            "config:  overridden from the environment: BYOC__AUTH__CLIENT_SECRET, BYOC__PUBSUB__CREDIT_WINDOW, TOKIO_WORKER_THREADS"
        ));
    }

    #[test]
    fn the_host_gauge_is_printed_before_and_after() {
        assert!(report(Vec::new())
            .to_string()
            .contains("1312 ns/event before the run, 1650 after"));
    }

    #[test]
    fn a_run_without_overrides_says_nothing_of_them() {
        assert!(!report(Vec::new()).to_string().contains("config:"));
    }
}
