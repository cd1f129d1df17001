//! The state store: a schema (`[state] database`) on the source server or on `[state] url`,
//! holding the checkpoint, bootstrap jobs, schema history and per-table state.
//!
//! Migrations in `migrations/` are embedded at build time and applied in version order by
//! refinery (history in `refinery_schema_history`), by `mysql2hbase migrate` and at `run` start.

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use crate::config::Config;
use crate::error::{Result, SyncError};
use crate::model::BinlogPosition;
use crate::source::mysql::{self as my, quote_identifier};

refinery::embed_migrations!("migrations");

/// The stored checkpoint: everything before `position` is acknowledged by every sink.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checkpoint {
    pub position: BinlogPosition,
    pub gtid_set: Option<String>,
}

/// Handle on the state schema.
#[derive(Clone)]
pub struct StateStore {
    pool: Pool,
    /// Our replica id: the checkpoint row's key.
    server_id: u32,
    /// The state schema's name.
    database: String,
}

impl StateStore {
    /// Connects, creating the schema when missing. Does not migrate.
    pub async fn connect(cfg: &Config) -> Result<StateStore> {
        let url = cfg.state_url();
        let mut conn = my::connect(url, &cfg.mysql, None).await?;
        conn.query_drop(format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            quote_identifier(&cfg.state.database)
        ))
        .await
        .map_err(|e| {
            SyncError::State(format!(
                "cannot create the state schema `{}`: {e}; grant CREATE on it or create it by hand",
                cfg.state.database
            ))
        })?;
        drop(conn);
        Ok(StateStore {
            pool: my::pool(url, &cfg.mysql, Some(&cfg.state.database))?,
            server_id: cfg.mysql.server_id,
            database: cfg.state.database.clone(),
        })
    }

    /// Connects and applies pending migrations; returns the names of those applied now.
    pub async fn connect_and_migrate(cfg: &Config) -> Result<(StateStore, Vec<String>)> {
        let store = Self::connect(cfg).await?;
        let applied = store.migrate().await?;
        Ok((store, applied))
    }

    /// Applies pending migrations; a named lock keeps concurrent callers (a daemon and a CLI
    /// command starting together) from applying the same migration twice.
    pub async fn migrate(&self) -> Result<Vec<String>> {
        let mut guard = self.pool.get_conn().await?;
        let lock_name = format!("mysql2hbase_migrate_{}", self.database);
        let locked: Option<i64> = guard
            .exec_first("SELECT GET_LOCK(?, 60)", (&lock_name,))
            .await?;
        if locked != Some(1) {
            return Err(SyncError::State(format!(
                "another process has been migrating the state schema `{}` for 60 s",
                self.database
            )));
        }
        let mut pool = self.pool.clone();
        let result = migrations::runner().run_async(&mut pool).await;
        let _ = guard.exec_drop("DO RELEASE_LOCK(?)", (&lock_name,)).await;
        let report = result.map_err(|e| SyncError::State(format!("migration failed: {e}")))?;
        Ok(report
            .applied_migrations()
            .iter()
            .map(|m| m.to_string())
            .collect())
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub async fn load_checkpoint(&self) -> Result<Option<Checkpoint>> {
        let mut conn = self.pool.get_conn().await?;
        let row: Option<(String, u64, Option<String>)> = conn
            .exec_first(
                "SELECT binlog_file, binlog_pos, gtid_set FROM checkpoint WHERE server_id = ?",
                (self.server_id,),
            )
            .await?;
        let Some((file, pos, gtid_set)) = row else {
            return Ok(None);
        };
        let position = BinlogPosition::new(file, pos).map_err(|e| {
            SyncError::State(format!(
                "the stored checkpoint is not a binlog position: {e}; delete the row of server_id {} from `{}`.checkpoint to start over",
                self.server_id, self.database
            ))
        })?;
        Ok(Some(Checkpoint { position, gtid_set }))
    }

    pub async fn store_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO checkpoint (server_id, binlog_file, binlog_pos, gtid_set) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos), \
             gtid_set = VALUES(gtid_set)",
            (self.server_id, cp.position.file(), cp.position.offset(), &cp.gtid_set),
        )
        .await?;
        Ok(())
    }

    /// Forgets the checkpoint: the next start behaves like a first start.
    pub async fn reset_checkpoint(&self) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "DELETE FROM checkpoint WHERE server_id = ?",
            (self.server_id,),
        )
        .await?;
        Ok(())
    }

    /// Tables currently stopped, with their reasons.
    pub async fn stopped_tables(&self) -> Result<Vec<(String, String, Option<String>)>> {
        let mut conn = self.pool.get_conn().await?;
        Ok(conn
            .query(
                "SELECT database_name, table_name, reason FROM table_state WHERE state = 'stopped'",
            )
            .await?)
    }
}

/// A row of `bootstrap_jobs`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BootstrapJob {
    pub id: u64,
    pub database: String,
    pub table: String,
    pub where_clause: Option<String>,
    /// For resyncs after DDL: delete the table's HBase rows at this version first.
    pub purge_version: Option<i64>,
    /// Whether the purge is done (a restart does not repeat it).
    pub purged: bool,
    /// pending | running | complete | failed
    pub status: String,
    pub locking_mode: Option<String>,
    /// JSON array of the hex-encoded row-key column values of the last finished chunk.
    pub last_key: Option<String>,
    pub chunks_done: u64,
    pub rows_done: u64,
    pub rows_total: Option<u64>,
    pub lock_held_ms: Option<u64>,
    pub error: Option<String>,
}

const JOB_COLUMNS: &str =
    "id, database_name, table_name, where_clause, status, locking_mode, last_key, \
                           chunks_done, rows_done, rows_total, lock_held_ms, error, purge_version, purged";

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
        purge_version: r.take(12).unwrap_or_default(),
        purged: r.take::<u8, _>(13).unwrap_or_default() != 0,
    }
}

impl StateStore {
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
        Ok(conn.last_insert_id().unwrap_or_default())
    }

    /// First start (or a restart after the checkpoint's binlog was purged): the checkpoint and
    /// one resync job per table, atomically, so a crash in between cannot leave a checkpoint
    /// without its bootstraps. Each job first deletes what HBase holds of its table as of the
    /// start (`purge_version`), so rows deleted while nothing was streaming do not survive.
    pub async fn start_with_bootstraps(
        &self,
        cp: &Checkpoint,
        purge_version: i64,
        tables: &[(String, String)],
    ) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        let mut tx = conn.start_transaction(Default::default()).await?;
        for (db, table) in tables {
            tx.exec_drop(
                "INSERT INTO bootstrap_jobs (database_name, table_name, purge_version) VALUES (?, ?, ?)",
                (db, table, purge_version),
            )
            .await?;
        }
        tx.exec_drop(
            "INSERT INTO checkpoint (server_id, binlog_file, binlog_pos, gtid_set) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos), \
             gtid_set = VALUES(gtid_set)",
            (self.server_id, cp.position.file(), cp.position.offset(), &cp.gtid_set),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A resync after DDL at `version`; a replay of the same DDL finds the job already there.
    pub async fn create_resync_job(&self, db: &str, table: &str, version: i64) -> Result<u64> {
        let mut conn = self.pool.get_conn().await?;
        let existing: Option<u64> = conn
            .exec_first(
                "SELECT id FROM bootstrap_jobs WHERE database_name = ? AND table_name = ? AND purge_version = ?",
                (db, table, version),
            )
            .await?;
        if let Some(id) = existing {
            return Ok(id);
        }
        conn.exec_drop(
            "INSERT INTO bootstrap_jobs (database_name, table_name, purge_version) VALUES (?, ?, ?)",
            (db, table, version),
        )
        .await?;
        Ok(conn.last_insert_id().unwrap_or_default())
    }

    /// The resync's HBase rows are deleted; a restart does not delete them again.
    pub async fn job_purged(&self, id: u64) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop("UPDATE bootstrap_jobs SET purged = 1 WHERE id = ?", (id,))
            .await?;
        Ok(())
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

    /// Progress after a chunk is in HBase: a restart resumes after `last_key`.
    pub async fn job_progress(
        &self,
        id: u64,
        last_key: &str,
        chunks: u64,
        rows: u64,
    ) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "UPDATE bootstrap_jobs SET last_key = ?, chunks_done = chunks_done + ?, rows_done = rows_done + ? WHERE id = ?",
            (last_key, chunks, rows, id),
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
