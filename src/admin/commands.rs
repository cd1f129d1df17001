//! Operator commands that work whether the daemon runs or not: they talk to the state store.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Config;
use crate::core::bootstrap::job::{validate_table, JobError};
use crate::model::BinlogPosition;
use crate::source::mysql as my;
use crate::state::{BootstrapJob, StateStore};

/// `mysql2hbase bootstrap`: records a job; with `wait`, follows it to its end.
/// Returns the job id, or the reason the job cannot run (also recorded as a failed job).
pub async fn request_bootstrap(
    cfg: &Config,
    table: &str,
    where_clause: Option<&str>,
) -> anyhow::Result<u64> {
    let (db, name) = table
        .split_once('.')
        .ok_or_else(|| anyhow::anyhow!("name the table as db.table, not {table:?}"))?;
    let (store, _) = StateStore::connect_and_migrate(cfg).await?;
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    match validate_table(cfg, &mut conn, db, name, where_clause).await {
        Ok(_) => Ok(store
            .create_job(db, name, where_clause, "pending", None)
            .await?),
        Err(JobError::Definite(reason)) => {
            store
                .create_job(db, name, where_clause, "failed", Some(&reason))
                .await?;
            anyhow::bail!("{reason}")
        }
        Err(JobError::Transient(e)) => Err(e.into()),
    }
}

/// Follows a job with a progress bar until it completes (Ok) or fails (Err with the reason).
pub async fn wait_for_job(cfg: &Config, id: u64) -> anyhow::Result<BootstrapJob> {
    let store = StateStore::connect(cfg).await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows {per_sec} ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    loop {
        let job = store.job(id).await?.ok_or_else(|| {
            anyhow::anyhow!("bootstrap job {id} disappeared from the state store")
        })?;
        bar.set_message(format!(
            "job {id} {}.{} {}",
            job.database, job.table, job.status
        ));
        if let Some(total) = job.rows_total {
            bar.set_length(total.max(job.rows_done));
        }
        bar.set_position(job.rows_done);
        match job.status.as_str() {
            "complete" => {
                bar.finish();
                return Ok(job);
            }
            "failed" => {
                bar.abandon();
                anyhow::bail!(
                    "bootstrap job {id} of {}.{} failed: {}",
                    job.database,
                    job.table,
                    job.error.unwrap_or_default()
                );
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// What `mysql2hbase status` shows.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub checkpoint: Option<CheckpointStatus>,
    /// Where the server's binlog ends now.
    pub server_position: Option<BinlogPosition>,
    /// Binlog bytes between the checkpoint and the server's end (0 when caught up).
    pub lag_bytes: Option<u64>,
    pub stopped_tables: Vec<StoppedTable>,
    /// Every captured table and what the service does with it.
    pub tables: Vec<TableStatus>,
    pub bootstrap_jobs: Vec<BootstrapJob>,
    /// Distributed mode (`run --role capture|apply`): how far the apply workers are behind the
    /// capture process. Absent without `[kafka]` or before a capture process made its topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<ApplyStatus>,
}

/// The apply workers' progress through `[kafka] internal_topic`.
#[derive(Debug, serde::Serialize)]
pub struct ApplyStatus {
    pub topic: String,
    pub group: String,
    /// Changes captured but not yet written to HBase and committed by the apply workers.
    pub lag_changes: Option<u64>,
    /// Why the lag is unknown (Kafka unreachable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct TableStatus {
    pub table: String,
    /// streaming | bootstrapping | dead-letter (no row key) | stopped
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct CheckpointStatus {
    pub position: BinlogPosition,
    pub gtid_set: Option<String>,
}

#[derive(Debug, serde::Serialize)]
pub struct StoppedTable {
    pub table: String,
    pub reason: Option<String>,
}

pub async fn status(cfg: &Config) -> anyhow::Result<Status> {
    let (store, _) = StateStore::connect_and_migrate(cfg).await?;
    let checkpoint = store.load_checkpoint().await?;
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let (server_position, _) = my::current_position(&mut conn).await?;
    let lag_bytes = match &checkpoint {
        Some(cp) => Some(lag_bytes(&mut conn, &cp.position, &server_position).await?),
        None => None,
    };
    let jobs = store.recent_jobs(50).await?;
    let stopped = store.stopped_tables().await?;
    let filter = crate::core::filter::TableFilter::new(&cfg.capture);
    let mut tables = Vec::new();
    for (db, t) in
        crate::source::schema::captured_tables(&mut conn, |db, t| filter.captures(db, t)).await?
    {
        let name = format!("{db}.{t}");
        let open_job = jobs.iter().find(|j| {
            j.database == db && j.table == t && matches!(j.status.as_str(), "pending" | "running")
        });
        let (state, detail) =
            if let Some((_, _, reason)) = stopped.iter().find(|(d, n, _)| *d == db && *n == t) {
                ("stopped", reason.clone())
            } else if let Some(j) = open_job {
                ("bootstrapping", Some(format!("job {} {}", j.id, j.status)))
            } else {
                let schema = crate::source::schema::load_table_schema(&mut conn, &db, &t).await?;
                let mapping = schema.map(|schema| {
                    crate::core::mapping::TableMapping::resolve(
                        cfg,
                        &filter,
                        std::sync::Arc::new(schema),
                    )
                });
                match mapping {
                    Some(Ok(_)) => ("streaming", None),
                    Some(Err(e)) => ("dead-letter", Some(e.to_string())),
                    None => (
                        "dead-letter",
                        Some("the table's schema cannot be read".into()),
                    ),
                }
            };
        tables.push(TableStatus {
            table: name,
            state: state.to_string(),
            detail,
        });
    }
    Ok(Status {
        checkpoint: checkpoint.map(|c| CheckpointStatus {
            position: c.position,
            gtid_set: c.gtid_set,
        }),
        server_position: Some(server_position),
        lag_bytes,
        stopped_tables: stopped
            .into_iter()
            .map(|(db, t, reason)| StoppedTable {
                table: format!("{db}.{t}"),
                reason,
            })
            .collect(),
        tables,
        bootstrap_jobs: jobs,
        apply: apply_status(cfg).await,
    })
}

async fn apply_status(cfg: &Config) -> Option<ApplyStatus> {
    let kafka = cfg.kafka.as_ref()?;
    let status = |lag_changes, error| ApplyStatus {
        topic: kafka.internal_topic.clone(),
        group: kafka.apply_group.clone(),
        lag_changes,
        error,
    };
    match crate::sink::kafka::apply_lag(kafka, Duration::from_secs(10)).await {
        Ok(None) => None,
        Ok(Some(lag)) => Some(status(Some(lag), None)),
        Err(e) => Some(status(
            None,
            Some(format!("Kafka at {} did not answer: {e}", kafka.brokers)),
        )),
    }
}

/// Bytes of binlog between two positions, across files (`SHOW BINARY LOGS` sizes).
async fn lag_bytes(
    conn: &mut mysql_async::Conn,
    from: &BinlogPosition,
    to: &BinlogPosition,
) -> anyhow::Result<u64> {
    use mysql_async::prelude::Queryable;
    if from.file() == to.file() {
        return Ok(to.offset().saturating_sub(from.offset()));
    }
    let logs: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await?;
    let mut lag = 0u64;
    for row in logs {
        let name: String = row.get(0).unwrap_or_default();
        let size: u64 = row.get(1).unwrap_or_default();
        let Ok(file) = BinlogPosition::new(name, 0) else {
            continue;
        };
        if file.index() < from.index() || file.index() > to.index() {
            continue;
        }
        lag += if file.index() == from.index() {
            size.saturating_sub(from.offset())
        } else if file.index() == to.index() {
            to.offset()
        } else {
            size
        };
    }
    Ok(lag)
}

/// The human rendering of [`Status`].
pub fn print_status(s: &Status) {
    match &s.checkpoint {
        Some(cp) => println!(
            "checkpoint: {} (gtid set: {})",
            cp.position,
            cp.gtid_set.as_deref().unwrap_or("-")
        ),
        None => println!("checkpoint: none (the daemon has not started yet)"),
    }
    if let Some(p) = &s.server_position {
        println!("server binlog end: {p}");
    }
    if let Some(lag) = s.lag_bytes {
        println!("lag: {lag} bytes of binlog");
    }
    if let Some(a) = &s.apply {
        match (a.lag_changes, &a.error) {
            (Some(n), _) => println!(
                "apply workers (group {}, topic {}): {n} captured changes not yet in HBase",
                a.group, a.topic
            ),
            (None, e) => println!(
                "apply workers (group {}, topic {}): lag unknown ({})",
                a.group,
                a.topic,
                e.as_deref().unwrap_or("")
            ),
        }
    }
    for t in &s.tables {
        println!(
            "table {:<40} {}{}",
            t.table,
            t.state,
            t.detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
    for t in &s.stopped_tables {
        println!(
            "stopped table {}: {}",
            t.table,
            t.reason.as_deref().unwrap_or("")
        );
    }
    if s.bootstrap_jobs.is_empty() {
        println!("bootstrap jobs: none");
    } else {
        println!("bootstrap jobs (newest first):");
        for j in &s.bootstrap_jobs {
            let total = j.rows_total.map_or("?".to_string(), |t| t.to_string());
            println!(
                "  #{:<5} {:<30} {:<11} {:<9} {}/{} rows, {} chunks{}{}{}",
                j.id,
                format!("{}.{}", j.database, j.table),
                j.kind(),
                j.status,
                j.rows_done,
                total,
                j.chunks_done,
                j.where_clause
                    .as_ref()
                    .map(|w| format!(", where {w}"))
                    .unwrap_or_default(),
                j.lock_held_ms
                    .map(|ms| format!(", lock held {ms} ms"))
                    .unwrap_or_default(),
                j.error
                    .as_ref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
            );
        }
    }
}
