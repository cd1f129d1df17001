//! Whether a suspect row may only be in flight: waits until the daemon's checkpoint has passed
//! the position read with the row (see the module doc of `admin::verify`, "Re-check"), or
//! until the binlog between the checkpoint and that position is known to hold nothing of the
//! table.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Row, Value};

use super::{Verifier, MAX_BINLOG_EVENTS, STALL};
use crate::model::BinlogPosition;
use crate::source::mysql as my;

impl Verifier {
    /// Waits until the daemon has written to HBase every change of this table before
    /// `position`, or until its checkpoint stood still for [`STALL`] while behind.
    pub(super) async fn wait_applied(&mut self, position: &BinlogPosition) -> anyhow::Result<()> {
        let mut seen: Option<BinlogPosition> = None;
        let mut since = Instant::now();
        loop {
            // No checkpoint (table) yet: the daemon has never stored one.
            let checkpoint = self.store.load_checkpoint().await.ok().flatten();
            if let Some(cp) = checkpoint {
                if cp.position >= *position
                    || !self.table_events_between(&cp.position, position).await?
                {
                    self.stalled = false;
                    return Ok(());
                }
                if seen.as_ref() != Some(&cp.position) {
                    seen = Some(cp.position);
                    since = Instant::now();
                }
            }
            // Once found standing still, later waits are short unless it moves again.
            let limit = if self.stalled {
                Duration::from_millis(300)
            } else {
                STALL
            };
            if since.elapsed() >= limit {
                self.stalled = true;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the binlog between `from` and `to` holds row events of this table or a statement
    /// naming it (conservatively `true` when that cannot be told).
    pub(super) async fn table_events_between(
        &mut self,
        from: &BinlogPosition,
        to: &BinlogPosition,
    ) -> anyhow::Result<bool> {
        let files = my::binlog_files(&mut self.conn).await?;
        if !files.iter().any(|f| f == from.file()) {
            return Ok(true);
        }
        let table_map = format!("({}.{})", self.db(), self.table());
        let table_lower = self.table().to_lowercase();
        let mut looked = 0usize;
        let in_range = |f: &String| {
            BinlogPosition::new(f.as_str(), 0)
                .is_ok_and(|p| p.index() >= from.index() && p.index() <= to.index())
        };
        for file in files.iter().filter(|f| in_range(f)) {
            let mut pos = if file == from.file() {
                from.offset()
            } else {
                4
            };
            loop {
                let rows: Vec<Row> = self
                    .conn
                    .query(format!(
                        "SHOW BINLOG EVENTS IN {} FROM {pos} LIMIT 1000",
                        Value::from(file.as_str()).as_sql(false)
                    ))
                    .await?;
                if rows.is_empty() {
                    break;
                }
                let n = rows.len();
                for row in rows {
                    let start: u64 = row.get(1).unwrap_or_default();
                    if file == to.file() && start >= to.offset() {
                        return Ok(false);
                    }
                    let kind: String = row.get(2).unwrap_or_default();
                    let end: u64 = row.get(4).unwrap_or_default();
                    let info: Vec<u8> = row.get(5).unwrap_or_default();
                    let info = String::from_utf8_lossy(&info);
                    if kind == "Table_map" && info.contains(&table_map) {
                        return Ok(true);
                    }
                    if kind == "Query" {
                        let upper = info.trim_start().to_uppercase();
                        let txn = ["BEGIN", "COMMIT", "ROLLBACK", "XA ", "SAVEPOINT"]
                            .iter()
                            .any(|p| upper.starts_with(p));
                        if !txn && info.to_lowercase().contains(&table_lower) {
                            return Ok(true);
                        }
                    }
                    pos = end.max(pos + 1);
                }
                looked += n;
                if looked > MAX_BINLOG_EVENTS {
                    return Ok(true);
                }
                if n < 1000 {
                    break;
                }
            }
        }
        Ok(false)
    }
}
