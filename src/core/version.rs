//! HBase cell versions derived from binlog positions.
//!
//! Every HBase write carries an explicit timestamp `V = (file_index << 32) | offset`, where
//! `file_index` is the numeric suffix of the binlog file (`binlog.000042` -> 42) and `offset` the
//! end position of the event. Along one server's binlog this is deterministic, strictly increasing
//! (also across rotation, which increments the suffix) and positive as an i64 while the suffix is
//! below 2^31. HBase serves the highest version of a cell, so a write stamped V that carries the
//! row's true state as of V can be retried, replayed or reordered freely: see
//! `docs/ARCHITECTURE.md`, "The invariant".

use crate::error::{Result, SyncError};
use crate::source::mysql::BinlogPosition;

/// An HBase cell timestamp derived from a binlog position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub i64);

/// The numeric suffix of a binlog file name.
pub fn file_index(file: &str) -> Result<u32> {
    file.rsplit('.')
        .next()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|i| *i < (1 << 31))
        .ok_or_else(|| {
            SyncError::Other(format!(
                "binlog file name {file:?} has no numeric suffix below 2^31; cannot derive versions"
            ))
        })
}

impl Version {
    pub fn at(file_index: u32, offset: u64) -> Version {
        debug_assert!(offset < (1 << 32), "binlog offsets are below 4 GiB");
        Version(((file_index as i64) << 32) | (offset as i64 & 0xffff_ffff))
    }

    pub fn of(pos: &BinlogPosition) -> Result<Version> {
        Ok(Version::at(file_index(&pos.file)?, pos.pos))
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
        assert_eq!(file_index("binlog.000042").unwrap(), 42);
        assert_eq!(file_index("mysql-bin.1").unwrap(), 1);
        assert!(file_index("nosuffix").is_err());
        assert!(Version::at((1 << 31) - 1, u32::MAX as u64).0 > 0);
    }
}
