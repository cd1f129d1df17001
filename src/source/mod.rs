//! Sources: where changes come from. The binlog stream and table snapshots (bootstraps).

pub mod binlog;
pub mod decode;
pub mod mysql;
pub mod schema;
pub mod snapshot;
pub mod text;
