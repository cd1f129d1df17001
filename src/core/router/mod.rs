//! The router: turns binlog events into row changes for the sinks, in binlog order, with a
//! commit point behind every transaction.
//!
//! For each event, at the event's end position P, with the event's version V (its commit second
//! in milliseconds, never below the previous event's or the pipeline's floor: see
//! `model::version`):
//! 1. TABLE_MAP: resolves the table once per schema: ignored (not captured), captured with its
//!    [`TableMapping`], or captured but not mappable (no row key: rows go to the dead letter).
//!    Schemas come from the event's `binlog_row_metadata=FULL` metadata, or from the
//!    [`Catalog`] when the server logs less.
//! 2. Rows: decodes each row's images with the table's schema and maps them to [`RowChange`]s
//!    stamped V: an insert or update is a put of the full image, a delete a row delete, an update
//!    that moves the row key a delete of the old key plus a put of the new one. A change goes to
//!    sink `hash(table, row key) % sinks` (see [`RowChange::partition`]): one row's changes
//!    always to the same sink, in binlog order. A row that cannot be decoded, keyed or written
//!    (a cell over `hbase.max_cell_bytes`) is set aside: the row keys it names are deleted and
//!    it goes to the dead-letter output (see `unwritable`).
//!    Change events (`[kafka] topic`) are rendered beside.
//! 3. Transaction ends (XID, `COMMIT`, DDL, which commits implicitly): a [`CommitPoint`] for P to
//!    every sink (see `core::checkpoint`), unless the transaction only wrote the state schema.
//! 4. DDL: forgets the table cache (the next TABLE_MAP events carry the new schemas) and records
//!    a resync job for every captured table whose rows the statement changed without row
//!    events (see `core::ddl`), before the DDL's commit point, so the checkpoint cannot pass the
//!    DDL without its job.
//! 5. Bootstrap chunks wait in [`Router::hand_over_ready_chunks`] until the stream has routed
//!    everything up to their ready position, then go to the sinks in stream order (see
//!    `core::handover`); a row with a cell over `hbase.max_cell_bytes` is set aside as above.
//!
//! Every message to a sink holds in-flight byte permits ([`InflightBytes`]) and the queues are
//! bounded: a slow sink slows the router, and with it the binlog reader.

pub mod bench;
mod chunks;
mod events;
pub mod query;
mod schemas;
#[cfg(test)]
mod tests;
mod unwritable;
mod xa;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use mysql_common::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use tokio::sync::mpsc;
use tracing::warn;

use crate::config::Config;
use crate::core::catalog::Catalog;
use crate::core::change_events::ChangeEvents;
use crate::core::filter::TableFilter;
use crate::core::handover::{ChangeTracker, SnapshotChunk};
use crate::core::inflight::InflightBytes;
use crate::core::mapping::{oversized_cell, RowTarget, TableMapping};
use crate::error::{Result, SyncError};
use crate::model::gtid::GtidSet;
use crate::model::{BinlogPosition, CommitPoint, RowChange, RowOp, TableSchema, Version};
use crate::sink::dead_letter::DeadLetter;
use crate::sink::kafka::maxwell::EventTable;
use crate::sink::SinkMsg;
use crate::source::decode;
use crate::telemetry::metrics::METRICS;

use self::unwritable::{set_aside, NotWritten, Unwritten};
use self::xa::XaTransactions;

/// How the router treats a table id.
enum Route {
    Captured(Arc<TableMapping>),
    /// Captured but not mappable (no row key): rows go to the dead-letter output.
    Unmappable {
        schema: Arc<TableSchema>,
        reason: String,
    },
    Ignored,
    /// Captured, but its schema at this position is not known (see `schemas`): its rows are
    /// rewritten by a resync recorded before them, not decoded.
    Resynced(String),
}

struct TableEntry {
    /// The TABLE_MAP event, to decode its rows events.
    tme: TableMapEvent<'static>,
    route: Route,
    /// How its changes render as Maxwell events, when they are published.
    events: Option<Arc<EventTable>>,
}

/// Backpressure gauges: the in-flight byte budget and each sink's queue.
struct QueueGauges {
    inflight: prometheus::IntGauge,
    sinks: Vec<prometheus::IntGauge>,
}

/// Turns binlog events into per-sink changes.
pub struct Router<C> {
    cfg: Config,
    /// Schemas the binlog does not describe fully; where resync jobs are recorded.
    catalog: C,
    /// Where rows that cannot be written to HBase go (`[dead_letter] path` or `topic`).
    dead_letter: Option<DeadLetter>,
    /// Queue-fill gauges, looked up once.
    queue_gauges: QueueGauges,
    /// The MySQL GTID set executed up to the routed position, once known completely.
    gtids: Option<GtidSet>,
    filter: TableFilter,
    /// TABLE_MAP events by table id, with how their rows are routed.
    tables: HashMap<u64, TableEntry>,
    /// The row-change sinks (HBase writers, or the capture writer), by partition.
    sinks: Vec<mpsc::Sender<SinkMsg<RowChange>>>,
    inflight: InflightBytes,
    /// Tables already warned about (no primary key), to warn once.
    warned: HashSet<String>,
    /// End of the last routed event.
    position: BinlogPosition,
    /// Keys the stream changed while bootstraps of their tables run.
    changes: ChangeTracker,
    /// Bootstrap chunks waiting for the stream to reach their `ready_at`.
    pending_chunks: VecDeque<SnapshotChunk>,
    /// Whether the current transaction touched a table outside the state schema. Transactions
    /// that only wrote the state store (our own checkpoints and job progress) do not move the
    /// checkpoint: storing it would write the binlog again, and so on forever.
    txn_external: bool,
    /// Maxwell change events (`[kafka] topic`).
    events: Option<ChangeEvents>,
    /// Commit timestamp (seconds) of the event being routed.
    event_ts: u64,
    /// The version of the event being routed (never decreasing).
    version: Version,
    /// XA transactions: held from their start until their outcome.
    xa: XaTransactions,
    /// Resync jobs recorded by this router whose jobs have not started reading (`db.table` ->
    /// job): a later statement on the table needs no job of its own.
    unstarted_resyncs: HashMap<String, u64>,
    /// Captured tables remembered in the catalog during this router's life.
    registered: HashSet<String>,
    /// Schemas where the binlog does not carry them (see `schemas`).
    schemas: schemas::SchemaHistory,
    /// Jobs waiting for the stream to reach a position (`HandoverRequest::Routed`).
    routed_waiters: Vec<(BinlogPosition, tokio::sync::oneshot::Sender<()>)>,
}

impl<C: Catalog> Router<C> {
    /// A router from `start`, sending row changes to `sinks` under the `inflight` budget.
    pub fn new(
        cfg: &Config,
        catalog: C,
        sinks: Vec<mpsc::Sender<SinkMsg<RowChange>>>,
        start: BinlogPosition,
        first_version: Version,
        inflight: InflightBytes,
    ) -> Result<Self> {
        let dead_letter = DeadLetter::from_config(cfg)?;
        Ok(Router {
            cfg: cfg.clone(),
            catalog,
            queue_gauges: QueueGauges {
                inflight: METRICS
                    .queue_fill_percent
                    .with_label_values(&["inflight_bytes"]),
                sinks: (0..sinks.len())
                    .map(|i| {
                        METRICS
                            .queue_fill_percent
                            .with_label_values(&[&format!("writer_{i}")])
                    })
                    .collect(),
            },
            dead_letter,
            gtids: None,
            filter: TableFilter::new(&cfg.capture),
            tables: HashMap::new(),
            sinks,
            inflight,
            warned: Default::default(),
            position: start,
            changes: ChangeTracker::default(),
            pending_chunks: VecDeque::new(),
            txn_external: false,
            events: None,
            event_ts: 0,
            version: first_version,
            // A quarter of the in-flight budget may wait for XA outcomes.
            xa: XaTransactions::new(cfg.pipeline.max_inflight_bytes / 4),
            unstarted_resyncs: HashMap::new(),
            registered: HashSet::new(),
            schemas: Default::default(),
            routed_waiters: Vec::new(),
        })
    }

    /// Follows MySQL GTIDs from `start` (the set executed up to the start position).
    pub fn with_gtids(mut self, start: Option<GtidSet>) -> Self {
        self.gtids = start;
        self
    }

    /// Also renders Maxwell change events.
    pub fn with_events(mut self, events: ChangeEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Routes one binlog event that ends at `position`.
    pub async fn route(&mut self, event: &Event, position: &BinlogPosition) -> Result<()> {
        let data = event.read_data().map_err(|e| {
            SyncError::definite(
                format!("cannot parse a binlog event: {e}"),
                "the binlog is damaged or of a server version mysql_common cannot read; report it with the server version",
            )
            .at(position)
        })?;
        self.position = position.clone();
        let m = &*METRICS;
        let kind = match &data {
            Some(EventData::RowsEvent(_)) => "rows",
            Some(EventData::TableMapEvent(_)) => "table_map",
            Some(EventData::XidEvent(_)) => "xid",
            Some(EventData::QueryEvent(_)) => "query",
            Some(EventData::HeartbeatEvent) => "heartbeat",
            Some(EventData::RotateEvent(_)) => "rotate",
            _ => "other",
        };
        m.events.with_label_values(&[kind]).inc();
        if kind == "heartbeat" {
            m.lag_seconds.set(0);
        } else {
            self.event_ts = u64::from(event.header().timestamp());
            // Artificial events (the first ROTATE, ...) carry no time.
            if event.header().timestamp() > 0 {
                self.version = self
                    .version
                    .max(Version::from_secs(event.header().timestamp()));
            }
            if event.header().timestamp() > 0 {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                m.lag_seconds
                    .set((now - event.header().timestamp() as i64).max(0));
            }
            m.reader_at(position);
        }
        let routed = self.route_data(event, data, position).await;
        if !self.pending_chunks.is_empty() {
            self.hand_over_ready_chunks().await?;
        }
        if !self.routed_waiters.is_empty() {
            let (done, waiting) = std::mem::take(&mut self.routed_waiters)
                .into_iter()
                .partition(|(at, _)| *at <= self.position);
            self.routed_waiters = waiting;
            for (_, reply) in done {
                let _ = reply.send(());
            }
        }
        routed
    }

    async fn table_map(&mut self, tme: TableMapEvent<'_>) -> Result<()> {
        if tme.database_name() != self.cfg.state.database.as_str() {
            self.txn_external = true;
        }
        let id = tme.table_id();
        if let Some(entry) = self.tables.get(&id) {
            if entry.tme == tme {
                return Ok(());
            }
        }
        let tme = tme.into_owned();
        let (db, table) = (
            tme.database_name().into_owned(),
            tme.table_name().into_owned(),
        );
        let route = if !self.filter.captures(&db, &table) {
            Route::Ignored
        } else {
            // Remembered for a later DROP DATABASE, which names no table.
            let source = format!("{db}.{table}");
            if !self.registered.contains(&source) {
                self.catalog.register_table(&db, &table).await?;
                self.registered.insert(source);
            }
            let schema = match decode::table_schema(&tme) {
                Err(decode::DecodeError::MissingColumnNames { .. }) => {
                    // binlog_row_metadata is not FULL: names and keys from the schema history.
                    match self.schema_from_history(&tme, &db, &table).await? {
                        Some(schema) => Ok(schema),
                        None => {
                            let route = Route::Resynced(format!("{db}.{table}"));
                            let entry = TableEntry {
                                tme,
                                route,
                                events: None,
                            };
                            self.tables.insert(id, entry);
                            return Ok(());
                        }
                    }
                }
                other => other,
            }
            .map_err(|e| {
                SyncError::definite(
                    format!("cannot read the table's schema from the binlog: {e}"),
                    "set binlog_row_metadata = FULL on the server",
                )
                .in_table(format!("{db}.{table}"))
                .at(&self.position)
            })?;
            let schema = Arc::new(schema);
            match TableMapping::resolve(&self.cfg, &self.filter, schema.clone()) {
                Ok(mapping) => {
                    self.schemas.saw(&mapping.source, &mapping.schema);
                    Route::Captured(Arc::new(mapping))
                }
                Err(e) => {
                    if self.warned.insert(format!("{db}.{table}")) {
                        let to = match &self.dead_letter {
                            Some(dl) => format!("they go to {}", dl.describe()),
                            None => "set [dead_letter] path or topic to keep them".to_string(),
                        };
                        warn!(table = %format!("{db}.{table}"), "{e}; its changes are not written to HBase: {to}");
                    }
                    Route::Unmappable {
                        schema,
                        reason: e.to_string(),
                    }
                }
            }
        };
        let events = match (&route, self.events.as_mut()) {
            (Route::Captured(m), Some(ev)) => Some(ev.table(&self.catalog, &m.schema).await?),
            (Route::Unmappable { schema, .. }, Some(ev)) => {
                Some(ev.table(&self.catalog, schema).await?)
            }
            _ => None,
        };
        self.tables.insert(id, TableEntry { tme, route, events });
        Ok(())
    }

    async fn rows(&mut self, rows: RowsEventData<'_>, position: &BinlogPosition) -> Result<()> {
        let Some(entry) = self.tables.get(&rows.table_id()) else {
            return Err(SyncError::definite(
                format!(
                    "a rows event for table id {} comes without its TABLE_MAP event",
                    rows.table_id()
                ),
                "the binlog is damaged, or the stream started inside a transaction; restart from a transaction boundary",
            )
            .at(position));
        };
        let event_table = entry.events.clone();
        let mapping = match &entry.route {
            Route::Captured(mapping) => mapping.clone(),
            Route::Ignored => return Ok(()),
            Route::Resynced(source) => {
                self.rows_resynced(&source.clone(), 1);
                return Ok(());
            }
            Route::Unmappable { schema, reason } => {
                let (schema, reason) = (schema.clone(), reason.clone());
                return self
                    .unmappable_rows(&schema, &reason, event_table, &rows, position)
                    .await;
            }
        };
        let version = self.version;
        let n = self.sinks.len();
        let mut per_sink: Vec<Vec<RowChange>> = vec![Vec::new(); n];
        let (mut puts, mut deletes) = (0u64, 0u64);
        // A job's chunk skips rows the stream changed: the stream's image must then clear the
        // row as the chunk's replace would have (see `core::handover`).
        let replace = self.changes.tracks(&mapping.source);
        for row in decode::event_rows(&mapping.schema, &rows) {
            let broken_event = matches!(row, Err(decode::RowError::Unreadable(_)));
            let changes = self.row_changes(&mapping, event_table.as_ref(), row, position)?;
            for (target, op) in changes {
                let op = match op {
                    RowOp::Put(cells) if replace => RowOp::Replace(cells),
                    op => op,
                };
                if matches!(op, RowOp::Put(_) | RowOp::Replace(_)) {
                    puts += 1;
                } else {
                    deletes += 1;
                }
                // An XA transaction's changes count once committed (see `xa`).
                let track = !self.changes.is_empty() && !self.xa.is_active();
                if track {
                    self.changes.changed(&mapping.source, &target, position);
                }
                let changes = &mut self.changes;
                mapping.changes(target, op, version, |change| {
                    if track && change.op == RowOp::Delete {
                        // Joined rows deleted with their parent (`delete_children`).
                        changes.family_deleted(
                            &change.table,
                            &change.family,
                            &change.key,
                            position,
                        );
                    }
                    per_sink[change.partition(n)].push(change)
                });
            }
            if broken_event {
                break; // the rest of the event cannot be read reliably
            }
        }
        // Counted per event, not per row: label lookups are not free on this path.
        for (op, count) in [("put", puts), ("delete", deletes)] {
            if count > 0 {
                METRICS
                    .rows_applied
                    .with_label_values(&[mapping.source.as_str(), op])
                    .inc_by(count);
            }
        }
        if self.xa.is_active() {
            let source: Arc<str> = Arc::from(mapping.source.as_str());
            self.xa
                .hold(&source, per_sink.into_iter().flatten().collect());
            return Ok(());
        }
        self.send_changes(per_sink).await
    }

    /// One row of a rows event as the changes of its row keys, in order: a delete of the key an
    /// update or delete leaves, a put of the new image; a row HBase cannot take (a value that
    /// does not decode, NULL in the row key, a cell over `hbase.max_cell_bytes`) as deletes of
    /// the keys it names, set aside (see `unwritable`). Its change event is recorded beside.
    fn row_changes(
        &mut self,
        mapping: &TableMapping,
        event_table: Option<&Arc<EventTable>>,
        row: std::result::Result<decode::RowImages, decode::RowError>,
        position: &BinlogPosition,
    ) -> Result<Vec<(RowTarget, RowOp)>> {
        let definite = |what: String, fix: &str| {
            SyncError::definite(what, fix)
                .in_table(mapping.source.clone())
                .at(position)
        };
        let (before, after) = match row {
            Ok(images) => images,
            // Without a dead-letter output such rows stop the pipeline: going on would lose
            // the change silently.
            Err(e) if self.dead_letter.is_none() => {
                return Err(definite(
                    format!("a row cannot be decoded: {e}"),
                    "set [dead_letter] path (or topic) to keep such rows aside and go on",
                ))
            }
            Err(e) => {
                let keys = match &e {
                    decode::RowError::Undecodable {
                        partial: (before, after),
                        ..
                    } => [after, before]
                        .into_iter()
                        .flatten()
                        .filter_map(|image| mapping.target(image))
                        .collect(),
                    decode::RowError::Unreadable(_) => Vec::new(),
                };
                let why = NotWritten::Undecodable(format!("a row cannot be decoded: {e}"));
                let row = Unwritten::keys(why, keys);
                return set_aside(self.dead_letter.as_mut(), mapping, position, row);
            }
        };
        let before_key = before.as_deref().map(|image| mapping.target(image));
        let after_key = after.as_deref().map(|image| mapping.target(image));
        if [&before_key, &after_key]
            .iter()
            .any(|k| matches!(k, Some(None)))
        {
            if self.dead_letter.is_none() {
                return Err(definite(
                    "a row has NULL in a row-key column (or a column of its qualifier template)".into(),
                    "choose non-nullable row_key columns in [[mapping.tables]], or set [dead_letter] path to keep such rows aside",
                ));
            }
            let row = Unwritten {
                before: before.as_deref(),
                after: after.as_deref(),
                ..Unwritten::keys(
                    NotWritten::NullRowKey,
                    [after_key, before_key]
                        .into_iter()
                        .flatten()
                        .flatten()
                        .collect(),
                )
            };
            return set_aside(self.dead_letter.as_mut(), mapping, position, row);
        }
        if let (Some(t), Some(events)) = (event_table, self.events.as_mut()) {
            events.record(
                t,
                self.event_ts,
                position,
                before.as_deref(),
                after.as_deref(),
            )?;
        }
        let put = after_key.flatten().zip(after);
        let mut changes = Vec::with_capacity(2);
        // A delete, or an update that moved the row to another key, removes the old key.
        if let Some(old) = before_key.flatten() {
            if put.as_ref().is_none_or(|(new, _)| *new != old) {
                changes.push((old, RowOp::Delete));
            }
        }
        if let Some((key, values)) = put {
            let cells = mapping.target_cells(&key, &values);
            match oversized_cell(&key.key, &cells, self.cfg.hbase.max_cell_bytes) {
                None => changes.push((key, RowOp::Put(cells))),
                // HBase would refuse the whole batch again and again: the row goes aside.
                Some(reason) => {
                    let row = Unwritten {
                        before: before.as_deref(),
                        after: Some(&values),
                        ..Unwritten::keys(NotWritten::CellTooLarge(reason), vec![key])
                    };
                    changes.extend(set_aside(
                        self.dead_letter.as_mut(),
                        mapping,
                        position,
                        row,
                    )?);
                }
            }
        }
        Ok(changes)
    }

    /// Rows of a captured table without a row key: to the change events and the dead letter.
    async fn unmappable_rows(
        &mut self,
        schema: &TableSchema,
        reason: &str,
        event_table: Option<Arc<EventTable>>,
        rows: &RowsEventData<'_>,
        position: &BinlogPosition,
    ) -> Result<()> {
        if self.dead_letter.is_none() && self.events.is_none() {
            return Ok(());
        }
        for row in decode::event_rows(schema, rows) {
            let (before, after) = row.map_err(|e| {
                SyncError::definite(
                    format!("a row cannot be decoded: {e}"),
                    "report it with the table's definition",
                )
                .in_table(format!("{}.{}", schema.database, schema.table))
                .at(position)
            })?;
            if let (Some(t), Some(events)) = (&event_table, self.events.as_mut()) {
                events.record(
                    t,
                    self.event_ts,
                    position,
                    before.as_deref(),
                    after.as_deref(),
                )?;
            }
            if let Some(dead_letter) = self.dead_letter.as_mut() {
                dead_letter.record(
                    schema,
                    position,
                    reason,
                    before.as_deref(),
                    after.as_deref(),
                )?;
            }
        }
        Ok(())
    }

    /// Sends each sink its share, holding in-flight permits for the bytes until durable.
    async fn send_changes(&mut self, per_sink: Vec<Vec<RowChange>>) -> Result<()> {
        self.queue_gauges.inflight.set(self.inflight.used_percent());
        for (tx, gauge) in self.sinks.iter().zip(&self.queue_gauges.sinks) {
            gauge.set(((tx.max_capacity() - tx.capacity()) * 100 / tx.max_capacity()) as i64);
        }
        for (idx, items) in per_sink.into_iter().enumerate() {
            if items.is_empty() {
                continue;
            }
            let permit = self
                .inflight
                .acquire(items.iter().map(RowChange::size).sum())
                .await?;
            self.send(idx, SinkMsg::Items { items, permit }).await?;
        }
        Ok(())
    }

    async fn transaction_end(&mut self, position: &BinlogPosition, xid: Option<u64>) -> Result<()> {
        if let Some(dead_letter) = self.dead_letter.as_mut() {
            dead_letter.flush()?;
        }
        if let Some(events) = self.events.as_mut() {
            events.end_transaction(xid).await?;
        }
        if std::mem::take(&mut self.txn_external) {
            self.commit(position).await
        } else {
            Ok(())
        }
    }

    async fn commit(&mut self, position: &BinlogPosition) -> Result<()> {
        // The checkpoint stays before a prepared XA transaction until its outcome (see `xa`).
        if self.xa.any_prepared() {
            return Ok(());
        }
        let gtid: Option<Arc<str>> = self.gtids.as_ref().map(|g| Arc::from(g.render()));
        let point = CommitPoint::new(position.clone(), gtid);
        for idx in 0..self.sinks.len() {
            self.send(idx, SinkMsg::Commit(point.clone())).await?;
        }
        if let Some(events) = &self.events {
            events.mark(SinkMsg::Commit(point)).await?;
        }
        Ok(())
    }

    async fn send(&self, idx: usize, msg: SinkMsg<RowChange>) -> Result<()> {
        self.sinks[idx]
            .send(msg)
            .await
            .map_err(|_| SyncError::transient(format!("sink {idx} stopped")))
    }
}
