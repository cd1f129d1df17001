//! `mysql2hbase verify db.table [--where cond] [--repair] [--json]`: compares a MySQL table with
//! its HBase copy under the table's mapping, optionally repairs the differences, and works while
//! the daemon streams.
//!
//! # Algorithm
//!
//! 1. *Chunks.* The MySQL rows are read in primary-key chunks of `snapshot.chunk_rows`
//!    (`WHERE key > last ORDER BY key LIMIT n`, the bootstrap's query shape, over the text
//!    protocol in a UTC session and parsed by `source::text` exactly as bootstraps do). Right
//!    after each chunk the binlog position `P` is read. The HBase rows of exactly the chunk's
//!    row keys are fetched with `getRowsWithColumns` (HBase orders keys as bytes, MySQL by the
//!    typed key, so a range scan would not line up). A checksum over `(key, sorted cells)` of each
//!    side decides whether the chunk needs a row-by-row diff. One chunk is held at a time.
//!    A row with a cell over `hbase.max_cell_bytes` is one HBase cannot take: the daemon deletes
//!    it there and sends it to the dead-letter output (`core::router`), so verify expects it
//!    absent. Found absent, it is counted as `unwritable` (shown, not a difference: nothing can
//!    repair it); found present (an older image), it is an extra row, which a repair deletes.
//!    FLOAT and DOUBLE values are read exactly (`source::text`), so they compare equal to the
//!    stream's cells.
//! 2. *Extra rows.* With the chunks done, the keys of the HBase rows holding a cell of the
//!    table's family are scanned in pages (key-only scan; rows holding only joined tables'
//!    cells are no rows of the parent); each page's keys are decoded back into primary-key
//!    values (salt prefix stripped, composite keys split on unescaped `|`, `\|` and `\\`
//!    unescaped) and looked up in MySQL with `WHERE (pk) IN (...)`; a key no MySQL row maps to is
//!    a suspect extra row. Skipped with `--where` (the condition cannot be evaluated on a row
//!    MySQL no longer has).
//! 3. *Re-check.* A suspect row may just be in flight: its change is in the binlog but not yet in
//!    HBase. Before reporting it, verify waits until the daemon's checkpoint (state table
//!    `checkpoint`) has passed `P`, the position read right after the MySQL image was read; the
//!    checkpoint means "every change before it is in HBase". A checkpoint that lags only because
//!    the binlog after it holds nothing touching this table (e.g. the daemon's own state-store
//!    writes, which never move the checkpoint) counts as passed: `SHOW BINLOG EVENTS` between the
//!    two positions is checked for row events or statements on the table. Then the row is read
//!    from HBase and again from MySQL (and the position read again). If HBase equals the new
//!    MySQL image the suspect is cleared. If it differs and the MySQL image did not change between
//!    the two MySQL reads, the difference is real: every change up to the first read is in HBase
//!    and the row has not changed since, so HBase must equal it. It is reported once two rounds
//!    in a row confirm it (the second rules out a row that changed and changed back). If the
//!    MySQL image changed, the row is still moving and the check repeats (up to 10 rounds; rows
//!    still moving are counted as `unsettled`, not as differences). So under a running daemon no in-flight change is ever
//!    reported. When the checkpoint does not move for 5 s while behind (no daemon runs), verify
//!    stops waiting, reports what it sees, and says so.
//! 4. *Repair* (`--repair`): the confirmed rows are handed to the running daemon as a repair
//!    job (`bootstrap_jobs.repair_keys`, see `repair.rs`); verify waits for it (30 s for the
//!    daemon to pick it up, exit 2 naming the way out if none does). Then the whole table is
//!    verified again and that result is reported (exit 0 when equal).
//!
//! *Joined tables* (wide rows: a table whose rows are cells in its parent's HBase rows) are
//! compared against their own cells. A row is known by its place, the HBase row key and its
//! member prefix ([`RowTarget`]); chunks and lookups go by its primary key (the row key is
//! the join key its siblings share). Its expected cells are
//! [`TableMapping::target_cells`]; its HBase image is the cells of its family in that HBase
//! row whose qualifiers decode ([`TableMapping::decode_member`]) with its member (the
//! parent's and siblings' cells are left out). Extra rows: the family's cell names are
//! scanned in pages (a qualifier-only scan), grouped by place, and a place no MySQL row is
//! at (looked up by the primary key the row key and qualifier give,
//! [`TableMapping::joined_primary_key`]) is a suspect extra row: absent from MySQL, or moved
//! to another parent. Re-checks and repairs go by place (samples show it as `key/member`);
//! a repair deletes exactly a row's cells (`core::bootstrap::job::repair`).
//!
//! # Why repairs keep the invariant
//!
//! The daemon reads the repaired rows again in a consistent snapshot between two binlog
//! positions and writes them through the router exactly like a bootstrap chunk (see
//! `core::handover`): whole-row replaces for the rows MySQL has, deletes for the others, in
//! stream order, stamped at least with the clock, and a row the stream changed after the
//! snapshot is left to the stream. So a repair lands above the damage it mends and below every
//! later change of the row.
//!
//! # Limitations
//!
//! - A cell written behind the service's back with a timestamp further ahead of the clock than
//!   the service's versions can run (an `hbase shell` put with a timestamp in the future) masks
//!   every write until the clock passes it; a repair cannot fix such a row. `check` warns about
//!   future cells; delete them by hand (at their timestamp) and repair again.
//! - With `--where`, extra HBase rows are not looked for.

mod catch_up;
mod repair;
mod report;
mod rows;

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use crate::config::Config;
use crate::core::bootstrap::job::cleanup::found_rows;
use crate::core::bootstrap::job::{validate_table, JobError};
use crate::core::filter::TableFilter;
use crate::core::mapping::{RowTarget, TableMapping};
use crate::model::BinlogPosition;
use crate::sink::hbase::client::{self as hbase_client, ThriftClient};
use crate::source::mysql::{self as my, quote_identifier, quote_table};
use crate::source::snapshot::{count_rows, ChunkQuery};
use crate::state::StateStore;

pub use self::report::{command, Counts, Kind, Report, Sample};

/// How long the checkpoint may stand still while behind before verify assumes no daemon runs.
const STALL: Duration = Duration::from_secs(5);
/// Re-check rounds of a row whose MySQL image keeps changing.
const MAX_ROUNDS: usize = 10;
/// Rounds in a row that must confirm a difference (a second one rules out a row that changed
/// and changed back between two reads).
const CONFIRMS: u8 = 2;
/// Sample keys kept per kind.
const SAMPLES: usize = 10;
/// Keys per `IN (...)` lookup and per HBase key page.
const PAGE: usize = 1000;
/// Binlog events looked at between the checkpoint and a position before assuming "behind".
const MAX_BINLOG_EVENTS: usize = 200_000;

/// A row's cells as `(family:qualifier, value)`, sorted; NULL = no cell.
type Image = Vec<(Vec<u8>, Vec<u8>)>;
/// The cells HBase should hold for a MySQL row; `None`: none (a row HBase cannot take).
type Expected = Option<Image>;
/// An HBase row's cells as `(family:qualifier, value, timestamp)`.
type VersionedCells = Vec<(Vec<u8>, Vec<u8>, i64)>;

/// A row suspected to differ.
#[derive(Debug, Clone)]
struct Candidate {
    key: Vec<u8>,
    /// Primary-key values as text literals; `None` when an HBase key decodes to none.
    pk: Option<Vec<Vec<u8>>>,
    /// The MySQL image last read (`None` = no such row, or one HBase cannot take).
    prev: Option<Image>,
    /// Re-check rounds in a row that found the same difference with a stable MySQL image.
    confirms: u8,
}

/// Runs the verification (and the repair plus the re-verification with `repair`); returns the
/// first pass when it repaired, and the final pass.
pub async fn run(
    cfg: &Config,
    table: &str,
    where_clause: Option<&str>,
    repair: bool,
) -> anyhow::Result<(Option<Report>, Report)> {
    let (db, name) = table
        .split_once('.')
        .ok_or_else(|| anyhow::anyhow!("name the table as db.table, not {table:?}"))?;
    let where_clause = where_clause.filter(|w| !w.trim().is_empty());
    let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
    let schema = match validate_table(cfg, &mut conn, db, name, where_clause).await {
        Ok(s) => s,
        Err(JobError::Definite(reason)) => anyhow::bail!("{reason}"),
        Err(JobError::Transient(e)) => return Err(e.into()),
    };
    let mapping = TableMapping::resolve(cfg, &TableFilter::new(&cfg.capture), Arc::new(schema))?;
    let store = StateStore::connect(cfg).await?;
    let hbase = hbase_client::connect(&cfg.hbase)?;
    let mut v = Verifier {
        cfg: cfg.clone(),
        mapping,
        where_clause: where_clause.map(str::to_string),
        conn,
        store,
        hbase,
        hbase_exists: false,
        stalled: false,
    };
    let first = v.pass(repair).await?;
    if !repair || first.counts.total() == 0 {
        return Ok((None, first));
    }
    let mut last = v.pass(false).await?;
    last.daemon_stalled |= first.daemon_stalled;
    Ok((Some(first), last))
}

struct Verifier {
    cfg: Config,
    mapping: TableMapping,
    where_clause: Option<String>,
    conn: Conn,
    store: StateStore,
    hbase: ThriftClient,
    hbase_exists: bool,
    /// The checkpoint was found standing still while behind.
    stalled: bool,
}

impl Verifier {
    fn db(&self) -> &str {
        &self.mapping.schema.database
    }

    fn table(&self) -> &str {
        &self.mapping.schema.table
    }

    fn quoted_table(&self) -> String {
        quote_table(self.db(), self.table())
    }

    /// The columns rows are looked up by ([`TableMapping::paging_key`]), quoted.
    fn key_columns(&self) -> String {
        self.mapping
            .paging_key()
            .iter()
            .map(|&i| quote_identifier(&self.mapping.schema.columns[i].name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn hbase_call<T>(
        &mut self,
        f: impl FnOnce(&mut ThriftClient) -> crate::error::Result<T>,
    ) -> crate::error::Result<T> {
        let client = &mut self.hbase;
        tokio::task::block_in_place(|| f(client))
    }

    /// One full comparison; repairs confirmed rows chunk by chunk when `repair`.
    async fn pass(&mut self, repair: bool) -> anyhow::Result<Report> {
        let mut report = Report {
            extra_skipped: self.where_clause.is_some(),
            ..Report::default()
        };
        let hbase_table = self.mapping.hbase_table.clone();
        self.hbase_exists = self.hbase_call(|c| hbase_client::table_exists(c, &hbase_table))?;
        let (db, table) = (self.db().to_string(), self.table().to_string());
        // For the progress bar only.
        let total = count_rows(&mut self.conn, &db, &table, self.where_clause.as_deref())
            .await
            .ok()
            .flatten()
            .unwrap_or(0);
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows {per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(format!("verify {}", self.mapping.source));
        let query = ChunkQuery::new(
            (*self.mapping.schema).clone(),
            self.mapping.paging_key(),
            self.where_clause.as_deref(),
            self.cfg.snapshot.chunk_rows as usize,
        );
        let mut last: Option<Vec<Vec<u8>>> = None;
        loop {
            let sql = query.sql(last.as_deref());
            let rows: Vec<Row> = self.conn.query(sql).await?;
            let (position, _) = my::current_position(&mut self.conn).await?;
            let n = rows.len();
            let all: Vec<usize> = (0..self.mapping.schema.columns.len()).collect();
            // (place, lookup key, image), the image `None` for a row HBase cannot take, so
            // must not have (see the module doc).
            let mut chunk: Vec<(Vec<u8>, Vec<Vec<u8>>, Expected)> = Vec::with_capacity(n);
            for row in &rows {
                if let Some((target, pk, values)) = self.parse_row(row, &all)? {
                    let image = self.expected(&target, &values);
                    chunk.push((target.to_bytes(), pk, image));
                }
                last = Some(query.raw_key(row));
            }
            drop(rows);
            report.checked += chunk.len() as u64;
            let keys: Vec<Vec<u8>> = chunk.iter().map(|(k, _, _)| k.clone()).collect();
            let hbase = self.hbase_images(&keys)?;
            let mut mysql_sum = DefaultHasher::new();
            let mut hbase_sum = DefaultHasher::new();
            for (key, _, image) in &chunk {
                (key, image.as_ref()).hash(&mut mysql_sum);
                (key, hbase.get(key)).hash(&mut hbase_sum);
                if image.is_none() && !hbase.contains_key(key) {
                    report.record(&self.shown(key), Kind::Unwritable);
                }
            }
            if mysql_sum.finish() != hbase_sum.finish() {
                let suspects: Vec<Candidate> = chunk
                    .into_iter()
                    .filter(|(key, _, image)| classify(image.as_ref(), hbase.get(key)).is_some())
                    .map(|(key, pk, image)| Candidate {
                        key,
                        pk: Some(pk),
                        prev: image,
                        confirms: 0,
                    })
                    .collect();
                self.settle(suspects, position, repair, &mut report).await?;
            }
            bar.inc(n as u64);
            if n < query.chunk_rows() {
                break;
            }
        }
        bar.finish_and_clear();
        if self.where_clause.is_none() && self.hbase_exists {
            self.find_extra(repair, &mut report).await?;
        }
        report.daemon_stalled = self.stalled;
        Ok(report)
    }

    /// Re-checks suspects, records the confirmed ones, and repairs them with `repair`.
    async fn settle(
        &mut self,
        suspects: Vec<Candidate>,
        position: BinlogPosition,
        repair: bool,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if suspects.is_empty() {
            return Ok(());
        }
        report.rechecked += suspects.len() as u64;
        let confirmed = self.recheck(suspects, position, report).await?;
        for (c, kind) in &confirmed {
            report.record(&self.shown(&c.key), *kind);
        }
        if repair && !confirmed.is_empty() {
            for batch in confirmed.chunks(PAGE) {
                self.repair(batch, report).await?;
            }
        }
        Ok(())
    }

    /// HBase rows (a joined table's: groups of cells) that no MySQL row maps to.
    async fn find_extra(&mut self, repair: bool, report: &mut Report) -> anyhow::Result<()> {
        let bar = ProgressBar::new_spinner();
        bar.set_message(format!(
            "looking for extra rows in {}",
            self.mapping.hbase_table
        ));
        let mut start: Option<Vec<u8>> = None;
        loop {
            let (cands, n, last) = self.hbase_page(start.as_deref())?;
            if let Some(last) = last {
                let mut next = last;
                next.push(0);
                start = Some(next);
            }
            let found = self.mysql_images(&cands, true).await?;
            let (position, _) = my::current_position(&mut self.conn).await?;
            let suspects: Vec<Candidate> = cands
                .into_iter()
                .filter(|c| !found.contains_key(&c.key))
                .collect();
            self.settle(suspects, position, repair, report).await?;
            bar.inc(n as u64);
            if n < PAGE {
                break;
            }
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// A page of the HBase rows holding cells of the table's family from `start`, as
    /// candidates (places with their lookup keys), the number of HBase rows and the last key.
    /// A table's own rows are its family's row keys (rows holding only joined tables' cells are
    /// no rows of the parent); a joined table's, the rows its cells belong to (see `rows.rs`).
    #[allow(clippy::type_complexity)]
    fn hbase_page(
        &mut self,
        start: Option<&[u8]>,
    ) -> crate::error::Result<(Vec<Candidate>, usize, Option<Vec<u8>>)> {
        let table = self.mapping.hbase_table.clone();
        let family = self.mapping.family.clone();
        let candidate = |key: Vec<u8>, pk: Option<Vec<Vec<u8>>>| Candidate {
            key,
            pk,
            prev: None,
            confirms: 0,
        };
        if self.mapping.joined.is_none() {
            let keys = self.hbase_call(|c| {
                hbase_client::scan_family_keys_page(c, &table, &family, start, PAGE)
            })?;
            let (n, last) = (keys.len(), keys.last().cloned());
            let cands = keys
                .into_iter()
                .map(|key| {
                    let pk = self.mapping.decode_key(&key);
                    candidate(key, pk)
                })
                .collect();
            return Ok((cands, n, last));
        }
        let rows = self
            .hbase_call(|c| hbase_client::scan_qualifiers_page(c, &table, &family, start, PAGE))?;
        let (n, last) = (rows.len(), rows.last().map(|(k, _)| k.clone()));
        let cands = found_rows(&self.mapping, &rows)
            .into_iter()
            .map(|r| candidate(r.target.to_bytes(), r.pk))
            .collect();
        Ok((cands, n, last))
    }

    /// A place as shown in samples: the row key, and a joined row's member after a `/`.
    fn shown(&self, place: &[u8]) -> Vec<u8> {
        match RowTarget::from_bytes(place, self.mapping.joined.is_some()) {
            Some(RowTarget {
                key,
                member: Some(member),
            }) => [&key[..], b"/", &member].concat(),
            _ => place.to_vec(),
        }
    }

    /// The confirmed differences among `cands` (see the module doc, "Re-check").
    async fn recheck(
        &mut self,
        mut cands: Vec<Candidate>,
        mut position: BinlogPosition,
        report: &mut Report,
    ) -> anyhow::Result<Vec<(Candidate, Kind)>> {
        let mut out = Vec::new();
        for _ in 0..MAX_ROUNDS {
            if cands.is_empty() {
                break;
            }
            self.wait_applied(&position).await?;
            let keys: Vec<Vec<u8>> = cands.iter().map(|c| c.key.clone()).collect();
            let hbase = self.hbase_images(&keys)?;
            let mysql = self.mysql_images(&cands, false).await?;
            let (now, _) = my::current_position(&mut self.conn).await?;
            let mut next = Vec::new();
            for mut c in cands {
                let m = mysql.get(&c.key);
                let Some(kind) = classify(m, hbase.get(&c.key)) else {
                    continue;
                };
                if c.prev.as_ref() == m {
                    c.confirms += 1;
                    if c.confirms >= CONFIRMS {
                        out.push((c, kind));
                        continue;
                    }
                } else {
                    c.prev = m.cloned();
                    c.confirms = 0;
                }
                next.push(c);
            }
            cands = next;
            position = now;
        }
        report.unsettled += cands.len() as u64;
        Ok(out)
    }
}

/// What is wrong, given the MySQL and HBase images (`None` = no row); a MySQL row without any
/// cell has no HBase row either.
fn classify(mysql: Option<&Image>, hbase: Option<&Image>) -> Option<Kind> {
    let mysql = mysql.filter(|i| !i.is_empty());
    let hbase = hbase.filter(|i| !i.is_empty());
    match (mysql, hbase) {
        (None, None) => None,
        (Some(_), None) => Some(Kind::Missing),
        (None, Some(_)) => Some(Kind::Extra),
        (Some(m), Some(h)) => (m != h).then_some(Kind::Different),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let a: Image = vec![(b"d:a".to_vec(), b"1".to_vec())];
        let b: Image = vec![(b"d:a".to_vec(), b"2".to_vec())];
        assert_eq!(classify(Some(&a), Some(&a)), None);
        assert_eq!(classify(Some(&a), Some(&b)), Some(Kind::Different));
        assert_eq!(classify(Some(&a), None), Some(Kind::Missing));
        assert_eq!(classify(None, Some(&a)), Some(Kind::Extra));
        assert_eq!(classify(Some(&vec![]), None), None);
    }
}
