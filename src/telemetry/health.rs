//! What `GET /health` reports: whether the pipeline streams, why not, and the last HBase
//! failure. Every stage updates it; the admin API reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What `/health` reports, updated by the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub streaming: bool,
    /// Why the pipeline is not streaming (its last error).
    pub reason: Option<String>,
    /// The last HBase write failure, until a write succeeds again.
    pub hbase_error: Option<String>,
    /// Thrift servers (of several) whose last write failed: the writers leave them to the
    /// others until one takes a write again.
    pub hbase_servers_down: HashMap<String, ServerDown>,
}

/// A Thrift server whose last write failed.
#[derive(Debug, Clone, Copy)]
pub struct ServerDown {
    /// When its last write (or probe) failed.
    pub since: Instant,
    /// How long it is left alone from then: 5 s after a first failure, doubling with each
    /// failed retry up to a minute.
    pub retry_after: Duration,
}

impl ServerDown {
    const FIRST: Duration = Duration::from_secs(5);
    const LONGEST: Duration = Duration::from_secs(60);

    /// The mark after a failure, given the mark before it.
    pub fn after_failure(previous: Option<ServerDown>) -> ServerDown {
        ServerDown {
            since: Instant::now(),
            retry_after: previous.map_or(Self::FIRST, |p| (p.retry_after * 2).min(Self::LONGEST)),
        }
    }

    /// Whether a writer may try the server again.
    pub fn may_retry(&self) -> bool {
        self.since.elapsed() >= self.retry_after
    }
}

pub type SharedHealth = Arc<Mutex<Health>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_that_keeps_failing_is_left_alone_longer_up_to_a_minute() {
        let mut mark = ServerDown::after_failure(None);
        assert_eq!(mark.retry_after, Duration::from_secs(5));
        assert!(!mark.may_retry());
        let mut seen = Vec::new();
        for _ in 0..6 {
            mark = ServerDown::after_failure(Some(mark));
            seen.push(mark.retry_after.as_secs());
        }
        assert_eq!(seen, [10, 20, 40, 60, 60, 60]);
    }
}
