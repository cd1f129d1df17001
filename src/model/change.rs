//! The unit of work between the sources and the sinks: one row's new state.

use std::sync::Arc;

use crate::model::naming::fnv1a;
use crate::model::version::Version;

/// What a row key looks like after a change.
#[derive(Debug, Clone, PartialEq)]
pub enum RowOp {
    /// These cells: every mapped column of the row image, `None` for NULL (written as a column
    /// delete so the row's cells always equal its latest image), or some of them (a backfill).
    /// What the stream writes; for a joined table's row (`RowChange::member`) also what its
    /// copies and deletes write (every column `None`: exactly its own cells go).
    Put(Vec<Cell>),
    /// The full row image, and nothing else of the row's family survives: cells of columns
    /// MySQL does not have (dropped columns, cells other tools wrote) are deleted too. What
    /// bootstraps, resyncs and repairs write (a family delete one version below the put).
    /// Never made for a joined table's row: the family holds its siblings too.
    Replace(Vec<Cell>),
    /// The row's family is gone (for a joined table's parent: its own family, and the families
    /// of children mapped with `on_parent_delete = "delete_children"`, each its own change).
    Delete,
}

impl RowOp {
    /// The state after `self` then `next` on the same row, as one write: a put after a replace
    /// still has to clear what the replace would have, and a put after a put keeps the first
    /// one's cells the second does not name (a backfill's put names only some columns).
    pub fn then(self, next: RowOp) -> RowOp {
        match (self, next) {
            (RowOp::Replace(first), RowOp::Put(cells)) => RowOp::Replace(merge(first, cells)),
            (RowOp::Put(first), RowOp::Put(cells)) => RowOp::Put(merge(first, cells)),
            (_, next) => next,
        }
    }
}

/// `first`'s cells overwritten by `next`'s, column by column.
fn merge(first: Vec<Cell>, mut next: Vec<Cell>) -> Vec<Cell> {
    // The usual case: two images of the same table name the same columns in the same order.
    let same_columns = first.len() <= next.len()
        && first
            .iter()
            .zip(&next)
            .all(|(a, b)| Arc::ptr_eq(&a.column, &b.column) || a.column == b.column);
    if same_columns {
        return next;
    }
    let missing: Vec<Cell> = first
        .into_iter()
        .filter(|a| !next.iter().any(|b| b.column == a.column))
        .collect();
    next.extend(missing);
    next
}

/// A cell's value: up to 32 bytes inline (numbers, dates, times, short strings: most cells),
/// longer ones on the heap. A heap block per cell cost more than the cell's text: allocated by
/// the router, freed by a writer on another thread (the profile of the stream in
/// `bench/RESULTS.md`).
pub type CellValue = smallvec::SmallVec<[u8; 32]>;

#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// `family:qualifier`.
    pub column: Arc<[u8]>,
    pub value: Option<CellValue>,
}

/// One row key's state as of `version`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// HBase table.
    pub table: Arc<str>,
    /// Column family (a row delete is a family delete).
    pub family: Arc<str>,
    pub key: Vec<u8>,
    /// A joined table's row (`[[mapping.tables]]` with `qualifier`): the qualifier prefix that
    /// names it among its siblings in the parent's HBase row (empty for a 1:1 table). Its
    /// changes are always puts of exactly its own cells. `None`: the family is the row's own.
    pub member: Option<Arc<[u8]>>,
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
                                + c.value
                                    .as_ref()
                                    .filter(|v| v.spilled())
                                    .map_or(0, |v| v.capacity() + ALLOCATION)
                        })
                        .sum::<usize>()
            }
            RowOp::Delete => 0,
        };
        std::mem::size_of::<Self>()
            + self.key.capacity()
            + ALLOCATION
            + self.member.as_ref().map_or(0, |m| m.len() + ALLOCATION)
            + cells
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
