//! Many tenants in one process (`[[tenants]]`): each tenant runs the whole single-channel
//! connector (its own credentials, store namespace or file, lease, subscriber, routing engine
//! and pipeline) beside the others, and they share the ops and sidecar listeners.
//!
//! `/readyz` is ready while every tenant is: subscribed when it leads, standing by otherwise
//! (a standby serves the partner → Salesforce writes). A tenant that stops with an error
//! (credentials Salesforce refuses, a refused capabilities registration, a store it cannot
//! open) is logged with its name, shown as `byoc_channel_up{tenant} 0`, left out of
//! readiness and its sidecar routes answer `503`; the others keep serving, because one
//! customer's revoked app must not stop a hundred others. The process stops with an error
//! only when no tenant is left running. Losing a lease is different: the process exits
//! (fail-stop, as with one channel), after the other tenants drained and released theirs,
//! because only the end of the process proves every task of the lost tenant is gone.
//! Shutdown drains every tenant. This file knows how tenants share the process, not what a
//! tenant runs.

use std::collections::BTreeMap;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, Instrument};

use super::sidecar::{tenant_routes, LateBound};
use super::{run_pipeline, wait_for_release, ConnectorError, Listeners, Servers};
use crate::config::Config;
use crate::ha::LeaseShare;
use crate::server::{Readiness, ServerState, SidecarAuth};
use crate::telemetry::Telemetry;

/// One tenant's share of the process: what the servers read of it.
struct TenantRuntime {
    name: String,
    config: Config,
    readiness: Readiness,
    telemetry: Telemetry,
    late: LateBound,
}

/// Runs every tenant of `config` until `shutdown` fires, a lease is lost or every tenant
/// stopped with an error.
pub(super) async fn run_tenants(
    config: Config,
    listeners: Listeners,
    auth: SidecarAuth,
    shutdown: CancellationToken,
) -> Result<(), ConnectorError> {
    let process_telemetry = Telemetry::for_tenants();
    // Every tenant's lease, spread over the replicas serving them all (`ha.enabled`).
    let share = config.ha.enabled.then(|| {
        let namespaces = config
            .tenants
            .iter()
            .map(|t| t.store.namespace.clone())
            .collect();
        LeaseShare::new(namespaces, &config.ha.timings())
    });
    let tenants: Vec<TenantRuntime> = config
        .channels()
        .into_iter()
        .map(|(name, config)| {
            let name = name.unwrap_or_default();
            TenantRuntime {
                telemetry: process_telemetry.tenant(&name),
                readiness: Readiness::new(),
                late: LateBound::default(),
                name,
                config,
            }
        })
        .collect();
    let readiness = Readiness::all_of(tenants.iter().map(|t| t.readiness.clone()).collect());
    let routes: BTreeMap<String, axum::Router> = tenants
        .iter()
        .map(|tenant| (tenant.name.clone(), tenant.late.routes()))
        .collect();
    let servers = Servers::start(
        listeners,
        ServerState::new(readiness.clone(), process_telemetry),
        tenant_routes(routes),
        auth,
    );
    let stores: Vec<_> = tenants.iter().map(|t| t.late.released.clone()).collect();
    info!(tenants = tenants.len(), "serving tenants");
    // Stops every tenant: on shutdown, and when one lost its lease.
    let stop = shutdown.child_token();
    let mut running = JoinSet::new();
    for tenant in tenants {
        let (stop, share) = (stop.clone(), share.clone());
        let span = tracing::info_span!("tenant", tenant = %tenant.name);
        running.spawn(
            async move {
                let outcome = run_pipeline(
                    tenant.config,
                    stop,
                    &tenant.readiness,
                    tenant.telemetry.clone(),
                    &tenant.late,
                    share,
                )
                .await;
                if outcome.is_err() {
                    tenant.readiness.set_ready(false);
                    tenant.readiness.excuse();
                    tenant.telemetry.set_channel_up(false);
                }
                (tenant.name, outcome)
            }
            .instrument(span),
        );
    }
    readiness.set_ready(true);
    let outcome = supervise(&mut running, &stop).await;
    readiness.set_ready(false);
    servers.stop().await;
    wait_for_release(stores).await;
    outcome
}

/// Waits for every tenant; decides what the process returns.
async fn supervise(
    running: &mut JoinSet<(String, Result<(), ConnectorError>)>,
    stop: &CancellationToken,
) -> Result<(), ConnectorError> {
    let total = running.len();
    let mut failed = 0;
    let mut first_error = None;
    let mut lease_lost = None;
    while let Some(joined) = running.join_next().await {
        let (tenant, outcome) = match joined {
            Ok(done) => done,
            Err(join_error) => {
                error!(error = %join_error, "a tenant's task failed");
                failed += 1;
                continue;
            }
        };
        let Err(source) = outcome else {
            continue;
        };
        let lost = matches!(source, ConnectorError::LeadershipLost { .. });
        error!(%tenant, error = %source, "tenant stopped");
        let wrapped = ConnectorError::Tenant {
            tenant,
            source: Box::new(source),
        };
        if lost {
            // Fail-stop: the others drain and release their leases, then the process exits.
            stop.cancel();
            lease_lost.get_or_insert(wrapped);
            continue;
        }
        failed += 1;
        first_error.get_or_insert(wrapped);
        if failed == total {
            break;
        }
    }
    match (lease_lost, first_error) {
        (Some(lost), _) => Err(lost),
        (None, Some(error)) if failed == total => Err(error),
        _ => Ok(()),
    }
}
