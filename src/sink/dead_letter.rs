//! The dead-letter output: a JSON-lines file (`[dead_letter] path`) or a Kafka topic
//! (`[dead_letter] topic`, on `[kafka] brokers`) of the changes that cannot be written to HBase,
//! so nothing is dropped silently: rows of captured tables without a row key (no primary key and
//! no `row_key` override), rows with a cell over `hbase.max_cell_bytes` (streamed, or read by a
//! bootstrap, resync or repair: type `bootstrap-insert`), and rows that cannot be decoded
//! (type `undecodable`, with the reason and no images) or keyed. Each record carries the
//! table, the binlog position, the reason, the operation, the HBase row key when known (`key`;
//! that row was deleted from HBase, see `core::router`) and the row (before and after images),
//! with values as MySQL's text rendering (binary values as `{"base64": "..."}`), without the
//! columns `capture.exclude_columns` keeps out of every output.
//!
//! Records are flushed (Kafka: acknowledged) at every transaction end, before the checkpoint can
//! pass them, and before a bootstrap chunk's barrier, before its job can store the chunk as
//! done; a record Kafka did not take fails the flush (and the pipeline restarts from the
//! checkpoint). A replay after a crash may write a record again (at-least-once).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use base64::Engine;
use serde_json::{json, Map, Value};

use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::config::{CaptureConfig, Config};
use crate::error::{Result, SyncError};
use crate::model::{BinlogPosition, SqlValue, TableSchema};

/// The dead-letter output, with the columns that must not leave the service
/// (`capture.exclude_columns`).
pub struct DeadLetter {
    output: Output,
    capture: CaptureConfig,
}

enum Output {
    File {
        path: String,
        out: BufWriter<File>,
    },
    Kafka {
        topic: String,
        producer: BaseProducer<FailedDeliveries>,
        /// Records sent since the last flush.
        unflushed: bool,
    },
}

/// Counts records Kafka did not take (a delivery fails after the producer's own retries), so a
/// flush can fail instead of losing them.
#[derive(Default)]
struct FailedDeliveries {
    failed: AtomicU64,
    last: Mutex<Option<String>>,
}

impl ClientContext for FailedDeliveries {}

impl ProducerContext for FailedDeliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::SeqCst);
            *self.last.lock().expect("delivery lock") = Some(e.to_string());
        }
    }
}

impl DeadLetter {
    /// The configured output, if any.
    pub fn from_config(cfg: &Config) -> Result<Option<DeadLetter>> {
        let output = match (&cfg.dead_letter.path, &cfg.dead_letter.topic) {
            (Some(path), _) => Self::open_file(path)?,
            (None, Some(topic)) => {
                let kafka = cfg.kafka.as_ref().ok_or_else(|| {
                    SyncError::definite(
                        "[dead_letter] topic is set but there is no Kafka",
                        "add a [kafka] section with brokers, or use [dead_letter] path",
                    )
                })?;
                let producer = crate::sink::kafka::client_config(kafka)
                    .set("enable.idempotence", "true")
                    .create_with_context(FailedDeliveries::default())
                    .map_err(|e| SyncError::Kafka(format!("dead-letter producer: {e}")))?;
                Output::Kafka {
                    topic: topic.clone(),
                    producer,
                    unflushed: false,
                }
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(DeadLetter {
            output,
            capture: cfg.capture.clone(),
        }))
    }

    /// Where records go, for messages.
    pub fn describe(&self) -> String {
        match &self.output {
            Output::File { path, .. } => format!("the dead-letter file {path}"),
            Output::Kafka { topic, .. } => format!("the dead-letter topic {topic}"),
        }
    }

    /// A dead-letter file at `path` that keeps every column.
    pub fn open(path: &str) -> Result<DeadLetter> {
        Ok(DeadLetter {
            output: Self::open_file(path)?,
            capture: CaptureConfig::default(),
        })
    }

    fn open_file(path: &str) -> Result<Output> {
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
        Ok(Output::File {
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
            "before": before.map(|r| row_json(schema, r, &self.capture)),
            "after": after.map(|r| row_json(schema, r, &self.capture)),
        });
        if let Some(key) = letter.key {
            line["key"] = text_json(key.to_vec());
        }
        let mut bytes = serde_json::to_vec(&line).expect("JSON values serialize");
        match &mut self.output {
            Output::File { path, out } => {
                bytes.push(b'\n');
                out.write_all(&bytes).map_err(|e| io_error(path, e))?;
            }
            Output::Kafka {
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
        match &mut self.output {
            Output::File { path, out } => out.flush().map_err(|e| io_error(path, e)),
            Output::Kafka {
                topic,
                producer,
                unflushed,
            } => {
                if std::mem::take(unflushed) {
                    tokio::task::block_in_place(|| producer.flush(Duration::from_secs(30)))
                        .map_err(|e| SyncError::Kafka(format!("dead-letter topic {topic}: {e}")))?;
                }
                // A record Kafka did not take fails the flush: the checkpoint stays before it and
                // the restart writes it again.
                let context = producer.context();
                let failed = context.failed.swap(0, Ordering::SeqCst);
                if failed > 0 {
                    let last = context.last.lock().expect("delivery lock").take();
                    return Err(SyncError::Kafka(format!(
                        "dead-letter topic {topic}: {failed} record(s) not delivered ({})",
                        last.unwrap_or_default()
                    )));
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

/// The row's columns and values, without the excluded columns.
fn row_json(schema: &TableSchema, row: &[SqlValue], capture: &CaptureConfig) -> Value {
    let mut map = Map::new();
    for (col, v) in schema.columns.iter().zip(row) {
        if !capture.captures_column(&schema.database, &schema.table, &col.name) {
            continue;
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnSchema;

    #[test]
    fn excluded_columns_never_reach_the_dead_letter() {
        let col = ColumnSchema::text;
        let schema = TableSchema {
            database: "shop".into(),
            table: "users".into(),
            columns: vec![col("id"), col("password")],
            primary_key: vec![0],
        };
        let capture = CaptureConfig {
            exclude_columns: vec!["shop.users.pass*".into()],
            ..Default::default()
        };
        let row = [SqlValue::Text("1".into()), SqlValue::Text("hunter2".into())];
        assert_eq!(row_json(&schema, &row, &capture), json!({"id": "1"}));
        assert_eq!(
            row_json(&schema, &row, &CaptureConfig::default()),
            json!({"id": "1", "password": "hunter2"})
        );
    }
}
