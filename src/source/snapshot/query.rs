//! The SQL of a bootstrap's chunks: a table (or one key range of it) in primary-key order,
//! `WHERE key > last ORDER BY key LIMIT n`, with key literals that compare exactly (binary
//! columns by bytes, FLOAT keys as the DOUBLE they widen to).

use mysql_async::Value;
use mysql_common::constants::ColumnType;

use super::ranges::KeyRange;
use crate::error::{Result, SyncError};
use crate::model::{SqlValue, TableSchema};
use crate::source::mysql::{quote_identifier, quote_table};
use crate::source::text::{parse_text, select_column};

/// The SQL of a table's chunks in key order.
#[derive(Debug, Clone)]
pub struct ChunkQuery {
    pub(super) schema: TableSchema,
    pub(super) key_columns: Vec<usize>,
    where_clause: Option<String>,
    /// One reader's key range (see `ranges`): its SQL condition.
    range: Option<String>,
    chunk_rows: usize,
}

impl ChunkQuery {
    /// Chunks of `chunk_rows` rows of `schema`'s table in the order of `key_columns` (indexes
    /// into its columns), limited to `where_clause` when given.
    pub fn new(
        schema: TableSchema,
        key_columns: Vec<usize>,
        where_clause: Option<&str>,
        chunk_rows: usize,
    ) -> Self {
        ChunkQuery {
            schema,
            key_columns,
            where_clause: where_clause.map(str::to_string),
            range: None,
            chunk_rows: chunk_rows.max(1),
        }
    }

    /// The same chunks limited to one reader's key range (`None`: the whole table).
    pub fn in_range(&self, range: Option<&KeyRange>) -> Self {
        ChunkQuery {
            range: range.map(KeyRange::condition),
            ..self.clone()
        }
    }

    pub fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// The SELECT of the chunk after `last` (the first chunk with `None`).
    pub fn sql(&self, last: Option<&[Vec<u8>]>) -> String {
        let columns = self
            .schema
            .columns
            .iter()
            .map(select_column)
            .collect::<Vec<_>>()
            .join(", ");
        let order = self
            .key_columns
            .iter()
            .map(|&i| quote_identifier(&self.schema.columns[i].name))
            .collect::<Vec<_>>()
            .join(", ");
        let mut conditions = Vec::new();
        if let Some(last) = last {
            conditions.push(after_key(&self.schema, &self.key_columns, last));
        }
        if let Some(range) = &self.range {
            conditions.push(format!("({range})"));
        }
        if let Some(w) = &self.where_clause {
            conditions.push(format!("({w})"));
        }
        format!(
            "SELECT {columns} FROM {} {} ORDER BY {order} LIMIT {}",
            quote_table(&self.schema.database, &self.schema.table),
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            },
            self.chunk_rows
        )
    }

    /// The SELECT of the rows with these primary-key values (text, in key-column order): all
    /// columns, or with `key_only` just the key columns.
    pub fn sql_for_keys(&self, pks: &[&Vec<Vec<u8>>], key_only: bool) -> String {
        let selected: Vec<usize> = if key_only {
            self.key_columns.clone()
        } else {
            (0..self.schema.columns.len()).collect()
        };
        let names = |cols: &[usize]| {
            cols.iter()
                .map(|&i| quote_identifier(&self.schema.columns[i].name))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let selected = selected
            .iter()
            .map(|&i| select_column(&self.schema.columns[i]))
            .collect::<Vec<_>>()
            .join(", ");
        let tuple = |pk: &Vec<Vec<u8>>| {
            let parts: Vec<String> = pk
                .iter()
                .zip(&self.key_columns)
                .map(|(v, &col)| key_literal(&self.schema, col, v))
                .collect();
            if parts.len() == 1 {
                parts.into_iter().next().expect("one part")
            } else {
                format!("({})", parts.join(", "))
            }
        };
        let lhs = if self.key_columns.len() == 1 {
            names(&self.key_columns)
        } else {
            format!("({})", names(&self.key_columns))
        };
        format!(
            "SELECT {selected} FROM {} WHERE {lhs} IN ({})",
            quote_table(&self.schema.database, &self.schema.table),
            pks.iter()
                .map(|pk| tuple(pk))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// The raw text of a row's key columns: where the next chunk starts.
    pub fn raw_key(&self, row: &mysql_async::Row) -> Vec<Vec<u8>> {
        self.key_columns
            .iter()
            .map(|&i| match row.as_ref(i) {
                Some(Value::Bytes(b)) => b.clone(),
                _ => Vec::new(),
            })
            .collect()
    }

    /// A row read with every column (in schema order), parsed.
    pub fn parse_row(&self, row: &mysql_async::Row) -> Result<Vec<SqlValue>> {
        let mut image = Vec::with_capacity(self.schema.columns.len());
        for i in 0..self.schema.columns.len() {
            let bytes = match row.as_ref(i) {
                Some(Value::Bytes(b)) => Some(b.as_slice()),
                _ => None,
            };
            image.push(self.parse_value(i, bytes)?);
        }
        Ok(image)
    }

    /// One value of column `col`, as the text protocol gave it.
    pub(super) fn parse_value(&self, col: usize, bytes: Option<&[u8]>) -> Result<SqlValue> {
        let column = &self.schema.columns[col];
        parse_text(column, bytes).map_err(|e| {
            SyncError::definite(
                format!("a value of column `{}` cannot be read: {e}", column.name),
                "report this with the column's type: the text protocol gave a value its type does not allow",
            )
            .in_table(format!("{}.{}", self.schema.database, self.schema.table))
        })
    }
}

/// `(k1, k2) > (v1, v2)` spelled so every server's range optimizer uses the primary key.
pub fn after_key(schema: &TableSchema, key_columns: &[usize], last: &[Vec<u8>]) -> String {
    let literal = |i: usize, v: &[u8]| key_literal(schema, key_columns[i], v);
    let name = |i: usize| quote_identifier(&schema.columns[key_columns[i]].name);
    let mut expr = format!(
        "{} > {}",
        name(key_columns.len() - 1),
        literal(key_columns.len() - 1, &last[key_columns.len() - 1])
    );
    for i in (0..key_columns.len() - 1).rev() {
        expr = format!(
            "({n} > {v} OR ({n} = {v} AND {expr}))",
            n = name(i),
            v = literal(i, &last[i])
        );
    }
    format!("({expr})")
}

/// A key value of column `column` as an SQL literal (`_binary` for binary columns, so the
/// comparison is by bytes). A FLOAT key compares as a DOUBLE with the literal's number, so its
/// text (the f32's shortest, as in row keys, or the DOUBLE text a chunk read) is written as the
/// f64 the f32 widens to: `123456.79` would match no row, `123456.7890625` matches it.
pub fn key_literal(schema: &TableSchema, column: usize, value: &[u8]) -> String {
    let col = &schema.columns[column];
    let widened = (col.column_type == ColumnType::MYSQL_TYPE_FLOAT)
        .then(|| std::str::from_utf8(value).ok()?.parse::<f32>().ok())
        .flatten()
        .map(|f| SqlValue::double(f64::from(f)).to_text().expect("not NULL"));
    let quoted = Value::Bytes(widened.unwrap_or_else(|| value.to_vec())).as_sql(false);
    if col.collation == Some(63) {
        format!("_binary {quoted}")
    } else {
        quoted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnSchema;
    use mysql_common::constants::ColumnType;

    fn schema() -> TableSchema {
        let col = |n: &str, collation| ColumnSchema {
            name: n.into(),
            column_type: ColumnType::MYSQL_TYPE_VARCHAR,
            meta: vec![],
            unsigned: false,
            collation,
            enum_values: vec![],
            set_values: vec![],
        };
        TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: vec![col("a", Some(45)), col("b", Some(63))],
            primary_key: vec![0, 1],
        }
    }

    #[test]
    fn composite_key_condition() {
        let schema = schema();
        assert_eq!(
            after_key(&schema, &[0, 1], &[b"x'y".to_vec(), b"z".to_vec()]),
            "((`a` > 'x\\'y' OR (`a` = 'x\\'y' AND `b` > _binary 'z')))"
        );
        assert_eq!(after_key(&schema, &[0], &[b"5".to_vec()]), "(`a` > '5')");
    }

    #[test]
    fn float_columns_are_read_and_keyed_exactly() {
        let mut schema = schema();
        schema.columns[0].column_type = ColumnType::MYSQL_TYPE_FLOAT;
        schema.columns[1].column_type = ColumnType::MYSQL_TYPE_DOUBLE;
        schema.columns[1].collation = Some(63);
        let q = ChunkQuery::new(schema.clone(), vec![0], None, 10);
        assert_eq!(
            q.sql(Some(&[b"123456.7890625".to_vec()])),
            "SELECT `a` * 1e0, `b` * 1e0 FROM `d`.`t` WHERE (`a` > '123456.7890625') ORDER BY `a` LIMIT 10"
        );
        // A FLOAT key as a row key has it (the f32's text) compares as the f64 it widens to.
        assert_eq!(key_literal(&schema, 0, b"123456.79"), "'123456.7890625'");
        assert_eq!(key_literal(&schema, 0, b"0.1"), "'0.10000000149011612'");
        assert_eq!(key_literal(&schema, 0, b"1e-45"), "'1.401298464324817e-45'");
        assert_eq!(key_literal(&schema, 0, b"x"), "'x'");
        assert_eq!(
            q.sql_for_keys(&[&vec![b"0.1".to_vec()]], true),
            "SELECT `a` * 1e0 FROM `d`.`t` WHERE `a` IN ('0.10000000149011612')"
        );
    }

    #[test]
    fn a_readers_chunks_stay_in_its_key_range() {
        let q = ChunkQuery::new(schema(), vec![0, 1], None, 10);
        let ranges = super::super::ranges::even_split("a", 1, 100, 2);
        assert_eq!(
            q.in_range(ranges[1].as_ref()).sql(Some(&[b"60".to_vec(), b"z".to_vec()])),
            "SELECT `a`, `b` FROM `d`.`t` WHERE ((`a` > '60' OR (`a` = '60' AND `b` > _binary 'z'))) AND (`a` >= 51) ORDER BY `a`, `b` LIMIT 10"
        );
        assert_eq!(q.in_range(None).sql(None), q.sql(None));
    }

    #[test]
    fn chunk_queries_page_by_key_within_the_condition() {
        let q = ChunkQuery::new(schema(), vec![0, 1], Some("a < 'm'"), 100);
        assert_eq!(
            q.sql(None),
            "SELECT `a`, `b` FROM `d`.`t` WHERE (a < 'm') ORDER BY `a`, `b` LIMIT 100"
        );
        assert_eq!(
            q.sql(Some(&[b"k".to_vec(), b"z".to_vec()])),
            "SELECT `a`, `b` FROM `d`.`t` WHERE ((`a` > 'k' OR (`a` = 'k' AND `b` > _binary 'z'))) AND (a < 'm') ORDER BY `a`, `b` LIMIT 100"
        );
    }
}
