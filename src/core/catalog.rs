//! What the router asks of the servers besides the binlog: table schemas where the binlog does
//! not describe them fully, which columns hold JSON (for change events), where to record a
//! resync job, and which tables were ever captured (a `DROP DATABASE` names none). The
//! pipeline gives it [`ServerCatalog`] (the source server and the state store); the router's
//! unit tests give it a fixed table list.

use std::collections::HashSet;

use crate::error::Result;
use crate::model::{BinlogPosition, TableSchema};
use crate::source::schema;
use crate::state::StateStore;

#[allow(async_fn_in_trait)]
pub trait Catalog {
    /// The table's schema from `information_schema` now; `None` when it does not exist.
    async fn table_schema(&self, db: &str, table: &str) -> Result<Option<TableSchema>>;

    /// The columns of `db.table` holding JSON documents (MariaDB's JSON is LONGTEXT).
    async fn json_columns(&self, db: &str, table: &str) -> Result<HashSet<String>>;

    /// Records a resync job for `db.table` after the DDL at `position`; returns its id.
    async fn record_resync(&self, db: &str, table: &str, position: &BinlogPosition) -> Result<u64>;

    /// Whether job `id` is still to run or running (not complete, not failed).
    async fn job_open(&self, id: u64) -> Result<bool>;

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

    async fn json_columns(&self, db: &str, table: &str) -> Result<HashSet<String>> {
        let mut conn = self.source.get_conn().await?;
        schema::json_columns(&mut conn, db, table).await
    }

    async fn record_resync(&self, db: &str, table: &str, position: &BinlogPosition) -> Result<u64> {
        self.store.create_resync_job(db, table, position).await
    }

    async fn job_open(&self, id: u64) -> Result<bool> {
        Ok(self
            .store
            .job(id)
            .await?
            .is_some_and(|j| matches!(j.status.as_str(), "pending" | "running")))
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
