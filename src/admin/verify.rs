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
//! 2. *Extra rows.* With the chunks done, the HBase table's keys are scanned in pages (key-only
//!    scan); each page's keys are decoded back into primary-key values (salt prefix stripped,
//!    composite keys split on unescaped `|`, `\|` and `\\` unescaped) and looked up in MySQL with
//!    `WHERE (pk) IN (...)`; a key no MySQL row maps to is a suspect extra row. Skipped with
//!    `--where` (the condition cannot be evaluated on a row MySQL no longer has).
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
//! 4. *Repair* (`--repair`): for each confirmed row, read the binlog position `R`, then re-read
//!    the row from MySQL, and write its image at version `Version::of(R)` with `mutateRowsTs`
//!    (through [`HbaseWriter`]): a put of every mapped column, NULL columns and HBase-only
//!    qualifiers as column deletes, or a family delete when MySQL has no such row. Then the
//!    whole table is verified again and that result is reported (exit 0 when equal).
//!
//! # Why repair versions keep the invariant
//!
//! The invariant (docs/ARCHITECTURE.md) is that a write stamped V carries the row's true state
//! as of V, and that nothing newer is ever overwritten. The repair image is read after `R`, so
//! it contains every change of the row up to `R`: it is the true state as of `R` unless the row
//! changed between `R` and the re-read. Every such change, and every later one, is streamed at
//! its own version, which is above `Version::of(R)` (versions strictly increase along the
//! binlog), so it wins over the repair whichever reaches HBase first: a repair never masks a
//! newer streamed change, and deletes at `Version::of(R)` mask only cells at or below it.
//! `R` is at or above every version the stream has written so far (the checkpoint never passes
//! the server's position), so the repair is visible over the damaged state it replaces.
//!
//! # Limitations
//!
//! - A cell or delete marker written behind the service's back with a timestamp above the
//!   current binlog version (e.g. an `hbase shell` put at wall-clock milliseconds, ~1.7e12,
//!   while versions are ~(file_index << 32)) masks every versioned write until the binlog
//!   passes it: repair cannot fix such rows without writing above streamed versions, which
//!   would break the invariant. They stay reported after the repair, with a hint; delete them
//!   by hand (at their timestamp) and repair again.
//! - With `--where`, extra HBase rows are not looked for.
//! - A repair of a row changed between `R` and its re-read writes a newer image at a slightly
//!   lower version; the change's own streamed write (higher version) supersedes it.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use crate::config::Config;
use crate::core::change::{Cell, RowChange, RowOp};
use crate::core::filter::TableFilter;
use crate::core::mapping::TableMapping;
use crate::core::version::Version;
use crate::sink::hbase::HbaseWriter;
use crate::sink::hbase_client::{self, ThriftClient};
use crate::source::decode::SqlValue;
use crate::source::mysql::{self as my, quote_identifier, quote_table, BinlogPosition};
use crate::source::snapshot::{after_key, validate_table, JobError};
use crate::source::text::parse_text;
use crate::state::StateStore;

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
/// An HBase row's cells as `(family:qualifier, value, timestamp)`.
type VersionedCells = Vec<(Vec<u8>, Vec<u8>, i64)>;

/// What is wrong with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// In MySQL, not in HBase.
    Missing,
    /// In HBase only.
    Extra,
    /// In both, with other cells.
    Different,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    pub key: String,
    pub kind: Kind,
}

/// Counts per kind.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub missing: u64,
    pub extra: u64,
    pub different: u64,
}

impl Counts {
    fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Missing => self.missing += 1,
            Kind::Extra => self.extra += 1,
            Kind::Different => self.different += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.missing + self.extra + self.different
    }
}

/// The result of one pass over the table.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// MySQL rows compared.
    pub checked: u64,
    pub counts: Counts,
    pub samples: Vec<Sample>,
    /// Rows that differed at first sight and were re-checked (most were in flight).
    pub rechecked: u64,
    /// Rows that kept changing through every re-check round (not counted as differences).
    pub unsettled: u64,
    /// Whether the daemon's checkpoint stood still while behind (no daemon running?).
    pub daemon_stalled: bool,
    /// Whether extra rows were not looked for (`--where`).
    pub extra_skipped: bool,
    /// Rows written or deleted by `--repair`, per kind found.
    pub repaired: Counts,
    /// Repaired rows HBase holds cells of above the repair's version (written outside the service).
    pub above_version: Vec<String>,
}

impl Report {
    fn record(&mut self, key: &[u8], kind: Kind) {
        self.counts.add(kind);
        if self.samples.iter().filter(|s| s.kind == kind).count() < SAMPLES {
            self.samples.push(Sample {
                key: String::from_utf8_lossy(key).into_owned(),
                kind,
            });
        }
    }
}

/// A row suspected to differ.
#[derive(Debug, Clone)]
struct Candidate {
    key: Vec<u8>,
    /// Primary-key values as text literals; `None` when an HBase key decodes to none.
    pk: Option<Vec<Vec<u8>>>,
    /// The MySQL image last read (`None` = no such row).
    prev: Option<Image>,
    /// Re-check rounds in a row that found the same difference with a stable MySQL image.
    confirms: u8,
}

/// `verify` as the CLI runs it: prints the report and returns the exit code (0 equal, 1 not,
/// 2 error).
pub async fn command(
    cfg: &Config,
    table: &str,
    where_clause: Option<&str>,
    repair: bool,
    json: bool,
) -> u8 {
    match run(cfg, table, where_clause, repair).await {
        Ok((first, last)) => {
            if json {
                // Fields in this order: serde_json::json! would sort them.
                #[derive(serde::Serialize)]
                struct Doc<'a> {
                    checked: u64,
                    missing: u64,
                    extra: u64,
                    different: u64,
                    samples: &'a [Sample],
                    #[serde(skip_serializing_if = "Option::is_none")]
                    repaired: Option<&'a Counts>,
                }
                let doc = serde_json::to_string(&Doc {
                    checked: last.checked,
                    missing: last.counts.missing,
                    extra: last.counts.extra,
                    different: last.counts.different,
                    samples: &last.samples,
                    repaired: first.as_ref().map(|f| &f.repaired),
                })
                .expect("serializable");
                println!("{doc}");
                for note in notes(first.as_ref(), &last) {
                    eprintln!("note: {note}");
                }
            } else {
                if let Some(first) = &first {
                    println!("before repair:");
                    print_report(table, first);
                    println!(
                        "repaired: {} missing row(s) written, {} extra row(s) deleted, {} different row(s) rewritten",
                        first.repaired.missing, first.repaired.extra, first.repaired.different
                    );
                    println!("after repair:");
                }
                print_report(table, &last);
                for note in notes(first.as_ref(), &last) {
                    println!("note: {note}");
                }
            }
            if last.counts.total() == 0 {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("error: verify {table}: {e:#}");
            2
        }
    }
}

fn notes(first: Option<&Report>, last: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if first.is_some_and(|f| f.daemon_stalled) || last.daemon_stalled {
        notes.push(format!(
            "the daemon's checkpoint did not move for {} s while behind the rows read (is `mysql2hbase run` stopped?): differences were reported without waiting for changes in flight",
            STALL.as_secs()
        ));
    }
    if last.rechecked > 0 {
        notes.push(format!(
            "{} row(s) differed at first sight and were re-checked once the daemon had written the changes before them; {} of them still differ",
            last.rechecked,
            last.counts.total()
        ));
    }
    if last.unsettled > 0 {
        notes.push(format!(
            "{} row(s) kept changing through {MAX_ROUNDS} re-checks and were not compared",
            last.unsettled
        ));
    }
    if last.extra_skipped {
        notes.push("extra HBase rows are not looked for with --where".into());
    }
    if let Some(f) = first {
        if !f.above_version.is_empty() && last.counts.total() > 0 {
            notes.push(format!(
                "HBase holds cells above the binlog versions for {} repaired row(s) (e.g. {:?}), written outside mysql2hbase: versioned repairs cannot override them; delete those cells by hand at their timestamps and repair again",
                f.above_version.len(),
                f.above_version.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
    notes
}

fn print_report(table: &str, r: &Report) {
    println!(
        "{table}: {} row(s) checked: {} missing, {} extra, {} different{}",
        r.checked,
        r.counts.missing,
        r.counts.extra,
        r.counts.different,
        if r.counts.total() == 0 {
            " (equal)"
        } else {
            ""
        }
    );
    for kind in [Kind::Missing, Kind::Extra, Kind::Different] {
        let keys: Vec<&str> = r
            .samples
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.key.as_str())
            .collect();
        if !keys.is_empty() {
            println!("  {kind:?} (sample keys): {}", keys.join(", "));
        }
    }
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
    let hbase = hbase_client::connect(&cfg.hbase.thrift, cfg.hbase.timeout)?;
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

    fn all_columns(&self) -> String {
        self.mapping
            .schema
            .columns
            .iter()
            .map(|c| quote_identifier(&c.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn key_columns(&self) -> String {
        self.mapping
            .row_key
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
        let total = self.estimate_rows().await.unwrap_or(0);
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} rows {per_sec} ETA {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(format!("verify {}", self.mapping.source));
        let chunk_rows = self.cfg.snapshot.chunk_rows.max(1) as usize;
        let (columns, order) = (self.all_columns(), self.key_columns());
        let mut last: Option<Vec<Vec<u8>>> = None;
        loop {
            let mut conditions = Vec::new();
            if let Some(last) = &last {
                conditions.push(after_key(&self.mapping.schema, &self.mapping.row_key, last));
            }
            if let Some(w) = &self.where_clause {
                conditions.push(format!("({w})"));
            }
            let sql = format!(
                "SELECT {columns} FROM {} {} ORDER BY {order} LIMIT {chunk_rows}",
                self.quoted_table(),
                if conditions.is_empty() {
                    String::new()
                } else {
                    format!("WHERE {}", conditions.join(" AND "))
                },
            );
            let rows: Vec<Row> = self.conn.query(sql).await?;
            let (position, _) = my::current_position(&mut self.conn).await?;
            let n = rows.len();
            let all: Vec<usize> = (0..self.mapping.schema.columns.len()).collect();
            let mut chunk: Vec<(Vec<u8>, Vec<Vec<u8>>, Image)> = Vec::with_capacity(n);
            for row in &rows {
                if let Some((key, pk, values)) = self.parse_row(row, &all)? {
                    let image = self.image(&values);
                    chunk.push((key, pk, image));
                }
                last = Some(raw_key(row, &self.mapping.row_key));
            }
            drop(rows);
            report.checked += chunk.len() as u64;
            let keys: Vec<Vec<u8>> = chunk.iter().map(|(k, _, _)| k.clone()).collect();
            let hbase = self.hbase_images(&keys)?;
            let mut mysql_sum = DefaultHasher::new();
            let mut hbase_sum = DefaultHasher::new();
            for (key, _, image) in &chunk {
                (key, Some(image)).hash(&mut mysql_sum);
                (key, hbase.get(key)).hash(&mut hbase_sum);
            }
            if mysql_sum.finish() != hbase_sum.finish() {
                let suspects: Vec<Candidate> = chunk
                    .into_iter()
                    .filter(|(key, _, image)| classify(Some(image), hbase.get(key)).is_some())
                    .map(|(key, pk, image)| Candidate {
                        key,
                        pk: Some(pk),
                        prev: Some(image),
                        confirms: 0,
                    })
                    .collect();
                self.settle(suspects, position, repair, &mut report).await?;
            }
            bar.inc(n as u64);
            if n < chunk_rows {
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
            report.record(&c.key, *kind);
        }
        if repair && !confirmed.is_empty() {
            let cands: Vec<Candidate> = confirmed.into_iter().map(|(c, _)| c).collect();
            for batch in cands.chunks(PAGE) {
                self.repair(batch, report).await?;
            }
        }
        Ok(())
    }

    /// HBase keys that no MySQL row maps to.
    async fn find_extra(&mut self, repair: bool, report: &mut Report) -> anyhow::Result<()> {
        let bar = ProgressBar::new_spinner();
        bar.set_message(format!(
            "looking for extra rows in {}",
            self.mapping.hbase_table
        ));
        let table = self.mapping.hbase_table.clone();
        let mut start: Option<Vec<u8>> = None;
        loop {
            let from = start.clone();
            let keys = self
                .hbase_call(|c| hbase_client::scan_keys_page(c, &table, from.as_deref(), PAGE))?;
            let n = keys.len();
            if let Some(last) = keys.last() {
                let mut next = last.clone();
                next.push(0);
                start = Some(next);
            }
            let cands: Vec<Candidate> = keys
                .into_iter()
                .map(|key| Candidate {
                    pk: self.decode_key(&key),
                    key,
                    prev: None,
                    confirms: 0,
                })
                .collect();
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

    /// Rewrites confirmed rows from a fresh MySQL read, at the version of the position read
    /// just before it (see the module doc, "Why repair versions keep the invariant").
    async fn repair(&mut self, cands: &[Candidate], report: &mut Report) -> anyhow::Result<()> {
        let (position, _) = my::current_position(&mut self.conn).await?;
        let version = Version::of(&position)?;
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

    /// Waits until the daemon has written to HBase every change of this table before
    /// `position`, or until its checkpoint stood still for [`STALL`] while behind.
    async fn wait_applied(&mut self, position: &BinlogPosition) -> anyhow::Result<()> {
        let target = Version::of(position)?;
        let mut seen: Option<BinlogPosition> = None;
        let mut since = Instant::now();
        loop {
            // No checkpoint (table) yet: the daemon has never stored one.
            let checkpoint = self.store.load_checkpoint().await.ok().flatten();
            if let Some(cp) = checkpoint {
                if Version::of(&cp.position)? >= target
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
    async fn table_events_between(
        &mut self,
        from: &BinlogPosition,
        to: &BinlogPosition,
    ) -> anyhow::Result<bool> {
        let files = my::binlog_files(&mut self.conn).await?;
        if !files.contains(&from.file) {
            return Ok(true);
        }
        let table_map = format!("({}.{})", self.db(), self.table());
        let table_lower = self.table().to_lowercase();
        let mut looked = 0usize;
        for file in files.iter().filter(|f| **f >= from.file && **f <= to.file) {
            let mut pos = if *file == from.file { from.pos } else { 4 };
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
                    if *file == to.file && start >= to.pos {
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

    async fn estimate_rows(&mut self) -> anyhow::Result<u64> {
        let n: Option<Option<u64>> = match &self.where_clause {
            Some(w) => self
                .conn
                .query_first(format!(
                    "SELECT COUNT(*) FROM {} WHERE ({w})",
                    self.quoted_table()
                ))
                .await?
                .map(Some),
            None => {
                let (db, table) = (self.db().to_string(), self.table().to_string());
                self.conn
                    .exec_first(
                        "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                        (db, table),
                    )
                    .await?
            }
        };
        Ok(n.flatten().unwrap_or(0))
    }

    /// A row read with the columns `selected` (indexes into the schema): its row key, its key
    /// values as text and its values (NULL for columns not selected); `None` for a NULL key.
    #[allow(clippy::type_complexity)]
    fn parse_row(
        &self,
        row: &Row,
        selected: &[usize],
    ) -> anyhow::Result<Option<(Vec<u8>, Vec<Vec<u8>>, Vec<SqlValue>)>> {
        let schema = &self.mapping.schema;
        let mut values = vec![SqlValue::Null; schema.columns.len()];
        for (pos, &i) in selected.iter().enumerate() {
            let bytes = match row.as_ref(pos) {
                Some(Value::Bytes(b)) => Some(b.as_slice()),
                _ => None,
            };
            values[i] = parse_text(&schema.columns[i], bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", self.mapping.source))?;
        }
        let Some(key) = self.mapping.row_key(&values) else {
            return Ok(None);
        };
        let pk = self
            .mapping
            .row_key
            .iter()
            .map(|i| {
                let pos = selected.iter().position(|s| s == i).expect("key selected");
                match row.as_ref(pos) {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => Vec::new(),
                }
            })
            .collect();
        Ok(Some((key, pk, values)))
    }

    fn image(&self, values: &[SqlValue]) -> Image {
        let mut cells: Image = self
            .mapping
            .qualifiers
            .iter()
            .zip(values)
            .filter_map(|(q, v)| Some((q.as_ref()?.to_vec(), self.mapping.cell_value(v)?)))
            .collect();
        cells.sort();
        cells
    }

    /// The current MySQL images of the candidates' rows by row key (only the key cells with
    /// `key_only`); absent rows are left out.
    async fn mysql_images(
        &mut self,
        cands: &[Candidate],
        key_only: bool,
    ) -> anyhow::Result<HashMap<Vec<u8>, Image>> {
        let mut out = HashMap::new();
        let schema = self.mapping.schema.clone();
        let key_cols = self.mapping.row_key.clone();
        let selected: Vec<usize> = if key_only {
            key_cols.clone()
        } else {
            (0..schema.columns.len()).collect()
        };
        let columns = selected
            .iter()
            .map(|&i| quote_identifier(&schema.columns[i].name))
            .collect::<Vec<_>>()
            .join(", ");
        let literal = |i: usize, v: &[u8]| {
            let quoted = Value::Bytes(v.to_vec()).as_sql(false);
            if schema.columns[key_cols[i]].collation == Some(63) {
                format!("_binary {quoted}")
            } else {
                quoted
            }
        };
        let pks: Vec<&Vec<Vec<u8>>> = cands.iter().filter_map(|c| c.pk.as_ref()).collect();
        for batch in pks.chunks(PAGE) {
            let tuples: Vec<String> = batch
                .iter()
                .map(|pk| {
                    let parts: Vec<String> =
                        pk.iter().enumerate().map(|(i, v)| literal(i, v)).collect();
                    if parts.len() == 1 {
                        parts.into_iter().next().expect("one part")
                    } else {
                        format!("({})", parts.join(", "))
                    }
                })
                .collect();
            let lhs = if key_cols.len() == 1 {
                self.key_columns()
            } else {
                format!("({})", self.key_columns())
            };
            let sql = format!(
                "SELECT {columns} FROM {} WHERE {lhs} IN ({})",
                self.quoted_table(),
                tuples.join(", ")
            );
            let rows: Vec<Row> = self.conn.query(sql).await?;
            for row in &rows {
                if let Some((key, _, values)) = self.parse_row(row, &selected)? {
                    let image = if key_only {
                        Vec::new()
                    } else {
                        self.image(&values)
                    };
                    out.insert(key, image);
                }
            }
        }
        Ok(out)
    }

    /// The HBase rows of `keys` with cell timestamps.
    fn hbase_rows(
        &mut self,
        keys: &[Vec<u8>],
    ) -> crate::error::Result<HashMap<Vec<u8>, VersionedCells>> {
        if !self.hbase_exists || keys.is_empty() {
            return Ok(HashMap::new());
        }
        let (table, family) = (
            self.mapping.hbase_table.clone(),
            self.mapping.family.clone(),
        );
        let mut out = HashMap::new();
        for batch in keys.chunks(PAGE) {
            let rows = self.hbase_call(|c| hbase_client::get_rows(c, &table, &family, batch))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The HBase images of `keys`; absent rows are left out.
    fn hbase_images(&mut self, keys: &[Vec<u8>]) -> crate::error::Result<HashMap<Vec<u8>, Image>> {
        Ok(self
            .hbase_rows(keys)?
            .into_iter()
            .map(|(k, cells)| {
                let mut image: Image = cells.into_iter().map(|(q, v, _)| (q, v)).collect();
                image.sort();
                (k, image)
            })
            .collect())
    }

    /// The primary-key values an HBase row key stands for; `None` when it cannot be one.
    fn decode_key(&self, key: &[u8]) -> Option<Vec<Vec<u8>>> {
        let body = match self.mapping.salt_buckets {
            Some(_) => key.get(2..)?,
            None => key,
        };
        if self.mapping.row_key.len() == 1 {
            return Some(vec![body.to_vec()]);
        }
        split_composite(body).filter(|parts| parts.len() == self.mapping.row_key.len())
    }
}

/// A composite row key split on unescaped `|`, with `\|` and `\\` unescaped.
pub fn split_composite(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut parts = vec![Vec::new()];
    let mut it = body.iter();
    while let Some(&b) = it.next() {
        match b {
            b'\\' => parts.last_mut().expect("non-empty").push(*it.next()?),
            b'|' => parts.push(Vec::new()),
            _ => parts.last_mut().expect("non-empty").push(b),
        }
    }
    Some(parts)
}

/// The raw text of a row's key columns (the chunk query's `last` key).
fn raw_key(row: &Row, key_columns: &[usize]) -> Vec<Vec<u8>> {
    key_columns
        .iter()
        .map(|&i| match row.as_ref(i) {
            Some(Value::Bytes(b)) => b.clone(),
            _ => Vec::new(),
        })
        .collect()
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
    fn composite_keys_split_back() {
        assert_eq!(
            split_composite(b"a\\|b|c\\\\d").unwrap(),
            vec![b"a|b".to_vec(), b"c\\d".to_vec()]
        );
        assert_eq!(split_composite(b"x|").unwrap(), vec![b"x".to_vec(), vec![]]);
        assert_eq!(split_composite(b"bad\\"), None);
    }

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
