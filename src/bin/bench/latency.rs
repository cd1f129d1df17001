//! Commit-to-visible latency of a steady stream of transactions of any workload (phase 10's
//! mixed changes; phase 4's insert-only run is `ceilings::latency`, measured the same way): one
//! transaction every 10 ms, its commit time taken when COMMIT returns; a poller reads the one
//! cell each transaction names (`getRowWithColumns`, ~1 ms a read) until HBase holds the value
//! the transaction wrote there, one transaction after the other in commit order.

use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hbase_thrift::hbase::THbaseSyncClient;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::ceilings::thrift;

/// What a transaction makes visible: the cell `column` of row `key` holds `value`.
pub(crate) struct Probe {
    pub(crate) key: Vec<u8>,
    pub(crate) column: Vec<u8>,
    pub(crate) value: Vec<u8>,
}

/// Runs `txns` transactions 10 ms apart, each the statements `next()` returns (joined by `;`,
/// sent in one query) with the probe that shows it in HBase `table` (none: not measured).
/// Writes `t_s,latency_ms` to `csv`; returns p50, p99 and max in ms.
pub(crate) async fn steady(
    conn: &mut Conn,
    table: &str,
    txns: u64,
    mut next: impl FnMut() -> (String, Option<Probe>),
    csv: &Path,
) -> Result<[f64; 3]> {
    let (tx, rx) = mpsc::channel::<(Probe, Instant)>();
    let start = Instant::now();
    let table = table.as_bytes().to_vec();
    let poller = std::thread::spawn(move || -> Result<Vec<(f64, f64)>> {
        let mut c = thrift()?;
        let mut samples = Vec::new();
        // The channel holds the commits not yet seen, oldest first.
        for (probe, committed) in rx {
            loop {
                let rows = c
                    .get_row_with_columns(
                        table.clone(),
                        probe.key.clone(),
                        vec![probe.column.clone()],
                        Default::default(),
                    )
                    .map_err(|e| anyhow::anyhow!("getRowWithColumns: {e}"))?;
                let seen = rows.iter().any(|r| {
                    let cell = r.columns.as_ref().and_then(|c| c.get(&probe.column));
                    cell.and_then(|c| c.value.as_ref()) == Some(&probe.value)
                });
                if seen {
                    break;
                }
                if committed.elapsed() > Duration::from_secs(120) {
                    bail!(
                        "row {} not as committed in HBase after 120 s",
                        String::from_utf8_lossy(&probe.key)
                    );
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            samples.push((
                (committed - start).as_secs_f64(),
                committed.elapsed().as_secs_f64() * 1e3,
            ));
        }
        Ok(samples)
    });
    for k in 0..txns {
        tokio::time::sleep_until((start + Duration::from_millis(10 * k)).into()).await;
        let (sql, probe) = next();
        let mut t = conn.start_transaction(Default::default()).await?;
        t.query_drop(sql).await?;
        t.commit().await?;
        let sent = probe.map(|p| tx.send((p, Instant::now())));
        if matches!(sent, Some(Err(_))) {
            break; // the poller failed: its error below
        }
    }
    let behind = start.elapsed().as_secs_f64() - txns as f64 / 100.0;
    eprintln!("steady load: {txns} transactions; finished {behind:.2}s behind schedule");
    drop(tx);
    let samples = poller.join().expect("latency poller")?;
    if samples.is_empty() {
        bail!("no transaction of the latency run was measured");
    }
    let mut f = std::fs::File::create(csv)?;
    writeln!(f, "t_s,latency_ms")?;
    for (t, ms) in &samples {
        writeln!(f, "{t:.3},{ms:.2}")?;
    }
    let mut ms: Vec<f64> = samples.into_iter().map(|(_, ms)| ms).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    // As phase 4: the sample at the rank, to 0.1 ms.
    Ok([0.5, 0.99, 1.0].map(|p| {
        let at = ((ms.len() as f64 * p) as usize).min(ms.len() - 1);
        (ms[at] * 10.0).round() / 10.0
    }))
}
