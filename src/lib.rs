//! mysql2hbase: keeps HBase tables exactly in sync with MySQL.
//!
//! Data flow: [`source`] (binlog, snapshot) -> [`core`] (routing, partitioning, checkpoints) ->
//! [`sink`] (HBase, Kafka). Below every stage: [`model`] (the shared types) and [`telemetry`]
//! (metrics, health). Beside it: [`config`], [`error`], the [`state`] store and [`admin`]
//! (commands, HTTP API, verify, check). An import only ever goes down this list:
//! admin -> core -> sink, source -> state, config, error -> telemetry -> model.
//! `docs/ARCHITECTURE.md` describes the design.

pub mod admin;
pub mod config;
pub mod core;
pub mod error;
pub mod model;
pub mod sink;
pub mod source;
pub mod state;
pub mod telemetry;
