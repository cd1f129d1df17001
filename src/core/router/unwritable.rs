//! Rows HBase cannot take, streamed or in a bootstrap, resync or repair chunk.
//!
//! A row's new image is not written when a value does not decode, when a row-key column is
//! NULL, or when HBase would refuse it: a cell over `hbase.max_cell_bytes`
//! (`core::mapping::oversized_cell`). HBase refuses the whole batch holding such a row at
//! every retry, so sending it would restart the pipeline from the same place forever (a
//! bootstrap chunk with one 11 MiB cell never completed). Such a row must not leave an older
//! image of itself in HBase looking current either, so:
//! 1. every row key it names (its before and after images' keys, where the key columns
//!    decoded) is deleted, as a change in stream order like any other: it orders with the
//!    row's other writes, and a bootstrap of the table running meanwhile counts it as the
//!    stream's change of that key;
//! 2. the row goes to the dead-letter output with the reason, the table and the key (type
//!    `bootstrap-insert` for chunk rows);
//! 3. `mysql2hbase_rows_not_written_total{table,reason}` counts it (`cell_too_large`,
//!    `undecodable`, `null_row_key`).
//!
//! Without a dead-letter output, an undecodable row or a NULL key stops the pipeline with a
//! definite error naming `[dead_letter]` (the caller's job: going on would lose a change that
//! may be readable once the cause is fixed), while a row with a cell too large is deleted
//! and logged at error level: MySQL holds a value HBase cannot, and stopping would not change
//! that. `verify` expects such rows absent (see `admin::verify`).
//!
//! No marker cell is written in place of the row: a reader would have to know it, every
//! consumer of the table would read a row that is not MySQL's, and the marker itself could
//! only say "see the dead-letter output", which the metric and the record already say.

use crate::core::mapping::{RowTarget, TableMapping};
use crate::error::Result;
use crate::model::{BinlogPosition, RowOp, SqlValue};
use crate::sink::dead_letter::{DeadLetter, Letter};
use crate::telemetry::metrics::METRICS;

/// Why a row's new image is not written.
pub(super) enum NotWritten {
    CellTooLarge(String),
    Undecodable(String),
    NullRowKey,
}

impl NotWritten {
    fn label(&self) -> &'static str {
        match self {
            NotWritten::CellTooLarge(_) => "cell_too_large",
            NotWritten::Undecodable(_) => "undecodable",
            NotWritten::NullRowKey => "null_row_key",
        }
    }

    fn reason(&self) -> &str {
        match self {
            NotWritten::CellTooLarge(r) | NotWritten::Undecodable(r) => r,
            NotWritten::NullRowKey => "a row has NULL in a row-key column",
        }
    }
}

/// A row set aside.
pub(super) struct Unwritten<'a> {
    pub why: NotWritten,
    /// The dead-letter record's type (`None`: from the images).
    pub op: Option<&'static str>,
    /// Where the row's cells are (for each image whose key decoded), the new image's first.
    pub keys: Vec<RowTarget>,
    pub before: Option<&'a [SqlValue]>,
    pub after: Option<&'a [SqlValue]>,
}

impl Unwritten<'_> {
    /// A row without images to record.
    pub fn keys(why: NotWritten, keys: Vec<RowTarget>) -> Self {
        Unwritten {
            why,
            op: None,
            keys,
            before: None,
            after: None,
        }
    }
}

/// Counts `row`, records it in `dead_letter` (or logs it when there is none), and returns the
/// deletes of its keys, for the caller to send in stream order.
pub(super) fn set_aside(
    dead_letter: Option<&mut DeadLetter>,
    mapping: &TableMapping,
    position: &BinlogPosition,
    row: Unwritten<'_>,
) -> Result<Vec<(RowTarget, RowOp)>> {
    METRICS
        .rows_not_written
        .with_label_values(&[mapping.source.as_str(), row.why.label()])
        .inc();
    let key = row.keys.first().map(|t| t.key.as_slice());
    match dead_letter {
        Some(dl) => dl.write(&Letter {
            schema: &mapping.schema,
            position,
            reason: row.why.reason(),
            op: row.op,
            key,
            before: row.before,
            after: row.after,
        })?,
        None => tracing::error!(
            table = %mapping.source,
            %position,
            key = %String::from_utf8_lossy(key.unwrap_or_default()),
            reason = row.why.reason(),
            "row not written to HBase (its row key is deleted there); set [dead_letter] path to keep such rows"
        ),
    }
    let mut keys = row.keys;
    keys.dedup();
    Ok(keys.into_iter().map(|k| (k, RowOp::Delete)).collect())
}
