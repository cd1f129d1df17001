//! The router's side of the bootstrap hand-over (see `core::handover`): a job's requests
//! (track a table, untrack it, a chunk, wait until the stream routed a position), and each
//! chunk handed to the sinks once the stream has caught up with it, in stream order: rows the
//! stream changed after the chunk's low position are left to the stream, the rest become
//! whole-row replaces (a copy), puts of some cells (a backfill) or deletes (a cleanup).

use std::sync::Arc;

use crate::core::catalog::Catalog;
use crate::core::handover::{ChunkRows, HandoverRequest, SnapshotChunk};
use crate::core::mapping::{hbase_target, oversized_cell, RowTarget, TableMapping};
use crate::error::{Result, SyncError};
use crate::model::{Barrier, Cell, RowChange, RowOp, SqlValue, Version};
use crate::sink::SinkMsg;

use super::unwritable::{set_aside, NotWritten, Unwritten};
use super::Router;

impl<C: Catalog> Router<C> {
    /// A bootstrap job's request.
    pub async fn handover(&mut self, request: HandoverRequest) -> Result<()> {
        match request {
            HandoverRequest::Track {
                job,
                db,
                table,
                first,
                reply,
            } => {
                let source = format!("{db}.{table}");
                // From now on the job reads after this point: later statements need a new job.
                self.unstarted_resyncs
                    .retain(|t, j| *j != job || *t != source);
                let (hbase_table, family) = hbase_target(&self.cfg, &db, &table);
                let target = (Arc::from(hbase_table), Arc::from(family));
                let tracked_bytes = self.changes.track(job, &source, target);
                if let Some(events) = self.events.as_mut() {
                    events
                        .bootstrap_started(&self.catalog, job, &db, &table, first, &self.position)
                        .await?;
                }
                let _ = reply.send(tracked_bytes);
            }
            HandoverRequest::Untrack { job, complete } => {
                self.changes.untrack(job);
                self.pending_chunks.retain(|c| c.job_id != job);
                if let Some(events) = self.events.as_mut() {
                    events
                        .bootstrap_ended(&self.catalog, job, complete, &self.position)
                        .await?;
                }
            }
            HandoverRequest::Chunk(chunk) => {
                self.pending_chunks.push_back(chunk);
                self.hand_over_ready_chunks().await?;
            }
            HandoverRequest::Routed { position, reply } => {
                if position <= self.position {
                    let _ = reply.send(());
                } else {
                    self.routed_waiters.push((position, reply));
                }
            }
        }
        Ok(())
    }

    /// Hands the bootstrap chunks the stream has caught up with over to the sinks.
    pub(super) async fn hand_over_ready_chunks(&mut self) -> Result<()> {
        while let Some(front) = self.pending_chunks.front() {
            if front.ready_at > self.position {
                break;
            }
            let chunk = self.pending_chunks.pop_front().expect("front exists");
            self.hand_over(chunk).await?;
        }
        Ok(())
    }

    /// See `core::handover`: rows changed after the chunk's low position are the stream's;
    /// the rest are written at the stream's current version, in stream order.
    async fn hand_over(&mut self, chunk: SnapshotChunk) -> Result<()> {
        // At least the wall clock: the chunk's rows must land above cells other tools wrote
        // (and damage `verify --repair` mends) while the stream was idle.
        self.version = self.version.max(Version::now());
        let n = self.sinks.len();
        let mut per_sink: Vec<Vec<RowChange>> = vec![Vec::new(); n];
        let mut kept: Vec<&[SqlValue]> = Vec::new();
        let mut push = |change: RowChange| per_sink[change.partition(n)].push(change);
        let unchanged =
            |target: &RowTarget| !self.changes.changed_after(chunk.job_id, target, &chunk.low);
        let mut images_of = None;
        match &chunk.rows {
            ChunkRows::Images { schema, rows }
            | ChunkRows::Columns {
                schema,
                rows,
                cleared: _,
            } => {
                let cleared = match &chunk.rows {
                    ChunkRows::Columns { cleared, .. } => Some(cleared.clone()),
                    _ => None,
                };
                let mapping = TableMapping::resolve(&self.cfg, &self.filter, schema.clone())
                    .map_err(|e| {
                        SyncError::definite(
                            format!("a bootstrap chunk cannot be mapped: {e}"),
                            "fix the table's [[mapping.tables]] entry",
                        )
                        .in_table(chunk.source.clone())
                    })?;
                // A backfill's key columns are only there to make the row key: their cells are
                // in HBase already (a DDL that changes a key column resyncs the whole table).
                let key_cells: Vec<Arc<[u8]>> = match cleared {
                    Some(_) => mapping
                        .row_key
                        .iter()
                        .filter_map(|&i| mapping.qualifiers[i].clone())
                        .collect(),
                    None => Vec::new(),
                };
                for row in rows {
                    let Some(target) = mapping.target(row).filter(|t| unchanged(t)) else {
                        continue;
                    };
                    // A backfill's rows are not whole rows: no bootstrap change event.
                    if self.events.is_some() && cleared.is_none() {
                        kept.push(row);
                    }
                    let mut cells = mapping.target_cells(&target, row);
                    let oversized =
                        oversized_cell(&target.key, &cells, self.cfg.hbase.max_cell_bytes);
                    let ops = match (oversized, &cleared) {
                        (None, None) => vec![(target, RowOp::Replace(cells))],
                        (None, Some(cleared)) => {
                            // Named as a row of its own's, like the key cells and the cleared
                            // columns, then placed.
                            cells = mapping.cells(row);
                            cells.retain(|c| !key_cells.contains(&c.column));
                            cells.extend(cleared.iter().map(|column| Cell {
                                column: column.clone(),
                                value: None,
                            }));
                            let cells = mapping.at_member(&target, cells);
                            vec![(target, RowOp::Put(cells))]
                        }
                        // As in the stream (`row_changes`): HBase would refuse it forever.
                        (Some(reason), _) => {
                            let row = Unwritten {
                                op: Some("bootstrap-insert"),
                                after: Some(row),
                                ..Unwritten::keys(NotWritten::CellTooLarge(reason), vec![target])
                            };
                            let dead_letter = self.dead_letter.as_mut();
                            set_aside(dead_letter, &mapping, &self.position, row)?
                        }
                    };
                    for (target, op) in ops {
                        mapping.changes(target, op, self.version, &mut push);
                    }
                }
                if cleared.is_none() {
                    images_of = Some(schema.clone());
                }
            }
            ChunkRows::Deletes {
                table,
                family,
                rows,
            } => {
                // Just the rows' own cells: a cleanup makes HBase equal MySQL, whose other
                // tables' rows (a deleted parent's children) are theirs to clean up.
                for row in rows.iter().filter(|r| unchanged(&r.target)) {
                    let op = match row.target.member {
                        None => RowOp::Delete,
                        Some(_) => RowOp::Put(
                            row.cells
                                .iter()
                                .map(|column| Cell {
                                    column: column.clone(),
                                    value: None,
                                })
                                .collect(),
                        ),
                    };
                    push(RowChange {
                        table: table.clone(),
                        family: family.clone(),
                        key: row.target.key.clone(),
                        member: row.target.member.clone(),
                        op,
                        version: self.version,
                    });
                }
            }
        }
        if let Some(floor) = &chunk.prune_to {
            self.changes.prune(chunk.job_id, floor);
        }
        self.send_changes(per_sink).await?;
        if let Some(dead_letter) = self.dead_letter.as_mut() {
            // Durable before the barrier lets the job store the chunk as done.
            dead_letter.flush()?;
        }
        let mut arrivals = n;
        if let Some(events) = self.events.as_mut() {
            // Maxwell has bootstrap inserts only; rows deleted by a cleanup have no event.
            if let Some(schema) = images_of {
                let table = events.table(&self.catalog, &schema).await?;
                for rows in kept.chunks(1000) {
                    let rendered =
                        events.bootstrap_rows(&table, &self.position, rows.iter().copied());
                    events.send(rendered).await?;
                }
            }
            arrivals += 1;
        }
        let barrier = Arc::new(Barrier::new(arrivals, chunk.written));
        for idx in 0..n {
            self.send(idx, SinkMsg::Barrier(barrier.clone())).await?;
        }
        if let Some(events) = &self.events {
            events.mark(SinkMsg::Barrier(barrier)).await?;
        }
        Ok(())
    }
}
