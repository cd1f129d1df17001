//! Distributed mode: one `run --role capture` process and any number of `run --role apply`
//! workers, joined by a Kafka topic (`[kafka] internal_topic`), so the HBase side scales past one
//! machine.
//!
//! ```text
//!  capture: binlog + bootstraps -> Router -> capture writer --(partition = hash(table, key))--> topic
//!  apply:   topic --(consumer group; each partition owned by one worker)--> per-partition batch
//!           -> HBase (mutateRowsTs, stamped above the partition's stamps) -> commit the offset
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
//! exactly as the single-process writer does (`sink::hbase::batch`). Why a batch's rows carry
//! their latest state: within one run, a partition's sequence is a contiguous, stream-ordered
//! slice of the history of every row in it (one row always maps to one partition, the router
//! emits in binlog order, the idempotent producer keeps order without duplicates). A batch is
//! flushed before it would take a message that does not continue it, i.e. from another run (a
//! capture restart replays older changes) or with a sequence gap (a lost delivery, a rewind
//! after a rebalance). So every batch is a gapless slice of one run. It is stamped above the
//! partition's previous stamps, and a worker taking a partition over starts above every stamp
//! an earlier owner can have written (see `apply::PartitionStamps`), so one row's writes
//! strictly increase, which is what the invariant requires (`docs/ARCHITECTURE.md`). Offsets are committed only after HBase took the
//! batch; a worker that dies (or loses a partition) leaves its uncommitted messages to the next
//! owner, which rewrites the same states above. A batch of a partition no longer assigned to
//! the worker is dropped unwritten (its new owner re-reads it).
//!
//! Limit: a zombie worker's last write lands below the new owner's stamps, so it cannot hide
//! them; like any write below a row delete, a major compaction that purged that delete in the
//! seconds between the rebalance and the zombie's last flush (compactions run hours apart)
//! could let it resurrect the row.

pub mod apply;
pub mod capture;
pub mod codec;
