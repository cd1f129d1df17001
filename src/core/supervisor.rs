//! The daemon's top level (`mysql2hbase run`): first start, restarts, and the apply workers'
//! loop.
//!
//! - [`run`] checks the server can be followed row by row, migrates the state store, then runs
//!   the pipeline (`core::pipeline`) from the stored checkpoint. On a first start the
//!   checkpoint is the server's current position, stored together with one bootstrap job per
//!   captured table (or none with `snapshot.mode = "never"`).
//! - A transient failure tears the pipeline down; it restarts from the stored checkpoint after
//!   the wait the restart strategy says (`core::restart`), which loses nothing and skips
//!   nothing. A definite error stops the daemon with its message; so does the strategy when it
//!   gives up. A purged binlog with `snapshot.mode = "when_needed"` forgets the checkpoint and
//!   starts again like a first start.
//! - `--role apply` runs apply workers (`sink::distributed::apply`) under the same strategy.

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, SnapshotMode};
use crate::core::filter::TableFilter;
use crate::core::pipeline::{self, Role};
use crate::core::restart::Restarts;
use crate::error::{Result, SyncError};
use crate::model::{BinlogPosition, Version};
use crate::sink::distributed::apply;
use crate::source::mysql as my;
use crate::state::{Checkpoint, StateStore};
use crate::telemetry::health::SharedHealth;
use crate::telemetry::metrics::METRICS;

/// Runs until `shutdown` turns true (then flushes, stores the checkpoint and returns Ok) or a
/// definite error. Transient failures restart the pipeline from the stored checkpoint.
pub async fn run(
    cfg: Config,
    role: Role,
    mut shutdown: watch::Receiver<bool>,
    health: SharedHealth,
) -> Result<()> {
    if role == Role::Apply {
        return run_apply(cfg, shutdown, health).await;
    }
    if role == Role::Capture && cfg.kafka.is_none() {
        return Err(SyncError::definite(
            "run --role capture writes to Kafka, but there is no Kafka",
            "add a [kafka] section with brokers",
        ));
    }
    require_row_binlog(&cfg).await?;
    let (store, applied) = StateStore::connect_and_migrate(&cfg).await?;
    if !applied.is_empty() {
        info!(migrations = ?applied, "state store migrated");
    }
    let mut restarts = Restarts::new(cfg.restart.clone());
    loop {
        let start = start_position(&cfg, &store).await?;
        info!(position = %start, "streaming from checkpoint");
        let result =
            pipeline::run_once(&cfg, role, &store, &start, shutdown.clone(), &health).await;
        {
            let mut h = health.lock().expect("health lock");
            h.streaming = false;
            h.reason = Some(match &result {
                Ok(()) => "shutting down".to_string(),
                Err(e) => e.to_string(),
            });
        }
        let error = match result {
            Ok(()) => return Ok(()),
            Err(SyncError::BinlogPurged { file, .. })
                if cfg.snapshot.mode == SnapshotMode::WhenNeeded =>
            {
                warn!(%file, "the checkpoint's binlog was purged; snapshot.mode = when_needed: re-bootstrapping every captured table");
                store.reset_checkpoint().await?;
                continue;
            }
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        if *shutdown.borrow() {
            return Ok(());
        }
        // The pipeline recovered if it moved the checkpoint before failing again.
        if let Ok(Some(cp)) = store.load_checkpoint().await {
            if Version::of(&cp.position) > Version::of(&start) {
                restarts.recovered();
            }
        }
        if !restarts
            .wait_to_restart(
                &error,
                "pipeline failed; restarting from the checkpoint",
                &mut shutdown,
            )
            .await?
        {
            return Ok(());
        }
    }
}

/// Refuses servers whose binlog cannot be followed row by row, naming the setting and the fix.
async fn require_row_binlog(cfg: &Config) -> Result<()> {
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    for (setting, expected, hint) in my::REQUIRED_SETTINGS {
        let actual = my::variable(&mut conn, setting).await?.unwrap_or_default();
        if !actual.eq_ignore_ascii_case(expected) {
            return Err(SyncError::ServerSetting {
                setting: setting.into(),
                expected: expected.into(),
                actual,
                hint: hint.into(),
            });
        }
    }
    Ok(())
}

/// The stored checkpoint, or on a first start the position the first start begins at.
async fn start_position(cfg: &Config, store: &StateStore) -> Result<BinlogPosition> {
    if let Some(cp) = store.load_checkpoint().await? {
        return Ok(cp.position);
    }
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let (position, gtid_set) = my::current_position(&mut conn).await?;
    let checkpoint = Checkpoint {
        position: position.clone(),
        gtid_set,
    };
    if cfg.snapshot.mode == SnapshotMode::Never {
        info!(%position, "first start with snapshot.mode = never: streaming from the current position");
        store.store_checkpoint(&checkpoint).await?;
    } else {
        let filter = TableFilter::new(&cfg.capture);
        let tables =
            crate::source::schema::captured_tables(&mut conn, |db, t| filter.captures(db, t))
                .await?;
        info!(%position, tables = tables.len(), mode = cfg.snapshot.mode.as_str(), "first start: bootstrapping every captured table while streaming");
        store
            .start_with_bootstraps(&checkpoint, Version::of(&position).0, &tables)
            .await?;
    }
    Ok(position)
}

/// Runs an apply worker until `shutdown` (then flushes and commits) or a definite error;
/// transient failures restart it as `[restart]` says.
async fn run_apply(
    cfg: Config,
    mut shutdown: watch::Receiver<bool>,
    health: SharedHealth,
) -> Result<()> {
    let kafka = cfg.kafka.clone().ok_or_else(|| {
        SyncError::definite(
            "run --role apply reads the internal topic, but there is no Kafka",
            "add a [kafka] section with brokers",
        )
    })?;
    let mut restarts = Restarts::new(cfg.restart.clone());
    loop {
        let applied_before = METRICS.applied_changes.get();
        let result = apply::apply_once(&cfg, &kafka, shutdown.clone(), &health).await;
        health.lock().expect("health lock").streaming = false;
        let error = match result {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() => e,
            Err(e) => return Err(e),
        };
        health.lock().expect("health lock").reason = Some(error.to_string());
        // The worker recovered if it wrote something before failing again.
        if METRICS.applied_changes.get() > applied_before {
            restarts.recovered();
        }
        if !restarts
            .wait_to_restart(
                &error,
                "apply worker failed; restarting from the committed offsets",
                &mut shutdown,
            )
            .await?
        {
            return Ok(());
        }
    }
}
