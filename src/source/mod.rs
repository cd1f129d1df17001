//! Sources: where changes come from. The binlog stream and table snapshots (bootstraps).

pub mod decode;
pub mod mysql;
