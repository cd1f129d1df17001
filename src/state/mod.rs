//! The state store: a schema (`[state] database`) on the source server or on `[state] url`,
//! holding the checkpoint, bootstrap jobs, schema history and per-table state.
//!
//! Migrations in `migrations/` are embedded at build time and applied in version order by
//! refinery (history in `refinery_schema_history`), by `mysql2hbase migrate` and at `run` start.

use mysql_async::prelude::Queryable;
use mysql_async::Pool;

use crate::config::Config;
use crate::error::{Result, SyncError};
use crate::source::mysql::{self as my, quote_identifier, BinlogPosition};

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
        })
    }

    /// Connects and applies pending migrations; returns the names of those applied now.
    pub async fn connect_and_migrate(cfg: &Config) -> Result<(StateStore, Vec<String>)> {
        let store = Self::connect(cfg).await?;
        let applied = store.migrate().await?;
        Ok((store, applied))
    }

    pub async fn migrate(&self) -> Result<Vec<String>> {
        let mut pool = self.pool.clone();
        let report = migrations::runner()
            .run_async(&mut pool)
            .await
            .map_err(|e| SyncError::State(format!("migration failed: {e}")))?;
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
        Ok(row.map(|(file, pos, gtid_set)| Checkpoint {
            position: BinlogPosition { file, pos },
            gtid_set,
        }))
    }

    pub async fn store_checkpoint(&self, cp: &Checkpoint) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO checkpoint (server_id, binlog_file, binlog_pos, gtid_set) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE binlog_file = VALUES(binlog_file), binlog_pos = VALUES(binlog_pos), \
             gtid_set = VALUES(gtid_set)",
            (self.server_id, &cp.position.file, cp.position.pos, &cp.gtid_set),
        )
        .await?;
        Ok(())
    }

    /// Forgets the checkpoint: the next start behaves like a first start.
    pub async fn reset_checkpoint(&self) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop("DELETE FROM checkpoint WHERE server_id = ?", (self.server_id,))
            .await?;
        Ok(())
    }

    /// Marks a table stopped (or streaming again) with the reason shown by `status`.
    pub async fn set_table_state(&self, db: &str, table: &str, state: &str, reason: Option<&str>) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        conn.exec_drop(
            "INSERT INTO table_state (database_name, table_name, state, reason) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE state = VALUES(state), reason = VALUES(reason)",
            (db, table, state, reason),
        )
        .await?;
        Ok(())
    }

    /// Tables currently stopped, with their reasons.
    pub async fn stopped_tables(&self) -> Result<Vec<(String, String, Option<String>)>> {
        let mut conn = self.pool.get_conn().await?;
        Ok(conn
            .query("SELECT database_name, table_name, reason FROM table_state WHERE state = 'stopped'")
            .await?)
    }
}
