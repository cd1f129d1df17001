//! Metrics and health, importable by every stage: the pipeline records, the admin API renders.

pub mod health;
pub mod metrics;
