//! The streaming pipeline: binlog -> routing -> partitioned writers -> HBase, with checkpoints.
//!
//! ```text
//!  BinlogTailer --events--> Router --(Changes | Commit) per writer, bounded--> Writer 0..N
//!                                                                              |  batch, collapse,
//!                                 CheckpointTracker <--ack(commit position)----+  mutateRowsTs
//!                                        |
//!                                 state store (at most every checkpoint_interval, and at exit)
//! ```
//!
//! 1. The router decodes each rows event with its TABLE_MAP schema, maps every row to a
//!    [`RowChange`] stamped with the event's version, and sends the changes of one event to the
//!    writers by `hash(table, row key) % writers`: one row's changes stay on one writer, in order.
//! 2. Every message holds permits of a byte semaphore (`pipeline.max_inflight_bytes`) until the
//!    writer has written it, and the channels are bounded: a slow HBase slows the reader, memory
//!    stays bounded whatever the transaction size.
//! 3. Writers collapse changes into batches (see [`crate::core::batch`]) flushed by rows, bytes or
//!    age, and acknowledge transaction ends (see [`crate::core::checkpoint`]).
//! 4. A failure tears the pipeline down and it restarts from the stored checkpoint; replaying
//!    rewrites the same versions, so nothing is lost and nothing is applied twice in effect.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_common::binlog::events::{EventData, RowsEventData, TableMapEvent};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use crate::admin::http::SharedHealth;
use crate::admin::metrics::METRICS;
use crate::config::{Config, SnapshotMode};
use crate::core::batch::Batch;
use crate::core::change::{Cell, RowChange, RowOp};
use crate::core::change_events::ChangeEvents;
use crate::core::checkpoint::CheckpointTracker;
use crate::core::ddl::{self, DdlEffect, UnparsedDdl};
use crate::core::distributed::{self, Role};
use crate::core::filter::TableFilter;
use crate::core::gtid::GtidSet;
use crate::core::handover::{ChangeTracker, ChunkBarrier};
use crate::core::mapping::{fnv1a, TableMapping};
use crate::core::restart::Restarts;
use crate::core::version::Version;
use crate::error::{Result, SyncError};
use crate::sink::dead_letter::DeadLetter;
use crate::sink::hbase::{serialized_cell_size, HbaseWriter};
use crate::sink::kafka::Marker;
use crate::sink::maxwell::EventTable;
use crate::source::binlog::BinlogTailer;
use crate::source::decode::{self, SqlValue, TableSchema};
use crate::source::mysql::{self as my, BinlogPosition};
use crate::source::snapshot::{self, JobError, RouterCmd, SnapshotChunk};
use crate::state::{Checkpoint, StateStore};

/// What the router sends a writer.
pub enum WriterMsg {
    /// The changes of one binlog event that belong to this writer, in binlog order.
    Changes {
        changes: Vec<RowChange>,
        _permit: OwnedSemaphorePermit,
    },
    /// A transaction ended at `position`.
    Commit {
        version: Version,
        position: BinlogPosition,
        /// The GTID set executed up to `position` (MySQL with GTIDs).
        gtid: Option<Arc<str>>,
    },
    /// Arrive once everything received before it is written (bootstrap chunks).
    Barrier(Arc<ChunkBarrier>),
}

/// Runs until `shutdown` turns true (then flushes, stores the checkpoint and returns Ok) or a
/// definite error. Transient failures restart the pipeline from the stored checkpoint.
pub async fn run(
    cfg: Config,
    role: Role,
    mut shutdown: watch::Receiver<bool>,
    health: SharedHealth,
) -> Result<()> {
    if role == Role::Apply {
        return distributed::run_apply(cfg, shutdown, health).await;
    }
    if role == Role::Capture && cfg.kafka.is_none() {
        return Err(SyncError::Other(
            "run --role capture writes to Kafka: add a [kafka] section with brokers".into(),
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
        let result = run_once(&cfg, role, &store, &start, shutdown.clone(), &health).await;
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
            Err(e) if e.is_transient() || matches!(e, SyncError::Other(_)) => e,
            Err(e) => return Err(e),
        };
        if *shutdown.borrow() {
            return Ok(());
        }
        // The pipeline recovered if it moved the checkpoint before failing again.
        if let Ok(Some(cp)) = store.load_checkpoint().await {
            if Version::of(&cp.position)? > Version::of(&start)? {
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
        let tables =
            crate::source::schema::captured_tables(&mut conn, &TableFilter::new(&cfg.capture))
                .await?;
        info!(%position, tables = tables.len(), mode = cfg.snapshot.mode.as_str(), "first start: bootstrapping every captured table while streaming");
        store
            .start_with_bootstraps(&checkpoint, Version::of(&position)?.0, &tables)
            .await?;
    }
    Ok(position)
}

async fn run_once(
    cfg: &Config,
    role: Role,
    store: &StateStore,
    start: &BinlogPosition,
    mut shutdown: watch::Receiver<bool>,
    health: &SharedHealth,
) -> Result<()> {
    // Capture has one Kafka writer: two would interleave one partition's history (see
    // core::distributed).
    let writers = if role == Role::Capture {
        1
    } else {
        cfg.pipeline.writers
    };
    let event_topic = cfg
        .kafka
        .as_ref()
        .and_then(|k| k.topic.clone().map(|t| (k.clone(), t)));
    // The change-event publisher acknowledges commits in the checkpoint slot after the writers'.
    let slots = writers + usize::from(event_topic.is_some());
    let source = my::pool(&cfg.mysql.url, &cfg.mysql, None)?;
    // The GTID set at the start: followed along the stream on MySQL (see core::gtid).
    let start_gtids = store
        .load_checkpoint()
        .await?
        .filter(|cp| cp.position == *start)
        .and_then(|cp| cp.gtid_set)
        .and_then(|g| GtidSet::parse(&g));
    let tracker = Arc::new(CheckpointTracker::new(
        slots,
        start,
        start_gtids.as_ref().map(|g| Arc::from(g.render())),
    )?);
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..writers)
        .map(|_| mpsc::channel(writer_queue(&cfg.pipeline)))
        .unzip();
    let mut router = Router::new(cfg, store.clone(), source.clone(), senders, start.clone())?;
    router.gtids = start_gtids;
    let mut writer_tasks: Vec<_> = match (role, &cfg.kafka) {
        (Role::Capture, Some(kafka)) => {
            let partitions = crate::sink::kafka::ensure_internal_topic(kafka).await?;
            receivers
                .into_iter()
                .enumerate()
                .map(|(idx, rx)| {
                    tokio::spawn(distributed::capture_writer(
                        kafka.clone(),
                        partitions,
                        idx,
                        rx,
                        tracker.clone(),
                    ))
                })
                .collect()
        }
        _ => receivers
            .into_iter()
            .enumerate()
            .map(|(idx, rx)| {
                tokio::spawn(writer_task(
                    idx,
                    rx,
                    tracker.clone(),
                    cfg.clone(),
                    health.clone(),
                ))
            })
            .collect(),
    };
    if let Some((kafka, topic)) = event_topic {
        let (tx, rx) = mpsc::channel(256);
        router.events = Some(ChangeEvents::new(
            &kafka,
            &topic,
            tx,
            router.inflight.clone(),
        ));
        writer_tasks.push(tokio::spawn(crate::sink::kafka::event_publisher(
            kafka,
            writers,
            rx,
            tracker.clone(),
        )));
    }
    let (stop_checkpoints, checkpoints_stopped) = watch::channel(false);
    let checkpoint_task = tokio::spawn(checkpoint_task(
        store.clone(),
        source.clone(),
        tracker.clone(),
        cfg.pipeline.checkpoint_interval,
        checkpoints_stopped,
    ));

    let (cmd_tx, mut cmd_rx) = mpsc::channel(16);
    let (idle_tx, mut bootstraps_idle) = watch::channel(false);
    let manager = tokio::spawn(bootstrap_manager(
        cfg.clone(),
        store.clone(),
        cmd_tx,
        tracker.clone(),
        idle_tx,
    ));
    let exit_when_bootstrapped = cfg.snapshot.mode == SnapshotMode::InitialOnly;

    let read_result = async {
        let mut tailer = BinlogTailer::open(cfg, start).await?;
        {
            let mut h = health.lock().expect("health lock");
            h.streaming = true;
            h.reason = None;
        }
        loop {
            tokio::select! {
                next = tailer.next() => {
                    let (event, position) = next?;
                    router.route(&event, &position).await?;
                }
                Some(cmd) = cmd_rx.recv() => router.command(cmd).await?,
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
        tailer.close().await;
        Ok::<(), SyncError>(())
    }
    .await;

    // Stop the bootstraps (they resume from their last chunk); closing the channels makes the
    // writers flush what they have and stop.
    manager.abort();
    let _ = manager.await;
    drop(router);
    // Writers get a bounded time to flush, so a shutdown ends within ten seconds even when
    // HBase does not answer; whatever they did not write is not acknowledged, and a restart
    // replays it from the checkpoint.
    let mut writer_error = None;
    let flush_deadline = tokio::time::Instant::now() + WRITER_FLUSH_GRACE;
    for mut task in writer_tasks {
        match tokio::time::timeout_at(flush_deadline, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => writer_error = Some(e),
            Ok(Err(e)) => writer_error = Some(SyncError::Other(format!("writer panicked: {e}"))),
            Err(_) => {
                task.abort();
                writer_error.get_or_insert(SyncError::Other(format!(
                    "the sinks did not take the last changes within {WRITER_FLUSH_GRACE:?}"
                )));
            }
        }
    }
    let _ = stop_checkpoints.send(true);
    let _ = checkpoint_task.await;
    let (position, gtid) = tracker.low_watermark_with_gtid();
    let gtid_set = gtid_set_for(&source, &position, gtid).await;
    store
        .store_checkpoint(&Checkpoint {
            position: position.clone(),
            gtid_set,
        })
        .await?;
    info!(%position, "checkpoint stored");
    // A writer's own error says more than the router's "writer stopped" that follows it.
    match (writer_error, read_result) {
        (Some(e), _) => Err(e),
        (None, result) => result,
    }
}

/// How long writers may take to flush when the pipeline stops.
const WRITER_FLUSH_GRACE: Duration = Duration::from_secs(7);

/// How often the checkpoint task asks MariaDB for the GTID set of the checkpoint. The server
/// answers `BINLOG_GTID_POS` by reading the binlog file from its start (a quarter of a second of
/// server CPU deep into a 1 GB file), too much for every checkpoint. In between, the last answer
/// is stored: a GTID set behind its position is still a safe place to resume from, since a
/// replay rewrites identical versions. The checkpoint stored at shutdown gets an exact one.
const GTID_REFRESH: Duration = Duration::from_secs(60);

/// Quick retries of one batch before the writer fails and the restart strategy takes over.
const BATCH_ATTEMPTS: u32 = 3;

/// Stores the low watermark whenever it moved, at most once per `interval`.
async fn checkpoint_task(
    store: StateStore,
    source: mysql_async::Pool,
    tracker: Arc<CheckpointTracker>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<BinlogPosition> = None;
    // MariaDB: the last GTID set the server computed, and when.
    let mut computed_gtid: Option<(Instant, Option<String>)> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let (position, gtid) = tracker.low_watermark_with_gtid();
        if last.as_ref() == Some(&position) {
            continue;
        }
        let gtid_set = match (gtid, &computed_gtid) {
            (Some(followed), _) => Some(followed.to_string()),
            (None, Some((at, computed))) if at.elapsed() < GTID_REFRESH => computed.clone(),
            (None, _) => {
                let computed = my::gtid_set_at(&source, &position).await;
                computed_gtid = Some((Instant::now(), computed.clone()));
                computed
            }
        };
        match store
            .store_checkpoint(&Checkpoint {
                position: position.clone(),
                gtid_set,
            })
            .await
        {
            Ok(()) => {
                debug!(%position, "checkpoint stored");
                if let Ok(index) = crate::core::version::file_index(&position.file) {
                    METRICS.checkpoint_stored(index, position.pos);
                }
                last = Some(position);
            }
            Err(e) => warn!(error = %e, "cannot store the checkpoint; will retry"),
        }
    }
}

/// The budget of bytes in flight between the router and the sinks (`pipeline.max_inflight_bytes`),
/// counted in KiB permits that a message holds until its sink has written it.
#[derive(Clone)]
pub(crate) struct InflightBytes {
    semaphore: Arc<Semaphore>,
    total_kib: u32,
}

impl InflightBytes {
    fn new(max_bytes: usize) -> Self {
        let total_kib = (max_bytes / 1024).max(1) as u32;
        InflightBytes {
            semaphore: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits for room for `bytes` (a message larger than the whole budget takes all of it).
    pub async fn acquire(&self, bytes: usize) -> Result<OwnedSemaphorePermit> {
        let kib = (bytes.div_ceil(1024) as u32).clamp(1, self.total_kib);
        self.semaphore
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| SyncError::Other("pipeline closed".into()))
    }

    fn used_percent(&self) -> i64 {
        let used = self.total_kib as usize - self.semaphore.available_permits();
        (used * 100 / self.total_kib as usize) as i64
    }
}

/// Backpressure gauges: the in-flight byte budget and each writer's queue.
struct QueueGauges {
    inflight: prometheus::IntGauge,
    writers: Vec<prometheus::IntGauge>,
}

/// The GTID set to store beside a checkpoint: the one followed along the stream (MySQL), else
/// what the server computes for the position (MariaDB), else none.
async fn gtid_set_for(
    source: &mysql_async::Pool,
    position: &BinlogPosition,
    followed: Option<Arc<str>>,
) -> Option<String> {
    match followed {
        Some(g) => Some(g.to_string()),
        None => my::gtid_set_at(source, position).await,
    }
}

/// How the router treats a table id.
enum Route {
    Captured(Arc<TableMapping>),
    /// Captured but not mappable (no row key): rows go to the dead-letter output.
    Unmappable {
        schema: Arc<TableSchema>,
        reason: String,
    },
    Ignored,
}

struct TableEntry {
    /// The TABLE_MAP event, to decode its rows events.
    tme: TableMapEvent<'static>,
    route: Route,
    /// How its changes render as Maxwell events, when they are published.
    events: Option<Arc<EventTable>>,
}

/// Turns binlog events into per-writer changes.
struct Router {
    cfg: Config,
    /// Where resync jobs for DDL are recorded.
    store: StateStore,
    /// The source server, for table schemas the binlog does not describe fully.
    source: mysql_async::Pool,
    /// Where rows that cannot be written to HBase go (`[dead_letter] path` or `topic`).
    dead_letter: Option<DeadLetter>,
    /// Queue-fill gauges, looked up once.
    queue_gauges: QueueGauges,
    /// The MySQL GTID set executed up to the routed position, once known completely.
    gtids: Option<GtidSet>,
    filter: TableFilter,
    tables: HashMap<u64, TableEntry>,
    senders: Vec<mpsc::Sender<WriterMsg>>,
    inflight: InflightBytes,
    /// Tables already warned about (no primary key, decode problems), to warn once.
    warned: HashSet<String>,
    /// End of the last routed event.
    position: BinlogPosition,
    /// Keys the stream changed while bootstraps of their tables run.
    changes: ChangeTracker,
    /// Bootstrap chunks waiting for the stream to reach their `ready_at`.
    pending_chunks: VecDeque<SnapshotChunk>,
    /// Whether the current transaction touched a table outside the state schema. Transactions
    /// that only wrote the state store (our own checkpoints and job progress) do not move the
    /// checkpoint: storing it would write the binlog again, and so on forever.
    txn_external: bool,
    /// Maxwell change events (`[kafka] topic`).
    events: Option<ChangeEvents>,
    /// Commit timestamp (seconds) of the event being routed.
    event_ts: u64,
}

impl Router {
    fn new(
        cfg: &Config,
        store: StateStore,
        source: mysql_async::Pool,
        senders: Vec<mpsc::Sender<WriterMsg>>,
        start: BinlogPosition,
    ) -> Result<Self> {
        let dead_letter = DeadLetter::from_config(cfg)?;
        Ok(Router {
            cfg: cfg.clone(),
            store,
            source,
            queue_gauges: QueueGauges {
                inflight: METRICS
                    .queue_fill_percent
                    .with_label_values(&["inflight_bytes"]),
                writers: (0..senders.len())
                    .map(|i| {
                        METRICS
                            .queue_fill_percent
                            .with_label_values(&[&format!("writer_{i}")])
                    })
                    .collect(),
            },
            dead_letter,
            gtids: None,
            filter: TableFilter::new(&cfg.capture),
            tables: HashMap::new(),
            senders,
            inflight: InflightBytes::new(cfg.pipeline.max_inflight_bytes),
            warned: Default::default(),
            position: start,
            changes: ChangeTracker::default(),
            pending_chunks: VecDeque::new(),
            txn_external: false,
            events: None,
            event_ts: 0,
        })
    }

    async fn command(&mut self, cmd: RouterCmd) -> Result<()> {
        match cmd {
            RouterCmd::Track {
                job,
                db,
                table,
                first,
                reply,
            } => {
                self.changes.track(job, &format!("{db}.{table}"));
                if let Some(events) = self.events.as_mut() {
                    events
                        .bootstrap_started(&self.source, job, &db, &table, first, &self.position)
                        .await?;
                }
                let _ = reply.send(());
            }
            RouterCmd::Untrack { job, complete } => {
                self.changes.untrack(job);
                self.pending_chunks.retain(|c| c.job_id != job);
                if let Some(events) = self.events.as_mut() {
                    events
                        .bootstrap_ended(&self.source, job, complete, &self.position)
                        .await?;
                }
            }
            RouterCmd::Chunk(chunk) => {
                self.pending_chunks.push_back(chunk);
                self.hand_over_ready_chunks().await?;
            }
        }
        Ok(())
    }

    /// Hands the bootstrap chunks the stream has caught up with over to the writers.
    async fn hand_over_ready_chunks(&mut self) -> Result<()> {
        let now = Version::of(&self.position)?;
        while let Some(front) = self.pending_chunks.front() {
            if Version::of(&front.ready_at)? > now {
                break;
            }
            let chunk = self.pending_chunks.pop_front().expect("front exists");
            self.hand_over(chunk, now).await?;
        }
        Ok(())
    }

    /// See `core::handover`: rows changed after the chunk's low position are the stream's;
    /// the rest are written as of the current position, in stream order.
    async fn hand_over(&mut self, chunk: SnapshotChunk, now: Version) -> Result<()> {
        let low = Version::of(&chunk.low)?;
        let mapping = match TableMapping::resolve(&self.cfg, &self.filter, chunk.schema.clone()) {
            Ok(m) => m,
            Err(e) => return Err(SyncError::Other(format!("bootstrap chunk: {e}"))),
        };
        let table: Arc<str> = Arc::from(mapping.hbase_table.as_str());
        let family: Arc<str> = Arc::from(mapping.family.as_str());
        let writers = self.senders.len();
        let mut per_writer: Vec<Vec<RowChange>> = vec![Vec::new(); writers];
        let mut kept: Vec<&[SqlValue]> = Vec::new();
        for row in &chunk.rows {
            let Some(key) = mapping.row_key(row) else {
                continue;
            };
            if self.changes.changed_after(chunk.job_id, &key, low) {
                continue;
            }
            if self.events.is_some() {
                kept.push(row);
            }
            let change = RowChange {
                table: table.clone(),
                family: family.clone(),
                key,
                op: RowOp::Put(cells(&mapping, row)),
                version: now,
            };
            per_writer[partition_of(&change, writers)].push(change);
        }
        self.changes.prune(chunk.job_id, low);
        self.send_changes(per_writer).await?;
        let mut arrivals = writers;
        if let Some(events) = self.events.as_mut() {
            let table = events.table(&self.source, &chunk.schema).await?;
            for rows in kept.chunks(1000) {
                let rendered = events.bootstrap_rows(&table, &self.position, rows.iter().copied());
                events.send(rendered).await?;
            }
            arrivals += 1;
        }
        let barrier = Arc::new(ChunkBarrier::new(arrivals, chunk.written));
        for idx in 0..writers {
            self.send(idx, WriterMsg::Barrier(barrier.clone())).await?;
        }
        if let Some(events) = &self.events {
            events.mark(Marker::Barrier(barrier)).await?;
        }
        Ok(())
    }

    async fn route(
        &mut self,
        event: &mysql_common::binlog::events::Event,
        position: &BinlogPosition,
    ) -> Result<()> {
        let data = event.read_data().map_err(|e| {
            SyncError::Other(format!("cannot parse the binlog event at {position}: {e}"))
        })?;
        self.position = position.clone();
        let m = &*METRICS;
        let kind = match &data {
            Some(EventData::RowsEvent(_)) => "rows",
            Some(EventData::TableMapEvent(_)) => "table_map",
            Some(EventData::XidEvent(_)) => "xid",
            Some(EventData::QueryEvent(_)) => "query",
            Some(EventData::HeartbeatEvent) => "heartbeat",
            Some(EventData::RotateEvent(_)) => "rotate",
            _ => "other",
        };
        m.events.with_label_values(&[kind]).inc();
        if kind != "heartbeat" {
            self.event_ts = u64::from(event.header().timestamp());
        }
        if kind == "heartbeat" {
            m.lag_seconds.set(0);
        } else if event.header().timestamp() > 0 {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            m.lag_seconds
                .set((now - event.header().timestamp() as i64).max(0));
        }
        if kind != "heartbeat" {
            if let Ok(index) = crate::core::version::file_index(&position.file) {
                m.reader_file_index.set(index as i64);
                m.reader_position.set(position.pos as i64);
            }
        }
        let routed = self.route_data(data, position).await;
        if !self.pending_chunks.is_empty() {
            self.hand_over_ready_chunks().await?;
        }
        routed
    }

    async fn route_data(
        &mut self,
        data: Option<EventData<'_>>,
        position: &BinlogPosition,
    ) -> Result<()> {
        match data {
            Some(EventData::TableMapEvent(tme)) => self.table_map(tme).await,
            Some(EventData::RowsEvent(rows)) => self.rows(rows, position).await,
            Some(EventData::XidEvent(x)) => self.transaction_end(position, Some(x.xid)).await,
            // MySQL GTIDs; followed only from a complete starting set (checkpoint, or the
            // PREVIOUS_GTIDS event at the top of a file).
            Some(EventData::GtidEvent(g)) => {
                if let Some(set) = self.gtids.as_mut() {
                    set.add(g.sid(), g.gno());
                }
                Ok(())
            }
            Some(EventData::PreviousGtidsEvent(p)) => {
                let mut previous = GtidSet::default();
                for sid in p.sids() {
                    let uuid = crate::core::gtid::uuid_text(sid.uuid());
                    for i in sid.intervals() {
                        // Intervals are half-open on the wire.
                        if i.end() > i.start() {
                            previous.add_range(&uuid, i.start(), i.end() - 1);
                        }
                    }
                }
                self.gtids
                    .get_or_insert_with(GtidSet::default)
                    .union(&previous);
                Ok(())
            }
            Some(EventData::QueryEvent(q)) => match classify_query(&q.query()) {
                QueryKind::InTransaction => Ok(()),
                QueryKind::TransactionEnd => self.transaction_end(position, None).await,
                QueryKind::Ddl => {
                    self.ddl(&q.schema(), q.query().trim(), position).await?;
                    // DDL statements commit implicitly.
                    self.commit(position).await
                }
            },
            _ => Ok(()),
        }
    }

    async fn table_map(&mut self, tme: TableMapEvent<'_>) -> Result<()> {
        if tme.database_name() != self.cfg.state.database.as_str() {
            self.txn_external = true;
        }
        let id = tme.table_id();
        if let Some(entry) = self.tables.get(&id) {
            if entry.tme == tme {
                return Ok(());
            }
        }
        let tme = tme.into_owned();
        let (db, table) = (
            tme.database_name().into_owned(),
            tme.table_name().into_owned(),
        );
        let route = if !self.filter.captures(&db, &table) {
            Route::Ignored
        } else {
            let schema = match decode::table_schema(&tme) {
                Err(decode::DecodeError::MissingColumnNames { .. }) => {
                    // binlog_row_metadata is not FULL: names and keys from information_schema.
                    let mut conn = self.source.get_conn().await?;
                    let current =
                        crate::source::schema::load_table_schema(&mut conn, &db, &table).await?;
                    decode::table_schema_with(&tme, current.as_ref())
                }
                other => other,
            }
            .map_err(|e| {
                SyncError::Other(format!(
                    "cannot read the schema of {db}.{table} from the binlog: {e}"
                ))
            })?;
            let schema = Arc::new(schema);
            match TableMapping::resolve(&self.cfg, &self.filter, schema.clone()) {
                Ok(mapping) => Route::Captured(Arc::new(mapping)),
                Err(e) => {
                    if self.warned.insert(format!("{db}.{table}")) {
                        let to = match &self.dead_letter {
                            Some(dl) => format!("they go to {}", dl.describe()),
                            None => "set [dead_letter] path or topic to keep them".to_string(),
                        };
                        warn!(table = %format!("{db}.{table}"), "{e}; its changes are not written to HBase: {to}");
                    }
                    Route::Unmappable {
                        schema,
                        reason: e.to_string(),
                    }
                }
            }
        };
        let events = match (&route, self.events.as_mut()) {
            (Route::Captured(m), Some(ev)) => Some(ev.table(&self.source, &m.schema).await?),
            (Route::Unmappable { schema, .. }, Some(ev)) => {
                Some(ev.table(&self.source, schema).await?)
            }
            _ => None,
        };
        self.tables.insert(id, TableEntry { tme, route, events });
        Ok(())
    }

    async fn rows(&mut self, rows: RowsEventData<'_>, position: &BinlogPosition) -> Result<()> {
        let Some(entry) = self.tables.get(&rows.table_id()) else {
            return Err(SyncError::Other(format!(
                "rows event at {position} for table id {} without its TABLE_MAP event",
                rows.table_id()
            )));
        };
        let event_table = entry.events.clone();
        let mapping = match &entry.route {
            Route::Captured(mapping) => mapping.clone(),
            Route::Ignored => return Ok(()),
            Route::Unmappable { schema, reason } => {
                if self.dead_letter.is_none() && self.events.is_none() {
                    return Ok(());
                }
                let undecodable = |e: &dyn std::fmt::Display| {
                    SyncError::Other(format!(
                        "cannot decode a row of {}.{} at {position}: {e}",
                        schema.database, schema.table
                    ))
                };
                for row in decode::event_rows(schema, &rows) {
                    let (before, after) = row.map_err(|e| undecodable(&e))?;
                    if let (Some(t), Some(events)) = (&event_table, self.events.as_mut()) {
                        events.record(
                            t,
                            self.event_ts,
                            position,
                            before.as_deref(),
                            after.as_deref(),
                        )?;
                    }
                    if let Some(dead_letter) = self.dead_letter.as_mut() {
                        dead_letter.record(
                            schema,
                            position,
                            reason,
                            before.as_deref(),
                            after.as_deref(),
                        )?;
                    }
                }
                return Ok(());
            }
        };
        let version = Version::of(position)?;
        let writers = self.senders.len();
        let table: Arc<str> = Arc::from(mapping.hbase_table.as_str());
        let family: Arc<str> = Arc::from(mapping.family.as_str());
        let undecodable = |e: &dyn std::fmt::Display| {
            SyncError::Other(format!(
                "cannot decode a row of {} at {position}: {e}",
                mapping.source
            ))
        };
        let mut per_writer: Vec<Vec<RowChange>> = vec![Vec::new(); writers];
        let (mut puts, mut deletes) = (0u64, 0u64);
        for row in decode::event_rows(&mapping.schema, &rows) {
            let key_of = |values: &[SqlValue]| -> Result<Vec<u8>> {
                mapping.row_key(values).ok_or_else(|| {
                    SyncError::Other(format!(
                        "a row of {} at {position} has NULL in a row-key column",
                        mapping.source
                    ))
                })
            };
            // A row that cannot be decoded or keyed goes to the dead-letter output when there
            // is one; otherwise it stops the pipeline (and the restart strategy decides).
            let broken_event = matches!(row, Err(decode::RowError::Unreadable(_)));
            let images = row
                .map_err(|e| undecodable(&e))
                .and_then(|(before, after)| {
                    let before_key = before.as_deref().map(key_of).transpose()?;
                    let after_key = after.as_deref().map(key_of).transpose()?;
                    Ok((before, before_key, after, after_key))
                });
            let (before, before_key, after, after_key) = match images {
                Ok(images) => images,
                Err(e) => match self.dead_letter.as_mut() {
                    Some(dl) => {
                        dl.record(&mapping.schema, position, &e.to_string(), None, None)?;
                        if broken_event {
                            break; // the rest of the event cannot be read reliably
                        }
                        continue;
                    }
                    None => return Err(e),
                },
            };
            if let (Some(t), Some(events)) = (&event_table, self.events.as_mut()) {
                events.record(
                    t,
                    self.event_ts,
                    position,
                    before.as_deref(),
                    after.as_deref(),
                )?;
            }
            let put = after_key.zip(after);
            // A delete, or an update that moved the row to another key, removes the old key.
            let mut changes = Vec::with_capacity(2);
            if let Some(old) = before_key {
                if put.as_ref().is_none_or(|(new, _)| *new != old) {
                    changes.push((old, RowOp::Delete));
                }
            }
            if let Some((key, values)) = put {
                let cells = cells(&mapping, &values);
                let limit = self.cfg.hbase.max_cell_bytes;
                let size = |v: &Vec<u8>, column: &[u8]| serialized_cell_size(&key, column, v);
                match cells
                    .iter()
                    .find(|c| c.value.as_ref().is_some_and(|v| size(v, &c.column) > limit))
                {
                    None => changes.push((key, RowOp::Put(cells))),
                    // HBase would refuse the whole batch again and again: the row goes aside.
                    Some(big) => {
                        let reason = format!(
                            "cell {} is {} bytes as HBase counts it, over hbase.max_cell_bytes = {limit}",
                            String::from_utf8_lossy(&big.column),
                            big.value.as_ref().map_or(0, |v| size(v, &big.column))
                        );
                        match self.dead_letter.as_mut() {
                            Some(dl) => dl.record(
                                &mapping.schema,
                                position,
                                &reason,
                                before.as_deref(),
                                Some(&values),
                            )?,
                            None => {
                                tracing::error!(table = %mapping.source, %position, key = %String::from_utf8_lossy(&key), %reason, "row not written to HBase; set [dead_letter] path to keep such rows")
                            }
                        }
                    }
                }
            }
            for (key, op) in changes {
                if matches!(op, RowOp::Put(_)) {
                    puts += 1;
                } else {
                    deletes += 1;
                }
                if !self.changes.is_empty() {
                    self.changes.changed(&mapping.source, &key, version);
                }
                let change = RowChange {
                    table: table.clone(),
                    family: family.clone(),
                    key,
                    op,
                    version,
                };
                per_writer[partition_of(&change, writers)].push(change);
            }
        }
        // Counted per event, not per row: label lookups are not free on this path.
        for (op, n) in [("put", puts), ("delete", deletes)] {
            if n > 0 {
                METRICS
                    .rows_applied
                    .with_label_values(&[mapping.source.as_str(), op])
                    .inc_by(n);
            }
        }
        self.send_changes(per_writer).await
    }

    /// Sends each writer its share, holding in-flight permits for the bytes until written.
    async fn send_changes(&mut self, per_writer: Vec<Vec<RowChange>>) -> Result<()> {
        self.queue_gauges.inflight.set(self.inflight.used_percent());
        for (tx, gauge) in self.senders.iter().zip(&self.queue_gauges.writers) {
            gauge.set(((tx.max_capacity() - tx.capacity()) * 100 / tx.max_capacity()) as i64);
        }
        for (idx, changes) in per_writer.into_iter().enumerate() {
            if changes.is_empty() {
                continue;
            }
            let permit = self
                .inflight
                .acquire(changes.iter().map(RowChange::size).sum())
                .await?;
            self.send(
                idx,
                WriterMsg::Changes {
                    changes,
                    _permit: permit,
                },
            )
            .await?;
        }
        Ok(())
    }

    async fn transaction_end(&mut self, position: &BinlogPosition, xid: Option<u64>) -> Result<()> {
        if let Some(dead_letter) = self.dead_letter.as_mut() {
            dead_letter.flush()?;
        }
        if let Some(events) = self.events.as_mut() {
            events.end_transaction(xid).await?;
        }
        if std::mem::take(&mut self.txn_external) {
            self.commit(position).await
        } else {
            Ok(())
        }
    }

    async fn commit(&mut self, position: &BinlogPosition) -> Result<()> {
        let version = Version::of(position)?;
        let gtid: Option<Arc<str>> = self.gtids.as_ref().map(|g| Arc::from(g.render()));
        for idx in 0..self.senders.len() {
            self.send(
                idx,
                WriterMsg::Commit {
                    version,
                    position: position.clone(),
                    gtid: gtid.clone(),
                },
            )
            .await?;
        }
        if let Some(events) = &self.events {
            events
                .mark(Marker::Commit {
                    version,
                    position: position.clone(),
                    gtid,
                })
                .await?;
        }
        Ok(())
    }

    /// Schemas come from the TABLE_MAP events that follow; tables whose rows the DDL changed
    /// without row events get a resync job (see `core::ddl`), recorded before the DDL's commit
    /// marker so the checkpoint cannot pass the DDL without it.
    async fn ddl(&mut self, schema: &str, query: &str, position: &BinlogPosition) -> Result<()> {
        self.tables.clear();
        if let Some(events) = self.events.as_mut() {
            events.forget_tables();
        }
        match ddl::effects(query, schema) {
            Ok(effects) => {
                for DdlEffect::Resync { db, table } in effects {
                    if !self.filter.captures(&db, &table) {
                        continue;
                    }
                    let version = Version::of(position)?;
                    let job = self.store.create_resync_job(&db, &table, version.0).await?;
                    info!(job, table = %format!("{db}.{table}"), %position, query, "DDL may change rows without row events: resyncing the table");
                }
            }
            Err(UnparsedDdl(reason)) => {
                tracing::error!(%position, query, %reason, "cannot tell which tables this DDL changes; if it changed a captured table, run `mysql2hbase bootstrap --config F db.table` for it");
            }
        }
        Ok(())
    }

    async fn send(&self, idx: usize, msg: WriterMsg) -> Result<()> {
        self.senders[idx]
            .send(msg)
            .await
            .map_err(|_| SyncError::Other(format!("HBase writer {idx} stopped")))
    }
}

/// What a QUERY event means for transaction boundaries.
#[derive(Debug, PartialEq)]
enum QueryKind {
    /// BEGIN, SAVEPOINT, ROLLBACK TO, XA START/END/PREPARE, and the comment-only dummy events
    /// MariaDB sends in place of events a replica may not know (ANNOTATE_ROWS, GTID, ...).
    InTransaction,
    /// COMMIT, ROLLBACK, XA COMMIT/ROLLBACK.
    TransactionEnd,
    /// Anything else: DDL and other statements that commit implicitly.
    Ddl,
}

fn classify_query(query: &str) -> QueryKind {
    let q = query.trim_start();
    if q.starts_with('#') || q.starts_with("/*") && !q.contains("*/ ") {
        return QueryKind::InTransaction;
    }
    let words: Vec<String> = q
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["BEGIN", ..]
        | ["SAVEPOINT", ..]
        | ["RELEASE", "SAVEPOINT", ..]
        | ["ROLLBACK", "TO", ..] => QueryKind::InTransaction,
        ["XA", "START" | "BEGIN" | "END" | "PREPARE", ..] => QueryKind::InTransaction,
        ["COMMIT", ..] | ["ROLLBACK", ..] | ["XA", "COMMIT" | "ROLLBACK", ..] => {
            QueryKind::TransactionEnd
        }
        _ => QueryKind::Ddl,
    }
}

/// The cells of a full row image: every mapped column, `None` for NULL.
fn cells(mapping: &TableMapping, values: &[SqlValue]) -> Vec<Cell> {
    mapping
        .qualifiers
        .iter()
        .zip(values)
        .filter_map(|(q, v)| {
            q.as_ref().map(|q| Cell {
                column: q.clone(),
                value: mapping.cell_value(v),
            })
        })
        .collect()
}

/// Which of `n` writers (or Kafka partitions) a row's changes go to: always the same one.
pub(crate) fn partition_of(change: &RowChange, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let h = fnv1a(change.table.as_bytes()) ^ fnv1a(&change.key).rotate_left(16);
    (h as usize) % n
}

/// Messages a writer's queue holds. A writer reads nothing while HBase writes its batch, and
/// the router blocks on the first full queue; so a queue must hold a whole next batch, or a
/// writer that finished its flush starves while the router waits on another writer's queue
/// (with 256 messages and small transactions the writers took turns instead of writing
/// together: the stream reached ~0.7 of the HBase ceiling, bench/RESULTS.md). Every
/// transaction sends a commit message to each of the `writers`, so with single-row
/// transactions a writer gets about `writers + 1` messages per row of its own:
/// `(writers + 2) x batch_rows` messages hold a next batch for any transaction mix. Memory
/// stays bounded: change messages hold in-flight byte permits, a commit message is ~100 bytes.
pub(crate) fn writer_queue(p: &crate::config::PipelineConfig) -> usize {
    ((p.writers + 2) * p.batch_rows).max(256)
}

/// One HBase writer's state between flushes.
struct Writer {
    idx: usize,
    /// Taken while a flush runs on a blocking thread.
    hbase: Option<HbaseWriter>,
    batch: Batch,
    /// In-flight byte permits of the batched changes, released once they are written.
    permits: Vec<OwnedSemaphorePermit>,
    /// The last transaction end the batch covers, acknowledged once it is written.
    pending_commit: Option<(Version, BinlogPosition, Option<Arc<str>>)>,
    /// Bootstrap barriers that arrive once the batch is written.
    barriers: Vec<Arc<ChunkBarrier>>,
    /// When the batch must be written at the latest (`pipeline.batch_delay`).
    deadline: Option<tokio::time::Instant>,
    tracker: Arc<CheckpointTracker>,
    /// Where HBase failures are reported for `/health`.
    health: SharedHealth,
}

/// One HBase writer: batches its partition's changes and acknowledges commits.
async fn writer_task(
    idx: usize,
    mut rx: mpsc::Receiver<WriterMsg>,
    tracker: Arc<CheckpointTracker>,
    cfg: Config,
    health: SharedHealth,
) -> Result<()> {
    let p = &cfg.pipeline;
    let mut w = Writer {
        idx,
        hbase: Some(HbaseWriter::new(
            &cfg.hbase.thrift,
            cfg.hbase.timeout,
            cfg.hbase.max_versions,
        )),
        batch: Batch::default(),
        permits: Vec::new(),
        pending_commit: None,
        barriers: Vec::new(),
        deadline: None,
        tracker,
        health,
    };
    loop {
        let msg = match w.deadline {
            Some(d) => tokio::select! {
                msg = rx.recv() => msg,
                _ = tokio::time::sleep_until(d) => {
                    w.flush().await?;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match msg {
            None => return w.flush().await,
            Some(WriterMsg::Changes { changes, _permit }) => {
                for c in changes {
                    w.batch.add(c);
                }
                w.permits.push(_permit);
                w.deadline
                    .get_or_insert_with(|| tokio::time::Instant::now() + p.batch_delay);
                if w.batch.len() >= p.batch_rows || w.batch.bytes() >= p.batch_bytes {
                    w.flush().await?;
                }
            }
            Some(WriterMsg::Commit {
                version,
                position,
                gtid,
            }) => {
                if w.batch.is_empty() {
                    w.tracker.ack(idx, version, &position, &gtid);
                } else {
                    w.pending_commit = Some((version, position, gtid));
                }
            }
            Some(WriterMsg::Barrier(barrier)) => {
                if w.batch.is_empty() {
                    barrier.arrive();
                } else {
                    w.barriers.push(barrier);
                }
            }
        }
    }
}

impl Writer {
    /// Writes the batch (see [`write_batch`]); then acknowledges the last commit and the
    /// barriers the batch covered and releases its in-flight permits.
    async fn flush(&mut self) -> Result<()> {
        if let Some((version, tables)) = self.batch.take() {
            write_batch(&mut self.hbase, self.idx, version, tables, &self.health).await?;
        }
        if let Some((version, position, gtid)) = self.pending_commit.take() {
            self.tracker.ack(self.idx, version, &position, &gtid);
        }
        for b in self.barriers.drain(..) {
            b.arrive();
        }
        self.permits.clear();
        self.deadline = None;
        Ok(())
    }
}

/// Writes one collapsed batch at `version`, retrying with backoff ([`BATCH_ATTEMPTS`] tries)
/// before the error goes to the restart strategy. `hbase` is taken while the blocking Thrift
/// call runs and put back after.
pub(crate) async fn write_batch(
    hbase: &mut Option<HbaseWriter>,
    idx: usize,
    version: Version,
    tables: crate::core::batch::TableRows,
    health: &SharedHealth,
) -> Result<()> {
    let tables = Arc::new(tables);
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut writer = hbase.take().expect("writer present between flushes");
        let t = tables.clone();
        let timer = METRICS.hbase_batch_seconds.start_timer();
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let r = writer.write(version, &t);
            (writer, r)
        })
        .await
        .map_err(|e| SyncError::Other(format!("HBase writer {idx} panicked: {e}")))?;
        *hbase = Some(writer);
        timer.observe_duration();
        match result {
            Ok(()) => {
                let rows: usize = tables.iter().map(|(_, r)| r.len()).sum();
                debug!(writer = idx, rows, version = version.0, "batch written");
                health.lock().expect("health lock").hbase_error = None;
                return Ok(());
            }
            Err(e) => {
                METRICS.hbase_errors.inc();
                health.lock().expect("health lock").hbase_error = Some(e.to_string());
                if attempt >= BATCH_ATTEMPTS {
                    return Err(e);
                }
                warn!(writer = idx, error = %e, retry_in = ?backoff, "HBase write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

/// Runs open bootstrap jobs (`snapshot.parallelism` at once), picking up new ones every half
/// second: from the first start, `mysql2hbase bootstrap`, a row inserted by hand, or the admin
/// API. Reports through `idle` whether none is left. Dropping the task stops the jobs; they
/// resume after their last written chunk.
async fn bootstrap_manager(
    cfg: Config,
    store: StateStore,
    router: mpsc::Sender<RouterCmd>,
    acked: Arc<CheckpointTracker>,
    idle: watch::Sender<bool>,
) {
    let mut running = tokio::task::JoinSet::new();
    let mut active: HashSet<u64> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        while let Some(done) = running.try_join_next() {
            if let Ok(id) = done {
                active.remove(&id);
            }
        }
        let jobs = match store.open_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(error = %e, "cannot read bootstrap jobs");
                continue;
            }
        };
        idle.send_replace(jobs.is_empty() && active.is_empty());
        for job in jobs {
            if active.len() >= cfg.snapshot.parallelism {
                break;
            }
            if !active.insert(job.id) {
                continue;
            }
            let (cfg, store, router, acked) =
                (cfg.clone(), store.clone(), router.clone(), acked.clone());
            running.spawn(async move {
                let table = format!("{}.{}", job.database, job.table);
                info!(job = job.id, %table, where_clause = ?job.where_clause, "bootstrap started");
                match snapshot::run_job(&cfg, &store, &router, &acked, &job).await {
                    Ok(()) => {
                        info!(job = job.id, %table, "bootstrap complete");
                        if let Err(e) = store.job_finished(job.id, None).await {
                            warn!(job = job.id, error = %e, "cannot mark the bootstrap complete");
                        }
                    }
                    Err(JobError::Definite(reason)) => {
                        warn!(job = job.id, %table, %reason, "bootstrap failed");
                        if let Err(e) = store.job_finished(job.id, Some(&reason)).await {
                            warn!(job = job.id, error = %e, "cannot mark the bootstrap failed");
                        }
                    }
                    Err(JobError::Transient(e)) => {
                        warn!(job = job.id, %table, error = %e, "bootstrap interrupted; it resumes after its last written chunk");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
                job.id
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_events_are_classified() {
        assert_eq!(classify_query("BEGIN"), QueryKind::InTransaction);
        assert_eq!(
            classify_query("# Dummy event replacing event type 160"),
            QueryKind::InTransaction
        );
        assert_eq!(classify_query("SAVEPOINT `s1`"), QueryKind::InTransaction);
        assert_eq!(classify_query("ROLLBACK TO `s1`"), QueryKind::InTransaction);
        assert_eq!(classify_query("COMMIT"), QueryKind::TransactionEnd);
        assert_eq!(classify_query("ROLLBACK"), QueryKind::TransactionEnd);
        assert_eq!(classify_query("ALTER TABLE t ADD c INT"), QueryKind::Ddl);
        assert_eq!(classify_query("/* x */ TRUNCATE t"), QueryKind::Ddl);
    }
}

#[doc(hidden)]
pub mod route_bench;
