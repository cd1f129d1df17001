//! Schemas where the binlog does not carry them: the schema history.
//!
//! With `binlog_row_metadata` below FULL (MySQL's MINIMAL default, MariaDB's NO_LOG), TABLE_MAP
//! events carry column types but no names, primary key, ENUM/SET labels or (NO_LOG) charsets.
//! Those must come from the schema in force at the event's position, which is not the one
//! `information_schema` shows now when the daemon catches up across DDLs (after a stop, or
//! behind a burst): `ADD COLUMN ... FIRST` would shift every value into the wrong column.
//!
//! The history (the state store's `schema_history`) holds entries E = (P, S, Q): the table's
//! schema S as of position P (a DDL of the table, or the first row event seen without an
//! entry), read from `information_schema` when the binlog's head was at most Q (the head is
//! read after the schema). S is the schema at P exactly when no other DDL of the table lies in
//! (P, Q): DDLs are applied before they reach the binlog, so S is the schema after every DDL
//! of the table up to Q.
//!
//! The router, for a table at position X:
//! - decodes with the latest entry E at or before X when the TABLE_MAP's column count and types
//!   agree with S;
//! - when they disagree and X < Q, a DDL of the table lies in (P, X]: E is not the schema here.
//!   The table's rows are not decoded until its next DDL (each skipped event counted in
//!   `mysql2hbase_row_events_resynced_total`), and a resync of the table is recorded at X. That
//!   resync reads every row after its recording, so at binlog positions past Q, and replaces
//!   every HBase row of the table after the stream has passed them: nothing skipped is lost;
//! - when they disagree and X >= Q, a DDL the router did not see changed the table: a definite
//!   error (it cannot happen while every DDL is followed);
//! - at a DDL of the table at P2 < Q of the entry in force (another DDL inside its window):
//!   rows in (P, P2) may have been decoded with a later schema whose types happened to agree
//!   (a renamed column, a changed charset): a resync of the table is recorded at P2, which
//!   rewrites every row as above. Then the entry (P2, now, head) is recorded and used.
//!
//! A position routed again after a restart finds its entry already recorded (the first one
//! read is kept: its Q is the lowest). With FULL metadata none of this decides anything: the
//! entries are recorded at DDLs (cheap: one `information_schema` read) but never read.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mysql_common::binlog::events::TableMapEvent;
use tracing::{info, warn};

use crate::core::catalog::Catalog;
use crate::core::ddl::{self, TableRef};
use crate::error::{Result, SyncError};
use crate::model::schema::type_kind;
use crate::model::{BinlogPosition, TableSchema};
use crate::source::decode;
use crate::state::SchemaEntry;
use crate::telemetry::metrics::METRICS;

use super::Router;

/// The router's view of the history.
#[derive(Default)]
pub(super) struct SchemaHistory {
    /// `db.table` -> the entry in force at the routed position.
    current: HashMap<String, SchemaEntry>,
    /// Tables whose schema at the routed position is not known: their rows are not decoded
    /// until their next DDL (a resync recorded before covers them).
    unknown: HashSet<String>,
    /// `db.table` -> its schema as of its last TABLE_MAP event since its last DDL: the schema
    /// before the next DDL, which a backfill compares with the one after.
    seen: HashMap<String, Arc<TableSchema>>,
    /// Backfills recorded by this router (`db.table` -> job), while they may still run: a
    /// later DDL of the table then resyncs it whole.
    backfills: HashMap<String, u64>,
}

impl SchemaHistory {
    /// After a DDL of `t`: its next TABLE_MAP event describes it anew.
    pub(super) fn forget_seen(&mut self, t: &TableRef) {
        self.seen.remove(&format!("{}.{}", t.db, t.table));
    }

    /// Remembers the schema of a TABLE_MAP event of captured table `source`.
    pub(super) fn saw(&mut self, source: &str, schema: &Arc<TableSchema>) {
        if !self
            .seen
            .get(source)
            .is_some_and(|s| Arc::ptr_eq(s, schema))
        {
            self.seen.insert(source.to_string(), schema.clone());
        }
    }
}

impl<C: Catalog> Router<C> {
    /// The schema of a TABLE_MAP event without column names, from the history; `None` when it
    /// is not known at this position (the table's rows are then skipped: a resync covers them).
    pub(super) async fn schema_from_history(
        &mut self,
        tme: &TableMapEvent<'_>,
        db: &str,
        table: &str,
    ) -> Result<Option<TableSchema>> {
        let source = format!("{db}.{table}");
        if self.schemas.unknown.contains(&source) {
            return Ok(None);
        }
        let position = self.position.clone();
        let entry = match self.schemas.current.get(&source) {
            Some(entry) => entry.clone(),
            None => match self.catalog.schema_at(db, table, &position, false).await? {
                Some(entry) => entry,
                None => match self.catalog.schema_now(db, table).await? {
                    Some((schema, read_at)) => {
                        let entry = SchemaEntry {
                            at: position.clone(),
                            read_at,
                            schema,
                        };
                        self.catalog.record_schema(&entry, None).await?;
                        entry
                    }
                    None => {
                        // Dropped since: what its rows were cannot be read any more.
                        self.schema_unknown(db, table, "the table no longer exists")
                            .await?;
                        return Ok(None);
                    }
                },
            },
        };
        self.schemas.current.insert(source.clone(), entry.clone());
        let decoded = decode::table_schema_with(tme, Some(&entry.schema))
            .ok()
            .filter(|schema| same_layout(schema, &entry.schema));
        match decoded {
            Some(schema) => Ok(Some(schema)),
            None if position < entry.read_at => {
                self.schema_unknown(
                    db,
                    table,
                    "its columns changed after the schema recorded for it",
                )
                .await?;
                Ok(None)
            }
            None => Err(SyncError::definite(
                format!(
                    "the table's TABLE_MAP event does not match its schema recorded at {} (a DDL the service did not follow changed it)",
                    entry.at
                ),
                "set binlog_row_metadata = FULL on the server, then resync the table (mysql2hbase bootstrap)",
            )
            .in_table(source)
            .at(&position)),
        }
    }

    /// Rows of `db.table` are not decoded from here until its next DDL; a resync covers them.
    async fn schema_unknown(&mut self, db: &str, table: &str, why: &str) -> Result<()> {
        let source = format!("{db}.{table}");
        warn!(table = %source, position = %self.position, "the table's schema at this binlog position is not known ({why}; binlog_row_metadata is not FULL): its rows are rewritten by a resync instead");
        self.schemas.unknown.insert(source);
        let position = self.position.clone();
        self.resync_tables(
            &[TableRef {
                db: db.to_string(),
                table: table.to_string(),
            }],
            &position,
            "the table's schema at this position is not known",
        )
        .await
    }

    /// Counts row events skipped because their schema is not known (see the module doc).
    pub(super) fn rows_resynced(&self, source: &str, events: u64) {
        METRICS
            .rows_resynced
            .with_label_values(&[source])
            .inc_by(events);
    }

    /// A DDL of captured table `t` at `position`: records the schema it leaves (see the module
    /// doc), resyncing the table when the DDL lies inside the previous entry's window.
    pub(super) async fn schema_changed(
        &mut self,
        t: &TableRef,
        position: &BinlogPosition,
        ddl: &str,
    ) -> Result<()> {
        if !self.filter.captures(&t.db, &t.table) {
            return Ok(());
        }
        let source = format!("{}.{}", t.db, t.table);
        let previous = match self.schemas.current.remove(&source) {
            Some(entry) => Some(entry),
            None => {
                self.catalog
                    .schema_at(&t.db, &t.table, position, true)
                    .await?
            }
        };
        let inside_window = previous.is_some_and(|e| *position < e.read_at);
        self.schemas.unknown.remove(&source);
        let entry = match self
            .catalog
            .schema_at(&t.db, &t.table, position, false)
            .await?
        {
            Some(entry) if entry.at == *position => Some(entry),
            _ => match self.catalog.schema_now(&t.db, &t.table).await? {
                Some((schema, read_at)) => {
                    let entry = SchemaEntry {
                        at: position.clone(),
                        read_at,
                        schema,
                    };
                    self.catalog.record_schema(&entry, Some(ddl)).await?;
                    Some(entry)
                }
                None => None, // dropped, or renamed away
            },
        };
        if let Some(entry) = entry {
            self.schemas.current.insert(source, entry);
        }
        // The resync last: its job may take the global read lock (`extended`), which the
        // writes above would wait for.
        if inside_window {
            self.resync_tables(
                std::slice::from_ref(t),
                position,
                "a DDL inside the window of the table's recorded schema (rows since may have been read with a later one)",
            )
            .await?;
        }
        Ok(())
    }
}

impl<C: Catalog> Router<C> {
    /// An `ALTER TABLE` of captured table `t` that may change stored values, at `position`:
    /// records a backfill of just the columns it changed when that is exact (see
    /// `core::ddl::columns`), else a whole-table resync. A backfill needs the schema before
    /// (the table's last TABLE_MAP since its last DDL), every row of the table in HBase (a
    /// completed whole-table job), and no job of the table running or waiting from this
    /// router: chunks a running job read before the DDL are not written
    /// (`ChangeTracker::table_changed`), which only a whole-table resync makes good.
    pub(super) async fn alter_table(
        &mut self,
        t: &TableRef,
        position: &BinlogPosition,
        ddl: &str,
    ) -> Result<()> {
        let source = format!("{}.{}", t.db, t.table);
        let before = self.schemas.seen.remove(&source);
        // Before any job is recorded: a job may hold the global read lock (`extended`), which
        // the schema history's writes would wait for while the job waits for the router.
        self.schema_changed(t, position, ddl).await?;
        let after = self.schemas.current.get(&source).map(|e| e.schema.clone());
        let mut busy = self.changes.tracks(&source);
        for jobs in [&self.unstarted_resyncs, &self.schemas.backfills] {
            if let Some(&job) = jobs.get(&source) {
                busy |= self.catalog.job_open(job).await?;
            }
        }
        let entry = self.cfg.mapping.tables.iter().find(|m| m.source == source);
        let mut key_columns: Vec<String> =
            entry.and_then(|m| m.row_key.clone()).unwrap_or_default();
        // A joined table's template columns place its cells as much as its row key does.
        key_columns.extend(entry.map(|m| m.template_columns()).unwrap_or_default());
        // A table never copied whole (`snapshot.mode = "never"`, created while streaming) may
        // lack rows in HBase: a backfill would write rows of just some columns.
        busy = busy || !self.catalog.table_copied(&t.db, &t.table).await?;
        let change = match (before, after, busy) {
            (Some(before), Some(after), false) => {
                ddl::column_change(&before, &after, &key_columns, &ddl::modified_columns(ddl))
            }
            _ => None,
        };
        let Some(change) = change else {
            METRICS.ddl.with_label_values(&[&source, "resync"]).inc();
            return self
                .resync_tables(
                    std::slice::from_ref(t),
                    position,
                    "DDL may change rows without row events",
                )
                .await;
        };
        METRICS.ddl.with_label_values(&[&source, "backfill"]).inc();
        let job = self
            .catalog
            .record_backfill(&t.db, &t.table, position, &change)
            .await?;
        self.schemas.backfills.insert(source.clone(), job);
        info!(job, table = %source, %position, put = ?change.put, cleared = ?change.cleared, "DDL changed some columns: backfilling just those");
        Ok(())
    }
}

/// Whether a TABLE_MAP's columns (decoded with `recorded`'s names) are laid out as `recorded`
/// says: the same count, and each column of the same kind (the binlog's type codes differ
/// between old and new temporal formats, and between string kinds).
fn same_layout(decoded: &TableSchema, recorded: &TableSchema) -> bool {
    decoded.columns.len() == recorded.columns.len()
        && decoded
            .columns
            .iter()
            .zip(&recorded.columns)
            .all(|(a, b)| type_kind(a.column_type) == type_kind(b.column_type))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnSchema;
    use mysql_common::constants::ColumnType;

    fn schema(types: &[ColumnType]) -> TableSchema {
        TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: types
                .iter()
                .enumerate()
                .map(|(i, &column_type)| ColumnSchema {
                    name: format!("c{i}"),
                    column_type,
                    meta: vec![],
                    unsigned: false,
                    collation: None,
                    enum_values: vec![],
                    set_values: vec![],
                })
                .collect(),
            primary_key: vec![0],
        }
    }

    #[test]
    fn layouts_compare_column_kinds() {
        use ColumnType::*;
        let recorded = schema(&[MYSQL_TYPE_LONG, MYSQL_TYPE_VARCHAR, MYSQL_TYPE_DATETIME2]);
        assert!(same_layout(
            &schema(&[MYSQL_TYPE_LONGLONG, MYSQL_TYPE_STRING, MYSQL_TYPE_DATETIME]),
            &recorded
        ));
        // ADD COLUMN ... FIRST: one more column.
        assert!(!same_layout(
            &schema(&[
                MYSQL_TYPE_LONG,
                MYSQL_TYPE_LONG,
                MYSQL_TYPE_VARCHAR,
                MYSQL_TYPE_DATETIME2
            ]),
            &recorded
        ));
        // MODIFY v DECIMAL: another kind.
        assert!(!same_layout(
            &schema(&[MYSQL_TYPE_LONG, MYSQL_TYPE_NEWDECIMAL, MYSQL_TYPE_DATETIME2]),
            &recorded
        ));
    }
}
