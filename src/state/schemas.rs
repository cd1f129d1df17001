//! Schema history: captured tables' columns as of binlog positions, for servers whose TABLE_MAP
//! events do not carry column names (`binlog_row_metadata` below FULL). How the router uses it
//! is in `core::router::schemas`.

use mysql_async::prelude::Queryable;
use mysql_common::constants::ColumnType;
use serde_json::{json, Value};

use crate::error::{Result, SyncError};
use crate::model::{BinlogPosition, ColumnSchema, TableSchema};

use super::StateStore;

/// One recorded schema.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaEntry {
    /// The position it is the table's schema at (a DDL, or the first row event seen).
    pub at: BinlogPosition,
    /// The binlog's position when it was read, at the latest: it holds for `at` unless another
    /// DDL of the table lies between `at` and here.
    pub read_at: BinlogPosition,
    pub schema: TableSchema,
}

type EntryRow = (String, u64, Option<String>, Option<u64>, String);

impl StateStore {
    /// Records `entry` (one per table and position: a position routed again after a restart
    /// keeps the entry recorded the first time).
    pub async fn record_schema(&self, entry: &SchemaEntry, ddl: Option<&str>) -> Result<()> {
        let mut conn = self.pool.get_conn().await?;
        let s = &entry.schema;
        let exists: Option<u64> = conn
            .exec_first(
                "SELECT id FROM schema_history WHERE database_name = ? AND table_name = ? \
                 AND binlog_file = ? AND binlog_pos = ? LIMIT 1",
                (&s.database, &s.table, entry.at.file(), entry.at.offset()),
            )
            .await?;
        if exists.is_some() {
            return Ok(());
        }
        conn.exec_drop(
            "INSERT INTO schema_history (database_name, table_name, binlog_file, binlog_pos, \
             read_at_file, read_at_pos, columns_json, ddl) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                &s.database,
                &s.table,
                entry.at.file(),
                entry.at.offset(),
                entry.read_at.file(),
                entry.read_at.offset(),
                columns_json(s).to_string(),
                ddl,
            ),
        )
        .await?;
        Ok(())
    }

    /// The schema recorded for `db.table` at the latest position at or before `at` (before it
    /// only, with `strictly_before`).
    pub async fn schema_at(
        &self,
        db: &str,
        table: &str,
        at: &BinlogPosition,
        strictly_before: bool,
    ) -> Result<Option<SchemaEntry>> {
        let mut conn = self.pool.get_conn().await?;
        let rows: Vec<EntryRow> = conn
            .exec(
                "SELECT binlog_file, binlog_pos, read_at_file, read_at_pos, columns_json \
                 FROM schema_history WHERE database_name = ? AND table_name = ? ORDER BY id DESC",
                (db, table),
            )
            .await?;
        let mut best: Option<SchemaEntry> = None;
        for (file, pos, read_file, read_pos, columns) in rows {
            let entry_at = position(file, pos)?;
            let after = if strictly_before {
                entry_at >= *at
            } else {
                entry_at > *at
            };
            if after || best.as_ref().is_some_and(|b| b.at >= entry_at) {
                continue;
            }
            let read_at = match (read_file, read_pos) {
                (Some(f), Some(p)) => position(f, p)?,
                // Recorded without it: nothing says it held; treat it as read much later.
                _ => BinlogPosition::new(entry_at.file(), u64::MAX)
                    .map_err(|e| SyncError::State(e.to_string()))?,
            };
            let schema = parse_columns(db, table, &columns)?;
            best = Some(SchemaEntry {
                at: entry_at,
                read_at,
                schema,
            });
        }
        Ok(best)
    }
}

fn position(file: String, pos: u64) -> Result<BinlogPosition> {
    BinlogPosition::new(file, pos).map_err(|e| SyncError::State(format!("schema_history: {e}")))
}

fn columns_json(s: &TableSchema) -> Value {
    let columns: Vec<Value> = s
        .columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.column_type as u8,
                "meta": c.meta,
                "unsigned": c.unsigned,
                "collation": c.collation,
                "enum": c.enum_values,
                "set": c.set_values,
            })
        })
        .collect();
    json!({ "columns": columns, "primary_key": s.primary_key })
}

fn parse_columns(db: &str, table: &str, text: &str) -> Result<TableSchema> {
    let bad = |why: &str| {
        SyncError::State(format!(
            "schema_history of {db}.{table} cannot be read ({why}); delete its rows to read the schema again"
        ))
    };
    let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut columns = Vec::new();
    for c in v["columns"].as_array().ok_or_else(|| bad("no columns"))? {
        let code = c["type"].as_u64().ok_or_else(|| bad("no type"))?;
        let column_type = u8::try_from(code)
            .ok()
            .and_then(|t| ColumnType::try_from(t).ok())
            .ok_or_else(|| bad(&format!("type {code}")))?;
        columns.push(ColumnSchema {
            name: c["name"]
                .as_str()
                .ok_or_else(|| bad("no name"))?
                .to_string(),
            column_type,
            meta: c["meta"]
                .as_array()
                .map(|m| {
                    m.iter()
                        .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                        .collect()
                })
                .unwrap_or_default(),
            unsigned: c["unsigned"].as_bool().unwrap_or(false),
            collation: c["collation"].as_u64().and_then(|x| u16::try_from(x).ok()),
            enum_values: strings(&c["enum"]),
            set_values: strings(&c["set"]),
        });
    }
    let primary_key = v["primary_key"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i.as_u64().map(|i| i as usize))
                .collect()
        })
        .unwrap_or_default();
    Ok(TableSchema {
        database: db.to_string(),
        table: table.to_string(),
        columns,
        primary_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_round_trip_through_json() {
        let schema = TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: vec![
                ColumnSchema {
                    name: "id".into(),
                    column_type: ColumnType::MYSQL_TYPE_LONG,
                    meta: vec![],
                    unsigned: true,
                    collation: None,
                    enum_values: vec![],
                    set_values: vec![],
                },
                ColumnSchema {
                    name: "e".into(),
                    column_type: ColumnType::MYSQL_TYPE_ENUM,
                    meta: vec![247, 1],
                    unsigned: false,
                    collation: Some(45),
                    enum_values: vec!["x".into(), "y,z".into()],
                    set_values: vec![],
                },
            ],
            primary_key: vec![0],
        };
        let text = columns_json(&schema).to_string();
        assert_eq!(parse_columns("d", "t", &text).unwrap(), schema);
    }
}
