//! Kafka: change events in Maxwell's JSON format (see the Kafka issue); for now the reachability
//! probe used by `check`.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::KafkaConfig;

/// The librdkafka settings every client of ours shares: brokers (and, where configured,
/// security). Producers and consumers add their own on top.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &kafka.brokers);
    c
}

/// Asks the cluster for its metadata; returns the number of brokers that answered.
pub async fn probe(kafka: &KafkaConfig, timeout: Duration) -> Result<usize, String> {
    let mut client = client_config(kafka);
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = client
            .set("socket.timeout.ms", timeout.as_millis().to_string())
            .create()
            .map_err(|e| e.to_string())?;
        let md = consumer
            .fetch_metadata(None, timeout)
            .map_err(|e| e.to_string())?;
        Ok(md.brokers().len())
    })
    .await
    .map_err(|e| e.to_string())?
}
