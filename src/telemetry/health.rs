//! What `GET /health` reports: whether the pipeline streams, why not, and the last HBase
//! failure. Every stage updates it; the admin API reads it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What `/health` reports, updated by the pipeline.
#[derive(Debug, Clone, Default)]
pub struct Health {
    pub streaming: bool,
    /// Why the pipeline is not streaming (its last error).
    pub reason: Option<String>,
    /// The last HBase write failure, until a write succeeds again.
    pub hbase_error: Option<String>,
    /// Thrift servers (of several) whose last write failed, and since when: the writers leave
    /// them to the others until one takes a write again.
    pub hbase_servers_down: HashMap<String, Instant>,
}

pub type SharedHealth = Arc<Mutex<Health>>;
