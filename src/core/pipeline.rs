//! The streaming pipeline, wired: binlog -> router -> sinks, with checkpoints and bootstraps.
//!
//! ```text
//!  BinlogTailer --events--> Router --SinkMsg (items | commit | barrier), bounded--> sink 0..N
//!       ^                    ^  |                                                  (HBase writers,
//!       |      HandoverRequest  |                                                   or the capture
//!  bootstrap manager --jobs--+  +--SinkMsg<RowEvent>--> change-event publisher      writer)
//!                                                                                     |
//!       CheckpointTracker <--------- commit slots, acknowledged once durable ---------+
//!              |
//!       state store (at most every checkpoint_interval, and at exit)
//! ```
//!
//! One call of [`run_once`] is one life of the pipeline: it starts every task, routes until
//! shutdown or a failure, then lets the sinks flush for at most [`SINK_FLUSH_GRACE`] and stores
//! the checkpoint. What happens after a failure (restart from the checkpoint, or stop) is
//! `core::supervisor`'s business.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::{Config, SnapshotMode};
use crate::core::bootstrap::bootstrap_manager;
use crate::core::catalog::ServerCatalog;
use crate::core::change_events::ChangeEvents;
use crate::core::checkpoint::{self, CheckpointTracker};
use crate::core::inflight::{writer_queue, InflightBytes};
use crate::core::router::Router;
use crate::core::versions;
use crate::error::{Result, SyncError};
use crate::model::gtid::GtidSet;
use crate::model::CommitPoint;
use crate::sink::distributed::capture::capture_sink;
use crate::sink::hbase::HbaseSink;
use crate::sink::kafka::events::event_sink;
use crate::source::binlog::{BinlogTailer, StartAt};
use crate::source::mysql as my;
use crate::state::StateStore;
use crate::telemetry::health::SharedHealth;
use crate::telemetry::metrics::METRICS;
use crate::telemetry::stall::StallWatch;

/// Which part of the work a `run` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Binlog and bootstraps straight into HBase (single process).
    All,
    /// Binlog and bootstraps into the internal Kafka topic.
    Capture,
    /// Internal Kafka topic into HBase, one of a consumer group.
    Apply,
}

/// How long sinks may take to flush when the pipeline stops.
const SINK_FLUSH_GRACE: Duration = Duration::from_secs(7);

/// Where a pipeline starts, as `core::supervisor` worked it out.
pub struct Start {
    pub at: StartAt,
    /// The GTID set executed up to the start, when known (the checkpoint's).
    pub gtid_set: Option<String>,
    /// The source server (see `source::mysql::source_id`).
    pub source_id: String,
    /// Why the start is by GTID: the checkpoint belongs to another server or another binlog
    /// history (a failover, a reset binlog).
    pub why: Option<String>,
}

/// Runs the pipeline from `start` until `shutdown` (Ok) or a failure.
pub async fn run_once(
    cfg: &Config,
    role: Role,
    store: &StateStore,
    start: &Start,
    mut shutdown: watch::Receiver<bool>,
    health: &SharedHealth,
) -> Result<()> {
    let limit = cfg.pipeline.stall_timeout;
    let stalls = StallWatch::new(limit);
    // The stream first: a GTID start learns its position from the server.
    let (mut tailer, clock) = tokio::time::timeout(limit, async {
        let tailer = BinlogTailer::open(cfg, &start.at).await?;
        Ok::<_, SyncError>((tailer, versions::start_clock(store).await?))
    })
    .await
    .map_err(|_| {
        SyncError::transient(format!(
            "opening the binlog stream took longer than pipeline.stall_timeout = {limit:?}"
        ))
    })??;
    let start_position = tailer.start().clone();
    info!(position = %start_position, "streaming from the checkpoint");
    // Capture has one Kafka sink: two would interleave one partition's history (see
    // sink::distributed).
    let sinks = if role == Role::Capture {
        1
    } else {
        cfg.pipeline.writers
    };
    let event_topic = cfg
        .kafka
        .as_ref()
        .and_then(|k| k.topic.clone().map(|t| (k.clone(), t)));
    // The change-event publisher acknowledges commits in the checkpoint slot after the sinks'.
    let slots = sinks + usize::from(event_topic.is_some());
    let pool = my::pool(&cfg.mysql.url, &cfg.mysql, None)?;
    let source = checkpoint::Source {
        pool: pool.clone(),
        id: start.source_id.clone(),
        origins: tailer.origins(),
        known: Default::default(),
        versions: clock.clone(),
    };
    // The GTID set at the start: followed along the stream on MySQL (see model::gtid).
    let start_gtids = start.gtid_set.as_deref().and_then(GtidSet::parse);
    let tracker = Arc::new(CheckpointTracker::new(
        slots,
        CommitPoint::new(
            start_position.clone(),
            start_gtids.as_ref().map(|g| Arc::from(g.render())),
        ),
    ));
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..sinks)
        .map(|_| mpsc::channel(writer_queue(&cfg.pipeline)))
        .unzip();
    let inflight = InflightBytes::new(cfg.pipeline.max_inflight_bytes);
    let catalog = ServerCatalog {
        source: pool.clone(),
        store: store.clone(),
    };
    let mut router = Router::new(
        cfg,
        catalog,
        senders,
        start_position,
        clock.floor(),
        inflight.clone(),
    )?
    .with_gtids(start_gtids);
    let mut sink_tasks = Vec::new();
    match (role, &cfg.kafka) {
        (Role::Capture, Some(kafka)) => {
            let partitions = tokio::time::timeout(limit, crate::sink::kafka::ensure_internal_topic(kafka))
                .await
                .map_err(|_| SyncError::Kafka(format!("creating the internal topic took longer than pipeline.stall_timeout = {limit:?}")))??;
            for (idx, rx) in receivers.into_iter().enumerate() {
                let sink = capture_sink(kafka, partitions)?;
                let slot = tracker.slot(idx);
                sink_tasks.push(tokio::spawn(crate::sink::run(
                    sink,
                    rx,
                    slot,
                    stalls.clone(),
                )));
            }
        }
        _ => {
            for (idx, rx) in receivers.into_iter().enumerate() {
                let sink = HbaseSink::new(idx, cfg, health.clone(), clock.clone());
                let slot = tracker.slot(idx);
                sink_tasks.push(tokio::spawn(crate::sink::run(
                    sink,
                    rx,
                    slot,
                    stalls.clone(),
                )));
            }
        }
    }
    if let Some((kafka, topic)) = event_topic {
        let (tx, rx) = mpsc::channel(256);
        router = router.with_events(ChangeEvents::new(
            &kafka,
            &cfg.capture,
            &topic,
            tx,
            inflight,
        ));
        let sink = event_sink(&kafka)?;
        sink_tasks.push(tokio::spawn(crate::sink::run(
            sink,
            rx,
            tracker.slot(sinks),
            stalls.clone(),
        )));
    }
    let (stop_checkpoints, checkpoints_stopped) = watch::channel(false);
    let checkpoint_task = tokio::spawn(checkpoint::checkpoint_task(
        store.clone(),
        source.clone(),
        tracker.clone(),
        cfg.pipeline.checkpoint_interval,
        checkpoints_stopped,
    ));

    let (handover_tx, mut handover_rx) = mpsc::channel(16);
    let (idle_tx, mut bootstraps_idle) = watch::channel(false);
    let manager = tokio::spawn(bootstrap_manager(
        cfg.clone(),
        store.clone(),
        handover_tx,
        idle_tx,
    ));
    let exit_when_bootstrapped = cfg.snapshot.mode == SnapshotMode::InitialOnly;

    let read_loop = async {
        {
            let mut h = health.lock().expect("health lock");
            h.streaming = true;
            h.reason = None;
        }
        loop {
            tokio::select! {
                next = tailer.next() => {
                    let (event, position) = next?;
                    let _busy = stalls.busy();
                    router.route(&event, &position).await?;
                }
                Some(request) = handover_rx.recv() => {
                    let _busy = stalls.busy();
                    router.handover(request).await?
                }
                _ = shutdown.changed() => {
                    info!("shutdown requested: flushing what is in flight");
                    break;
                }
                Ok(()) = bootstraps_idle.changed(), if exit_when_bootstrapped => {
                    if *bootstraps_idle.borrow() {
                        info!("snapshot.mode = initial_only: every bootstrap is complete; stopping");
                        break;
                    }
                }
            }
        }
        Ok::<(), SyncError>(())
    };
    // A stalled pipeline is torn down like a failed one (the read loop is dropped where it
    // waits); the restart replays from the checkpoint.
    let read_result = tokio::select! {
        result = read_loop => result,
        waited = stalls.stalled() => {
            warn!(?waited, checkpoint = %tracker.low_watermark().position, "the pipeline is stalled: changes are waiting and nothing progressed for pipeline.stall_timeout; restarting it");
            METRICS.stalls.inc();
            Err(SyncError::transient(format!(
                "the pipeline stalled: changes waited {waited:?} without progress (pipeline.stall_timeout = {limit:?}); HBase, Kafka or MySQL did not answer in time"
            )))
        }
    };
    tailer.close().await;

    // Stop the bootstraps (they resume from their last chunk); closing the channels makes the
    // sinks flush what they have and stop.
    manager.abort();
    let _ = manager.await;
    drop(router);
    // Sinks get a bounded time to flush, so a shutdown ends within ten seconds even when HBase
    // does not answer; whatever they did not write is not acknowledged, and a restart replays
    // it from the checkpoint.
    let mut sink_error = None;
    let flush_deadline = tokio::time::Instant::now() + SINK_FLUSH_GRACE;
    for mut task in sink_tasks {
        match tokio::time::timeout_at(flush_deadline, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => sink_error = Some(e),
            Ok(Err(e)) => sink_error = Some(SyncError::transient(format!("a sink panicked: {e}"))),
            Err(_) => {
                task.abort();
                sink_error.get_or_insert(SyncError::transient(format!(
                    "the sinks did not take the last changes within {SINK_FLUSH_GRACE:?}"
                )));
            }
        }
    }
    let _ = stop_checkpoints.send(true);
    // The checkpoint task may be waiting on the state store; the final store below replaces it.
    let mut checkpoint_task = checkpoint_task;
    if tokio::time::timeout(SINK_FLUSH_GRACE, &mut checkpoint_task)
        .await
        .is_err()
    {
        checkpoint_task.abort();
    }
    tokio::time::timeout(limit, checkpoint::store_final(store, &source, &tracker))
        .await
        .map_err(|_| {
            SyncError::transient(format!(
                "storing the checkpoint took longer than pipeline.stall_timeout = {limit:?}"
            ))
        })??;
    // A sink's own error says more than the router's "sink stopped" that follows it.
    match (sink_error, read_result) {
        (Some(e), _) => Err(e),
        (None, result) => result,
    }
}
