//! The capture role's sink: puts the router's changes on the internal topic, each on the
//! partition of its (table, row key), tagged with this capture run and its sequence number in
//! the partition (see the module doc of [`crate::sink::distributed`]).

use std::borrow::Cow;

use tracing::info;

use crate::config::KafkaConfig;
use crate::error::Result;
use crate::model::RowChange;
use crate::sink::distributed::codec;
use crate::sink::kafka::outbox::{Encode, KafkaSink, Record};
use crate::sink::kafka::producer;
use crate::telemetry::metrics::METRICS;

/// Changes as records of the internal topic.
pub struct CaptureEncoder {
    topic: String,
    /// Random per pipeline start: apply workers never join batches of two runs.
    run: u64,
    /// The next sequence number of each partition.
    next_seq: Vec<u64>,
}

impl Encode for CaptureEncoder {
    type Item = RowChange;

    fn record<'a>(&'a mut self, c: &'a RowChange) -> Record<'a> {
        let p = c.partition(self.next_seq.len());
        let payload = codec::encode(self.run, self.next_seq[p], c);
        self.next_seq[p] += 1;
        Record {
            topic: &self.topic,
            partition: Some(p as i32),
            key: Cow::Borrowed(&c.key),
            payload: Cow::Owned(payload),
        }
    }

    fn produced(&self, n: usize) {
        METRICS.captured_changes.inc_by(n as u64);
    }
}

/// The capture writer for a topic of `partitions` partitions.
pub fn capture_sink(kafka: &KafkaConfig, partitions: i32) -> Result<KafkaSink<CaptureEncoder>> {
    let run = uuid::Uuid::new_v4().as_u64_pair().0;
    info!(run, topic = %kafka.internal_topic, partitions, "capture: writing changes to Kafka");
    Ok(KafkaSink::new(
        producer(kafka)?,
        CaptureEncoder {
            topic: kafka.internal_topic.clone(),
            run,
            next_seq: vec![0; partitions as usize],
        },
    ))
}
