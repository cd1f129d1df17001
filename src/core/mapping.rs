//! Per-table mapping from MySQL rows to HBase rows, in both directions (the default mapping,
//! exactly):
//! - HBase table `{db}_{table}` (template `[mapping] table`), family `d`, qualifier = column name;
//! - cell value = MySQL's text rendering of the value (`encoding = "string"`), NULL = no cell;
//! - row key: a one-column key is its text value; a composite key is each value with `\` written
//!   as `\\` and `|` as `\|`, joined by `|`; with `salt_buckets` a two-hex-digit prefix
//!   `hash(key) % buckets` is put in front.
//!
//! `[[mapping.tables]]` overrides the table name, family, row-key columns, salt and encoding.
//!
//! # Joined tables (wide rows)
//!
//! An entry with `qualifier` writes its table's rows into its parent's HBase rows (`table`):
//! the row key is made from its `row_key` columns (the join key) exactly as the parent's from
//! its key (salt included), and each column is a cell `family:{qualifier}` with the template's
//! placeholders filled in: `{column}` by the column's name, any other by that column's value as
//! text, with `\` and every byte of the template's literal text escaped by a `\` (so a qualifier
//! reads back into its values, [`TableMapping::decode_member`]). The rendered template before
//! `{column}` is the row's *member* prefix: the row's cells are exactly `family:member<column>`
//! for its columns, and its changes are puts of exactly those cells ([`TableMapping::changes`]):
//! - insert and update: every column, NULL as a delete of its cell;
//! - delete: every column's cell deleted (the siblings in the same family are untouched);
//! - a change of the join key (or of the member's values): the cells go in the old row, and
//!   are written in the new one;
//! - copies (bootstraps, resyncs, repairs) are puts too, never the whole-family replace a table's
//!   own rows get: the family holds the siblings.
//!
//! A parent's delete deletes its own family, plus the families of children mapped with
//! `on_parent_delete = "delete_children"`, each a family delete at the delete's version: child
//! cells written later (a child inserted after the parent's delete) survive it. Every change
//! carries its version, so the HBase row ends equal to what MySQL holds whatever the order in
//! which parents and children arrive.
//!
//! This is the one place that turns a row image into its row key and cells ([`TableMapping::
//! row_key`], [`TableMapping::cells`]) and an HBase row key back into primary-key values
//! ([`TableMapping::decode_key`], for `verify`).
//!
//! Native encoding (`encoding = "native"`): HBase `Bytes.toBytes`-compatible bytes for numbers:
//! every integer column is an 8-byte big-endian Java long (`Bytes.toBytes(long)`); an unsigned
//! BIGINT above `i64::MAX` keeps its 8 bytes, so Java reads it as a negative long
//! (`Long.toUnsignedString` gives it back). FLOAT is `Bytes.toBytes(float)` (4 bytes), DOUBLE
//! `Bytes.toBytes(double)` (8 bytes). DECIMAL stays text, because `Bytes.toBytes(BigDecimal)`
//! (scale + unscaled two's complement) is HBase-specific and loses nothing over the text.
//! Everything else is the text form.

use std::sync::Arc;

use crate::config::{parse_qualifier, Config, TemplatePart, ValueEncoding};
use crate::core::filter::TableFilter;
use crate::model::change::CellValue;
use crate::model::naming::{fnv1a, hbase_table_name, is_legal_hbase_table_name};
use crate::model::{Cell, RowChange, RowOp, SqlValue, TableSchema, Version};
use crate::sink::hbase::mutations::serialized_cell_size;

/// Why HBase would refuse a row with these cells, if it would: a cell larger than `limit`
/// (`hbase.max_cell_bytes`, HBase's `hbase.client.keyvalue.maxsize`) as HBase counts it
/// (`serialized_cell_size`). HBase refuses the whole batch holding such a row, again at every
/// retry, so such rows are never sent (see `core::router`, "rows HBase cannot take").
pub fn oversized_cell(key: &[u8], cells: &[Cell], limit: usize) -> Option<String> {
    let size = |v: &CellValue, column: &[u8]| serialized_cell_size(key, column, v);
    cells
        .iter()
        .find(|c| c.value.as_ref().is_some_and(|v| size(v, &c.column) > limit))
        .map(|big| {
            format!(
                "cell {} is {} bytes as HBase counts it, over hbase.max_cell_bytes = {limit}",
                String::from_utf8_lossy(&big.column),
                big.value.as_ref().map_or(0, |v| size(v, &big.column))
            )
        })
}

/// Where one source row's cells are: its HBase row key, and for a joined table its member
/// prefix among its siblings (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowTarget {
    pub key: Vec<u8>,
    pub member: Option<Arc<[u8]>>,
}

impl RowTarget {
    /// The place as one byte string (a joined row's place in a repair job's `RepairKey.key`):
    /// a row of its own is its key; a joined row is the key's length (`u32`, big-endian), the
    /// key and the member prefix.
    pub fn to_bytes(&self) -> Vec<u8> {
        match &self.member {
            None => self.key.clone(),
            Some(member) => {
                let mut out = Vec::with_capacity(4 + self.key.len() + member.len());
                out.extend_from_slice(&(self.key.len() as u32).to_be_bytes());
                out.extend_from_slice(&self.key);
                out.extend_from_slice(member);
                out
            }
        }
    }

    /// A place written by [`RowTarget::to_bytes`]; `joined` says which form it is in. `None`
    /// when a joined place is cut short.
    pub fn from_bytes(bytes: &[u8], joined: bool) -> Option<RowTarget> {
        if !joined {
            return Some(RowTarget {
                key: bytes.to_vec(),
                member: None,
            });
        }
        let len = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let key = bytes.get(4..4 + len)?.to_vec();
        Some(RowTarget {
            key,
            member: Some(Arc::from(&bytes[4 + len..])),
        })
    }
}

/// A joined table's qualifier template, resolved against its schema.
#[derive(Debug, Clone)]
pub struct JoinedColumns {
    /// The template before `{column}`: literal bytes, or a column's index.
    prefix: Vec<PrefixPart>,
    /// Bytes escaped in values: `\` and every byte of the template's literal text.
    escaped: Vec<u8>,
    /// The template, as configured.
    pub template: String,
}

#[derive(Debug, Clone)]
enum PrefixPart {
    Literal(Vec<u8>),
    Column(usize),
}

/// How one source table is written to HBase, resolved against its current schema.
#[derive(Debug, Clone)]
pub struct TableMapping {
    /// `db.table`, for logs and errors.
    pub source: String,
    pub hbase_table: Arc<str>,
    pub family: Arc<str>,
    /// A joined table's template (its rows are cells in its parent's rows); `None` for a table
    /// with HBase rows of its own.
    pub joined: Option<JoinedColumns>,
    /// A parent's: the families its deletes also delete (children joined with
    /// `on_parent_delete = "delete_children"`).
    pub deleted_with_row: Vec<Arc<str>>,
    /// Indexes of the row-key columns, in key order.
    pub row_key: Vec<usize>,
    pub salt_buckets: Option<u16>,
    pub encoding: ValueEncoding,
    /// Per column: the `family:qualifier` to write, or `None` for an excluded column.
    pub qualifiers: Vec<Option<Arc<[u8]>>>,
    pub schema: Arc<TableSchema>,
}

/// Why a table cannot be mapped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("table {0} has no primary key, so its rows have no HBase row key; add a primary key or set row_key in a [[mapping.tables]] entry for it")]
    NoPrimaryKey(String),
    #[error("row_key column `{column}` configured for {table} does not exist in the table")]
    UnknownRowKeyColumn { table: String, column: String },
    #[error("table {table} maps to the HBase table name {name:?}, which HBase does not allow (letters, digits, `_`, `-` and `.`, not first; an optional `namespace:` of letters, digits and `_`); name it in a [[mapping.tables]] entry: source = \"{table}\", table = \"...\"")]
    IllegalHbaseName { table: String, name: String },
    #[error("the qualifier template {template:?} of {table} names `{{{column}}}`, which is not a column of the table; use its columns (and `{{column}}` for the column's name)")]
    UnknownTemplateColumn {
        table: String,
        template: String,
        column: String,
    },
    #[error("two rows of {table} could write the same cells: its primary key column `{column}` is neither in row_key nor in the qualifier template {template:?}; add `{{{column}}}` to the template (e.g. \"{{{column}}}:{{column}}\")")]
    JoinedKeyNotCovered {
        table: String,
        template: String,
        column: String,
    },
    #[error("bad qualifier template for {table}: {reason}")]
    BadTemplate { table: String, reason: String },
}

impl TableMapping {
    pub fn resolve(
        cfg: &Config,
        filter: &TableFilter,
        schema: Arc<TableSchema>,
    ) -> Result<TableMapping, MappingError> {
        let source = format!("{}.{}", schema.database, schema.table);
        let over = cfg.mapping.tables.iter().find(|o| o.source == source);
        let row_key = match over.and_then(|o| o.row_key.as_ref()) {
            Some(names) => names
                .iter()
                .map(|n| {
                    schema
                        .columns
                        .iter()
                        .position(|c| &c.name == n)
                        .ok_or_else(|| MappingError::UnknownRowKeyColumn {
                            table: source.clone(),
                            column: n.clone(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => schema.primary_key.clone(),
        };
        if row_key.is_empty() {
            return Err(MappingError::NoPrimaryKey(source));
        }
        let family = over
            .and_then(|o| o.family.clone())
            .unwrap_or_else(|| cfg.mapping.family.clone());
        let qualifiers = schema
            .columns
            .iter()
            .map(|c| {
                filter
                    .captures_column(&schema.database, &schema.table, &c.name)
                    .then(|| Arc::from(format!("{family}:{}", c.name).into_bytes()))
            })
            .collect();
        let hbase_table = over.and_then(|o| o.table.clone()).unwrap_or_else(|| {
            hbase_table_name(&cfg.mapping.table, &schema.database, &schema.table)
        });
        if !is_legal_hbase_table_name(&hbase_table) {
            return Err(MappingError::IllegalHbaseName {
                table: source,
                name: hbase_table,
            });
        }
        let joined = match over.and_then(|o| o.qualifier.as_deref()) {
            Some(template) => Some(JoinedColumns::resolve(
                &source, template, &schema, &row_key,
            )?),
            None => None,
        };
        let (salt_buckets, deleted_with_row) = match &joined {
            // Salted exactly as the parent's keys, so both land in one row.
            Some(_) => (cfg.mapping.parent_of(&hbase_table).1, Vec::new()),
            None => (
                over.and_then(|o| o.salt_buckets),
                cfg.mapping
                    .families_deleted_with_parent(&hbase_table)
                    .into_iter()
                    .map(Arc::from)
                    .collect(),
            ),
        };
        Ok(TableMapping {
            hbase_table: Arc::from(hbase_table),
            family: Arc::from(family),
            joined,
            deleted_with_row,
            row_key,
            salt_buckets,
            encoding: over
                .and_then(|o| o.encoding)
                .unwrap_or(cfg.mapping.encoding),
            qualifiers,
            source,
            schema,
        })
    }

    /// The row key of a row image; `None` when a key column is NULL (only possible with a
    /// configured row_key on nullable columns).
    pub fn row_key(&self, row: &[SqlValue]) -> Option<Vec<u8>> {
        let mut key = Vec::with_capacity(16);
        if self.row_key.len() == 1 {
            key = row[self.row_key[0]].to_text()?;
        } else {
            for (i, &col) in self.row_key.iter().enumerate() {
                if i > 0 {
                    key.push(b'|');
                }
                for b in row[col].to_text()? {
                    if b == b'\\' || b == b'|' {
                        key.push(b'\\');
                    }
                    key.push(b);
                }
            }
        }
        if let Some(buckets) = self.salt_buckets {
            let salt = format!("{:02x}", fnv1a(&key) % buckets as u32);
            key.splice(0..0, salt.into_bytes());
        }
        Some(key)
    }

    /// The columns that say where a row's cells go: the row key's, and a joined table's
    /// template columns.
    pub fn identity_columns(&self) -> Vec<usize> {
        let mut columns = self.row_key.clone();
        for part in self.joined.iter().flat_map(|j| &j.prefix) {
            if let PrefixPart::Column(c) = part {
                if !columns.contains(c) {
                    columns.push(*c);
                }
            }
        }
        columns
    }

    /// The columns a copy pages through the table by: the row key, unique by construction
    /// (`core::bootstrap::job::row_key_problem`), or for a joined table, whose row key is the
    /// join key shared by siblings, the primary key.
    pub fn paging_key(&self) -> Vec<usize> {
        match self.joined {
            Some(_) => self.schema.primary_key.clone(),
            None => self.row_key.clone(),
        }
    }

    /// Where a row image's cells go; `None` when a key column is NULL.
    pub fn target(&self, row: &[SqlValue]) -> Option<RowTarget> {
        let key = self.row_key(row)?;
        let member = match &self.joined {
            Some(j) => Some(j.member(row)?),
            None => None,
        };
        Some(RowTarget { key, member })
    }

    /// The cells of a row image at `target` (its own [`TableMapping::target`]): every mapped
    /// column, `None` for NULL; a joined table's named by its member prefix.
    pub fn target_cells(&self, target: &RowTarget, values: &[SqlValue]) -> Vec<Cell> {
        match target.member.as_deref().filter(|m| !m.is_empty()) {
            None => self.cells(values),
            Some(member) => self
                .qualifiers
                .iter()
                .zip(values)
                .filter_map(|(q, v)| {
                    q.as_ref().map(|q| Cell {
                        column: self.member_column(member, q),
                        value: self.cell_value(v),
                    })
                })
                .collect(),
        }
    }

    /// Cells named as for a row of its own (`family:<column>`, a backfill's) renamed to the
    /// row's place at `target`.
    pub fn at_member(&self, target: &RowTarget, cells: Vec<Cell>) -> Vec<Cell> {
        match target.member.as_deref().filter(|m| !m.is_empty()) {
            None => cells,
            Some(member) => cells
                .into_iter()
                .map(|c| Cell {
                    column: self.member_column(member, &c.column),
                    value: c.value,
                })
                .collect(),
        }
    }

    /// `family:member<column>` from the column's `family:<column>`.
    fn member_column(&self, member: &[u8], qualifier: &[u8]) -> Arc<[u8]> {
        let split = self.family.len() + 1;
        let mut column = Vec::with_capacity(qualifier.len() + member.len());
        column.extend_from_slice(&qualifier[..split]);
        column.extend_from_slice(member);
        column.extend_from_slice(&qualifier[split..]);
        Arc::from(column)
    }

    /// Every mapped column's cell at `target` deleted: what deleting a joined table's row
    /// writes.
    pub fn deleted_cells(&self, target: &RowTarget) -> Vec<Cell> {
        let member = target.member.as_deref().unwrap_or_default();
        self.qualifiers
            .iter()
            .flatten()
            .map(|q| Cell {
                column: self.member_column(member, q),
                value: None,
            })
            .collect()
    }

    /// The HBase changes of one source row's change at `target` (`op` as for a table with rows
    /// of its own: `Put`, `Replace` for a copy, `Delete`), given to `push` in order. A joined
    /// table's become puts of exactly its cells; a parent's delete also deletes the families
    /// of its `delete_children` tables (see the module doc).
    pub fn changes(
        &self,
        target: RowTarget,
        op: RowOp,
        version: Version,
        mut push: impl FnMut(RowChange),
    ) {
        let change = |family: &Arc<str>, key, member, op| RowChange {
            table: self.hbase_table.clone(),
            family: family.clone(),
            key,
            member,
            op,
            version,
        };
        match (&self.joined, op) {
            (None, RowOp::Delete) => {
                for family in &self.deleted_with_row {
                    push(change(family, target.key.clone(), None, RowOp::Delete));
                }
                push(change(&self.family, target.key, None, RowOp::Delete));
            }
            (None, op) => push(change(&self.family, target.key, None, op)),
            (Some(_), RowOp::Delete) => {
                let cells = self.deleted_cells(&target);
                push(change(
                    &self.family,
                    target.key,
                    target.member,
                    RowOp::Put(cells),
                ));
            }
            (Some(_), RowOp::Put(cells) | RowOp::Replace(cells)) => push(change(
                &self.family,
                target.key,
                target.member,
                RowOp::Put(cells),
            )),
        }
    }

    /// A joined table's cell qualifier (without `family:`) read back: the values of the
    /// template's columns (`(column index, text)`), the member prefix, and the column name;
    /// `None` when the qualifier is not one this table writes.
    pub fn decode_member<'q>(&self, qualifier: &'q [u8]) -> Option<DecodedMember<'q>> {
        self.joined.as_ref()?.decode(qualifier)
    }

    /// The primary-key values (as text, in primary-key order) of the joined table's row whose
    /// cell is `qualifier` in HBase row `key`.
    pub fn joined_primary_key(&self, key: &[u8], qualifier: &[u8]) -> Option<Vec<Vec<u8>>> {
        let from_key = self.decode_key(key)?;
        let member = self.decode_member(qualifier)?;
        self.schema
            .primary_key
            .iter()
            .map(|col| {
                self.row_key
                    .iter()
                    .position(|k| k == col)
                    .map(|i| from_key[i].clone())
                    .or_else(|| {
                        member
                            .values
                            .iter()
                            .find(|(c, _)| c == col)
                            .map(|(_, v)| v.clone())
                    })
            })
            .collect()
    }

    /// A cell value under this table's encoding; `None` for NULL.
    pub fn cell_value(&self, value: &SqlValue) -> Option<CellValue> {
        match self.encoding {
            ValueEncoding::String => value.cell_text(),
            ValueEncoding::Native => native_bytes(value),
        }
    }

    /// The cells of a full row image: every mapped column, `None` for NULL.
    pub fn cells(&self, values: &[SqlValue]) -> Vec<Cell> {
        self.qualifiers
            .iter()
            .zip(values)
            .filter_map(|(q, v)| {
                q.as_ref().map(|q| Cell {
                    column: q.clone(),
                    value: self.cell_value(v),
                })
            })
            .collect()
    }

    /// The primary-key values (as text) an HBase row key stands for; `None` when it cannot be
    /// one of this table's keys.
    pub fn decode_key(&self, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        let body = match self.salt_buckets {
            Some(_) => key.get(2..)?,
            None => key,
        };
        if self.row_key.len() == 1 {
            return Some(vec![body.to_vec()]);
        }
        split_composite(body).filter(|parts| parts.len() == self.row_key.len())
    }
}

/// A joined table's cell qualifier read back (see [`TableMapping::decode_member`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedMember<'q> {
    /// The template's columns: (column index, value as text).
    pub values: Vec<(usize, Vec<u8>)>,
    pub member: &'q [u8],
    pub column: &'q [u8],
}

impl JoinedColumns {
    fn resolve(
        source: &str,
        template: &str,
        schema: &TableSchema,
        row_key: &[usize],
    ) -> Result<JoinedColumns, MappingError> {
        let parts = parse_qualifier(template).map_err(|reason| MappingError::BadTemplate {
            table: source.to_string(),
            reason,
        })?;
        let mut prefix = Vec::new();
        let mut escaped = vec![b'\\'];
        for part in parts {
            match part {
                TemplatePart::Literal(l) => {
                    escaped.extend(l.bytes());
                    prefix.push(PrefixPart::Literal(l.into_bytes()));
                }
                TemplatePart::Key(name) => {
                    let col = schema
                        .columns
                        .iter()
                        .position(|c| c.name == name)
                        .ok_or_else(|| MappingError::UnknownTemplateColumn {
                            table: source.to_string(),
                            template: template.to_string(),
                            column: name.clone(),
                        })?;
                    prefix.push(PrefixPart::Column(col));
                }
                TemplatePart::Column => {}
            }
        }
        escaped.sort_unstable();
        escaped.dedup();
        for &col in &schema.primary_key {
            let in_template = prefix
                .iter()
                .any(|p| matches!(p, PrefixPart::Column(c) if *c == col));
            if !row_key.contains(&col) && !in_template {
                return Err(MappingError::JoinedKeyNotCovered {
                    table: source.to_string(),
                    template: template.to_string(),
                    column: schema.columns[col].name.clone(),
                });
            }
        }
        Ok(JoinedColumns {
            prefix,
            escaped,
            template: template.to_string(),
        })
    }

    /// The member prefix of a row image; `None` when a template column is NULL.
    fn member(&self, row: &[SqlValue]) -> Option<Arc<[u8]>> {
        let mut out = Vec::new();
        for part in &self.prefix {
            match part {
                PrefixPart::Literal(l) => out.extend_from_slice(l),
                PrefixPart::Column(c) => {
                    for b in row[*c].to_text()? {
                        if self.escaped.binary_search(&b).is_ok() {
                            out.push(b'\\');
                        }
                        out.push(b);
                    }
                }
            }
        }
        Some(Arc::from(out))
    }

    fn decode<'q>(&self, qualifier: &'q [u8]) -> Option<DecodedMember<'q>> {
        let mut at = 0;
        let mut values = Vec::new();
        for (i, part) in self.prefix.iter().enumerate() {
            match part {
                PrefixPart::Literal(l) => {
                    if !qualifier[at..].starts_with(l) {
                        return None;
                    }
                    at += l.len();
                }
                PrefixPart::Column(c) => {
                    // Up to the next literal's first byte, unescaped (a value's own copies of
                    // it are escaped). The template never has two columns side by side.
                    let end = match self.prefix.get(i + 1) {
                        Some(PrefixPart::Literal(l)) => Some(l[0]),
                        _ => None,
                    };
                    let mut value = Vec::new();
                    loop {
                        match qualifier.get(at) {
                            Some(b'\\') => {
                                value.push(*qualifier.get(at + 1)?);
                                at += 2;
                            }
                            Some(&b) if Some(b) == end => break,
                            Some(&b) => {
                                value.push(b);
                                at += 1;
                            }
                            None if end.is_none() => break,
                            None => return None,
                        }
                    }
                    values.push((*c, value));
                }
            }
        }
        Some(DecodedMember {
            values,
            member: &qualifier[..at],
            column: &qualifier[at..],
        })
    }
}

/// A composite row key split on unescaped `|`, with `\|` and `\\` unescaped.
fn split_composite(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut parts = vec![Vec::new()];
    let mut it = body.iter();
    while let Some(&b) = it.next() {
        match b {
            b'\\' => parts.last_mut().expect("non-empty").push(*it.next()?),
            b'|' => parts.push(Vec::new()),
            _ => parts.last_mut().expect("non-empty").push(b),
        }
    }
    Some(parts)
}

/// Native encoding (see the module doc); `None` for NULL.
fn native_bytes(value: &SqlValue) -> Option<CellValue> {
    match value {
        SqlValue::Int(i) => Some(CellValue::from_slice(&i.to_be_bytes())),
        SqlValue::UInt(u) => Some(CellValue::from_slice(&u.to_be_bytes())),
        SqlValue::Float(f) => Some(CellValue::from_slice(&f.to_bits().to_be_bytes())),
        SqlValue::Double(d) => Some(CellValue::from_slice(&d.to_bits().to_be_bytes())),
        other => other.cell_text(),
    }
}

/// The HBase table and family `db.table` is written to (overrides, else the templates), known
/// without the table's schema: for tables that no longer exist, and for tools.
pub fn hbase_target(cfg: &Config, db: &str, table: &str) -> (String, String) {
    let source = format!("{db}.{table}");
    let over = cfg.mapping.tables.iter().find(|o| o.source == source);
    (
        over.and_then(|o| o.table.clone())
            .unwrap_or_else(|| hbase_table_name(&cfg.mapping.table, db, table)),
        over.and_then(|o| o.family.clone())
            .unwrap_or_else(|| cfg.mapping.family.clone()),
    )
}

/// Fixtures of the tests here and of the code reading joined tables back (cleanup, repair,
/// verify).
#[cfg(test)]
pub mod test_support {
    use super::*;
    use crate::model::ColumnSchema;

    /// shop.items (id, order_id, sku), joined into shop_orders by `order_id` as
    /// `items:<template>`.
    pub fn joined_items(template: &str) -> TableMapping {
        let cfg = Config::from_toml(&format!(
            "[mysql]\nurl = \"mysql://root@h:1\"\nserver_id = 7\n[hbase]\nthrift = \"h:9090\"\n[capture]\ninclude = [\"shop.*\"]\n[[mapping.tables]]\nsource = \"shop.items\"\ntable = \"shop_orders\"\nrow_key = [\"order_id\"]\nfamily = \"items\"\nqualifier = \"{template}\"\n"
        ))
        .unwrap();
        let schema = TableSchema {
            database: "shop".into(),
            table: "items".into(),
            columns: ["id", "order_id", "sku"].map(ColumnSchema::text).to_vec(),
            primary_key: vec![0],
        };
        TableMapping::resolve(&cfg, &TableFilter::new(&cfg.capture), Arc::new(schema)).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::ColumnSchema;
    use mysql_common::constants::ColumnType;

    fn col(name: &str) -> ColumnSchema {
        ColumnSchema::text(name)
    }

    fn cfg(extra: &str) -> Config {
        Config::from_toml(&format!(
            "[mysql]\nurl = \"mysql://root@h:1\"\nserver_id = 7\n[hbase]\nthrift = \"h:9090\"\n[capture]\ninclude = [\"shop.*\"]\nexclude_columns = [\"shop.t.secret\"]\n{extra}"
        ))
        .unwrap()
    }

    fn schema(pk: Vec<usize>) -> Arc<TableSchema> {
        Arc::new(TableSchema {
            database: "shop".into(),
            table: "t".into(),
            columns: vec![col("a"), col("b"), col("secret")],
            primary_key: pk,
        })
    }

    fn text(s: &str) -> SqlValue {
        SqlValue::Text(s.into())
    }

    #[test]
    fn default_mapping() {
        let c = cfg("");
        let m = TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![0])).unwrap();
        assert_eq!(&*m.hbase_table, "shop_t");
        assert_eq!(m.qualifiers[0].as_deref(), Some(&b"d:a"[..]));
        assert_eq!(m.qualifiers[2], None, "excluded column");
        assert_eq!(
            m.row_key(&[text("k1"), text("x"), text("s")]).unwrap(),
            b"k1"
        );
    }

    #[test]
    fn composite_keys_escape_separator_and_backslash() {
        let c = cfg("");
        let m =
            TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![0, 1])).unwrap();
        let key = m
            .row_key(&[text("a|b"), text("c\\d"), SqlValue::Null])
            .unwrap();
        assert_eq!(key, b"a\\|b|c\\\\d");
        // Distinct rows never collide: ("a|", "b") vs ("a", "|b").
        let k1 = m.row_key(&[text("a|"), text("b"), SqlValue::Null]).unwrap();
        let k2 = m.row_key(&[text("a"), text("|b"), SqlValue::Null]).unwrap();
        assert_ne!(k1, k2);
        assert_eq!(
            m.row_key(&[SqlValue::Null, text("b"), SqlValue::Null]),
            None
        );
    }

    #[test]
    fn no_primary_key_is_a_clear_error() {
        let c = cfg("");
        let err =
            TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![])).unwrap_err();
        assert!(err.to_string().contains("shop.t has no primary key"));
    }

    #[test]
    fn overrides_apply() {
        let c = cfg("[[mapping.tables]]\nsource = \"shop.t\"\ntable = \"ns:tt\"\nfamily = \"f\"\nrow_key = [\"b\"]\nsalt_buckets = 16\n");
        let m = TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![0])).unwrap();
        assert_eq!(&*m.hbase_table, "ns:tt");
        assert_eq!(m.qualifiers[1].as_deref(), Some(&b"f:b"[..]));
        let key = m
            .row_key(&[text("x"), text("key"), SqlValue::Null])
            .unwrap();
        assert_eq!(&key[2..], b"key");
        assert_eq!(
            key[..2],
            format!("{:02x}", fnv1a(b"key") % 16).into_bytes()[..]
        );
    }

    #[test]
    fn row_keys_decode_back_into_key_values() {
        assert_eq!(
            split_composite(b"a\\|b|c\\\\d").unwrap(),
            vec![b"a|b".to_vec(), b"c\\d".to_vec()]
        );
        assert_eq!(split_composite(b"x|").unwrap(), vec![b"x".to_vec(), vec![]]);
        assert_eq!(split_composite(b"bad\\"), None);
        let c = cfg("[[mapping.tables]]\nsource = \"shop.t\"\nsalt_buckets = 16\n");
        let m =
            TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![0, 1])).unwrap();
        let key = m
            .row_key(&[text("a|b"), text("c"), SqlValue::Null])
            .unwrap();
        assert_eq!(
            m.decode_key(&key).unwrap(),
            vec![b"a|b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(m.decode_key(b"00only-one-part"), None);
    }

    #[test]
    fn cells_follow_the_encoding_and_nulls_are_column_deletes() {
        let c = cfg("[[mapping.tables]]\nsource = \"shop.t\"\nencoding = \"native\"\n");
        let m = TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![0])).unwrap();
        let cells = m.cells(&[SqlValue::Int(-1), SqlValue::Null, text("s")]);
        assert_eq!(cells.len(), 2, "the excluded column has no cell");
        assert_eq!(cells[0].value.as_deref(), Some(&[0xFF; 8][..]));
        assert_eq!(&cells[1].column[..], b"d:b");
        assert_eq!(cells[1].value, None);
        let native_vec = |v: &SqlValue| native_bytes(v).map(CellValue::into_vec);
        assert_eq!(native_vec(&SqlValue::UInt(u64::MAX)), Some(vec![0xFF; 8]));
        assert_eq!(
            native_vec(&SqlValue::Double(1.5)),
            Some(1.5f64.to_bits().to_be_bytes().to_vec())
        );
        assert_eq!(
            native_vec(&SqlValue::Decimal("1.50".into())),
            Some(b"1.50".to_vec())
        );
        assert_eq!(native_bytes(&SqlValue::Null), None);
    }

    fn items_schema() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            database: "shop".into(),
            table: "items".into(),
            columns: vec![col("id"), col("order_id"), col("sku")],
            primary_key: vec![0],
        })
    }

    fn joined_cfg(template: &str, extra: &str) -> Config {
        cfg(&format!(
            "[[mapping.tables]]\nsource = \"shop.orders\"\ntable = \"orders\"\nsalt_buckets = 4\n{extra}\n[[mapping.tables]]\nsource = \"shop.items\"\ntable = \"orders\"\nrow_key = [\"order_id\"]\nfamily = \"items\"\nqualifier = \"{template}\"\n"
        ))
    }

    #[test]
    fn joined_rows_are_member_cells_of_the_parents_row() {
        let c = joined_cfg("i{id}:{column}", "");
        let m = TableMapping::resolve(&c, &TableFilter::new(&c.capture), items_schema()).unwrap();
        let row = [text("7:x\\"), text("42"), text("apple")];
        let target = m.target(&row).unwrap();
        // Salted as the parent's keys.
        assert_eq!(&target.key[2..], b"42");
        assert_eq!(
            target.key[..2],
            format!("{:02x}", fnv1a(b"42") % 4).into_bytes()[..]
        );
        // `\\` and the template's literal bytes (`i`, `:`) are escaped in values.
        let member = target.member.clone().unwrap();
        assert_eq!(&member[..], b"i7\\:x\\\\:");
        let cells = m.target_cells(&target, &row);
        assert_eq!(&cells[2].column[..], b"items:i7\\:x\\\\:sku");
        // ... and read back.
        let decoded = m.decode_member(&cells[2].column[6..]).unwrap();
        assert_eq!(decoded.values, vec![(0, b"7:x\\".to_vec())]);
        assert_eq!(decoded.member, &member[..]);
        assert_eq!(decoded.column, b"sku");
        assert_eq!(
            m.joined_primary_key(&target.key, &cells[2].column[6..]),
            Some(vec![b"7:x\\".to_vec()])
        );
        assert_eq!(m.decode_member(b"x7:sku"), None, "another table's prefix");
        assert_eq!(m.paging_key(), vec![0], "pages by the primary key");
        assert_eq!(m.identity_columns(), vec![1, 0]);
    }

    #[test]
    fn joined_changes_are_puts_of_exactly_their_cells() {
        let c = joined_cfg("{id}:{column}", "");
        let m = TableMapping::resolve(&c, &TableFilter::new(&c.capture), items_schema()).unwrap();
        let row = [text("7"), text("42"), SqlValue::Null];
        let target = m.target(&row).unwrap();
        let collect = |op| {
            let mut out = Vec::new();
            m.changes(target.clone(), op, Version(5), |c| out.push(c));
            out
        };
        let put = collect(RowOp::Replace(m.target_cells(&target, &row)));
        assert_eq!(put.len(), 1);
        assert_eq!(&*put[0].family, "items");
        assert_eq!(put[0].member.as_deref(), Some(&b"7:"[..]));
        let RowOp::Put(cells) = &put[0].op else {
            panic!("a copy of a joined row is a put, never a family replace: {put:?}");
        };
        assert_eq!(cells[2].value, None, "NULL deletes its cell");
        let deleted = collect(RowOp::Delete);
        let RowOp::Put(cells) = &deleted[0].op else {
            panic!("a joined row's delete deletes its cells: {deleted:?}");
        };
        let names: Vec<&[u8]> = cells.iter().map(|c| &c.column[..]).collect();
        assert_eq!(
            names,
            [&b"items:7:id"[..], b"items:7:order_id", b"items:7:sku"]
        );
        assert!(cells.iter().all(|c| c.value.is_none()));
    }

    #[test]
    fn a_parents_delete_takes_the_delete_children_families() {
        for (extra, families) in [
            ("", vec!["d"]),
            (
                "[[mapping.tables]]\nsource = \"shop.pay\"\ntable = \"orders\"\nfamily = \"pay\"\nqualifier = \"{column}\"\non_parent_delete = \"delete_children\"\n",
                vec!["pay", "d"],
            ),
        ] {
            let c = joined_cfg("{id}:{column}", extra);
            let m = TableMapping::resolve(&c, &TableFilter::new(&c.capture), schema(vec![0]))
                .map(|mut m| {
                    m.source = "shop.orders".into();
                    m
                })
                .unwrap();
            // `schema()` is shop.t: resolve shop.orders' own mapping by hand.
            let orders = TableMapping {
                deleted_with_row: c
                    .mapping
                    .families_deleted_with_parent("orders")
                    .into_iter()
                    .map(Arc::from)
                    .collect(),
                hbase_table: Arc::from("orders"),
                ..m
            };
            let target = RowTarget {
                key: b"1".to_vec(),
                member: None,
            };
            let mut out = Vec::new();
            orders.changes(target, RowOp::Delete, Version(5), |c| out.push(c));
            let got: Vec<&str> = out.iter().map(|c| &*c.family).collect();
            assert_eq!(got, families);
            assert!(out.iter().all(|c| c.op == RowOp::Delete && c.member.is_none()));
        }
    }

    #[test]
    fn joined_mappings_refuse_what_could_merge_rows() {
        let c = joined_cfg("{column}", "");
        let err =
            TableMapping::resolve(&c, &TableFilter::new(&c.capture), items_schema()).unwrap_err();
        assert!(
            err.to_string()
                .contains("primary key column `id` is neither in row_key nor in the qualifier"),
            "{err}"
        );
        let c = joined_cfg("{nope}:{column}", "");
        let err =
            TableMapping::resolve(&c, &TableFilter::new(&c.capture), items_schema()).unwrap_err();
        assert!(err.to_string().contains("`{nope}`"), "{err}");
    }

    /// Native encoding of values as the binlog decoder makes them (`Bytes.toBytes`).
    #[test]
    fn native_encoding_of_decoded_values() {
        use crate::source::decode::test_support::{bytes, col, dec};
        use mysql_common::Value;
        use ColumnType::*;
        let native = |c: &ColumnSchema, v: Value| native_bytes(&dec(c, v)).unwrap().into_vec();
        let c = col(MYSQL_TYPE_LONGLONG, &[], true, None);
        assert_eq!(native(&c, Value::UInt(u64::MAX)), vec![0xFF; 8]);
        let c = col(MYSQL_TYPE_LONGLONG, &[], false, None);
        assert_eq!(
            native(&c, Value::Int(i64::MIN)),
            i64::MIN.to_be_bytes().to_vec()
        );
        assert_eq!(native(&c, Value::Int(-1)), vec![0xFF; 8]);
        assert_eq!(native(&c, Value::Int(1)), vec![0, 0, 0, 0, 0, 0, 0, 1]);
        let c = col(MYSQL_TYPE_TINY, &[], true, None);
        assert_eq!(native(&c, Value::Int(255)), 255u64.to_be_bytes().to_vec());
        let c = col(MYSQL_TYPE_VARCHAR, &[40, 0], false, Some(45));
        assert_eq!(native(&c, bytes("")), Vec::<u8>::new());
        let year = col(MYSQL_TYPE_YEAR, &[], true, None);
        assert_eq!(native(&year, bytes("2155")), b"2155");
        let bit64 = col(MYSQL_TYPE_BIT, &[0, 8], false, None);
        let raw = vec![0x80, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(native(&bit64, Value::Bytes(raw.clone())), raw);
        let f = col(MYSQL_TYPE_FLOAT, &[4], false, None);
        assert_eq!(native(&f, Value::Float(1.5)), vec![0x3F, 0xC0, 0, 0]);
        let d = col(MYSQL_TYPE_DOUBLE, &[8], false, None);
        assert_eq!(
            native(&d, Value::Double(1.5)),
            1.5f64.to_be_bytes().to_vec()
        );
        let t = SqlValue::Time {
            negative: true,
            hours: 1,
            minutes: 2,
            seconds: 3,
            micros: 450_000,
            fsp: 2,
        };
        assert_eq!(&native_bytes(&t).unwrap()[..], b"-01:02:03.45");
    }
}

#[cfg(test)]
mod target_bytes_tests {
    use super::RowTarget;
    use std::sync::Arc;

    #[test]
    fn places_round_trip_through_bytes() {
        let own = RowTarget {
            key: b"k|1".to_vec(),
            member: None,
        };
        assert_eq!(own.to_bytes(), b"k|1");
        assert_eq!(RowTarget::from_bytes(&own.to_bytes(), false), Some(own));
        for member in [&b"7:"[..], b""] {
            let joined = RowTarget {
                key: b"\x00ab".to_vec(),
                member: Some(Arc::from(member)),
            };
            let bytes = joined.to_bytes();
            assert_eq!(&bytes[..4], &[0, 0, 0, 3]);
            assert_eq!(RowTarget::from_bytes(&bytes, true), Some(joined));
        }
        assert_eq!(RowTarget::from_bytes(&[0, 0, 0, 9, b'a'], true), None);
        assert_eq!(RowTarget::from_bytes(b"ab", true), None);
    }
}
