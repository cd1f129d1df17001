//! The processing core between sources and sinks: routing (filters, mapping), partitioning,
//! batching and checkpoints.

pub mod batch;
pub mod change;
pub mod change_codec;
pub mod change_events;
pub mod checkpoint;
pub mod ddl;
pub mod distributed;
pub mod filter;
pub mod gtid;
pub mod handover;
pub mod mapping;
pub mod pipeline;
pub mod restart;
pub mod version;
