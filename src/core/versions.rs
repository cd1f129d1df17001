//! The pipeline's [`VersionClock`]: where its versions start, and the task that keeps versions
//! reserved in the state store ahead of their use (see `model::version` for why).
//!
//! - The floor of a pipeline is one above the reservation stored by the previous one of this
//!   replica id: nothing it writes lands below anything written before, whatever it replays. On
//!   a first start (or the first start on wall-clock versions) there is none: the floor is the
//!   clock, above the cells other tools wrote before.
//! - After a change of source server (a failover) the stored reservation may be older than the
//!   last one the previous pipeline used (it lived on the old server and may not have reached
//!   the new one): the floor is then also at least two reservation windows ahead of the clock,
//!   which no version used before can be, as every reservation reaches at most one window ahead
//!   of the versions in use, and those never run ahead of the clock by more than a window.
//! - [`reservation_task`] stores a new bound whenever less than half a window is left, so
//!   writers do not wait for it while the state store answers.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::warn;

use crate::error::Result;
use crate::model::version::{VersionClock, RESERVATION_WINDOW_MS};
use crate::model::Version;
use crate::state::StateStore;
use crate::telemetry::metrics::METRICS;

/// How often the reservation is looked at.
const RESERVATION_TICK: Duration = Duration::from_millis(100);

/// The clock of a pipeline starting now, with its first reservation stored.
pub async fn start_clock(store: &StateStore, source_changed: bool) -> Result<Arc<VersionClock>> {
    let now = Version::now().0;
    let mut floor = match store.load_reservation().await? {
        Some(reserved) => reserved + 1,
        None => now,
    };
    if source_changed {
        floor = floor.max(now + 2 * RESERVATION_WINDOW_MS);
    }
    let reserved = floor.max(now) + RESERVATION_WINDOW_MS;
    store.store_reservation(reserved).await?;
    Ok(Arc::new(VersionClock::new(floor, reserved)))
}

/// Keeps the reservation a window ahead of the versions in use and of the clock, until `stop`.
pub async fn reservation_task(
    store: StateStore,
    clock: Arc<VersionClock>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(RESERVATION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = Version::now().0;
        METRICS.version_lead_ms.set(clock.highest() - now);
        if let Some(bound) = clock.renewal_due(now) {
            match store.store_reservation(bound).await {
                Ok(()) => clock.reserve(bound),
                Err(e) => {
                    warn!(error = %e, "cannot store the version reservation; writers wait for it")
                }
            }
        }
    }
}
