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

impl ColumnSchema {
    /// A `VARCHAR` column in utf8mb4 named `name`, for tests.
    #[cfg(test)]
    pub fn text(name: &str) -> ColumnSchema {
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
}

/// A column type's kind: types of one kind hold the same values and render alike (the binlog's
/// codes differ between old and new temporal formats, between string kinds, between sizes of
/// BLOB/TEXT and of integers).
pub fn type_kind(t: ColumnType) -> u8 {
    use ColumnType::*;
    match t {
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG
        | MYSQL_TYPE_LONGLONG => 1,
        MYSQL_TYPE_YEAR => 2,
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => 3,
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => 4,
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => 5,
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => 6,
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => 7,
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => 8,
        MYSQL_TYPE_BIT => 9,
        MYSQL_TYPE_ENUM => 10,
        MYSQL_TYPE_SET => 11,
        MYSQL_TYPE_VARCHAR | MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_STRING => 12,
        MYSQL_TYPE_JSON => 13,
        MYSQL_TYPE_GEOMETRY => 14,
        // BLOB and TEXT of every size (MariaDB's JSON is LONGTEXT).
        _ => 15,
    }
}
