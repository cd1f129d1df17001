//! The checkpoint: the binlog position below which every sink has made everything durable, and
//! the task that stores it.
//!
//! The router sends each sink, in order with its items, a commit point at every transaction end.
//! A sink acknowledges the point on its [`CommitSlot`] once everything it received before the
//! point is durable (see `sink::run`). The checkpoint is the lowest acknowledged point over all
//! slots: every change before it is in every sink, and it is always a transaction boundary, so a
//! restart from it replays whole transactions (with their TABLE_MAP events) and rewrites the same
//! versions.
//!
//! [`checkpoint_task`] stores the checkpoint in the state store whenever it moved, at most once
//! per `pipeline.checkpoint_interval`, with the GTID set executed up to it: the one followed
//! along the stream (MySQL), or the one the server computes for the position (MariaDB, at most
//! once a minute, see [`GTID_REFRESH`]). [`store_final`] stores it once more at shutdown with an
//! exact GTID set.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::error::Result;
use crate::model::version::VersionClock;
use crate::model::{BinlogPosition, CommitPoint, CommitSlot};
use crate::source::binlog::{self, FileOrigins};
use crate::source::mysql as my;
use crate::state::{Checkpoint, StateStore};
use crate::telemetry::metrics::METRICS;

/// How often the checkpoint task asks MariaDB for the GTID set of the checkpoint. The server
/// answers `BINLOG_GTID_POS` by reading the binlog file from its start (a quarter of a second of
/// server CPU deep into a 1 GB file), too much for every checkpoint. In between, the last answer
/// is stored: a GTID set behind its position is still a safe place to resume from, since a
/// replay rewrites identical versions. The checkpoint stored at shutdown gets an exact one.
const GTID_REFRESH: Duration = Duration::from_secs(60);

/// The longest wait for one checkpoint store, and for the GTID lookup before it.
const STORE_TIMEOUT: Duration = Duration::from_secs(30);

/// The commit slots of every sink; the checkpoint is the lowest of them.
pub struct CheckpointTracker {
    slots: Vec<CommitSlot>,
}

impl CheckpointTracker {
    /// `sinks` slots, every one starting at the point the stream starts from.
    pub fn new(sinks: usize, start: CommitPoint) -> Self {
        CheckpointTracker {
            slots: (0..sinks).map(|_| CommitSlot::new(start.clone())).collect(),
        }
    }

    /// The slot sink `idx` acknowledges on.
    pub fn slot(&self, idx: usize) -> CommitSlot {
        self.slots[idx].clone()
    }

    /// The lowest acknowledged point over all sinks.
    pub fn low_watermark(&self) -> CommitPoint {
        self.slots
            .iter()
            .map(CommitSlot::get)
            .min_by(|a, b| a.position.cmp(&b.position))
            .expect("at least one sink")
    }
}

/// Where checkpoints come from: the source server and what its binlog files began with.
#[derive(Clone)]
pub struct Source {
    pub pool: mysql_async::Pool,
    /// See `source::mysql::source_id`.
    pub id: String,
    /// When the files the tailer read were created.
    pub origins: FileOrigins,
    /// Origins worked out so far, by file index (see `source::binlog::origin`).
    pub known: Arc<Mutex<HashMap<u32, String>>>,
    /// The pipeline's versions: the highest stamp is stored with the checkpoint.
    pub versions: Arc<VersionClock>,
}

impl Source {
    async fn checkpoint(&self, position: BinlogPosition, gtid_set: Option<String>) -> Checkpoint {
        Checkpoint {
            file_origin: self.origin_of(&position).await,
            position,
            gtid_set,
            source_id: Some(self.id.clone()),
            highest_version: Some(self.versions.highest()),
        }
    }

    /// What the position's file began with; `None` when that cannot be told (a checkpoint
    /// without it is resumed without the check).
    async fn origin_of(&self, position: &BinlogPosition) -> Option<String> {
        let index = position.index();
        if let Some(known) = self.known.lock().expect("origins lock").get(&index) {
            return Some(known.clone());
        }
        let created = *self.origins.lock().expect("origins lock").get(&index)?;
        let mut conn = self.pool.get_conn().await.ok()?;
        let second = my::second_event(&mut conn, position.file()).await.ok()??;
        let origin = binlog::origin(created, &second);
        self.known
            .lock()
            .expect("origins lock")
            .insert(index, origin.clone());
        Some(origin)
    }
}

/// Stores the low watermark whenever it moved, at most once per `interval`, until `stop`.
pub async fn checkpoint_task(
    store: StateStore,
    source: Source,
    tracker: Arc<CheckpointTracker>,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut last: Option<BinlogPosition> = None;
    // MariaDB: the last GTID set the server computed, and when.
    let mut computed_gtid: Option<(Instant, Option<String>)> = None;
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let point = tracker.low_watermark();
        if last.as_ref() == Some(&point.position) {
            continue;
        }
        let gtid_set = match (point.gtid, &computed_gtid) {
            (Some(followed), _) => Some(followed.to_string()),
            (None, Some((at, computed))) if at.elapsed() < GTID_REFRESH => computed.clone(),
            (None, _) => {
                let computed = tokio::time::timeout(
                    STORE_TIMEOUT,
                    my::gtid_set_at(&source.pool, &point.position),
                )
                .await
                .unwrap_or(None);
                computed_gtid = Some((Instant::now(), computed.clone()));
                computed
            }
        };
        // Bounded: a state store that hangs must not stop checkpoints for good.
        let stored = tokio::time::timeout(STORE_TIMEOUT, async {
            let checkpoint = source.checkpoint(point.position, gtid_set).await;
            store
                .store_checkpoint(&checkpoint)
                .await
                .map(|()| checkpoint)
        })
        .await;
        match stored {
            Ok(Ok(checkpoint)) => {
                debug!(position = %checkpoint.position, "checkpoint stored");
                METRICS.checkpoint_stored(&checkpoint.position);
                last = Some(checkpoint.position);
            }
            Ok(Err(e)) => warn!(error = %e, "cannot store the checkpoint; will retry"),
            Err(_) => {
                warn!("storing the checkpoint took longer than {STORE_TIMEOUT:?}; will retry")
            }
        }
    }
}

/// Stores the low watermark with an exact GTID set: the one followed along the stream (MySQL),
/// else what the server computes for the position (MariaDB), else none.
pub async fn store_final(
    store: &StateStore,
    source: &Source,
    tracker: &CheckpointTracker,
) -> Result<()> {
    let point = tracker.low_watermark();
    let gtid_set = match point.gtid {
        Some(g) => Some(g.to_string()),
        None => my::gtid_set_at(&source.pool, &point.position).await,
    };
    store
        .store_checkpoint(&source.checkpoint(point.position.clone(), gtid_set).await)
        .await?;
    info!(position = %point.position, "checkpoint stored");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(file: &str, offset: u64, gtid: Option<&str>) -> CommitPoint {
        CommitPoint::new(
            BinlogPosition::new(file, offset).unwrap(),
            gtid.map(Arc::from),
        )
    }

    #[test]
    fn the_slowest_sink_holds_the_checkpoint() {
        let t = CheckpointTracker::new(2, point("b.000001", 4, None));
        t.slot(0).ack(&point("b.000001", 100, None));
        assert_eq!(t.low_watermark(), point("b.000001", 4, None));
        t.slot(1).ack(&point("b.000002", 50, Some("g2")));
        assert_eq!(t.low_watermark(), point("b.000001", 100, None));
        // Never moves back.
        t.slot(1).ack(&point("b.000001", 100, None));
        t.slot(0).ack(&point("b.000002", 50, Some("g2")));
        assert_eq!(t.low_watermark(), point("b.000002", 50, Some("g2")));
    }
}
