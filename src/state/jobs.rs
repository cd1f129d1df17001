//! Bootstrap jobs in the state store (`bootstrap_jobs`): table copies, resyncs after DDL,
//! cleanups after a first start, and repairs, with their progress.

use mysql_async::prelude::Queryable;

use super::{Checkpoint, StateStore};
use crate::error::Result;
use crate::model::BinlogPosition;

/// A row of `bootstrap_jobs`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BootstrapJob {
    pub id: u64,
    pub database: String,
    pub table: String,
    pub where_clause: Option<String>,
    /// After copying, delete (in stream order) the HBase rows MySQL does not have: first starts,
    /// re-bootstraps and resyncs after DDL.
    pub cleanup: bool,
    /// Whether that cleanup is done.
    pub cleaned: bool,
    /// The last HBase row key the cleanup looked at (hex), to resume after it.
    pub extras_key: Option<String>,
    /// For resyncs: the DDL's binlog position.
    pub ddl_position: Option<String>,
    /// For repairs (`verify --repair`): exactly these rows, instead of the whole table.
    #[serde(skip)]
    pub repair_keys: Option<Vec<RepairKey>>,
    /// For backfills (a DDL that changed only some columns): the columns whose cells are
    /// written from MySQL, and those whose cells are deleted, instead of whole rows.
    pub columns: Option<ColumnChange>,
    /// pending | running | complete | failed
    pub status: String,
    pub locking_mode: Option<String>,
    /// JSON array of the hex-encoded row-key column values of the last finished chunk (jobs
    /// stored before key ranges; new jobs store `key_ranges`).
    pub last_key: Option<String>,
    /// JSON of the job's key ranges and each one's progress (see `core::bootstrap::job`).
    pub key_ranges: Option<String>,
    pub chunks_done: u64,
    pub rows_done: u64,
    pub rows_total: Option<u64>,
    pub lock_held_ms: Option<u64>,
    pub error: Option<String>,
}

/// A row to repair: its HBase row key, and the primary-key values (as text) of the MySQL row
/// it stands for; `None` when no MySQL row can map to the key (it is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairKey {
    pub key: Vec<u8>,
    pub pk: Option<Vec<Vec<u8>>>,
}

impl BootstrapJob {
    /// What the job is for, in `status` and the metrics: `repair` (rows `verify --repair`
    /// handed over), `backfill` (some columns after a DDL), `resync` (after a DDL or a
    /// statement changed rows without row events),
    /// `rebootstrap` (a copy that also deletes what MySQL does not have), `bootstrap`.
    pub fn kind(&self) -> &'static str {
        if self.repair_keys.is_some() {
            "repair"
        } else if self.columns.is_some() {
            "backfill"
        } else if self.ddl_position.is_some() {
            "resync"
        } else if self.cleanup {
            "rebootstrap"
        } else {
            "bootstrap"
        }
    }
}

/// The columns a DDL changed, for a backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ColumnChange {
    /// Columns whose cells are rewritten from MySQL: added, re-rendered, renamed to.
    pub put: Vec<String>,
    /// Columns whose cells are deleted: dropped, renamed from.
    pub cleared: Vec<String>,
}

impl RepairKey {
    fn to_json(keys: &[RepairKey]) -> String {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        serde_json::Value::Array(
            keys.iter()
                .map(|k| {
                    serde_json::json!({
                        "key": hex(&k.key),
                        "pk": k.pk.as_ref().map(|pk| pk.iter().map(|v| hex(v)).collect::<Vec<_>>()),
                    })
                })
                .collect(),
        )
        .to_string()
    }

    fn from_json(text: &str) -> Option<Vec<RepairKey>> {
        let unhex = |v: &serde_json::Value| -> Option<Vec<u8>> {
            let h = v.as_str()?;
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                .collect()
        };
        let list: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
        list.iter()
            .map(|k| {
                let pk = match &k["pk"] {
                    serde_json::Value::Null => None,
                    serde_json::Value::Array(parts) => {
                        Some(parts.iter().map(unhex).collect::<Option<Vec<_>>>()?)
                    }
                    _ => return None,
                };
                Some(RepairKey {
                    key: unhex(&k["key"])?,
                    pk,
                })
            })
            .collect()
    }
}

const JOB_COLUMNS: &str =
    "id, database_name, table_name, where_clause, status, locking_mode, last_key, \
     chunks_done, rows_done, rows_total, lock_held_ms, error, cleanup, cleaned, extras_key, \
     ddl_position, repair_keys, put_columns, cleared_columns, key_ranges";

fn job_from_row(mut r: mysql_async::Row) -> BootstrapJob {
    BootstrapJob {
        id: r.take(0).unwrap_or_default(),
        database: r.take(1).unwrap_or_default(),
        table: r.take(2).unwrap_or_default(),
        where_clause: r.take(3).unwrap_or_default(),
        status: r.take(4).unwrap_or_default(),
        locking_mode: r.take(5).unwrap_or_default(),
        last_key: r.take(6).unwrap_or_default(),
        chunks_done: r.take(7).unwrap_or_default(),
        rows_done: r.take(8).unwrap_or_default(),
        rows_total: r.take(9).unwrap_or_default(),
        lock_held_ms: r.take(10).unwrap_or_default(),
        error: r.take(11).unwrap_or_default(),
        cleanup: r.take::<u8, _>(12).unwrap_or_default() != 0,
        cleaned: r.take::<u8, _>(13).unwrap_or_default() != 0,
        extras_key: r.take(14).unwrap_or_default(),
        ddl_position: r.take(15).unwrap_or_default(),
        repair_keys: r
            .take::<Option<String>, _>(16)
            .flatten()
            .and_then(|t| RepairKey::from_json(&t)),
        columns: {
            let list =
                |text: Option<String>| -> Option<Vec<String>> { serde_json::from_str(&text?).ok() };
            let put = list(r.take::<Option<String>, _>(17).flatten());
            let cleared = list(r.take::<Option<String>, _>(18).flatten());
            (put.is_some() || cleared.is_some()).then(|| ColumnChange {
                put: put.unwrap_or_default(),
                cleared: cleared.unwrap_or_default(),
            })
        },
        key_ranges: r.take::<Option<String>, _>(19).flatten(),
    }
}

impl StateStore {
    /// Resolves when this process added a job since the last call (the bootstrap scheduler
    /// starts it at once instead of at its next look).
    pub async fn job_added(&self) {
        self.jobs_added.notified().await
    }

    /// Records a bootstrap request; the daemon picks up pending jobs.
    pub async fn create_job(
        &self,
        db: &str,
        table: &str,
        where_clause: Option<&str>,
        status: &str,
        error: Option<&str>,
    ) -> Result<u64> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO bootstrap_jobs (database_name, table_name, where_clause, status, error) VALUES (?, ?, ?, ?, ?)",
            (db, table, where_clause, status, error),
        )
        .await?;
        self.jobs_added.notify_one();
        Ok(conn.last_insert_id().unwrap_or_default())
    }

    /// First start (or a re-bootstrap): the checkpoint and one cleanup job per table,
    /// atomically, so a crash in between cannot leave a checkpoint without its bootstraps. Each
    /// job writes every row as a whole-row replace and then deletes the rows HBase has and MySQL
    /// has not, so nothing left from an earlier life (or written by another tool) survives.
    pub async fn start_with_bootstraps(
        &self,
        cp: &Checkpoint,
        tables: &[(String, String)],
    ) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        let mut tx = conn.start_transaction(Default::default()).await?;
        for (db, table) in tables {
            tx.exec_drop(
                "INSERT INTO bootstrap_jobs (database_name, table_name, cleanup) VALUES (?, ?, 1)",
                (db, table),
            )
            .await?;
        }
        super::store_checkpoint(&mut tx, self.server_id, cp).await?;
        tx.commit().await?;
        Ok(())
    }

    /// One cleanup job per table (tables written by an older version scheme), unless one is
    /// open already.
    pub async fn create_cleanup_jobs(&self, tables: &[(String, String)]) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        for (db, table) in tables {
            conn.exec_drop(
                "INSERT INTO bootstrap_jobs (database_name, table_name, cleanup) \
                 SELECT ?, ?, 1 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM bootstrap_jobs \
                 WHERE database_name = ? AND table_name = ? AND cleanup = 1 AND status IN ('pending', 'running'))",
                (db, table, db, table),
            )
            .await?;
        }
        Ok(())
    }

    /// A resync after the DDL at `position`. A replay of the same DDL (after a restart from a
    /// checkpoint before it) starts its job over: the replay rewrote the rows before the DDL.
    pub async fn create_resync_job(
        &self,
        db: &str,
        table: &str,
        position: &BinlogPosition,
    ) -> Result<u64> {
        self.create_ddl_job(db, table, position, None).await
    }

    /// Records a backfill of `change`'s columns of `db.table` after the DDL at `position`
    /// (a replay of the DDL after a restart starts the same job over); returns its id.
    pub async fn create_backfill_job(
        &self,
        db: &str,
        table: &str,
        position: &BinlogPosition,
        change: &ColumnChange,
    ) -> Result<u64> {
        self.create_ddl_job(db, table, position, Some(change)).await
    }

    /// The job a DDL at `position` needs: a whole-table resync (`columns` `None`, with a
    /// cleanup) or a backfill of some columns. One of each kind per DDL: a replay finds it and
    /// starts it over.
    async fn create_ddl_job(
        &self,
        db: &str,
        table: &str,
        position: &BinlogPosition,
        columns: Option<&ColumnChange>,
    ) -> Result<u64> {
        let mut conn = self.pool.get_conn().await?;
        let at = position.to_string();
        let kind = match columns {
            None => "put_columns IS NULL AND cleared_columns IS NULL",
            Some(_) => "(put_columns IS NOT NULL OR cleared_columns IS NOT NULL)",
        };
        let existing: Option<u64> = conn
            .exec_first(
                format!(
                    "SELECT id FROM bootstrap_jobs WHERE database_name = ? AND table_name = ? \
                     AND ddl_position = ? AND {kind}"
                ),
                (db, table, &at),
            )
            .await?;
        if let Some(id) = existing {
            conn.exec_drop(
                "UPDATE bootstrap_jobs SET status = 'pending', last_key = NULL, key_ranges = NULL, chunks_done = 0, \
                 rows_done = 0, cleaned = 0, extras_key = NULL, error = NULL, finished_at = NULL WHERE id = ?",
                (id,),
            )
            .await?;
            self.jobs_added.notify_one();
            return Ok(id);
        }
        let json = |v: &[String]| serde_json::to_string(v).expect("strings serialize");
        conn.exec_drop(
            "INSERT INTO bootstrap_jobs (database_name, table_name, cleanup, ddl_position, put_columns, cleared_columns) \
             VALUES (?, ?, ?, ?, ?, ?)",
            (
                db,
                table,
                columns.is_none(),
                &at,
                columns.map(|c| json(&c.put)),
                columns.map(|c| json(&c.cleared)),
            ),
        )
        .await?;
        self.jobs_added.notify_one();
        Ok(conn.last_insert_id().unwrap_or_default())
    }

    /// A repair of exactly `keys` of `db.table`, for the daemon to write in stream order.
    pub async fn create_repair_job(
        &self,
        db: &str,
        table: &str,
        keys: &[RepairKey],
    ) -> Result<u64> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO bootstrap_jobs (database_name, table_name, repair_keys) VALUES (?, ?, ?)",
            (db, table, RepairKey::to_json(keys)),
        )
        .await?;
        self.jobs_added.notify_one();
        Ok(conn.last_insert_id().unwrap_or_default())
    }

    /// The cleanup looked at every HBase row up to `key` (hex).
    pub async fn job_cleanup_progress(&self, id: u64, key: &str) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE bootstrap_jobs SET extras_key = ? WHERE id = ?",
            (key, id),
        )
        .await?;
        Ok(())
    }

    /// The cleanup is done; a restart does not repeat it.
    pub async fn job_cleaned(&self, id: u64) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop("UPDATE bootstrap_jobs SET cleaned = 1 WHERE id = ?", (id,))
            .await?;
        Ok(())
    }

    /// Whether a job copied every row of `db.table` into HBase (a bootstrap, re-bootstrap or
    /// resync of the whole table that completed): since then the stream keeps HBase equal to
    /// MySQL, so a backfill of some columns finds every row's other cells in place.
    pub async fn table_copied(&self, db: &str, table: &str) -> Result<bool> {
        let mut conn = self.pool.get_conn().await?;
        let found: Option<u64> = conn
            .exec_first(
                "SELECT id FROM bootstrap_jobs WHERE database_name = ? AND table_name = ? \
                 AND status = 'complete' AND repair_keys IS NULL AND put_columns IS NULL \
                 AND cleared_columns IS NULL AND (where_clause IS NULL OR where_clause = '') LIMIT 1",
                (db, table),
            )
            .await?;
        Ok(found.is_some())
    }

    pub async fn job(&self, id: u64) -> Result<Option<BootstrapJob>> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<mysql_async::Row> = conn
            .exec_first(
                format!("SELECT {JOB_COLUMNS} FROM bootstrap_jobs WHERE id = ?"),
                (id,),
            )
            .await?;
        Ok(row.map(job_from_row))
    }

    /// Jobs to run: pending ones, and running ones a previous process did not finish.
    pub async fn open_jobs(&self) -> Result<Vec<BootstrapJob>> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<mysql_async::Row> = conn
            .query(format!(
                "SELECT {JOB_COLUMNS} FROM bootstrap_jobs WHERE status IN ('pending', 'running') ORDER BY id"
            ))
            .await?;
        Ok(rows.into_iter().map(job_from_row).collect())
    }

    /// The latest jobs, newest first.
    pub async fn recent_jobs(&self, limit: u32) -> Result<Vec<BootstrapJob>> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<mysql_async::Row> = conn
            .exec(
                format!("SELECT {JOB_COLUMNS} FROM bootstrap_jobs ORDER BY id DESC LIMIT ?"),
                (limit,),
            )
            .await?;
        Ok(rows.into_iter().map(job_from_row).collect())
    }

    pub async fn job_started(
        &self,
        id: u64,
        locking_mode: &str,
        rows_total: Option<u64>,
    ) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE bootstrap_jobs SET status = 'running', locking_mode = ?, rows_total = ?, error = NULL, \
             started_at = COALESCE(started_at, CURRENT_TIMESTAMP(3)) WHERE id = ?",
            (locking_mode, rows_total, id),
        )
        .await?;
        Ok(())
    }

    /// Progress after chunks are in HBase: a restart resumes each key range where
    /// `key_ranges` says. Also stores the ranges before the first chunk (`0` chunks).
    pub async fn job_progress(
        &self,
        id: u64,
        key_ranges: &str,
        chunks: u64,
        rows: u64,
    ) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE bootstrap_jobs SET key_ranges = ?, chunks_done = chunks_done + ?, rows_done = rows_done + ? WHERE id = ?",
            (key_ranges, chunks, rows, id),
        )
        .await?;
        Ok(())
    }

    pub async fn job_snapshot_position(
        &self,
        id: u64,
        position: &BinlogPosition,
        lock_held_ms: Option<u64>,
    ) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE bootstrap_jobs SET snapshot_file = ?, snapshot_pos = ?, lock_held_ms = COALESCE(?, lock_held_ms) WHERE id = ?",
            (position.file(), position.offset(), lock_held_ms, id),
        )
        .await?;
        Ok(())
    }

    pub async fn job_finished(&self, id: u64, error: Option<&str>) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE bootstrap_jobs SET status = ?, error = ?, finished_at = CURRENT_TIMESTAMP(3) WHERE id = ?",
            (if error.is_some() { "failed" } else { "complete" }, error, id),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_keys_round_trip_through_json() {
        let keys = vec![
            RepairKey {
                key: b"a\\|b|1".to_vec(),
                pk: Some(vec![b"a|b".to_vec(), b"1".to_vec()]),
            },
            RepairKey {
                key: vec![0, 255],
                pk: None,
            },
        ];
        assert_eq!(
            RepairKey::from_json(&RepairKey::to_json(&keys)).unwrap(),
            keys
        );
        assert_eq!(RepairKey::from_json("[{\"key\": \"zz\"}]"), None);
    }
}
