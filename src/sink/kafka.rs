//! Kafka plumbing: the shared client settings, the idempotent producer, and the [`Outbox`] that
//! ties Kafka acknowledgements to checkpoints. Used by the Maxwell change-event publisher (see
//! [`crate::sink::maxwell`]), the capture role of the distributed mode (see
//! [`crate::core::distributed`]), the dead-letter topic and `check`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::ClientContext;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::config::KafkaConfig;
use crate::core::checkpoint::CheckpointTracker;
use crate::core::handover::ChunkBarrier;
use crate::core::version::Version;
use crate::error::{Result, SyncError};
use crate::sink::maxwell::RowEvent;
use crate::source::mysql::BinlogPosition;

/// The librdkafka settings every client of ours shares: brokers (and, where configured,
/// security). Producers and consumers add their own on top.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &kafka.brokers);
    if let Some(tls) = &kafka.tls {
        c.set("security.protocol", "ssl");
        let files = [
            ("ssl.ca.location", &tls.ca),
            ("ssl.certificate.location", &tls.certificate),
            ("ssl.key.location", &tls.key),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                c.set(key, path);
            }
        }
        let identification = if tls.verify_identity { "https" } else { "none" };
        c.set("ssl.endpoint.identification.algorithm", identification);
    }
    c
}

/// Asks the cluster for its metadata; returns the number of brokers that answered, or why not
/// (with the last error librdkafka reported, e.g. a TLS handshake failure).
pub async fn probe(kafka: &KafkaConfig, timeout: Duration) -> Result<usize, String> {
    let mut client = client_config(kafka);
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<LastError> = client
            .set("socket.timeout.ms", timeout.as_millis().to_string())
            .create_with_context(LastError::default())
            .map_err(|e| e.to_string())?;
        let md = consumer.fetch_metadata(None, timeout).map_err(|e| {
            // Errors reach the context only when the client is polled.
            let _ = consumer.poll(Duration::from_millis(100));
            match consumer.context().0.lock().expect("not poisoned").take() {
                Some(reason) => format!("{e}; {reason}"),
                None => e.to_string(),
            }
        })?;
        Ok(md.brokers().len())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Changes in the internal topic the apply workers have not committed yet (summed over its
/// partitions: high watermark minus the group's committed offset, or minus the low watermark
/// where the group has committed nothing). `None` when the topic does not exist (no capture
/// role has run). Reads offsets only: it neither joins the group nor creates the topic.
pub async fn apply_lag(kafka: &KafkaConfig, timeout: Duration) -> Result<Option<u64>, String> {
    let mut client = client_config(kafka);
    let topic = kafka.internal_topic.clone();
    client
        .set("group.id", &kafka.apply_group)
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .set("socket.timeout.ms", timeout.as_millis().to_string());
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer<LastError> = client
            .create_with_context(LastError::default())
            .map_err(|e| e.to_string())?;
        let md = consumer
            .fetch_metadata(Some(&topic), timeout)
            .map_err(|e| e.to_string())?;
        let Some(t) = md.topics().iter().find(|t| t.name() == topic) else {
            return Ok(None);
        };
        if t.error().is_some() || t.partitions().is_empty() {
            return Ok(None);
        }
        let mut wanted = rdkafka::TopicPartitionList::new();
        for p in t.partitions() {
            wanted.add_partition(&topic, p.id());
        }
        let committed = consumer
            .committed_offsets(wanted, timeout)
            .map_err(|e| e.to_string())?;
        let mut lag = 0u64;
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(&topic, p.id(), timeout)
                .map_err(|e| e.to_string())?;
            let done = match committed.find_partition(&topic, p.id()).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(o)) => o.max(low),
                _ => low,
            };
            lag += high.saturating_sub(done).max(0) as u64;
        }
        Ok(Some(lag))
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Keeps the last error librdkafka reported: a timed-out request alone does not say why.
#[derive(Default)]
struct LastError(std::sync::Mutex<Option<String>>);

impl ClientContext for LastError {
    fn error(&self, error: KafkaError, reason: &str) {
        *self.0.lock().expect("not poisoned") = Some(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for LastError {}

/// A producer whose deliveries keep per-partition order and never duplicate on retry
/// (`enable.idempotence` implies `acks=all`). Keys are partitioned with murmur2, as Java clients
/// (and so Maxwell) do, so one key always lands in the same partition whoever wrote it.
pub fn producer(kafka: &KafkaConfig) -> Result<FutureProducer> {
    client_config(kafka)
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .create()
        .map_err(|e| {
            SyncError::Kafka(format!(
                "cannot create a producer for {}: {e}",
                kafka.brokers
            ))
        })
}

/// Creates the internal topic of the distributed mode when missing; returns its partition count.
pub async fn ensure_internal_topic(kafka: &KafkaConfig) -> Result<i32> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka)
        .create()
        .map_err(|e| SyncError::Kafka(format!("admin client: {e}")))?;
    let topic = NewTopic::new(
        &kafka.internal_topic,
        kafka.internal_partitions,
        TopicReplication::Fixed(-1),
    );
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin.create_topics([&topic], &opts).await.map_err(|e| {
        SyncError::Kafka(format!("cannot create topic {}: {e}", kafka.internal_topic))
    })?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, code)) => {
                return Err(SyncError::Kafka(format!("cannot create topic {t}: {code}")));
            }
        }
    }
    let name = kafka.internal_topic.clone();
    let admin_client = admin;
    tokio::task::spawn_blocking(move || {
        let md = admin_client
            .inner()
            .fetch_metadata(Some(&name), Duration::from_secs(30))
            .map_err(|e| SyncError::Kafka(format!("metadata of {name}: {e}")))?;
        let partitions = md
            .topics()
            .first()
            .map_or(0, |t| t.partitions().len() as i32);
        if partitions == 0 {
            return Err(SyncError::Kafka(format!("topic {name} has no partitions")));
        }
        Ok(partitions)
    })
    .await
    .map_err(|e| SyncError::Other(format!("metadata task: {e}")))?
}

/// What an outbox acknowledges once every message produced before it is in Kafka.
pub enum Marker {
    Commit {
        version: Version,
        position: BinlogPosition,
        gtid: Option<Arc<str>>,
    },
    Barrier(Arc<ChunkBarrier>),
    /// In-flight bytes, released when their messages are delivered.
    Permit(OwnedSemaphorePermit),
}

enum Pending {
    Delivery(DeliveryFuture),
    Marker(Marker),
}

/// A producer's messages in flight and the markers behind them: a checkpoint slot of the
/// [`CheckpointTracker`], acknowledged only once Kafka has every message before the commit, so
/// the checkpoint never passes a message Kafka has not acknowledged. Deliveries are awaited in
/// send order (Kafka acknowledges a partition in order; across partitions the first pending one
/// is the one that matters for the markers behind it).
pub struct Outbox {
    producer: FutureProducer,
    queue: VecDeque<Pending>,
    deliveries: usize,
    slot: usize,
    tracker: Arc<CheckpointTracker>,
}

impl Outbox {
    pub fn new(producer: FutureProducer, slot: usize, tracker: Arc<CheckpointTracker>) -> Self {
        Outbox {
            producer,
            queue: VecDeque::new(),
            deliveries: 0,
            slot,
            tracker,
        }
    }

    /// Queues one message (waiting for room when librdkafka's queue is full).
    pub async fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: &[u8],
        payload: &[u8],
    ) -> Result<()> {
        loop {
            let mut record = FutureRecord::to(topic).key(key).payload(payload);
            if let Some(p) = partition {
                record = record.partition(p);
            }
            match self.producer.send_result(record) {
                Ok(delivery) => {
                    self.queue.push_back(Pending::Delivery(delivery));
                    self.deliveries += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if self.deliveries > 0 {
                        self.settle_one().await?;
                    } else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                Err((e, _)) => {
                    return Err(SyncError::Kafka(format!("cannot produce to {topic}: {e}")));
                }
            }
        }
    }

    /// Acknowledges `marker` once everything sent before it is delivered.
    pub fn mark(&mut self, marker: Marker) {
        if self.deliveries == 0 {
            self.apply(marker);
        } else {
            self.queue.push_back(Pending::Marker(marker));
        }
    }

    fn has_deliveries(&self) -> bool {
        self.deliveries > 0
    }

    /// Waits for the oldest pending delivery, then applies the markers behind it. Cancel-safe:
    /// the delivery stays queued until it resolved.
    async fn settle_one(&mut self) -> Result<()> {
        let Some(Pending::Delivery(front)) = self.queue.front_mut() else {
            return Ok(());
        };
        let outcome = front.await;
        self.queue.pop_front();
        self.deliveries -= 1;
        match outcome {
            Ok(Ok(_)) => {}
            Ok(Err((e, msg))) => {
                return Err(SyncError::Kafka(format!(
                    "Kafka did not take a message for {}: {e}",
                    msg.topic()
                )));
            }
            Err(_) => return Err(SyncError::Kafka("the producer was dropped".into())),
        }
        while let Some(Pending::Marker(_)) = self.queue.front() {
            let Some(Pending::Marker(m)) = self.queue.pop_front() else {
                unreachable!("front is a marker")
            };
            self.apply(m);
        }
        Ok(())
    }

    /// The next message from `rx`, settling deliveries while it waits; `None` once `rx` is
    /// closed and everything sent is delivered.
    pub async fn next<T>(&mut self, rx: &mut mpsc::Receiver<T>) -> Result<Option<T>> {
        loop {
            tokio::select! {
                settled = self.settle_one(), if self.has_deliveries() => settled?,
                msg = rx.recv() => {
                    if msg.is_none() {
                        self.drain().await?;
                    }
                    return Ok(msg);
                }
            }
        }
    }

    /// Waits until every message is delivered and every marker applied.
    async fn drain(&mut self) -> Result<()> {
        while self.deliveries > 0 {
            self.settle_one().await?;
        }
        Ok(())
    }

    fn apply(&mut self, marker: Marker) {
        match marker {
            Marker::Commit {
                version,
                position,
                gtid,
            } => self.tracker.ack(self.slot, version, &position, &gtid),
            Marker::Barrier(b) => b.arrive(),
            Marker::Permit(p) => drop(p),
        }
    }
}

/// What the router sends the change-event publisher.
pub enum EventMsg {
    /// Rendered events, in order.
    Events {
        events: Vec<RowEvent>,
        permit: OwnedSemaphorePermit,
    },
    Marker(Marker),
}

/// Publishes Maxwell change events; checkpoint slot `slot`.
pub async fn event_publisher(
    kafka: KafkaConfig,
    slot: usize,
    mut rx: mpsc::Receiver<EventMsg>,
    tracker: Arc<CheckpointTracker>,
) -> Result<()> {
    let mut outbox = Outbox::new(producer(&kafka)?, slot, tracker);
    while let Some(msg) = outbox.next(&mut rx).await? {
        match msg {
            EventMsg::Events { events, permit } => {
                for e in &events {
                    outbox
                        .send(&e.topic, None, e.key.as_bytes(), e.payload().as_bytes())
                        .await?;
                }
                crate::admin::metrics::METRICS
                    .kafka_events
                    .inc_by(events.len() as u64);
                outbox.mark(Marker::Permit(permit));
            }
            EventMsg::Marker(m) => outbox.mark(m),
        }
    }
    Ok(())
}
