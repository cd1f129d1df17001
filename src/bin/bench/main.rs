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
//!    daemon's batch size and writer count (one warm-up run first, not counted: a freshly
//!    started HBase writes the first one much slower), then the stream: the real daemon resumes
//!    at P0; the clock runs from `/health` 200 until HBase has the load's last 64 rows (see
//!    `Daemon::follow_until`); `/metrics` and `/proc` are sampled for the plot;
//! 4. latency: once the daemon has caught up and HBase is idle (`daemon::hbase_settled`: the
//!    flushes and compactions of what phase 3 wrote run on the same two cores), 20-row
//!    transactions every 10 ms; each one's last row is polled with `getRow` from the moment
//!    COMMIT returns (resolution: one `getRow`, ~1 ms);
//! 5. one `rows`-row transaction through the daemon (peak RSS);
//! 6. SELECT ceiling (bare streaming `SELECT *`), the bootstrap's read side alone (the daemon's
//!    chunk reader, rows dropped) and a bootstrap of `bench.events` by a daemon
//!    with `snapshot.mode = "initial_only"` (from `/health` 200 to its exit; peak RSS);
//! 7. a column backfill: `ALTER TABLE bench.events ADD COLUMN` while the daemon streams, from
//!    the ALTER until the backfill job is complete (one cell a row);
//! 8. Thrift servers: a second Thrift server of the same HBase on 9091 (`scripts/services.sh up
//!    thrift2`), then the HBase ceiling and the stream (from P0, into a table of their own) with
//!    two servers, with one server speaking the framed transport and compact protocol, and with
//!    one server started with `-hsha` (framed transport, binary protocol);
//! 9. wide rows: the same load streamed (from P0) as a table joined into another's rows, ten
//!    events per HBase row, against the ceiling for the same number of cells (`joined.rs`);
//! 10. a mixed workload (`mixed.rs`): 50% inserts, 40% updates, 10% deletes on a 40-column table,
//!     single-row and 100-row transactions, `sync_binlog = 1`; the stream against the HBase
//!     ceiling for the same changes, then phase 4's latency and phase 6's bootstrap with it.

mod ceilings;
mod daemon;
mod joined;
mod latency;
mod mixed;
mod table;

use table::print_table;

use ceilings::*;
use daemon::*;

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
use mysql2hbase::model::BinlogPosition;
use mysql2hbase::sink::hbase::client::{self as hbase_client, ThriftClient};

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
/// Phase 8: (name, `THRIFT2_FLAGS`, `[hbase]` section, mapping template, HBase table).
const THRIFT_VARIANTS: [(&str, &str, &str, &str, &str); 3] = [
    (
        "two_thrift",
        "",
        r#"thrift = ["127.0.0.1:9090", "127.0.0.1:9091"]"#,
        "{db}_{table}_two",
        "bench_events_two",
    ),
    (
        "framed_compact",
        "-f -c",
        "thrift = \"127.0.0.1:9091\"\nthrift_transport = \"framed\"\nthrift_protocol = \"compact\"",
        "{db}_{table}_fc",
        "bench_events_fc",
    ),
    (
        "hsha",
        "-hsha",
        "thrift = \"127.0.0.1:9091\"\nthrift_transport = \"framed\"",
        "{db}_{table}_hsha",
        "bench_events_hsha",
    ),
];
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
    /// Load, then only run the latency phase (for comparing HBase settings).
    #[arg(long)]
    only_latency: bool,
    /// The daemon binary.
    #[arg(long, default_value = "target/release/mysql2hbase")]
    daemon: PathBuf,
    /// Where configs, logs, time series and the summary go.
    #[arg(long, default_value = "bench/out")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    // As the daemon does: the decode measurement runs its router in this process.
    mysql2hbase::disable_transparent_huge_pages();
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
        let variants = THRIFT_VARIANTS.map(|v| v.4);
        for t in [
            "bench_events",
            "bench_bigtxn",
            "bench_events_snap",
            mixed::TABLE,
            mixed::SNAP_TABLE,
        ]
        .iter()
        .chain(&variants)
        {
            mysql2hbase::sink::hbase::mutations::ensure_table(&mut c, t, "d", 3)?;
        }
        joined::create_table()
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
    // The daemons of phase 8 resume at P0 too: their checkpoints are stored now (the state does
    // not depend on the Thrift settings they run with later).
    for (name, _, _, template, _) in THRIFT_VARIANTS {
        let cfg = b.config(name, "bench.events", "never", template)?;
        let mut d = b.start(&cfg, &format!("{name}0"))?;
        d.wait_checkpoint(None, Duration::from_secs(60))?;
        d.stop()?;
    }
    let mut d = b.start(&joined::config(&b)?, "joined0")?;
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
    if args.only_latency {
        // The daemon catches up the whole load first, hence the longer wait.
        let (settle, (p50, p99, max), _) =
            latency_phase(&b, &stream_cfg, &p1, &mut conn, rows, latency_secs, 600).await?;
        eprintln!(
            "HBase settled after {settle} s; latency p50 {p50} ms, p99 {p99} ms, max {max} ms"
        );
        return b.clean().await;
    }

    // 2. Raw binlog and decode, alternating so both see the same machine load; medians.
    let decode_cfg = Config::load(&stream_cfg)?;
    let cpu = CpuMeter::start(None);
    let (mut raws, mut raws_events, mut decodes) = (Vec::new(), Vec::new(), Vec::new());
    let mut decode_cpu_us = Vec::new();
    for _ in 0..b.reps {
        let (n, secs, events_secs) = raw_binlog(&p0, &p1).await?;
        check_rows("raw binlog", n, rows)?;
        raws.push(n as f64 / secs);
        raws_events.push(n as f64 / events_secs);
        let (t, cpu_before) = (Instant::now(), cpu_secs(std::process::id()));
        let n = mysql2hbase::core::router::bench::route_without_sink(&decode_cfg, &p0, &p1).await?;
        check_rows("decode", n, rows)?;
        decodes.push(n as f64 / t.elapsed().as_secs_f64());
        decode_cpu_us.push((cpu_secs(std::process::id()) - cpu_before) / n as f64 * 1e6);
    }
    let ratios: Vec<f64> = decodes.iter().zip(&raws).map(|(d, r)| d / r).collect();
    let raw = (median_of(raws.clone()), median_of(raws_events));
    let decode = (median_of(decodes.clone()),);
    s.insert("decode_cpu_cores".into(), cpu.cores());
    if args.only_decode {
        eprintln!(
            "decode: {decodes:.0?} rows/s; raw binlog {raws:.0?} rows/s; ratios {ratios:.2?}; \
             events only {:.0} rows/s (median); decode CPU {decode_cpu_us:.2?} us/row",
            raw.1
        );
        return b.clean().await;
    }
    s.insert("raw_binlog_rows_per_s".into(), json!(raw.0.round()));
    s.insert(
        "raw_binlog_events_only_rows_per_s".into(),
        json!(raw.1.round()),
    );
    s.insert("decode_rows_per_s".into(), json!(decode.0.round()));
    s.insert("events_only_rows_per_s".into(), json!(raw.1.round()));
    s.insert(
        "decode_to_events_only_ratio".into(),
        json!((decode.0 / raw.1 * 100.0).round() / 100.0),
    );
    // Tailer + decoder + router, in this process (CPU clock ticks of 10 ms).
    s.insert(
        "cpu_us_per_row_decode".into(),
        json!((median_of(decode_cpu_us) * 100.0).round() / 100.0),
    );
    s.insert(
        "decode_to_raw_ratio_median".into(),
        json!((median_of(ratios) * 100.0).round() / 100.0),
    );

    // 3. HBase ceiling and the stream (ceiling measured before and after; median of all but
    // the warm-up run).
    s.insert(
        "hbase_ceiling_warmup_rows_per_s".into(),
        json!(hbase_ceiling(rows, "bench_ceiling").await?.round()),
    );
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
    // The daemon's CPU from its start until caught up, per streamed row.
    s.insert(
        "cpu_us_per_row_stream".into(),
        json!((cpu.secs("daemon") / rows as f64 * 1e8).round() / 100.0),
    );
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
    // How far versions ran ahead of the clock while the daemon wrote as fast as it can.
    let lead = series.iter().map(|x| x.lead_ms).fold(f64::MIN, f64::max);
    s.insert("stream_max_version_lead_ms".into(), json!(lead));
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

    // 4. Latency at a steady rate, once HBase is done with what the phases before wrote.
    let (settle, lat, latency_rss) =
        latency_phase(&b, &stream_cfg, &p1, &mut conn, rows, latency_secs, 60).await?;
    s.insert("latency_hbase_settle_secs".into(), json!(settle));
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
        Some(&vec![(ordinal(&before), 0), (ordinal(&p2), rows)]),
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
    let read_cfg = Config::load(&snap_cfg)?;
    let snapshot_read = median(b.reps, || async {
        let (n, secs) = snapshot_read(&read_cfg).await?;
        check_rows("snapshot read", n, table_rows)?;
        Ok((n as f64 / secs, 0.0))
    })
    .await?;
    s.insert(
        "snapshot_read_rows_per_s".into(),
        json!(snapshot_read.0.round()),
    );
    let uptime_snap = load_average();
    let snap = b.bootstrap(&snap_cfg, "snapshot", table_rows)?;
    let snap_rss = snap.peak_rss_mb;
    s.insert("cpu_us_per_row_snapshot".into(), json!(snap.cpu_us_per_row));
    s.insert("snapshot_cpu_cores".into(), snap.cores);
    write_series(&b.out.join("snapshot.csv"), &snap.series)?;
    s.insert("snapshot_rows_per_s".into(), json!(snap.rows_per_s));
    s.insert("select_ceiling_rows_per_s".into(), json!(select.0.round()));
    s.insert("snapshot_load_avg".into(), json!(uptime_snap));
    s.insert("snapshot_peak_rss_mb".into(), json!(snap_rss));
    s.insert(
        "peak_rss_mb".into(),
        json!(big_rss.0.max(snap_rss).max(stream_rss.0)),
    );
    // 7. A column backfill: ADD COLUMN on bench.events, then one cell per row. The clock
    // runs from the ALTER until the backfill job is complete. The daemon of the bootstrap
    // above, streaming on: a backfill needs a table some job copied whole (else the ALTER
    // takes the whole-table resync).
    let backfill_cfg = b.config(
        "snapshot",
        "bench.events",
        "when_needed",
        "{db}_{table}_snap",
    )?;
    let mut d = b.start(&backfill_cfg, "backfill")?;
    d.wait_streaming(Duration::from_secs(60))?;
    // A change first, so the daemon knows the table's schema before the DDL.
    conn.query_drop("UPDATE bench.events SET qty = qty + 1 WHERE id = 1")
        .await?;
    let p3 = position(&mut conn).await?;
    d.wait_checkpoint(Some(&p3), Duration::from_secs(60))?;
    let cpu = CpuMeter::start(Some(d.child.id()));
    let t = Instant::now();
    conn.query_drop("ALTER TABLE bench.events ADD COLUMN backfilled INT NOT NULL DEFAULT 7")
        .await?;
    loop {
        let status: Option<String> = conn
            .query_first(
                "SELECT status FROM bench_state_snapshot.bootstrap_jobs \
                 WHERE put_columns IS NOT NULL ORDER BY id DESC LIMIT 1",
            )
            .await?;
        match status.as_deref() {
            Some("complete") => break,
            Some("failed") => bail!("the backfill failed: see {}", b.out.display()),
            // No backfill job: the ALTER took another path (see the daemon's log).
            _ if t.elapsed() > Duration::from_secs(600) => {
                bail!(
                    "no backfill completed within 10 minutes: see {}",
                    b.out.display()
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let backfill_secs = t.elapsed().as_secs_f64();
    s.insert("backfill_cpu_cores".into(), cpu.cores());
    d.stop()?;
    conn.query_drop("ALTER TABLE bench.events DROP COLUMN backfilled")
        .await?;
    s.insert(
        "backfill_rows_per_s".into(),
        json!((table_rows as f64 / backfill_secs).round()),
    );

    // 8. Thrift servers: the ceiling and the stream (the daemon from P0 again, into a table of
    // its own) with two Thrift servers of the same HBase, with one server speaking the framed
    // transport and the compact protocol, and with one in `-hsha` mode (framed, binary); beside
    // phase 3's default (one server, buffered binary).
    for (name, flags, hbase, template, table) in THRIFT_VARIANTS {
        thrift2(Some(flags))?;
        let cfg =
            Config::load(&b.config_on(name, name, "bench.events", "never", template, hbase)?)?;
        let servers = mysql2hbase::sink::hbase::client::ThriftEndpoint::all(&cfg.hbase);
        let mut ceilings = Vec::new();
        for _ in 0..b.reps {
            ceilings.push(hbase_ceiling_on(rows, "bench_ceiling", servers.clone()).await?);
        }
        let file = b.config_on(
            name,
            &format!("{name}-run"),
            "bench.events",
            "never",
            template,
            hbase,
        )?;
        let mut d = b.start(&file, name)?;
        let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
        let (caught_up_at, _) =
            d.follow_until((table, rows), Some(&progress), Duration::from_secs(3600))?;
        d.stop()?;
        s.insert(
            format!("{name}_hbase_ceiling_rows_per_s"),
            json!(median_of(ceilings).round()),
        );
        s.insert(
            format!("{name}_stream_rows_per_s"),
            json!((rows as f64 / (caught_up_at - streaming_at)).round()),
        );
    }
    thrift2(None)?;

    // 9. Wide rows: the load as a joined table, against phase 3's ceiling (same cells).
    let joined_secs = joined::stream(&b, rows)?;
    let joined_rate = rows as f64 / joined_secs;
    let default = hbase_client::ThriftEndpoint::buffered_binary(THRIFT, Duration::from_secs(60));
    let mut joined_ceilings = Vec::new();
    for _ in 0..b.reps {
        joined_ceilings.push(
            hbase_ceiling_of(
                rows,
                "bench_joined_ceiling",
                vec![default.clone()],
                joined::batch_mutation,
                &["d", "items"],
            )
            .await?,
        );
    }
    let joined_ceiling = median_of(joined_ceilings);
    s.insert(
        "joined_stream_rows_per_s".into(),
        json!(joined_rate.round()),
    );
    s.insert(
        "joined_stream_to_ceiling_ratio".into(),
        json!((joined_rate / ceiling * 100.0).round() / 100.0),
    );
    s.insert(
        "joined_hbase_ceiling_rows_per_s".into(),
        json!(joined_ceiling.round()),
    );
    s.insert(
        "joined_stream_to_joined_ceiling_ratio".into(),
        json!((joined_rate / joined_ceiling * 100.0).round() / 100.0),
    );

    // 10. The mixed workload: stream, ceiling, latency, bootstrap.
    mixed::phase(&b, &mut conn, rows, latency_secs, &mut s).await?;

    s.insert("rows".into(), json!(rows));
    s.insert("quick".into(), json!(args.quick));

    b.clean().await?;
    let summary = serde_json::Value::Object(s);
    std::fs::write(b.out.join("summary.json"), summary.to_string() + "\n")?;
    print_table(&summary);
    Ok(())
}

/// Phase 4: a daemon caught up to `p1` (waiting at most `catch_up_secs`), HBase idle, then
/// `latency` for `secs`. Returns the seconds HBase took to settle, p50 / p99 / max in ms and the
/// daemon's peak RSS.
async fn latency_phase(
    b: &Bench,
    cfg: &Path,
    p1: &BinlogPosition,
    conn: &mut Conn,
    first_row: u64,
    secs: u64,
    catch_up_secs: u64,
) -> Result<(f64, (f64, f64, f64), (f64,))> {
    let mut d = b.start(cfg, "latency")?;
    d.wait_checkpoint(Some(p1), Duration::from_secs(catch_up_secs))?;
    let settle = hbase_settled(Duration::from_secs(120)).await;
    let csv = b.out.join("latency.csv");
    let lat = latency(conn, first_row, 2000, secs, &csv).await?;
    Ok((settle, lat, d.stop()?))
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
    let mut progress = vec![(ordinal(&position(conn).await?), 0)];
    while i < end {
        progress.push((ordinal(&position(conn).await?), i - from));
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
    progress.push((ordinal(&position(conn).await?), n));
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
    Ok(BinlogPosition::new(row.0, row.1)?)
}

/// A position as one ordered number (file index, offset), for progress series.
fn ordinal(p: &BinlogPosition) -> i64 {
    ((p.index() as i64) << 32) | p.offset() as i64
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
