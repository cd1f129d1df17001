//! The dead-letter output: a JSON-lines file (`[dead_letter] path`) or a Kafka topic
//! (`[dead_letter] topic`, on `[kafka] brokers`) of the changes that cannot be written to HBase,
//! so nothing is dropped silently: rows of captured tables without a row key (no primary key and
//! no `row_key` override), rows with a cell over `hbase.max_cell_bytes` (streamed, or read by a
//! bootstrap, resync or repair: type `bootstrap-insert`), and rows that cannot be decoded
//! (type `undecodable`, with the reason and no images) or keyed. Each record carries the
//! table, the binlog position, the reason, the operation, the HBase row key when known (`key`;
//! that row was deleted from HBase, see `core::router`) and the row (before and after images),
//! with values as MySQL's text rendering (binary values as `{"base64": "..."}`).
//!
//! Records are flushed (Kafka: acknowledged) at every transaction end, before the checkpoint can
//! pass them, and before a bootstrap chunk's barrier, before its job can store the chunk as
//! done; a replay after a crash may write a record again (at-least-once).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};

use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::config::Config;
use crate::error::{Result, SyncError};
use crate::model::{BinlogPosition, SqlValue, TableSchema};

pub enum DeadLetter {
    File {
        path: String,
        out: BufWriter<File>,
    },
    Kafka {
        topic: String,
        producer: BaseProducer,
        /// Records sent since the last flush.
        unflushed: bool,
    },
}

impl DeadLetter {
    /// The configured output, if any.
    pub fn from_config(cfg: &Config) -> Result<Option<DeadLetter>> {
        match (&cfg.dead_letter.path, &cfg.dead_letter.topic) {
            (Some(path), _) => Self::open(path).map(Some),
            (None, Some(topic)) => {
                let kafka = cfg.kafka.as_ref().ok_or_else(|| {
                    SyncError::definite(
                        "[dead_letter] topic is set but there is no Kafka",
                        "add a [kafka] section with brokers, or use [dead_letter] path",
                    )
                })?;
                let producer = crate::sink::kafka::client_config(kafka)
                    .set("enable.idempotence", "true")
                    .create()
                    .map_err(|e| SyncError::Kafka(format!("dead-letter producer: {e}")))?;
                Ok(Some(DeadLetter::Kafka {
                    topic: topic.clone(),
                    producer,
                    unflushed: false,
                }))
            }
            (None, None) => Ok(None),
        }
    }

    /// Where records go, for messages.
    pub fn describe(&self) -> String {
        match self {
            DeadLetter::File { path, .. } => format!("the dead-letter file {path}"),
            DeadLetter::Kafka { topic, .. } => format!("the dead-letter topic {topic}"),
        }
    }

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
        Ok(DeadLetter::File {
            path: path.to_string(),
            out: BufWriter::new(file),
        })
    }

    /// A record of a change without a known row key (see [`DeadLetter::write`]).
    pub fn record(
        &mut self,
        schema: &TableSchema,
        position: &BinlogPosition,
        reason: &str,
        before: Option<&[SqlValue]>,
        after: Option<&[SqlValue]>,
    ) -> Result<()> {
        self.write(&Letter {
            schema,
            position,
            reason,
            op: None,
            key: None,
            before,
            after,
        })
    }

    /// Writes one record (made durable by [`DeadLetter::flush`]).
    pub fn write(&mut self, letter: &Letter<'_>) -> Result<()> {
        let Letter {
            schema,
            position,
            reason,
            before,
            after,
            ..
        } = *letter;
        let op = letter.op.unwrap_or(match (before, after) {
            (None, Some(_)) => "insert",
            (Some(_), Some(_)) => "update",
            (Some(_), None) => "delete",
            (None, None) => "undecodable",
        });
        let mut line = json!({
            "table": format!("{}.{}", schema.database, schema.table),
            "position": position.to_string(),
            "reason": reason,
            "type": op,
            "before": before.map(|r| row_json(schema, r)),
            "after": after.map(|r| row_json(schema, r)),
        });
        if let Some(key) = letter.key {
            line["key"] = text_json(key.to_vec());
        }
        let mut bytes = serde_json::to_vec(&line).expect("JSON values serialize");
        match self {
            DeadLetter::File { path, out } => {
                bytes.push(b'\n');
                out.write_all(&bytes).map_err(|e| io_error(path, e))?;
            }
            DeadLetter::Kafka {
                topic,
                producer,
                unflushed,
            } => {
                let key = line["table"].as_str().unwrap_or_default().to_string();
                producer
                    .send(BaseRecord::to(topic).key(&key).payload(&bytes))
                    .map_err(|(e, _)| {
                        SyncError::Kafka(format!("dead-letter topic {topic}: {e}"))
                    })?;
                *unflushed = true;
            }
        }
        crate::telemetry::metrics::METRICS.dead_letters.inc();
        Ok(())
    }

    /// Makes every record so far durable (file flushed, Kafka acknowledged).
    pub fn flush(&mut self) -> Result<()> {
        match self {
            DeadLetter::File { path, out } => out.flush().map_err(|e| io_error(path, e)),
            DeadLetter::Kafka {
                topic,
                producer,
                unflushed,
            } => {
                if std::mem::take(unflushed) {
                    tokio::task::block_in_place(|| producer.flush(Duration::from_secs(30)))
                        .map_err(|e| SyncError::Kafka(format!("dead-letter topic {topic}: {e}")))?;
                }
                Ok(())
            }
        }
    }
}

/// One dead-letter record.
pub struct Letter<'a> {
    pub schema: &'a TableSchema,
    pub position: &'a BinlogPosition,
    pub reason: &'a str,
    /// The record's `type`; `None`: from the images (`insert`, `update`, `delete`, or
    /// `undecodable` without either).
    pub op: Option<&'a str>,
    /// The row's HBase row key, when known.
    pub key: Option<&'a [u8]>,
    pub before: Option<&'a [SqlValue]>,
    pub after: Option<&'a [SqlValue]>,
}

fn row_json(schema: &TableSchema, row: &[SqlValue]) -> Value {
    let mut map = Map::new();
    for (col, v) in schema.columns.iter().zip(row) {
        map.insert(col.name.clone(), v.to_text().map_or(Value::Null, text_json));
    }
    Value::Object(map)
}

/// UTF-8 text as a string, other bytes as `{"base64": "..."}`.
fn text_json(bytes: Vec<u8>) -> Value {
    match String::from_utf8(bytes) {
        Ok(text) => Value::String(text),
        Err(e) => {
            json!({ "base64": base64::engine::general_purpose::STANDARD.encode(e.as_bytes()) })
        }
    }
}

fn io_error(path: &str, e: std::io::Error) -> SyncError {
    // Transient: a full disk may be freed; the restart strategy retries from the checkpoint.
    SyncError::transient(format!(
        "cannot write the dead-letter file {path}: {e}; fix [dead_letter] path or free the disk"
    ))
}
