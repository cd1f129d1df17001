//! Kafka: change events in Maxwell's JSON format (see the Kafka issue); for now the reachability
//! probe used by `check`.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Asks the cluster for its metadata; returns the number of brokers that answered.
pub async fn probe(brokers: &str, timeout: Duration) -> Result<usize, String> {
    let brokers = brokers.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
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
