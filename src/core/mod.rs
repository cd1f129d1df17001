//! The processing core between the sources and the sinks: routing (filters, mapping, DDL),
//! partitioning over the sinks, the hand-over of bootstrap chunks, checkpoints, and the
//! supervisor that restarts the pipeline.
//!
//! A change travels: `source::binlog` (an event and its end position) -> [`router`] (decoded
//! with `source::decode`, mapped with [`mapping`], partitioned by row key, stamped with the
//! event's version) -> a bounded queue per sink -> `sink::run` (batched and written) -> the
//! sink's commit slot -> [`checkpoint`] (the lowest slot, stored). Bootstrap chunks come from
//! [`bootstrap`] (read by `source::snapshot`) and join the stream in the router ([`handover`]).

pub mod bootstrap;
pub mod catalog;
pub mod change_events;
pub mod checkpoint;
pub mod ddl;
pub mod filter;
pub mod handover;
pub mod inflight;
pub mod mapping;
pub mod pipeline;
pub mod restart;
pub mod router;
pub mod supervisor;
pub mod versions;
