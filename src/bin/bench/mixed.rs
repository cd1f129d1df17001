//! Phase 10: a mixed workload, closer to production than the insert-only load: on a 40-column
//! table, 50% inserts, 40% updates (every column), 10% deletes, half of the changes in
//! single-row transactions and half in 100-row transactions, with `sync_binlog = 1` (each
//! commit flushed to disk, as production servers run). The daemon streams it from a
//! checkpoint taken before it; the HBase ceiling writes the same changes (40-cell puts, row
//! deletes; not collapsed, so it has at least the daemon's work) with the daemon's batch size
//! and writer count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use hbase_thrift::hbase::{BatchMutation, Mutation, THbaseSyncClient};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::ceilings::{drop_table, thrift};
use crate::daemon::{Bench, CpuMeter};
use crate::{BATCH_ROWS, WRITERS};

pub(crate) const TABLE: &str = "bench_mixed";
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

/// `n` changes over the rows `0..prefill` and the ones inserted since, from a fixed seed.
fn workload(prefill: u64, n: u64) -> Vec<Change> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut live: Vec<u64> = (0..prefill).collect();
    let mut next_id = prefill;
    (0..n)
        .map(|i| {
            let roll = next() % 100;
            let seed = i + 1_000;
            if roll < 50 || live.is_empty() {
                live.push(next_id);
                next_id += 1;
                Change::Insert {
                    id: next_id - 1,
                    seed,
                }
            } else if roll < 90 {
                let id = live[(next() % live.len() as u64) as usize];
                Change::Update { id, seed }
            } else {
                let at = (next() % live.len() as u64) as usize;
                Change::Delete {
                    id: live.swap_remove(at),
                }
            }
        })
        .collect()
}

/// The workload's changes, its rows before it, and the sentinel's key.
pub(crate) struct Mixed {
    changes: Vec<Change>,
    prefill: u64,
}

impl Mixed {
    pub(crate) fn new(changes: u64) -> Mixed {
        let prefill = (changes / 4).max(100);
        Mixed {
            changes: workload(prefill, changes),
            prefill,
        }
    }

    pub(crate) fn changes(&self) -> u64 {
        self.changes.len() as u64
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
        let before: Option<String> = conn.query_first("SELECT @@GLOBAL.sync_binlog").await?;
        conn.query_drop("SET GLOBAL sync_binlog = 1").await?;
        let t = Instant::now();
        let result = self.run(conn).await;
        let secs = t.elapsed().as_secs_f64();
        conn.query_drop(format!(
            "SET GLOBAL sync_binlog = {}",
            before.unwrap_or_else(|| "0".into())
        ))
        .await?;
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
    /// (changes per second from `/health` 200, daemon CPU microseconds per change).
    pub(crate) fn stream(&self, b: &Bench) -> Result<(f64, f64)> {
        let cfg = b.config("mixed", "bench.mixed", "never", "{db}_{table}")?;
        let mut d = b.start(&cfg, "mixed")?;
        let cpu = CpuMeter::start(Some(d.child.id()));
        let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
        let (caught_up_at, _) =
            d.follow_until((TABLE, SENTINEL), None, Duration::from_secs(3600))?;
        let cpu_us = cpu.secs("daemon") / self.changes.len() as f64 * 1e6;
        d.stop()?;
        Ok((
            self.changes.len() as f64 / (caught_up_at - streaming_at),
            cpu_us,
        ))
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
        let w = workload(1000, 10_000);
        let count = |f: fn(&Change) -> bool| w.iter().filter(|c| f(c)).count() as f64 / 100.0;
        let inserts = count(|c| matches!(c, Change::Insert { .. }));
        let updates = count(|c| matches!(c, Change::Update { .. }));
        let deletes = count(|c| matches!(c, Change::Delete { .. }));
        assert!((inserts - 50.0).abs() < 2.0, "{inserts}% inserts");
        assert!((updates - 40.0).abs() < 2.0, "{updates}% updates");
        assert!((deletes - 10.0).abs() < 2.0, "{deletes}% deletes");
    }
}
