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
//!
//! With `snapshot.parallelism` > 1 a table is split into key ranges ([`ranges`]), each read by
//! a reader of its own on a connection of its own; [`SnapshotReader::open_shared`] opens them
//! on one snapshot (the locking modes) or each chunk in its own (`none`), as above.

mod query;
pub mod ranges;

use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use tracing::{info, warn};

pub use self::query::{after_key, key_literal, ChunkQuery};
use crate::config::{LockingMode, SnapshotConfig};
use crate::error::{mysql_codes, Result, SyncError};
use crate::model::{BinlogPosition, SqlValue, TableSchema};
use crate::source::mysql::{self as my, quote_table};
use crate::source::schema::load_table_schema;

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
        let (mut readers, schema, released) = Self::open_shared(vec![conn], cfg, schema).await?;
        Ok((readers.pop().expect("one reader"), schema, released))
    }

    /// Establishes one snapshot read through several connections, a reader for each (one per
    /// key range, see [`ranges`]). With a locking mode, every connection starts its consistent
    /// snapshot while the first holds the lock, so all read exactly as of one position; a lock
    /// held beyond that (`extended`, the table-lock fallback, under which the others read
    /// without a transaction of their own) is the first reader's: close it last.
    pub async fn open_shared(
        conns: Vec<Conn>,
        cfg: &SnapshotConfig,
        schema: TableSchema,
    ) -> Result<(Vec<SnapshotReader>, TableSchema, Option<LockReleased>)> {
        let name = format!("{}.{}", schema.database, schema.table);
        let mut readers: Vec<SnapshotReader> = conns
            .into_iter()
            .map(|conn| SnapshotReader {
                conn,
                name: name.clone(),
                lock: None,
                snapshot_at: None,
            })
            .collect();
        assert!(!readers.is_empty(), "a snapshot needs a connection");
        if cfg.locking_mode == LockingMode::None {
            return Ok((readers, schema, None));
        }
        let (db, table) = (schema.database.as_str(), schema.table.as_str());
        let conn = &mut readers[0].conn;
        conn.query_drop(format!(
            "SET SESSION lock_wait_timeout = {}",
            cfg.lock_timeout.as_secs().max(1)
        ))
        .await?;
        let kind = match conn.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => Lock::Global,
            Err(mysql_async::Error::Server(e))
                if e.code == mysql_codes::ER_SPECIFIC_ACCESS_DENIED
                    || e.code == mysql_codes::ER_ACCESS_DENIED =>
            {
                warn!(table = %name, "no RELOAD privilege: falling back to LOCK TABLES ... READ, held until the table is read");
                conn.query_drop(format!("LOCK TABLES {} READ", quote_table(db, table)))
                    .await
                    .map_err(|e| lock_error(&name, e))?;
                Lock::Table
            }
            Err(e) => return Err(lock_error(&name, e)),
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
            for reader in &mut readers {
                reader
                    .conn
                    .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await?;
            }
            if cfg.locking_mode == LockingMode::Minimal {
                readers[0].conn.query_drop("UNLOCK TABLES").await?;
                let held_ms = locked_at.elapsed().as_millis() as u64;
                info!(table = %name, held_ms, %position, readers = readers.len(), "global read lock released");
                released = Some(LockReleased {
                    position: position.clone(),
                    held_ms,
                });
            } else {
                readers[0].lock = Some((kind, locked_at));
            }
        } else {
            readers[0].lock = Some((kind, locked_at));
        }
        for reader in &mut readers {
            reader.snapshot_at = Some(position.clone());
        }
        Ok((readers, schema, released))
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
