//! Benchmark hook (`src/bin/bench.rs`): the real router, fed by the real binlog tailer, with
//! sinks that drop what they receive. Measures binlog read + decode + routing without a sink.

use tokio::sync::mpsc;

use crate::config::Config;
use crate::core::catalog::ServerCatalog;
use crate::core::inflight::{writer_queue, InflightBytes};
use crate::core::router::Router;
use crate::error::{Result, SyncError};
use crate::model::{BinlogPosition, RowChange, Version};
use crate::sink::SinkMsg;
use crate::source::binlog::{BinlogTailer, StartAt};
use crate::source::mysql as my;
use crate::state::StateStore;

/// Routes every event from `from` until the reader reaches `to`; returns the row changes the
/// sinks received.
pub async fn route_without_sink(
    cfg: &Config,
    from: &BinlogPosition,
    to: &BinlogPosition,
) -> Result<u64> {
    let catalog = ServerCatalog {
        source: my::pool(&cfg.mysql.url, &cfg.mysql, None)?,
        store: StateStore::connect(cfg).await?,
    };
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..cfg.pipeline.writers)
        .map(|_| mpsc::channel(writer_queue(&cfg.pipeline)))
        .unzip();
    let drains: Vec<_> = receivers
        .into_iter()
        .map(|mut rx: mpsc::Receiver<SinkMsg<RowChange>>| {
            tokio::spawn(async move {
                let mut rows = 0u64;
                while let Some(msg) = rx.recv().await {
                    if let SinkMsg::Items { items, .. } = msg {
                        rows += items.len() as u64;
                    }
                }
                rows
            })
        })
        .collect();
    let inflight = InflightBytes::new(cfg.pipeline.max_inflight_bytes);
    let mut router = Router::new(
        cfg,
        catalog,
        senders,
        from.clone(),
        Version::now(),
        inflight,
    )?;
    let start = StartAt::Position {
        position: from.clone(),
        origin: None,
    };
    let mut tailer = BinlogTailer::open(cfg, &start).await?;
    loop {
        let (event, position) = tailer.next().await?;
        router.route(&event, &position).await?;
        if position >= *to {
            break;
        }
    }
    tailer.close().await;
    drop(router);
    let mut rows = 0;
    for d in drains {
        rows += d
            .await
            .map_err(|e| SyncError::transient(format!("drain: {e}")))?;
    }
    Ok(rows)
}
