//! Every HBase mutation the service makes goes through this module: batches of row changes
//! (the stream, bootstraps, resyncs, cleanups and repairs, the apply workers) and table
//! creation. Each batch is one `mutateRowsTs` call per table (written straight from the
//! changes, `wire`), and one more at the stamp minus one for the family deletes of replaced
//! rows.
//!
//! Thrift1 semantics this relies on (checked by the integration tests):
//! - `mutateRowsTs(table, rows, ts)` stamps every mutation with `ts`;
//! - a put mutation `family:qualifier` writes the cell at `ts`;
//! - a delete mutation `family:qualifier` removes every version <= `ts` of that column (NULLs);
//! - a delete mutation naming only the family removes every cell of the family <= `ts` (row
//!   deletes, and replaced rows one version below their new image: a table's own rows have a
//!   single family; the tables joined into it each write families of their own, never
//!   replaced, see `core::mapping`);
//! - the call is not atomic, which is fine: a retry writes the same cells at the same version.
//!
//! A failed call is retried on a new connection with backoff; the batch stays in memory until
//! HBase accepts it, so the checkpoint never passes an unwritten change.
//!
//! Several Thrift servers (`hbase.thrift` as a list): writer `i` prefers server `i mod n`, so
//! writers are spread over them. A write that fails marks its server down (shown by `/health`)
//! and is retried at once on the next server not marked down; a server marked down is tried
//! again 5 s later (10 s, 20 s, ... up to a minute after each failed retry), first with a probe
//! of at most [`PROBE_TIMEOUT`] (a hung server accepts connections and answers nothing), and a
//! write it takes clears the mark, so writers go back to it by themselves. The pipeline
//! restarts only when every server failed the batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use hbase_thrift::hbase::{ColumnDescriptor, THbaseSyncClient};
use tracing::{debug, info, warn};

use crate::config::HbaseConfig;
use crate::error::{Result, SyncError};
use crate::model::{RowChange, RowOp, Version};
use crate::sink::hbase::batch::TableRows;
use crate::sink::hbase::client::{self, hbase_err, ThriftClient, ThriftEndpoint};
use crate::sink::hbase::wire::{self, Writes};
use crate::telemetry::health::{ServerDown, SharedHealth};
use crate::telemetry::metrics::METRICS;

/// The size HBase checks against `hbase.client.keyvalue.maxsize` for one cell: its serialized
/// KeyValue (key and value lengths, row, family, qualifier, timestamp, type, value), where
/// `column` is `family:qualifier`.
pub fn serialized_cell_size(row: &[u8], column: &[u8], value: &[u8]) -> usize {
    // 4 + 4 (lengths) + 2 (row length) + 1 (family length) + 8 (timestamp) + 1 (type), and the
    // ':' of `column` is not stored.
    row.len() + column.len() - 1 + value.len() + 20
}

/// The longest a writer waits for a server marked down to answer a probe before it writes to it.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One writer's connection and the tables it knows exist.
pub struct HbaseWriter {
    endpoints: Vec<ThriftEndpoint>,
    /// The server this writer uses while it answers (`writer index mod servers`).
    preferred: usize,
    /// The server `client` is connected to.
    current: usize,
    max_versions: u32,
    client: Option<ThriftClient>,
    /// The current server is marked down: probe it before connecting for a write.
    probe: bool,
    known_tables: HashSet<String>,
    /// HBase tables other tables are joined into, with every family they need
    /// (`MappingConfig::joined_families`).
    joined_families: Arc<BTreeMap<String, Vec<String>>>,
}

impl HbaseWriter {
    /// Writer `idx`'s connection, to the `idx mod n`-th of the `n` configured servers.
    pub fn new(hbase: &HbaseConfig, idx: usize) -> Self {
        let endpoints = ThriftEndpoint::all(hbase);
        let preferred = idx % endpoints.len();
        HbaseWriter {
            endpoints,
            preferred,
            current: preferred,
            max_versions: hbase.max_versions,
            client: None,
            probe: false,
            known_tables: HashSet::new(),
            joined_families: Arc::default(),
        }
    }

    /// The families of the tables other tables are joined into: created with the table, and
    /// checked when it exists.
    pub fn with_joined_families(mut self, families: BTreeMap<String, Vec<String>>) -> Self {
        self.joined_families = Arc::new(families);
        self
    }

    /// The server the next write goes to.
    pub fn server(&self) -> &str {
        &self.endpoints[self.current].addr
    }

    /// Picks the server for the next write: the preferred one, else the next one, skipping
    /// servers marked down that may not be retried yet. When every server is marked down, the
    /// preferred one.
    pub fn choose_server(&mut self, down: &HashMap<String, ServerDown>) {
        let n = self.endpoints.len();
        let usable = |i: usize| {
            down.get(&self.endpoints[i].addr)
                .is_none_or(ServerDown::may_retry)
        };
        let chosen = (0..n)
            .map(|k| (self.preferred + k) % n)
            .find(|&i| usable(i))
            .unwrap_or(self.preferred);
        if chosen != self.current {
            self.current = chosen;
            self.client = None;
            self.known_tables.clear();
        }
        self.probe = down.contains_key(&self.endpoints[chosen].addr);
    }

    fn client(&mut self) -> Result<&mut ThriftClient> {
        if self.client.is_none() {
            let endpoint = &self.endpoints[self.current];
            if self.probe {
                // A server marked down may hang rather than refuse: ask it something small
                // first, with a short timeout, instead of waiting `hbase.timeout` on a write.
                let quick = ThriftEndpoint {
                    timeout: endpoint.timeout.min(PROBE_TIMEOUT),
                    ..endpoint.clone()
                };
                client::table_names(&mut client::connect_to(&quick)?)?;
            }
            self.client = Some(client::connect_to(endpoint)?);
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Writes the batch once; on error the connection is dropped so the next try reconnects.
    pub fn write(&mut self, version: Version, tables: &TableRows) -> Result<()> {
        let result = self.try_write(version, tables);
        if result.is_err() {
            self.client = None;
            self.known_tables.clear();
        }
        result
    }

    fn try_write(&mut self, version: Version, tables: &TableRows) -> Result<()> {
        for (table, rows) in tables {
            if !self.known_tables.contains(&**table) {
                let families = match self.joined_families.get(&**table) {
                    Some(families) => families.clone(),
                    None => vec![rows[0].family.to_string()],
                };
                let max_versions = self.max_versions;
                ensure_table_families(self.client()?, table, &families, max_versions)?;
                self.known_tables.insert(table.to_string());
            }
            let all: Vec<&RowChange> = rows.iter().collect();
            self.mutate(table, &all, Writes::Changes, version.0)?;
            // Replaced rows: every older cell of the family goes, one version below the new
            // image, which is already visible (no reader sees the row missing meanwhile). A
            // joined table's row is never a replace (`core::mapping`); checked again here, as
            // its family holds its siblings.
            let replaced: Vec<&RowChange> = rows
                .iter()
                .filter(|r| matches!(r.op, RowOp::Replace(_)) && r.member.is_none())
                .collect();
            if !replaced.is_empty() {
                self.mutate(table, &replaced, Writes::ReplacedFamilies, version.0 - 1)?;
            }
        }
        Ok(())
    }

    fn mutate(&mut self, table: &str, rows: &[&RowChange], writes: Writes, ts: i64) -> Result<()> {
        wire::mutate_rows_ts(self.client()?, table, rows, writes, ts)
            .map_err(|e| hbase_err(&format!("mutateRowsTs on {table}"), e))
    }
}

/// How many versions a batch needs below its stamp: replaced rows' family deletes take the one
/// below it (see [`crate::model::version`]).
pub fn stamp_gap(tables: &TableRows) -> i64 {
    let replaces = tables
        .iter()
        .any(|(_, rows)| rows.iter().any(|r| matches!(r.op, RowOp::Replace(_))));
    if replaces {
        2
    } else {
        1
    }
}

/// Quick retries of one batch on one server before the writer fails and the restart strategy
/// takes over.
const BATCH_ATTEMPTS: u32 = 3;

/// Writes one collapsed batch at `version`, retrying with backoff ([`BATCH_ATTEMPTS`] tries,
/// plus one on each other server) before the error goes to the restart strategy. A failed
/// server is marked down in `health` (with several servers) and the retry goes to another at
/// once. `hbase` is taken while the blocking Thrift call runs and put back after; `idx` names
/// the writer in logs.
pub async fn write_batch(
    hbase: &mut Option<HbaseWriter>,
    idx: usize,
    version: Version,
    tables: TableRows,
    health: &SharedHealth,
) -> Result<()> {
    let tables = Arc::new(tables);
    let mut backoff = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut writer = hbase.take().expect("writer present between flushes");
        let servers = writer.endpoints.len();
        writer.choose_server(&health.lock().expect("health lock").hbase_servers_down);
        let server = writer.server().to_string();
        let t = tables.clone();
        let timer = METRICS.hbase_batch_seconds.start_timer();
        let (writer, result) = tokio::task::spawn_blocking(move || {
            let r = writer.write(version, &t);
            (writer, r)
        })
        .await
        .map_err(|e| SyncError::transient(format!("HBase writer {idx} panicked: {e}")))?;
        *hbase = Some(writer);
        timer.observe_duration();
        match result {
            Ok(()) => {
                let rows: usize = tables.iter().map(|(_, r)| r.len()).sum();
                debug!(writer = idx, rows, version = version.0, %server, "batch written");
                let mut h = health.lock().expect("health lock");
                h.hbase_error = None;
                if h.hbase_servers_down.remove(&server).is_some() {
                    info!(writer = idx, %server, "the HBase Thrift server answers again");
                }
                return Ok(());
            }
            // Not the server's fault (a family the table lacks): no retry helps.
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => {
                METRICS.hbase_errors.inc();
                let another_up = {
                    let mut h = health.lock().expect("health lock");
                    h.hbase_error = Some(e.to_string());
                    if servers > 1 {
                        let previous = h.hbase_servers_down.get(&server).copied();
                        h.hbase_servers_down
                            .insert(server.clone(), ServerDown::after_failure(previous));
                    }
                    servers > h.hbase_servers_down.len()
                };
                if attempt >= BATCH_ATTEMPTS + servers as u32 - 1 {
                    return Err(e);
                }
                if another_up {
                    warn!(writer = idx, %server, error = %e, "HBase write failed; retrying on another Thrift server, leaving this one alone for a while");
                    continue;
                }
                warn!(writer = idx, error = %e, retry_in = ?backoff, "HBase write failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
}

/// Creates `table` with one family when it does not exist yet.
pub fn ensure_table(
    client: &mut ThriftClient,
    table: &str,
    family: &str,
    max_versions: u32,
) -> Result<()> {
    ensure_table_families(client, table, &[family.to_string()], max_versions)
}

/// Creates `table` with these families when it does not exist yet; when it exists, each must
/// be there: Thrift1 cannot add a family to a table, and writes to a missing one fail forever.
pub fn ensure_table_families(
    client: &mut ThriftClient,
    table: &str,
    families: &[String],
    max_versions: u32,
) -> Result<()> {
    if client::table_exists(client, table)? {
        if families.len() > 1 {
            let existing = client::families(client, table)?;
            let missing: Vec<&String> = families.iter().filter(|f| !existing.contains(f)).collect();
            if let Some(first) = missing.first() {
                return Err(SyncError::definite(
                    format!("the HBase table {table} has no family {first}, which a table joined into it writes (missing: {missing:?})"),
                    format!("add it in the HBase shell: alter '{table}', NAME => '{first}' (HBase's Thrift1 API cannot add families), then start again"),
                ));
            }
        }
        return Ok(());
    }
    let descriptors = families
        .iter()
        .map(|family| column_descriptor(family, max_versions))
        .collect();
    match client.create_table(table.as_bytes().to_vec(), descriptors) {
        Ok(()) => Ok(()),
        // Another writer created it in between.
        Err(thrift::Error::User(e))
            if format!("{e:?}").contains("AlreadyExists")
                || format!("{e:?}").contains("TableExists") =>
        {
            Ok(())
        }
        Err(e) => Err(hbase_err(&format!("createTable {table}"), e)),
    }
}

fn column_descriptor(family: &str, max_versions: u32) -> ColumnDescriptor {
    ColumnDescriptor {
        name: Some(format!("{family}:").into_bytes()),
        max_versions: Some(max_versions as i32),
        compression: Some("NONE".into()),
        in_memory: Some(false),
        bloom_filter_type: Some("NONE".into()),
        bloom_filter_vector_size: Some(0),
        bloom_filter_nb_hashes: Some(0),
        block_cache_enabled: Some(true),
        time_to_live: Some(i32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_size_is_what_hbase_counts() {
        // A KeyValue of row "1", d:b and a 5-byte value is 4+4 + (2+1+1+1+1+8+1) + 5 bytes.
        assert_eq!(serialized_cell_size(b"1", b"d:b", b"abcde"), 28);
    }
}
