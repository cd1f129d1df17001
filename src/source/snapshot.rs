//! Table bootstraps: reading a table in primary-key chunks, consistent with the binlog.
//!
//! A job (a row of `bootstrap_jobs`) runs while the stream keeps running:
//! 1. Validate: the table exists, is captured, and has a row key; a `--where` condition must
//!    parse as a condition on the table. Failures are definite: the job fails with the reason.
//! 2. Register the table with the router's change tracker (see `core::handover`).
//! 3. By `snapshot.locking_mode`:
//!    - `minimal`: `FLUSH TABLES WITH READ LOCK` (waiting at most `snapshot.lock_timeout`), read
//!      the binlog position P and the schema, `START TRANSACTION WITH CONSISTENT SNAPSHOT, READ
//!      ONLY`, `UNLOCK TABLES`; every chunk is then read in that transaction, exactly as of P.
//!      The lock window is logged and stored (`lock_held_ms`).
//!    - `extended`: the same, with `UNLOCK TABLES` after the last chunk. The lock blocks every
//!      write on the server, the state store's too when it lives there, so chunk progress is
//!      stored when the lock is released: a crash under the lock restarts the job from its last
//!      stored chunk (put `[state] url` on another server to keep per-chunk resumption).
//!    - Without RELOAD (managed MySQL) both fall back to `LOCK TABLES t READ` held until the last
//!      chunk is read (a warning says so): `START TRANSACTION` would release a table lock.
//!    - `none`: no lock statement at all. Each chunk is read in its own consistent-snapshot,
//!      read-only transaction. MariaDB (and Percona Server) name the binlog position that
//!      snapshot is consistent with (`Binlog_snapshot_file/position`): the chunk is then exact as
//!      of that position, L = H. Elsewhere L is read before the transaction and H after it; a
//!      transaction written to the binlog before L but not yet visible to the snapshot would
//!      then be missed, which MySQL's commit ordering makes a window of microseconds: prefer a
//!      locking mode on MySQL when that matters.
//! 4. Chunks of `snapshot.chunk_rows` rows in primary-key order (`WHERE key > last ORDER BY key
//!    LIMIT n`) go to the router, up to `snapshot.parallelism` ahead of the one being written;
//!    the router hands them over to the writers (see `core::handover`). After each chunk is in
//!    HBase its last key is stored, so a restart resumes after it, not from the start.
//!    Memory is bounded by chunk size x read-ahead, whatever the table size.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crate::config::{Config, LockingMode};
use crate::core::checkpoint::CheckpointTracker;
use crate::core::filter::TableFilter;
use crate::core::mapping::{hbase_target, TableMapping};
use crate::core::version::Version;
use crate::error::{mysql_codes, SyncError};
use crate::source::decode::{SqlValue, TableSchema};
use crate::source::mysql::{self as my, quote_identifier, quote_table, BinlogPosition};
use crate::source::schema::load_table_schema;
use crate::source::text::parse_text;
use crate::state::{BootstrapJob, StateStore};

/// Rows of one chunk on their way to the router.
pub struct SnapshotChunk {
    pub job_id: u64,
    pub schema: Arc<TableSchema>,
    /// The rows are exact as of this position unless the stream changed them after it.
    pub low: BinlogPosition,
    /// The stream must have routed everything up to here before the rows are handed over.
    pub ready_at: BinlogPosition,
    pub rows: Vec<Vec<SqlValue>>,
    /// Fires when every writer has written the chunk.
    pub written: oneshot::Sender<()>,
}

/// What bootstrap jobs ask of the router.
pub enum RouterCmd {
    /// Start recording changes of `table` (`db.table`) for `job`; replies once recording.
    Track {
        job: u64,
        db: String,
        table: String,
        /// Not a resumption: nothing was copied yet.
        first: bool,
        reply: oneshot::Sender<()>,
    },
    Chunk(SnapshotChunk),
    Untrack {
        job: u64,
        /// Every chunk was handed over.
        complete: bool,
    },
}

/// How a job ended when it did not complete.
#[derive(Debug)]
pub enum JobError {
    /// The job cannot succeed as asked; it is marked failed with this reason.
    Definite(String),
    /// A lost connection or a pipeline restart; the job stays open and resumes later.
    Transient(SyncError),
}

impl From<SyncError> for JobError {
    fn from(e: SyncError) -> Self {
        JobError::Transient(e)
    }
}

impl From<mysql_async::Error> for JobError {
    fn from(e: mysql_async::Error) -> Self {
        JobError::Transient(e.into())
    }
}

/// Checks that `db.table` can be bootstrapped; returns its schema.
pub async fn validate_table(
    cfg: &Config,
    conn: &mut Conn,
    db: &str,
    table: &str,
    where_clause: Option<&str>,
) -> Result<TableSchema, JobError> {
    let name = format!("{db}.{table}");
    if !TableFilter::new(&cfg.capture).captures(db, table) {
        return Err(JobError::Definite(format!(
            "table {name} is not captured: add it to [capture] include (and keep it out of exclude)"
        )));
    }
    let Some(schema) = load_table_schema(conn, db, table).await? else {
        return Err(JobError::Definite(format!("table {name} does not exist")));
    };
    TableMapping::resolve(
        cfg,
        &TableFilter::new(&cfg.capture),
        Arc::new(schema.clone()),
    )
    .map_err(|e| JobError::Definite(e.to_string()))?;
    if let Some(cond) = where_clause {
        let invalid = |why: String| {
            JobError::Definite(format!(
                "the --where condition {cond:?} is not a valid condition on {name}: {why}"
            ))
        };
        self_contained_condition(cond).map_err(|why| invalid(why.into()))?;
        // Prepared, not run: one statement only, parsed and its names resolved by the server,
        // inside a read-only transaction.
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
                return Err(invalid("`?` placeholders have no values".into()));
            }
            Ok(stmt) => conn.close(stmt).await?,
            Err(mysql_async::Error::Server(e)) => return Err(invalid(e.to_string())),
            Err(e) => return Err(JobError::Transient(e.into())),
        }
    }
    Ok(schema)
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

/// Runs one job to its end; progress is stored after every chunk.
pub async fn run_job(
    cfg: &Config,
    store: &StateStore,
    router: &mpsc::Sender<RouterCmd>,
    acked: &CheckpointTracker,
    job: &BootstrapJob,
) -> Result<(), JobError> {
    let (db, table) = (job.database.as_str(), job.table.as_str());
    if let (Some(version), false) = (job.purge_version, job.purged) {
        purge(cfg, acked, db, table, Version(version)).await?;
        store.job_purged(job.id).await?;
    }
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let where_clause = job.where_clause.as_deref().filter(|w| !w.trim().is_empty());
    let schema = match validate_table(cfg, &mut conn, db, table, where_clause).await {
        // A resync of a table that was dropped or renamed away ends with its rows deleted.
        Err(JobError::Definite(reason)) if job.purge_version.is_some() => {
            info!(table = %format!("{db}.{table}"), %reason, "resync: nothing to copy");
            return Ok(());
        }
        other => other?,
    };
    let mode = cfg.snapshot.locking_mode;
    let rows_total = count_rows(&mut conn, db, table, where_clause).await?;
    store.job_started(job.id, mode.as_str(), rows_total).await?;
    let labels = [job.id.to_string(), format!("{db}.{table}")];
    let labels = [labels[0].as_str(), labels[1].as_str()];
    let metrics = &crate::admin::metrics::METRICS;
    metrics
        .bootstrap_rows_total
        .with_label_values(&labels)
        .set(rows_total.unwrap_or(0) as i64);
    metrics
        .bootstrap_rows_done
        .with_label_values(&labels)
        .set(job.rows_done as i64);

    let (reply, tracking) = oneshot::channel();
    router
        .send(RouterCmd::Track {
            job: job.id,
            db: db.to_string(),
            table: table.to_string(),
            first: job.chunks_done == 0,
            reply,
        })
        .await
        .map_err(|_| SyncError::Other("the pipeline stopped".into()))?;
    tracking
        .await
        .map_err(|_| SyncError::Other("the pipeline stopped".into()))?;

    let result = read_chunks(cfg, store, router, job, &mut conn, schema, where_clause).await;
    let _ = router
        .send(RouterCmd::Untrack {
            job: job.id,
            complete: result.is_ok(),
        })
        .await;
    result
}

/// Resync after DDL: once HBase has every change before the DDL, deletes every HBase row of the
/// table at the DDL's version (see `core::ddl`).
async fn purge(
    cfg: &Config,
    acked: &CheckpointTracker,
    db: &str,
    table: &str,
    version: Version,
) -> Result<(), JobError> {
    while Version::of(&acked.low_watermark())? < version {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let source = format!("{db}.{table}");
    let (hbase_table, family) = hbase_target(cfg, db, table);
    let (addr, timeout) = (cfg.hbase.thrift.clone(), cfg.hbase.timeout);
    let name = hbase_table.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let mut client = crate::sink::hbase_client::connect(&addr, timeout)?;
        crate::sink::hbase_client::purge_rows(&mut client, &name, &family, version.0)
    })
    .await
    .map_err(|e| SyncError::Other(format!("purge of {hbase_table} panicked: {e}")))??;
    info!(table = %source, %hbase_table, rows, version = version.0, "resync: HBase rows deleted as of the DDL");
    Ok(())
}

/// Rows the job will copy, for progress: exact for a `--where` range, otherwise the server's
/// estimate (a `COUNT(*)` would scan the whole table before the first chunk).
async fn count_rows(
    conn: &mut Conn,
    db: &str,
    table: &str,
    where_clause: Option<&str>,
) -> Result<Option<u64>, JobError> {
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

/// The lock a locking-mode job holds while it establishes its snapshot.
enum Lock {
    Global,
    Table,
}

async fn read_chunks(
    cfg: &Config,
    store: &StateStore,
    router: &mpsc::Sender<RouterCmd>,
    job: &BootstrapJob,
    conn: &mut Conn,
    mut schema: TableSchema,
    where_clause: Option<&str>,
) -> Result<(), JobError> {
    let (db, table) = (job.database.as_str(), job.table.as_str());
    let name = format!("{db}.{table}");
    let mode = cfg.snapshot.locking_mode;
    let mut lock: Option<(Lock, Instant)> = None;
    let mut snapshot_at: Option<BinlogPosition> = None;
    if mode != LockingMode::None {
        conn.query_drop(format!(
            "SET SESSION lock_wait_timeout = {}",
            cfg.snapshot.lock_timeout.as_secs().max(1)
        ))
        .await?;
        let kind = match conn.query_drop("FLUSH TABLES WITH READ LOCK").await {
            Ok(()) => Lock::Global,
            Err(mysql_async::Error::Server(e))
                if e.code == mysql_codes::ER_SPECIFIC_ACCESS_DENIED || e.code == 1045 =>
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
        schema = load_table_schema(conn, db, table)
            .await?
            .ok_or_else(|| JobError::Definite(format!("table {name} does not exist")))?;
        if matches!(kind, Lock::Global) {
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                .await?;
            if mode == LockingMode::Minimal {
                conn.query_drop("UNLOCK TABLES").await?;
                let held = locked_at.elapsed();
                info!(table = %name, held_ms = held.as_millis() as u64, %position, "global read lock released");
                store
                    .job_snapshot_position(job.id, &position, Some(held.as_millis() as u64))
                    .await?;
            } else {
                lock = Some((kind, locked_at));
            }
        } else {
            lock = Some((kind, locked_at));
        }
        snapshot_at = Some(position);
    }

    let schema = Arc::new(schema);
    let mapping = TableMapping::resolve(cfg, &TableFilter::new(&cfg.capture), schema.clone())
        .map_err(|e| JobError::Definite(e.to_string()))?;
    let key_columns: Vec<usize> = mapping.row_key.clone();
    let mut last_key: Option<Vec<Vec<u8>>> = job
        .last_key
        .as_deref()
        .map(decode_last_key)
        .transpose()
        .map_err(|e| {
            JobError::Definite(format!(
                "job {}: bad last_key in the state store: {e}",
                job.id
            ))
        })?;
    let read_ahead = cfg.snapshot.parallelism.max(1);
    // A global read lock held through the read (`extended`) blocks every write on the server,
    // the state store's too when it lives there: progress is then stored once it is released.
    let defer_progress = matches!(lock, Some((Lock::Global, _)));
    let mut deferred: Option<(String, u64, u64)> = None;
    let mut in_flight: VecDeque<(oneshot::Receiver<()>, String, u64)> = VecDeque::new();
    let columns = schema
        .columns
        .iter()
        .map(|c| quote_identifier(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let order = key_columns
        .iter()
        .map(|&i| quote_identifier(&schema.columns[i].name))
        .collect::<Vec<_>>()
        .join(", ");
    loop {
        let mut conditions = Vec::new();
        if let Some(last) = &last_key {
            conditions.push(after_key(&schema, &key_columns, last));
        }
        if let Some(w) = where_clause {
            conditions.push(format!("({w})"));
        }
        let sql = format!(
            "SELECT {columns} FROM {} {} ORDER BY {order} LIMIT {}",
            quote_table(db, table),
            if conditions.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", conditions.join(" AND "))
            },
            cfg.snapshot.chunk_rows
        );
        let (low, rows, ready_at) = match &snapshot_at {
            Some(p) => {
                let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
                (p.clone(), rows, p.clone())
            }
            None => {
                let (before, _) = my::current_position(conn).await?;
                conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await?;
                let exact = my::snapshot_position(conn).await?;
                let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
                conn.query_drop("COMMIT").await?;
                match exact {
                    // MariaDB names the position the snapshot is consistent with.
                    Some(p) => (p.clone(), rows, p),
                    None => {
                        let (after, _) = my::current_position(conn).await?;
                        (before, rows, after)
                    }
                }
            }
        };
        let n = rows.len() as u64;
        let done = (n as usize) < cfg.snapshot.chunk_rows as usize;
        let mut values = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut image = Vec::with_capacity(schema.columns.len());
            for (i, col) in schema.columns.iter().enumerate() {
                let bytes = match row.as_ref(i) {
                    Some(Value::Bytes(b)) => Some(b.as_slice()),
                    _ => None,
                };
                image.push(
                    parse_text(col, bytes)
                        .map_err(|e| JobError::Definite(format!("{name}: {e}")))?,
                );
            }
            values.push(image);
        }
        if let Some(row) = rows.last() {
            let key: Vec<Vec<u8>> = key_columns
                .iter()
                .map(|&i| match row.as_ref(i) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => Vec::new(),
                })
                .collect();
            last_key = Some(key);
        }
        drop(rows);
        if !values.is_empty() {
            let (written, written_rx) = oneshot::channel();
            router
                .send(RouterCmd::Chunk(SnapshotChunk {
                    job_id: job.id,
                    schema: schema.clone(),
                    low,
                    ready_at,
                    rows: values,
                    written,
                }))
                .await
                .map_err(|_| SyncError::Other("the pipeline stopped".into()))?;
            let key_json = encode_last_key(last_key.as_ref().expect("set above"));
            in_flight.push_back((written_rx, key_json, n));
        }
        while in_flight.len() > read_ahead || (done && !in_flight.is_empty()) {
            let (rx, key, n) = in_flight.pop_front().expect("non-empty");
            rx.await.map_err(|_| {
                SyncError::Other("the pipeline stopped before the chunk was written".into())
            })?;
            if defer_progress {
                let (chunks, rows) = deferred.as_ref().map_or((0, 0), |(_, c, r)| (*c, *r));
                deferred = Some((key, chunks + 1, rows + n));
            } else {
                store.job_progress(job.id, &key, 1, n).await?;
                crate::admin::metrics::METRICS
                    .bootstrap_rows_done
                    .with_label_values(&[job.id.to_string().as_str(), name.as_str()])
                    .add(n as i64);
            }
        }
        if done {
            break;
        }
    }
    if let Some((kind, locked_at)) = lock {
        conn.query_drop("UNLOCK TABLES").await?;
        let held = locked_at.elapsed();
        info!(table = %name, held_ms = held.as_millis() as u64, table_lock = matches!(kind, Lock::Table), "read lock released after the last chunk");
        if let Some(p) = &snapshot_at {
            store
                .job_snapshot_position(job.id, p, Some(held.as_millis() as u64))
                .await?;
        }
    }
    if snapshot_at.is_some() {
        conn.query_drop("COMMIT").await?;
    }
    Ok(())
}

fn lock_error(table: &str, e: mysql_async::Error) -> JobError {
    match &e {
        mysql_async::Error::Server(s) if s.code == mysql_codes::ER_LOCK_WAIT_TIMEOUT => JobError::Definite(format!(
            "could not get the read lock for {table} within snapshot.lock_timeout ({}): a long transaction or DDL holds it; retry later, raise snapshot.lock_timeout, or use snapshot.locking_mode = \"none\"",
            s.message
        )),
        _ => JobError::Transient(e.into()),
    }
}

/// `(k1, k2) > (v1, v2)` spelled so every server's range optimizer uses the primary key.
pub(crate) fn after_key(schema: &TableSchema, key_columns: &[usize], last: &[Vec<u8>]) -> String {
    let literal = |i: usize, v: &[u8]| {
        let col = &schema.columns[key_columns[i]];
        let quoted = Value::Bytes(v.to_vec()).as_sql(false);
        if col.collation == Some(63) {
            format!("_binary {quoted}")
        } else {
            quoted
        }
    };
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

fn encode_last_key(key: &[Vec<u8>]) -> String {
    let hex: Vec<String> = key
        .iter()
        .map(|v| v.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    serde_json::to_string(&hex).expect("strings serialize")
}

fn decode_last_key(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let hex: Vec<String> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    hex.iter()
        .map(|h| {
            (0..h.len())
                .step_by(2)
                .map(|i| {
                    u8::from_str_radix(h.get(i..i + 2).ok_or("odd hex")?, 16)
                        .map_err(|e| e.to_string())
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::ColumnSchema;
    use mysql_common::constants::ColumnType;

    #[test]
    fn last_key_round_trips() {
        let key = vec![b"a|b".to_vec(), vec![0, 255], Vec::new()];
        assert_eq!(decode_last_key(&encode_last_key(&key)).unwrap(), key);
    }

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

    #[test]
    fn composite_key_condition() {
        let col = |n: &str, collation| ColumnSchema {
            name: n.into(),
            column_type: ColumnType::MYSQL_TYPE_VARCHAR,
            meta: vec![],
            unsigned: false,
            collation,
            enum_values: vec![],
            set_values: vec![],
        };
        let schema = TableSchema {
            database: "d".into(),
            table: "t".into(),
            columns: vec![col("a", Some(45)), col("b", Some(63))],
            primary_key: vec![0, 1],
        };
        assert_eq!(
            after_key(&schema, &[0, 1], &[b"x'y".to_vec(), b"z".to_vec()]),
            "((`a` > 'x\\'y' OR (`a` = 'x\\'y' AND `b` > _binary 'z')))"
        );
        assert_eq!(after_key(&schema, &[0], &[b"5".to_vec()]), "(`a` > '5')");
    }
}
