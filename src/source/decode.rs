//! Decoding binlog rows into typed values, and rendering them as HBase cells.
//!
//! mysql_common decodes the binlog's packed row format into loosely typed `Value`s (TIMESTAMP as
//! "secs.usec" text, ENUM as its index, SET as a bitmask, YEAR as text, ...). This module turns
//! each into a [`SqlValue`] using the column's schema ([`ColumnSchema`], built from the TABLE_MAP
//! event and its `binlog_row_metadata=FULL` optional metadata), and renders it:
//! - [`SqlValue::to_text`]: the bytes MySQL's text protocol returns for `SELECT col` in a session
//!   with `time_zone = '+00:00'` and `NAMES utf8mb4` (the default HBase cell value);
//! - [`SqlValue::to_native`]: HBase `Bytes.toBytes`-compatible binary for numbers.

use mysql_common::constants::ColumnType;

/// One column of a captured table, as the binlog describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnSchema {
    pub name: String,
    /// The real type (for MYSQL_TYPE_STRING the ENUM/SET type hidden in the metadata is resolved).
    pub column_type: ColumnType,
    /// Raw TABLE_MAP metadata bytes of the column.
    pub meta: Vec<u8>,
    pub unsigned: bool,
    /// Collation id of character columns (63 = binary); `None` for other types.
    pub collation: Option<u16>,
    /// Labels of an ENUM column, in definition order.
    pub enum_values: Vec<String>,
    /// Labels of a SET column, in definition order.
    pub set_values: Vec<String>,
}

/// A captured table's columns and primary key, as of one TABLE_MAP event.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    pub database: String,
    pub table: String,
    pub columns: Vec<ColumnSchema>,
    /// Indexes into `columns` of the primary key, in key order; empty when there is none.
    pub primary_key: Vec<usize>,
}

/// A decoded column value.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    /// Exact decimal text, scale kept (`1.50`).
    Decimal(String),
    /// DATE (zero date allowed).
    Date { year: u16, month: u8, day: u8 },
    /// DATETIME with `fsp` fraction digits.
    DateTime { year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8, micros: u32, fsp: u8 },
    /// TIMESTAMP as UTC seconds since the epoch (0 = the zero timestamp).
    Timestamp { secs: i64, micros: u32, fsp: u8 },
    /// TIME, possibly negative and over 24 hours.
    Time { negative: bool, hours: u32, minutes: u8, seconds: u8, micros: u32, fsp: u8 },
    Year(u16),
    /// Character data converted to UTF-8 from the column's charset.
    Text(String),
    /// Binary strings and blobs, raw.
    Bytes(Vec<u8>),
    /// BIT(n) as big-endian bytes, `(n + 7) / 8` of them.
    Bit(Vec<u8>),
    /// ENUM: 1-based index (0 = the empty invalid value) and its label.
    Enum { index: u16, label: String },
    /// SET: labels in definition order.
    Set(Vec<String>),
    /// JSON as text.
    Json(String),
}
