//! Maxwell change events on Kafka: each rendered event (see [`crate::sink::kafka::maxwell`]) is
//! one record on its table's topic, keyed by Maxwell's key and partitioned by the producer
//! (murmur2, like Java clients, so a row's events stay in one partition in order).

use std::borrow::Cow;

use crate::config::KafkaConfig;
use crate::error::Result;
use crate::sink::kafka::maxwell::RowEvent;
use crate::sink::kafka::outbox::{Encode, KafkaSink, Record};
use crate::sink::kafka::producer;
use crate::telemetry::metrics::METRICS;

/// Maxwell events as records.
pub struct EventEncoder;

impl Encode for EventEncoder {
    type Item = RowEvent;

    fn record<'a>(&'a mut self, e: &'a RowEvent) -> Record<'a> {
        Record {
            topic: &e.topic,
            partition: None,
            key: Cow::Borrowed(e.key.as_bytes()),
            payload: Cow::Owned(e.payload().into_bytes()),
        }
    }

    fn produced(&self, n: usize) {
        METRICS.kafka_events.inc_by(n as u64);
    }
}

/// The change-event publisher.
pub fn event_sink(kafka: &KafkaConfig) -> Result<KafkaSink<EventEncoder>> {
    Ok(KafkaSink::new(producer(kafka)?, EventEncoder))
}
