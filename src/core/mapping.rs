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

use crate::config::{Config, ValueEncoding};
use crate::core::filter::TableFilter;
use crate::model::naming::{fnv1a, hbase_table_name, is_legal_hbase_table_name};
use crate::model::{Cell, SqlValue, TableSchema};
use crate::sink::hbase::mutations::serialized_cell_size;

/// Why HBase would refuse a row with these cells, if it would: a cell larger than `limit`
/// (`hbase.max_cell_bytes`, HBase's `hbase.client.keyvalue.maxsize`) as HBase counts it
/// (`serialized_cell_size`). HBase refuses the whole batch holding such a row, again at every
/// retry, so such rows are never sent (see `core::router`, "rows HBase cannot take").
pub fn oversized_cell(key: &[u8], cells: &[Cell], limit: usize) -> Option<String> {
    let size = |v: &Vec<u8>, column: &[u8]| serialized_cell_size(key, column, v);
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

/// How one source table is written to HBase, resolved against its current schema.
#[derive(Debug, Clone)]
pub struct TableMapping {
    /// `db.table`, for logs and errors.
    pub source: String,
    pub hbase_table: String,
    pub family: String,
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
        Ok(TableMapping {
            hbase_table,
            family,
            row_key,
            salt_buckets: over.and_then(|o| o.salt_buckets),
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

    /// A cell value under this table's encoding; `None` for NULL.
    pub fn cell_value(&self, value: &SqlValue) -> Option<Vec<u8>> {
        match self.encoding {
            ValueEncoding::String => value.to_text(),
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
fn native_bytes(value: &SqlValue) -> Option<Vec<u8>> {
    match value {
        SqlValue::Int(i) => Some(i.to_be_bytes().to_vec()),
        SqlValue::UInt(u) => Some(u.to_be_bytes().to_vec()),
        SqlValue::Float(f) => Some(f.to_bits().to_be_bytes().to_vec()),
        SqlValue::Double(d) => Some(d.to_bits().to_be_bytes().to_vec()),
        other => other.to_text(),
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

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::ColumnSchema;
    use mysql_common::constants::ColumnType;

    fn col(name: &str) -> ColumnSchema {
        ColumnSchema {
            name: name.into(),
            column_type: ColumnType::MYSQL_TYPE_VARCHAR,
            meta: vec![],
            unsigned: false,
            collation: Some(45),
            enum_values: vec![],
            set_values: vec![],
        }
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
        assert_eq!(m.hbase_table, "shop_t");
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
        assert_eq!(m.hbase_table, "ns:tt");
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
        assert_eq!(native_bytes(&SqlValue::UInt(u64::MAX)), Some(vec![0xFF; 8]));
        assert_eq!(
            native_bytes(&SqlValue::Double(1.5)),
            Some(1.5f64.to_bits().to_be_bytes().to_vec())
        );
        assert_eq!(
            native_bytes(&SqlValue::Decimal("1.50".into())),
            Some(b"1.50".to_vec())
        );
        assert_eq!(native_bytes(&SqlValue::Null), None);
    }

    /// Native encoding of values as the binlog decoder makes them (`Bytes.toBytes`).
    #[test]
    fn native_encoding_of_decoded_values() {
        use crate::source::decode::test_support::{bytes, col, dec};
        use mysql_common::Value;
        use ColumnType::*;
        let native = |c: &ColumnSchema, v: Value| native_bytes(&dec(c, v)).unwrap();
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
        assert_eq!(native_bytes(&t).unwrap(), b"-01:02:03.45");
    }
}
