//! The state store: a schema (`[state] database`) on the source server or on `[state] url`,
//! holding the checkpoint, bootstrap jobs, schema history and per-table state.
//!
//! Migrations in `migrations/` are embedded at build time and applied in version order by
//! refinery (history in `refinery_schema_history`), by `mysql2hbase migrate` and at `run` start.

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

mod jobs;
mod schemas;

pub use self::jobs::{BootstrapJob, ColumnChange, RepairKey};
pub use self::schemas::SchemaEntry;

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
    /// The server the position belongs to (`uuid:...` or `server_id:...`, see
    /// `source::mysql::source_id`); `None` when stored by an older version.
    pub source_id: Option<String>,
    /// What the position's binlog file began with (see `source::binlog::origin`); `None` when
    /// not known yet.
    pub file_origin: Option<String>,
    /// The highest HBase version written so far (see `model::version`); `None` when stored by
    /// a version of the service with binlog-derived versions.
    pub highest_version: Option<i64>,
}

/// `checkpoint`'s columns: file, position, GTID set, source id, file origin.
type CheckpointRow = (
    String,
    u64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Handle on the state schema.
#[derive(Clone)]
pub struct StateStore {
    pool: Pool,
    /// Our replica id: the checkpoint row's key.
    server_id: u32,
    /// The state schema's name.
    database: String,
    /// Woken when this process adds a job, so the bootstrap scheduler starts it at once.
    jobs_added: std::sync::Arc<tokio::sync::Notify>,
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
            jobs_added: Default::default(),
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
        let row: Option<CheckpointRow> = conn
            .exec_first(
                "SELECT binlog_file, binlog_pos, gtid_set, source_id, file_origin, highest_version FROM checkpoint WHERE server_id = ?",
                (self.server_id,),
            )
            .await?;
        let Some((file, pos, gtid_set, source_id, file_origin, highest_version)) = row else {
            return Ok(None);
        };
        let position = BinlogPosition::new(file, pos).map_err(|e| {
            SyncError::State(format!(
                "the stored checkpoint is not a binlog position: {e}; delete the row of server_id {} from `{}`.checkpoint to start over",
                self.server_id, self.database
            ))
        })?;
        Ok(Some(Checkpoint {
            position,
            gtid_set,
            source_id,
            file_origin,
            highest_version,
        }))
    }

    pub async fn store_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        store_checkpoint(&mut conn, self.server_id, cp).await
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

    /// Remembers captured tables (`table_state`, state `streaming` unless already known), so a
    /// `DROP DATABASE` can name the tables it took: MySQL no longer can.
    pub async fn register_tables(&self, tables: &[(String, String)]) -> Result<()> {
        if tables.is_empty() {
            return Ok(());
        }
        let mut conn = self.pool.get_conn().await?;
        conn.exec_batch(
            "INSERT IGNORE INTO table_state (database_name, table_name, state) VALUES (?, ?, 'streaming')",
            tables.iter().map(|(db, t)| (db.as_str(), t.as_str())),
        )
        .await?;
        Ok(())
    }

    /// The tables of `db` ever captured (see [`Self::register_tables`]); every database's with
    /// `None`.
    pub async fn known_tables(&self, db: Option<&str>) -> Result<Vec<(String, String)>> {
        let mut conn = self.pool.get_conn().await?;
        Ok(conn
            .exec(
                "SELECT database_name, table_name FROM table_state WHERE ? IS NULL OR database_name = ? \
                 ORDER BY database_name, table_name",
                (db, db),
            )
            .await?)
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

async fn store_checkpoint(
    conn: &mut impl Queryable,
    server_id: u32,
    cp: &Checkpoint,
) -> Result<()> {
    conn.exec_drop(
        "INSERT INTO checkpoint (server_id, binlog_file, binlog_pos, gtid_set, source_id, file_origin, \
         highest_version) VALUES (?, ?, ?, ?, ?, ?, ?) \
         ON DUPLICATE KEY UPDATE binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos), \
         gtid_set = VALUES(gtid_set), source_id = VALUES(source_id), file_origin = VALUES(file_origin), \
         highest_version = VALUES(highest_version)",
        (
            server_id,
            cp.position.file(),
            cp.position.offset(),
            &cp.gtid_set,
            &cp.source_id,
            &cp.file_origin,
            cp.highest_version,
        ),
    )
    .await?;
    Ok(())
}
