//! The processing core between sources and sinks: routing (filters, mapping), partitioning,
//! batching and checkpoints.

pub mod filter;
