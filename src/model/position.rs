//! Where an event sits in one server's binlog: a file and an offset in it.
//!
//! The file name's numeric suffix (`mysql-bin.000042` -> 42) is parsed once, when the position
//! is made, so positions order by (file index, offset) without re-parsing strings on the hot
//! path. A name without a numeric suffix below 2^31 is refused there: MySQL and MariaDB always
//! number their binlog files, so such a name means the position did not come from a binlog.

use std::fmt;
use std::sync::Arc;

/// A position in one server's binlog: the end of an event, or a place to start reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BinlogPosition {
    file: Arc<str>,
    index: u32,
    offset: u64,
}

/// A binlog file name without the numeric suffix every binlog file has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "binlog file name {0:?} has no numeric suffix below 2^31 (binlog files are named base.NNNNNN)"
)]
pub struct BadBinlogFileName(pub String);

impl BinlogPosition {
    pub fn new(file: impl Into<Arc<str>>, offset: u64) -> Result<Self, BadBinlogFileName> {
        let file = file.into();
        let index = file_index(&file).ok_or_else(|| BadBinlogFileName(file.to_string()))?;
        Ok(BinlogPosition {
            file,
            index,
            offset,
        })
    }

    /// Another position in the same file (cheap: the name is shared).
    pub fn at(&self, offset: u64) -> BinlogPosition {
        BinlogPosition {
            file: self.file.clone(),
            index: self.index,
            offset,
        }
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// The file name, shared.
    pub fn file_arc(&self) -> &Arc<str> {
        &self.file
    }

    /// The file name's numeric suffix.
    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The position's order as a small value (file index, offset), to keep many of them.
    pub fn sort_key(&self) -> (u32, u64) {
        (self.index, self.offset)
    }
}

/// The numeric suffix of a binlog file name, when below 2^31.
fn file_index(file: &str) -> Option<u32> {
    file.rsplit('.')
        .next()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|i| *i < (1 << 31))
}

impl Ord for BinlogPosition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.index, self.offset).cmp(&(other.index, other.offset))
    }
}

impl PartialOrd for BinlogPosition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.offset)
    }
}

impl serde::Serialize for BinlogPosition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("BinlogPosition", 2)?;
        st.serialize_field("file", &*self.file)?;
        st.serialize_field("pos", &self.offset)?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_order_by_file_index_then_offset() {
        let p = |f: &str, o| BinlogPosition::new(f, o).unwrap();
        assert!(p("b.000009", 900) < p("b.000010", 4), "not string order");
        assert!(p("b.1", 4) < p("b.1", 5));
        assert_eq!(p("mysql-bin.000042", 7).index(), 42);
        assert_eq!(p("b.000001", 4).at(99), p("b.000001", 99));
        assert_eq!(p("b.000003", 120).to_string(), "b.000003:120");
        assert!(BinlogPosition::new("nosuffix", 4).is_err());
        assert!(BinlogPosition::new("b.4294967295", 4).is_err());
    }
}
