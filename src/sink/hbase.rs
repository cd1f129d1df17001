//! The HBase sink: writes a collapsed batch with one `mutateRowsTs` call per table.
//!
//! Thrift1 semantics this relies on (checked by the integration tests):
//! - `mutateRowsTs(table, rows, ts)` stamps every mutation with `ts`;
//! - a put mutation `family:qualifier` writes the cell at `ts`;
//! - a delete mutation `family:qualifier` removes every version <= `ts` of that column (NULLs);
//! - a delete mutation naming only the family removes every cell of the family <= `ts` (row
//!   deletes: each mapped table has a single family);
//! - the call is not atomic, which is fine: a retry writes the same cells at the same version.
//!
//! A failed call is retried on a new connection with backoff; the batch stays in memory until
//! HBase accepts it, so the checkpoint never passes an unwritten change.

use std::collections::HashSet;
use std::time::Duration;

use hbase_thrift::hbase::{BatchMutation, Mutation, THbaseSyncClient};

use crate::core::batch::TableRows;
use crate::core::change::{RowChange, RowOp};
use crate::core::version::Version;
use crate::error::Result;
use crate::sink::hbase_client::{self, hbase_err, ThriftClient};

/// The size HBase checks against `hbase.client.keyvalue.maxsize` for one cell: its serialized
/// KeyValue (key and value lengths, row, family, qualifier, timestamp, type, value), where
/// `column` is `family:qualifier`.
pub fn serialized_cell_size(row: &[u8], column: &[u8], value: &[u8]) -> usize {
    // 4 + 4 (lengths) + 2 (row length) + 1 (family length) + 8 (timestamp) + 1 (type), and the
    // ':' of `column` is not stored.
    row.len() + column.len() - 1 + value.len() + 20
}

/// One writer's connection and the tables it knows exist.
pub struct HbaseWriter {
    addr: String,
    timeout: Duration,
    max_versions: u32,
    client: Option<ThriftClient>,
    known_tables: HashSet<String>,
}

impl HbaseWriter {
    pub fn new(addr: &str, timeout: Duration, max_versions: u32) -> Self {
        HbaseWriter {
            addr: addr.to_string(),
            timeout,
            max_versions,
            client: None,
            known_tables: HashSet::new(),
        }
    }

    fn client(&mut self) -> Result<&mut ThriftClient> {
        if self.client.is_none() {
            self.client = Some(hbase_client::connect(&self.addr, self.timeout)?);
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
                let family = rows[0].family.to_string();
                let max_versions = self.max_versions;
                hbase_client::ensure_table(self.client()?, table, &family, max_versions)?;
                self.known_tables.insert(table.to_string());
            }
            let batches: Vec<BatchMutation> = rows.iter().map(to_batch_mutation).collect();
            self.client()?
                .mutate_rows_ts(
                    table.as_bytes().to_vec(),
                    batches,
                    version.0,
                    Default::default(),
                )
                .map_err(|e| hbase_err(&format!("mutateRowsTs on {table}"), e))?;
        }
        Ok(())
    }
}

fn to_batch_mutation(row: &RowChange) -> BatchMutation {
    let mutations = match &row.op {
        RowOp::Put(cells) => cells
            .iter()
            .map(|c| Mutation {
                is_delete: Some(c.value.is_none()),
                column: Some(c.column.to_vec()),
                value: c.value.clone(),
                write_to_w_a_l: Some(true),
            })
            .collect(),
        RowOp::Delete => vec![Mutation {
            is_delete: Some(true),
            column: Some(row.family.as_bytes().to_vec()),
            value: None,
            write_to_w_a_l: Some(true),
        }],
    };
    BatchMutation {
        row: Some(row.key.clone()),
        mutations: Some(mutations),
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
