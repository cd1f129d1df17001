//! Commit points and the acknowledgements that flow back from the sinks.
//!
//! The router puts a [`CommitPoint`] behind every transaction's changes in every sink's queue.
//! A sink acknowledges it on its [`CommitSlot`] once everything it received before the point is
//! durable (written to HBase, acknowledged by Kafka). The checkpoint is the lowest acknowledged
//! point over all slots (`core::checkpoint`): every change before it is durable in every sink.
//! A [`Barrier`] is the same idea for one bootstrap chunk: it fires once every sink has made
//! everything before it durable.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::model::position::BinlogPosition;

/// A transaction end: its binlog position and, where known, the GTID set executed up to it.
/// Commit points of one pipeline life come from one server's binlog and order by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPoint {
    pub position: BinlogPosition,
    pub gtid: Option<Arc<str>>,
}

impl CommitPoint {
    pub fn new(position: BinlogPosition, gtid: Option<Arc<str>>) -> Self {
        CommitPoint { position, gtid }
    }
}

/// One sink's last acknowledged commit point; only ever moves forward.
#[derive(Debug, Clone)]
pub struct CommitSlot(Arc<Mutex<CommitPoint>>);

impl CommitSlot {
    pub fn new(start: CommitPoint) -> Self {
        CommitSlot(Arc::new(Mutex::new(start)))
    }

    pub fn ack(&self, point: &CommitPoint) {
        let mut slot = self.0.lock().expect("commit slot lock");
        if point.position > slot.position {
            *slot = point.clone();
        }
    }

    pub fn get(&self) -> CommitPoint {
        self.0.lock().expect("commit slot lock").clone()
    }
}

/// Fires once every one of `arrivals` sinks has made everything it received before the barrier
/// durable (bootstrap chunks).
pub struct Barrier {
    remaining: AtomicUsize,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl Barrier {
    pub fn new(arrivals: usize, done: oneshot::Sender<()>) -> Self {
        Barrier {
            remaining: AtomicUsize::new(arrivals),
            done: Mutex::new(Some(done)),
        }
    }

    pub fn arrive(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some(tx) = self.done.lock().expect("barrier lock").take() {
                let _ = tx.send(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(file: &str, offset: u64) -> CommitPoint {
        CommitPoint::new(BinlogPosition::new(file, offset).unwrap(), None)
    }

    #[test]
    fn a_slot_never_moves_back() {
        let slot = CommitSlot::new(point("b.000001", 4));
        slot.ack(&point("b.000002", 50));
        slot.ack(&point("b.000001", 900));
        assert_eq!(slot.get(), point("b.000002", 50));
    }

    #[test]
    fn barrier_fires_after_the_last_arrival() {
        let (tx, mut rx) = oneshot::channel();
        let b = Barrier::new(2, tx);
        b.arrive();
        assert!(rx.try_recv().is_err());
        b.arrive();
        assert!(rx.try_recv().is_ok());
    }
}
