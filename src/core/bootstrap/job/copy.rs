//! Step 3 of a job, the copy: the table read chunk after chunk, by one reader or, with
//! `snapshot.parallelism` > 1 and an integer first key column, by one reader per key range
//! (`source::snapshot::ranges`), each on its own connection and all on one snapshot.
//!
//! Each reader reads its range in key order and hands each chunk to the router (see
//! `core::handover`), keeping up to its share of the read-ahead in flight; when a chunk is
//! durable its range's last key, and when the range is read, its end, are stored with the job
//! (`key_ranges`), so a restart resumes every range where it got to and skips the finished
//! ones. The ranges themselves are stored before the first chunk: a resumed job reads the
//! same ranges.
//!
//! **Why several readers keep the hand-over exact.** The router judges each chunk by the
//! changes it recorded after the chunk's own low position, so what matters is only that it has
//! not forgotten them yet. After a chunk it forgets the job's changes up to the chunk's
//! `prune_to`, which is the lowest low position among the readers still reading: the low of
//! the latest chunk each has read. A reader's lows only grow (each chunk is read in the one
//! snapshot, or in a newer one), it hands a chunk over before reading the next, and the router
//! takes chunks in the order they are handed over; so every chunk handed over later, by any
//! reader, has a low at or above every `prune_to` before it. While a reader has not read its
//! first chunk its low is unknown and nothing is forgotten. A reader that has handed over the
//! last chunk of its range no longer holds the others back (not before: a `prune_to` computed
//! without it must reach the router after that chunk).
//!
//! Memory: each reader holds the chunk it reads and up to `parallelism / readers` (at least
//! one) handed-over chunks not yet durable, so at most about `2 x parallelism` chunks in all.
//! Under a global read lock held through the read (`extended`), the state store's writes
//! would wait for the lock: progress is stored once it is released.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mysql_async::Conn;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, Mutex};
use tracing::info;

use super::{hand_over, hex, unhex, wait_written, ClearedColumns, Job, JobError};
use crate::config::Config;
use crate::core::filter::TableFilter;
use crate::core::handover::{ChunkRows, HandoverRequest};
use crate::core::mapping::TableMapping;
use crate::model::{BinlogPosition, TableSchema};
use crate::source::mysql as my;
use crate::source::snapshot::ranges::{self, KeyRange};
use crate::source::snapshot::{ChunkQuery, SnapshotReader};
use crate::state::{ColumnChange, StateStore};
use crate::telemetry::metrics::METRICS;

/// One key range of a copy and how far it got; the job's `key_ranges` is a JSON array of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct RangeProgress {
    /// `None`: the whole table.
    range: Option<KeyRange>,
    /// The raw key (hex per key column) of the last durable chunk's last row.
    last_key: Option<Vec<String>>,
    /// Every row of the range is durable.
    done: bool,
}

impl RangeProgress {
    fn fresh(range: Option<KeyRange>) -> Self {
        RangeProgress {
            range,
            last_key: None,
            done: false,
        }
    }

    fn last_key(&self) -> Result<Option<Vec<Vec<u8>>>, String> {
        self.last_key
            .as_ref()
            .map(|parts| parts.iter().map(|h| unhex(h)).collect())
            .transpose()
    }
}

fn to_json(ranges: &[RangeProgress]) -> String {
    serde_json::to_string(ranges).expect("ranges serialize")
}

/// The job's ranges as stored; a job stored before key ranges resumes after its `last_key`
/// as one range.
fn stored_ranges(
    key_ranges: Option<&str>,
    last_key: Option<&str>,
) -> Result<Option<Vec<RangeProgress>>, String> {
    if let Some(text) = key_ranges {
        let ranges: Vec<RangeProgress> = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if ranges.is_empty()
            || ranges
                .iter()
                .flat_map(|r| &r.range)
                .any(|r| !r.is_well_formed())
        {
            return Err(format!("not a list of key ranges: {text}"));
        }
        return Ok(Some(ranges));
    }
    let Some(text) = last_key else {
        return Ok(None);
    };
    let parts: Vec<String> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(Some(vec![RangeProgress {
        range: None,
        last_key: Some(parts),
        done: false,
    }]))
}

/// Where each reader got to, shared by the readers of one copy.
struct Readers {
    ranges: Vec<RangeProgress>,
    /// Per range, the reader's latest low position (see the module doc).
    reading: Vec<Reading>,
    /// Progress not stored yet under `extended`: (chunks, rows).
    deferred: Option<(u64, u64)>,
}

#[derive(Clone)]
enum Reading {
    NotYet,
    At(BinlogPosition),
    Finished,
}

impl Readers {
    /// The position the router may forget the job's changes up to.
    fn prune_to(&self) -> Option<BinlogPosition> {
        let mut floor: Option<&BinlogPosition> = None;
        for reading in &self.reading {
            match reading {
                Reading::NotYet => return None,
                Reading::At(low) => {
                    if floor.is_none_or(|f| low < f) {
                        floor = Some(low);
                    }
                }
                Reading::Finished => {}
            }
        }
        floor.cloned()
    }
}

/// What every reader of one copy needs.
struct CopyContext {
    router: mpsc::Sender<HandoverRequest>,
    store: StateStore,
    job_id: u64,
    /// `db.table`.
    name: String,
    /// The job's metric labels: id, table, kind.
    labels: [String; 3],
    schema: Arc<TableSchema>,
    cleared: Option<ClearedColumns>,
    tracked_bytes: Arc<AtomicUsize>,
    tracker_limit: usize,
    read_ahead: usize,
    readers: Mutex<Readers>,
}

impl CopyContext {
    /// Records that range `idx` is durable up to `key` (with `chunks`/`rows` more), or read
    /// whole (`done`), and stores it unless a global read lock is held.
    async fn progress(
        &self,
        idx: usize,
        key: Option<Vec<String>>,
        done: bool,
        chunks: u64,
        rows: u64,
    ) -> Result<(), JobError> {
        let mut readers = self.readers.lock().await;
        let range = &mut readers.ranges[idx];
        if key.is_some() {
            range.last_key = key;
        }
        range.done |= done;
        if let Some((c, r)) = readers.deferred.as_mut() {
            *c += chunks;
            *r += rows;
            return Ok(());
        }
        let json = to_json(&readers.ranges);
        self.store
            .job_progress(self.job_id, &json, chunks, rows)
            .await?;
        let labels = [&*self.labels[0], &*self.labels[1], &*self.labels[2]];
        METRICS
            .bootstrap_rows_done
            .with_label_values(&labels)
            .add(rows as i64);
        Ok(())
    }

    /// Reads range `idx` to its end; returns the reader (still open: the job closes the
    /// readers, the lock holder last).
    async fn read_range(
        self: Arc<Self>,
        idx: usize,
        mut reader: SnapshotReader,
        query: ChunkQuery,
        mut last_key: Option<Vec<Vec<u8>>>,
    ) -> Result<SnapshotReader, JobError> {
        let mut in_flight: VecDeque<(oneshot::Receiver<()>, Vec<String>, u64)> = VecDeque::new();
        loop {
            // The stream's changes kept for this job (see `core::handover::ChangeTracker`):
            // bounded by moving on to per-chunk snapshots, whose hand-over forgets older ones.
            let tracked = self.tracked_bytes.load(Ordering::Relaxed);
            METRICS
                .bootstrap_tracked_bytes
                .with_label_values(&[&self.labels[0], &self.labels[1]])
                .set(tracked as i64);
            if tracked > self.tracker_limit && reader.reads_one_old_snapshot() {
                info!(job = self.job_id, table = %self.name, tracked, range = idx, "the stream changed many rows since the snapshot: reading the next chunks each in its own snapshot");
                reader.read_each_chunk_in_its_own_snapshot().await?;
            }
            let chunk = reader.read_chunk(&query, last_key.as_deref()).await?;
            let n = chunk.rows.len() as u64;
            if let Some(key) = chunk.last_key {
                last_key = Some(key);
            }
            let prune_to = {
                let mut readers = self.readers.lock().await;
                readers.reading[idx] = Reading::At(chunk.low.clone());
                readers.prune_to()
            };
            if !chunk.rows.is_empty() {
                let rows = match &self.cleared {
                    None => ChunkRows::Images {
                        schema: self.schema.clone(),
                        rows: chunk.rows,
                    },
                    Some(cleared) => ChunkRows::Columns {
                        schema: self.schema.clone(),
                        rows: chunk.rows,
                        cleared: cleared.clone(),
                    },
                };
                let written = hand_over(
                    &self.router,
                    self.job_id,
                    &self.name,
                    (chunk.low, chunk.ready_at, prune_to),
                    rows,
                )
                .await?;
                let key = last_key.as_ref().expect("set above");
                in_flight.push_back((written, key.iter().map(|k| hex(k)).collect(), n));
            }
            if chunk.last {
                // Only now that its last chunk is handed over: a prune-to computed without
                // this reader must reach the router after that chunk.
                self.readers.lock().await.reading[idx] = Reading::Finished;
            }
            while in_flight.len() > self.read_ahead || (chunk.last && !in_flight.is_empty()) {
                let (rx, key, n) = in_flight.pop_front().expect("non-empty");
                wait_written(rx).await?;
                self.progress(idx, Some(key), false, 1, n).await?;
            }
            if chunk.last {
                self.progress(idx, None, true, 0, 0).await?;
                return Ok(reader);
            }
        }
    }
}

impl Job<'_> {
    /// The copy's ranges: as stored by an earlier run of the job, or split now and stored
    /// before the first chunk.
    async fn key_ranges(
        &self,
        conn: &mut Conn,
        schema: &TableSchema,
        where_clause: Option<&str>,
    ) -> Result<Vec<RangeProgress>, JobError> {
        let (cfg, job) = (self.cfg, self.job);
        let stored =
            stored_ranges(job.key_ranges.as_deref(), job.last_key.as_deref()).map_err(|e| {
                JobError::Definite(format!(
                    "job {}: bad progress in the state store: {e}",
                    job.id
                ))
            })?;
        if let Some(ranges) = stored {
            return Ok(ranges);
        }
        let mapping = self.mapping.as_ref().expect("validated above");
        let split = ranges::split(
            conn,
            schema,
            &mapping.paging_key(),
            where_clause,
            cfg.snapshot.parallelism,
            self.rows_total,
            cfg.snapshot.chunk_rows,
        )
        .await?;
        let ranges: Vec<RangeProgress> = split.into_iter().map(RangeProgress::fresh).collect();
        if ranges.len() > 1 {
            info!(job = job.id, table = %self.name, readers = ranges.len(), "the table is read by several readers, one per key range");
        }
        self.store
            .job_progress(job.id, &to_json(&ranges), 0, 0)
            .await?;
        Ok(ranges)
    }

    /// Step 3: every row of the table (within `--where`) as a whole-row replace; for a
    /// backfill (`change` set), just the key columns and the columns to write, every row as a
    /// put of those cells and a delete of the cleared ones.
    pub(super) async fn copy(
        &self,
        mut conn: Conn,
        schema: TableSchema,
        where_clause: Option<&str>,
        change: Option<&ColumnChange>,
    ) -> Result<(), JobError> {
        let (cfg, store, job) = (self.cfg, self.store, self.job);
        let ranges = self.key_ranges(&mut conn, &schema, where_clause).await?;
        let open: Vec<usize> = (0..ranges.len()).filter(|&i| !ranges[i].done).collect();
        if open.is_empty() {
            return Ok(());
        }
        let mut conns = vec![conn];
        for _ in 1..open.len() {
            conns.push(my::connect(&cfg.mysql.url, &cfg.mysql, None).await?);
        }
        // The locking modes read the table's schema as of the snapshot: a backfill narrows
        // that one to its columns (narrowing before would be undone by it).
        let (readers, schema, released) = self.open_snapshot(conns, schema).await?;
        let (schema, cleared) = match change {
            Some(change) => {
                let (columns, cleared) = self.backfill_columns(&schema, change)?;
                (columns, Some(cleared))
            }
            None => (schema, None),
        };
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
            mapping.paging_key(),
            where_clause,
            cfg.snapshot.chunk_rows as usize,
        );
        let defer_progress = readers.iter().any(SnapshotReader::holds_global_lock);
        let reading = (0..ranges.len())
            .map(|i| {
                if open.contains(&i) {
                    Reading::NotYet
                } else {
                    Reading::Finished
                }
            })
            .collect();
        let context = Arc::new(copy_context(
            cfg,
            self,
            schema,
            cleared,
            open.len(),
            Readers {
                ranges: ranges.clone(),
                reading,
                deferred: defer_progress.then_some((0, 0)),
            },
        ));
        let mut tasks = tokio::task::JoinSet::new();
        for (order, (&idx, reader)) in open.iter().zip(readers).enumerate() {
            let last_key = ranges[idx].last_key().map_err(|e| {
                JobError::Definite(format!(
                    "job {}: bad last key in the state store: {e}",
                    job.id
                ))
            })?;
            let query = query.in_range(ranges[idx].range.as_ref());
            let context = context.clone();
            tasks.spawn(async move {
                let reader = context.read_range(idx, reader, query, last_key).await?;
                Ok::<_, JobError>((order, reader))
            });
        }
        let mut finished = Vec::with_capacity(open.len());
        while let Some(done) = tasks.join_next().await {
            // The first failure ends the copy; dropping the others' tasks closes their
            // connections (and a lock held by one of them).
            let done = done.map_err(|e| {
                JobError::Transient(crate::error::SyncError::transient(format!(
                    "a reader of {} stopped: {e}",
                    self.name
                )))
            })?;
            finished.push(done?);
        }
        // The first reader holds a lock held through the read: it is closed last.
        finished.sort_by_key(|(order, _)| std::cmp::Reverse(*order));
        for (_, reader) in finished {
            if let Some(r) = reader.close().await? {
                store
                    .job_snapshot_position(job.id, &r.position, Some(r.held_ms))
                    .await?;
            }
        }
        let readers = context.readers.lock().await;
        if let Some((chunks, rows)) = readers.deferred {
            store
                .job_progress(job.id, &to_json(&readers.ranges), chunks, rows)
                .await?;
            METRICS
                .bootstrap_rows_done
                .with_label_values(&[&context.labels[0], &context.labels[1], &context.labels[2]])
                .add(rows as i64);
        }
        Ok(())
    }
}

fn copy_context(
    cfg: &Config,
    job: &Job<'_>,
    schema: Arc<TableSchema>,
    cleared: Option<ClearedColumns>,
    readers: usize,
    state: Readers,
) -> CopyContext {
    CopyContext {
        router: job.router.clone(),
        store: job.store.clone(),
        job_id: job.job.id,
        name: job.name.clone(),
        labels: [
            job.job.id.to_string(),
            job.name.clone(),
            job.job.kind().to_string(),
        ],
        schema,
        cleared,
        tracked_bytes: job.tracked_bytes.clone(),
        // The stream's changes kept for the job are bounded by half the in-flight budget.
        tracker_limit: cfg.pipeline.max_inflight_bytes / 2,
        read_ahead: (cfg.snapshot.parallelism / readers).max(1),
        readers: Mutex::new(state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> BinlogPosition {
        BinlogPosition::new("binlog.000001", offset).unwrap()
    }

    #[test]
    fn nothing_is_forgotten_below_a_reader_still_reading() {
        let mut readers = Readers {
            ranges: vec![RangeProgress::fresh(None); 3],
            reading: vec![Reading::At(at(40)), Reading::NotYet, Reading::Finished],
            deferred: None,
        };
        // A reader that has not read yet: its first chunk's low is unknown.
        assert_eq!(readers.prune_to(), None);
        readers.reading[1] = Reading::At(at(25));
        assert_eq!(readers.prune_to(), Some(at(25)));
        readers.reading[1] = Reading::Finished;
        assert_eq!(readers.prune_to(), Some(at(40)));
        readers.reading[0] = Reading::Finished;
        assert_eq!(readers.prune_to(), None);
    }

    #[test]
    fn progress_round_trips_and_old_jobs_resume() {
        let ranges = ranges::even_split("id", 1, 100, 2)
            .into_iter()
            .map(RangeProgress::fresh)
            .collect::<Vec<_>>();
        let mut stored = ranges.clone();
        stored[0].last_key = Some(vec![hex(b"17")]);
        stored[1].done = true;
        let back = stored_ranges(Some(&to_json(&stored)), None)
            .unwrap()
            .unwrap();
        assert_eq!(back, stored);
        assert_eq!(back[0].last_key().unwrap(), Some(vec![b"17".to_vec()]));
        // A job stored before key ranges: one range, after its last key.
        let old = stored_ranges(None, Some(r#"["3137"]"#)).unwrap().unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].range, None);
        assert_eq!(old[0].last_key().unwrap(), Some(vec![b"17".to_vec()]));
        assert_eq!(stored_ranges(None, None).unwrap(), None);
        // Bounds are pasted into SQL: anything but integers is refused.
        let bad = r#"[{"range":{"column":"id","from":"1 OR 1=1","to":null},"last_key":null,"done":false}]"#;
        assert!(stored_ranges(Some(bad), None).is_err());
        assert!(stored_ranges(Some("[]"), None).is_err());
    }
}
