//! Stall detection: a pipeline that waits on something (the router on a sink, a sink on HBase)
//! and makes no progress for `pipeline.stall_timeout` is stalled, whatever it waits on.
//!
//! Every call to a server has its own timeout (Thrift sockets, MySQL connects, the binlog's
//! heartbeats), but a wait can also hang between them: a lock the server never grants, a call
//! whose timeout resets with every trickled byte, a bug. This is the bound over all of them.
//! Each party that has work in hand holds a [`Busy`] guard while it has it (the router while it
//! routes an event or hands a chunk over, a sink while it holds items that are not durable yet)
//! and reports [`StallWatch::progress`] whenever work gets done. The pipeline waits on
//! [`StallWatch::stalled`] beside its work: it resolves when someone has been busy and nothing
//! progressed for the limit; the pipeline then fails with a transient error and restarts from
//! the checkpoint. Idle is not stalled: with nobody busy (no changes waiting) it never fires.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

// tokio's clock, so tests can run it paused.
use tokio::time::Instant;

/// Shared by the parties of one pipeline life.
pub struct StallWatch {
    started: Instant,
    limit: Duration,
    /// Milliseconds since `started` of the last progress.
    last_progress_ms: AtomicU64,
    /// Parties with work in hand.
    busy: AtomicUsize,
}

/// Held while its party has work in hand; progress is reported when it is dropped.
pub struct Busy(Arc<StallWatch>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.progress();
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

impl StallWatch {
    pub fn new(limit: Duration) -> Arc<StallWatch> {
        Arc::new(StallWatch {
            started: Instant::now(),
            limit,
            last_progress_ms: AtomicU64::new(0),
            busy: AtomicUsize::new(0),
        })
    }

    /// Work got done.
    pub fn progress(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.last_progress_ms.fetch_max(now, Ordering::SeqCst);
    }

    /// Marks work in hand until the guard is dropped; counts as progress now.
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.progress();
        self.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long someone has been waiting without progress (`None`: nobody is busy).
    pub fn waiting_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_progress_ms.load(Ordering::SeqCst));
        Some(self.started.elapsed().saturating_sub(last))
    }

    /// Resolves once someone has been busy without progress for the limit; returns how long.
    pub async fn stalled(&self) -> Duration {
        let every = (self.limit / 10).clamp(Duration::from_millis(10), Duration::from_secs(5));
        loop {
            tokio::time::sleep(every).await;
            if let Some(waited) = self.waiting_for().filter(|w| *w >= self.limit) {
                return waited;
            }
        }
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn only_a_busy_party_without_progress_stalls() {
        let watch = StallWatch::new(Duration::from_secs(10));
        // Idle for longer than the limit: not stalled.
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(watch.waiting_for(), None);
        let busy = watch.busy();
        // Busy with progress every few seconds: not stalled.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(4)).await;
            watch.progress();
        }
        assert!(watch.waiting_for().unwrap() < Duration::from_secs(1));
        // Busy without progress: stalled after the limit.
        let waited = watch.stalled().await;
        assert!(waited >= Duration::from_secs(10), "{waited:?}");
        drop(busy);
        assert_eq!(watch.waiting_for(), None);
    }
}
