//! Table schemas read from `information_schema`, in the same shape as the ones the binlog's
//! TABLE_MAP events give ([`TableSchema`]), so snapshot rows and streamed rows are mapped by the
//! same code and get the same row keys and cells.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use mysql_common::constants::ColumnType;

use crate::error::Result;
use crate::model::{ColumnSchema, TableSchema};

/// The current schema of `db.table`; `None` when the table does not exist.
pub async fn load_table_schema(
    conn: &mut Conn,
    db: &str,
    table: &str,
) -> Result<Option<TableSchema>> {
    type ColumnRow = (
        String,
        String,
        String,
        Option<u64>,
        Option<u64>,
        Option<u64>,
        Option<String>,
    );
    let rows: Vec<ColumnRow> = conn
        .exec(
            "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, \
                    c.DATETIME_PRECISION, c.CHARACTER_SET_NAME \
             FROM information_schema.COLUMNS c \
             WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = ? ORDER BY c.ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let pk: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
             ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    let columns: Vec<ColumnSchema> = rows
        .into_iter()
        .map(
            |(name, data_type, column_type, precision, scale, dt_precision, charset)| {
                let collation = charset.as_deref().map(charset_collation);
                column_schema(
                    name,
                    &data_type,
                    &column_type,
                    precision,
                    scale,
                    dt_precision,
                    collation,
                )
            },
        )
        .collect();
    let primary_key = pk
        .iter()
        .filter_map(|k| columns.iter().position(|c| &c.name == k))
        .collect();
    Ok(Some(TableSchema {
        database: db.to_string(),
        table: table.to_string(),
        columns,
        primary_key,
    }))
}

/// A collation id of each character set (its default one): binlog values are decoded by
/// character set, which is all a collation id stands for there. Unknown sets read as utf8mb4.
fn charset_collation(charset: &str) -> u16 {
    match charset {
        "binary" => 63,
        "latin1" => 8,
        "latin2" => 9,
        "ascii" => 11,
        "utf8" | "utf8mb3" => 33,
        "ucs2" => 35,
        "cp1250" => 26,
        "cp1251" => 51,
        "cp1256" => 57,
        "cp1257" => 59,
        "greek" => 25,
        "hebrew" => 16,
        "koi8r" => 7,
        "sjis" => 13,
        "ujis" => 12,
        "euckr" => 19,
        "gbk" => 28,
        "gb2312" => 24,
        "big5" => 1,
        "utf16" => 54,
        "utf16le" => 56,
        "utf32" => 60,
        _ => 45,
    }
}

/// One column in the binlog's terms: the type and the TABLE_MAP metadata bytes it would have.
fn column_schema(
    name: String,
    data_type: &str,
    column_type: &str,
    precision: Option<u64>,
    scale: Option<u64>,
    dt_precision: Option<u64>,
    collation: Option<u16>,
) -> ColumnSchema {
    use ColumnType::*;
    let unsigned = column_type.contains("unsigned");
    let fsp = dt_precision.unwrap_or(0) as u8;
    let (ty, meta): (ColumnType, Vec<u8>) = match data_type.to_ascii_lowercase().as_str() {
        "tinyint" | "bool" | "boolean" => (MYSQL_TYPE_TINY, vec![]),
        "smallint" => (MYSQL_TYPE_SHORT, vec![]),
        "mediumint" => (MYSQL_TYPE_INT24, vec![]),
        "int" | "integer" => (MYSQL_TYPE_LONG, vec![]),
        "bigint" => (MYSQL_TYPE_LONGLONG, vec![]),
        "float" => (MYSQL_TYPE_FLOAT, vec![4]),
        "double" | "real" => (MYSQL_TYPE_DOUBLE, vec![8]),
        "decimal" | "numeric" => (
            MYSQL_TYPE_NEWDECIMAL,
            vec![precision.unwrap_or(10) as u8, scale.unwrap_or(0) as u8],
        ),
        "bit" => {
            let bits = precision.unwrap_or(1) as u8;
            (MYSQL_TYPE_BIT, vec![bits % 8, bits / 8])
        }
        "date" => (MYSQL_TYPE_DATE, vec![]),
        "datetime" => (MYSQL_TYPE_DATETIME2, vec![fsp]),
        "timestamp" => (MYSQL_TYPE_TIMESTAMP2, vec![fsp]),
        "time" => (MYSQL_TYPE_TIME2, vec![fsp]),
        "year" => (MYSQL_TYPE_YEAR, vec![]),
        "enum" => (MYSQL_TYPE_ENUM, vec![]),
        "set" => (MYSQL_TYPE_SET, vec![]),
        "json" => (MYSQL_TYPE_JSON, vec![]),
        "char" | "binary" => (MYSQL_TYPE_STRING, vec![]),
        "varchar" | "varbinary" => (MYSQL_TYPE_VARCHAR, vec![]),
        "tinytext" | "text" | "mediumtext" | "longtext" | "tinyblob" | "blob" | "mediumblob"
        | "longblob" => (MYSQL_TYPE_BLOB, vec![]),
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" => (MYSQL_TYPE_GEOMETRY, vec![]),
        _ => (MYSQL_TYPE_BLOB, vec![]),
    };
    let binary_type = matches!(
        data_type,
        "binary"
            | "varbinary"
            | "tinyblob"
            | "blob"
            | "mediumblob"
            | "longblob"
            | "bit"
            | "geometry"
    );
    let collation = match ty {
        MYSQL_TYPE_STRING | MYSQL_TYPE_VARCHAR | MYSQL_TYPE_BLOB | MYSQL_TYPE_ENUM
        | MYSQL_TYPE_SET => {
            if binary_type {
                Some(63)
            } else {
                collation.or(Some(45))
            }
        }
        _ => None,
    };
    let labels = || -> Vec<String> {
        let inner = column_type
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
            .map(|(inner, _)| inner)
            .unwrap_or("");
        parse_quoted_list(inner)
    };
    ColumnSchema {
        name,
        column_type: ty,
        meta,
        unsigned,
        collation,
        enum_values: if ty == MYSQL_TYPE_ENUM {
            labels()
        } else {
            vec![]
        },
        set_values: if ty == MYSQL_TYPE_SET {
            labels()
        } else {
            vec![]
        },
    }
}

/// `'a','b''c'` -> `["a", "b'c"]` (COLUMN_TYPE's ENUM/SET label list).
fn parse_quoted_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut label = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    label.push('\'');
                }
                Some('\'') | None => break,
                Some('\\') => {
                    if let Some(n) = chars.next() {
                        label.push(n);
                    }
                }
                Some(other) => label.push(other),
            }
        }
        out.push(label);
    }
    out
}

/// Base tables `captures(db, table)` accepts, outside the system schemas.
pub async fn captured_tables(
    conn: &mut Conn,
    captures: impl Fn(&str, &str) -> bool,
) -> Result<Vec<(String, String)>> {
    let all: Vec<(String, String)> = conn
        .query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
             WHERE TABLE_TYPE = 'BASE TABLE' \
               AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             ORDER BY TABLE_SCHEMA, TABLE_NAME",
        )
        .await?;
    Ok(all.into_iter().filter(|(db, t)| captures(db, t)).collect())
}

/// The unique keys of `db.table` (its primary key and unique indexes) whose columns are all NOT
/// NULL, each as its column names: a set of columns holding one of them is unique per row.
pub async fn unique_not_null_keys(
    conn: &mut Conn,
    db: &str,
    table: &str,
) -> Result<Vec<Vec<String>>> {
    let rows: Vec<(String, String, String)> = conn
        .exec(
            "SELECT s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE \
             FROM information_schema.STATISTICS s JOIN information_schema.COLUMNS c \
               ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
             WHERE s.TABLE_SCHEMA = ? AND s.TABLE_NAME = ? AND s.NON_UNIQUE = 0 \
             ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX",
            (db, table),
        )
        .await?;
    let mut keys: Vec<(String, Vec<String>, bool)> = Vec::new();
    for (index, column, nullable) in rows {
        match keys.last_mut() {
            Some((name, columns, not_null)) if *name == index => {
                columns.push(column);
                *not_null &= nullable == "NO";
            }
            _ => keys.push((index, vec![column], nullable == "NO")),
        }
    }
    Ok(keys
        .into_iter()
        .filter(|(_, _, not_null)| *not_null)
        .map(|(_, columns, _)| columns)
        .collect())
}

/// The columns of `db.table` holding JSON documents: MySQL's JSON type, and MariaDB's (a
/// LONGTEXT alias with a `CHECK (json_valid(col))` constraint, which the binlog does not show).
pub async fn json_columns(
    conn: &mut Conn,
    db: &str,
    table: &str,
) -> Result<std::collections::HashSet<String>> {
    let mut columns: std::collections::HashSet<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND DATA_TYPE = 'json'",
            (db, table),
        )
        .await?
        .into_iter()
        .collect();
    // MySQL's CHECK_CONSTRAINTS has no TABLE_NAME: the query fails there, and is not needed.
    if let Ok(clauses) = conn
        .exec::<String, _, _>(
            "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
             WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?",
            (db, table),
        )
        .await
    {
        for clause in clauses {
            if let Some(column) = clause
                .trim()
                .strip_prefix("json_valid(`")
                .and_then(|c| c.strip_suffix("`)"))
            {
                columns.insert(column.replace("``", "`"));
            }
        }
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_and_set_labels_are_parsed() {
        assert_eq!(parse_quoted_list("'a','b''c','d,e'"), ["a", "b'c", "d,e"]);
        let c = column_schema(
            "s".into(),
            "set",
            "set('x','y')",
            None,
            None,
            None,
            Some(45),
        );
        assert_eq!(c.set_values, ["x", "y"]);
        assert_eq!(c.column_type, ColumnType::MYSQL_TYPE_SET);
    }

    #[test]
    fn binlog_metadata_shapes() {
        let d = column_schema(
            "d".into(),
            "decimal",
            "decimal(10,2)",
            Some(10),
            Some(2),
            None,
            None,
        );
        assert_eq!(d.meta, [10, 2]);
        let b = column_schema("b".into(), "bit", "bit(12)", Some(12), None, None, None);
        assert_eq!(b.meta, [4, 1]);
        let u = column_schema(
            "u".into(),
            "bigint",
            "bigint(20) unsigned",
            Some(20),
            Some(0),
            None,
            None,
        );
        assert!(u.unsigned);
        let v = column_schema(
            "v".into(),
            "varbinary",
            "varbinary(10)",
            None,
            None,
            None,
            None,
        );
        assert_eq!(v.collation, Some(63));
    }
}
