//! What verify found, and how the CLI shows it (text or one JSON line) with its exit code.

use super::{run, MAX_ROUNDS, SAMPLES, STALL};
use crate::config::Config;

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
    /// In MySQL with a cell over `hbase.max_cell_bytes`, so deleted from HBase and sent to the
    /// dead-letter output by the daemon: not a difference (nothing can repair it), but shown.
    Unwritable,
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
    /// Rows HBase cannot take, found absent there as they should be ([`Kind::Unwritable`]).
    pub unwritable: u64,
}

impl Counts {
    pub(super) fn add(&mut self, kind: Kind) {
        match kind {
            Kind::Missing => self.missing += 1,
            Kind::Extra => self.extra += 1,
            Kind::Different => self.different += 1,
            Kind::Unwritable => self.unwritable += 1,
        }
    }

    /// The differences (rows HBase cannot take are not).
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
    /// Repaired rows HBase holds cells of with timestamps in the future (written outside the
    /// service with a clock ahead).
    pub above_version: Vec<String>,
}

impl Report {
    pub(super) fn record(&mut self, key: &[u8], kind: Kind) {
        self.counts.add(kind);
        if self.samples.iter().filter(|s| s.kind == kind).count() < SAMPLES {
            self.samples.push(Sample {
                key: String::from_utf8_lossy(key).into_owned(),
                kind,
            });
        }
    }
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
                    unwritable: u64,
                    samples: &'a [Sample],
                    #[serde(skip_serializing_if = "Option::is_none")]
                    repaired: Option<&'a Counts>,
                }
                let doc = serde_json::to_string(&Doc {
                    checked: last.checked,
                    missing: last.counts.missing,
                    extra: last.counts.extra,
                    different: last.counts.different,
                    unwritable: last.counts.unwritable,
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
    if last.counts.unwritable > 0 {
        notes.push(format!(
            "{} row(s) have a cell over hbase.max_cell_bytes: HBase cannot hold them, so the daemon deletes them there and sends them to the dead-letter output ([dead_letter] path or topic); they are not differences and --repair cannot write them",
            last.counts.unwritable
        ));
    }
    if last.extra_skipped {
        notes.push("extra HBase rows are not looked for with --where".into());
    }
    if let Some(f) = first {
        if !f.above_version.is_empty() && last.counts.total() > 0 {
            notes.push(format!(
                "HBase holds cells with timestamps in the future for {} repaired row(s) (e.g. {:?}), written outside mysql2hbase with a clock ahead of this one: no versioned write can override them until the clock passes them; delete those cells by hand at their timestamps, fix the writer's clock, and repair again (`mysql2hbase check` lists such tables)",
                f.above_version.len(),
                f.above_version.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
    notes
}

fn print_report(table: &str, r: &Report) {
    println!(
        "{table}: {} row(s) checked: {} missing, {} extra, {} different{}{}",
        r.checked,
        r.counts.missing,
        r.counts.extra,
        r.counts.different,
        if r.counts.unwritable > 0 {
            format!(" ({} unwritable, absent as expected)", r.counts.unwritable)
        } else {
            String::new()
        },
        if r.counts.total() == 0 {
            " (equal)"
        } else {
            ""
        }
    );
    for kind in [
        Kind::Missing,
        Kind::Extra,
        Kind::Different,
        Kind::Unwritable,
    ] {
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
