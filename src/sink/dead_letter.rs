//! The dead-letter output (`[dead_letter] path`): a JSON-lines file of the changes that cannot be
//! written to HBase, so nothing is dropped silently: rows of captured tables without a row key
//! (no primary key and no `row_key` override), rows with a cell over `hbase.max_cell_bytes`, and
//! rows that cannot be decoded or keyed (type `undecodable`, with the reason and no images). Each record carries the table, the binlog
//! position, the reason, the operation and the row (before and after images), with values as
//! MySQL's text rendering (binary values as `{"base64": "..."}`).
//!
//! Records are flushed at every transaction end, before the checkpoint can pass them; a replay
//! after a crash may append a record again (at-least-once).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};

use crate::error::{Result, SyncError};
use crate::source::decode::{SqlValue, TableSchema};
use crate::source::mysql::BinlogPosition;

pub struct DeadLetter {
    path: String,
    out: BufWriter<File>,
}

impl DeadLetter {
    pub fn open(path: &str) -> Result<DeadLetter> {
        if let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir).map_err(|e| io_error(path, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io_error(path, e))?;
        Ok(DeadLetter {
            path: path.to_string(),
            out: BufWriter::new(file),
        })
    }

    pub fn record(
        &mut self,
        schema: &TableSchema,
        position: &BinlogPosition,
        reason: &str,
        before: Option<&[SqlValue]>,
        after: Option<&[SqlValue]>,
    ) -> Result<()> {
        let op = match (before, after) {
            (None, Some(_)) => "insert",
            (Some(_), Some(_)) => "update",
            (Some(_), None) => "delete",
            (None, None) => "undecodable",
        };
        let line = json!({
            "table": format!("{}.{}", schema.database, schema.table),
            "position": position.to_string(),
            "reason": reason,
            "type": op,
            "before": before.map(|r| row_json(schema, r)),
            "after": after.map(|r| row_json(schema, r)),
        });
        serde_json::to_writer(&mut self.out, &line).map_err(|e| io_error(&self.path, e.into()))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| io_error(&self.path, e))?;
        crate::admin::metrics::METRICS.dead_letters.inc();
        Ok(())
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().map_err(|e| io_error(&self.path, e))
    }
}

fn row_json(schema: &TableSchema, row: &[SqlValue]) -> Value {
    let mut map = Map::new();
    for (col, v) in schema.columns.iter().zip(row) {
        let value = match v.to_text() {
            None => Value::Null,
            Some(bytes) => match String::from_utf8(bytes) {
                Ok(text) => Value::String(text),
                Err(e) => {
                    json!({ "base64": base64::engine::general_purpose::STANDARD.encode(e.as_bytes()) })
                }
            },
        };
        map.insert(col.name.clone(), value);
    }
    Value::Object(map)
}

fn io_error(path: &str, e: std::io::Error) -> SyncError {
    SyncError::Other(format!(
        "dead-letter file {path}: {e}; fix [dead_letter] path"
    ))
}
