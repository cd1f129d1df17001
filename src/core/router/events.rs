//! Every kind of binlog event, and what the router does with it. Nothing is dropped in silence:
//! an event is applied, known to carry nothing for HBase (heartbeats, rotations, informational
//! events), or stops the pipeline with an error naming the event, its position and the fix.
//!
//! Statements (QUERY events that are not transaction control) are read by `core::ddl`:
//! - DDL that changes rows without row events, and DML a session logged as a statement
//!   (`binlog_format = STATEMENT` / `MIXED`): the captured tables concerned are resynced from
//!   the statement's position (`capture.statement_changes = "stop"` stops at such DML instead).
//!   The resync job is recorded before the commit point that passes the statement, so a
//!   checkpoint never passes it without its job. Chunks of running bootstraps of those tables
//!   that were read before the statement are not written (the resync writes them again), and a
//!   resync not started yet covers later statements too (one job, not one per statement).
//! - `DROP DATABASE`: every table of it ever captured (the state store remembers them).
//! - A statement whose tables cannot be worked out, or an INCIDENT event (the server says
//!   changes may be missing from its binlog): `capture.unknown_statements` decides: stop
//!   (default), resync every captured table, or warn and go on. A statement whose database,
//!   and every database it names, holds no captured table is let pass with a warning (a
//!   function there that writes a captured table elsewhere is the blind spot).

use mysql_common::binlog::events::{Event, EventData};
use tracing::{info, warn};

use crate::config::{StatementChanges, UnknownStatements};
use crate::core::catalog::Catalog;
use crate::core::ddl::{self, Statement, TableRef};
use crate::core::mapping::RowTarget;
use crate::error::{Result, SyncError};
use crate::model::gtid::{uuid_text, GtidSet};
use crate::model::{BinlogPosition, RowOp};
use crate::telemetry::metrics::METRICS;

use super::query::{classify_query, QueryKind};
use super::xa::{self, Outcome};
use super::Router;

/// MariaDB's own event types, which mysql_common does not parse.
mod mariadb {
    pub const ANNOTATE_ROWS: u8 = 160;
    pub const BINLOG_CHECKPOINT: u8 = 161;
    pub const GTID: u8 = 162;
    pub const GTID_LIST: u8 = 163;
    pub const START_ENCRYPTION: u8 = 164;
    /// QUERY_COMPRESSED .. DELETE_ROWS_COMPRESSED (`log_bin_compress`).
    pub const COMPRESSED: std::ops::RangeInclusive<u8> = 165..=171;
}

impl<C: Catalog> Router<C> {
    pub(super) async fn route_data(
        &mut self,
        event: &Event,
        data: Option<EventData<'_>>,
        position: &BinlogPosition,
    ) -> Result<()> {
        let unsupported = |what: &str, fix: &str| {
            SyncError::definite(
                format!("the binlog has {what}, which this service cannot follow"),
                fix.to_string(),
            )
            .at(position)
        };
        let Some(data) = data else {
            return self.mariadb_event(event, position).await;
        };
        match data {
            EventData::TableMapEvent(tme) => self.table_map(tme).await,
            EventData::RowsEvent(rows) => self.rows(rows, position).await,
            EventData::XidEvent(x) => self.transaction_end(position, Some(x.xid)).await,
            // MySQL GTIDs; followed only from a complete starting set (checkpoint, or the
            // PREVIOUS_GTIDS event at the top of a file).
            EventData::GtidEvent(g) => {
                if let Some(set) = self.gtids.as_mut() {
                    set.add(g.sid(), g.gno());
                }
                Ok(())
            }
            EventData::PreviousGtidsEvent(p) => {
                let mut previous = GtidSet::default();
                for sid in p.sids() {
                    let uuid = uuid_text(sid.uuid());
                    for i in sid.intervals() {
                        // Intervals are half-open on the wire.
                        if i.end() > i.start() {
                            previous.add_range(&uuid, i.start(), i.end() - 1);
                        }
                    }
                }
                self.gtids
                    .get_or_insert_with(GtidSet::default)
                    .union(&previous);
                Ok(())
            }
            EventData::QueryEvent(q) => self.query(&q.schema(), &q.query(), position).await,
            // LOAD DATA logged as a statement: the file's blocks come first, the statement last.
            EventData::ExecuteLoadQueryEvent(q) => {
                self.statement(&q.schema(), &q.query(), position).await
            }
            EventData::BeginLoadQueryEvent(_) | EventData::AppendBlockEvent(_) => Ok(()),
            EventData::XaPrepareLogEvent(_) => self.xa_prepare(),
            EventData::IncidentEvent(incident) => {
                let what = format!(
                    "an INCIDENT event: the server says changes may be missing from its binlog here ({:?}: {})",
                    incident.incident_type(),
                    incident.message()
                );
                self.unknown_effect(&what, position).await
            }
            // Nothing for HBase: file boundaries, liveness, context of statements that follow
            // (their QUERY event is what counts), informational copies of statements.
            EventData::RotateEvent(_)
            | EventData::FormatDescriptionEvent(_)
            | EventData::HeartbeatEvent
            | EventData::StopEvent
            | EventData::IntvarEvent(_)
            | EventData::RandEvent(_)
            | EventData::UserVarEvent(_)
            | EventData::RowsQueryEvent(_)
            | EventData::AnonymousGtidEvent(_)
            | EventData::IgnorableEvent(_)
            | EventData::TransactionContextEvent(_)
            | EventData::ViewChangeEvent(_) => Ok(()),
            EventData::TransactionPayloadEvent(_) => Err(unsupported(
                "a compressed transaction (TRANSACTION_PAYLOAD) that the binlog reader did not expand",
                "report it with the server version; meanwhile SET GLOBAL binlog_transaction_compression = OFF",
            )),
            EventData::UnknownEvent
            | EventData::StartEventV3(_)
            | EventData::LoadEvent(_)
            | EventData::SlaveEvent
            | EventData::CreateFileEvent(_)
            | EventData::ExecLoadEvent(_)
            | EventData::DeleteFileEvent(_)
            | EventData::NewLoadEvent(_)
            | EventData::PreGaWriteRowsEvent(_)
            | EventData::PreGaUpdateRowsEvent(_)
            | EventData::PreGaDeleteRowsEvent(_) => Err(unsupported(
                &format!(
                    "an event of type {} (a pre-5.0 binlog format)",
                    event.header().event_type_raw()
                ),
                "stream from a server of MySQL 5.6 or later, or MariaDB 10.3 or later",
            )),
        }
    }

    /// Events mysql_common does not parse: MariaDB's own types, or an unknown one.
    async fn mariadb_event(&mut self, event: &Event, position: &BinlogPosition) -> Result<()> {
        let kind = event.header().event_type_raw();
        match kind {
            mariadb::ANNOTATE_ROWS
            | mariadb::BINLOG_CHECKPOINT
            | mariadb::GTID_LIST
            | mariadb::START_ENCRYPTION => Ok(()),
            mariadb::GTID => {
                if let Some(xid) = xa::mariadb_prepared_xid(event.data()) {
                    self.xa.start(&xid);
                }
                Ok(())
            }
            k if mariadb::COMPRESSED.contains(&k) => Err(SyncError::definite(
                format!("the binlog reader passed on a compressed event (type {k}) undecoded"),
                "report it with the server version; meanwhile SET GLOBAL log_bin_compress = OFF",
            )
            .at(position)),
            k => Err(SyncError::definite(
                format!("the binlog has an event of unknown type {k}"),
                "report it with the server version and `mysqlbinlog` output around this position",
            )
            .at(position)),
        }
    }

    async fn query(&mut self, schema: &str, query: &str, position: &BinlogPosition) -> Result<()> {
        match classify_query(query) {
            QueryKind::InTransaction => Ok(()),
            QueryKind::TransactionEnd => self.transaction_end(position, None).await,
            QueryKind::XaStart(xid) => {
                self.xa.start(&xid);
                Ok(())
            }
            QueryKind::XaCommit { xid, one_phase } => {
                self.xa_commit(&xid, one_phase, position).await
            }
            QueryKind::XaRollback(xid) => {
                self.xa.rollback(&xid);
                // Its own transaction: the checkpoint may pass it once nothing is prepared.
                self.txn_external = true;
                self.transaction_end(position, None).await
            }
            QueryKind::Statement => self.statement(schema, query, position).await,
        }
    }

    /// A statement (see the module doc). DML statements belong to the transaction around them;
    /// everything else commits implicitly.
    async fn statement(
        &mut self,
        schema: &str,
        query: &str,
        position: &BinlogPosition,
    ) -> Result<()> {
        let query = query.trim();
        let statement = ddl::classify(query, schema);
        if !matches!(statement, Statement::Dml(_)) {
            // Schemas come from the TABLE_MAP events that follow.
            self.tables.clear();
            if let Some(events) = self.events.as_mut() {
                events.forget_tables();
            }
        }
        match statement {
            Statement::NoRowChanges => {}
            Statement::SchemaOnly(tables) => {
                for t in &tables {
                    if !self.filter.captures(&t.db, &t.table) {
                        continue;
                    }
                    let source = format!("{}.{}", t.db, t.table);
                    METRICS
                        .ddl
                        .with_label_values(&[&source, "schema_only"])
                        .inc();
                    info!(table = %source, %position, "DDL changes no stored value: nothing to rewrite");
                    self.schema_changed(t, position, query).await?;
                }
            }
            // One table's ALTER: perhaps just the columns it changed (see `schemas`).
            Statement::Ddl(tables)
                if tables.len() == 1
                    && ddl::is_alter_table(query)
                    && self.filter.captures(&tables[0].db, &tables[0].table) =>
            {
                self.alter_table(&tables[0], position, query).await?;
            }
            Statement::Ddl(tables) => {
                for t in tables
                    .iter()
                    .filter(|t| self.filter.captures(&t.db, &t.table))
                {
                    METRICS
                        .ddl
                        .with_label_values(&[&format!("{}.{}", t.db, t.table), "resync"])
                        .inc();
                }
                // The schemas first: a job the resync starts may hold the global read lock
                // (`extended`), which the schema history's writes would wait for.
                for t in &tables {
                    self.schemas.forget_seen(t);
                    self.schema_changed(t, position, query).await?;
                }
                self.resync_tables(&tables, position, "DDL may change rows without row events")
                    .await?;
            }
            Statement::DropDatabase(db) => {
                let tables: Vec<TableRef> = self
                    .catalog
                    .known_tables(Some(&db))
                    .await?
                    .into_iter()
                    .map(|(db, table)| TableRef { db, table })
                    .collect();
                for t in &tables {
                    self.schema_changed(t, position, query).await?;
                }
                self.resync_tables(&tables, position, "DROP DATABASE removed the table")
                    .await?;
            }
            Statement::Dml(tables) => {
                let captured: Vec<&TableRef> = tables
                    .iter()
                    .filter(|t| self.filter.captures(&t.db, &t.table))
                    .collect();
                if let Some(first) = captured.first() {
                    if self.cfg.capture.statement_changes == StatementChanges::Stop {
                        return Err(SyncError::definite(
                            format!("a change to a captured table was logged as a statement, not as rows: {query:?}"),
                            "make the sessions that write captured tables use binlog_format = ROW (SET SESSION binlog_format = 'ROW'), or set capture.statement_changes = \"resync\" to resync such tables from the statement; then restart",
                        )
                        .in_table(format!("{}.{}", first.db, first.table))
                        .at(position));
                    }
                    self.txn_external = true;
                    let captured: Vec<TableRef> = captured.into_iter().cloned().collect();
                    self.resync_tables(
                        &captured,
                        position,
                        "a change was logged as a statement (binlog_format STATEMENT or MIXED)",
                    )
                    .await?;
                }
                return Ok(());
            }
            Statement::Unknown(reason) => {
                let what = format!("a statement whose tables cannot be worked out ({reason})");
                if self.names_captured_database(query, schema).await? {
                    self.unknown_effect(&what, position).await?;
                } else {
                    // Neither its database nor any it names holds a captured table.
                    METRICS.statements_ignored.inc();
                    warn!(%position, "{what}; it names no database with captured tables: going on");
                }
            }
        }
        self.commit(position).await
    }

    /// Whether the statement's database, or one it names, holds a captured table.
    async fn names_captured_database(&mut self, query: &str, schema: &str) -> Result<bool> {
        for db in ddl::databases_named(query, schema) {
            if !self.catalog.known_tables(Some(&db)).await?.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A statement or event that may have changed any table: as `capture.unknown_statements`
    /// says.
    async fn unknown_effect(&mut self, what: &str, position: &BinlogPosition) -> Result<()> {
        match self.cfg.capture.unknown_statements {
            UnknownStatements::Stop => Err(SyncError::definite(
                what.to_string(),
                "if it changed no captured table, set capture.unknown_statements = \"warn\" and restart (then set it back); if it may have, set capture.unknown_statements = \"resync\" to resync every captured table from here, and restart",
            )
            .at(position)),
            UnknownStatements::Warn => {
                METRICS.statements_ignored.inc();
                warn!(%position, "{what}; capture.unknown_statements = \"warn\": going on");
                Ok(())
            }
            UnknownStatements::Resync => {
                let tables: Vec<TableRef> = self
                    .catalog
                    .known_tables(None)
                    .await?
                    .into_iter()
                    .map(|(db, table)| TableRef { db, table })
                    .collect();
                warn!(%position, tables = tables.len(), "{what}; capture.unknown_statements = \"resync\": resyncing every captured table");
                self.resync_tables(&tables, position, what).await
            }
        }
    }

    /// Records a resync of every captured table among `tables` at `position` (before the
    /// commit point that passes it), unless one recorded earlier has not started reading yet.
    pub(super) async fn resync_tables(
        &mut self,
        tables: &[TableRef],
        position: &BinlogPosition,
        why: &str,
    ) -> Result<()> {
        for TableRef { db, table } in tables {
            if !self.filter.captures(db, table) {
                continue;
            }
            let source = format!("{db}.{table}");
            // Chunks read before this point are stale in every row.
            self.changes.table_changed(&source, position);
            if let Some(&job) = self.unstarted_resyncs.get(&source) {
                // Not started reading (else it would have registered), and not failed.
                if self.catalog.job_open(job).await? {
                    METRICS
                        .statement_resyncs
                        .with_label_values(&[&source])
                        .inc();
                    tracing::debug!(job, table = %source, %position, "{why}: the resync not started yet covers it");
                    continue;
                }
                self.unstarted_resyncs.remove(&source);
            }
            let job = self.catalog.record_resync(db, table, position).await?;
            self.unstarted_resyncs.insert(source.clone(), job);
            METRICS
                .statement_resyncs
                .with_label_values(&[&source])
                .inc();
            info!(job, table = %source, %position, "{why}: resyncing the table");
        }
        Ok(())
    }

    /// XA PREPARE: the active XA transaction waits for its outcome, with its change events.
    fn xa_prepare(&mut self) -> Result<()> {
        if let Some(dead_letter) = self.dead_letter.as_mut() {
            dead_letter.flush()?;
        }
        let events = self.events.as_mut().map(|e| e.hold_transaction());
        self.xa.prepare(events);
        // No commit point: the checkpoint stays before the prepare until the outcome.
        self.txn_external = false;
        Ok(())
    }

    /// XA COMMIT: the held changes go to the sinks now, in stream order.
    async fn xa_commit(
        &mut self,
        xid: &str,
        one_phase: bool,
        position: &BinlogPosition,
    ) -> Result<()> {
        let mut held_events = None;
        match self.xa.commit(xid, one_phase) {
            Outcome::Held(txn) => match txn.changes {
                Some(changes) => {
                    held_events = txn.events;
                    let n = self.sinks.len();
                    let mut per_sink = vec![Vec::new(); n];
                    for (source, mut change) in changes {
                        if !self.changes.is_empty() {
                            let target = RowTarget {
                                key: change.key.clone(),
                                member: change.member.clone(),
                            };
                            self.changes.changed(&source, &target, position);
                            if change.op == RowOp::Delete {
                                let (table, family) = (&change.table, &change.family);
                                self.changes
                                    .family_deleted(table, family, &change.key, position);
                            }
                            // A joined table's row never replaces its family (its siblings').
                            if self.changes.tracks(&source) && change.member.is_none() {
                                if let RowOp::Put(cells) = change.op {
                                    change.op = RowOp::Replace(cells);
                                }
                            }
                        }
                        change.version = self.version;
                        per_sink[change.partition(n)].push(change);
                    }
                    self.send_changes(per_sink).await?;
                }
                None => {
                    held_events = txn.events;
                    let tables: Vec<TableRef> = txn
                        .tables
                        .iter()
                        .filter_map(|t| t.split_once('.'))
                        .map(|(db, table)| TableRef {
                            db: db.to_string(),
                            table: table.to_string(),
                        })
                        .collect();
                    self.resync_tables(
                        &tables,
                        position,
                        "an XA transaction too large to hold committed",
                    )
                    .await?;
                }
            },
            Outcome::Unknown => {
                if !one_phase {
                    self.unknown_xa_commit(xid, position).await?;
                }
            }
        }
        if let (Some(events), Some(held)) = (self.events.as_mut(), held_events) {
            events.release_transaction(held).await?;
        }
        self.txn_external = true;
        self.transaction_end(position, None).await
    }

    /// An XA transaction prepared before the stream's start committed: its rows were never
    /// read. Every captured table is resynced.
    async fn unknown_xa_commit(&mut self, xid: &str, position: &BinlogPosition) -> Result<()> {
        let tables: Vec<TableRef> = self
            .catalog
            .known_tables(None)
            .await?
            .into_iter()
            .map(|(db, table)| TableRef { db, table })
            .collect();
        warn!(%position, xid, "an XA transaction prepared before the stream's start committed; its rows cannot be read again: resyncing every captured table");
        self.resync_tables(
            &tables,
            position,
            "an XA transaction of unknown rows committed",
        )
        .await
    }
}
