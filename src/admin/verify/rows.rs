//! Reading rows for verify: MySQL images by key (the mapping's cells of each row), and the
//! HBase rows of the same keys.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::{Candidate, Expected, Image, Verifier, VersionedCells, PAGE};
use crate::core::mapping::oversized_cell;
use crate::model::SqlValue;
use crate::sink::hbase::client as hbase_client;
use crate::source::snapshot::key_literal;
use crate::source::text::{parse_text, select_column};

impl Verifier {
    /// A row read with the columns `selected` (indexes into the schema): its row key, its key
    /// values as text and its values (NULL for columns not selected); `None` for a NULL key.
    #[allow(clippy::type_complexity)]
    pub(super) fn parse_row(
        &self,
        row: &Row,
        selected: &[usize],
    ) -> anyhow::Result<Option<(Vec<u8>, Vec<Vec<u8>>, Vec<SqlValue>)>> {
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
        let Some(key) = self.mapping.row_key(&values) else {
            return Ok(None);
        };
        let pk = self
            .mapping
            .row_key
            .iter()
            .map(|i| {
                let pos = selected.iter().position(|s| s == i).expect("key selected");
                match row.as_ref(pos) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => Vec::new(),
                }
            })
            .collect();
        Ok(Some((key, pk, values)))
    }

    /// The cells HBase should hold for the row `key` with `values`: its image, or `None` for
    /// a row HBase cannot take (a cell over `hbase.max_cell_bytes`), which the daemon deletes
    /// from HBase and sends to the dead-letter output instead.
    pub(super) fn expected(&self, key: &[u8], values: &[SqlValue]) -> Expected {
        let cells = self.mapping.cells(values);
        if oversized_cell(key, &cells, self.cfg.hbase.max_cell_bytes).is_some() {
            return None;
        }
        let mut image: Image = cells
            .into_iter()
            .filter_map(|c| Some((c.column.to_vec(), c.value?)))
            .collect();
        image.sort();
        Some(image)
    }

    /// The current MySQL images of the candidates' rows by row key (no cells with `key_only`);
    /// absent rows are left out, and without `key_only` rows HBase cannot take too.
    pub(super) async fn mysql_images(
        &mut self,
        cands: &[Candidate],
        key_only: bool,
    ) -> anyhow::Result<HashMap<Vec<u8>, Image>> {
        let mut out = HashMap::new();
        let schema = self.mapping.schema.clone();
        let key_cols = self.mapping.row_key.clone();
        let selected: Vec<usize> = if key_only {
            key_cols.clone()
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
                if let Some((key, _, values)) = self.parse_row(row, &selected)? {
                    let image = if key_only {
                        Some(Vec::new())
                    } else {
                        self.expected(&key, &values)
                    };
                    if let Some(image) = image {
                        out.insert(key, image);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The HBase rows of `keys` with cell timestamps.
    pub(super) fn hbase_rows(
        &mut self,
        keys: &[Vec<u8>],
    ) -> crate::error::Result<HashMap<Vec<u8>, VersionedCells>> {
        if !self.hbase_exists || keys.is_empty() {
            return Ok(HashMap::new());
        }
        let (table, family) = (
            self.mapping.hbase_table.clone(),
            self.mapping.family.clone(),
        );
        let mut out = HashMap::new();
        for batch in keys.chunks(PAGE) {
            let rows = self.hbase_call(|c| hbase_client::get_rows(c, &table, &family, batch))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The HBase images of `keys`; absent rows are left out.
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
