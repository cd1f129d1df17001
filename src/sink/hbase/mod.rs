//! The HBase sink: one writer per partition of the row keys, each batching its changes and
//! writing them with explicit versions.
//!
//! A writer collapses the changes it receives into a batch (one final state per row, see
//! [`batch`]), and writes the batch as soon as its previous write returned (natural batching:
//! the sink loop first takes every change that queued during that write, so under load batches
//! grow by themselves and a lone change waits for nothing), or at once when it holds
//! `pipeline.batch_rows` rows or `pipeline.batch_bytes` bytes. A `pipeline.batch_delay` above
//! zero makes a writer linger up to that long after a batch's first change instead (fewer, larger
//! writes at the cost of latency). The batch is
//! stamped by the pipeline's [`VersionClock`] (at least the version of its last change, above
//! the writer's previous stamp: see `model::version`) and written
//! ([`mutations::write_batch`]). Everything the batch covered is durable once the write
//! returns, which is what the sink loop ([`crate::sink::run`]) needs to acknowledge commit
//! points and barriers.

pub mod batch;
pub mod client;
pub mod mutations;
pub mod wire;

use std::sync::Arc;

use crate::config::Config;
use crate::error::Result;
use crate::model::version::VersionClock;
use crate::model::{RowChange, Version};
use crate::sink::Sink;
use crate::telemetry::health::SharedHealth;
use crate::telemetry::metrics::METRICS;

use self::batch::Batch;
use self::mutations::HbaseWriter;

/// One HBase writer's state between flushes.
pub struct HbaseSink {
    idx: usize,
    /// Taken while a flush runs on a blocking thread.
    hbase: Option<HbaseWriter>,
    batch: Batch,
    /// Changes accepted, and how many of them are written.
    accepted: u64,
    written: u64,
    /// When the batch is written (its first change + `pipeline.batch_delay`, zero by default).
    deadline: Option<tokio::time::Instant>,
    batch_rows: usize,
    batch_bytes: usize,
    batch_delay: std::time::Duration,
    /// Where HBase failures are reported for `/health`.
    health: SharedHealth,
    /// Stamps batches; `last_stamp` is this writer's previous one.
    clock: Arc<VersionClock>,
    last_stamp: i64,
}

impl HbaseSink {
    pub fn new(idx: usize, cfg: &Config, health: SharedHealth, clock: Arc<VersionClock>) -> Self {
        HbaseSink {
            idx,
            hbase: Some(
                HbaseWriter::new(&cfg.hbase, idx)
                    .with_joined_families(cfg.mapping.joined_families()),
            ),
            batch: Batch::default(),
            accepted: 0,
            written: 0,
            deadline: None,
            batch_rows: cfg.pipeline.batch_rows,
            batch_bytes: cfg.pipeline.batch_bytes,
            batch_delay: cfg.pipeline.batch_delay,
            health,
            last_stamp: clock.floor().0 - 1,
            clock,
        }
    }

    /// Writes the batch; everything accepted so far is then durable.
    async fn flush(&mut self) -> Result<()> {
        if let Some((version, tables)) = self.batch.take() {
            let gap = mutations::stamp_gap(&tables);
            let stamp = self.clock.stamp(version, self.last_stamp, gap).await;
            METRICS.version_lead_ms.set(stamp.0 - Version::now().0);
            mutations::write_batch(&mut self.hbase, self.idx, stamp, tables, &self.health).await?;
            self.last_stamp = stamp.0;
        }
        self.written = self.accepted;
        self.deadline = None;
        Ok(())
    }
}

impl Sink for HbaseSink {
    type Item = RowChange;

    async fn accept(&mut self, changes: Vec<RowChange>) -> Result<()> {
        for c in changes {
            if self.batch.conflicts(&c) {
                // A joined row after its family's delete needs a stamp of its own.
                self.flush().await?;
            }
            self.accepted += 1;
            self.batch.add(c);
        }
        self.deadline
            .get_or_insert_with(|| tokio::time::Instant::now() + self.batch_delay);
        if self.batch.len() >= self.batch_rows || self.batch.bytes() >= self.batch_bytes {
            self.flush().await?;
        }
        Ok(())
    }

    fn durable(&self) -> u64 {
        self.written
    }

    async fn ready(&mut self) {
        match self.deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    }

    async fn progress(&mut self) -> Result<()> {
        self.flush().await
    }

    async fn finish(&mut self) -> Result<()> {
        self.flush().await
    }
}
