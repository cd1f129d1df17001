//! Phase 10: a mixed workload, closer to production than the insert-only load: on a 40-column
//! table, 50% inserts, 40% updates (every column), 10% deletes, half of the changes in
//! single-row transactions and half in 100-row transactions, with `sync_binlog = 1` (each
//! commit flushed to disk, as production servers run). The daemon streams it from a
//! checkpoint taken before it; the HBase ceiling writes the same changes (40-cell puts, row
//! deletes; not collapsed, so it has at least the daemon's work) with the daemon's batch size
//! and writer count. Then the insert-only load's other figures for this workload: phase 4's
//! commit-to-visible latency at 2,000 changes/s (`latency.rs`), and phase 6's bootstrap of the
//! table as the changes left it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use hbase_thrift::hbase::{BatchMutation, Mutation, THbaseSyncClient};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde_json::json;

use crate::ceilings::{drop_table, thrift};
use crate::daemon::{write_series, Bench, CpuMeter};
use crate::latency::{self, Probe};
use crate::{median_of, BATCH_ROWS, WRITERS};

pub(crate) const TABLE: &str = "bench_mixed";
/// The bootstrap's HBase table (mapping `{db}_{table}_snap`).
pub(crate) const SNAP_TABLE: &str = "bench_mixed_snap";
/// Columns after `id`.
const COLUMNS: u64 = 39;
/// Keys of the 64 rows inserted after the workload: the daemon has caught up when HBase has
/// them (`Daemon::follow_until`).
const SENTINEL: u64 = 1_000_000_000;

/// One change of the workload.
#[derive(Clone, Copy)]
enum Change {
    Insert { id: u64, seed: u64 },
    Update { id: u64, seed: u64 },
    Delete { id: u64 },
}

pub(crate) fn create_sql() -> String {
    let columns: Vec<String> = (1..=COLUMNS)
        .map(|k| {
            let ty = match k % 4 {
                0 => "INT NOT NULL",
                1 => "VARCHAR(32) NOT NULL",
                2 => "DECIMAL(12,2) NOT NULL",
                _ => "DATETIME NOT NULL",
            };
            format!("c{k} {ty}")
        })
        .collect();
    format!(
        "CREATE TABLE bench.mixed (id BIGINT NOT NULL PRIMARY KEY, {})",
        columns.join(", ")
    )
}

/// Column `k`'s value for `seed`, as MySQL's text protocol renders it.
fn value(k: u64, seed: u64) -> String {
    match k % 4 {
        0 => ((seed * 31 + k) % 1_000_000).to_string(),
        1 => format!("v{seed}-{k}"),
        2 => format!("{}.{:02}", seed % 100_000, (seed + k) % 100),
        _ => format!(
            "2024-03-{:02} {:02}:{:02}:{:02}",
            1 + seed % 28,
            seed % 24,
            k % 60,
            (seed + k) % 60
        ),
    }
}

fn literal(k: u64, seed: u64) -> String {
    match k % 4 {
        0 | 2 => value(k, seed),
        _ => format!("'{}'", value(k, seed)),
    }
}

fn row_sql(id: u64, seed: u64) -> String {
    let values: Vec<String> = (1..=COLUMNS).map(|k| literal(k, seed)).collect();
    format!("({id},{})", values.join(","))
}

fn statement(c: Change) -> String {
    match c {
        Change::Insert { id, seed } => {
            format!("INSERT INTO bench.mixed VALUES {}", row_sql(id, seed))
        }
        Change::Update { id, seed } => {
            let set: Vec<String> = (1..=COLUMNS)
                .map(|k| format!("c{k}={}", literal(k, seed)))
                .collect();
            format!("UPDATE bench.mixed SET {} WHERE id={id}", set.join(","))
        }
        Change::Delete { id } => format!("DELETE FROM bench.mixed WHERE id={id}"),
    }
}

/// The workload's random stream: changes over the live rows (`0..prefill` and the ones
/// inserted since), from a fixed seed; each change's values from a seed of its own, never reused.
#[derive(Clone)]
struct Generator {
    state: u64,
    live: Vec<u64>,
    next_id: u64,
    seed: u64,
}

impl Generator {
    fn new(prefill: u64) -> Generator {
        Generator {
            state: 0x9E37_79B9_7F4A_7C15,
            live: (0..prefill).collect(),
            next_id: prefill,
            seed: 1_000,
        }
    }

    fn random(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    /// 50% inserts, 40% updates, 10% deletes.
    fn change(&mut self) -> Change {
        let roll = self.random() % 100;
        let seed = self.seed;
        self.seed += 1;
        if roll < 50 || self.live.is_empty() {
            self.live.push(self.next_id);
            self.next_id += 1;
            Change::Insert {
                id: self.next_id - 1,
                seed,
            }
        } else if roll < 90 {
            let at = (self.random() % self.live.len() as u64) as usize;
            Change::Update {
                id: self.live[at],
                seed,
            }
        } else {
            let at = (self.random() % self.live.len() as u64) as usize;
            Change::Delete {
                id: self.live.swap_remove(at),
            }
        }
    }

    /// `n` changes for one transaction, and what it makes visible: the row of its last insert
    /// or update that the transaction does not delete after, with that change's seed. That
    /// row leaves the workload (no later change touches it), so its cell `c1` holding the
    /// seed's value in HBase means this transaction's change arrived.
    fn transaction(&mut self, n: usize) -> (Vec<Change>, Option<(u64, u64)>) {
        let changes: Vec<Change> = (0..n).map(|_| self.change()).collect();
        let mut deleted = Vec::new();
        let probe = changes.iter().rev().find_map(|c| match *c {
            Change::Delete { id } => {
                deleted.push(id);
                None
            }
            Change::Insert { id, seed } | Change::Update { id, seed } => {
                (!deleted.contains(&id)).then_some((id, seed))
            }
        });
        if let Some((id, _)) = probe {
            self.live.retain(|&x| x != id);
        }
        (changes, probe)
    }
}

/// The workload's changes, its rows before it, and the generator where the workload left it
/// (for the latency phase's changes, which follow on the rows the workload leaves).
pub(crate) struct Mixed {
    changes: Vec<Change>,
    prefill: u64,
    after: Generator,
}

impl Mixed {
    pub(crate) fn new(changes: u64) -> Mixed {
        let prefill = (changes / 4).max(100);
        let mut after = Generator::new(prefill);
        Mixed {
            changes: (0..changes).map(|_| after.change()).collect(),
            prefill,
            after,
        }
    }

    /// The rows the workload starts from (before the daemon's checkpoint).
    pub(crate) async fn prefill(&self, conn: &mut Conn) -> Result<()> {
        conn.query_drop(create_sql()).await?;
        for from in (0..self.prefill).step_by(500) {
            let rows: Vec<String> = (from..(from + 500).min(self.prefill))
                .map(|id| row_sql(id, id))
                .collect();
            conn.query_drop(format!("INSERT INTO bench.mixed VALUES {}", rows.join(",")))
                .await?;
        }
        Ok(())
    }

    /// Runs the workload with `sync_binlog = 1`, then the sentinel rows; returns changes per
    /// second of the load itself.
    pub(crate) async fn load(&self, conn: &mut Conn) -> Result<f64> {
        let before = set_sync_binlog(conn, "1").await?;
        let t = Instant::now();
        let result = self.run(conn).await;
        let secs = t.elapsed().as_secs_f64();
        set_sync_binlog(conn, &before).await?;
        result?;
        let sentinel: Vec<String> = (SENTINEL - 64..SENTINEL)
            .map(|id| row_sql(id, id))
            .collect();
        conn.query_drop(format!(
            "INSERT INTO bench.mixed VALUES {}",
            sentinel.join(",")
        ))
        .await?;
        Ok(self.changes.len() as f64 / secs)
    }

    /// Alternately 100 single-row transactions and one of 100 rows.
    async fn run(&self, conn: &mut Conn) -> Result<()> {
        for (block, changes) in self.changes.chunks(100).enumerate() {
            if block % 2 == 0 {
                for c in changes {
                    conn.query_drop(statement(*c)).await?;
                }
            } else {
                let body: Vec<String> = changes.iter().map(|c| statement(*c)).collect();
                conn.query_drop(format!("BEGIN;{};COMMIT", body.join(";")))
                    .await?;
            }
        }
        Ok(())
    }

    /// The daemon from its checkpoint before the workload until HBase has the sentinel rows:
    /// (changes per second from `/health` 200, daemon CPU microseconds per change, peak RSS).
    fn stream(&self, b: &Bench) -> Result<(f64, f64, f64)> {
        let mut d = b.start(&config(b)?, "mixed")?;
        let cpu = CpuMeter::start(Some(d.child.id()));
        let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
        let (caught_up_at, _) =
            d.follow_until((TABLE, SENTINEL), None, Duration::from_secs(3600))?;
        let cpu_us = cpu.secs("daemon") / self.changes.len() as f64 * 1e6;
        let (rss,) = d.stop()?;
        Ok((
            self.changes.len() as f64 / (caught_up_at - streaming_at),
            cpu_us,
            rss,
        ))
    }

    /// Phase 4 on this workload: transactions of 20 changes every 10 ms (2,000 changes/s) for
    /// `secs` seconds, going on from where the workload left the rows, with `sync_binlog = 1`,
    /// while the daemon streams from its checkpoint; each transaction's probe row (see
    /// `Generator::transaction`) polled from the moment COMMIT returns. Returns p50, p99, max
    /// in ms, the seconds HBase took to settle first (`daemon::hbase_settled`) and the daemon's
    /// peak RSS.
    async fn latency(&self, b: &Bench, conn: &mut Conn, secs: u64) -> Result<([f64; 3], f64, f64)> {
        let mut d = b.start(&config(b)?, "mixed_latency")?;
        let now = crate::position(conn).await?;
        d.wait_checkpoint(Some(&now), Duration::from_secs(60))?;
        let settle = crate::daemon::hbase_settled(Duration::from_secs(120)).await;
        let mut changes = self.after.clone();
        let next = move || {
            let (txn, probe) = changes.transaction(20);
            let sql: Vec<String> = txn.into_iter().map(statement).collect();
            let probe = probe.map(|(id, seed)| Probe {
                key: id.to_string().into_bytes(),
                column: b"d:c1".to_vec(),
                value: value(1, seed).into_bytes(),
            });
            (sql.join(";"), probe)
        };
        let before = set_sync_binlog(conn, "1").await?;
        let csv = b.out.join("mixed_latency.csv");
        let result = latency::steady(conn, TABLE, secs * 100, next, &csv).await;
        set_sync_binlog(conn, &before).await?;
        let percentiles = result?;
        let (rss,) = d.stop()?;
        Ok((percentiles, settle, rss))
    }

    /// The HBase ceiling for the same changes, in changes per second.
    pub(crate) fn ceiling(&self) -> Result<f64> {
        let mut c = thrift()?;
        let table = "bench_mixed_ceiling";
        drop_table(&mut c, table)?;
        mysql2hbase::sink::hbase::mutations::ensure_table(&mut c, table, "d", 3)?;
        // Each writer takes the rows the daemon's would (by key), in workload order.
        let mut parts: HashMap<usize, Vec<Change>> = HashMap::new();
        for ch in &self.changes {
            let id = match ch {
                Change::Insert { id, .. } | Change::Update { id, .. } | Change::Delete { id } => id,
            };
            let w =
                (mysql2hbase::model::naming::fnv1a(id.to_string().as_bytes()) as usize) % WRITERS;
            parts.entry(w).or_default().push(*ch);
        }
        let t = Instant::now();
        let handles: Vec<_> = parts
            .into_values()
            .map(|changes| {
                std::thread::spawn(move || -> Result<()> {
                    let mut c = thrift()?;
                    let mut version = 1i64;
                    for batch in changes.chunks(BATCH_ROWS) {
                        version += 1;
                        let rows = batch.iter().map(|ch| mutation(*ch)).collect();
                        c.mutate_rows_ts(
                            table.as_bytes().to_vec(),
                            rows,
                            version,
                            Default::default(),
                        )
                        .map_err(|e| anyhow::anyhow!("mutateRowsTs: {e}"))?;
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("ceiling writer")?;
        }
        let secs = t.elapsed().as_secs_f64();
        drop_table(&mut c, table)?;
        Ok(self.changes.len() as f64 / secs)
    }
}

/// The daemon streaming `bench.mixed` into `bench_mixed` (state `bench_state_mixed`).
fn config(b: &Bench) -> Result<PathBuf> {
    b.config("mixed", "bench.mixed", "never", "{db}_{table}")
}

/// Sets the server's `sync_binlog`; returns what it was.
async fn set_sync_binlog(conn: &mut Conn, value: &str) -> Result<String> {
    let before: Option<String> = conn.query_first("SELECT @@GLOBAL.sync_binlog").await?;
    conn.query_drop(format!("SET GLOBAL sync_binlog = {value}"))
        .await?;
    Ok(before.unwrap_or_else(|| "0".into()))
}

/// Phase 10, its figures into `s`: the workload (a tenth of `rows` changes) loaded while the
/// daemon is stopped, streamed, and written by the ceiling loop; then phase 4's latency run
/// with these changes for `latency_secs`, and phase 6's bootstrap of the table as they left it.
pub(crate) async fn phase(
    b: &Bench,
    conn: &mut Conn,
    rows: u64,
    latency_secs: u64,
    s: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<()> {
    let mixed = Mixed::new(rows / 10);
    mixed.prefill(conn).await?;
    let mut d = b.start(&config(b)?, "mixed0")?;
    d.wait_checkpoint(None, Duration::from_secs(60))?;
    d.stop()?;
    let load = mixed.load(conn).await?;
    let (stream, cpu_us, stream_rss) = mixed.stream(b)?;
    let mut ceilings = Vec::new();
    for _ in 0..b.reps {
        ceilings.push(mixed.ceiling()?);
    }
    let ceiling = median_of(ceilings);
    let ([p50, p99, max], settle, latency_rss) = mixed.latency(b, conn, latency_secs).await?;
    s.insert("mixed_latency_hbase_settle_secs".into(), json!(settle));
    let table_rows: u64 = conn
        .query_first("SELECT COUNT(*) FROM bench.mixed")
        .await?
        .unwrap_or(0);
    let snap_cfg = b.config(
        "mixed_snapshot",
        "bench.mixed",
        "initial_only",
        "{db}_{table}_snap",
    )?;
    let snap = b.bootstrap(&snap_cfg, "mixed_snapshot", table_rows)?;
    write_series(&b.out.join("mixed_snapshot.csv"), &snap.series)?;
    for (key, value) in [
        ("mixed_changes", json!(mixed.changes.len())),
        ("mixed_load_changes_per_s", json!(load.round())),
        ("mixed_stream_changes_per_s", json!(stream.round())),
        ("mixed_hbase_ceiling_changes_per_s", json!(ceiling.round())),
        (
            "mixed_stream_to_ceiling_ratio",
            json!((stream / ceiling * 100.0).round() / 100.0),
        ),
        (
            "cpu_us_per_change_mixed",
            json!((cpu_us * 100.0).round() / 100.0),
        ),
        ("mixed_p50_latency_ms", json!(p50)),
        ("mixed_p99_latency_ms", json!(p99)),
        ("mixed_max_latency_ms", json!(max)),
        ("mixed_snapshot_rows", json!(table_rows)),
        ("mixed_snapshot_rows_per_s", json!(snap.rows_per_s)),
        ("cpu_us_per_row_snapshot_mixed", json!(snap.cpu_us_per_row)),
        ("mixed_snapshot_cpu_cores", snap.cores),
        (
            "mixed_peak_rss_mb",
            json!(stream_rss.max(latency_rss).max(snap.peak_rss_mb)),
        ),
    ] {
        s.insert(key.into(), value);
    }
    Ok(())
}

fn mutation(c: Change) -> BatchMutation {
    let cell = |column: Vec<u8>, value: Option<String>| Mutation {
        is_delete: Some(value.is_none()),
        column: Some(column),
        value: value.map(String::into_bytes),
        write_to_w_a_l: Some(true),
    };
    let (id, mutations) = match c {
        Change::Insert { id, seed } | Change::Update { id, seed } => {
            let mut cells = vec![cell(b"d:id".to_vec(), Some(id.to_string()))];
            cells.extend(
                (1..=COLUMNS).map(|k| cell(format!("d:c{k}").into_bytes(), Some(value(k, seed)))),
            );
            (id, cells)
        }
        Change::Delete { id } => (id, vec![cell(b"d".to_vec(), None)]),
    };
    BatchMutation {
        row: Some(id.to_string().into_bytes()),
        mutations: Some(mutations),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workload_has_the_promised_mix() {
        let mut g = Generator::new(1000);
        let w: Vec<Change> = (0..10_000).map(|_| g.change()).collect();
        let count = |f: fn(&Change) -> bool| w.iter().filter(|c| f(c)).count() as f64 / 100.0;
        let inserts = count(|c| matches!(c, Change::Insert { .. }));
        let updates = count(|c| matches!(c, Change::Update { .. }));
        let deletes = count(|c| matches!(c, Change::Delete { .. }));
        assert!((inserts - 50.0).abs() < 2.0, "{inserts}% inserts");
        assert!((updates - 40.0).abs() < 2.0, "{updates}% updates");
        assert!((deletes - 10.0).abs() < 2.0, "{deletes}% deletes");
    }
}
