//! Backpressure between the router and the sinks: the budget of bytes in flight
//! (`pipeline.max_inflight_bytes`) and the size of each sink's queue.
//!
//! Every message the router sends a sink holds permits of one semaphore, in KiB, until the sink
//! has made its items durable (see `sink::run`), and the queues are bounded ([`writer_queue`]):
//! a slow sink stops the binlog reader instead of growing memory, whatever the size of a
//! transaction.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::PipelineConfig;
use crate::error::{Result, SyncError};

#[derive(Clone)]
pub struct InflightBytes {
    semaphore: Arc<Semaphore>,
    total_kib: u32,
}

impl InflightBytes {
    pub fn new(max_bytes: usize) -> Self {
        let total_kib = (max_bytes / 1024).max(1) as u32;
        InflightBytes {
            semaphore: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
        }
    }

    /// Waits for room for `bytes` (a message larger than the whole budget takes all of it).
    pub async fn acquire(&self, bytes: usize) -> Result<OwnedSemaphorePermit> {
        let kib = (bytes.div_ceil(1024) as u32).clamp(1, self.total_kib);
        self.semaphore
            .clone()
            .acquire_many_owned(kib)
            .await
            .map_err(|_| SyncError::transient("the pipeline is closing"))
    }

    /// How full the budget is, in percent.
    pub fn used_percent(&self) -> i64 {
        let used = self.total_kib as usize - self.semaphore.available_permits();
        (used * 100 / self.total_kib as usize) as i64
    }
}

/// Messages a sink's queue holds. A writer reads nothing while HBase writes its batch, and
/// the router blocks on the first full queue; so a queue must hold a whole next batch, or a
/// writer that finished its flush starves while the router waits on another writer's queue
/// (with 256 messages and small transactions the writers took turns instead of writing
/// together: the stream reached ~0.7 of the HBase ceiling, bench/RESULTS.md). Every
/// transaction sends a commit message to each of the `writers`, so with single-row
/// transactions a writer gets about `writers + 1` messages per row of its own:
/// `(writers + 2) x batch_rows` messages hold a next batch for any transaction mix. Memory
/// stays bounded: item messages hold in-flight byte permits, a commit message is ~100 bytes.
pub fn writer_queue(p: &PipelineConfig) -> usize {
    ((p.writers + 2) * p.batch_rows).max(256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn permits_count_kibibytes_and_a_huge_message_takes_the_whole_budget() {
        let budget = InflightBytes::new(8 * 1024);
        let a = budget.acquire(1).await.unwrap();
        assert_eq!(a.num_permits(), 1);
        let b = budget.acquire(3 * 1024 + 1).await.unwrap();
        assert_eq!(b.num_permits(), 4);
        assert_eq!(budget.used_percent(), 62);
        drop((a, b));
        let huge = budget.acquire(1 << 30).await.unwrap();
        assert_eq!(huge.num_permits(), 8);
        assert_eq!(budget.used_percent(), 100);
    }
}
