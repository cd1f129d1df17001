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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_common::binlog::events::{EventData, RowsEventData, TableMapEvent};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use crate::config::{Config, SnapshotMode};
use crate::core::batch::Batch;
use crate::core::change::{Cell, RowChange, RowOp};
use crate::core::checkpoint::CheckpointTracker;
use crate::core::filter::TableFilter;
use crate::core::mapping::{fnv1a, TableMapping};
use crate::core::version::Version;
use crate::error::{Result, SyncError};
use crate::sink::hbase::HbaseWriter;
use crate::source::binlog::BinlogTailer;
use crate::source::decode::{self, SqlValue};
use crate::source::mysql::{self as my, BinlogPosition};
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
    },
}

/// Runs until `shutdown` turns true (then flushes, stores the checkpoint and returns Ok) or a
/// definite error. Transient failures restart the pipeline from the stored checkpoint.
pub async fn run(cfg: Config, mut shutdown: watch::Receiver<bool>) -> Result<()> {
    let (store, applied) = StateStore::connect_and_migrate(&cfg).await?;
    if !applied.is_empty() {
        info!(migrations = ?applied, "state store migrated");
    }
    let mut backoff = Duration::from_millis(500);
    loop {
        let start = start_position(&cfg, &store).await?;
        info!(position = %start, "streaming from checkpoint");
        let started = Instant::now();
        match run_once(&cfg, &store, &start, shutdown.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() || matches!(e, SyncError::Other(_)) => {
                if *shutdown.borrow() {
                    return Ok(());
                }
                if started.elapsed() > Duration::from_secs(60) {
                    backoff = Duration::from_millis(500);
                }
                warn!(error = %e, retry_in = ?backoff, "pipeline failed; restarting from the checkpoint");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return Ok(()),
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The stored checkpoint, or on a first start the position the first start begins at.
async fn start_position(cfg: &Config, store: &StateStore) -> Result<BinlogPosition> {
    if let Some(cp) = store.load_checkpoint().await? {
        return Ok(cp.position);
    }
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let (position, gtid_set) = my::current_position(&mut conn).await?;
    match cfg.snapshot.mode {
        SnapshotMode::Never => {
            info!(%position, "first start with snapshot.mode = never: streaming from the current position")
        }
        mode => warn!(
            %position,
            mode = mode.as_str(),
            "first start: table bootstraps are not available in this build; streaming from the current position"
        ),
    }
    store
        .store_checkpoint(&Checkpoint {
            position: position.clone(),
            gtid_set,
        })
        .await?;
    Ok(position)
}

async fn run_once(
    cfg: &Config,
    store: &StateStore,
    start: &BinlogPosition,
    mut shutdown: watch::Receiver<bool>,
) -> Result<()> {
    let writers = cfg.pipeline.writers;
    let tracker = Arc::new(CheckpointTracker::new(writers, start)?);
    let total_kib = (cfg.pipeline.max_inflight_bytes / 1024).max(1) as u32;
    let inflight = Arc::new(Semaphore::new(total_kib as usize));
    let mut senders = Vec::with_capacity(writers);
    let mut writer_tasks = Vec::with_capacity(writers);
    for idx in 0..writers {
        let (tx, rx) = mpsc::channel(256);
        senders.push(tx);
        writer_tasks.push(tokio::spawn(writer_task(
            idx,
            rx,
            tracker.clone(),
            cfg.clone(),
        )));
    }
    let (stop_checkpoints, checkpoints_stopped) = watch::channel(false);
    let checkpoint_task = tokio::spawn(checkpoint_task(
        store.clone(),
        tracker.clone(),
        cfg.pipeline.checkpoint_interval,
        checkpoints_stopped,
    ));

    let mut router = Router::new(cfg, senders, inflight, total_kib);
    let read_result = async {
        let mut tailer = BinlogTailer::open(cfg, start).await?;
        loop {
            let next = tokio::select! {
                next = tailer.next() => next,
                _ = shutdown.changed() => {
                    info!("shutdown requested: flushing what is in flight");
                    break;
                }
            };
            let (event, position) = next?;
            router.route(&event, &position).await?;
        }
        tailer.close().await;
        Ok::<(), SyncError>(())
    }
    .await;

    // Closing the channels makes the writers flush what they have and stop.
    drop(router);
    let mut writer_error = None;
    for task in writer_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => writer_error = Some(e),
            Err(e) => writer_error = Some(SyncError::Other(format!("writer panicked: {e}"))),
        }
    }
    let _ = stop_checkpoints.send(true);
    let _ = checkpoint_task.await;
    let position = tracker.low_watermark();
    let gtid_set = None;
    store
        .store_checkpoint(&Checkpoint {
            position: position.clone(),
            gtid_set,
        })
        .await?;
    info!(%position, "checkpoint stored");
    read_result?;
    match writer_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Stores the low watermark whenever it moved, at most once per `interval`.
async fn checkpoint_task(
    store: StateStore,
    tracker: Arc<CheckpointTracker>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<BinlogPosition> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let position = tracker.low_watermark();
        if last.as_ref() == Some(&position) {
            continue;
        }
        match store
            .store_checkpoint(&Checkpoint {
                position: position.clone(),
                gtid_set: None,
            })
            .await
        {
            Ok(()) => {
                debug!(%position, "checkpoint stored");
                last = Some(position);
            }
            Err(e) => warn!(error = %e, "cannot store the checkpoint; will retry"),
        }
    }
}

/// How the router treats a table id.
enum Route {
    Captured(Arc<TableMapping>),
    Ignored,
}

struct TableEntry {
    /// The TABLE_MAP event, to decode its rows events.
    tme: TableMapEvent<'static>,
    route: Route,
}

/// Turns binlog events into per-writer changes.
struct Router {
    cfg: Config,
    filter: TableFilter,
    tables: HashMap<u64, TableEntry>,
    senders: Vec<mpsc::Sender<WriterMsg>>,
    inflight: Arc<Semaphore>,
    total_kib: u32,
    /// Tables already warned about (no primary key, decode problems), to warn once.
    warned: std::collections::HashSet<String>,
}

impl Router {
    fn new(
        cfg: &Config,
        senders: Vec<mpsc::Sender<WriterMsg>>,
        inflight: Arc<Semaphore>,
        total_kib: u32,
    ) -> Self {
        Router {
            cfg: cfg.clone(),
            filter: TableFilter::new(&cfg.capture),
            tables: HashMap::new(),
            senders,
            inflight,
            total_kib,
            warned: Default::default(),
        }
    }

    async fn route(
        &mut self,
        event: &mysql_common::binlog::events::Event,
        position: &BinlogPosition,
    ) -> Result<()> {
        let data = event.read_data().map_err(|e| {
            SyncError::Other(format!("cannot parse the binlog event at {position}: {e}"))
        })?;
        match data {
            Some(EventData::TableMapEvent(tme)) => self.table_map(tme),
            Some(EventData::RowsEvent(rows)) => self.rows(rows, position).await,
            Some(EventData::XidEvent(_)) => self.commit(position).await,
            Some(EventData::QueryEvent(q)) => {
                let query = q.query();
                let trimmed = query.trim();
                if trimmed.eq_ignore_ascii_case("BEGIN") {
                    Ok(())
                } else {
                    if !trimmed.eq_ignore_ascii_case("COMMIT") {
                        self.ddl(&q.schema(), trimmed, position);
                    }
                    // DDL statements commit implicitly.
                    self.commit(position).await
                }
            }
            _ => Ok(()),
        }
    }

    fn table_map(&mut self, tme: TableMapEvent<'_>) -> Result<()> {
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
            let schema = decode::table_schema(&tme).map_err(|e| {
                SyncError::Other(format!(
                    "cannot read the schema of {db}.{table} from the binlog: {e}"
                ))
            })?;
            match TableMapping::resolve(&self.cfg, &self.filter, Arc::new(schema)) {
                Ok(mapping) => Route::Captured(Arc::new(mapping)),
                Err(e) => {
                    if self.warned.insert(format!("{db}.{table}")) {
                        warn!(table = %format!("{db}.{table}"), "{e}; its changes are not written to HBase");
                    }
                    Route::Ignored
                }
            }
        };
        self.tables.insert(id, TableEntry { tme, route });
        Ok(())
    }

    async fn rows(&mut self, rows: RowsEventData<'_>, position: &BinlogPosition) -> Result<()> {
        let Some(entry) = self.tables.get(&rows.table_id()) else {
            return Err(SyncError::Other(format!(
                "rows event at {position} for table id {} without its TABLE_MAP event",
                rows.table_id()
            )));
        };
        let Route::Captured(mapping) = &entry.route else {
            return Ok(());
        };
        let version = Version::of(position)?;
        let writers = self.senders.len();
        let mut per_writer: Vec<Vec<RowChange>> = vec![Vec::new(); writers];
        let mut bytes = 0usize;
        for row in rows.rows(&entry.tme) {
            let (before, after) = row.map_err(|e| {
                SyncError::Other(format!(
                    "cannot decode a row of {} at {position}: {e}",
                    mapping.source
                ))
            })?;
            let decode_image = |img: Option<mysql_common::binlog::row::BinlogRow>| -> Result<Option<Vec<SqlValue>>> {
                img.map(|r| {
                    decode::decode_row(&mapping.schema, &r).map_err(|e| {
                        SyncError::Other(format!("cannot decode a row of {} at {position}: {e}", mapping.source))
                    })
                })
                .transpose()
            };
            let before = decode_image(before)?;
            let after = decode_image(after)?;
            let key_of = |values: &[SqlValue]| -> Result<Vec<u8>> {
                mapping.row_key(values).ok_or_else(|| {
                    SyncError::Other(format!(
                        "a row of {} at {position} has NULL in a row-key column",
                        mapping.source
                    ))
                })
            };
            let before_key = before.as_deref().map(key_of).transpose()?;
            let put = match after {
                Some(values) => Some((key_of(&values)?, values)),
                None => None,
            };
            // A delete, or an update that moved the row to another key, removes the old key.
            if let Some(old) = before_key {
                if put.as_ref().is_none_or(|(new, _)| *new != old) {
                    let change = RowChange {
                        table: Arc::from(mapping.hbase_table.as_str()),
                        family: Arc::from(mapping.family.as_str()),
                        key: old,
                        op: RowOp::Delete,
                        version,
                    };
                    bytes += change.size();
                    per_writer[partition(&change, writers)].push(change);
                }
            }
            if let Some((key, values)) = put {
                let cells = mapping
                    .qualifiers
                    .iter()
                    .zip(&values)
                    .filter_map(|(q, v)| {
                        q.as_ref().map(|q| Cell {
                            column: Arc::from(q.as_slice()),
                            value: mapping.cell_value(v),
                        })
                    })
                    .collect();
                let change = RowChange {
                    table: Arc::from(mapping.hbase_table.as_str()),
                    family: Arc::from(mapping.family.as_str()),
                    key,
                    op: RowOp::Put(cells),
                    version,
                };
                bytes += change.size();
                per_writer[partition(&change, writers)].push(change);
            }
        }
        for (idx, changes) in per_writer.into_iter().enumerate() {
            if changes.is_empty() {
                continue;
            }
            let share: usize = changes.iter().map(RowChange::size).sum();
            let kib = (share.div_ceil(1024) as u32).clamp(1, self.total_kib);
            let permit = self
                .inflight
                .clone()
                .acquire_many_owned(kib)
                .await
                .map_err(|_| SyncError::Other("pipeline closed".into()))?;
            self.send(
                idx,
                WriterMsg::Changes {
                    changes,
                    _permit: permit,
                },
            )
            .await?;
        }
        let _ = bytes;
        Ok(())
    }

    async fn commit(&mut self, position: &BinlogPosition) -> Result<()> {
        let version = Version::of(position)?;
        for idx in 0..self.senders.len() {
            self.send(
                idx,
                WriterMsg::Commit {
                    version,
                    position: position.clone(),
                },
            )
            .await?;
        }
        Ok(())
    }

    fn ddl(&mut self, schema: &str, query: &str, position: &BinlogPosition) {
        // Schemas come from the TABLE_MAP events that follow; forget cached ones.
        self.tables.clear();
        debug!(%position, schema, query, "DDL");
    }

    async fn send(&self, idx: usize, msg: WriterMsg) -> Result<()> {
        self.senders[idx]
            .send(msg)
            .await
            .map_err(|_| SyncError::Other(format!("HBase writer {idx} stopped")))
    }
}

fn partition(change: &RowChange, writers: usize) -> usize {
    if writers == 1 {
        return 0;
    }
    let h = fnv1a(change.table.as_bytes()) ^ fnv1a(&change.key).rotate_left(16);
    (h as usize) % writers
}

/// One HBase writer: batches its partition's changes and acknowledges commits.
async fn writer_task(
    idx: usize,
    mut rx: mpsc::Receiver<WriterMsg>,
    tracker: Arc<CheckpointTracker>,
    cfg: Config,
) -> Result<()> {
    let p = &cfg.pipeline;
    let mut hbase = Some(HbaseWriter::new(
        &cfg.hbase.thrift,
        cfg.hbase.timeout,
        cfg.hbase.max_versions,
    ));
    let mut batch = Batch::default();
    let mut permits: Vec<OwnedSemaphorePermit> = Vec::new();
    let mut pending_commit: Option<(Version, BinlogPosition)> = None;
    let mut deadline: Option<tokio::time::Instant> = None;
    loop {
        let msg = match deadline {
            Some(d) => tokio::select! {
                msg = rx.recv() => msg,
                _ = tokio::time::sleep_until(d) => {
                    flush(idx, &mut hbase, &mut batch, &tracker, &mut pending_commit).await?;
                    permits.clear();
                    deadline = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        match msg {
            None => {
                flush(idx, &mut hbase, &mut batch, &tracker, &mut pending_commit).await?;
                return Ok(());
            }
            Some(WriterMsg::Changes { changes, _permit }) => {
                for c in changes {
                    batch.add(c);
                }
                permits.push(_permit);
                if deadline.is_none() {
                    deadline = Some(tokio::time::Instant::now() + p.batch_delay);
                }
                if batch.len() >= p.batch_rows || batch.bytes() >= p.batch_bytes {
                    flush(idx, &mut hbase, &mut batch, &tracker, &mut pending_commit).await?;
                    permits.clear();
                    deadline = None;
                }
            }
            Some(WriterMsg::Commit { version, position }) => {
                if batch.is_empty() {
                    tracker.ack(idx, version, &position);
                } else {
                    pending_commit = Some((version, position));
                }
            }
        }
    }
}

/// Writes the batch, retrying with backoff until HBase takes it; then acknowledges the last
/// commit the batch covered.
async fn flush(
    idx: usize,
    hbase: &mut Option<HbaseWriter>,
    batch: &mut Batch,
    tracker: &CheckpointTracker,
    pending_commit: &mut Option<(Version, BinlogPosition)>,
) -> Result<()> {
    if let Some((version, tables)) = batch.take() {
        let tables = Arc::new(tables);
        let mut backoff = Duration::from_millis(200);
        loop {
            let mut writer = hbase.take().expect("writer present between flushes");
            let t = tables.clone();
            let (writer, result) = tokio::task::spawn_blocking(move || {
                let r = writer.write(version, &t);
                (writer, r)
            })
            .await
            .map_err(|e| SyncError::Other(format!("HBase writer {idx} panicked: {e}")))?;
            *hbase = Some(writer);
            match result {
                Ok(()) => {
                    let rows: usize = tables.iter().map(|(_, r)| r.len()).sum();
                    debug!(writer = idx, rows, version = version.0, "batch written");
                    break;
                }
                Err(e) => {
                    warn!(writer = idx, error = %e, retry_in = ?backoff, "HBase write failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
    if let Some((version, position)) = pending_commit.take() {
        tracker.ack(idx, version, &position);
    }
    Ok(())
}
