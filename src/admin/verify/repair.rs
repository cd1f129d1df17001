//! `--repair`: rewrites confirmed rows from a fresh MySQL read through the one HBase write path
//! (see the module doc of `admin::verify`, "Why repair versions keep the invariant").

use std::sync::Arc;

use super::{classify, Candidate, Image, Report, Verifier};
use crate::model::{Cell, RowChange, RowOp, Version};
use crate::sink::hbase::mutations::HbaseWriter;
use crate::source::mysql as my;

impl Verifier {
    /// Rewrites confirmed rows from a fresh MySQL read, at the version of the position read
    /// just before it (see the module doc, "Why repair versions keep the invariant").
    pub(super) async fn repair(
        &mut self,
        cands: &[Candidate],
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let (position, _) = my::current_position(&mut self.conn).await?;
        let version = Version::of(&position);
        let mysql = self.mysql_images(cands, false).await?;
        let keys: Vec<Vec<u8>> = cands.iter().map(|c| c.key.clone()).collect();
        let hbase = self.hbase_rows(&keys)?;
        let table: Arc<str> = Arc::from(self.mapping.hbase_table.as_str());
        let family: Arc<str> = Arc::from(self.mapping.family.as_str());
        let mut changes = Vec::new();
        for c in cands {
            let m = mysql.get(&c.key);
            let h = hbase.get(&c.key);
            let h_image: Option<Image> = h.map(|cells| {
                cells
                    .iter()
                    .map(|(q, v, _)| (q.clone(), v.clone()))
                    .collect()
            });
            let Some(kind) = classify(m, h_image.as_ref()) else {
                continue;
            };
            if h.is_some_and(|cells| cells.iter().any(|(_, _, ts)| *ts > version.0)) {
                report
                    .above_version
                    .push(String::from_utf8_lossy(&c.key).into_owned());
            }
            let op = match m.filter(|i| !i.is_empty()) {
                Some(image) => {
                    let mut cells: Vec<Cell> = self
                        .mapping
                        .qualifiers
                        .iter()
                        .flatten()
                        .map(|q| Cell {
                            column: q.clone(),
                            value: image
                                .iter()
                                .find(|(iq, _)| iq.as_slice() == &q[..])
                                .map(|(_, v)| v.clone()),
                        })
                        .collect();
                    // Cells HBase holds that the mapping does not write (a dropped column).
                    for (q, _, _) in h.into_iter().flatten() {
                        if !cells.iter().any(|c| &c.column[..] == q.as_slice()) {
                            cells.push(Cell {
                                column: Arc::from(q.as_slice()),
                                value: None,
                            });
                        }
                    }
                    RowOp::Put(cells)
                }
                None => RowOp::Delete,
            };
            report.repaired.add(kind);
            changes.push(RowChange {
                table: table.clone(),
                family: family.clone(),
                key: c.key.clone(),
                op,
                version,
            });
        }
        if changes.is_empty() {
            return Ok(());
        }
        let mut writer = HbaseWriter::new(
            &self.cfg.hbase.thrift,
            self.cfg.hbase.timeout,
            self.cfg.hbase.max_versions,
        );
        let batch = vec![(table, changes)];
        tokio::task::block_in_place(|| writer.write(version, &batch))?;
        self.hbase_exists = true;
        Ok(())
    }
}
