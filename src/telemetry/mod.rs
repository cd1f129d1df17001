//! Metrics, health and stall detection, importable by every stage: the pipeline records, the
//! admin API renders.

pub mod health;
pub mod metrics;
pub mod stall;
