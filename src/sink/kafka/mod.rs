//! Kafka: the shared client settings, the idempotent producer, the internal topic of the
//! distributed mode, and the probes `check` and `status` use. The sink that produces records and
//! counts them durable once Kafka acknowledged them is [`outbox::KafkaSink`]; the Maxwell change
//! events are rendered by [`maxwell`] (GEOMETRY as WKT by [`wkt`]) and encoded by [`events`].

pub mod events;
pub mod maxwell;
pub mod outbox;
pub mod wkt;

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientContext;

use crate::config::KafkaConfig;
use crate::error::{Result, SyncError};

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

/// The internal topic's `retention.ms` (`-1`: unlimited); `None` when the topic does not exist
/// yet (the capture role creates it with unlimited retention).
pub async fn internal_topic_retention(
    kafka: &KafkaConfig,
    timeout: Duration,
) -> Result<Option<String>, String> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(kafka).create().map_err(|e| e.to_string())?;
    let opts = AdminOptions::new().request_timeout(Some(timeout));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&kafka.internal_topic)], &opts)
        .await
        .map_err(|e| e.to_string())?;
    match described.into_iter().next() {
        Some(Ok(resource)) => Ok(resource
            .get("retention.ms")
            .and_then(|entry| entry.value.clone())),
        Some(Err(RDKafkaErrorCode::UnknownTopicOrPartition)) | None => Ok(None),
        Some(Err(code)) => Err(code.to_string()),
    }
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
    // Unlimited retention: a change must not expire before an apply worker wrote it (a worker
    // that finds a gap stops, see `sink::distributed::apply`).
    let topic = NewTopic::new(
        &kafka.internal_topic,
        kafka.internal_partitions,
        TopicReplication::Fixed(-1),
    )
    .set("retention.ms", "-1")
    .set("retention.bytes", "-1");
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
    .map_err(|e| SyncError::transient(format!("metadata task: {e}")))?
}
