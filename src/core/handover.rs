//! Hand-over between a bootstrap (table snapshot) and the binlog stream, inside the router:
//! the change tracker, and the requests a bootstrap job sends the router.
//!
//! The algorithm (DBLog's watermarks, applied to every locking mode):
//! 1. Before a job reads anything it registers its table here; from then on the router records,
//!    for every row key of that table it routes, the version of its latest change. The router's
//!    position at registration is below any position the job reads afterwards.
//! 2. A chunk is read at a *low* position L: the locked snapshot position P for `minimal` and
//!    `extended`, or the position read just before the chunk's SELECT for `none`; it becomes
//!    *ready* at a position H (P, or the position read just after the SELECT).
//! 3. When the stream has routed everything up to H, the router drops from the chunk every key
//!    changed after L (the stream writes those itself: while a job tracks a table, the stream
//!    writes that table's rows as whole-row replaces, not puts, so a row whose copy is dropped
//!    still loses the cells MySQL no longer has, such as a dropped column's, or cells another
//!    tool wrote) and sends the rest to the writers, in
//!    stream order: rows as whole-row replaces, keys MySQL does not have (cleanups, repairs) as
//!    deletes, at the stream's current version (at least the wall clock). Those rows did not
//!    change between L and now, so they are the rows' latest state; every later change of the
//!    same key follows them through the same writer with a higher stamp. No chunk row ever
//!    arrives below a version the stream already wrote for its row, so nothing depends on
//!    delete markers surviving a major compaction.
//! 4. After the rows, a barrier goes to every writer; when all have written what came before it,
//!    the job records the chunk as done (a crash resumes after it).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::core::mapping::RowTarget;
use crate::model::{BinlogPosition, SqlValue, TableSchema};

/// A source row's place ([`identity`]) -> the binlog position (`BinlogPosition::sort_key`) of
/// its latest change.
type LatestChanges = HashMap<Vec<u8>, (u32, u64)>;

/// What the tracker knows a source row by: its row key, or for a joined table's row (many share
/// one HBase row) the key's length, the key and the member prefix.
fn identity(target: &RowTarget) -> std::borrow::Cow<'_, [u8]> {
    match &target.member {
        None => std::borrow::Cow::Borrowed(&target.key),
        Some(member) => {
            let mut id = Vec::with_capacity(4 + target.key.len() + member.len());
            id.extend_from_slice(&(target.key.len() as u32).to_be_bytes());
            id.extend_from_slice(&target.key);
            id.extend_from_slice(member);
            std::borrow::Cow::Owned(id)
        }
    }
}

/// Bytes one tracked key costs beyond its own length (hash map entry, position, allocation).
const KEY_OVERHEAD: usize = 64;

/// One job's tracked keys and what they cost.
struct Tracked {
    /// `db.table`.
    table: String,
    /// The HBase table and family its rows are written to.
    target: (Arc<str>, Arc<str>),
    keys: LatestChanges,
    /// HBase row keys whose whole family (of `target`) the stream deleted: a joined table's
    /// rows there went with their parent (`on_parent_delete = "delete_children"`; the cascaded
    /// deletes of their own are not in the binlog).
    families_deleted: LatestChanges,
    /// Bytes the keys take (shared with the job, which reads it, see [`ChangeTracker::track`]).
    bytes: Arc<AtomicUsize>,
}

/// Keys changed by the stream while bootstraps of their tables run, per job.
#[derive(Default)]
pub struct ChangeTracker {
    jobs: HashMap<u64, Tracked>,
    /// job id -> the latest position where its whole table changed without row events (a
    /// statement, a DDL): chunks read before it are stale in every row.
    whole_table: HashMap<u64, (u32, u64)>,
}

impl ChangeTracker {
    /// Starts tracking `table` for `job`; the job gets the count of bytes its keys take. Keys at
    /// or below a chunk's low position are dropped when the chunk is handed over, so with
    /// per-chunk snapshots (locking mode `none`) they stay few; a `minimal` snapshot, exact as
    /// of one old position, keeps every key changed since. A job whose count grows past its
    /// bound moves on to per-chunk snapshots (see `core::bootstrap::job`).
    /// `target` is the HBase table and family the table's rows are written to.
    pub fn track(
        &mut self,
        job: u64,
        table: &str,
        target: (Arc<str>, Arc<str>),
    ) -> Arc<AtomicUsize> {
        let bytes = Arc::new(AtomicUsize::new(0));
        self.jobs.insert(
            job,
            Tracked {
                table: table.to_string(),
                target,
                keys: HashMap::new(),
                families_deleted: HashMap::new(),
                bytes: bytes.clone(),
            },
        );
        bytes
    }

    /// Records a family delete the stream routes (`hbase_table`, `family`, row `key`): every row
    /// of a tracked table written there changed.
    pub fn family_deleted(
        &mut self,
        hbase_table: &str,
        family: &str,
        key: &[u8],
        at: &BinlogPosition,
    ) {
        for tracked in self.jobs.values_mut() {
            if &*tracked.target.0 == hbase_table
                && &*tracked.target.1 == family
                && tracked
                    .families_deleted
                    .insert(key.to_vec(), at.sort_key())
                    .is_none()
            {
                tracked
                    .bytes
                    .fetch_add(key.len() + KEY_OVERHEAD, Ordering::Relaxed);
            }
        }
    }

    /// Records that every row of `table` may have changed at `at` without row events (its
    /// resync, recorded there, rewrites them); chunks of running jobs read before `at` are not
    /// written at all.
    pub fn table_changed(&mut self, table: &str, at: &BinlogPosition) {
        for (job, tracked) in &self.jobs {
            if tracked.table == table {
                self.whole_table.insert(*job, at.sort_key());
            }
        }
    }

    pub fn untrack(&mut self, job: u64) {
        self.jobs.remove(&job);
        self.whole_table.remove(&job);
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Whether a job tracks `table` (`db.table`): then the stream writes its rows as whole-row
    /// replaces (see step 3 above).
    pub fn tracks(&self, table: &str) -> bool {
        self.jobs.values().any(|t| t.table == table)
    }

    /// Records a change the stream routes.
    pub fn changed(&mut self, table: &str, target: &RowTarget, at: &BinlogPosition) {
        let key = identity(target);
        for tracked in self.jobs.values_mut() {
            if tracked.table == table && tracked.keys.insert(key.to_vec(), at.sort_key()).is_none()
            {
                tracked
                    .bytes
                    .fetch_add(key.len() + KEY_OVERHEAD, Ordering::Relaxed);
            }
        }
    }

    /// Whether the stream changed the row at `target` after `low` (then the chunk's copy is
    /// not written).
    pub fn changed_after(&self, job: u64, target: &RowTarget, low: &BinlogPosition) -> bool {
        let low = low.sort_key();
        let key = identity(target);
        let key: &[u8] = &key;
        let tracked = self.jobs.get(&job);
        self.whole_table.get(&job).is_some_and(|at| *at > low)
            || tracked
                .and_then(|t| t.keys.get(key))
                .is_some_and(|at| *at > low)
            || tracked
                .and_then(|t| t.families_deleted.get(&target.key))
                .is_some_and(|at| *at > low)
    }

    /// Forgets changes at or below `low`: later chunks of the job are read at or after it
    /// (a chunk's `prune_to`).
    pub fn prune(&mut self, job: u64, low: &BinlogPosition) {
        let low = low.sort_key();
        if let Some(tracked) = self.jobs.get_mut(&job) {
            let mut freed = 0;
            for keys in [&mut tracked.keys, &mut tracked.families_deleted] {
                keys.retain(|key, at| {
                    let keep = *at > low;
                    if !keep {
                        freed += key.len() + KEY_OVERHEAD;
                    }
                    keep
                });
            }
            tracked.bytes.fetch_sub(freed, Ordering::Relaxed);
        }
    }
}

/// What a chunk writes.
pub enum ChunkRows {
    /// MySQL rows of `schema` (a bootstrap, resync or repair): each written as a whole-row
    /// replace.
    Images {
        schema: Arc<TableSchema>,
        rows: Vec<Vec<SqlValue>>,
    },
    /// Some columns of MySQL rows (a backfill after a DDL that changed only those): `schema`
    /// holds the key columns and the columns to write; each row becomes a put of those cells,
    /// and a delete of the `cleared` columns' cells (`family:qualifier`).
    Columns {
        schema: Arc<TableSchema>,
        rows: Vec<Vec<SqlValue>>,
        cleared: Arc<[Arc<[u8]>]>,
    },
    /// HBase rows of `table` that MySQL does not have (a cleanup or repair): deleted.
    Deletes {
        table: Arc<str>,
        family: Arc<str>,
        rows: Vec<DeletedRow>,
    },
}

/// A row a cleanup or repair deletes.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedRow {
    pub target: RowTarget,
    /// A joined table's row (`target.member` set): the cells to delete (`family:qualifier`),
    /// as found in HBase or as its mapping names them. A row of its own: empty (its family goes).
    pub cells: Vec<Arc<[u8]>>,
}

impl DeletedRow {
    /// A row of its own, deleted whole.
    pub fn own(key: Vec<u8>) -> DeletedRow {
        DeletedRow {
            target: RowTarget { key, member: None },
            cells: Vec::new(),
        }
    }
}

/// One chunk of a bootstrap job on its way to the router.
pub struct SnapshotChunk {
    pub job_id: u64,
    /// `db.table`: the name the change tracker knows the table by.
    pub source: String,
    /// The rows are exact as of this position unless the stream changed them after it.
    pub low: BinlogPosition,
    /// The stream must have routed everything up to here before the rows are handed over.
    pub ready_at: BinlogPosition,
    /// After the chunk, the tracker forgets the job's changes at or below this position: no
    /// later chunk of the job is read below it. `None` keeps them all (a reader of the job has
    /// not read yet; see `core::bootstrap::job::copy`).
    pub prune_to: Option<BinlogPosition>,
    pub rows: ChunkRows,
    /// Fires when every sink has made the chunk durable.
    pub written: oneshot::Sender<()>,
}

/// What a bootstrap job asks of the router: the one typed request between the two sides.
pub enum HandoverRequest {
    /// Start recording changes of `db.table` for `job`; replies once recording.
    Track {
        job: u64,
        db: String,
        table: String,
        /// Not a resumption: nothing was copied yet.
        first: bool,
        /// Replies once recording, with the bytes the job's tracked keys take.
        reply: oneshot::Sender<Arc<AtomicUsize>>,
    },
    Chunk(SnapshotChunk),
    /// Reply once the stream has routed everything up to `position`.
    Routed {
        position: BinlogPosition,
        reply: oneshot::Sender<()>,
    },
    Untrack {
        job: u64,
        /// Every chunk was handed over.
        complete: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_changed_after_the_low_watermark_are_dropped() {
        let at = |offset| BinlogPosition::new("b.000002", offset).unwrap();
        let mut t = ChangeTracker::default();
        let bytes = t.track(1, "db.t", (Arc::from("db_t"), Arc::from("d")));
        let row = |key: &[u8]| RowTarget {
            key: key.to_vec(),
            member: None,
        };
        t.changed("db.t", &row(b"k1"), &at(10));
        t.changed("db.t", &row(b"k2"), &at(30));
        t.changed("db.other", &row(b"k3"), &at(30));
        assert!(
            !t.changed_after(1, &row(b"k1"), &at(20)),
            "change before L is in the chunk"
        );
        assert!(t.changed_after(1, &row(b"k2"), &at(20)));
        assert!(!t.changed_after(1, &row(b"k3"), &at(20)), "other table");
        assert!(t.tracks("db.t") && !t.tracks("db.other"));
        assert!(
            t.changed_after(
                1,
                &row(b"k2"),
                &BinlogPosition::new("b.000001", 900).unwrap()
            ),
            "an earlier file"
        );
        assert_eq!(bytes.load(Ordering::Relaxed), 2 * (2 + KEY_OVERHEAD));
        t.prune(1, &at(20));
        assert!(t.changed_after(1, &row(b"k2"), &at(20)));
        assert_eq!(bytes.load(Ordering::Relaxed), 2 + KEY_OVERHEAD, "k1 freed");
        // A statement changed the whole table at 40: chunks read before it are stale.
        t.table_changed("db.t", &at(40));
        assert!(t.changed_after(1, &row(b"k1"), &at(35)));
        assert!(!t.changed_after(1, &row(b"k1"), &at(45)));
        t.untrack(1);
        assert!(t.is_empty() && !t.changed_after(1, &row(b"k2"), &at(0)));
        // Joined rows sharing an HBase row are told apart by their member prefix.
        let bytes = t.track(2, "db.items", (Arc::from("db_orders"), Arc::from("items")));
        let item = |member: &[u8]| RowTarget {
            key: b"1".to_vec(),
            member: Some(Arc::from(member)),
        };
        t.changed("db.items", &item(b"7:"), &at(30));
        assert!(t.changed_after(2, &item(b"7:"), &at(20)));
        assert!(!t.changed_after(2, &item(b"8:"), &at(20)), "a sibling");
        assert!(!t.changed_after(2, &row(b"1"), &at(20)));
        assert!(bytes.load(Ordering::Relaxed) > 0);
        // The parent of row 2 deleted with its children's family: every item there changed.
        t.family_deleted("db_orders", "items", b"2", &at(40));
        t.family_deleted("db_orders", "d", b"3", &at(40));
        let in_row = |key: &[u8], member: &[u8]| RowTarget {
            key: key.to_vec(),
            member: Some(Arc::from(member)),
        };
        assert!(t.changed_after(2, &in_row(b"2", b"8:"), &at(35)));
        assert!(!t.changed_after(2, &in_row(b"2", b"8:"), &at(45)));
        assert!(
            !t.changed_after(2, &in_row(b"3", b"8:"), &at(35)),
            "the parent's family only"
        );
        t.prune(2, &at(45));
        assert!(!t.changed_after(2, &in_row(b"2", b"8:"), &at(0)));
    }
}
