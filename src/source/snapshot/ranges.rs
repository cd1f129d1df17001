//! Key ranges: how one table's bootstrap is shared by several readers
//! (`snapshot.parallelism` > 1), so a big table is not read through one connection.
//!
//! The ranges split the values of the table's first key column, when it is an integer
//! column, into `parallelism` intervals of equal width between its smallest and largest
//! value (two index lookups, no scan): `[-inf, b1)`, `[b1, b2)`, ..., `[b(n-1), +inf)`. The
//! ends are open, so the ranges cover every key there is or will be, whatever was inserted
//! since the split: each row of the table lies in exactly one range, and each range is read in
//! key order by its own reader, chunk after chunk, like a whole table. A job stores its ranges
//! once, before its first chunk, and each range's progress (last key, done) after each chunk:
//! a resumed job reads the same ranges from where each got to.
//!
//! Keys that are not integers (strings, dates, decimals) are read by one reader: splitting them
//! evenly needs a sample of the key distribution, which costs a scan of the index. So do tables
//! under two chunks per reader. Widths are equal, not counts: a table whose keys cluster
//! reads unevenly (still exactly).

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use mysql_common::constants::ColumnType;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::TableSchema;
use crate::source::mysql::{quote_identifier, quote_table};

/// One reader's share of a table: the rows whose `column` (the first key column) lies in
/// `[from, to)`; an end that is `None` is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRange {
    pub column: String,
    /// Integers as text (an unsigned BIGINT does not fit an `i64`).
    pub from: Option<String>,
    pub to: Option<String>,
}

impl KeyRange {
    /// The SQL condition of the range.
    pub fn condition(&self) -> String {
        let column = quote_identifier(&self.column);
        let bound = |op: &str, v: &Option<String>| v.as_ref().map(|v| format!("{column} {op} {v}"));
        [bound(">=", &self.from), bound("<", &self.to)]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// Checks the bounds are integers (they are pasted into SQL): a state store edited by hand
    /// must not inject anything.
    pub fn is_well_formed(&self) -> bool {
        [&self.from, &self.to]
            .into_iter()
            .flatten()
            .all(|v| v.parse::<i128>().is_ok())
    }
}

fn is_integer(t: ColumnType) -> bool {
    matches!(
        t,
        ColumnType::MYSQL_TYPE_TINY
            | ColumnType::MYSQL_TYPE_SHORT
            | ColumnType::MYSQL_TYPE_INT24
            | ColumnType::MYSQL_TYPE_LONG
            | ColumnType::MYSQL_TYPE_LONGLONG
    )
}

/// Splits `schema`'s table (within `where_clause`) into up to `readers` ranges of its first
/// key column (`key_columns[0]`); `[None]` is the whole table, read by one reader (see the
/// module doc for when). `rows` is the table's estimated row count, `chunk_rows` a chunk's.
pub async fn split(
    conn: &mut Conn,
    schema: &TableSchema,
    key_columns: &[usize],
    where_clause: Option<&str>,
    readers: usize,
    rows: Option<u64>,
    chunk_rows: u64,
) -> Result<Vec<Option<KeyRange>>> {
    let Some(&first) = key_columns.first() else {
        return Ok(vec![None]);
    };
    let column = &schema.columns[first];
    let small = rows.is_some_and(|r| r < 2 * chunk_rows * readers as u64);
    if readers <= 1 || small || !is_integer(column.column_type) {
        return Ok(vec![None]);
    }
    let name = quote_identifier(&column.name);
    let sql = format!(
        "SELECT CAST(MIN({name}) AS CHAR), CAST(MAX({name}) AS CHAR) FROM {}{}",
        quote_table(&schema.database, &schema.table),
        where_clause.map_or(String::new(), |w| format!(" WHERE ({w})"))
    );
    let bounds: Option<(Option<String>, Option<String>)> = conn.query_first(sql).await?;
    let parse = |v: Option<String>| v.and_then(|v| v.parse::<i128>().ok());
    let Some((Some(min), Some(max))) = bounds.map(|(a, b)| (parse(a), parse(b))) else {
        return Ok(vec![None]);
    };
    Ok(even_split(&column.name, min, max, readers))
}

/// `readers` ranges of equal width over `[min, max]`, the outer ones open; fewer when there
/// are fewer values than readers.
pub fn even_split(column: &str, min: i128, max: i128, readers: usize) -> Vec<Option<KeyRange>> {
    let span = max - min + 1;
    let n = (readers as i128).min(span).max(1);
    if n == 1 {
        return vec![None];
    }
    let bounds: Vec<i128> = (1..n).map(|k| min + span * k / n).collect();
    let mut ranges = Vec::with_capacity(n as usize);
    let mut from = None;
    for b in bounds {
        ranges.push(Some(KeyRange {
            column: column.to_string(),
            from: from.take(),
            to: Some(b.to_string()),
        }));
        from = Some(b.to_string());
    }
    ranges.push(Some(KeyRange {
        column: column.to_string(),
        from,
        to: None,
    }));
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_key_once() {
        let ranges = even_split("id", 1, 100, 4);
        let conditions: Vec<String> = ranges
            .iter()
            .map(|r| r.as_ref().unwrap().condition())
            .collect();
        assert_eq!(
            conditions,
            [
                "`id` < 26",
                "`id` >= 26 AND `id` < 51",
                "`id` >= 51 AND `id` < 76",
                "`id` >= 76"
            ]
        );
        // Every integer lies in exactly one range.
        let contains = |r: &KeyRange, v: i128| {
            r.from.as_ref().is_none_or(|f| v >= f.parse().unwrap())
                && r.to.as_ref().is_none_or(|t| v < t.parse().unwrap())
        };
        for v in [-5, 1, 25, 26, 50, 51, 99, 100, 1000] {
            let n = ranges
                .iter()
                .filter(|r| contains(r.as_ref().unwrap(), v))
                .count();
            assert_eq!(n, 1, "{v}");
        }
    }

    #[test]
    fn narrow_and_huge_spans() {
        assert_eq!(even_split("id", 7, 7, 4), vec![None]);
        assert_eq!(even_split("id", 1, 2, 4).len(), 2);
        // Unsigned BIGINT's whole span.
        let ranges = even_split("id", 0, u64::MAX as i128, 2);
        assert_eq!(
            ranges[0].as_ref().unwrap().to.as_deref(),
            Some("9223372036854775808")
        );
        assert!(ranges.iter().all(|r| r.as_ref().unwrap().is_well_formed()));
        let bad = KeyRange {
            column: "id".into(),
            from: Some("1; DROP TABLE t".into()),
            to: None,
        };
        assert!(!bad.is_well_formed());
    }
}
