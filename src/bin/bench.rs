//! `bench`: measures mysql2hbase against the raw ceilings of the servers it runs against, in
//! one run (issue 8). Run through `scripts/bench.sh [--quick]`, which builds it in release mode,
//! starts the services, draws the plot and prints the JSON summary last.
//!
//! Phases, on a fresh database `bench` and fresh `bench_*` HBase tables:
//! 1. load `rows` rows into `bench.events` (11 columns; 10% single-row transactions, the rest in
//!    multi-row transactions of 10 to 1,000 rows) while the daemon is stopped at P0;
//! 2. raw binlog (bare mysql_async stream P0..P1, rows parsed by mysql_common) and decode (the
//!    daemon's own tailer + decoder + router, writers that drop what they get);
//! 3. HBase ceiling: the same rows as the daemon's cells, batched `mutateRowsTs` with the
//!    daemon's batch size and writer count, then the stream: the real daemon resumes at P0; the
//!    clock runs from `/health` 200 until HBase has the load's last 64 rows (see
//!    `Daemon::follow_until`); `/metrics` and `/proc` are sampled for the plot;
//! 4. latency: 20-row transactions every 10 ms while the daemon runs; each one's last row is
//!    polled with `getRow` from the moment COMMIT returns (resolution: one `getRow`, ~1 ms);
//! 5. one `rows`-row transaction through the daemon (peak RSS);
//! 6. SELECT ceiling (bare streaming `SELECT *`) and a bootstrap of `bench.events` by a daemon
//!    with `snapshot.mode = "initial_only"` (from `/health` 200 to its exit; peak RSS).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use futures_util::StreamExt;
use hbase_thrift::hbase::{BatchMutation, Mutation, THbaseSyncClient};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Opts};
use mysql_common::binlog::events::{EventData, TableMapEvent};
use serde_json::json;

use mysql2hbase::config::Config;
use mysql2hbase::sink::hbase_client::{self, ThriftClient};
use mysql2hbase::source::mysql::BinlogPosition;

/// The daemon's allocator, so the decode figure measures what the daemon runs.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306";
const THRIFT: &str = "127.0.0.1:9090";
const ADMIN: &str = "127.0.0.1:18686";
const SERVER_ID: u32 = 77001;
/// The daemon's defaults, used by the ceiling too.
const WRITERS: usize = 2;
const BATCH_ROWS: usize = 2000;
const COLUMNS: [&str; 11] = [
    "id",
    "user_id",
    "kind",
    "amount",
    "qty",
    "price",
    "status",
    "note",
    "created_at",
    "updated_at",
    "flag",
];

#[derive(Parser)]
struct Args {
    /// 200k rows and shorter phases (under ~5 minutes).
    #[arg(long)]
    quick: bool,
    /// Rows of the stream, big-transaction and bootstrap phases (default 1M, quick 200k).
    #[arg(long)]
    rows: Option<u64>,
    /// Repetitions of the short ceiling/decode measurements (median reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Seconds of the steady-rate latency phase (default 60, quick 20).
    #[arg(long)]
    latency_secs: Option<u64>,
    /// Load, then only repeat the decode measurement `reps` times (for profiling).
    #[arg(long)]
    only_decode: bool,
    /// The daemon binary.
    #[arg(long, default_value = "target/release/mysql2hbase")]
    daemon: PathBuf,
    /// Where configs, logs, time series and the summary go.
    #[arg(long, default_value = "bench/out")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let rows = args
        .rows
        .unwrap_or(if args.quick { 200_000 } else { 1_000_000 });
    let latency_secs = args
        .latency_secs
        .unwrap_or(if args.quick { 20 } else { 60 });
    std::fs::create_dir_all(&args.out)?;
    let b = Bench {
        daemon: std::fs::canonicalize(&args.daemon)
            .with_context(|| format!("daemon binary {}", args.daemon.display()))?,
        out: args.out.clone(),
        reps: args.reps.max(1),
    };
    let mut s = serde_json::Map::new();

    b.clean().await?;
    let mut conn = mysql().await?;
    conn.query_drop("CREATE DATABASE bench").await?;
    for t in ["events", "bigtxn"] {
        conn.query_drop(format!("CREATE TABLE bench.{t} ({})", TABLE_DDL))
            .await?;
    }

    // The daemon's HBase tables exist before the clocks start, as the ceiling's does: creating
    // a table takes about a second on this HBase, once per table in a daemon's life.
    tokio::task::spawn_blocking(|| -> Result<()> {
        let mut c = thrift()?;
        for t in ["bench_events", "bench_bigtxn", "bench_events_snap"] {
            hbase_client::ensure_table(&mut c, t, "d", 3)?;
        }
        Ok(())
    })
    .await??;

    // 1. The daemon records P0 as its checkpoint, stops; the load goes into the binlog.
    let stream_cfg = b.config(
        "stream",
        "bench.events,bench.bigtxn",
        "never",
        "{db}_{table}",
    )?;
    let mut d = b.start(&stream_cfg, "stream0")?;
    d.wait_checkpoint(None, Duration::from_secs(60))?;
    d.stop()?;
    let p0 = position(&mut conn).await?;
    let t = Instant::now();
    let progress = load(&mut conn, "events", 0, rows).await?;
    let load_secs = t.elapsed().as_secs_f64();
    let p1 = position(&mut conn).await?;
    eprintln!(
        "loaded {rows} rows in {load_secs:.1}s ({:.0} rows/s); binlog {p0} .. {p1}",
        rows as f64 / load_secs
    );
    s.insert("load_rows_per_s".into(), json!(rows as f64 / load_secs));

    // 2. Raw binlog and decode, alternating so both see the same machine load; medians.
    let decode_cfg = Config::load(&stream_cfg)?;
    let cpu = CpuMeter::start(None);
    let (mut raws, mut raws_events, mut decodes) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..b.reps {
        let (n, secs, events_secs) = raw_binlog(&p0, &p1).await?;
        check_rows("raw binlog", n, rows)?;
        raws.push(n as f64 / secs);
        raws_events.push(n as f64 / events_secs);
        let t = Instant::now();
        let n = mysql2hbase::core::pipeline::route_bench::route_without_sink(&decode_cfg, &p0, &p1)
            .await?;
        check_rows("decode", n, rows)?;
        decodes.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let ratios: Vec<f64> = decodes.iter().zip(&raws).map(|(d, r)| d / r).collect();
    let raw = (median_of(raws.clone()), median_of(raws_events));
    let decode = (median_of(decodes.clone()),);
    s.insert("decode_cpu_cores".into(), cpu.cores());
    if args.only_decode {
        eprintln!(
            "decode: {decodes:.0?} rows/s; raw binlog {raws:.0?} rows/s; ratios {ratios:.2?}"
        );
        return b.clean().await;
    }
    s.insert("raw_binlog_rows_per_s".into(), json!(raw.0.round()));
    s.insert(
        "raw_binlog_events_only_rows_per_s".into(),
        json!(raw.1.round()),
    );
    s.insert("decode_rows_per_s".into(), json!(decode.0.round()));
    s.insert(
        "decode_to_raw_ratio_median".into(),
        json!((median_of(ratios) * 100.0).round() / 100.0),
    );

    // 3. HBase ceiling and the stream (ceiling measured before and after; median of all).
    let cpu = CpuMeter::start(None);
    let mut ceilings = vec![hbase_ceiling(rows, "bench_ceiling").await?];
    s.insert("hbase_ceiling_cpu_cores".into(), cpu.cores());
    let uptime_stream = load_average();
    let mut d = b.start(&stream_cfg, "stream")?;
    let cpu = CpuMeter::start(Some(d.child.id()));
    // The clock starts when the daemon streams (/health 200), not at process start.
    let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
    let (caught_up_at, series) = d.follow_until(
        ("bench_events", rows),
        Some(&progress),
        Duration::from_secs(3600),
    )?;
    let stream_secs = caught_up_at - streaming_at;
    s.insert("stream_startup_secs".into(), json!(streaming_at));
    s.insert("stream_cpu_cores".into(), cpu.cores());
    // How full the writers' batches were (`pipeline.batch_rows` is the most).
    let batches = d.metric("mysql2hbase_hbase_batch_seconds_count");
    s.insert("stream_hbase_batches".into(), json!(batches));
    s.insert(
        "stream_rows_per_batch".into(),
        json!((rows as f64 / batches.max(1.0)).round()),
    );
    s.insert(
        "stream_batch_ms_mean".into(),
        json!(
            (d.metric("mysql2hbase_hbase_batch_seconds_sum") * 1e3 / batches.max(1.0) * 10.0)
                .round()
                / 10.0
        ),
    );
    let stream_rss = d.stop()?;
    write_series(&b.out.join("stream.csv"), &series)?;
    ceilings.push(hbase_ceiling(rows, "bench_ceiling").await?);
    for _ in 2..b.reps {
        ceilings.push(hbase_ceiling(rows, "bench_ceiling").await?);
    }
    let ceiling = median_of(ceilings.clone());
    s.insert(
        "stream_rows_per_s".into(),
        json!((rows as f64 / stream_secs).round()),
    );
    s.insert("hbase_ceiling_rows_per_s".into(), json!(ceiling.round()));
    s.insert(
        "hbase_ceiling_runs".into(),
        json!(ceilings.iter().map(|c| c.round()).collect::<Vec<_>>()),
    );
    s.insert("stream_load_avg".into(), json!(uptime_stream));
    s.insert("stream_peak_rss_mb".into(), json!(stream_rss.0));

    // 4. Latency at a steady rate.
    let mut d = b.start(&stream_cfg, "latency")?;
    d.wait_checkpoint(Some(&p1), Duration::from_secs(60))?;
    let lat = latency(
        &mut conn,
        rows,
        2000,
        latency_secs,
        &b.out.join("latency.csv"),
    )
    .await?;
    let latency_rss = d.stop()?;
    s.insert("p50_latency_ms".into(), json!(lat.0));
    s.insert("p99_latency_ms".into(), json!(lat.1));
    s.insert("max_latency_ms".into(), json!(lat.2));
    s.insert("latency_peak_rss_mb".into(), json!(latency_rss.0));

    // 5. One transaction of `rows` rows.
    let mut d = b.start(&stream_cfg, "bigtxn")?;
    let before = position(&mut conn).await?;
    let t = Instant::now();
    conn.query_drop(format!(
        "INSERT INTO bench.bigtxn SELECT * FROM bench.events WHERE id < {rows}"
    ))
    .await?;
    let commit_secs = t.elapsed().as_secs_f64();
    // The binlog has the transaction from its commit on: the clock starts there.
    let committed_at = d.started.elapsed().as_secs_f64();
    let p2 = position(&mut conn).await?;
    let (big_secs, big_series) = d.follow_until(
        ("bench_bigtxn", rows),
        Some(&vec![(version(&before), 0), (version(&p2), rows)]),
        Duration::from_secs(3600),
    )?;
    let big_rss = d.stop()?;
    write_series(&b.out.join("bigtxn.csv"), &big_series)?;
    s.insert("bigtxn_commit_secs".into(), json!(commit_secs));
    s.insert(
        "bigtxn_rows_per_s".into(),
        json!((rows as f64 / (big_secs - committed_at)).round()),
    );
    s.insert("bigtxn_peak_rss_mb".into(), json!(big_rss.0));

    // 6. SELECT ceiling and bootstrap.
    let table_rows: u64 = conn
        .query_first("SELECT COUNT(*) FROM bench.events")
        .await?
        .unwrap_or(0);
    let select = median(b.reps, || async {
        let (n, secs) = select_ceiling().await?;
        check_rows("select", n, table_rows)?;
        Ok((n as f64 / secs, 0.0))
    })
    .await?;
    let snap_cfg = b.config(
        "snapshot",
        "bench.events",
        "initial_only",
        "{db}_{table}_snap",
    )?;
    let uptime_snap = load_average();
    let mut d = b.start(&snap_cfg, "snapshot")?;
    let cpu = CpuMeter::start(Some(d.child.id()));
    // From streaming (the bootstrap starts then) to the exit after the last chunk.
    let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
    let (exited_at, snap_series, snap_rss, snap_cpu) =
        d.until_exit(Duration::from_secs(3600), cpu)?;
    let snap_secs = exited_at - streaming_at;
    s.insert("snapshot_cpu_cores".into(), snap_cpu);
    write_series(&b.out.join("snapshot.csv"), &snap_series)?;
    s.insert(
        "snapshot_rows_per_s".into(),
        json!((table_rows as f64 / snap_secs).round()),
    );
    s.insert("select_ceiling_rows_per_s".into(), json!(select.0.round()));
    s.insert("snapshot_load_avg".into(), json!(uptime_snap));
    s.insert("snapshot_peak_rss_mb".into(), json!(snap_rss));
    s.insert(
        "peak_rss_mb".into(),
        json!(big_rss.0.max(snap_rss).max(stream_rss.0)),
    );
    s.insert("rows".into(), json!(rows));
    s.insert("quick".into(), json!(args.quick));

    b.clean().await?;
    let summary = serde_json::Value::Object(s);
    std::fs::write(b.out.join("summary.json"), summary.to_string() + "\n")?;
    print_table(&summary);
    Ok(())
}

const TABLE_DDL: &str = "id BIGINT NOT NULL PRIMARY KEY, user_id INT NOT NULL, \
    kind VARCHAR(16) NOT NULL, amount DECIMAL(12,2) NOT NULL, qty INT NOT NULL, \
    price DOUBLE NOT NULL, status ENUM('new','paid','shipped','done') NOT NULL, \
    note VARCHAR(64), created_at DATETIME(6) NOT NULL, updated_at TIMESTAMP NULL, \
    flag TINYINT NOT NULL";

/// Row `i` of the workload, as MySQL's text protocol renders it (`None` = NULL): the daemon
/// writes exactly these cell values, so the ceiling writes the same bytes.
fn row_values(i: u64) -> [Option<String>; 11] {
    let kinds = ["click", "view", "purchase", "refund"];
    let statuses = ["new", "paid", "shipped", "done"];
    let t = i % (28 * 86400);
    let (d, h, m, sec) = (1 + t / 86400, t % 86400 / 3600, t % 3600 / 60, t % 60);
    [
        Some(i.to_string()),
        Some((i * 7919 % 100_000).to_string()),
        Some(kinds[(i % 4) as usize].to_string()),
        Some(format!("{}.{:02}", i * 37 % 100_000, i % 100)),
        Some((i % 50).to_string()),
        Some(((i % 1000) as f64 * 1.25).to_string()),
        Some(statuses[(i / 3 % 4) as usize].to_string()),
        (!i.is_multiple_of(7)).then(|| format!("note for event {i}: lorem ipsum dolor")),
        Some(format!(
            "2024-01-{d:02} {h:02}:{m:02}:{sec:02}.{:06}",
            i * 13 % 1_000_000
        )),
        (!i.is_multiple_of(10)).then(|| format!("2024-02-{d:02} {h:02}:{m:02}:{sec:02}")),
        Some((i % 2).to_string()),
    ]
}

fn sql_row(i: u64) -> String {
    let v = row_values(i);
    let cols: Vec<String> = v
        .iter()
        .enumerate()
        .map(|(c, x)| match x {
            None => "NULL".into(),
            Some(x) if matches!(c, 0 | 1 | 3 | 4 | 5 | 10) => x.clone(),
            Some(x) => format!("'{x}'"),
        })
        .collect();
    format!("({})", cols.join(","))
}

/// Binlog versions and how many workload rows were committed before each, to turn a
/// checkpoint into rows (the binlog may rotate, and other clients may write meanwhile).
type Progress = Vec<(i64, u64)>;

/// Rows committed before the checkpoint `cp`, interpolated between the recorded positions.
fn rows_at(progress: &Progress, cp: i64) -> f64 {
    let after = progress.partition_point(|&(v, _)| v <= cp);
    match (
        after.checked_sub(1).map(|i| progress[i]),
        progress.get(after),
    ) {
        (None, _) => 0.0,
        (Some((_, n)), None) => n as f64,
        (Some((v0, n0)), Some(&(v1, n1))) => {
            // Within one binlog file bytes are proportional to rows; across files, step.
            if v1 >> 32 != v0 >> 32 {
                n0 as f64
            } else {
                n0 as f64 + (n1 - n0) as f64 * (cp - v0) as f64 / (v1 - v0) as f64
            }
        }
    }
}

/// Inserts rows `from..from+n`: per 2,000 rows, 200 single-row transactions, then transactions
/// of 10, 90, 200, 500 and 1,000 rows (one multi-row INSERT each). Records the binlog position
/// after every 2,000 rows.
async fn load(conn: &mut Conn, table: &str, from: u64, n: u64) -> Result<Progress> {
    const SIZES: [u64; 6] = [1, 10, 90, 200, 500, 1000];
    let mut i = from;
    let end = from + n;
    let mut progress = vec![(version(&position(conn).await?), 0)];
    while i < end {
        progress.push((version(&position(conn).await?), i - from));
        for (k, size) in SIZES.iter().enumerate() {
            let count = if k == 0 { 200 } else { 1 };
            for _ in 0..count {
                if i >= end {
                    break;
                }
                let hi = (i + size).min(end);
                let values: Vec<String> = (i..hi).map(sql_row).collect();
                conn.query_drop(format!(
                    "INSERT INTO bench.{table} VALUES {}",
                    values.join(",")
                ))
                .await?;
                i = hi;
            }
        }
    }
    progress.push((version(&position(conn).await?), n));
    Ok(progress)
}

async fn mysql() -> Result<Conn> {
    let mut conn = Conn::new(Opts::from_url(MYSQL_URL)?).await?;
    conn.query_drop("SET time_zone = '+00:00'").await?;
    Ok(conn)
}

async fn position(conn: &mut Conn) -> Result<BinlogPosition> {
    let row: (String, u64) = conn
        .query_first("SHOW MASTER STATUS")
        .await?
        .map(|r: mysql_async::Row| (r.get(0).unwrap(), r.get(1).unwrap()))
        .context("no binlog")?;
    Ok(BinlogPosition {
        file: row.0,
        pos: row.1,
    })
}

fn version(p: &BinlogPosition) -> i64 {
    mysql2hbase::core::version::Version::of(p)
        .expect("numbered binlog")
        .0
}

fn check_rows(what: &str, got: u64, want: u64) -> Result<()> {
    if got != want {
        bail!("{what}: saw {got} rows, expected {want}");
    }
    Ok(())
}

/// Median of `reps` runs of `f` (each returning two figures, medians taken separately).
async fn median<F, Fut>(reps: usize, f: F) -> Result<(f64, f64)>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(f64, f64)>>,
{
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (x, y) = f().await?;
        a.push(x);
        b.push(y);
    }
    Ok((median_of(a), median_of(b)))
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A bare mysql_async binlog stream P0..P1. Returns rows, seconds with every rows event parsed
/// into mysql_common rows, and seconds of a second pass that only reads the events.
async fn raw_binlog(from: &BinlogPosition, to: &BinlogPosition) -> Result<(u64, f64, f64)> {
    let end = version(to);
    let mut results = Vec::new();
    for parse_rows in [true, false] {
        let conn = mysql().await?;
        let t = Instant::now();
        let mut stream = conn
            .get_binlog_stream(
                BinlogStreamRequest::new(SERVER_ID + 1)
                    .with_filename(from.file.as_bytes())
                    .with_pos(from.pos),
            )
            .await?;
        let mut file = from.file.clone();
        let mut tables: std::collections::HashMap<u64, TableMapEvent<'static>> = Default::default();
        let mut rows = 0u64;
        while let Some(event) = stream.next().await {
            let event = event?;
            let data = event.read_data()?;
            match data {
                Some(EventData::RotateEvent(r)) => {
                    // MariaDB's first (fake) ROTATE carries 4 checksum bytes after the name.
                    let raw = r.name_raw();
                    if !(raw.starts_with(file.as_bytes()) && raw.len() == file.len() + 4) {
                        file = String::from_utf8_lossy(raw).into_owned();
                    }
                    continue;
                }
                Some(EventData::TableMapEvent(tme)) => {
                    tables.insert(tme.table_id(), tme.into_owned());
                }
                Some(EventData::RowsEvent(re)) if parse_rows => {
                    let tme = &tables[&re.table_id()];
                    // Only the workload's rows (other clients may write meanwhile).
                    if tme.database_name() != "bench" || tme.table_name() != "events" {
                        continue;
                    }
                    for row in re.rows(tme) {
                        row?;
                        rows += 1;
                    }
                }
                _ => {}
            }
            let pos = BinlogPosition {
                file: file.clone(),
                pos: event.header().log_pos() as u64,
            };
            if event.header().log_pos() > 0 && version(&pos) >= end {
                break;
            }
        }
        results.push((rows, t.elapsed().as_secs_f64()));
        let _ = stream.close().await;
    }
    Ok((results[0].0, results[0].1, results[1].1))
}

/// A bare streaming `SELECT *` of `bench.events`, every value read.
async fn select_ceiling() -> Result<(u64, f64)> {
    let mut conn = mysql().await?;
    let t = Instant::now();
    let mut result = conn.query_iter("SELECT * FROM bench.events").await?;
    let mut n = 0u64;
    let mut stream = result
        .stream::<mysql_async::Row>()
        .await?
        .context("a result set")?;
    while let Some(row) = stream.next().await {
        let row = row?;
        std::hint::black_box(row.len());
        n += 1;
    }
    Ok((n, t.elapsed().as_secs_f64()))
}

/// The same cells as the daemon writes for row `i`.
fn batch_mutation(i: u64) -> BatchMutation {
    let mutations = row_values(i)
        .into_iter()
        .zip(COLUMNS)
        .map(|(v, c)| Mutation {
            is_delete: Some(v.is_none()),
            column: Some(format!("d:{c}").into_bytes()),
            value: v.map(String::into_bytes),
            write_to_w_a_l: Some(true),
        })
        .collect();
    BatchMutation {
        row: Some(i.to_string().into_bytes()),
        mutations: Some(mutations),
    }
}

fn thrift() -> Result<ThriftClient> {
    Ok(hbase_client::connect(THRIFT, Duration::from_secs(60))?)
}

fn drop_table(client: &mut ThriftClient, table: &str) -> Result<()> {
    if hbase_client::table_exists(client, table)? {
        let name = table.as_bytes().to_vec();
        let _ = client.disable_table(name.clone());
        client
            .delete_table(name)
            .map_err(|e| anyhow::anyhow!("deleteTable {table}: {e}"))?;
    }
    Ok(())
}

/// `rows` rows written by `WRITERS` threads, each its own connection, in batches of
/// `BATCH_ROWS` (rows partitioned like the daemon: one row to one writer). Rows/s.
async fn hbase_ceiling(rows: u64, table: &str) -> Result<f64> {
    tokio::task::spawn_blocking({
        let table = table.to_string();
        move || -> Result<f64> {
            let mut c = thrift()?;
            drop_table(&mut c, &table)?;
            hbase_client::ensure_table(&mut c, &table, "d", 3)?;
            let t = Instant::now();
            let handles: Vec<_> = (0..WRITERS as u64)
                .map(|w| {
                    let table = table.clone();
                    std::thread::spawn(move || -> Result<()> {
                        let mut c = thrift()?;
                        let mut batch = Vec::with_capacity(BATCH_ROWS);
                        let mut version = 1i64;
                        let mut flush = |batch: &mut Vec<BatchMutation>| -> Result<()> {
                            version += 1;
                            c.mutate_rows_ts(
                                table.as_bytes().to_vec(),
                                std::mem::take(batch),
                                version,
                                Default::default(),
                            )
                            .map_err(|e| anyhow::anyhow!("mutateRowsTs: {e}"))
                        };
                        for i in (w..rows).step_by(WRITERS) {
                            batch.push(batch_mutation(i));
                            if batch.len() >= BATCH_ROWS {
                                flush(&mut batch)?;
                            }
                        }
                        if !batch.is_empty() {
                            flush(&mut batch)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            for h in handles {
                h.join().expect("ceiling writer")?;
            }
            let secs = t.elapsed().as_secs_f64();
            drop_table(&mut c, &table)?;
            Ok(rows as f64 / secs)
        }
    })
    .await?
}

/// Inserts `rate` rows/s for `secs` seconds (transactions of `rate / 100` rows every 10 ms, ids
/// from `first`), each transaction's commit time taken when COMMIT returns; a poller reads the
/// transaction's last row with `getRow` until HBase shows it. Returns p50, p99, max in ms.
async fn latency(
    conn: &mut Conn,
    first: u64,
    rate: u64,
    secs: u64,
    csv: &Path,
) -> Result<(f64, f64, f64)> {
    let per_txn = rate / 100;
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Instant)>();
    let start = Instant::now();
    let poller = std::thread::spawn(move || -> Result<Vec<(f64, f64)>> {
        let mut c = thrift()?;
        let mut waiting: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut out = Vec::new();
        let mut open = true;
        while open || !waiting.is_empty() {
            loop {
                match rx.try_recv() {
                    Ok(x) => waiting.push_back(x),
                    Err(std::sync::mpsc::TryRecvError::Empty) => break,
                    Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                        open = false;
                        break;
                    }
                }
            }
            let Some(&(key, committed)) = waiting.front() else {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            };
            let found = hbase_client::get_rows(
                &mut c,
                "bench_events",
                "d",
                &[key.to_string().into_bytes()],
            )?;
            if found.is_empty() {
                if committed.elapsed() > Duration::from_secs(120) {
                    bail!("row {key} not in HBase after 120 s");
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let now = Instant::now();
            out.push((
                (committed - start).as_secs_f64(),
                (now - committed).as_secs_f64() * 1000.0,
            ));
            waiting.pop_front();
        }
        Ok(out)
    });
    let txns = secs * 100;
    let mut next = first;
    for k in 0..txns {
        let due = start + Duration::from_millis(10 * k);
        tokio::time::sleep_until(due.into()).await;
        let values: Vec<String> = (next..next + per_txn).map(sql_row).collect();
        let mut t = conn.start_transaction(Default::default()).await?;
        t.query_drop(format!(
            "INSERT INTO bench.events VALUES {}",
            values.join(",")
        ))
        .await?;
        t.commit().await?;
        next += per_txn;
        tx.send((next - 1, Instant::now()))?;
    }
    let behind = start.elapsed().as_secs_f64() - secs as f64;
    eprintln!("latency load: {txns} transactions of {per_txn} rows; finished {behind:.2}s behind schedule");
    drop(tx);
    let samples = poller.join().expect("poller")?;
    let mut f = std::fs::File::create(csv)?;
    writeln!(f, "t_s,latency_ms")?;
    for (t, l) in &samples {
        writeln!(f, "{t:.3},{l:.2}")?;
    }
    let mut ls: Vec<f64> = samples.iter().map(|s| s.1).collect();
    ls.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ls[((ls.len() as f64 * p) as usize).min(ls.len() - 1)];
    Ok((
        (pct(0.5) * 10.0).round() / 10.0,
        (pct(0.99) * 10.0).round() / 10.0,
        (pct(1.0) * 10.0).round() / 10.0,
    ))
}

/// CPU time per process group, to show who uses the 2 cores during a phase.
struct CpuMeter {
    started: Instant,
    groups: Vec<(&'static str, Vec<u32>, f64)>,
    machine: f64,
}

impl CpuMeter {
    /// HBase (master/regionserver JVM + Thrift JVM), MariaDB, this bench, and `daemon`.
    fn start(daemon: Option<u32>) -> CpuMeter {
        let find = |marks: &[&str]| -> Vec<u32> {
            let mut pids = Vec::new();
            for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
                let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmd = String::from_utf8_lossy(&cmd);
                if marks.iter().any(|m| cmd.contains(m)) {
                    pids.push(pid);
                }
            }
            pids
        };
        let mut groups = vec![
            (
                "hbase",
                find(&["hbase.master.HMaster", "hbase.thrift.ThriftServer"]),
                0.0,
            ),
            ("mariadb", find(&["mariadbd"]), 0.0),
            ("bench", vec![std::process::id()], 0.0),
        ];
        if let Some(pid) = daemon {
            groups.push(("daemon", vec![pid], 0.0));
        }
        for g in &mut groups {
            g.2 = g.1.iter().map(|&p| cpu_secs(p)).sum();
        }
        CpuMeter {
            started: Instant::now(),
            groups,
            machine: machine_busy_secs(),
        }
    }

    /// Cores used by each group (and the whole machine) since `start`.
    fn cores(&self) -> serde_json::Value {
        let secs = self.started.elapsed().as_secs_f64();
        let mut m = serde_json::Map::new();
        for (name, pids, before) in &self.groups {
            let now: f64 = pids.iter().map(|&p| cpu_secs(p)).sum();
            m.insert(
                (*name).into(),
                json!(((now - before) / secs * 100.0).round() / 100.0),
            );
        }
        m.insert(
            "machine".into(),
            json!(((machine_busy_secs() - self.machine) / secs * 100.0).round() / 100.0),
        );
        serde_json::Value::Object(m)
    }
}

/// User + system CPU seconds of a process and its threads (clock ticks of 10 ms).
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command.
    (tick(11) + tick(12)) / 100.0
}

/// Busy CPU seconds of the whole machine (every field of `/proc/stat`'s cpu line but idle and
/// iowait).
fn machine_busy_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (v.iter().take(8).sum::<f64>() - idle) / 100.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

struct Bench {
    daemon: PathBuf,
    out: PathBuf,
    reps: usize,
}

impl Bench {
    /// Drops what earlier runs left: the `bench` databases and `bench_*` HBase tables.
    async fn clean(&self) -> Result<()> {
        let mut conn = mysql().await?;
        for db in ["bench", "bench_state_stream", "bench_state_snapshot"] {
            conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
                .await?;
        }
        tokio::task::spawn_blocking(|| -> Result<()> {
            let mut c = thrift()?;
            for t in hbase_client::table_names(&mut c)? {
                if t.starts_with("bench_") {
                    drop_table(&mut c, &t)?;
                }
            }
            Ok(())
        })
        .await?
    }

    fn config(&self, name: &str, tables: &str, mode: &str, template: &str) -> Result<PathBuf> {
        let include: Vec<String> = tables.split(',').map(|t| format!("\"{t}\"")).collect();
        let text = format!(
            r#"# Written by src/bin/bench.rs; pipeline settings are the defaults.
[mysql]
url = "{MYSQL_URL}"
server_id = {SERVER_ID}

[hbase]
thrift = "{THRIFT}"

[state]
database = "bench_state_{name}"

[capture]
include = [{}]

[snapshot]
mode = "{mode}"
locking_mode = "minimal"

[mapping]
table = "{template}"

[admin]
listen = "{ADMIN}"
"#,
            include.join(", ")
        );
        let path = self.out.join(format!("{name}.toml"));
        std::fs::write(&path, text)?;
        Ok(std::fs::canonicalize(path)?)
    }

    fn start(&self, config: &Path, name: &str) -> Result<Daemon> {
        let log = std::fs::File::create(self.out.join(format!("{name}.log")))?;
        let child = Command::new(&self.daemon)
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting the daemon")?;
        Ok(Daemon {
            child,
            started: Instant::now(),
            name: name.into(),
        })
    }
}

struct Daemon {
    child: Child,
    started: Instant,
    name: String,
}

/// A daemon left running by a failed phase would hold the admin port of the next run.
impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One sample of a daemon's progress.
struct Sample {
    t: f64,
    /// Rows behind the stored checkpoint (stream) or in written chunks (bootstrap).
    rows_done: f64,
    /// Rows routed to the writers (moves inside a transaction, unlike the checkpoint).
    routed: f64,
    rss_mb: f64,
    hwm_mb: f64,
}

impl Daemon {
    fn metrics(&self) -> Option<String> {
        let mut s = TcpStream::connect(ADMIN).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        Some(body)
    }

    /// The stored checkpoint's version, once the daemon has stored one since it started.
    fn checkpoint(&self) -> Option<i64> {
        let m = self.metrics()?;
        let get = |name: &str| -> Option<i64> {
            m.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v as i64)
        };
        let (f, p) = (
            get("mysql2hbase_checkpoint_file_index")?,
            get("mysql2hbase_checkpoint_position")?,
        );
        (f > 0).then_some((f << 32) | p)
    }

    /// Rows the router has sent to the writers (`rows_applied_total`, every table).
    fn routed_rows(&self) -> f64 {
        self.metric("mysql2hbase_rows_applied_total")
    }

    /// A metric's value, summed over its labels (0 when the daemon does not answer).
    fn metric(&self, name: &str) -> f64 {
        self.metrics()
            .map(|m| {
                m.lines()
                    .filter(|l| {
                        l.strip_prefix(name)
                            .is_some_and(|rest| rest.starts_with([' ', '{']))
                    })
                    .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
                    .sum()
            })
            .unwrap_or(0.0)
    }

    /// Rows the bootstrap jobs have written (one job in the bench).
    fn bootstrap_rows(&self) -> f64 {
        self.metric("mysql2hbase_bootstrap_rows_done")
    }

    fn memory(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = |key: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "daemon {} exited with {status}; see bench/out/{}.log",
                self.name,
                self.name
            );
        }
        Ok(())
    }

    fn health_ok(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(ADMIN) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut reply = String::new();
        s.write_all(b"GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .is_ok()
            && s.read_to_string(&mut reply).is_ok()
            && reply.split_whitespace().nth(1) == Some("200")
    }

    /// Seconds from the daemon's start until `/health` says it streams.
    fn wait_streaming(&mut self, timeout: Duration) -> Result<f64> {
        loop {
            self.alive()?;
            if self.health_ok() {
                return Ok(self.started.elapsed().as_secs_f64());
            }
            if self.started.elapsed() > timeout {
                bail!("daemon {}: not streaming within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until a checkpoint is stored (at or past `at` when given).
    fn wait_checkpoint(&mut self, at: Option<&BinlogPosition>, timeout: Duration) -> Result<()> {
        let want = at.map_or(1, version);
        let t = Instant::now();
        loop {
            self.alive()?;
            if self.checkpoint().is_some_and(|c| c >= want) {
                return Ok(());
            }
            if t.elapsed() > timeout {
                bail!("daemon {}: no checkpoint within {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Samples progress every 100 ms (the checkpoint; with `progress`, in rows) until HBase
    /// has the last 64 rows `0..last` of `table`. Each writer writes its batches in binlog
    /// order, and 64 consecutive rows cover both writers, so then every row is written; this
    /// is exact to 50 ms, unlike the checkpoint, stored once per second. Returns the seconds
    /// from the daemon's start.
    fn follow_until(
        &mut self,
        (table, last): (&str, u64),
        progress: Option<&Progress>,
        timeout: Duration,
    ) -> Result<(f64, Vec<Sample>)> {
        let mut hbase = thrift()?;
        let keys: Vec<Vec<u8>> = (last.saturating_sub(64)..last)
            .map(|i| i.to_string().into_bytes())
            .collect();
        let mut series = Vec::new();
        for tick in 0u64.. {
            std::thread::sleep(Duration::from_millis(50));
            if hbase_client::get_rows(&mut hbase, table, "d", &keys)?.len() == keys.len() {
                return Ok((self.started.elapsed().as_secs_f64(), series));
            }
            if self.started.elapsed() > timeout {
                bail!("daemon {}: not caught up within {timeout:?}", self.name);
            }
            if tick % 2 == 1 {
                continue;
            }
            self.alive()?;
            let cp = self.checkpoint();
            let (rss, hwm) = self.memory();
            let t = self.started.elapsed().as_secs_f64();
            let rows_done = match (progress, cp) {
                (Some(p), Some(cp)) => rows_at(p, cp),
                _ => 0.0,
            };
            series.push(Sample {
                t,
                rows_done,
                routed: self.routed_rows(),
                rss_mb: rss,
                hwm_mb: hwm,
            });
        }
        unreachable!("the loop returns")
    }

    /// For `initial_only`: samples until the daemon exits; returns seconds, samples, peak RSS.
    fn until_exit(
        mut self,
        timeout: Duration,
        cpu: CpuMeter,
    ) -> Result<(f64, Vec<Sample>, f64, serde_json::Value)> {
        let mut series = Vec::new();
        let mut peak = 0.0f64;
        let mut cores = serde_json::Value::Null;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("daemon {} exited with {status}", self.name);
                }
                return Ok((self.started.elapsed().as_secs_f64(), series, peak, cores));
            }
            // Read while the process exists (its CPU time goes with it).
            cores = cpu.cores();
            let (rss, hwm) = self.memory();
            peak = peak.max(hwm);
            series.push(Sample {
                t: self.started.elapsed().as_secs_f64(),
                rows_done: self.bootstrap_rows(),
                routed: 0.0,
                rss_mb: rss,
                hwm_mb: hwm,
            });
            if self.started.elapsed() > timeout {
                bail!(
                    "daemon {}: bootstrap not done within {timeout:?}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM and wait; returns the peak RSS (VmHWM) in MB read just before.
    fn stop(mut self) -> Result<(f64,)> {
        let (_, hwm) = self.memory();
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("daemon {} exited with {status}", self.name);
        }
        Ok((hwm,))
    }
}

fn write_series(path: &Path, series: &[Sample]) -> Result<()> {
    let mut f = std::fs::File::create(path)?;
    writeln!(f, "t_s,rows_done,routed,rss_mb,hwm_mb")?;
    for s in series {
        writeln!(
            f,
            "{:.3},{:.0},{:.0},{:.1},{:.1}",
            s.t, s.rows_done, s.routed, s.rss_mb, s.hwm_mb
        )?;
    }
    Ok(())
}

fn print_table(s: &serde_json::Value) {
    let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
    let ratio = |a: &str, b: f64| f(a) / b;
    let snap_bound = f("hbase_ceiling_rows_per_s").min(f("select_ceiling_rows_per_s"));
    println!("| figure | value | ceiling | ratio | goal |");
    println!("| --- | ---: | ---: | ---: | --- |");
    println!(
        "| stream (binlog -> HBase) | {:.0} rows/s | {:.0} rows/s (HBase) | {:.2} | >= 0.8 |",
        f("stream_rows_per_s"),
        f("hbase_ceiling_rows_per_s"),
        ratio("stream_rows_per_s", f("hbase_ceiling_rows_per_s"))
    );
    println!(
        "| snapshot (bootstrap) | {:.0} rows/s | {:.0} rows/s (min of HBase, SELECT {:.0}) | {:.2} | >= 0.8 |",
        f("snapshot_rows_per_s"),
        snap_bound,
        f("select_ceiling_rows_per_s"),
        ratio("snapshot_rows_per_s", snap_bound)
    );
    println!(
        "| decode + routing, no sink | {:.0} rows/s | {:.0} rows/s (raw binlog) | {:.2} | >= 0.6 |",
        f("decode_rows_per_s"),
        f("raw_binlog_rows_per_s"),
        ratio("decode_rows_per_s", f("raw_binlog_rows_per_s"))
    );
    println!(
        "| latency at 2,000 rows/s | p50 {} ms, p99 {} ms, max {} ms | | | p99 <= 1000 ms |",
        s["p50_latency_ms"], s["p99_latency_ms"], s["max_latency_ms"]
    );
    println!(
        "| peak RSS | {:.0} MB (stream {:.0}, {}-row txn {:.0}, bootstrap {:.0}) | | | <= 300 MB |",
        f("peak_rss_mb"),
        f("stream_peak_rss_mb"),
        s["rows"],
        f("bigtxn_peak_rss_mb"),
        f("snapshot_peak_rss_mb")
    );
    println!(
        "| one {}-row transaction | {:.0} rows/s (commit in MySQL {:.1} s) | | | |",
        s["rows"],
        f("bigtxn_rows_per_s"),
        f("bigtxn_commit_secs")
    );
    println!(
        "| stream's HBase batches | {:.0}, {:.0} rows each, {:.1} ms each (mean) | {BATCH_ROWS} rows | | |",
        f("stream_hbase_batches"),
        f("stream_rows_per_batch"),
        f("stream_batch_ms_mean")
    );
    println!(
        "| MySQL load (for reference) | {:.0} rows/s | | | |",
        f("load_rows_per_s")
    );
    println!(
        "| raw binlog, events only (no row parsing) | {:.0} rows/s | | | |",
        f("raw_binlog_events_only_rows_per_s")
    );
    println!();
    println!("CPU cores used per phase (2 cores in all):");
    for k in [
        "hbase_ceiling_cpu_cores",
        "stream_cpu_cores",
        "snapshot_cpu_cores",
        "decode_cpu_cores",
    ] {
        println!("  {k}: {}", s[k]);
    }
    println!(
        "load average: stream {}, snapshot {}",
        s["stream_load_avg"], s["snapshot_load_avg"]
    );
}
