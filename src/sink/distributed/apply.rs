//! The apply worker of the distributed mode: consumes its share of the internal topic's
//! partitions (a consumer group), keeps one batch per partition, writes each batch to HBase
//! stamped above the partition's previous stamps (see [`PartitionStamps`]), then commits the
//! partition's offset (with the highest stamp). Why that is exact: the module doc of
//! [`crate::sink::distributed`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::FutureExt;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::config::{Config, KafkaConfig};
use crate::error::{Result, SyncError};
use crate::model::version::{start_floor, VersionClock};
use crate::model::Version;
use crate::sink::distributed::codec;
use crate::sink::hbase::batch::Batch;
use crate::sink::hbase::mutations::{stamp_gap, write_batch, HbaseWriter};
use crate::sink::kafka::client_config;
use crate::telemetry::health::SharedHealth;
use crate::telemetry::metrics::METRICS;

/// How long an apply worker keeps consuming through nothing but errors before it fails.
const CONSUMER_ERRORS_TOLERATED: std::time::Duration = std::time::Duration::from_secs(60);

/// Logs the partitions a worker gets and loses, so operators see the work move, and counts the
/// rebalances (after one, a partition's next offset is the committed one again).
#[derive(Default)]
struct ApplyContext {
    rebalances: AtomicU64,
}

impl ClientContext for ApplyContext {}

impl ConsumerContext for ApplyContext {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::SeqCst);
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

/// A partition's stamps (see `model::version`): the last one this worker wrote, and its clock,
/// whose floor is above every stamp an earlier owner (even a zombie one) can have written: those
/// were at most `LEAD_LIMIT_MS` ahead of the clock, and at most the highest stamp committed in
/// the offset's metadata (`highest=<ms>`), which also holds if the clock stepped back.
struct PartitionStamps {
    last: i64,
    clock: VersionClock,
}

/// The metadata of a committed offset.
fn highest_metadata(highest: i64) -> String {
    format!("highest={highest}")
}

fn parse_highest(metadata: &str) -> Option<i64> {
    metadata.strip_prefix("highest=")?.parse().ok()
}

struct ApplyWorker<'a> {
    cfg: &'a Config,
    topic: String,
    consumer: StreamConsumer<ApplyContext>,
    hbase: Option<HbaseWriter>,
    health: SharedHealth,
    partitions: HashMap<i32, PartitionBatch>,
    stamps: HashMap<i32, PartitionStamps>,
    /// Per partition: the offset the next message must have (`None`: nothing was committed
    /// yet), as of the rebalance count it was learned at.
    next_offsets: HashMap<i32, (u64, Option<i64>)>,
}

/// Consumes the internal topic into HBase until `shutdown` (then flushes and commits) or an
/// error; the caller restarts it (see `core::supervisor`).
pub async fn apply_once(
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
        .create_with_context(ApplyContext::default())
        .map_err(|e| SyncError::Kafka(format!("apply consumer: {e}")))?;
    consumer.subscribe(&[&kafka.internal_topic]).map_err(|e| {
        SyncError::Kafka(format!("cannot subscribe to {}: {e}", kafka.internal_topic))
    })?;
    info!(topic = %kafka.internal_topic, group = %kafka.apply_group, "apply worker: consuming");
    let mut w = ApplyWorker {
        cfg,
        topic: kafka.internal_topic.clone(),
        consumer,
        // Apply workers (one per process) spread over several Thrift servers by process id.
        hbase: Some(
            HbaseWriter::new(&cfg.hbase, std::process::id() as usize)
                .with_joined_families(cfg.mapping.joined_families()),
        ),
        health: health.clone(),
        partitions: HashMap::new(),
        stamps: HashMap::new(),
        next_offsets: HashMap::new(),
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
                w.add_message(partition, offset, &payload).await?;
                // What the consumer has fetched already joins the batches before they are due
                // (natural batching: with `batch_delay` zero they are due at once).
                loop {
                    match w.consumer.recv().now_or_never() {
                        Some(Ok(m)) => {
                            let payload = m.payload().unwrap_or_default().to_vec();
                            w.add_message(m.partition(), m.offset(), &payload).await?;
                        }
                        Some(Err(e)) => {
                            warn!(error = %e, "apply worker: consumer error; retrying");
                            break;
                        }
                        None => break,
                    }
                }
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
    /// Refuses a message that does not follow what was read (or committed) before it in its
    /// partition: the changes in between are gone from the topic (retention, deletion) and
    /// HBase would miss them.
    fn check_continuity(&mut self, partition: i32, offset: i64) -> Result<()> {
        let generation = self.consumer.context().rebalances.load(Ordering::SeqCst);
        let next = match self.next_offsets.get(&partition) {
            Some((g, next)) if *g == generation => *next,
            _ => self.committed_offset(partition)?,
        };
        let first_kept = match next {
            Some(next) if offset > next => Some(next),
            // Nothing committed yet: the partition must still begin at offset 0.
            None if offset > 0 => Some(0),
            _ => None,
        };
        if let Some(from) = first_kept {
            return Err(SyncError::definite(
                format!(
                    "changes at offsets {from} to {} of {}/{partition} were never applied and are gone from the topic (its retention expired, or they were deleted)",
                    offset - 1,
                    self.topic
                ),
                format!(
                    "HBase misses them: bootstrap every captured table again (mysql2hbase bootstrap db.table), then move the group past the gap (kafka-consumer-groups.sh --group {} --topic {}:{partition} --reset-offsets --to-offset {offset} --execute); keep the topic's retention.ms = -1",
                    self.cfg.kafka.as_ref().map_or("?", |k| k.apply_group.as_str()),
                    self.topic
                ),
            ));
        }
        self.next_offsets
            .insert(partition, (generation, Some(offset + 1)));
        Ok(())
    }

    /// The partition's committed offset (`None`: nothing committed yet).
    fn committed_offset(&self, partition: i32) -> Result<Option<i64>> {
        let committed = self.committed(partition)?;
        Ok(committed
            .find_partition(&self.topic, partition)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            }))
    }

    async fn add_message(&mut self, partition: i32, offset: i64, payload: &[u8]) -> Result<()> {
        let encoded = codec::decode(payload).map_err(|e| {
            SyncError::definite(
                format!(
                    "message {}/{partition}@{offset} is not a mysql2hbase change ({e})",
                    self.topic
                ),
                "make sure only `run --role capture` writes to [kafka] internal_topic (or give this service a topic of its own)",
            )
        })?;
        self.add(partition, offset, encoded).await
    }

    async fn add(&mut self, partition: i32, offset: i64, encoded: codec::Encoded) -> Result<()> {
        self.check_continuity(partition, offset)?;
        let continues = self.partitions.get(&partition).is_none_or(|p| {
            p.batch.is_empty() || (p.run == encoded.run && p.next_seq == encoded.seq)
        });
        if !continues {
            debug!(
                partition,
                offset, "message does not continue the batch (new run or sequence gap): flushing"
            );
            self.flush(partition).await?;
        } else if self
            .partitions
            .get(&partition)
            .is_some_and(|p| p.batch.conflicts(&encoded.change))
        {
            // A joined row after its family's delete needs a stamp of its own.
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
            self.stamps.remove(&partition);
            return Ok(());
        }
        let changes: usize = tables.iter().map(|(_, rows)| rows.len()).sum();
        let stamp = self.stamp(partition, version, stamp_gap(&tables)).await?;
        write_batch(
            &mut self.hbase,
            partition as usize,
            stamp,
            tables,
            &self.health,
        )
        .await?;
        METRICS.applied_changes.inc_by(changes as u64);
        if let Err(e) = self.commit(partition, next_offset, stamp.0) {
            warn!(partition, error = %e, "offset commit failed; the partition's last batch may be applied again");
        }
        Ok(())
    }

    /// The stamp of the partition's next batch: above its previous one, and (on the first
    /// batch after taking the partition) above every stamp an earlier owner can have written.
    async fn stamp(&mut self, partition: i32, version: Version, gap: i64) -> Result<Version> {
        if !self.stamps.contains_key(&partition) {
            let floor = start_floor(Version::now().0, self.committed_highest(partition)?);
            let clock = VersionClock::new(floor);
            let last = floor - 1;
            self.stamps
                .insert(partition, PartitionStamps { last, clock });
        }
        let st = self.stamps.get_mut(&partition).expect("inserted above");
        let stamp = st.clock.stamp(version, st.last, gap).await;
        st.last = stamp.0;
        METRICS.version_lead_ms.set(stamp.0 - Version::now().0);
        Ok(stamp)
    }

    /// The highest stamp an earlier owner committed with the partition's offset.
    fn committed_highest(&self, partition: i32) -> Result<Option<i64>> {
        Ok(self
            .committed(partition)?
            .find_partition(&self.topic, partition)
            .and_then(|e| parse_highest(e.metadata())))
    }

    /// The group's committed offset of the partition, with its metadata.
    fn committed(&self, partition: i32) -> Result<TopicPartitionList> {
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(&self.topic, partition);
        tokio::task::block_in_place(|| {
            self.consumer
                .committed_offsets(wanted, std::time::Duration::from_secs(30))
        })
        .map_err(|e| {
            SyncError::Kafka(format!(
                "committed offset of {}/{partition}: {e}",
                self.topic
            ))
        })
    }

    /// Commits `offset` of the partition with the highest stamp in its metadata.
    fn commit(
        &self,
        partition: i32,
        offset: i64,
        highest: i64,
    ) -> std::result::Result<(), rdkafka::error::KafkaError> {
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        if let Some(mut elem) = offsets.find_partition(&self.topic, partition) {
            elem.set_metadata(highest_metadata(highest));
        }
        // Async: a lost commit only means the next owner rewrites the same states, above.
        self.consumer.commit(&offsets, CommitMode::Async)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_stamp_round_trips_through_offset_metadata() {
        assert_eq!(
            parse_highest(&highest_metadata(1_700_000_000_123)),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_highest(""),
            None,
            "an offset committed before versions"
        );
        assert_eq!(parse_highest("other=1"), None);
    }
}
