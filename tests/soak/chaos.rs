//! The fault plan: a seeded random sequence of faults, one at a time, each held for a few
//! seconds and then lifted, with the connector process killed and restarted among them.
//!
//! It owns the running connector (so it can SIGKILL and restart it) and tells the partner
//! where the current sidecar listens. It knows nothing about what the soak checks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use fake_salesforce::faults::FaultRequest;
use fake_salesforce::interaction_service::InteractionFault;
use fake_salesforce::FakeSalesforce;
use rand::rngs::StdRng;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::connector::Connector;
use crate::epoch_ms;
use crate::partner::Partner;

/// The kinds of fault, with their weight in the draw.
const KINDS: [(&str, u32); 10] = [
    ("pubsub stream reset (UNAVAILABLE)", 3),
    ("pubsub service.unavailable", 1),
    ("pubsub stall", 2),
    ("token expiry", 2),
    ("interaction 429", 2),
    ("interaction 5xx", 2),
    ("partner 503s", 2),
    ("partner slow answers", 2),
    ("connector SIGKILL + restart", 2),
    ("quiet", 1),
];

/// What the fault plan did.
#[derive(Debug, Default)]
pub struct ChaosReport {
    /// How often each kind of fault was injected.
    pub counts: BTreeMap<&'static str, u32>,
    /// Epoch ms of each SIGKILL.
    pub kills_ms: Vec<u64>,
    /// Restarts (after a kill or an unexpected exit).
    pub restarts: u32,
    /// Exits nobody asked for, with their status.
    pub unexpected_exits: Vec<String>,
}

/// Runs the fault plan until `stop`, then lifts every fault and hands back the connector.
pub struct Chaos {
    pub fake: Arc<FakeSalesforce>,
    pub partner: Arc<Partner>,
    pub config: PathBuf,
    pub log_dir: PathBuf,
    pub rng: StdRng,
    pub connector: Connector,
    pub report: ChaosReport,
    starts: u32,
}

impl Chaos {
    /// Starts the first connector process.
    pub async fn start(
        fake: Arc<FakeSalesforce>,
        partner: Arc<Partner>,
        config: PathBuf,
        log_dir: PathBuf,
        rng: StdRng,
    ) -> anyhow::Result<Self> {
        let connector = Connector::start(&config, &log_dir.join("connector-0.log")).await?;
        *partner.sidecar.lock().unwrap() = Some(connector.sidecar);
        Ok(Self {
            fake,
            partner,
            config,
            log_dir,
            rng,
            connector,
            report: ChaosReport::default(),
            starts: 1,
        })
    }

    /// Injects faults until `stop` is cancelled; then lifts them all.
    pub async fn run(
        mut self,
        stop: CancellationToken,
    ) -> anyhow::Result<(Connector, ChaosReport)> {
        let total: u32 = KINDS.iter().map(|(_, weight)| weight).sum();
        while !stop.is_cancelled() {
            let pause = Duration::from_millis(self.rng.random_range(500..4000));
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
            self.check_alive().await?;
            let mut draw = self.rng.random_range(0..total);
            let kind = KINDS
                .iter()
                .find(|(_, weight)| {
                    let hit = draw < *weight;
                    draw = draw.saturating_sub(*weight);
                    hit
                })
                .map_or("quiet", |(name, _)| *name);
            *self.report.counts.entry(kind).or_default() += 1;
            self.inject(kind).await?;
        }
        self.lift_all();
        self.check_alive().await?;
        Ok((self.connector, self.report))
    }

    async fn inject(&mut self, kind: &str) -> anyhow::Result<()> {
        let hold = Duration::from_millis(self.rng.random_range(1000..8000));
        match kind {
            "pubsub stream reset (UNAVAILABLE)" => self.fake.apply_faults(&FaultRequest {
                unavailable_after_events: Some(self.rng.random_range(0..40)),
                ..FaultRequest::default()
            }),
            "pubsub service.unavailable" => self.fake.apply_faults(&FaultRequest {
                unavailable_after_events: Some(0),
                service_unavailable_calls: Some(self.rng.random_range(1..3)),
                ..FaultRequest::default()
            }),
            "pubsub stall" => {
                self.fake.apply_faults(&FaultRequest {
                    stall: Some(true),
                    ..FaultRequest::default()
                });
                tokio::time::sleep(hold).await;
                self.fake.apply_faults(&FaultRequest {
                    stall: Some(false),
                    ..FaultRequest::default()
                });
            }
            "token expiry" => self.fake.apply_faults(&FaultRequest {
                expire_tokens: Some(true),
                ..FaultRequest::default()
            }),
            "interaction 429" => {
                let mut fault =
                    InteractionFault::rate_limit("routingResult", self.rng.random_range(1..4));
                fault.retry_after_secs = Some(self.rng.random_range(0..3));
                self.fake.interaction().inject_fault(fault)?;
            }
            "interaction 5xx" => {
                let status = [500, 502, 503][self.rng.random_range(0..3)];
                let fault =
                    InteractionFault::status("routingResult", status, self.rng.random_range(1..4));
                self.fake.interaction().inject_fault(fault)?;
            }
            "partner 503s" => {
                let percent = self.rng.random_range(30..100);
                self.partner
                    .faults
                    .fail_percent
                    .store(percent, Ordering::Relaxed);
                tokio::time::sleep(hold).await;
                self.partner.faults.fail_percent.store(0, Ordering::Relaxed);
            }
            "partner slow answers" => {
                let delay = self.rng.random_range(200..3000);
                self.partner.faults.delay_ms.store(delay, Ordering::Relaxed);
                tokio::time::sleep(hold).await;
                self.partner.faults.delay_ms.store(0, Ordering::Relaxed);
            }
            "connector SIGKILL + restart" => {
                let down = Duration::from_millis(self.rng.random_range(0..2000));
                self.restart(down, true).await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Stops the connector (SIGKILL when `kill`; it is already dead otherwise), keeps it down
    /// for `down`, and starts it again on the same config and store.
    async fn restart(&mut self, down: Duration, kill: bool) -> anyhow::Result<()> {
        *self.partner.sidecar.lock().unwrap() = None;
        if kill {
            self.connector.kill().await?;
            self.report.kills_ms.push(epoch_ms());
        }
        tokio::time::sleep(down).await;
        let log = self.log_dir.join(format!("connector-{}.log", self.starts));
        self.starts += 1;
        self.connector = Connector::start(&self.config, &log).await?;
        *self.partner.sidecar.lock().unwrap() = Some(self.connector.sidecar);
        self.report.restarts += 1;
        Ok(())
    }

    /// A connector that died on its own is recorded and started again.
    async fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.connector.exited() {
            self.report
                .unexpected_exits
                .push(format!("{status} at {} ms", epoch_ms()));
            self.restart(Duration::ZERO, false).await?;
        }
        Ok(())
    }

    /// Lifts every fault still in place.
    fn lift_all(&self) {
        self.fake.apply_faults(&FaultRequest {
            stall: Some(false),
            service_unavailable_calls: Some(0),
            ..FaultRequest::default()
        });
        self.fake.interaction().clear_faults();
        self.partner.faults.fail_percent.store(0, Ordering::Relaxed);
        self.partner.faults.delay_ms.store(0, Ordering::Relaxed);
    }
}
