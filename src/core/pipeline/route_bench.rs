//! Benchmark hook (`src/bin/bench.rs`): the real router, fed by the real binlog tailer, with
//! writers that drop what they receive. Measures binlog read + decode + routing without a sink.
//! A child module so the router stays private to the pipeline.

use super::*;

/// Routes every event from `from` until the reader reaches `to`; returns the row changes the
/// writers received.
pub async fn route_without_sink(
    cfg: &Config,
    from: &BinlogPosition,
    to: &BinlogPosition,
) -> Result<u64> {
    let end = Version::of(to)?;
    let store = StateStore::connect(cfg).await?;
    let source = my::pool(&cfg.mysql.url, &cfg.mysql, None)?;
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..cfg.pipeline.writers)
        .map(|_| mpsc::channel(writer_queue(&cfg.pipeline)))
        .unzip();
    let drains: Vec<_> = receivers
        .into_iter()
        .map(|mut rx: mpsc::Receiver<WriterMsg>| {
            tokio::spawn(async move {
                let mut rows = 0u64;
                while let Some(msg) = rx.recv().await {
                    if let WriterMsg::Changes { changes, .. } = msg {
                        rows += changes.len() as u64;
                    }
                }
                rows
            })
        })
        .collect();
    let mut router = Router::new(cfg, store, source, senders, from.clone())?;
    let mut tailer = BinlogTailer::open(cfg, from).await?;
    loop {
        let (event, position) = tailer.next().await?;
        router.route(&event, &position).await?;
        if Version::of(&position)? >= end {
            break;
        }
    }
    tailer.close().await;
    drop(router);
    let mut rows = 0;
    for d in drains {
        rows += d
            .await
            .map_err(|e| SyncError::Other(format!("drain: {e}")))?;
    }
    Ok(rows)
}
