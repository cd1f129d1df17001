//! What the router asks of the servers besides the binlog: table schemas where the binlog does
//! not describe them fully (now, and as recorded in the schema history), which columns hold
//! JSON (for change events), where to record a
//! resync job, and which tables were ever captured (a `DROP DATABASE` names none). The
//! pipeline gives it [`ServerCatalog`] (the source server and the state store); the router's
//! unit tests give it a fixed table list.

use std::collections::HashSet;

use crate::error::Result;
use crate::model::{BinlogPosition, TableSchema};
use crate::source::{mysql as my, schema};
use crate::state::{ColumnChange, SchemaEntry, StateStore};

#[allow(async_fn_in_trait)]
pub trait Catalog {
    /// The table's schema from `information_schema` now; `None` when it does not exist.
    async fn table_schema(&self, db: &str, table: &str) -> Result<Option<TableSchema>>;

    /// The table's schema from `information_schema` now, and the binlog position then (read
    /// after the schema: the schema holds for every position up to there that no DDL of the
    /// table follows); `None` when the table does not exist.
    async fn schema_now(
        &self,
        db: &str,
        table: &str,
    ) -> Result<Option<(TableSchema, BinlogPosition)>>;

    /// The schema history's entry for `db.table` at the latest position at or before `at`
    /// (before it only, with `strictly_before`).
    async fn schema_at(
        &self,
        db: &str,
        table: &str,
        at: &BinlogPosition,
        strictly_before: bool,
    ) -> Result<Option<SchemaEntry>>;

    /// Records a schema history entry (after `ddl`, when a DDL made it).
    async fn record_schema(&self, entry: &SchemaEntry, ddl: Option<&str>) -> Result<()>;

    /// The columns of `db.table` holding JSON documents (MariaDB's JSON is LONGTEXT).
    async fn json_columns(&self, db: &str, table: &str) -> Result<HashSet<String>>;

    /// Records a resync job for `db.table` after the DDL at `position`; returns its id.
    async fn record_resync(&self, db: &str, table: &str, position: &BinlogPosition) -> Result<u64>;

    /// Records a backfill of `change`'s columns of `db.table` after the DDL at `position`;
    /// returns its id.
    async fn record_backfill(
        &self,
        db: &str,
        table: &str,
        position: &BinlogPosition,
        change: &ColumnChange,
    ) -> Result<u64>;

    /// Whether job `id` is still to run or running (not complete, not failed).
    async fn job_open(&self, id: u64) -> Result<bool>;

    /// Whether a completed job copied every row of `db.table` into HBase.
    async fn table_copied(&self, db: &str, table: &str) -> Result<bool>;

    /// Remembers a captured table, for [`Catalog::known_tables`].
    async fn register_table(&self, db: &str, table: &str) -> Result<()>;

    /// Every table ever captured, of `db` only with `Some`.
    async fn known_tables(&self, db: Option<&str>) -> Result<Vec<(String, String)>>;
}

/// The real servers.
pub struct ServerCatalog {
    pub source: mysql_async::Pool,
    pub store: StateStore,
}

impl Catalog for ServerCatalog {
    async fn table_schema(&self, db: &str, table: &str) -> Result<Option<TableSchema>> {
        let mut conn = self.source.get_conn().await?;
        schema::load_table_schema(&mut conn, db, table).await
    }

    async fn schema_now(
        &self,
        db: &str,
        table: &str,
    ) -> Result<Option<(TableSchema, BinlogPosition)>> {
        let mut conn = self.source.get_conn().await?;
        let Some(schema) = schema::load_table_schema(&mut conn, db, table).await? else {
            return Ok(None);
        };
        let (head, _) = my::current_position(&mut conn).await?;
        Ok(Some((schema, head)))
    }

    async fn schema_at(
        &self,
        db: &str,
        table: &str,
        at: &BinlogPosition,
        strictly_before: bool,
    ) -> Result<Option<SchemaEntry>> {
        self.store.schema_at(db, table, at, strictly_before).await
    }

    async fn record_schema(&self, entry: &SchemaEntry, ddl: Option<&str>) -> Result<()> {
        self.store.record_schema(entry, ddl).await
    }

    async fn json_columns(&self, db: &str, table: &str) -> Result<HashSet<String>> {
        let mut conn = self.source.get_conn().await?;
        schema::json_columns(&mut conn, db, table).await
    }

    async fn record_resync(&self, db: &str, table: &str, position: &BinlogPosition) -> Result<u64> {
        self.store.create_resync_job(db, table, position).await
    }

    async fn record_backfill(
        &self,
        db: &str,
        table: &str,
        position: &BinlogPosition,
        change: &ColumnChange,
    ) -> Result<u64> {
        self.store
            .create_backfill_job(db, table, position, change)
            .await
    }

    async fn job_open(&self, id: u64) -> Result<bool> {
        Ok(self
            .store
            .job(id)
            .await?
            .is_some_and(|j| matches!(j.status.as_str(), "pending" | "running")))
    }

    async fn table_copied(&self, db: &str, table: &str) -> Result<bool> {
        self.store.table_copied(db, table).await
    }

    async fn register_table(&self, db: &str, table: &str) -> Result<()> {
        self.store
            .register_tables(&[(db.to_string(), table.to_string())])
            .await
    }

    async fn known_tables(&self, db: Option<&str>) -> Result<Vec<(String, String)>> {
        self.store.known_tables(db).await
    }
}
