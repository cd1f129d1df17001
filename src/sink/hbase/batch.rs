//! A writer's batch: consecutive changes of its partition collapsed to one final state per row.
//!
//! Thrift1's `mutateRowsTs` takes one timestamp per call, so a batch is written with one stamp
//! (at least the version of its last change, see `model::version`). This is exact because the
//! batch holds every change of its rows over a contiguous stretch of the stream (one row always
//! goes to the same writer, and a writer receives its changes in stream order): each row's final
//! state in the batch is its latest state, and the stamp is above every earlier write of the row.
//! Collapsing also guarantees that no row gets a put and a delete at the same version; a put
//! after a replace stays a replace (see `RowOp::then`).
//!
//! Joined tables (see `core::mapping`): a row's HBase row also holds the rows of its children,
//! each in its own family, and a 1:n child's rows side by side in one family. So a batch
//! collapses per (table, row key, family, member): the parent's own row, and each child row
//! (`RowChange::member`), separately. One case cannot share a stamp: a family delete (a parent
//! deleted with `on_parent_delete = "delete_children"`) followed by a child row's put in the
//! same family would hide the put (HBase deletes mask cells at their own timestamp), so
//! [`Batch::conflicts`] tells the writer to write the batch first.

use std::collections::HashMap;
use std::sync::Arc;

use crate::model::Version;
use crate::model::{RowChange, RowOp};

/// A batch's rows grouped by HBase table, ready for one `mutateRowsTs` per table.
pub type TableRows = Vec<(Arc<str>, Vec<RowChange>)>;

/// What one final state in a batch is for: (table, row key, family, member). Looked up by its
/// 64-bit FNV-1a hash without copying the key (a row's changes arrive one after another, and
/// cloning the key per change showed in the profile); two different ids with the same hash
/// (practically never) are told apart in a map by the full id.
type RowId = (Arc<str>, Vec<u8>, Arc<str>, Option<Arc<[u8]>>);

fn row_id(change: &RowChange) -> RowId {
    (
        change.table.clone(),
        change.key.clone(),
        change.family.clone(),
        change.member.clone(),
    )
}

/// The hash of the id (table, key, family, member), each part length-prefixed.
fn id_hash(table: &str, key: &[u8], family: &str, member: Option<&[u8]>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &b in (bytes.len() as u32).to_le_bytes().iter().chain(bytes) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    feed(table.as_bytes());
    feed(key);
    feed(family.as_bytes());
    match member {
        None => feed(&[0]),
        Some(m) => {
            feed(&[1]);
            feed(m);
        }
    }
    h
}

/// A map keyed by hashes already made: the key is its own hash.
#[derive(Default)]
struct HashIsKey(u64);

impl std::hash::Hasher for HashIsKey {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys")
    }
    fn write_u64(&mut self, h: u64) {
        self.0 = h;
    }
}

type ByHash = HashMap<u64, usize, std::hash::BuildHasherDefault<HashIsKey>>;

#[derive(Default)]
pub struct Batch {
    /// Final state per [`RowId`], in first-seen order.
    rows: Vec<RowChange>,
    /// Hash of the id -> index in `rows`, for the first id with that hash.
    index: ByHash,
    /// Ids whose hash an earlier id has.
    collided: HashMap<RowId, usize>,
    bytes: usize,
    version: Option<Version>,
}

impl Batch {
    /// The index of the final state of (table, key, family, member), if the batch has one.
    fn find(&self, table: &str, key: &[u8], family: &str, member: Option<&[u8]>) -> Option<usize> {
        self.find_hashed(
            id_hash(table, key, family, member),
            table,
            key,
            family,
            member,
        )
    }

    fn find_hashed(
        &self,
        h: u64,
        table: &str,
        key: &[u8],
        family: &str,
        member: Option<&[u8]>,
    ) -> Option<usize> {
        let &i = self.index.get(&h)?;
        let r = &self.rows[i];
        if *r.table == *table
            && r.key == key
            && *r.family == *family
            && r.member.as_deref() == member
        {
            return Some(i);
        }
        self.collided
            .get(&(
                Arc::from(table),
                key.to_vec(),
                Arc::from(family),
                member.map(Arc::from),
            ))
            .copied()
    }

    /// Whether `change` must go in a later write than this batch: a joined table's row after
    /// a delete of its whole family in the same HBase row (see the module doc).
    pub fn conflicts(&self, change: &RowChange) -> bool {
        change.member.is_some()
            && self
                .find(&change.table, &change.key, &change.family, None)
                .is_some_and(|i| matches!(self.rows[i].op, RowOp::Delete))
    }

    pub fn add(&mut self, change: RowChange) {
        debug_assert!(
            self.version.is_none_or(|v| v <= change.version),
            "changes arrive in binlog order"
        );
        self.version = Some(
            self.version
                .map_or(change.version, |v| v.max(change.version)),
        );
        let size = change.size();
        let (table, family, member) = (&change.table, &change.family, change.member.as_deref());
        let h = id_hash(table, &change.key, family, member);
        match self.find_hashed(h, table, &change.key, family, member) {
            Some(i) => {
                let previous = &mut self.rows[i];
                self.bytes = self.bytes - previous.size() + size;
                let op = std::mem::replace(&mut previous.op, RowOp::Delete);
                *previous = RowChange {
                    op: op.then(change.op),
                    ..change
                };
            }
            None => {
                if self.index.contains_key(&h) {
                    self.collided.insert(row_id(&change), self.rows.len());
                } else {
                    self.index.insert(h, self.rows.len());
                }
                self.rows.push(change);
                self.bytes += size;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    pub fn bytes(&self) -> usize {
        self.bytes
    }
    /// The version the whole batch is written with.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The final states grouped by HBase table, and the batch version.
    pub fn take(&mut self) -> Option<(Version, TableRows)> {
        let version = self.version.take()?;
        self.index.clear();
        self.collided.clear();
        self.bytes = 0;
        let mut by_table: TableRows = Vec::new();
        for row in self.rows.drain(..) {
            match by_table.iter_mut().find(|(t, _)| *t == row.table) {
                Some((_, rows)) => rows.push(row),
                None => by_table.push((row.table.clone(), vec![row])),
            }
        }
        Some((version, by_table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Cell;

    fn change(table: &str, key: &str, op: RowOp, v: i64) -> RowChange {
        RowChange {
            table: table.into(),
            family: "d".into(),
            key: key.as_bytes().to_vec(),
            member: None,
            op,
            version: Version(v),
        }
    }
    fn put(v: &str) -> RowOp {
        RowOp::Put(vec![Cell {
            column: Arc::from(&b"d:c"[..]),
            value: Some(v.as_bytes().into()),
        }])
    }

    #[test]
    fn collapses_to_final_state_per_row_and_stamps_the_last_version() {
        let mut b = Batch::default();
        b.add(change("t", "1", put("a"), 10));
        b.add(change("t", "2", put("b"), 11));
        b.add(change("t", "1", RowOp::Delete, 12));
        b.add(change("u", "1", put("x"), 13));
        b.add(change("t", "1", put("c"), 14));
        assert_eq!(b.len(), 3);
        let (v, tables) = b.take().unwrap();
        assert_eq!(v, Version(14));
        assert_eq!(tables.len(), 2);
        let t = &tables.iter().find(|(n, _)| &**n == "t").unwrap().1;
        assert_eq!(
            t[0].op,
            put("c"),
            "row 1 ends re-inserted; no delete at the same version"
        );
        assert_eq!(t[1].op, put("b"));
        assert!(b.is_empty() && b.take().is_none());
    }

    #[test]
    fn a_put_after_a_replace_still_replaces_and_a_delete_ends_it() {
        let replace = |v: &str| match put(v) {
            RowOp::Put(cells) => RowOp::Replace(cells),
            _ => unreachable!(),
        };
        let mut b = Batch::default();
        b.add(change("t", "1", replace("a"), 10));
        b.add(change("t", "1", put("b"), 11));
        b.add(change("t", "2", replace("c"), 11));
        b.add(change("t", "2", RowOp::Delete, 12));
        b.add(change("t", "2", put("d"), 13));
        let (_, tables) = b.take().unwrap();
        assert_eq!(tables[0].1[0].op, replace("b"));
        assert_eq!(
            tables[0].1[1].op,
            put("d"),
            "the delete already cleared the row"
        );
    }

    fn cell(column: &str, value: Option<&str>) -> Cell {
        Cell {
            column: Arc::from(column.as_bytes()),
            value: value.map(|v| v.as_bytes().into()),
        }
    }

    /// A backfill's put names some columns; the stream's put before it in the same batch
    /// keeps the others.
    #[test]
    fn a_put_after_a_put_keeps_the_cells_it_does_not_name() {
        let mut b = Batch::default();
        let full = RowOp::Put(vec![cell("d:a", Some("1")), cell("d:b", Some("2"))]);
        b.add(change("t", "1", full, 10));
        let some = RowOp::Put(vec![cell("d:b", Some("3")), cell("d:gone", None)]);
        b.add(change("t", "1", some, 11));
        let (_, tables) = b.take().unwrap();
        assert_eq!(
            tables[0].1[0].op,
            RowOp::Put(vec![
                cell("d:b", Some("3")),
                cell("d:gone", None),
                cell("d:a", Some("1"))
            ])
        );
    }

    /// Joined rows: the parent's row and each child row collapse on their own; a child's put
    /// after its family's delete must wait for the next write.
    #[test]
    fn joined_rows_collapse_apart_and_a_put_after_a_family_delete_waits() {
        let member = |key: &str, m: &str, family: &str, op: RowOp, v: i64| RowChange {
            family: family.into(),
            member: Some(Arc::from(m.as_bytes())),
            ..change("t", key, op, v)
        };
        let mut b = Batch::default();
        b.add(change("t", "1", put("p"), 10));
        let item = |v: &str| RowOp::Put(vec![cell(&format!("items:{v}:q"), Some(v))]);
        b.add(member("1", "7:", "items", item("7"), 11));
        b.add(member("1", "8:", "items", item("8"), 12));
        b.add(member("1", "7:", "items", item("7"), 13));
        assert_eq!(b.len(), 3, "the parent's row and two items");
        let family_delete = RowChange {
            family: "items".into(),
            ..change("t", "1", RowOp::Delete, 14)
        };
        assert!(
            !b.conflicts(&family_delete),
            "a delete after puts masks them: fine"
        );
        b.add(family_delete);
        let later = member("1", "9:", "items", item("9"), 15);
        assert!(
            b.conflicts(&later),
            "it would be hidden by the delete at the same stamp"
        );
        assert!(!b.conflicts(&member("1", "9:", "pay", item("9"), 15)));
        assert!(!b.conflicts(&change("t", "1", put("p"), 15)));
    }

    /// Two ids with one hash (forged here: FNV-1a collisions of real keys are not at hand)
    /// stay two rows, each collapsing with its own later changes.
    #[test]
    fn ids_whose_hashes_collide_stay_apart() {
        let mut b = Batch::default();
        b.add(change("t", "1", put("a"), 10));
        let forged = id_hash("t", b"2", "d", None);
        b.index.insert(forged, 0);
        b.add(change("t", "2", put("b"), 11));
        b.add(change("t", "2", put("c"), 12));
        b.add(change("t", "1", put("d"), 13));
        assert_eq!(b.len(), 2);
        let (_, tables) = b.take().unwrap();
        assert_eq!(tables[0].1[0].op, put("d"));
        assert_eq!(tables[0].1[1].op, put("c"));
        assert!(b.collided.is_empty(), "cleared with the batch");
    }

    #[test]
    fn byte_count_follows_replacements() {
        let mut b = Batch::default();
        b.add(change("t", "1", put("aaaaaaaaaa"), 1));
        let one = b.bytes();
        b.add(change("t", "1", RowOp::Delete, 2));
        assert!(b.bytes() < one);
        b.add(change("t", "2", RowOp::Delete, 3));
        assert_eq!(b.bytes(), 2 * change("t", "1", RowOp::Delete, 0).size());
    }
}
