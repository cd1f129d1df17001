//! The bench's closing table: every figure beside its ceiling, the ratio and the goal, printed
//! from the JSON summary (`scripts/bench.sh` keeps it as `table.md`).

use crate::BATCH_ROWS;

pub(crate) fn print_table(s: &serde_json::Value) {
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
        "| column backfill (ADD COLUMN, one cell a row) | {:.0} rows/s | {:.0} rows/s (HBase) | {:.2} | >= 0.8 |",
        f("backfill_rows_per_s"),
        f("hbase_ceiling_rows_per_s"),
        ratio("backfill_rows_per_s", f("hbase_ceiling_rows_per_s"))
    );
    println!(
        "| decode + routing, no sink | {:.0} rows/s | {:.0} rows/s (raw binlog) | {:.2} | >= 0.6 |",
        f("decode_rows_per_s"),
        f("raw_binlog_rows_per_s"),
        ratio("decode_rows_per_s", f("raw_binlog_rows_per_s"))
    );
    for (name, what) in [
        ("two_thrift", "two Thrift servers"),
        ("framed_compact", "one Thrift server, framed + compact"),
        ("hsha", "one Thrift server, -hsha (framed + binary)"),
    ] {
        let stream = format!("{name}_stream_rows_per_s");
        let ceiling = f(&format!("{name}_hbase_ceiling_rows_per_s"));
        println!(
            "| stream, {what} | {:.0} rows/s | {ceiling:.0} rows/s (HBase, {what}) | {:.2} | >= 0.8 |",
            f(&stream),
            ratio(&stream, ceiling)
        );
    }
    println!(
        "| stream of a joined table (wide rows, 11 cells a row, ~10 rows an HBase row) | {:.0} rows/s | {:.0} rows/s (HBase, same cells) | {:.2} | >= 0.8 |",
        f("joined_stream_rows_per_s"),
        f("hbase_ceiling_rows_per_s"),
        ratio("joined_stream_rows_per_s", f("hbase_ceiling_rows_per_s"))
    );
    println!(
        "| stream of a joined table, against the ceiling writing the same cells | {:.0} rows/s | {:.0} rows/s (HBase, the joined cells) | {:.2} | >= 0.8 |",
        f("joined_stream_rows_per_s"),
        f("joined_hbase_ceiling_rows_per_s"),
        ratio("joined_stream_rows_per_s", f("joined_hbase_ceiling_rows_per_s"))
    );
    println!(
        "| stream, mixed workload (50/40/10 insert/update/delete, 40 columns, sync_binlog = 1) | {:.0} changes/s | {:.0} changes/s (HBase, same changes) | {:.2} | >= 0.8 |",
        f("mixed_stream_changes_per_s"),
        f("mixed_hbase_ceiling_changes_per_s"),
        ratio("mixed_stream_changes_per_s", f("mixed_hbase_ceiling_changes_per_s"))
    );
    println!(
        "| bootstrap, mixed workload's table ({} rows, 40 columns) | {:.0} rows/s | {:.0} changes/s (HBase, the mixed changes) | {:.2} | >= 0.8 |",
        s["mixed_snapshot_rows"],
        f("mixed_snapshot_rows_per_s"),
        f("mixed_hbase_ceiling_changes_per_s"),
        ratio("mixed_snapshot_rows_per_s", f("mixed_hbase_ceiling_changes_per_s"))
    );
    println!(
        "| bootstrap's read side alone (chunk reader, rows dropped) | {:.0} rows/s | {:.0} rows/s (SELECT) | {:.2} | >= 0.8 |",
        f("snapshot_read_rows_per_s"),
        f("select_ceiling_rows_per_s"),
        ratio("snapshot_read_rows_per_s", f("select_ceiling_rows_per_s"))
    );
    println!(
        "| decode + routing, against the events-only read | {:.0} rows/s | {:.0} rows/s (events only) | {:.2} | >= 0.5 |",
        f("decode_rows_per_s"),
        f("events_only_rows_per_s"),
        ratio("decode_rows_per_s", f("events_only_rows_per_s"))
    );
    println!(
        "| latency at 2,000 rows/s | p50 {} ms, p99 {} ms, max {} ms | | | p99 <= 15 ms |",
        s["p50_latency_ms"], s["p99_latency_ms"], s["max_latency_ms"]
    );
    println!(
        "| latency at 2,000 changes/s, mixed workload | p50 {} ms, p99 {} ms, max {} ms | | | p99 <= 15 ms |",
        s["mixed_p50_latency_ms"], s["mixed_p99_latency_ms"], s["mixed_max_latency_ms"]
    );
    println!(
        "| daemon CPU per row | stream {} us, bootstrap {} us, decode {} us | | | stream <= 2 us |",
        s["cpu_us_per_row_stream"], s["cpu_us_per_row_snapshot"], s["cpu_us_per_row_decode"]
    );
    println!(
        "| daemon CPU, mixed workload | stream {} us a change, bootstrap {} us a row | | | |",
        s["cpu_us_per_change_mixed"], s["cpu_us_per_row_snapshot_mixed"]
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
        "| peak RSS, mixed workload (stream, latency, bootstrap) | {:.0} MB | | | <= 300 MB |",
        f("mixed_peak_rss_mb")
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
        "| HBase ceiling: warm-up run (not in the median) and the runs | {:.0} rows/s; {} | | | |",
        f("hbase_ceiling_warmup_rows_per_s"),
        s["hbase_ceiling_runs"]
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
        "backfill_cpu_cores",
        "decode_cpu_cores",
        "mixed_snapshot_cpu_cores",
    ] {
        println!("  {k}: {}", s[k]);
    }
    println!(
        "load average: stream {}, snapshot {}",
        s["stream_load_avg"], s["snapshot_load_avg"]
    );
}
