//! The daemon's top level (`mysql2hbase run`): first start, restarts, and the apply workers'
//! loop.
//!
//! - [`run`] checks the server can be followed row by row, migrates the state store, then runs
//!   the pipeline (`core::pipeline`) from the stored checkpoint. On a first start the
//!   checkpoint is the server's current position, stored together with one bootstrap job per
//!   captured table (or none with `snapshot.mode = "never"`).
//! - Where to start (`start`): the checkpoint records the server it belongs to and when its
//!   binlog file was created. The same server with the same file: from the position. Another
//!   server (a failover to a promoted replica), or a binlog that was reset or restored (the
//!   file is gone although newer ones were never written, or has another creation time): after
//!   the checkpoint's GTID set when the server has GTIDs; otherwise a definite error naming what
//!   changed ([`SyncError::SourceChanged`]), or with `snapshot.mode = "when_needed"` a
//!   re-bootstrap of every captured table. A position of another history is never used.
//! - The first start on wall-clock versions after an older version of the service (a checkpoint
//!   without a highest version) resyncs every captured table once: their cells carry the old
//!   binlog-derived versions, which the new ones are far above.
//! - A transient failure tears the pipeline down; it restarts from the stored checkpoint after
//!   the wait the restart strategy says (`core::restart`), which loses nothing and skips
//!   nothing. A definite error stops the daemon with its message; so does the strategy when it
//!   gives up. A purged binlog with `snapshot.mode = "when_needed"` forgets the checkpoint and
//!   starts again like a first start.
//! - `--role apply` runs apply workers (`sink::distributed::apply`) under the same strategy.

use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Config, SnapshotMode};
use crate::core::bootstrap::job::row_key_problem;
use crate::core::filter::TableFilter;
use crate::core::pipeline::{self, Role, Start};
use crate::core::restart::Restarts;
use crate::error::{Result, SyncError};
use crate::model::BinlogPosition;
use crate::sink::distributed::apply;
use crate::source::binlog::StartAt;
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
    let mut restarts = Restarts::new(cfg.restart.clone());
    // The state store once it is connected and migrated.
    let mut prepared: Option<StateStore> = None;
    // Set when the checkpoint's file turned out to be of another history.
    let mut by_gtid = false;
    loop {
        let (started, result) =
            attempt(&cfg, role, &mut prepared, by_gtid, &shutdown, &health).await;
        {
            let mut h = health.lock().expect("health lock");
            h.streaming = false;
            h.reason = Some(match &result {
                Ok(()) => "shutting down".to_string(),
                Err(e) => e.to_string(),
            });
        }
        let by_position = started
            .as_ref()
            .is_some_and(|s| matches!(s.at, StartAt::Position { .. }));
        let error = match (result, prepared.as_ref()) {
            (Ok(()), _) => return Ok(()),
            (Err(SyncError::BinlogPurged { file, .. }), Some(store))
                if cfg.snapshot.mode == SnapshotMode::WhenNeeded =>
            {
                warn!(%file, "the checkpoint's binlog was purged; snapshot.mode = when_needed: re-bootstrapping every captured table");
                match store.reset_checkpoint().await {
                    Ok(()) => continue,
                    Err(e) => e,
                }
            }
            // The file has the checkpoint's name but another history: try its GTIDs.
            (Err(SyncError::SourceChanged { what }), _) if by_position && !by_gtid => {
                warn!(%what, "resuming after the checkpoint's GTID set instead");
                by_gtid = true;
                continue;
            }
            (Err(SyncError::SourceChanged { what }), Some(store))
                if cfg.snapshot.mode == SnapshotMode::WhenNeeded =>
            {
                warn!(%what, "snapshot.mode = when_needed: re-bootstrapping every captured table");
                by_gtid = false;
                match store.reset_checkpoint().await {
                    Ok(()) => continue,
                    Err(e) => e,
                }
            }
            (Err(e), _) if e.is_transient() => e,
            (Err(e), _) => return Err(e),
        };
        by_gtid = false;
        if *shutdown.borrow() {
            return Ok(());
        }
        // The pipeline recovered if it moved the checkpoint before failing again.
        if let (
            Some(store),
            Some(Start {
                at: StartAt::Position { position, .. },
                ..
            }),
        ) = (prepared.as_ref(), &started)
        {
            if let Ok(Some(cp)) = store.load_checkpoint().await {
                if cp.position > *position {
                    restarts.recovered();
                }
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

/// One life of the pipeline and everything it needs first, each step bounded by
/// `pipeline.stall_timeout` and every failure left to the restart strategy: the server check
/// and the state store's migration (once they succeeded, not again), where to start, the
/// pipeline. Returns the start when it was worked out, and how the life ended.
async fn attempt(
    cfg: &Config,
    role: Role,
    prepared: &mut Option<StateStore>,
    by_gtid: bool,
    shutdown: &watch::Receiver<bool>,
    health: &SharedHealth,
) -> (Option<Start>, Result<()>) {
    let limit = cfg.pipeline.stall_timeout;
    let store = match prepared {
        Some(store) => store.clone(),
        None => match bounded(
            limit,
            "connecting to MySQL and the state store",
            prepare(cfg),
        )
        .await
        {
            Ok(store) => prepared.insert(store).clone(),
            Err(e) => return (None, Err(e)),
        },
    };
    let start = match bounded(
        limit,
        "working out where to start",
        start(cfg, &store, by_gtid),
    )
    .await
    {
        Ok(start) => start,
        Err(e) => return (None, Err(e)),
    };
    let result = match pipeline::run_once(cfg, role, &store, &start, shutdown.clone(), health).await
    {
        // Say why the start was by GTID beside why that failed too.
        Err(SyncError::SourceChanged { what }) if start.why.is_some() => {
            Err(SyncError::SourceChanged {
                what: format!("{}; {what}", start.why.as_deref().unwrap_or_default()),
            })
        }
        other => other,
    };
    (Some(start), result)
}

/// `step` within `limit`, or a transient error naming what took too long.
async fn bounded<T>(
    limit: std::time::Duration,
    what: &str,
    step: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, step).await.unwrap_or_else(|_| {
        Err(SyncError::transient(format!(
            "{what} took longer than pipeline.stall_timeout = {limit:?}"
        )))
    })
}

/// Checks the server can be followed row by row, connects and migrates the state store, and
/// on the first start after an older version schedules the version upgrade's resyncs.
async fn prepare(cfg: &Config) -> Result<StateStore> {
    require_row_binlog(cfg).await?;
    let (store, applied) = StateStore::connect_and_migrate(cfg).await?;
    if !applied.is_empty() {
        info!(migrations = ?applied, "state store migrated");
    }
    upgrade_versions(cfg, &store).await?;
    // Tables captured now, for a later DROP DATABASE (see `core::ddl`).
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let tables = captured_tables(cfg, &mut conn).await?;
    store.register_tables(&tables).await?;
    // A row_key override that is not unique would merge rows.
    for (db, table) in &tables {
        if let Some((problem, fix)) = row_key_problem(cfg, &mut conn, db, table).await? {
            return Err(SyncError::definite(problem, fix));
        }
    }
    Ok(store)
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

/// Where the pipeline starts (see the module doc); on a first start, stores the checkpoint
/// and the first bootstraps. `by_gtid`: the checkpoint's file was found to be of another
/// history.
async fn start(cfg: &Config, store: &StateStore, by_gtid: bool) -> Result<Start> {
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let source_id = my::source_id(&mut conn).await?;
    let Some(cp) = store.load_checkpoint().await? else {
        return first_start(cfg, store, &mut conn, source_id).await;
    };
    // An older version stored no source: the same server is assumed.
    let other_server = cp.source_id.as_ref().is_some_and(|id| *id != source_id);
    let newest = my::binlog_files(&mut conn)
        .await?
        .iter()
        .filter_map(|f| BinlogPosition::new(f.as_str(), 4).ok())
        .map(|p| p.index())
        .max();
    let reset = newest.is_some_and(|n| n < cp.position.index());
    let what = if other_server {
        format!(
            "the checkpoint belongs to MySQL server {}, but [mysql] url now reaches server {source_id} (a failover?)",
            cp.source_id.as_deref().unwrap_or("?")
        )
    } else if reset {
        format!(
            "the checkpoint's binlog file {} is gone and the server's newest file is older (number {}): the binlog was reset (RESET MASTER) or the server restored",
            cp.position.file(),
            newest.unwrap_or_default()
        )
    } else if by_gtid {
        format!(
            "the server's binlog file {} is not the one the checkpoint was read from: the binlog was reset (RESET MASTER) or the server restored",
            cp.position.file()
        )
    } else {
        return Ok(Start {
            at: StartAt::Position {
                position: cp.position,
                origin: cp.file_origin,
            },
            gtid_set: cp.gtid_set,
            source_id,
            why: None,
        });
    };
    // Another history: only its GTIDs lead from the checkpoint into this server's binlog.
    let server_gtids = my::gtid_executed(&mut conn).await?;
    match (cp.gtid_set.filter(|g| !g.is_empty()), server_gtids) {
        (Some(gtid_set), Some(_)) => {
            warn!(%what, gtid_set, "resuming after the checkpoint's GTID set");
            Ok(Start {
                at: StartAt::Gtid(gtid_set.clone()),
                gtid_set: Some(gtid_set),
                source_id,
                why: Some(what),
            })
        }
        (None, _) => Err(SyncError::SourceChanged {
            what: format!("{what}; the checkpoint has no GTID set"),
        }),
        (Some(_), None) => Err(SyncError::SourceChanged {
            what: format!("{what}; the server has no GTIDs (gtid_mode is OFF)"),
        }),
    }
}

/// A first start: the server's current position is the checkpoint, stored with one bootstrap
/// job per captured table (none with `snapshot.mode = "never"`).
async fn first_start(
    cfg: &Config,
    store: &StateStore,
    conn: &mut mysql_async::Conn,
    source_id: String,
) -> Result<Start> {
    let (position, gtid_set) = my::current_position(conn).await?;
    let checkpoint = Checkpoint {
        position: position.clone(),
        gtid_set: gtid_set.clone(),
        source_id: Some(source_id.clone()),
        file_origin: None,
        // Nothing written yet; set, so this is not taken for an older version's checkpoint.
        highest_version: Some(crate::model::Version::now().0),
    };
    if cfg.snapshot.mode == SnapshotMode::Never {
        info!(%position, "first start with snapshot.mode = never: streaming from the current position");
        store.store_checkpoint(&checkpoint).await?;
    } else {
        let tables = captured_tables(cfg, conn).await?;
        info!(%position, tables = tables.len(), mode = cfg.snapshot.mode.as_str(), "first start: bootstrapping every captured table while streaming");
        store.start_with_bootstraps(&checkpoint, &tables).await?;
    }
    Ok(Start {
        at: StartAt::Position {
            position,
            origin: None,
        },
        gtid_set,
        source_id,
        why: None,
    })
}

async fn captured_tables(
    cfg: &Config,
    conn: &mut mysql_async::Conn,
) -> Result<Vec<(String, String)>> {
    let filter = TableFilter::new(&cfg.capture);
    crate::source::schema::captured_tables(conn, |db, t| filter.captures(db, t)).await
}

/// The first start on wall-clock versions over a state written by an older version (a
/// checkpoint without a highest version): every captured table is resynced once, since its
/// cells carry binlog-derived versions (far below the new ones, so the resync's replaces win).
async fn upgrade_versions(cfg: &Config, store: &StateStore) -> Result<()> {
    let old = store
        .load_checkpoint()
        .await?
        .is_some_and(|cp| cp.highest_version.is_none());
    if !old {
        return Ok(());
    }
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let tables = captured_tables(cfg, &mut conn).await?;
    warn!(
        tables = tables.len(),
        "first start on wall-clock versions: resyncing every captured table once (its cells carry the older binlog-derived versions)"
    );
    store.create_cleanup_jobs(&tables).await
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
