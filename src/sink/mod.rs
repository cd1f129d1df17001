//! Sinks: where changes are written. HBase (the copy kept exact) and Kafka (change events).

pub mod dead_letter;
pub mod hbase;
pub mod hbase_client;
pub mod kafka;
