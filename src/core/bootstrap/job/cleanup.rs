//! Step 4 of a bootstrap job (see `job`), the cleanup: what HBase holds and MySQL does not is
//! deleted, page by page through the HBase table; the last row key looked at is stored after
//! each page, and a restart resumes after it.
//!
//! - A table with rows of its own: the rows holding a cell of its family whose keys no MySQL
//!   row maps to (looked up by row key) lose that family.
//! - A joined table (its rows are cells in its parent's rows): its family's cells are read by
//!   name (a qualifier-only scan), grouped by the row they belong to (HBase row key and member
//!   prefix, [`TableMapping::decode_member`]; qualifiers that are not this table's, a sibling's
//!   in a shared family, are left alone) and looked up in MySQL by primary key
//!   ([`TableMapping::joined_primary_key`]). A row MySQL lacks, or has at another place (moved
//!   to another parent), loses every cell found; a row MySQL has at that place loses the cells
//!   of columns its mapping does not write (a dropped column's). Never a family delete: the
//!   parent and the siblings share the HBase row.
//! - A table that no longer exists: every row's family goes; for a joined table, every cell of
//!   its family whose qualifier starts with its template's literal prefix.
//!
//! Each page's lookup is one consistent read between two binlog positions, like a chunk, and
//! the deletes go through the router in stream order: a row the stream changed after the
//! lookup is the stream's.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use mysql_async::Conn;
use tracing::info;

use super::{after, hex, unhex, Job, JobError};
use crate::config::{parse_qualifier, TemplatePart};
use crate::core::filter::TableFilter;
use crate::core::handover::{ChunkRows, DeletedRow};
use crate::core::mapping::{hbase_target, RowTarget, TableMapping};
use crate::error::SyncError;
use crate::model::{BinlogPosition, TableSchema};
use crate::sink::hbase::client::{self as hbase_client, QualifiedRow, ThriftClient};
use crate::source::mysql as my;
use crate::source::snapshot::{self, ChunkQuery};

/// HBase rows looked at per cleanup page.
pub(super) const CLEANUP_PAGE: usize = 1000;

/// One cleanup page: the last HBase row key looked at, the positions the MySQL lookup is exact
/// between, and what goes.
struct Page {
    last: Vec<u8>,
    low: BinlogPosition,
    ready_at: BinlogPosition,
    deleted: Vec<DeletedRow>,
}

/// How a cleanup looks at the table (see the module doc).
enum Cleanup<'m> {
    /// Rows of its own, looked up by row key.
    Own(&'m TableMapping, ChunkQuery),
    /// A joined table's rows, looked up by primary key.
    Joined(&'m TableMapping, Box<PlacingLookup>),
    /// A table with rows of its own that no longer exists.
    GoneOwn,
    /// A joined table that no longer exists: its template's literal prefix.
    GoneJoined(Vec<u8>),
}

/// Reads a joined table's rows by primary key, with just the columns that place them (its
/// primary key, row key and template columns), and places them.
pub(super) struct PlacingLookup {
    query: ChunkQuery,
    mapping: TableMapping,
}

/// One joined row's cells found in an HBase row.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundRow {
    pub target: RowTarget,
    /// Its primary key (text, in primary-key order); `None` when the row key is none of the
    /// table's.
    pub pk: Option<Vec<Vec<u8>>>,
    /// Each cell found: `family:qualifier`, and its column's name.
    pub cells: Vec<(Arc<[u8]>, Vec<u8>)>,
}

impl Job<'_> {
    /// Step 4: see the module doc.
    pub(super) async fn clean_up(&self, conn: &mut Conn) -> Result<(), JobError> {
        let (table, family) = hbase_target(self.cfg, &self.job.database, &self.job.table);
        let (table, family): (Arc<str>, Arc<str>) = (table.into(), family.into());
        let mut start: Option<Vec<u8>> = match &self.job.extras_key {
            Some(hex) => Some(after(&unhex(hex).map_err(|e| {
                JobError::Definite(format!("job {}: bad extras_key: {e}", self.job.id))
            })?)),
            None => None,
        };
        let how = self.cleanup_kind()?;
        let mut deleted = 0u64;
        while let Some(page) = self
            .cleanup_page(conn, &how, &table, &family, start.as_deref())
            .await?
        {
            let n = page.deleted.len() as u64;
            if n > 0 {
                let rows = ChunkRows::Deletes {
                    table: table.clone(),
                    family: family.clone(),
                    rows: page.deleted,
                };
                Self::wait_written(self.hand_over(page.low, page.ready_at, rows).await?).await?;
            }
            deleted += n;
            self.store
                .job_cleanup_progress(self.job.id, &hex(&page.last))
                .await?;
            start = Some(after(&page.last));
        }
        info!(table = %self.name, hbase_table = %table, %family, deleted, "cleanup: HBase rows (or a joined table's cells) MySQL does not have are deleted");
        Ok(())
    }

    fn cleanup_kind(&self) -> Result<Cleanup<'_>, JobError> {
        Ok(match &self.mapping {
            Some(m) if m.joined.is_some() => {
                Cleanup::Joined(m, Box::new(placing_lookup(self.cfg, m)?))
            }
            Some(m) => {
                let schema = (*m.schema).clone();
                Cleanup::Own(
                    m,
                    ChunkQuery::new(schema, m.row_key.clone(), None, CLEANUP_PAGE),
                )
            }
            None => match self.cfg.mapping.joined(&self.name) {
                Some(entry) => {
                    Cleanup::GoneJoined(literal_prefix(entry.qualifier.as_deref().unwrap_or("")))
                }
                None => Cleanup::GoneOwn,
            },
        })
    }

    /// The next page from `start`; `None` past the table's end.
    async fn cleanup_page(
        &self,
        conn: &mut Conn,
        how: &Cleanup<'_>,
        table: &str,
        family: &str,
        start: Option<&[u8]>,
    ) -> Result<Option<Page>, JobError> {
        if let Cleanup::Own(..) | Cleanup::GoneOwn = how {
            let keys = self.hbase_keys(table, family, start).await?;
            let Some(last) = keys.last().cloned() else {
                return Ok(None);
            };
            let (low, ready_at, extra) = match how {
                Cleanup::Own(mapping, query) => absent_keys(conn, mapping, query, keys).await?,
                // The table is gone: no MySQL row maps to any key.
                _ => {
                    let (low, ready_at) = position_now(conn).await?;
                    (low, ready_at, keys)
                }
            };
            let deleted = extra.into_iter().map(DeletedRow::own).collect();
            return Ok(Some(Page {
                last,
                low,
                ready_at,
                deleted,
            }));
        }
        let rows = self.hbase_qualifiers(table, family, start).await?;
        let Some(last) = rows.last().map(|(k, _)| k.clone()) else {
            return Ok(None);
        };
        let (low, ready_at, deleted) = match how {
            Cleanup::Joined(mapping, lookup) => {
                let found = found_rows(mapping, &rows);
                let pks: Vec<&Vec<Vec<u8>>> = found.iter().filter_map(|r| r.pk.as_ref()).collect();
                let (low, ready_at, present) = lookup.present(conn, &pks).await?;
                (low, ready_at, stale_cells(mapping, found, &present))
            }
            Cleanup::GoneJoined(prefix) => {
                let (low, ready_at) = position_now(conn).await?;
                (low, ready_at, gone_cells(prefix, family, &rows))
            }
            Cleanup::Own(..) | Cleanup::GoneOwn => unreachable!("handled above"),
        };
        Ok(Some(Page {
            last,
            low,
            ready_at,
            deleted,
        }))
    }

    /// Whether the HBase table holds any cell of `family` (a cleanup has nothing to do else).
    pub(super) async fn hbase_holds_family(
        &self,
        table: &str,
        family: &str,
    ) -> Result<bool, JobError> {
        let start = None;
        let read = move |c: &mut ThriftClient, t: &str, f: &str| {
            hbase_client::scan_family_keys_page(c, t, f, start, 1)
        };
        Ok(!self.hbase_read(table, family, read).await?.is_empty())
    }

    /// Up to a page of the keys of the HBase rows holding a cell of `family`, from `start`.
    async fn hbase_keys(
        &self,
        table: &str,
        family: &str,
        start: Option<&[u8]>,
    ) -> Result<Vec<Vec<u8>>, JobError> {
        let start = start.map(<[u8]>::to_vec);
        let read = move |c: &mut ThriftClient, t: &str, f: &str| {
            hbase_client::scan_family_keys_page(c, t, f, start.as_deref(), CLEANUP_PAGE)
        };
        self.hbase_read(table, family, read).await
    }

    /// Up to a page of HBase rows from `start`, with the names of their cells in `family`.
    async fn hbase_qualifiers(
        &self,
        table: &str,
        family: &str,
        start: Option<&[u8]>,
    ) -> Result<Vec<QualifiedRow>, JobError> {
        let start = start.map(<[u8]>::to_vec);
        let read = move |c: &mut ThriftClient, t: &str, f: &str| {
            hbase_client::scan_qualifiers_page(c, t, f, start.as_deref(), CLEANUP_PAGE)
        };
        self.hbase_read(table, family, read).await
    }

    /// `read` on a fresh connection; nothing (the default) when the table or the family is
    /// missing.
    pub(super) async fn hbase_read<T: Default + Send + 'static>(
        &self,
        table: &str,
        family: &str,
        read: impl FnOnce(&mut ThriftClient, &str, &str) -> crate::error::Result<T> + Send + 'static,
    ) -> Result<T, JobError> {
        let hbase = self.cfg.hbase.clone();
        let (table, family) = (table.to_string(), family.to_string());
        tokio::task::spawn_blocking(move || {
            let mut client = hbase_client::connect(&hbase)?;
            if !hbase_client::table_exists(&mut client, &table)?
                || !hbase_client::families(&mut client, &table)?.contains(&family)
            {
                return Ok(T::default());
            }
            read(&mut client, &table, &family)
        })
        .await
        .map_err(|e| SyncError::transient(format!("HBase read panicked: {e}")))?
        .map_err(JobError::from)
    }
}

/// The binlog position now, as both ends of a lookup that read nothing.
pub(super) async fn position_now(
    conn: &mut Conn,
) -> Result<(BinlogPosition, BinlogPosition), JobError> {
    let (p, _) = my::current_position(conn).await?;
    Ok((p.clone(), p))
}

/// The keys among `keys` no MySQL row maps to, with the positions the answer is exact between.
/// Keys that decode to no key values (another tool's rows, another salt) are no MySQL row's.
async fn absent_keys(
    conn: &mut Conn,
    mapping: &TableMapping,
    query: &ChunkQuery,
    keys: Vec<Vec<u8>>,
) -> Result<(BinlogPosition, BinlogPosition, Vec<Vec<u8>>), JobError> {
    let pks: Vec<Vec<Vec<u8>>> = keys.iter().filter_map(|k| mapping.decode_key(k)).collect();
    let refs: Vec<&Vec<Vec<u8>>> = pks.iter().collect();
    let (low, ready_at, present) = if refs.is_empty() {
        let (low, ready_at) = position_now(conn).await?;
        (low, ready_at, HashSet::new())
    } else {
        let found = snapshot::present_keys(conn, query, &refs).await?;
        let present: HashSet<Vec<u8>> = found
            .rows
            .iter()
            .filter_map(|image| mapping.row_key(image))
            .collect();
        (found.low, found.ready_at, present)
    };
    let extra = keys.into_iter().filter(|k| !present.contains(k)).collect();
    Ok((low, ready_at, extra))
}

/// The lookup of `mapping`'s rows (a joined table's) by primary key.
pub(super) fn placing_lookup(
    cfg: &crate::config::Config,
    mapping: &TableMapping,
) -> Result<PlacingLookup, JobError> {
    let mut columns = mapping.paging_key();
    columns.extend(mapping.identity_columns());
    let schema = Arc::new(narrowed(&mapping.schema, &columns));
    let placing = TableMapping::resolve(cfg, &TableFilter::new(&cfg.capture), schema.clone())
        .map_err(|e| JobError::Definite(e.to_string()))?;
    let query = ChunkQuery::new(
        (*schema).clone(),
        schema.primary_key.clone(),
        None,
        CLEANUP_PAGE,
    );
    Ok(PlacingLookup {
        query,
        mapping: placing,
    })
}

impl PlacingLookup {
    /// Where the MySQL rows with these primary keys are now, read consistently, with the
    /// positions the answer is exact between.
    pub(super) async fn present(
        &self,
        conn: &mut Conn,
        pks: &[&Vec<Vec<u8>>],
    ) -> Result<(BinlogPosition, BinlogPosition, HashSet<RowTarget>), JobError> {
        if pks.is_empty() {
            let (low, ready_at) = position_now(conn).await?;
            return Ok((low, ready_at, HashSet::new()));
        }
        let found = snapshot::rows_by_keys(conn, &self.query, pks).await?;
        let present = found
            .rows
            .iter()
            .filter_map(|row| self.mapping.target(row))
            .collect();
        Ok((found.low, found.ready_at, present))
    }
}

/// `schema` with only `columns` (indexes, in any order, repeats allowed), in schema order; its
/// primary key the primary-key columns among them.
fn narrowed(schema: &TableSchema, columns: &[usize]) -> TableSchema {
    let kept: Vec<usize> = (0..schema.columns.len())
        .filter(|i| columns.contains(i))
        .collect();
    TableSchema {
        database: schema.database.clone(),
        table: schema.table.clone(),
        columns: kept.iter().map(|&i| schema.columns[i].clone()).collect(),
        primary_key: schema
            .primary_key
            .iter()
            .filter_map(|pk| kept.iter().position(|k| k == pk))
            .collect(),
    }
}

/// A page's cells of `mapping`'s family (a joined table's) grouped by the row they belong to,
/// in the page's order; qualifiers that are not this table's are left out.
pub fn found_rows(mapping: &TableMapping, page: &[QualifiedRow]) -> Vec<FoundRow> {
    let family = mapping.family.as_bytes();
    let mut out = Vec::new();
    for (key, names) in page {
        let mut members: BTreeMap<&[u8], FoundRow> = BTreeMap::new();
        for name in names {
            let Some(qualifier) = name
                .strip_prefix(family)
                .and_then(|rest| rest.strip_prefix(b":"))
            else {
                continue;
            };
            let Some(decoded) = mapping.decode_member(qualifier) else {
                continue;
            };
            let row = members.entry(decoded.member).or_insert_with(|| FoundRow {
                target: RowTarget {
                    key: key.clone(),
                    member: Some(Arc::from(decoded.member)),
                },
                pk: mapping.joined_primary_key(key, qualifier),
                cells: Vec::new(),
            });
            row.cells
                .push((Arc::from(name.as_slice()), decoded.column.to_vec()));
        }
        out.extend(members.into_values());
    }
    out
}

/// What goes of the `found` rows, given the places of the MySQL rows they are (`present`): a
/// row at no such place (MySQL lacks it, or has it at another place) loses every cell found;
/// a row at its place, the cells of columns the mapping does not write.
pub(super) fn stale_cells(
    mapping: &TableMapping,
    found: Vec<FoundRow>,
    present: &HashSet<RowTarget>,
) -> Vec<DeletedRow> {
    let skip = mapping.family.len() + 1;
    let written: HashSet<&[u8]> = mapping
        .qualifiers
        .iter()
        .flatten()
        .map(|q| &q[skip..])
        .collect();
    found
        .into_iter()
        .filter_map(|row| {
            let here = present.contains(&row.target);
            let cells: Vec<Arc<[u8]>> = row
                .cells
                .into_iter()
                .filter(|(_, column)| !here || !written.contains(column.as_slice()))
                .map(|(cell, _)| cell)
                .collect();
            (!cells.is_empty()).then_some(DeletedRow {
                target: row.target,
                cells,
            })
        })
        .collect()
}

/// A gone joined table's cells in a page: those of `family` whose qualifier starts with
/// `prefix`, per HBase row, as member deletes (never the whole row).
pub(super) fn gone_cells(prefix: &[u8], family: &str, page: &[QualifiedRow]) -> Vec<DeletedRow> {
    let skip = family.len() + 1;
    page.iter()
        .filter_map(|(key, names)| {
            let cells: Vec<Arc<[u8]>> = names
                .iter()
                .filter(|n| n.get(skip..).is_some_and(|q| q.starts_with(prefix)))
                .map(|n| Arc::from(n.as_slice()))
                .collect();
            (!cells.is_empty()).then(|| DeletedRow {
                target: RowTarget {
                    key: key.clone(),
                    member: Some(Arc::from(&b""[..])),
                },
                cells,
            })
        })
        .collect()
}

/// The literal text a qualifier template starts with (empty when it starts with a
/// placeholder, or is unreadable).
fn literal_prefix(template: &str) -> Vec<u8> {
    match parse_qualifier(template)
        .ok()
        .and_then(|p| p.into_iter().next())
    {
        Some(TemplatePart::Literal(l)) => l.into_bytes(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::model::ColumnSchema;

    fn col(name: &str) -> ColumnSchema {
        ColumnSchema::text(name)
    }

    /// shop.items (id, order_id, sku), joined into shop_orders as `items:{id}:{column}`.
    pub(in crate::core::bootstrap::job) fn items() -> TableMapping {
        crate::core::mapping::test_support::joined_items("{id}:{column}")
    }

    /// A found row at `target` with cells of these columns.
    pub(in crate::core::bootstrap::job) fn row(target: RowTarget, columns: &[&[u8]]) -> FoundRow {
        let member = target.member.clone().unwrap();
        let cells = columns
            .iter()
            .map(|c| {
                let name = [&b"items:"[..], &member, c].concat();
                (Arc::from(name.as_slice()), c.to_vec())
            })
            .collect();
        FoundRow {
            pk: Some(vec![member[..member.len() - 1].to_vec()]),
            target,
            cells,
        }
    }

    fn names(page: &[&str]) -> Vec<Vec<u8>> {
        page.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn found_cells_are_grouped_by_the_row_they_belong_to() {
        let m = items();
        let page = vec![(
            b"42".to_vec(),
            names(&[
                "items:7:id",
                "items:7:sku",
                "items:8:sku",
                "items:nope",
                "d:x",
            ]),
        )];
        let found = found_rows(&m, &page);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0], row(found[0].target.clone(), &[b"id", b"sku"]));
        assert_eq!(found[0].target.key, b"42");
        assert_eq!(found[0].target.member.as_deref(), Some(&b"7:"[..]));
        assert_eq!(found[0].pk, Some(vec![b"7".to_vec()]));
        assert_eq!(found[1].target.member.as_deref(), Some(&b"8:"[..]));
    }

    #[test]
    fn stale_cells_are_absent_moved_rows_and_dropped_columns() {
        let m = items();
        let at = |key: &[u8], member: &[u8]| RowTarget {
            key: key.to_vec(),
            member: Some(Arc::from(member)),
        };
        let found = vec![
            row(at(b"42", b"7:"), &[b"id", b"sku", b"dropped"]),
            row(at(b"42", b"8:"), &[b"id", b"sku"]),
            row(at(b"42", b"9:"), &[b"sku"]),
        ];
        // 7 is in MySQL at its place; 8 moved to order 43; 9 is gone.
        let present: HashSet<RowTarget> =
            [at(b"42", b"7:"), at(b"43", b"8:")].into_iter().collect();
        let out = stale_cells(&m, found, &present);
        let got: Vec<(Vec<u8>, Vec<String>)> = out
            .iter()
            .map(|d| {
                let member = d.target.member.as_deref().unwrap().to_vec();
                let cells = d
                    .cells
                    .iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned());
                (member, cells.collect())
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (b"7:".to_vec(), vec!["items:7:dropped".to_string()]),
                (
                    b"8:".to_vec(),
                    vec!["items:8:id".into(), "items:8:sku".into()]
                ),
                (b"9:".to_vec(), vec!["items:9:sku".into()]),
            ]
        );
    }

    #[test]
    fn a_gone_joined_tables_cells_are_those_under_its_prefix() {
        assert_eq!(literal_prefix("i{id}:{column}"), b"i");
        assert_eq!(literal_prefix("{id}:{column}"), b"");
        let page = vec![
            (b"1".to_vec(), names(&["items:i7:sku", "items:x7:sku"])),
            (b"2".to_vec(), names(&["items:x1:sku"])),
        ];
        let out = gone_cells(b"i", "items", &page);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].target.key, b"1");
        assert_eq!(out[0].target.member.as_deref(), Some(&b""[..]));
        assert_eq!(&out[0].cells[0][..], b"items:i7:sku");
        assert_eq!(gone_cells(b"", "items", &page).len(), 2);
    }

    #[test]
    fn a_narrowed_schema_keeps_its_primary_key() {
        let schema = TableSchema {
            database: "shop".into(),
            table: "items".into(),
            columns: vec![col("a"), col("id"), col("order_id"), col("b")],
            primary_key: vec![1],
        };
        let n = narrowed(&schema, &[2, 1, 1]);
        let names: Vec<&str> = n.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "order_id"]);
        assert_eq!(n.primary_key, vec![0]);
    }
}
