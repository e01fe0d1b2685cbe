//! Periodic work beside the requests: deleting the rows that serve nothing
//! any more, and draining the metrics' histogram samples.

use std::{sync::Arc, time::Duration};

use actix_web::rt::{self, task::JoinHandle, time::interval};
use adapters_http::{Lanes, Metrics, UseCase};
use domain::AuthService;

/// How often the metrics' histogram samples are drained into their
/// buckets when nobody scrapes (each sample waits in memory until then).
pub const METRICS_UPKEEP: Duration = Duration::from_secs(5);

/// Every `every`, runs [`AuthService::prune_expired`] on the database lane
/// (as of the service's clock), so that expired sessions and old failed
/// logins go even for users who never log in again. The first pass runs
/// one interval after the start. A failed pass is logged; the next one
/// tries again. Stops with the actix system.
pub fn prune_periodically(
    service: Arc<AuthService>,
    lanes: Arc<Lanes>,
    every: Duration,
) -> JoinHandle<()> {
    rt::spawn(async move {
        let mut ticks = interval(every);
        ticks.tick().await; // the first tick is at once
        loop {
            ticks.tick().await;
            let service = Arc::clone(&service);
            match lanes
                .run(UseCase::Prune, move || service.prune_expired())
                .await
            {
                Ok(pruned) => tracing::debug!(
                    sessions = pruned.sessions,
                    login_failures = pruned.login_failures,
                    audit_events = pruned.audit_events,
                    api_keys = pruned.api_keys,
                    "pruned"
                ),
                Err(error) => tracing::warn!(%error, "pruning expired rows failed"),
            }
        }
    })
}

/// Every [`METRICS_UPKEEP`], drains the metrics' histogram samples.
pub fn metrics_upkeep(metrics: Arc<Metrics>) -> JoinHandle<()> {
    rt::spawn(async move {
        let mut ticks = interval(METRICS_UPKEEP);
        loop {
            ticks.tick().await;
            metrics.run_upkeep();
        }
    })
}
