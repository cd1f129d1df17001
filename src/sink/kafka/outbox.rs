//! The Kafka sink: produces one record per item and counts an item durable once Kafka has
//! acknowledged it and every item before it.
//!
//! Deliveries are awaited in send order. Kafka acknowledges one partition's records in order;
//! across partitions the oldest pending delivery is the one that holds back the commit points
//! behind it, so awaiting the front is all the sink loop needs. The producer is idempotent (see
//! [`crate::sink::kafka::producer`]): a retry inside librdkafka neither reorders nor duplicates.
//! A delivery that fails is an error of the sink: the pipeline restarts from the checkpoint and
//! produces the records again.
//!
//! What a record is, is the [`Encode`]r's business: Maxwell change events
//! (`sink::kafka::events`) or changes on the internal topic (`sink::distributed::capture`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use crate::error::{Result, SyncError};
use crate::sink::Sink;

/// One Kafka record.
pub struct Record<'a> {
    pub topic: &'a str,
    /// `None`: the producer's partitioner picks it from the key.
    pub partition: Option<i32>,
    pub key: Cow<'a, [u8]>,
    pub payload: Cow<'a, [u8]>,
}

/// Turns a sink's items into Kafka records.
pub trait Encode {
    type Item;
    fn record<'a>(&'a mut self, item: &'a Self::Item) -> Record<'a>;
    /// `n` more items were produced (for metrics).
    fn produced(&self, n: usize);
}

pub struct KafkaSink<E> {
    producer: FutureProducer,
    encoder: E,
    /// Deliveries not yet acknowledged, oldest first.
    deliveries: VecDeque<DeliveryFuture>,
    /// Items acknowledged by Kafka, in order.
    delivered: u64,
    /// A delivery failed; reported by the next `progress`.
    failed: Option<SyncError>,
}

impl<E: Encode> KafkaSink<E> {
    pub fn new(producer: FutureProducer, encoder: E) -> Self {
        KafkaSink {
            producer,
            encoder,
            deliveries: VecDeque::new(),
            delivered: 0,
            failed: None,
        }
    }

    /// Waits for the oldest delivery. Cancel-safe: the delivery stays queued until it resolved.
    async fn settle_one(&mut self) {
        let Some(front) = self.deliveries.front_mut() else {
            return;
        };
        let outcome = front.await;
        self.deliveries.pop_front();
        match outcome {
            Ok(Ok(_)) => self.delivered += 1,
            Ok(Err((e, msg))) => {
                self.failed.get_or_insert(SyncError::Kafka(format!(
                    "Kafka did not take a message for {}: {e}",
                    msg.topic()
                )));
            }
            Err(_) => {
                self.failed
                    .get_or_insert(SyncError::Kafka("the producer was dropped".into()));
            }
        }
    }

    fn check_failed(&mut self) -> Result<()> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl<E: Encode> Sink for KafkaSink<E> {
    type Item = E::Item;

    async fn accept(&mut self, items: Vec<E::Item>) -> Result<()> {
        for item in &items {
            loop {
                // Ok(delivery), Err(None) when librdkafka's queue is full, Err(Some(why)).
                let sent = {
                    let r = self.encoder.record(item);
                    let mut record = FutureRecord::to(r.topic).key(&*r.key).payload(&*r.payload);
                    if let Some(p) = r.partition {
                        record = record.partition(p);
                    }
                    match self.producer.send_result(record) {
                        Ok(delivery) => Ok(delivery),
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            Err(None)
                        }
                        Err((e, _)) => Err(Some(format!("cannot produce to {}: {e}", r.topic))),
                    }
                };
                match sent {
                    Ok(delivery) => {
                        self.deliveries.push_back(delivery);
                        break;
                    }
                    // Wait for room.
                    Err(None) if self.deliveries.is_empty() => {
                        tokio::time::sleep(Duration::from_millis(10)).await
                    }
                    Err(None) => {
                        self.settle_one().await;
                        self.check_failed()?;
                    }
                    Err(Some(why)) => return Err(SyncError::Kafka(why)),
                }
            }
        }
        self.encoder.produced(items.len());
        Ok(())
    }

    fn durable(&self) -> u64 {
        self.delivered
    }

    async fn ready(&mut self) {
        if self.deliveries.is_empty() {
            std::future::pending::<()>().await;
        }
        self.settle_one().await;
    }

    async fn progress(&mut self) -> Result<()> {
        self.check_failed()
    }

    async fn finish(&mut self) -> Result<()> {
        while !self.deliveries.is_empty() {
            self.settle_one().await;
            self.check_failed()?;
        }
        Ok(())
    }
}
