//! Decoding binlog rows into typed values ([`crate::model::SqlValue`]).
//!
//! [`event_rows`] walks a rows event's images itself (see [`EventRows`] for why not
//! mysql_common's `rows()`), and mysql_common's value parser decodes each packed value into a
//! loosely typed `Value` (TIMESTAMP as "secs.usec" text, ENUM as its index, SET as a bitmask,
//! YEAR as text, ...). This module turns each into a `SqlValue` using the column's schema
//! (`ColumnSchema`, built from the TABLE_MAP event and its `binlog_row_metadata=FULL` optional
//! metadata). Rendering values as cells is the mapping's business (`core::mapping`, and
//! `SqlValue::to_text`).
//!
//! One file per concern, each with the choices and limits of its part in its own doc:
//! - `table_map`: TABLE_MAP event -> `TableSchema` ([`table_schema`], [`table_schema_with`]),
//!   including which columns MariaDB's and MySQL's charset metadata cover;
//! - `rows`: walking a rows event's before/after images ([`event_rows`], [`EventRows`]);
//! - `value`: one packed binlog value -> `SqlValue` ([`decode_value`]), with the mysql_common
//!   bugs worked around;
//! - `charset`: character data of a column's character set -> UTF-8;
//! - `json`: MySQL's binary JSON (JSONB) -> MySQL's JSON text;
//!
//! This module itself owns the errors ([`DecodeError`], [`RowError`]) and [`RowImages`].

mod charset;
mod json;
mod rows;
mod table_map;
mod value;

pub use rows::{event_rows, EventRows};
pub use table_map::{table_schema, table_schema_with};
pub use value::decode_value;

use mysql_common::constants::ColumnType;

use crate::model::SqlValue;

/// Why a TABLE_MAP event or a row could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The TABLE_MAP event carries no column names: the server runs with
    /// `binlog_row_metadata=MINIMAL` (or is older than MySQL 8.0.1 / MariaDB 10.5); the schema must
    /// come from elsewhere (the schema cache).
    #[error("the TABLE_MAP event of {database}.{table} has no column names (binlog_row_metadata is not FULL)")]
    MissingColumnNames { database: String, table: String },
    /// The TABLE_MAP event's column types or optional metadata do not make sense.
    #[error("malformed TABLE_MAP event of {database}.{table}: {reason}")]
    BadTableMap {
        database: String,
        table: String,
        reason: String,
    },
    /// A row image does not have one value per column (`binlog_row_image` is not FULL, or the
    /// schema does not belong to the row).
    #[error("a row of {database}.{table} has {actual} values, the table has {expected} columns (binlog_row_image must be FULL)")]
    ColumnCount {
        database: String,
        table: String,
        expected: usize,
        actual: usize,
    },
    /// A value does not fit its column's type.
    #[error("column `{column}` ({column_type:?}): {reason}")]
    BadValue {
        column: String,
        column_type: ColumnType,
        reason: String,
    },
    /// A character column whose character set this module cannot convert to UTF-8.
    #[error("column `{column}`: character set of collation id {collation} is not supported")]
    UnsupportedCharset { column: String, collation: u16 },
    /// A partial JSON update (MySQL `binlog_row_value_options=PARTIAL_JSON`).
    #[error("column `{column}`: partial JSON updates are not supported (set binlog_row_value_options='' on the server)")]
    PartialJson { column: String },
}

/// Why a row of a rows event gave no values.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The event's bytes do not parse: the rest of the event cannot be read either.
    #[error("unreadable rows event: {0}")]
    Unreadable(String),
    /// The row was read, but a value does not fit its column; the next row is readable.
    /// `partial` holds the images with every such value as NULL: not the row, but enough to
    /// find its row key when the key columns decoded (its HBase row must not stay current).
    #[error("{error}")]
    Undecodable {
        error: DecodeError,
        partial: RowImages,
    },
}

/// A row's before and after images (`None` where the event type has none: an insert has no
/// before image, a delete no after image).
pub type RowImages = (Option<Vec<SqlValue>>, Option<Vec<SqlValue>>);

#[cfg(test)]
pub(crate) mod test_support {
    //! Constructors shared by the tests of the decode files.

    use super::value::decode_value;
    use crate::model::{ColumnSchema, SqlValue};
    use mysql_common::binlog::value::BinlogValue;
    use mysql_common::constants::ColumnType;
    use mysql_common::Value;

    pub(crate) fn col(
        t: ColumnType,
        meta: &[u8],
        unsigned: bool,
        collation: Option<u16>,
    ) -> ColumnSchema {
        ColumnSchema {
            name: "c".into(),
            column_type: t,
            meta: meta.to_vec(),
            unsigned,
            collation,
            enum_values: vec![],
            set_values: vec![],
        }
    }

    pub(crate) fn dec(c: &ColumnSchema, v: Value) -> SqlValue {
        decode_value(c, Some(&BinlogValue::Value(v))).unwrap()
    }

    pub(crate) fn text(c: &ColumnSchema, v: Value) -> String {
        String::from_utf8(dec(c, v).to_text().unwrap()).unwrap()
    }

    pub(crate) fn bytes(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }
}
