//! Sinks: where changes are written. HBase (the copy kept exact) and Kafka (Maxwell change
//! events, and the internal topic of the distributed mode).

pub mod dead_letter;
pub mod hbase;
pub mod hbase_client;
pub mod kafka;
pub mod maxwell;
pub mod wkt;
