//! Bootstraps (table snapshots) while the stream runs: the scheduler here, one job in [`job`].
//!
//! Jobs are rows of the state store's `bootstrap_jobs`: from the first start (one per captured
//! table), a purged binlog with `snapshot.mode = "when_needed"`, a DDL that changed rows without
//! row events (a resync), `mysql2hbase bootstrap`, `POST /bootstrap`, `verify --repair`, or a
//! row inserted by hand.
//! [`bootstrap_manager`] runs up to `snapshot.parallelism` of them at once; a job that fails
//! definitely is marked failed with its reason, one interrupted (a lost connection, a pipeline
//! restart) stays open and resumes after its last written chunk.

pub mod job;

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::core::handover::HandoverRequest;
use crate::state::StateStore;

use self::job::JobError;

/// Runs open bootstrap jobs (`snapshot.parallelism` at once), picking up new ones at once when
/// this process added them (a DDL's resync or backfill, the admin API) and every half second
/// else: from the first start, `mysql2hbase bootstrap`, a row inserted by hand, or the admin
/// API. Reports through `idle` whether none is left. Dropping the task stops the jobs; they
/// resume after their last written chunk.
pub async fn bootstrap_manager(
    cfg: Config,
    store: StateStore,
    router: mpsc::Sender<HandoverRequest>,
    idle: watch::Sender<bool>,
) {
    let mut running = tokio::task::JoinSet::new();
    let mut active: HashSet<u64> = HashSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = store.job_added() => {}
        }
        while let Some(done) = running.try_join_next() {
            if let Ok(id) = done {
                active.remove(&id);
            }
        }
        let jobs = match store.open_jobs().await {
            Ok(jobs) => jobs,
            Err(e) => {
                warn!(error = %e, "cannot read bootstrap jobs");
                continue;
            }
        };
        idle.send_replace(jobs.is_empty() && active.is_empty());
        for job in jobs {
            if active.len() >= cfg.snapshot.parallelism {
                break;
            }
            if !active.insert(job.id) {
                continue;
            }
            let (cfg, store, router) = (cfg.clone(), store.clone(), router.clone());
            running.spawn(async move {
                let table = format!("{}.{}", job.database, job.table);
                info!(job = job.id, %table, where_clause = ?job.where_clause, "bootstrap started");
                match job::run_job(&cfg, &store, &router, &job).await {
                    Ok(()) => {
                        info!(job = job.id, %table, "bootstrap complete");
                        if let Err(e) = store.job_finished(job.id, None).await {
                            warn!(job = job.id, error = %e, "cannot mark the bootstrap complete");
                        }
                    }
                    Err(JobError::Definite(reason)) => {
                        warn!(job = job.id, %table, %reason, "bootstrap failed");
                        if let Err(e) = store.job_finished(job.id, Some(&reason)).await {
                            warn!(job = job.id, error = %e, "cannot mark the bootstrap failed");
                        }
                    }
                    Err(JobError::Transient(e)) => {
                        warn!(job = job.id, %table, error = %e, "bootstrap interrupted; it resumes after its last written chunk");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
                job.id
            });
        }
    }
}
