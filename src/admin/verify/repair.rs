//! `--repair`: the confirmed rows go to the running daemon as a repair job. The daemon reads
//! them from MySQL again and writes them through its router, in stream order: a row MySQL has
//! as a whole-row replace (cells MySQL does not have go too), a row it has not as a delete. So a
//! repair orders with the stream's own writes of the same rows, and lands above the damage it
//! mends (see `core::bootstrap::job`, and `docs/ARCHITECTURE.md`, "Verify and repair"). A
//! joined table's rows are handed over by place (`RowTarget::to_bytes`: row key and member)
//! with their primary key, and a row MySQL does not have there loses exactly its cells.

use std::time::{Duration, Instant};

use super::{Candidate, Kind, Report, Verifier};
use crate::model::Version;
use crate::state::RepairKey;

/// How long a repair job may wait for a daemon to pick it up.
const PICKUP: Duration = Duration::from_secs(30);

impl Verifier {
    /// Hands `confirmed` rows to the daemon and waits until they are written.
    pub(super) async fn repair(
        &mut self,
        confirmed: &[(Candidate, Kind)],
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let keys: Vec<Vec<u8>> = confirmed.iter().map(|(c, _)| c.key.clone()).collect();
        // Cells HBase holds above the clock were written "in the future": nothing orders
        // above them.
        let now = Version::now().0;
        for (key, cells) in self.hbase_rows(&keys)? {
            if cells.iter().any(|(_, _, ts)| *ts > now) {
                report
                    .above_version
                    .push(String::from_utf8_lossy(&self.shown(&key)).into_owned());
            }
        }
        let rows: Vec<RepairKey> = confirmed
            .iter()
            .map(|(c, _)| RepairKey {
                key: c.key.clone(),
                pk: c.pk.clone(),
            })
            .collect();
        let (db, table) = (self.db().to_string(), self.table().to_string());
        let id = self.store.create_repair_job(&db, &table, &rows).await?;
        let asked = Instant::now();
        loop {
            let job =
                self.store.job(id).await?.ok_or_else(|| {
                    anyhow::anyhow!("repair job {id} vanished from the state store")
                })?;
            match job.status.as_str() {
                "complete" => break,
                "failed" => anyhow::bail!(
                    "repair job {id} failed: {}",
                    job.error.unwrap_or_default()
                ),
                "pending" if asked.elapsed() > PICKUP => anyhow::bail!(
                    "the repair was handed to the daemon as job {id}, but no `mysql2hbase run` picked it up within {} s: start the daemon (the job stays queued and runs then) and verify again",
                    PICKUP.as_secs()
                ),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        for (_, kind) in confirmed {
            report.repaired.add(*kind);
        }
        self.hbase_exists = true;
        Ok(())
    }
}
