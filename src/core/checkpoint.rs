//! The checkpoint: the binlog position below which every sink has acknowledged everything.
//!
//! The reader sends each writer, in order with its changes, `Commit(P)` markers at transaction
//! ends. A writer acknowledges `P` once everything it received before the marker is written
//! (immediately when its batch is empty). The checkpoint is the lowest acknowledged position over
//! all writers: every change before it is in HBase, and it is always a transaction boundary, so
//! a restart from it replays whole transactions (with their TABLE_MAP events) and rewrites the
//! same versions.

use std::sync::{Arc, Mutex};

use crate::core::version::Version;
use crate::source::mysql::BinlogPosition;

/// An acknowledged transaction end: its version, position and, on MySQL with GTIDs, the GTID
/// set executed up to it.
type Acked = (Version, BinlogPosition, Option<Arc<str>>);

pub struct CheckpointTracker {
    acked: Vec<Mutex<Acked>>,
}

impl CheckpointTracker {
    /// Every writer starts at the position the stream starts from.
    pub fn new(
        writers: usize,
        start: &BinlogPosition,
        start_gtid: Option<Arc<str>>,
    ) -> crate::error::Result<Self> {
        let v = Version::of(start)?;
        Ok(CheckpointTracker {
            acked: (0..writers)
                .map(|_| Mutex::new((v, start.clone(), start_gtid.clone())))
                .collect(),
        })
    }

    pub fn ack(
        &self,
        writer: usize,
        version: Version,
        position: &BinlogPosition,
        gtid: &Option<Arc<str>>,
    ) {
        let mut slot = self.acked[writer].lock().expect("checkpoint lock");
        if version > slot.0 {
            *slot = (version, position.clone(), gtid.clone());
        }
    }

    /// The lowest acknowledged position over all writers.
    pub fn low_watermark(&self) -> BinlogPosition {
        self.low_watermark_with_gtid().0
    }

    /// The lowest acknowledged position and the GTID set executed up to it, where followed.
    pub fn low_watermark_with_gtid(&self) -> (BinlogPosition, Option<Arc<str>>) {
        self.acked
            .iter()
            .map(|m| m.lock().expect("checkpoint lock").clone())
            .min_by_key(|(v, _, _)| *v)
            .map(|(_, p, g)| (p, g))
            .expect("at least one writer")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(file: &str, p: u64) -> BinlogPosition {
        BinlogPosition {
            file: file.into(),
            pos: p,
        }
    }

    #[test]
    fn the_slowest_writer_holds_the_checkpoint() {
        let t = CheckpointTracker::new(2, &pos("b.000001", 4), None).unwrap();
        let p1 = pos("b.000001", 100);
        t.ack(0, Version::of(&p1).unwrap(), &p1, &None);
        assert_eq!(t.low_watermark(), pos("b.000001", 4));
        let p2 = pos("b.000002", 50);
        t.ack(1, Version::of(&p2).unwrap(), &p2, &Some("g2".into()));
        assert_eq!(t.low_watermark(), p1);
        // Never moves back.
        t.ack(1, Version::of(&p1).unwrap(), &p1, &None);
        t.ack(0, Version::of(&p2).unwrap(), &p2, &Some("g2".into()));
        assert_eq!(t.low_watermark_with_gtid(), (p2, Some("g2".into())));
    }
}
