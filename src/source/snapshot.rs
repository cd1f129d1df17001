//! Reading a table in primary-key chunks, consistent with the binlog: the source side of a
//! bootstrap. The job around it (validation, progress, the hand-over to the stream) is
//! `core::bootstrap`.
//!
//! [`SnapshotReader::open`] establishes the snapshot by `snapshot.locking_mode`:
//! - `minimal`: `FLUSH TABLES WITH READ LOCK` (waiting at most `snapshot.lock_timeout`), read
//!   the binlog position P and the schema, `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ
//!   ONLY`, `UNLOCK TABLES`; every chunk is then read in that transaction, exactly as of P. The
//!   lock window is reported ([`LockReleased`]) for the job to log and store.
//! - `extended`: the same, with `UNLOCK TABLES` after the last chunk ([`SnapshotReader::close`]).
//!   The lock blocks every write on the server, the state store's too when it lives there (see
//!   [`SnapshotReader::holds_global_lock`]).
//! - Without RELOAD (managed MySQL) both fall back to `LOCK TABLES t READ` held until the last
//!   chunk is read (a warning says so): `START TRANSACTION` would release a table lock.
//! - `none`: no lock statement at all. Each chunk is read in its own consistent-snapshot,
//!   read-only transaction. MariaDB (and Percona Server) name the binlog position that snapshot
//!   is consistent with (`Binlog_snapshot_file/position`): the chunk is then exact as of that
//!   position, L = H. Elsewhere L is read before the transaction and H after it; a transaction
//!   written to the binlog before L but not yet visible to the snapshot would then be missed,
//!   which MySQL's commit ordering makes a window of microseconds: prefer a locking mode on
//!   MySQL when that matters.
//!
//! Chunks are `snapshot.chunk_rows` rows in key order (`WHERE key > last ORDER BY key LIMIT n`,
//! [`ChunkQuery`]), read over the text protocol in a UTC session and parsed by `source::text`.
//! One chunk is held at a time here; the caller bounds the read-ahead.

use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use mysql_common::constants::ColumnType;
use tracing::{info, warn};

use crate::config::{LockingMode, SnapshotConfig};
use crate::error::{mysql_codes, Result, SyncError};
use crate::model::{BinlogPosition, SqlValue, TableSchema};
use crate::source::mysql::{self as my, quote_identifier, quote_table};
use crate::source::schema::load_table_schema;
use crate::source::text::{parse_text, select_column};

/// The SQL of a table's chunks in key order.
#[derive(Debug, Clone)]
pub struct ChunkQuery {
    schema: TableSchema,
    key_columns: Vec<usize>,
    where_clause: Option<String>,
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
            chunk_rows: chunk_rows.max(1),
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
    fn parse_value(&self, col: usize, bytes: Option<&[u8]>) -> Result<SqlValue> {
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

/// One chunk as read.
pub struct ReadChunk {
    /// The rows are exact as of this position unless the stream changed them after it.
    pub low: BinlogPosition,
    /// The stream must have routed everything up to here before the rows are handed over.
    pub ready_at: BinlogPosition,
    pub rows: Vec<Vec<SqlValue>>,
    /// The raw key of the last row: where the next chunk starts (`None` when empty).
    pub last_key: Option<Vec<Vec<u8>>>,
    /// Fewer rows than a chunk: the table is read.
    pub last: bool,
}

/// A lock released: the snapshot position it was taken at and how long it was held.
pub struct LockReleased {
    pub position: BinlogPosition,
    pub held_ms: u64,
}

/// The lock a locking-mode snapshot holds while it establishes itself.
enum Lock {
    Global,
    Table,
}

/// A table's snapshot, open on its own connection.
pub struct SnapshotReader {
    conn: Conn,
    /// `db.table`, for logs and errors.
    name: String,
    /// A lock held until [`SnapshotReader::close`] (`extended`, or the table-lock fallback).
    lock: Option<(Lock, Instant)>,
    /// The locking modes' snapshot position: every chunk is exact as of it.
    snapshot_at: Option<BinlogPosition>,
}

impl SnapshotReader {
    /// Establishes the snapshot (see the module doc) and returns the table's schema as of it
    /// (`schema` as given with `none`), and with `minimal` the lock window just released.
    pub async fn open(
        conn: Conn,
        cfg: &SnapshotConfig,
        schema: TableSchema,
    ) -> Result<(SnapshotReader, TableSchema, Option<LockReleased>)> {
        let name = format!("{}.{}", schema.database, schema.table);
        let mut reader = SnapshotReader {
            conn,
            name,
            lock: None,
            snapshot_at: None,
        };
        if cfg.locking_mode == LockingMode::None {
            return Ok((reader, schema, None));
        }
        let (db, table) = (schema.database.as_str(), schema.table.as_str());
        let conn = &mut reader.conn;
        conn.query_drop(format!(
            "SET SESSION lock_wait_timeout = {}",
            cfg.lock_timeout.as_secs().max(1)
        ))
        .await?;
        let name = &reader.name;
        let kind = match conn.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => Lock::Global,
            Err(mysql_async::Error::Server(e))
                if e.code == mysql_codes::ER_SPECIFIC_ACCESS_DENIED
                    || e.code == mysql_codes::ER_ACCESS_DENIED =>
            {
                warn!(table = %name, "no RELOAD privilege: falling back to LOCK TABLES ... READ, held until the table is read");
                conn.query_drop(format!("LOCK TABLES {} READ", quote_table(db, table)))
                    .await
                    .map_err(|e| lock_error(name, e))?;
                Lock::Table
            }
            Err(e) => return Err(lock_error(name, e)),
        };
        let locked_at = Instant::now();
        let (position, _) = my::current_position(conn).await?;
        // The schema as of P, read under the lock.
        let schema = load_table_schema(conn, db, table).await?.ok_or_else(|| {
            SyncError::definite(
                format!("table {name} does not exist"),
                "it was dropped before its bootstrap started",
            )
        })?;
        let mut released = None;
        if matches!(kind, Lock::Global) {
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                .await?;
            if cfg.locking_mode == LockingMode::Minimal {
                conn.query_drop("UNLOCK TABLES").await?;
                let held_ms = locked_at.elapsed().as_millis() as u64;
                info!(table = %name, held_ms, %position, "global read lock released");
                released = Some(LockReleased {
                    position: position.clone(),
                    held_ms,
                });
            } else {
                reader.lock = Some((kind, locked_at));
            }
        } else {
            reader.lock = Some((kind, locked_at));
        }
        reader.snapshot_at = Some(position);
        Ok((reader, schema, released))
    }

    /// Whether the chunks are read in one snapshot, as of one position, with no lock held
    /// (`minimal`): then [`SnapshotReader::read_each_chunk_in_its_own_snapshot`] may follow.
    pub fn reads_one_old_snapshot(&self) -> bool {
        self.snapshot_at.is_some() && self.lock.is_none()
    }

    /// Ends the one snapshot of `minimal`: the chunks after it are read as with `none`, each in
    /// its own consistent snapshot at its own position (so the stream's changes before that
    /// position need no longer be remembered).
    pub async fn read_each_chunk_in_its_own_snapshot(&mut self) -> Result<()> {
        if self.reads_one_old_snapshot() {
            self.conn.query_drop("COMMIT").await?;
            self.snapshot_at = None;
        }
        Ok(())
    }

    /// The locking modes' snapshot position (`None` with `none`).
    pub fn snapshot_position(&self) -> Option<&BinlogPosition> {
        self.snapshot_at.as_ref()
    }

    /// Whether a global read lock is held until [`SnapshotReader::close`]: every write on the
    /// server waits meanwhile, the state store's too when it lives there.
    pub fn holds_global_lock(&self) -> bool {
        matches!(self.lock, Some((Lock::Global, _)))
    }

    /// Reads the chunk after `last` (the first with `None`).
    pub async fn read_chunk(
        &mut self,
        query: &ChunkQuery,
        last: Option<&[Vec<u8>]>,
    ) -> Result<ReadChunk> {
        let sql = query.sql(last);
        let conn = &mut self.conn;
        let (low, rows, ready_at) = match &self.snapshot_at {
            Some(p) => {
                let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
                (p.clone(), rows, p.clone())
            }
            None => read_consistent(conn, sql).await?,
        };
        let last = rows.len() < query.chunk_rows();
        let last_key = rows.last().map(|r| query.raw_key(r));
        let rows = rows
            .iter()
            .map(|r| query.parse_row(r))
            .collect::<Result<Vec<_>>>()?;
        Ok(ReadChunk {
            low,
            ready_at,
            rows,
            last_key,
            last,
        })
    }

    /// Releases a lock still held and ends the snapshot transaction; returns the lock window
    /// of a lock held until now.
    pub async fn close(mut self) -> Result<Option<LockReleased>> {
        let mut released = None;
        if let Some((kind, locked_at)) = self.lock.take() {
            self.conn.query_drop("UNLOCK TABLES").await?;
            let held_ms = locked_at.elapsed().as_millis() as u64;
            info!(table = %self.name, held_ms, table_lock = matches!(kind, Lock::Table), "read lock released after the last chunk");
            released = self
                .snapshot_at
                .clone()
                .map(|position| LockReleased { position, held_ms });
        }
        if self.snapshot_at.is_some() {
            self.conn.query_drop("COMMIT").await?;
        }
        Ok(released)
    }
}

/// Runs `sql` in a consistent-snapshot, read-only transaction of its own; returns its rows and
/// the positions they are exact between (L, rows, H: see the module doc, `none`).
async fn read_consistent(
    conn: &mut Conn,
    sql: String,
) -> Result<(BinlogPosition, Vec<mysql_async::Row>, BinlogPosition)> {
    let (before, _) = my::current_position(conn).await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    let exact = my::snapshot_position(conn).await?;
    let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
    conn.query_drop("COMMIT").await?;
    Ok(match exact {
        // MariaDB names the position the snapshot is consistent with.
        Some(p) => (p.clone(), rows, p),
        None => {
            let (after, _) = my::current_position(conn).await?;
            (before, rows, after)
        }
    })
}

/// The rows with these primary-key values (text), read consistently on a connection of their
/// own (no lock), with the positions they are exact between.
pub async fn rows_by_keys(
    conn: &mut Conn,
    query: &ChunkQuery,
    pks: &[&Vec<Vec<u8>>],
) -> Result<ReadChunk> {
    let (low, rows, ready_at) = read_consistent(conn, query.sql_for_keys(pks, false)).await?;
    let rows = rows
        .iter()
        .map(|r| query.parse_row(r))
        .collect::<Result<Vec<_>>>()?;
    Ok(ReadChunk {
        low,
        ready_at,
        rows,
        last_key: None,
        last: true,
    })
}

/// The rows MySQL has among these primary-key values (text), read consistently: each as an
/// image with only its key columns set (the rest NULL), with the positions the answer is exact
/// between.
pub async fn present_keys(
    conn: &mut Conn,
    query: &ChunkQuery,
    pks: &[&Vec<Vec<u8>>],
) -> Result<ReadChunk> {
    let (low, rows, ready_at) = read_consistent(conn, query.sql_for_keys(pks, true)).await?;
    let mut images = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut image = vec![SqlValue::Null; query.schema.columns.len()];
        for (pos, &col) in query.key_columns.iter().enumerate() {
            let bytes = match row.as_ref(pos) {
                Some(Value::Bytes(b)) => Some(b.as_slice()),
                _ => None,
            };
            image[col] = query.parse_value(col, bytes)?;
        }
        images.push(image);
    }
    Ok(ReadChunk {
        low,
        ready_at,
        rows: images,
        last_key: None,
        last: true,
    })
}

fn lock_error(table: &str, e: mysql_async::Error) -> SyncError {
    match &e {
        mysql_async::Error::Server(s) if s.code == mysql_codes::ER_LOCK_WAIT_TIMEOUT => {
            SyncError::definite(
                format!(
                    "could not get the read lock for {table} within snapshot.lock_timeout ({}): a long transaction or DDL holds it",
                    s.message
                ),
                "retry later, raise snapshot.lock_timeout, or use snapshot.locking_mode = \"none\"",
            )
        }
        _ => e.into(),
    }
}

/// Rows a bootstrap of `db.table` will copy, for progress: exact for a `--where` range,
/// otherwise the server's estimate (a `COUNT(*)` would scan the whole table first).
pub async fn count_rows(
    conn: &mut Conn,
    db: &str,
    table: &str,
    where_clause: Option<&str>,
) -> Result<Option<u64>> {
    Ok(match where_clause {
        Some(w) => {
            conn.query_first(format!(
                "SELECT COUNT(*) FROM {} WHERE ({w})",
                quote_table(db, table)
            ))
            .await?
        }
        None => conn
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (db, table),
            )
            .await?
            .flatten(),
    })
}

/// Why a `--where` condition cannot be used on `db.table`, if it cannot: it must stay inside
/// its parentheses ([`self_contained_condition`]) and be a valid condition on the table, which
/// the server checks by preparing (not running) a query with it in a read-only transaction.
/// `Err` is a server that could not be asked.
pub async fn where_clause_problem(
    conn: &mut Conn,
    db: &str,
    table: &str,
    cond: &str,
) -> Result<Option<String>> {
    if let Err(why) = self_contained_condition(cond) {
        return Ok(Some(why.to_string()));
    }
    let probe = format!(
        "SELECT 1 FROM {} WHERE ({cond}) LIMIT 0",
        quote_table(db, table)
    );
    conn.query_drop("START TRANSACTION READ ONLY").await?;
    let prepared = conn.prep(probe).await;
    conn.query_drop("ROLLBACK").await?;
    match prepared {
        Ok(stmt) if stmt.num_params() > 0 => {
            conn.close(stmt).await?;
            Ok(Some("`?` placeholders have no values".into()))
        }
        Ok(stmt) => {
            conn.close(stmt).await?;
            Ok(None)
        }
        Err(mysql_async::Error::Server(e)) => Ok(Some(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// A `--where` condition is pasted into the chunk queries as `WHERE (...)`: it must not close
/// that parenthesis, end the statement or comment out the rest. Checked outside quoted strings
/// and identifiers.
fn self_contained_condition(cond: &str) -> Result<(), &'static str> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut chars = cond.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == '\\' && q != '`' {
                chars.next();
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => quote = Some(c),
            '(' => depth += 1,
            ')' if depth == 0 => return Err("it closes a parenthesis it did not open"),
            ')' => depth -= 1,
            ';' => return Err("it holds `;`: one condition only, no further statements"),
            '#' => return Err("comments are not allowed"),
            '-' if chars.peek() == Some(&'-') => return Err("comments are not allowed"),
            '/' if chars.peek() == Some(&'*') => return Err("comments are not allowed"),
            _ => {}
        }
    }
    match (quote, depth) {
        (Some(_), _) => Err("a quote is not closed"),
        (None, 0) => Ok(()),
        _ => Err("a parenthesis is not closed"),
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

    #[test]
    fn where_conditions_stay_inside_their_parentheses() {
        for ok in [
            "id < 10",
            "(a = 1) OR b IN (1, 2)",
            "s = ')' AND t = 'a\\'b;'",
            "`we)ird` > 1",
        ] {
            assert_eq!(self_contained_condition(ok), Ok(()), "{ok}");
        }
        for bad in [
            "1) UNION SELECT 1 FROM mysql.user WHERE (1",
            "id > 0; DROP TABLE t",
            "id > 0 -- ",
            "id > 0 /* x */",
            "id > 0 #",
            "s = 'open",
            "(id > 0",
        ] {
            assert!(self_contained_condition(bad).is_err(), "{bad}");
        }
    }

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
