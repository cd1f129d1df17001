//! mysql2hbase: keeps HBase tables exactly in sync with MySQL.
//!
//! Data flow: [`source`] (binlog, snapshot) -> [`core`] (routing, partitioning, batching,
//! checkpoints) -> [`sink`] (HBase, Kafka). Beside it: [`config`], the [`state`] store, [`check`]
//! (preflight) and [`admin`]. `docs/ARCHITECTURE.md` describes the design.

pub mod admin;
pub mod check;
pub mod config;
pub mod core;
pub mod error;
pub mod sink;
pub mod source;
pub mod state;
