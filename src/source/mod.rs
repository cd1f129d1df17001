//! Sources: where changes come from. The binlog stream (with its compressed events made
//! ordinary) and table snapshots (bootstraps).

pub mod binlog;
pub mod compressed;
pub mod decode;
pub mod mysql;
pub mod schema;
pub mod snapshot;
pub mod text;
