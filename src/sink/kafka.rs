//! Kafka: change events in Maxwell's JSON format (see the Kafka issue); for now the reachability
//! probe used by `check`.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientContext;

use crate::config::KafkaConfig;

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

/// Keeps the last error librdkafka reported: a timed-out request alone does not say why.
#[derive(Default)]
struct LastError(std::sync::Mutex<Option<String>>);

impl ClientContext for LastError {
    fn error(&self, error: KafkaError, reason: &str) {
        *self.0.lock().expect("not poisoned") = Some(format!("{error}: {reason}"));
    }
}

impl ConsumerContext for LastError {}
