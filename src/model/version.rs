//! HBase cell versions derived from binlog positions.
//!
//! Every HBase write carries an explicit timestamp `V = (file_index << 32) | offset`, where
//! `file_index` is the numeric suffix of the binlog file (`binlog.000042` -> 42) and `offset` the
//! end position of the event. Along one server's binlog this is deterministic, strictly increasing
//! (also across rotation, which increments the suffix) and positive as an i64 (the suffix is
//! below 2^31, see [`BinlogPosition`]). HBase serves the highest version of a cell, so a write
//! stamped V that carries the row's true state as of V can be retried, replayed or reordered
//! freely: see `docs/ARCHITECTURE.md`, "The invariant".

use crate::model::position::BinlogPosition;

/// An HBase cell timestamp derived from a binlog position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub i64);

impl Version {
    pub fn at(file_index: u32, offset: u64) -> Version {
        debug_assert!(offset < (1 << 32), "binlog offsets are below 4 GiB");
        Version(((file_index as i64) << 32) | (offset as i64 & 0xffff_ffff))
    }

    pub fn of(pos: &BinlogPosition) -> Version {
        Version::at(pos.index(), pos.offset())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_along_the_binlog_and_across_rotation() {
        let a = Version::at(1, 4);
        let b = Version::at(1, 4_000_000_000);
        let c = Version::at(2, 4);
        assert!(a < b && b < c);
        assert!(a.0 > 0);
        assert!(Version::at((1 << 31) - 1, u32::MAX as u64).0 > 0);
        let p = BinlogPosition::new("binlog.000042", 77).unwrap();
        assert_eq!(Version::of(&p), Version::at(42, 77));
    }
}
