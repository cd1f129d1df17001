//! A repair job (`verify --repair`): exactly the rows verify handed over (`RepairKey`: the
//! row's place and its primary key), as MySQL has them now, read consistently between two
//! binlog positions and written through the router like a chunk:
//! - the rows MySQL has are copied (each a whole-row replace, a joined table's a put of its
//!   cells at its current place);
//! - a table with rows of its own: the keys MySQL has no row at are deleted (their family);
//! - a joined table (`RepairKey.key` is the place as [`RowTarget::to_bytes`] writes it): a
//!   place MySQL has no row at (the row is gone, or moved to another parent) loses every cell
//!   its mapping names and every cell of its member found in HBase; a place MySQL has its row
//!   at loses the found cells of columns the mapping does not write (see `cleanup`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use mysql_async::Conn;

use super::cleanup::{found_rows, gone_cells, position_now, stale_cells, FoundRow};
use super::{Job, JobError};
use crate::core::handover::{ChunkRows, DeletedRow};
use crate::core::mapping::{hbase_target, RowTarget, TableMapping};
use crate::model::{BinlogPosition, SqlValue};
use crate::sink::hbase::client::{self as hbase_client, QualifiedRow, ThriftClient};
use crate::source::snapshot::{self, ChunkQuery};
use crate::state::RepairKey;

/// One batch's reads: the positions they are exact between, the rows MySQL has, the deletes.
type Repaired = (
    BinlogPosition,
    BinlogPosition,
    Vec<Vec<SqlValue>>,
    Vec<DeletedRow>,
);

impl Job<'_> {
    /// A repair: exactly these rows, as MySQL has them now.
    pub(super) async fn repair(&self, conn: &mut Conn, keys: &[RepairKey]) -> Result<(), JobError> {
        let (table, family) = hbase_target(self.cfg, &self.job.database, &self.job.table);
        let (table, family): (Arc<str>, Arc<str>) = (table.into(), family.into());
        for batch in keys.chunks(self.cfg.snapshot.chunk_rows.max(1) as usize) {
            let (low, ready_at, rows, deleted) = match &self.mapping {
                Some(mapping) => self.repair_batch(conn, mapping, &table, batch).await?,
                None => self.gone_batch(conn, &table, &family, batch).await?,
            };
            let mut pending = Vec::new();
            if let Some(mapping) = self.mapping.as_ref().filter(|_| !rows.is_empty()) {
                let images = ChunkRows::Images {
                    schema: mapping.schema.clone(),
                    rows,
                };
                pending.push(
                    self.hand_over(low.clone(), ready_at.clone(), images)
                        .await?,
                );
            }
            if !deleted.is_empty() {
                let deletes = ChunkRows::Deletes {
                    table: table.clone(),
                    family: family.clone(),
                    rows: deleted,
                };
                pending.push(self.hand_over(low, ready_at, deletes).await?);
            }
            for rx in pending {
                Self::wait_written(rx).await?;
            }
            self.store
                .job_progress(self.job.id, "[]", 1, batch.len() as u64)
                .await?;
            self.rows_done(batch.len() as u64);
        }
        Ok(())
    }

    /// A batch of a table that exists: its rows MySQL has, and what goes.
    async fn repair_batch(
        &self,
        conn: &mut Conn,
        mapping: &TableMapping,
        table: &str,
        batch: &[RepairKey],
    ) -> Result<Repaired, JobError> {
        let joined = mapping.joined.is_some();
        let places: Vec<RowTarget> = batch
            .iter()
            .filter_map(|k| RowTarget::from_bytes(&k.key, joined))
            .collect();
        // Read before MySQL, like a cleanup's page.
        let found = match joined {
            true => self.member_cells(mapping, table, &places).await?,
            false => Vec::new(),
        };
        let query = ChunkQuery::new(
            (*mapping.schema).clone(),
            mapping.paging_key(),
            None,
            batch.len(),
        );
        let pks: Vec<&Vec<Vec<u8>>> = batch.iter().filter_map(|k| k.pk.as_ref()).collect();
        let (low, ready_at, rows) = if pks.is_empty() {
            let (low, ready_at) = position_now(conn).await?;
            (low, ready_at, Vec::new())
        } else {
            let read = snapshot::rows_by_keys(conn, &query, &pks).await?;
            (read.low, read.ready_at, read.rows)
        };
        let present: HashSet<RowTarget> = rows.iter().filter_map(|r| mapping.target(r)).collect();
        let deleted = match joined {
            true => repaired_members(mapping, &places, &present, found),
            false => places
                .into_iter()
                .filter(|p| !present.contains(p))
                .map(|p| DeletedRow::own(p.key))
                .collect(),
        };
        Ok((low, ready_at, rows, deleted))
    }

    /// A batch of a table that no longer exists: every repaired row goes (a joined table's:
    /// the cells of its member found in HBase).
    async fn gone_batch(
        &self,
        conn: &mut Conn,
        table: &str,
        family: &str,
        batch: &[RepairKey],
    ) -> Result<Repaired, JobError> {
        let (low, ready_at) = position_now(conn).await?;
        if self.cfg.mapping.joined(&self.name).is_none() {
            let deleted = batch
                .iter()
                .map(|k| DeletedRow::own(k.key.clone()))
                .collect();
            return Ok((low, ready_at, Vec::new(), deleted));
        }
        let places = batch
            .iter()
            .filter_map(|k| RowTarget::from_bytes(&k.key, true));
        let mut deleted = Vec::new();
        for place in places {
            let rows = self
                .hbase_rows(table, family, vec![place.key.clone()])
                .await?;
            let member = place.member.as_deref().unwrap_or_default();
            deleted.extend(gone_cells(member, family, &rows));
        }
        Ok((low, ready_at, Vec::new(), deleted))
    }

    /// The cells HBase holds at these places of a joined table's rows.
    async fn member_cells(
        &self,
        mapping: &TableMapping,
        table: &str,
        places: &[RowTarget],
    ) -> Result<Vec<FoundRow>, JobError> {
        let mut keys: Vec<Vec<u8>> = places.iter().map(|p| p.key.clone()).collect();
        keys.sort();
        keys.dedup();
        let rows = self.hbase_rows(table, &mapping.family, keys).await?;
        let wanted: HashSet<&RowTarget> = places.iter().collect();
        let mut found = found_rows(mapping, &rows);
        found.retain(|r| wanted.contains(&r.target));
        Ok(found)
    }

    /// The HBase rows `keys` with the names of their cells in `family`.
    async fn hbase_rows(
        &self,
        table: &str,
        family: &str,
        keys: Vec<Vec<u8>>,
    ) -> Result<Vec<QualifiedRow>, JobError> {
        let read = move |c: &mut ThriftClient, t: &str, f: &str| {
            let rows = hbase_client::get_rows(c, t, f, &keys)?;
            Ok(rows
                .into_iter()
                .map(|(key, cells)| (key, cells.into_iter().map(|(n, _, _)| n).collect()))
                .collect())
        };
        self.hbase_read(table, family, read).await
    }
}

/// What a repair of a joined table deletes (see the module doc): each repaired place MySQL
/// has no row at (`present`: where its rows are) loses every cell its mapping names and every
/// cell `found` there; one MySQL has a row at, the found cells of columns not written.
fn repaired_members(
    mapping: &TableMapping,
    places: &[RowTarget],
    present: &HashSet<RowTarget>,
    found: Vec<FoundRow>,
) -> Vec<DeletedRow> {
    let mut stale: HashMap<RowTarget, Vec<Arc<[u8]>>> = stale_cells(mapping, found, present)
        .into_iter()
        .map(|d| (d.target, d.cells))
        .collect();
    let mut out = Vec::new();
    for place in places {
        let mut cells = stale.remove(place).unwrap_or_default();
        if !present.contains(place) {
            for cell in mapping.deleted_cells(place) {
                if !cells.contains(&cell.column) {
                    cells.push(cell.column);
                }
            }
        }
        if !cells.is_empty() {
            out.push(DeletedRow {
                target: place.clone(),
                cells,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::bootstrap::job::cleanup::tests::{items, row};

    #[test]
    fn a_repaired_place_loses_what_mysql_does_not_have_there() {
        let m = items();
        let at = |member: &[u8]| RowTarget {
            key: b"42".to_vec(),
            member: Some(Arc::from(member)),
        };
        let found = vec![
            row(at(b"7:"), &[b"sku", b"old"]),
            row(at(b"8:"), &[b"sku", b"stale"]),
        ];
        // 7 is there; 8 and 9 are not (gone, or moved to another order).
        let present: HashSet<RowTarget> = [at(b"7:")].into_iter().collect();
        let out = repaired_members(&m, &[at(b"7:"), at(b"8:"), at(b"9:")], &present, found);
        let names = |d: &DeletedRow| -> Vec<String> {
            d.cells
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect()
        };
        assert_eq!(out.len(), 3);
        assert_eq!(names(&out[0]), ["items:7:old"]);
        assert_eq!(
            names(&out[1]),
            [
                "items:8:sku",
                "items:8:stale",
                "items:8:id",
                "items:8:order_id"
            ]
        );
        assert_eq!(
            names(&out[2]),
            ["items:9:id", "items:9:order_id", "items:9:sku"]
        );
    }
}
