//! The unit of work between the sources and the sinks: one row's new state.

use std::sync::Arc;

use crate::model::naming::fnv1a;
use crate::model::version::Version;

/// What a row key looks like after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOp {
    /// The full row image: every mapped column, `None` for NULL (written as a column delete so
    /// the row's cells always equal its latest image). What the stream writes.
    Put(Vec<Cell>),
    /// The full row image, and nothing else of the row's family survives: cells of columns
    /// MySQL does not have (dropped columns, cells other tools wrote) are deleted too. What
    /// bootstraps, resyncs and repairs write (a family delete one version below the put).
    Replace(Vec<Cell>),
    /// The row is gone.
    Delete,
}

impl RowOp {
    /// The state after `self` then `next` on the same row, as one write: a put after a replace
    /// still has to clear what the replace would have.
    pub fn then(self, next: RowOp) -> RowOp {
        match (self, next) {
            (RowOp::Replace(_), RowOp::Put(cells)) => RowOp::Replace(cells),
            (_, next) => next,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `family:qualifier`.
    pub column: Arc<[u8]>,
    pub value: Option<Vec<u8>>,
}

/// One row key's state as of `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// HBase table.
    pub table: Arc<str>,
    /// Column family (a row delete is a family delete).
    pub family: Arc<str>,
    pub key: Vec<u8>,
    pub op: RowOp,
    pub version: Version,
}

impl RowChange {
    /// Bytes held in memory, for the in-flight budget and batch sizes: the structs, the key
    /// and values, and the allocator's overhead per allocation (the column names are shared).
    pub fn size(&self) -> usize {
        const ALLOCATION: usize = 16;
        let cells = match &self.op {
            RowOp::Put(cells) | RowOp::Replace(cells) => {
                ALLOCATION
                    + cells
                        .iter()
                        .map(|c| {
                            std::mem::size_of::<Cell>()
                                + c.value.as_ref().map_or(0, |v| v.capacity() + ALLOCATION)
                        })
                        .sum::<usize>()
            }
            RowOp::Delete => 0,
        };
        std::mem::size_of::<Self>() + self.key.capacity() + ALLOCATION + cells
    }

    /// Which of `n` writers (or Kafka partitions) this row's changes go to: always the same one.
    pub fn partition(&self, n: usize) -> usize {
        if n == 1 {
            return 0;
        }
        let h = fnv1a(self.table.as_bytes()) ^ fnv1a(&self.key).rotate_left(16);
        (h as usize) % n
    }
}
