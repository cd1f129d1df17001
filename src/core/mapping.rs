//! Per-table mapping from MySQL rows to HBase cells (the default mapping, exactly):
//! - HBase table `{db}_{table}` (template `[mapping] table`), family `d`, qualifier = column name;
//! - cell value = MySQL's text rendering of the value (`encoding = "string"`), NULL = no cell;
//! - row key: a one-column key is its text value; a composite key is each value with `\` written
//!   as `\\` and `|` as `\|`, joined by `|`; with `salt_buckets` a two-hex-digit prefix
//!   `hash(key) % buckets` is put in front.
//!
//! `[[mapping.tables]]` overrides the table name, family, row-key columns, salt and encoding.

use std::sync::Arc;

use crate::config::{Config, ValueEncoding};
use crate::core::filter::TableFilter;
use crate::source::decode::{SqlValue, TableSchema};

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

/// Whether HBase accepts `name` as a table name (`TableName.isLegalFullyQualifiedTableName`).
pub fn is_legal_hbase_table_name(name: &str) -> bool {
    let (namespace, qualifier) = name.split_once(':').unwrap_or(("default", name));
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    !namespace.is_empty()
        && namespace.chars().all(word)
        && !qualifier.is_empty()
        && !qualifier.starts_with(['.', '-'])
        && qualifier.chars().all(|c| word(c) || c == '-' || c == '.')
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
            ValueEncoding::Native => value.to_native(),
        }
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

/// `{db}` and `{table}` replaced in the template.
pub fn hbase_table_name(template: &str, db: &str, table: &str) -> String {
    template.replace("{db}", db).replace("{table}", table)
}

/// 32-bit FNV-1a: stable across releases and platforms, unlike std's hasher.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hbase_table_names() {
        for ok in ["shop_orders", "ns:t", "a-b.c_1", "default:x"] {
            assert!(is_legal_hbase_table_name(ok), "{ok}");
        }
        for bad in ["my table", "café", "a$b", ".t", "-t", "", "n-s:t", "a:b:c"] {
            assert!(!is_legal_hbase_table_name(bad), "{bad}");
        }
    }
    use crate::source::decode::ColumnSchema;
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
}
