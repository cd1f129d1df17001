//! The unit of work between the sources and the sinks: one row's new state.

use std::sync::Arc;

use crate::core::version::Version;

/// What a row key looks like after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOp {
    /// The full row image: every mapped column, `None` for NULL (written as a column delete so
    /// the row's cells always equal its latest image).
    Put(Vec<Cell>),
    /// The row is gone.
    Delete,
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
    /// Bytes held, for memory accounting and batch sizes.
    pub fn size(&self) -> usize {
        let cells = match &self.op {
            RowOp::Put(cells) => cells
                .iter()
                .map(|c| c.column.len() + c.value.as_ref().map_or(0, Vec::len) + 16)
                .sum(),
            RowOp::Delete => 0,
        };
        64 + self.key.len() + cells
    }
}
