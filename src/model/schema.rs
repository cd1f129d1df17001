//! The shape of a captured table as the binlog (or `information_schema`) describes it: its
//! columns with their real types, type metadata, signedness, collation and ENUM/SET labels, and
//! its primary key. Built by `source::decode` from TABLE_MAP events and by `source::schema` from
//! `information_schema`; read by every later stage.

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
