//! Phase 9: wide rows. The same load (`bench.events`, P0..P1) streamed as a *joined table* into
//! `bench_joined`: row key = `user_id` (about ten events per HBase row at 1M rows), family
//! `items`, qualifier `{id}:{column}`, so every event is the same eleven cells as in the ceiling,
//! written as member cells of a shared row. Compared with the HBase ceiling for the same number
//! of cells (phase 3's: rows of eleven cells), and with a ceiling writing the very cells the
//! daemon writes here ([`batch_mutation`]: longer qualifiers, ten events to a row).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Result};

use hbase_thrift::hbase::{BatchMutation, Mutation};

use crate::ceilings::thrift;
use crate::daemon::{Bench, Daemon};
use crate::{row_values, COLUMNS};
use mysql2hbase::sink::hbase::client as hbase_client;

pub(crate) const TABLE: &str = "bench_joined";

/// The joined daemon's config: `bench.events` joined into [`TABLE`].
pub(crate) fn config(b: &Bench) -> Result<PathBuf> {
    let path = b.config(
        "joined",
        "bench.events",
        "never",
        "{db}_{table}_joined_unused",
    )?;
    let mut text = std::fs::read_to_string(&path)?;
    text.push_str(&format!(
        "\n[[mapping.tables]]\nsource = \"bench.events\"\ntable = \"{TABLE}\"\nrow_key = [\"user_id\"]\nfamily = \"items\"\nqualifier = \"{{id}}:{{column}}\"\n"
    ));
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Creates [`TABLE`] with its families before the clocks start, as the other phases' tables.
pub(crate) fn create_table() -> Result<()> {
    let mut c = thrift()?;
    mysql2hbase::sink::hbase::mutations::ensure_table_families(
        &mut c,
        TABLE,
        &["d".to_string(), "items".to_string()],
        3,
    )?;
    Ok(())
}

/// Streams from P0 until HBase has the load's last 64 events; returns the seconds from
/// `/health` 200 until then.
pub(crate) fn stream(b: &Bench, rows: u64) -> Result<f64> {
    let mut d = b.start(&config(b)?, "joined")?;
    let streaming_at = d.wait_streaming(Duration::from_secs(60))?;
    let caught_up_at = follow(&mut d, rows, Duration::from_secs(3600))?;
    d.stop()?;
    Ok(caught_up_at - streaming_at)
}

/// Like `Daemon::follow_until`, for member cells: event `i` is the cell `items:{i}:id` in the
/// row of its `user_id`.
fn follow(d: &mut Daemon, rows: u64, timeout: Duration) -> Result<f64> {
    let mut hbase = thrift()?;
    let last: Vec<u64> = (rows.saturating_sub(64)..rows).collect();
    let mut keys: Vec<Vec<u8>> = last
        .iter()
        .map(|&i| row_values(i)[1].clone().expect("user_id").into_bytes())
        .collect();
    keys.sort();
    keys.dedup();
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let found = hbase_client::get_rows(&mut hbase, TABLE, "items", &keys)?;
        let all = last.iter().all(|i| {
            let cell = format!("items:{i}:id").into_bytes();
            found
                .iter()
                .any(|(_, cells)| cells.iter().any(|(c, _, _)| *c == cell))
        });
        if all {
            return Ok(d.started.elapsed().as_secs_f64());
        }
        d.alive()?;
        if d.started.elapsed() > timeout {
            bail!("daemon {}: not caught up within {timeout:?}", d.name);
        }
    }
}

/// The cells the daemon writes for event `i` here: its columns as `items:{i}:{column}` in the
/// row of its `user_id`.
pub(crate) fn batch_mutation(i: u64) -> BatchMutation {
    let values = row_values(i);
    let row = values[1].clone().expect("user_id").into_bytes();
    let mutations = values
        .into_iter()
        .zip(COLUMNS)
        .map(|(v, c)| Mutation {
            is_delete: Some(v.is_none()),
            column: Some(format!("items:{i}:{c}").into_bytes()),
            value: v.map(String::into_bytes),
            write_to_w_a_l: Some(true),
        })
        .collect();
    BatchMutation {
        row: Some(row),
        mutations: Some(mutations),
    }
}
