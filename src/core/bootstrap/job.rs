//! One bootstrap job (a row of `bootstrap_jobs`), run while the stream keeps running:
//! 1. A resync job (`purge_version` set: a first start, a purged binlog, a DDL) first waits until
//!    the checkpoint has every change before its version in HBase, then deletes every HBase row
//!    of the table at that version (a family delete masks every cell at or below it and nothing
//!    the stream writes after it).
//! 2. Validate: the table exists, is captured, and has a row key; a `--where` condition must be
//!    a condition on the table. Failures are definite: the job fails with the reason (a resync
//!    of a table that no longer exists ends there: its rows are deleted).
//! 3. Register the table with the router's change tracker (see `core::handover`).
//! 4. Open the snapshot (`source::snapshot`, by `snapshot.locking_mode`) and send its chunks to
//!    the router, up to `snapshot.parallelism` ahead of the one being written; the router hands
//!    them over to the sinks. After each chunk is durable its last key and row count are stored,
//!    so a restart resumes after it. Under a global read lock held through the read
//!    (`extended`), writes to the state store would wait for the lock: progress is stored once
//!    it is released. Memory is bounded by chunk size x read-ahead, whatever the table size.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::info;

use crate::config::Config;
use crate::core::checkpoint::CheckpointTracker;
use crate::core::filter::TableFilter;
use crate::core::handover::{HandoverRequest, SnapshotChunk};
use crate::core::mapping::{hbase_target, TableMapping};
use crate::error::SyncError;
use crate::model::{TableSchema, Version};
use crate::sink::hbase::mutations;
use crate::source::mysql as my;
use crate::source::schema::load_table_schema;
use crate::source::snapshot::{self, ChunkQuery, SnapshotReader};
use crate::state::{BootstrapJob, StateStore};
use crate::telemetry::metrics::METRICS;

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
pub async fn validate_table(
    cfg: &Config,
    conn: &mut mysql_async::Conn,
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
    if let Some(cond) = where_clause {
        if let Some(why) = snapshot::where_clause_problem(conn, db, table, cond).await? {
            return Err(JobError::Definite(format!(
                "the --where condition {cond:?} is not a valid condition on {name}: {why}"
            )));
        }
    }
    Ok(schema)
}

/// Runs one job to its end; progress is stored after every chunk.
pub async fn run_job(
    cfg: &Config,
    store: &StateStore,
    router: &mpsc::Sender<HandoverRequest>,
    acked: &CheckpointTracker,
    job: &BootstrapJob,
) -> Result<(), JobError> {
    let (db, table) = (job.database.as_str(), job.table.as_str());
    if let (Some(version), false) = (job.purge_version, job.purged) {
        purge(cfg, acked, db, table, Version(version)).await?;
        store.job_purged(job.id).await?;
    }
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let where_clause = job.where_clause.as_deref().filter(|w| !w.trim().is_empty());
    let schema = match validate_table(cfg, &mut conn, db, table, where_clause).await {
        // A resync of a table that was dropped or renamed away ends with its rows deleted.
        Err(JobError::Definite(reason)) if job.purge_version.is_some() => {
            info!(table = %format!("{db}.{table}"), %reason, "resync: nothing to copy");
            return Ok(());
        }
        other => other?,
    };
    let rows_total = snapshot::count_rows(&mut conn, db, table, where_clause).await?;
    store
        .job_started(job.id, cfg.snapshot.locking_mode.as_str(), rows_total)
        .await?;
    let name = format!("{db}.{table}");
    let labels = [job.id.to_string(), name.clone()];
    let labels = [labels[0].as_str(), labels[1].as_str()];
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
            first: job.chunks_done == 0,
            reply,
        })
        .await
        .map_err(|_| pipeline_stopped())?;
    tracking.await.map_err(|_| pipeline_stopped())?;

    let result = read_chunks(cfg, store, router, job, conn, schema, where_clause).await;
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

/// Resync: once HBase has every change before `version`, deletes every HBase row of the table
/// at `version`.
async fn purge(
    cfg: &Config,
    acked: &CheckpointTracker,
    db: &str,
    table: &str,
    version: Version,
) -> Result<(), JobError> {
    while acked.low_watermark().version < version {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (hbase_table, family) = hbase_target(cfg, db, table);
    let rows = mutations::purge_table(&cfg.hbase, &hbase_table, &family, version).await?;
    info!(table = %format!("{db}.{table}"), %hbase_table, rows, version = version.0, "resync: HBase rows deleted as of the DDL");
    Ok(())
}

async fn read_chunks(
    cfg: &Config,
    store: &StateStore,
    router: &mpsc::Sender<HandoverRequest>,
    job: &BootstrapJob,
    conn: mysql_async::Conn,
    schema: TableSchema,
    where_clause: Option<&str>,
) -> Result<(), JobError> {
    let name = format!("{}.{}", job.database, job.table);
    let (mut reader, schema, released) = SnapshotReader::open(conn, &cfg.snapshot, schema).await?;
    if let Some(r) = released {
        store
            .job_snapshot_position(job.id, &r.position, Some(r.held_ms))
            .await?;
    }
    let schema = Arc::new(schema);
    let mapping = TableMapping::resolve(cfg, &TableFilter::new(&cfg.capture), schema.clone())
        .map_err(|e| JobError::Definite(e.to_string()))?;
    let query = ChunkQuery::new(
        (*schema).clone(),
        mapping.row_key.clone(),
        where_clause,
        cfg.snapshot.chunk_rows as usize,
    );
    let mut last_key: Option<Vec<Vec<u8>>> = job
        .last_key
        .as_deref()
        .map(decode_last_key)
        .transpose()
        .map_err(|e| {
            JobError::Definite(format!(
                "job {}: bad last_key in the state store: {e}",
                job.id
            ))
        })?;
    let read_ahead = cfg.snapshot.parallelism.max(1);
    let defer_progress = reader.holds_global_lock();
    // Progress not stored yet under `extended`: (last key, chunks, rows).
    let mut deferred: Option<(String, u64, u64)> = None;
    let mut in_flight: VecDeque<(oneshot::Receiver<()>, String, u64)> = VecDeque::new();
    loop {
        let chunk = reader.read_chunk(&query, last_key.as_deref()).await?;
        let n = chunk.rows.len() as u64;
        if let Some(key) = chunk.last_key {
            last_key = Some(key);
        }
        if !chunk.rows.is_empty() {
            let (written, written_rx) = oneshot::channel();
            router
                .send(HandoverRequest::Chunk(SnapshotChunk {
                    job_id: job.id,
                    schema: schema.clone(),
                    low: chunk.low,
                    ready_at: chunk.ready_at,
                    rows: chunk.rows,
                    written,
                }))
                .await
                .map_err(|_| pipeline_stopped())?;
            let key_json = encode_last_key(last_key.as_ref().expect("set above"));
            in_flight.push_back((written_rx, key_json, n));
        }
        while in_flight.len() > read_ahead || (chunk.last && !in_flight.is_empty()) {
            let (rx, key, n) = in_flight.pop_front().expect("non-empty");
            rx.await.map_err(|_| {
                SyncError::transient("the pipeline stopped before the chunk was written")
            })?;
            if defer_progress {
                let (chunks, rows) = deferred.as_ref().map_or((0, 0), |(_, c, r)| (*c, *r));
                deferred = Some((key, chunks + 1, rows + n));
            } else {
                store.job_progress(job.id, &key, 1, n).await?;
                METRICS
                    .bootstrap_rows_done
                    .with_label_values(&[job.id.to_string().as_str(), name.as_str()])
                    .add(n as i64);
            }
        }
        if chunk.last {
            break;
        }
    }
    if let Some(r) = reader.close().await? {
        store
            .job_snapshot_position(job.id, &r.position, Some(r.held_ms))
            .await?;
    }
    if let Some((key, chunks, rows)) = deferred {
        store.job_progress(job.id, &key, chunks, rows).await?;
    }
    Ok(())
}

fn encode_last_key(key: &[Vec<u8>]) -> String {
    let hex: Vec<String> = key
        .iter()
        .map(|v| v.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    serde_json::to_string(&hex).expect("strings serialize")
}

fn decode_last_key(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let hex: Vec<String> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    hex.iter()
        .map(|h| {
            (0..h.len())
                .step_by(2)
                .map(|i| {
                    u8::from_str_radix(h.get(i..i + 2).ok_or("odd hex")?, 16)
                        .map_err(|e| e.to_string())
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_key_round_trips() {
        let key = vec![b"a|b".to_vec(), vec![0, 255], Vec::new()];
        assert_eq!(decode_last_key(&encode_last_key(&key)).unwrap(), key);
    }
}
