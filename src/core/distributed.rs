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
//! **Capture.** The router is the single-process one (see `core::pipeline`); its writer is a
//! Kafka producer instead of HBase. Every change goes to the partition of its (table, row key),
//! encoded losslessly with its version (see `core::change_codec`), stamped with the capture
//! *run* (random per pipeline start) and its *sequence number* within that run and partition.
//! The checkpoint slot is acknowledged only when Kafka has acknowledged every message before the
//! commit (see `sink::kafka::Outbox`), so a restart replays from a position every later change
//! of which is either in Kafka or replayed. Capture uses one producer task: two tasks writing one
//! partition would interleave their histories.
//!
//! **Apply.** A worker keeps one batch per partition it consumes and collapses it exactly as the
//! single-process writer does (`core::batch`). Why stamping a batch with its last version is
//! still exact: within one run, a partition's sequence is a contiguous, version-ordered slice of
//! the history of every row in it (one row always maps to one partition, the router emits in
//! binlog order, the idempotent producer keeps order without duplicates). A batch is flushed
//! before it would take a message that does not continue it, i.e. from another run (a capture
//! restart replays older versions) or with a sequence gap (a lost delivery, a rewind after a
//! rebalance). So every batch is a gapless slice of one run: each row's last state in it is its
//! true state as of the batch's last version, which is what NOTES §1 requires. Offsets are
//! committed only after HBase took the batch; a worker that dies (or loses a partition) leaves
//! its uncommitted messages to the next owner, which rewrites the same states at the same
//! versions: duplicates are harmless, and writes that arrive late carry versions that HBase
//! orders correctly. A batch of a partition no longer assigned to the worker is dropped unwritten
//! (its new owner re-reads it).
//!
//! Limit: like any late write, a zombie worker's write could land below a row delete that a major
//! compaction has already purged; the window is the seconds between a rebalance and the zombie's
//! last flush, against compactions that run hours apart.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::admin::http::SharedHealth;
use crate::admin::metrics::METRICS;
use crate::config::{Config, KafkaConfig};
use crate::core::batch::Batch;
use crate::core::change_codec;
use crate::core::checkpoint::CheckpointTracker;
use crate::core::pipeline::{partition_of, write_batch, WriterMsg};
use crate::core::restart::Restarts;
use crate::error::{Result, SyncError};
use crate::sink::hbase::HbaseWriter;
use crate::sink::kafka::{client_config, producer, Marker, Outbox};

/// How long an apply worker keeps consuming through nothing but errors before it fails.
const CONSUMER_ERRORS_TOLERATED: std::time::Duration = std::time::Duration::from_secs(60);

/// Which part of the work a `run` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Binlog and bootstraps straight into HBase (single process).
    All,
    /// Binlog and bootstraps into the internal Kafka topic.
    Capture,
    /// Internal Kafka topic into HBase, one of a consumer group.
    Apply,
}

/// The capture role's writer: puts the router's changes on the internal topic.
pub async fn capture_writer(
    kafka: KafkaConfig,
    partitions: i32,
    slot: usize,
    mut rx: mpsc::Receiver<WriterMsg>,
    tracker: Arc<CheckpointTracker>,
) -> Result<()> {
    let run = uuid::Uuid::new_v4().as_u64_pair().0;
    info!(run, topic = %kafka.internal_topic, partitions, "capture: writing changes to Kafka");
    let mut outbox = Outbox::new(producer(&kafka)?, slot, tracker);
    let mut next_seq = vec![0u64; partitions as usize];
    while let Some(msg) = outbox.next(&mut rx).await? {
        match msg {
            WriterMsg::Changes { changes, _permit } => {
                for c in &changes {
                    let p = partition_of(c, partitions as usize);
                    let payload = change_codec::encode(run, next_seq[p], c);
                    next_seq[p] += 1;
                    outbox
                        .send(&kafka.internal_topic, Some(p as i32), &c.key, &payload)
                        .await?;
                }
                METRICS.captured_changes.inc_by(changes.len() as u64);
                outbox.mark(Marker::Permit(_permit));
            }
            WriterMsg::Commit {
                version,
                position,
                gtid,
            } => outbox.mark(Marker::Commit {
                version,
                position,
                gtid,
            }),
            WriterMsg::Barrier(b) => outbox.mark(Marker::Barrier(b)),
        }
    }
    Ok(())
}

/// Runs an apply worker until `shutdown` (then flushes and commits) or a definite error;
/// failures restart it as `[restart]` says.
pub async fn run_apply(
    cfg: Config,
    mut shutdown: watch::Receiver<bool>,
    health: SharedHealth,
) -> Result<()> {
    let kafka = cfg.kafka.clone().ok_or_else(|| {
        SyncError::Other(
            "run --role apply reads the internal topic: add a [kafka] section with brokers".into(),
        )
    })?;
    let mut restarts = Restarts::new(cfg.restart.clone());
    loop {
        let applied_before = METRICS.applied_changes.get();
        let result = apply_once(&cfg, &kafka, shutdown.clone(), &health).await;
        health.lock().expect("health lock").streaming = false;
        let error = match result {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() || matches!(e, SyncError::Other(_)) => e,
            Err(e) => return Err(e),
        };
        health.lock().expect("health lock").reason = Some(error.to_string());
        // The worker recovered if it wrote something before failing again.
        if METRICS.applied_changes.get() > applied_before {
            restarts.recovered();
        }
        if !restarts
            .wait_to_restart(
                &error,
                "apply worker failed; restarting from the committed offsets",
                &mut shutdown,
            )
            .await?
        {
            return Ok(());
        }
    }
}

/// Logs the partitions a worker gets and loses, so operators see the work move.
struct ApplyContext;

impl ClientContext for ApplyContext {}

impl ConsumerContext for ApplyContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let list = |l: &TopicPartitionList| {
            l.elements()
                .iter()
                .map(|e| e.partition().to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match rebalance {
            Rebalance::Assign(l) => {
                info!(partitions = %list(l), "apply worker: partitions assigned")
            }
            Rebalance::Revoke(l) => {
                info!(partitions = %list(l), "apply worker: partitions revoked")
            }
            Rebalance::Error(e) => warn!(error = %e, "apply worker: rebalance failed"),
        }
    }
}

/// One partition's batch: a gapless slice of one capture run's sequence.
struct PartitionBatch {
    batch: Batch,
    run: u64,
    next_seq: u64,
    /// Offset of the batch's last message.
    last_offset: i64,
    deadline: Option<tokio::time::Instant>,
}

struct ApplyWorker<'a> {
    cfg: &'a Config,
    topic: String,
    consumer: StreamConsumer<ApplyContext>,
    hbase: Option<HbaseWriter>,
    health: SharedHealth,
    partitions: HashMap<i32, PartitionBatch>,
}

async fn apply_once(
    cfg: &Config,
    kafka: &KafkaConfig,
    mut shutdown: watch::Receiver<bool>,
    health: &SharedHealth,
) -> Result<()> {
    // Workers may start before the capture process: the topic is created by whoever is first.
    crate::sink::kafka::ensure_internal_topic(kafka).await?;
    let consumer: StreamConsumer<ApplyContext> = client_config(kafka)
        .set("group.id", &kafka.apply_group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .create_with_context(ApplyContext)
        .map_err(|e| SyncError::Kafka(format!("apply consumer: {e}")))?;
    consumer.subscribe(&[&kafka.internal_topic]).map_err(|e| {
        SyncError::Kafka(format!("cannot subscribe to {}: {e}", kafka.internal_topic))
    })?;
    info!(topic = %kafka.internal_topic, group = %kafka.apply_group, "apply worker: consuming");
    let mut w = ApplyWorker {
        cfg,
        topic: kafka.internal_topic.clone(),
        consumer,
        hbase: Some(HbaseWriter::new(
            &cfg.hbase.thrift,
            cfg.hbase.timeout,
            cfg.hbase.max_versions,
        )),
        health: health.clone(),
        partitions: HashMap::new(),
    };
    {
        let mut h = health.lock().expect("health lock");
        h.streaming = true;
        h.reason = None;
    }
    // Consumer errors are mostly transient (a broker restarting, a coordinator moving) and
    // librdkafka recovers from them by itself; only a minute of nothing but errors fails the
    // worker (and the restart strategy takes over).
    let mut failing_since: Option<Instant> = None;
    loop {
        let next_deadline = w.partitions.values().filter_map(|p| p.deadline).min();
        tokio::select! {
            received = w.consumer.recv() => {
                let (partition, offset, payload) = match received {
                    Ok(m) => (m.partition(), m.offset(), m.payload().unwrap_or_default().to_vec()),
                    Err(e) => {
                        let since = *failing_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > CONSUMER_ERRORS_TOLERATED {
                            return Err(SyncError::Kafka(format!(
                                "consuming {} failed for {CONSUMER_ERRORS_TOLERATED:?}: {e}",
                                w.topic
                            )));
                        }
                        warn!(error = %e, "apply worker: consumer error; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        continue;
                    }
                };
                failing_since = None;
                let encoded = change_codec::decode(&payload).map_err(|e| {
                    SyncError::Other(format!(
                        "message {}/{partition}@{offset} is not a mysql2hbase change ({e}): is another producer writing to [kafka] internal_topic?",
                        w.topic
                    ))
                })?;
                w.add(partition, offset, encoded).await?;
            }
            _ = tokio::time::sleep_until(next_deadline.unwrap_or_else(tokio::time::Instant::now)), if next_deadline.is_some() => {
                let now = tokio::time::Instant::now();
                let due: Vec<i32> = w
                    .partitions
                    .iter()
                    .filter(|(_, p)| p.deadline.is_some_and(|d| d <= now))
                    .map(|(&p, _)| p)
                    .collect();
                for p in due {
                    w.flush(p).await?;
                }
            }
            _ = shutdown.changed() => {
                info!("shutdown requested: flushing what is in flight");
                let all: Vec<i32> = w.partitions.keys().copied().collect();
                for p in all {
                    w.flush(p).await?;
                }
                // Make the last commits before the consumer leaves the group.
                let _ = w.consumer.commit_consumer_state(CommitMode::Sync);
                return Ok(());
            }
        }
    }
}

impl ApplyWorker<'_> {
    async fn add(
        &mut self,
        partition: i32,
        offset: i64,
        encoded: change_codec::Encoded,
    ) -> Result<()> {
        let continues = self.partitions.get(&partition).is_none_or(|p| {
            p.batch.is_empty() || (p.run == encoded.run && p.next_seq == encoded.seq)
        });
        if !continues {
            debug!(
                partition,
                offset, "message does not continue the batch (new run or sequence gap): flushing"
            );
            self.flush(partition).await?;
        }
        let p = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionBatch {
                batch: Batch::default(),
                run: encoded.run,
                next_seq: encoded.seq,
                last_offset: offset,
                deadline: None,
            });
        p.run = encoded.run;
        p.next_seq = encoded.seq + 1;
        p.last_offset = offset;
        p.batch.add(encoded.change);
        p.deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + self.cfg.pipeline.batch_delay);
        let full = p.batch.len() >= self.cfg.pipeline.batch_rows
            || p.batch.bytes() >= self.cfg.pipeline.batch_bytes;
        if full {
            self.flush(partition).await?;
        }
        Ok(())
    }

    /// Writes the partition's batch, then commits its offset. A batch of a partition this worker
    /// no longer owns is dropped: its new owner reads it again from the committed offset.
    async fn flush(&mut self, partition: i32) -> Result<()> {
        let Some(p) = self.partitions.get_mut(&partition) else {
            return Ok(());
        };
        p.deadline = None;
        let Some((version, tables)) = p.batch.take() else {
            return Ok(());
        };
        let next_offset = p.last_offset + 1;
        let owned = self
            .consumer
            .assignment()
            .map(|a| a.find_partition(&self.topic, partition).is_some())
            .unwrap_or(false);
        if !owned {
            info!(
                partition,
                "partition reassigned: its unwritten batch is left to the new owner"
            );
            self.partitions.remove(&partition);
            return Ok(());
        }
        let changes: usize = tables.iter().map(|(_, rows)| rows.len()).sum();
        write_batch(
            &mut self.hbase,
            partition as usize,
            version,
            tables,
            &self.health,
        )
        .await?;
        METRICS.applied_changes.inc_by(changes as u64);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(&self.topic, partition, Offset::Offset(next_offset))
            .map_err(|e| SyncError::Kafka(format!("offset list: {e}")))?;
        // Async: a lost commit only means the next owner rewrites the same versions.
        if let Err(e) = self.consumer.commit(&offsets, CommitMode::Async) {
            warn!(partition, error = %e, "offset commit failed; the partition's last batch may be applied again");
        }
        Ok(())
    }
}
