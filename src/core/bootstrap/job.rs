//! One bootstrap job (a row of `bootstrap_jobs`), run while the stream keeps running. Every
//! HBase write a job makes goes through the router, in stream order, so it orders with the
//! stream's own writes of the same rows (see `core::handover`):
//! 1. Validate: the table exists, is captured, and has a row key; a `--where` condition must be
//!    a condition on the table. Failures are definite: the job fails with the reason. A cleanup
//!    job of a table that no longer exists skips to step 4 (all its HBase rows go).
//! 2. Register the table with the router's change tracker.
//! 3. Copy ([`copy`]): open the snapshot (`source::snapshot`, by `snapshot.locking_mode`),
//!    with `snapshot.parallelism` > 1 on one connection per key range, and send the chunks to
//!    the router, a bounded number ahead of those being written; each row becomes a whole-row
//!    replace. After each chunk is durable its range's last key and the row count are stored,
//!    so a restart resumes after it. Memory is bounded by chunk size x read-ahead, whatever the
//!    table size.
//! 4. Cleanup (first starts, re-bootstraps, resyncs after DDL; not needed when the HBase table
//!    held no cell of the table's family before the copy): page through the HBase rows holding
//!    the table's family; what no MySQL row maps to (looked up in a consistent snapshot, between
//!    two binlog positions like a chunk) is handed over as deletes: a table's own rows by key
//!    (their family goes), a joined table's rows by the names of their cells (only those cells
//!    go, never the parent's or siblings' in the same HBase row), see [`cleanup`]. A row the
//!    stream changed after the lookup is the stream's. The last key looked at is stored after
//!    each page.
//!
//! A repair job (`verify --repair`) does steps 1-2, then hands over exactly its rows: those
//! MySQL has as copies, the others as deletes (a joined table's: its cells at the place verify
//! found it, see [`repair`]). A backfill (a DDL that changed some columns)
//! copies only the key columns and the columns to write, each row a put of those cells and a
//! delete of the dropped columns' cells, and needs no cleanup (the DDL changed no row's key).

use std::sync::Arc;
use std::time::Duration;

use mysql_async::Conn;
use tokio::sync::{mpsc, oneshot};
use tracing::info;

pub mod cleanup;
mod copy;
mod repair;

use crate::config::Config;
use crate::core::filter::TableFilter;
use crate::core::handover::{ChunkRows, HandoverRequest, SnapshotChunk};
use crate::core::mapping::{hbase_target, TableMapping};
use crate::error::SyncError;
use crate::model::{BinlogPosition, ColumnSchema, TableSchema};
use crate::source::mysql as my;
use crate::source::schema::load_table_schema;
use crate::source::snapshot::{self, LockReleased, SnapshotReader};
use crate::state::{BootstrapJob, ColumnChange, StateStore};
use crate::telemetry::metrics::METRICS;

/// A backfill's columns to delete, as `family:qualifier`.
type ClearedColumns = Arc<[Arc<[u8]>]>;

/// How a job ended when it did not complete.
#[derive(Debug)]
pub enum JobError {
    /// The job cannot succeed as asked; it is marked failed with this reason.
    Definite(String),
    /// A lost connection or a pipeline restart; the job stays open and resumes later.
    Transient(SyncError),
}

impl From<SyncError> for JobError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Definite(d) => JobError::Definite(d.to_string()),
            other => JobError::Transient(other),
        }
    }
}

impl From<mysql_async::Error> for JobError {
    fn from(e: mysql_async::Error) -> Self {
        JobError::Transient(e.into())
    }
}

/// Checks that `db.table` can be bootstrapped; returns its schema.
/// Why a `row_key` override of `db.table` cannot key its rows: rows with equal values in those
/// columns would merge into one HBase row (and bootstrap pages, which go by the row key, would
/// skip rows). Its columns must hold a unique key whose columns are all NOT NULL. The problem
/// and its fix; `None` when there is no override or it is unique.
pub async fn row_key_problem(
    cfg: &Config,
    conn: &mut Conn,
    db: &str,
    table: &str,
) -> crate::error::Result<Option<(String, String)>> {
    let name = format!("{db}.{table}");
    let entry = cfg.mapping.tables.iter().find(|t| t.source == name);
    let Some(mut row_key) = entry.and_then(|t| t.row_key.clone()) else {
        return Ok(None);
    };
    // A joined table's rows share their parent's HBase row: what tells them apart is the join
    // key together with the columns of its qualifier template.
    row_key.extend(entry.map(|t| t.template_columns()).unwrap_or_default());
    let row_key = &row_key;
    let keys = crate::source::schema::unique_not_null_keys(conn, db, table).await?;
    let unique = keys.iter().any(|key| {
        key.iter()
            .all(|c| row_key.iter().any(|r| r.eq_ignore_ascii_case(c)))
    });
    Ok((!unique).then(|| {
        (
            format!(
                "row_key {row_key:?} of {name} is not unique: no primary key or unique index on NOT NULL columns lies within those columns, so rows with equal values would merge into one HBase row"
            ),
            format!(
                "add one (ALTER TABLE {name} ADD UNIQUE ({})) or choose row_key columns that hold one",
                row_key.join(", ")
            ),
        )
    }))
}

pub async fn validate_table(
    cfg: &Config,
    conn: &mut Conn,
    db: &str,
    table: &str,
    where_clause: Option<&str>,
) -> Result<TableSchema, JobError> {
    let name = format!("{db}.{table}");
    if !TableFilter::new(&cfg.capture).captures(db, table) {
        return Err(JobError::Definite(format!(
            "table {name} is not captured: add it to [capture] include (and keep it out of exclude)"
        )));
    }
    let Some(schema) = load_table_schema(conn, db, table).await? else {
        return Err(JobError::Definite(format!("table {name} does not exist")));
    };
    TableMapping::resolve(
        cfg,
        &TableFilter::new(&cfg.capture),
        Arc::new(schema.clone()),
    )
    .map_err(|e| JobError::Definite(e.to_string()))?;
    if let Some((problem, fix)) = row_key_problem(cfg, conn, db, table).await? {
        return Err(JobError::Definite(format!("{problem}; {fix}")));
    }
    if let Some(cond) = where_clause {
        if let Some(why) = snapshot::where_clause_problem(conn, db, table, cond).await? {
            return Err(JobError::Definite(format!(
                "the --where condition {cond:?} is not a valid condition on {name}: {why}"
            )));
        }
    }
    Ok(schema)
}

/// A running job: what every step needs.
struct Job<'a> {
    cfg: &'a Config,
    store: &'a StateStore,
    router: &'a mpsc::Sender<HandoverRequest>,
    job: &'a BootstrapJob,
    /// `db.table`.
    name: String,
    /// The table's mapping; `None` once it no longer exists in MySQL.
    mapping: Option<TableMapping>,
    /// Bytes the stream's changes kept for this job take in the router.
    tracked_bytes: Arc<std::sync::atomic::AtomicUsize>,
    /// Rows the copy will read, as estimated (for splitting it into key ranges).
    rows_total: Option<u64>,
}

/// Runs one job to its end; progress is stored as it goes.
pub async fn run_job(
    cfg: &Config,
    store: &StateStore,
    router: &mpsc::Sender<HandoverRequest>,
    job: &BootstrapJob,
) -> Result<(), JobError> {
    let (db, table) = (job.database.as_str(), job.table.as_str());
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let where_clause = job.where_clause.as_deref().filter(|w| !w.trim().is_empty());
    let schema = match validate_table(cfg, &mut conn, db, table, where_clause).await {
        Ok(schema) => Some(schema),
        // Dropped or renamed away: every HBase row it had goes.
        Err(JobError::Definite(reason)) if job.cleanup || job.repair_keys.is_some() => {
            info!(table = %format!("{db}.{table}"), %reason, "the table is gone: its HBase rows are deleted");
            None
        }
        Err(e) => return Err(e),
    };
    let mapping = match &schema {
        Some(s) => Some(
            TableMapping::resolve(cfg, &TableFilter::new(&cfg.capture), Arc::new(s.clone()))
                .map_err(|e| JobError::Definite(e.to_string()))?,
        ),
        None => None,
    };
    let rows_total = match (&job.repair_keys, &schema) {
        (Some(keys), _) => Some(keys.len() as u64),
        (None, Some(_)) => snapshot::count_rows(&mut conn, db, table, where_clause).await?,
        (None, None) => Some(0),
    };
    store
        .job_started(job.id, cfg.snapshot.locking_mode.as_str(), rows_total)
        .await?;
    let labels = [
        job.id.to_string(),
        format!("{db}.{table}"),
        job.kind().to_string(),
    ];
    let labels = [labels[0].as_str(), labels[1].as_str(), labels[2].as_str()];
    METRICS
        .bootstrap_rows_total
        .with_label_values(&labels)
        .set(rows_total.unwrap_or(0) as i64);
    METRICS
        .bootstrap_rows_done
        .with_label_values(&labels)
        .set(job.rows_done as i64);

    let (reply, tracking) = oneshot::channel();
    router
        .send(HandoverRequest::Track {
            job: job.id,
            db: db.to_string(),
            table: table.to_string(),
            first: job.chunks_done == 0 && job.repair_keys.is_none(),
            reply,
        })
        .await
        .map_err(|_| pipeline_stopped())?;
    let tracked_bytes = tracking.await.map_err(|_| pipeline_stopped())?;

    let run = Job {
        cfg,
        store,
        router,
        job,
        name: format!("{db}.{table}"),
        mapping,
        tracked_bytes,
        rows_total,
    };
    let result = async move {
        if let Some(keys) = &job.repair_keys {
            return run.repair(&mut conn, keys).await;
        }
        // An HBase table without rows before the copy needs no cleanup: every row it will hold
        // comes from this copy or from the stream, which registered above.
        let mut cleanup = job.cleanup && !job.cleaned;
        if cleanup && job.chunks_done == 0 && job.extras_key.is_none() {
            let (hbase_table, family) = hbase_target(cfg, db, table);
            if !run.hbase_holds_family(&hbase_table, &family).await? {
                store.job_cleaned(job.id).await?;
                cleanup = false;
            }
        }
        if let (Some(schema), Some(change)) = (schema.clone(), &job.columns) {
            return run.copy(conn, schema, where_clause, Some(change)).await;
        }
        if let Some(schema) = schema {
            run.copy(conn, schema, where_clause, None).await?;
            conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
        }
        if cleanup {
            run.clean_up(&mut conn).await?;
            store.job_cleaned(job.id).await?;
        }
        Ok(())
    }
    .await;
    let _ = router
        .send(HandoverRequest::Untrack {
            job: job.id,
            complete: result.is_ok(),
        })
        .await;
    result
}

fn pipeline_stopped() -> SyncError {
    SyncError::transient("the pipeline stopped")
}

impl Job<'_> {
    /// Hands a chunk read at `low` to the router (a single reader: later chunks are read at or
    /// after it); the receiver fires once every sink made it durable.
    async fn hand_over(
        &self,
        low: BinlogPosition,
        ready_at: BinlogPosition,
        rows: ChunkRows,
    ) -> Result<oneshot::Receiver<()>, JobError> {
        let prune_to = Some(low.clone());
        hand_over(
            self.router,
            self.job.id,
            &self.name,
            (low, ready_at, prune_to),
            rows,
        )
        .await
    }

    async fn wait_written(rx: oneshot::Receiver<()>) -> Result<(), JobError> {
        wait_written(rx).await
    }

    fn rows_done(&self, n: u64) {
        METRICS
            .bootstrap_rows_done
            .with_label_values(&[
                self.job.id.to_string().as_str(),
                self.name.as_str(),
                self.job.kind(),
            ])
            .add(n as i64);
    }

    /// A backfill's columns: the key columns and the columns to write that still exist (a
    /// later DDL may have dropped some: its own job sees to them), as a schema of their own;
    /// and the `family:qualifier` of the columns to clear that do not exist (any more).
    fn backfill_columns(
        &self,
        schema: &TableSchema,
        change: &ColumnChange,
    ) -> Result<(TableSchema, ClearedColumns), JobError> {
        let mapping = self.mapping.as_ref().expect("validated above");
        let key_names: Vec<&str> = mapping
            .identity_columns()
            .iter()
            .map(|&i| schema.columns[i].name.as_str())
            .collect();
        let mut columns: Vec<ColumnSchema> = Vec::new();
        for c in &schema.columns {
            if key_names.contains(&c.name.as_str()) || change.put.contains(&c.name) {
                columns.push(c.clone());
            }
        }
        let primary_key = schema
            .primary_key
            .iter()
            .filter_map(|&i| {
                columns
                    .iter()
                    .position(|c| c.name == schema.columns[i].name)
            })
            .collect();
        let (_, family) = hbase_target(self.cfg, &self.job.database, &self.job.table);
        let cleared = change
            .cleared
            .iter()
            .filter(|name| !schema.columns.iter().any(|c| &c.name == *name))
            .map(|name| Arc::from(format!("{family}:{name}").into_bytes()))
            .collect();
        Ok((
            TableSchema {
                database: schema.database.clone(),
                table: schema.table.clone(),
                columns,
                primary_key,
            },
            cleared,
        ))
    }

    /// Opens the snapshot. Under a global read lock held through the read (`extended`), the
    /// stream must first route everything up to the lock's position: for events before it the
    /// router may write to the state store (a DDL's job and schema history), which the lock
    /// blocks when the state store is on the source, while this job would wait for the router
    /// to write its chunks. When the stream has not got there within `snapshot.lock_timeout`,
    /// the lock is released until it has, then taken again.
    async fn open_snapshot(
        &self,
        mut conns: Vec<Conn>,
        schema: TableSchema,
    ) -> Result<(Vec<SnapshotReader>, TableSchema, Option<LockReleased>), JobError> {
        const ATTEMPTS: u32 = 5;
        for attempt in 1..=ATTEMPTS {
            let n = conns.len();
            let opened =
                SnapshotReader::open_shared(conns, &self.cfg.snapshot, schema.clone()).await?;
            let locked_at = opened.0[0]
                .snapshot_position()
                .filter(|_| opened.0[0].holds_global_lock())
                .cloned();
            let Some(at) = locked_at else {
                return Ok(opened);
            };
            if self.routed(&at, self.cfg.snapshot.lock_timeout).await? {
                return Ok(opened);
            }
            info!(job = self.job.id, table = %self.name, attempt, %at, "the stream has not routed up to the global read lock's position: releasing the lock until it has");
            for reader in opened.0.into_iter().rev() {
                reader.close().await?;
            }
            if !self.routed(&at, self.cfg.pipeline.stall_timeout).await? {
                break;
            }
            conns = Vec::with_capacity(n);
            for _ in 0..n {
                conns.push(my::connect(&self.cfg.mysql.url, &self.cfg.mysql, None).await?);
            }
        }
        Err(JobError::Transient(SyncError::transient(format!(
            "the stream did not route up to the global read lock's position of {} in {ATTEMPTS} attempts",
            self.name
        ))))
    }

    /// Whether the stream routes everything up to `at` within `within`.
    async fn routed(&self, at: &BinlogPosition, within: Duration) -> Result<bool, JobError> {
        let (reply, routed) = oneshot::channel();
        self.router
            .send(HandoverRequest::Routed {
                position: at.clone(),
                reply,
            })
            .await
            .map_err(|_| pipeline_stopped())?;
        match tokio::time::timeout(within, routed).await {
            Ok(Ok(())) => Ok(true),
            Ok(Err(_)) => Err(pipeline_stopped().into()),
            Err(_) => Ok(false),
        }
    }
}

/// Hands a chunk of job `job_id` (`db.table` `name`) to the router; `positions` are its low,
/// ready-at and prune-to positions (see `SnapshotChunk`). The receiver fires once every sink
/// made it durable.
async fn hand_over(
    router: &mpsc::Sender<HandoverRequest>,
    job_id: u64,
    name: &str,
    positions: (BinlogPosition, BinlogPosition, Option<BinlogPosition>),
    rows: ChunkRows,
) -> Result<oneshot::Receiver<()>, JobError> {
    let (low, ready_at, prune_to) = positions;
    let (written, written_rx) = oneshot::channel();
    router
        .send(HandoverRequest::Chunk(SnapshotChunk {
            job_id,
            source: name.to_string(),
            low,
            ready_at,
            prune_to,
            rows,
            written,
        }))
        .await
        .map_err(|_| pipeline_stopped())?;
    Ok(written_rx)
}

async fn wait_written(rx: oneshot::Receiver<()>) -> Result<(), JobError> {
    rx.await.map_err(|_| {
        JobError::Transient(SyncError::transient(
            "the pipeline stopped before the chunk was written",
        ))
    })
}

/// The smallest key after `key` in HBase's byte order.
fn after(key: &[u8]) -> Vec<u8> {
    let mut next = key.to_vec();
    next.push(0);
    next
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(h: &str) -> Result<Vec<u8>, String> {
    (0..h.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(h.get(i..i + 2).ok_or("odd hex")?, 16).map_err(|e| e.to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        assert_eq!(unhex(&hex(&[1, 2, 254])).unwrap(), vec![1, 2, 254]);
        assert_eq!(after(b"k"), b"k\0");
    }
}
