//! The router's side of the Maxwell change-event output (`[kafka] topic`): renders every row
//! change of a captured table (see `sink::maxwell`), holds a transaction's events until its end
//! (Maxwell puts the transaction's `xid` on every row and `commit` on the last), and hands them
//! to the publisher (a sink: `sink::kafka::events`) in binlog order.
//!
//! The publisher is one more checkpoint slot beside the HBase writers: a commit marker follows
//! the transaction's events and is acknowledged only once Kafka has all of them, so the
//! checkpoint never passes an event Kafka has not acknowledged. After a crash the stream replays
//! from the checkpoint: events after it may be published twice (at least once, like Maxwell);
//! `include_position` lets consumers drop repeats.
//!
//! Bootstraps appear as Maxwell's `bootstrap-start`, then `bootstrap-insert` per row at the
//! point of the stream where the chunk is handed over (rows the stream changed meanwhile are the
//! stream's, see `core::handover`), then `bootstrap-complete`: replaying the topic in order
//! rebuilds the table. A bootstrap resumed after a restart does not repeat `bootstrap-start`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::{CaptureConfig, KafkaConfig};
use crate::core::catalog::Catalog;
use crate::core::inflight::InflightBytes;
use crate::error::{Result, SyncError};
use crate::model::{BinlogPosition, SqlValue, TableSchema};
use crate::sink::kafka::maxwell::{
    self, EventOptions, EventTable, EventType, RowEvent, TransactionBuffer,
};
use crate::sink::SinkMsg;

/// Events sent to the publisher per message (and per in-flight permit).
const EVENTS_PER_MESSAGE: usize = 1000;

/// A transaction's events kept in memory before the rest spills to a temporary file.
const TRANSACTION_MEMORY_BYTES: usize = 16 << 20;

pub struct ChangeEvents {
    tx: mpsc::Sender<SinkMsg<RowEvent>>,
    topic_template: String,
    opts: EventOptions,
    /// Rendering plans by (database, table); dropped at every DDL.
    tables: HashMap<(String, String), Arc<EventTable>>,
    transaction: TransactionBuffer,
    /// Running bootstraps: job -> (database, table).
    jobs: HashMap<u64, (String, String)>,
    inflight: InflightBytes,
    /// Columns no event carries (`capture.exclude_columns`).
    capture: CaptureConfig,
}

impl ChangeEvents {
    pub fn new(
        kafka: &KafkaConfig,
        capture: &CaptureConfig,
        topic_template: &str,
        tx: mpsc::Sender<SinkMsg<RowEvent>>,
        inflight: InflightBytes,
    ) -> Self {
        ChangeEvents {
            tx,
            topic_template: topic_template.to_string(),
            opts: EventOptions {
                include_position: kafka.include_position,
                include_primary_key: kafka.include_primary_key,
            },
            tables: HashMap::new(),
            transaction: TransactionBuffer::new(TRANSACTION_MEMORY_BYTES),
            jobs: HashMap::new(),
            inflight,
            capture: capture.clone(),
        }
    }

    /// The rendering plan of a table, built once per schema version.
    pub async fn table(
        &mut self,
        catalog: &impl Catalog,
        schema: &TableSchema,
    ) -> Result<Arc<EventTable>> {
        let name = (schema.database.clone(), schema.table.clone());
        if let Some(t) = self.tables.get(&name) {
            return Ok(t.clone());
        }
        let json = catalog.json_columns(&name.0, &name.1).await?;
        let t = Arc::new(
            EventTable::new(schema, &self.topic_template, &json).without(schema, |c| {
                !self.capture.captures_column(&name.0, &name.1, c)
            }),
        );
        self.tables.insert(name, t.clone());
        Ok(t)
    }

    /// Schemas changed: plans are rebuilt from the next TABLE_MAP events.
    pub fn forget_tables(&mut self) {
        self.tables.clear();
    }

    /// Buffers the event of one streamed row change until its transaction ends.
    pub fn record(
        &mut self,
        table: &EventTable,
        ts: u64,
        position: &BinlogPosition,
        before: Option<&[SqlValue]>,
        after: Option<&[SqlValue]>,
    ) -> Result<()> {
        let kind = match (before, after) {
            (None, Some(_)) => EventType::Insert,
            (Some(_), Some(_)) => EventType::Update,
            (Some(_), None) => EventType::Delete,
            (None, None) => return Ok(()),
        };
        let pos = self.position_text(position);
        let event = maxwell::row_event(table, kind, ts, pos.as_deref(), &self.opts, before, after);
        self.transaction.push(event).map_err(|e| {
            SyncError::transient(format!(
                "cannot buffer a transaction's change events on disk: {e}; free the temporary directory's disk (TMPDIR)"
            ))
        })
    }

    /// The transaction ended (with `xid` when it was an XID event): its events go out.
    pub async fn end_transaction(&mut self, xid: Option<u64>) -> Result<()> {
        while !self.transaction.is_empty() {
            let events = self
                .transaction
                .take(EVENTS_PER_MESSAGE, xid)
                .map_err(|e| {
                    SyncError::transient(format!(
                        "cannot read a transaction's change events back: {e}"
                    ))
                })?;
            self.send(events).await?;
        }
        Ok(())
    }

    /// Takes the events of the transaction being routed (an XA transaction prepared: they wait
    /// for its `XA COMMIT`); the next transaction starts empty.
    pub fn hold_transaction(&mut self) -> TransactionBuffer {
        std::mem::replace(
            &mut self.transaction,
            TransactionBuffer::new(TRANSACTION_MEMORY_BYTES),
        )
    }

    /// Publishes the events of a held transaction, which ended now.
    pub async fn release_transaction(&mut self, held: TransactionBuffer) -> Result<()> {
        let current = std::mem::replace(&mut self.transaction, held);
        let released = self.end_transaction(None).await;
        self.transaction = current;
        released
    }

    /// `bootstrap-insert` events for the rows of a chunk handed over at `position`.
    pub fn bootstrap_rows<'a>(
        &self,
        table: &EventTable,
        position: &BinlogPosition,
        rows: impl Iterator<Item = &'a [SqlValue]>,
    ) -> Vec<RowEvent> {
        let ts = now_secs();
        let pos = self.position_text(position);
        rows.map(|row| {
            maxwell::row_event(
                table,
                EventType::BootstrapInsert,
                ts,
                pos.as_deref(),
                &self.opts,
                None,
                Some(row),
            )
        })
        .collect()
    }

    /// A bootstrap of `db.table` started (`first`: not a resumption): `bootstrap-start`.
    pub async fn bootstrap_started(
        &mut self,
        catalog: &impl Catalog,
        job: u64,
        db: &str,
        table: &str,
        first: bool,
        position: &BinlogPosition,
    ) -> Result<()> {
        self.jobs.insert(job, (db.to_string(), table.to_string()));
        if first {
            self.bootstrap_marker(catalog, db, table, EventType::BootstrapStart, position)
                .await?;
        }
        Ok(())
    }

    /// A bootstrap ended; `complete`: all its rows were handed over: `bootstrap-complete`.
    pub async fn bootstrap_ended(
        &mut self,
        catalog: &impl Catalog,
        job: u64,
        complete: bool,
        position: &BinlogPosition,
    ) -> Result<()> {
        if let (Some((db, table)), true) = (self.jobs.remove(&job), complete) {
            self.bootstrap_marker(catalog, &db, &table, EventType::BootstrapComplete, position)
                .await?;
        }
        Ok(())
    }

    async fn bootstrap_marker(
        &mut self,
        catalog: &impl Catalog,
        db: &str,
        table: &str,
        kind: EventType,
        position: &BinlogPosition,
    ) -> Result<()> {
        let schema = catalog.table_schema(db, table).await?;
        // A table dropped meanwhile has no key columns to name; its markers carry none.
        let schema = schema.unwrap_or_else(|| TableSchema {
            database: db.to_string(),
            table: table.to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
        });
        let t = self.table(catalog, &schema).await?;
        let pos = self.position_text(position);
        let event =
            maxwell::row_event(&t, kind, now_secs(), pos.as_deref(), &self.opts, None, None);
        self.send(vec![event]).await
    }

    /// Maxwell's `position` field (`file:offset`), when configured.
    fn position_text(&self, position: &BinlogPosition) -> Option<String> {
        self.opts.include_position.then(|| position.to_string())
    }

    /// Sends events to the publisher, holding in-flight permits for their bytes until delivered.
    pub async fn send(&mut self, events: Vec<RowEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let permit = self
            .inflight
            .acquire(events.iter().map(RowEvent::size).sum())
            .await?;
        self.tx
            .send(SinkMsg::Items {
                items: events,
                permit,
            })
            .await
            .map_err(|_| publisher_stopped())
    }

    /// Queues a commit point or barrier behind the events sent so far.
    pub async fn mark(&self, marker: SinkMsg<RowEvent>) -> Result<()> {
        self.tx.send(marker).await.map_err(|_| publisher_stopped())
    }
}

fn publisher_stopped() -> SyncError {
    SyncError::transient("the Kafka change-event publisher stopped")
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
