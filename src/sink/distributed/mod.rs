//! Distributed mode: one `run --role capture` process and any number of `run --role apply`
//! workers, joined by a Kafka topic (`[kafka] internal_topic`), so the HBase side scales past one
//! machine.
//!
//! ```text
//!  capture: binlog + bootstraps -> Router -> capture writer --(partition = hash(table, key))--> topic
//!  apply:   topic --(consumer group; each partition owned by one worker)--> per-partition batch
//!           -> HBase (mutateRowsTs at the batch's last version) -> commit the partition's offset
//! ```
//!
//! **Capture** ([`capture`]). The router is the single-process one (see `core::router`); its sink
//! is a Kafka producer instead of HBase. Every change goes to the partition of its (table, row
//! key), encoded losslessly with its version (see [`codec`]), stamped with the capture *run*
//! (random per pipeline start) and its *sequence number* within that run and partition. The
//! checkpoint slot is acknowledged only when Kafka has acknowledged every message before the
//! commit (see `sink::kafka::outbox`), so a restart replays from a position every later change of
//! which is either in Kafka or replayed. Capture uses one producer task: two tasks writing one
//! partition would interleave their histories.
//!
//! **Apply** ([`apply`]). A worker keeps one batch per partition it consumes and collapses it
//! exactly as the single-process writer does (`sink::hbase::batch`). Why stamping a batch with its
//! last version is still exact: within one run, a partition's sequence is a contiguous,
//! version-ordered slice of the history of every row in it (one row always maps to one partition,
//! the router emits in binlog order, the idempotent producer keeps order without duplicates). A
//! batch is flushed before it would take a message that does not continue it, i.e. from another
//! run (a capture restart replays older versions) or with a sequence gap (a lost delivery, a
//! rewind after a rebalance). So every batch is a gapless slice of one run: each row's last state
//! in it is its true state as of the batch's last version, which is what the invariant requires
//! (`docs/ARCHITECTURE.md`). Offsets are committed only after HBase took the batch; a worker that
//! dies (or loses a partition) leaves its uncommitted messages to the next owner, which rewrites
//! the same states at the same versions: duplicates are harmless, and writes that arrive late
//! carry versions that HBase orders correctly. A batch of a partition no longer assigned to the
//! worker is dropped unwritten (its new owner re-reads it).
//!
//! Limit: like any late write, a zombie worker's write could land below a row delete that a major
//! compaction has already purged; the window is the seconds between a rebalance and the zombie's
//! last flush, against compactions that run hours apart.

pub mod apply;
pub mod capture;
pub mod codec;
