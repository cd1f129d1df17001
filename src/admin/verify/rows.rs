//! Reading rows for verify: MySQL images by key (the mapping's cells of each row), and the
//! HBase rows of the same keys. Rows are known by their *place* ([`RowTarget::to_bytes`]): a
//! table's own row by its row key, a joined table's by its HBase row key and member prefix,
//! whose HBase image is the cells of its family whose qualifiers decode with that member (the
//! parent's and siblings' cells in the same HBase row are left out).

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::{Candidate, Expected, Image, Verifier, VersionedCells, PAGE};
use crate::core::mapping::{oversized_cell, RowTarget, TableMapping};
use crate::model::SqlValue;
use crate::sink::hbase::client as hbase_client;
use crate::source::snapshot::key_literal;
use crate::source::text::{parse_text, select_column};

impl Verifier {
    /// A row read with the columns `selected` (indexes into the schema): its place, its
    /// lookup key values as text ([`TableMapping::paging_key`]) and its values (NULL for
    /// columns not selected); `None` for a NULL key.
    #[allow(clippy::type_complexity)]
    pub(super) fn parse_row(
        &self,
        row: &Row,
        selected: &[usize],
    ) -> anyhow::Result<Option<(RowTarget, Vec<Vec<u8>>, Vec<SqlValue>)>> {
        let schema = &self.mapping.schema;
        let mut values = vec![SqlValue::Null; schema.columns.len()];
        for (pos, &i) in selected.iter().enumerate() {
            let bytes = match row.as_ref(pos) {
                Some(Value::Bytes(b)) => Some(b.as_slice()),
                _ => None,
            };
            values[i] = parse_text(&schema.columns[i], bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.mapping.source))?;
        }
        let Some(target) = self.mapping.target(&values) else {
            return Ok(None);
        };
        let pk = self
            .mapping
            .paging_key()
            .iter()
            .map(|i| {
                let pos = selected.iter().position(|s| s == i).expect("key selected");
                match row.as_ref(pos) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => Vec::new(),
                }
            })
            .collect();
        Ok(Some((target, pk, values)))
    }

    /// The cells HBase should hold for the row at `target` with `values`: its image, or
    /// `None` for a row HBase cannot take (a cell over `hbase.max_cell_bytes`), which the
    /// daemon deletes from HBase and sends to the dead-letter output instead.
    pub(super) fn expected(&self, target: &RowTarget, values: &[SqlValue]) -> Expected {
        let cells = self.mapping.target_cells(target, values);
        if oversized_cell(&target.key, &cells, self.cfg.hbase.max_cell_bytes).is_some() {
            return None;
        }
        let mut image: Image = cells
            .into_iter()
            .filter_map(|c| Some((c.column.to_vec(), c.value?.into_vec())))
            .collect();
        image.sort();
        Some(image)
    }

    /// The current MySQL images of the candidates' rows by place (no cells with `key_only`);
    /// absent rows are left out, and without `key_only` rows HBase cannot take too.
    pub(super) async fn mysql_images(
        &mut self,
        cands: &[Candidate],
        key_only: bool,
    ) -> anyhow::Result<HashMap<Vec<u8>, Image>> {
        let mut out = HashMap::new();
        let schema = self.mapping.schema.clone();
        let key_cols = self.mapping.paging_key();
        let selected: Vec<usize> = if key_only {
            // The lookup key and the columns that place the row.
            let mut columns = key_cols.clone();
            for c in self.mapping.identity_columns() {
                if !columns.contains(&c) {
                    columns.push(c);
                }
            }
            columns
        } else {
            (0..schema.columns.len()).collect()
        };
        let columns = selected
            .iter()
            .map(|&i| select_column(&schema.columns[i]))
            .collect::<Vec<_>>()
            .join(", ");
        let literal = |i: usize, v: &[u8]| key_literal(&schema, key_cols[i], v);
        let pks: Vec<&Vec<Vec<u8>>> = cands.iter().filter_map(|c| c.pk.as_ref()).collect();
        for batch in pks.chunks(PAGE) {
            let tuples: Vec<String> = batch
                .iter()
                .map(|pk| {
                    let parts: Vec<String> =
                        pk.iter().enumerate().map(|(i, v)| literal(i, v)).collect();
                    if parts.len() == 1 {
                        parts.into_iter().next().expect("one part")
                    } else {
                        format!("({})", parts.join(", "))
                    }
                })
                .collect();
            let lhs = if key_cols.len() == 1 {
                self.key_columns()
            } else {
                format!("({})", self.key_columns())
            };
            let sql = format!(
                "SELECT {columns} FROM {} WHERE {lhs} IN ({})",
                self.quoted_table(),
                tuples.join(", ")
            );
            let rows: Vec<Row> = self.conn.query(sql).await?;
            for row in &rows {
                if let Some((target, _, values)) = self.parse_row(row, &selected)? {
                    let image = if key_only {
                        Some(Vec::new())
                    } else {
                        self.expected(&target, &values)
                    };
                    if let Some(image) = image {
                        out.insert(target.to_bytes(), image);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The HBase rows at `places` with cell timestamps, by place.
    pub(super) fn hbase_rows(
        &mut self,
        places: &[Vec<u8>],
    ) -> crate::error::Result<HashMap<Vec<u8>, VersionedCells>> {
        if !self.hbase_exists || places.is_empty() {
            return Ok(HashMap::new());
        }
        let (table, family) = (
            self.mapping.hbase_table.clone(),
            self.mapping.family.clone(),
        );
        let joined = self.mapping.joined.is_some();
        let targets: Vec<(&Vec<u8>, RowTarget)> = places
            .iter()
            .filter_map(|p| Some((p, RowTarget::from_bytes(p, joined)?)))
            .collect();
        let mut keys: Vec<Vec<u8>> = targets.iter().map(|(_, t)| t.key.clone()).collect();
        keys.sort();
        keys.dedup();
        let mut rows = HashMap::new();
        for batch in keys.chunks(PAGE) {
            let found = self.hbase_call(|c| hbase_client::get_rows(c, &table, &family, batch))?;
            rows.extend(found);
        }
        if !joined {
            return Ok(rows);
        }
        Ok(targets
            .into_iter()
            .filter_map(|(place, target)| {
                let cells = member_cells(&self.mapping, &target, rows.get(&target.key)?);
                (!cells.is_empty()).then(|| (place.clone(), cells))
            })
            .collect())
    }

    /// The HBase images at `places`, by place; absent rows are left out.
    pub(super) fn hbase_images(
        &mut self,
        keys: &[Vec<u8>],
    ) -> crate::error::Result<HashMap<Vec<u8>, Image>> {
        Ok(self
            .hbase_rows(keys)?
            .into_iter()
            .map(|(k, cells)| {
                let mut image: Image = cells.into_iter().map(|(q, v, _)| (q, v)).collect();
                image.sort();
                (k, image)
            })
            .collect())
    }
}

/// A joined table's row's cells among its HBase row's `cells` (of its family): those whose
/// qualifier decodes as this table's with the row's member prefix.
fn member_cells(
    mapping: &TableMapping,
    target: &RowTarget,
    cells: &VersionedCells,
) -> VersionedCells {
    let member = target.member.as_deref().unwrap_or_default();
    let skip = mapping.family.len() + 1;
    cells
        .iter()
        .filter(|(name, _, _)| {
            name.get(skip..)
                .filter(|q| q.starts_with(member))
                .and_then(|q| mapping.decode_member(q))
                .is_some_and(|d| d.member == member)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_joined_rows_cells_are_those_of_its_member() {
        let m = crate::core::mapping::test_support::joined_items("i{id}:{column}");
        let cell = |name: &str| (name.as_bytes().to_vec(), b"v".to_vec(), 1);
        // `i1:` and `i11:` share a first byte; `x1:` is a sibling's.
        let cells = vec![
            cell("items:i1:sku"),
            cell("items:i11:sku"),
            cell("items:i1:id"),
            cell("items:x1:sku"),
        ];
        let target = RowTarget {
            key: b"42".to_vec(),
            member: Some(Arc::from(&b"i1:"[..])),
        };
        let got: Vec<Vec<u8>> = member_cells(&m, &target, &cells)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(got, [b"items:i1:sku".to_vec(), b"items:i1:id".to_vec()]);
    }
}
