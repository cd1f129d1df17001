//! Schema changes against real MariaDB and HBase, as readers of HBase see them: while a DDL is
//! followed, an HBase reader never misses a row MySQL has (a reader thread counts the table's
//! rows over and over, under a concurrent writer), a DDL that changes no stored value writes
//! nothing, the helper tables of pt-online-schema-change (run for real) and gh-ost (its
//! statements replayed) never become HBase tables and their cut-overs leave HBase equal to
//! MySQL, and a `DROP COLUMN` in the middle of a bootstrap (every locking
//! mode) leaves no cell of the dropped column.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use mysql2hbase::sink::hbase::client as hbase_client;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(180);

/// The rows of an HBase table, by key-only pages.
fn count_rows(
    client: &mut mysql2hbase::sink::hbase::client::ThriftClient,
    table: &str,
) -> mysql2hbase::error::Result<usize> {
    const PAGE: usize = 10_000;
    let mut rows = 0;
    let mut start: Option<Vec<u8>> = None;
    loop {
        let page = hbase_client::scan_keys_page(client, table, start.as_deref(), PAGE)?;
        rows += page.len();
        match page.last() {
            Some(last) if page.len() == PAGE => {
                let mut next = last.clone();
                next.push(0);
                start = Some(next);
            }
            _ => return Ok(rows),
        }
    }
}

/// What a sampling reader checks in the rows it reads: the problems it finds in them (values
/// MySQL never had), or none.
type SampleCheck = Box<dyn Fn(&[(Vec<u8>, Vec<(Vec<u8>, Vec<u8>, i64)>)]) -> Vec<String> + Send>;

/// An HBase reader counting a table's rows again and again (at most every 100 ms), keeping the
/// lowest count it saw; with a sample, it also reads those rows' cells after each count and
/// keeps every problem `check` finds in them. A read cut off by a dropped connection (the
/// Thrift gateway closes connections now and then) is not a read: the reader reconnects and
/// reads again.
struct RowCounter {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(usize, usize, Vec<String>)>,
}

impl RowCounter {
    fn start(table: &str) -> RowCounter {
        Self::sampling(table, Vec::new(), Box::new(|_| Vec::new()))
    }

    fn sampling(table: &str, sample: Vec<Vec<u8>>, check: SampleCheck) -> RowCounter {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let table = table.to_string();
        let thread = std::thread::spawn(move || {
            let mut client = hbase();
            let (mut lowest, mut passes, mut problems) = (usize::MAX, 0, Vec::new());
            while !stopped.load(Ordering::Relaxed) {
                let started = std::time::Instant::now();
                let read = count_rows(&mut client, &table).and_then(|rows| {
                    let cells = hbase_client::get_rows(&mut client, &table, "d", &sample)?;
                    Ok((rows, cells))
                });
                match read {
                    Ok((rows, cells)) => {
                        lowest = lowest.min(rows);
                        passes += 1;
                        if problems.len() < 20 {
                            problems.extend(check(&cells));
                        }
                    }
                    Err(_) => client = hbase(),
                }
                std::thread::sleep(Duration::from_millis(100).saturating_sub(started.elapsed()));
            }
            (lowest, passes, problems)
        });
        RowCounter { stop, thread }
    }

    /// The lowest count seen, how many counts were made, and the problems the samples showed.
    fn finish(self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("row counter")
    }
}

/// The sample of `ddl_of_every_class...`: every 997th row of the table's first rows, under its
/// key before and after the primary key change (`id`, `id|7`). Each must be in HBase under one
/// of them, whole, with only values MySQL had: `id`; `v` >= id (the writer only adds to it);
/// `s` = `s<id>` until dropped; `w` = id % 100 as INT or DECIMAL(12,2); `c` = 7 once added.
fn ddl_sample(rows: u32) -> (Vec<Vec<u8>>, SampleCheck) {
    let ids: Vec<u32> = (1..=rows).step_by(997).collect();
    let keys = ids
        .iter()
        .flat_map(|id| [id.to_string().into_bytes(), format!("{id}|7").into_bytes()])
        .collect();
    let check: SampleCheck = Box::new(move |found| {
        let mut problems = Vec::new();
        for id in &ids {
            let of_id: Vec<_> = found
                .iter()
                .filter(|(k, _)| {
                    *k == id.to_string().into_bytes() || *k == format!("{id}|7").into_bytes()
                })
                .collect();
            if of_id.is_empty() {
                problems.push(format!("row {id} missing"));
            }
            for (key, cells) in of_id {
                let text = |q: &str| {
                    cells
                        .iter()
                        .find(|(col, _, _)| col.as_slice() == format!("d:{q}").as_bytes())
                        .map(|(_, v, _)| String::from_utf8_lossy(v).into_owned())
                };
                let w = id % 100;
                let ok = text("id") == Some(id.to_string())
                    && text("v")
                        .and_then(|v| v.parse::<u32>().ok())
                        .is_some_and(|v| v >= *id)
                    && text("s").is_none_or(|s| s == format!("s{id}"))
                    && text("w").is_some_and(|v| v == w.to_string() || v == format!("{w}.00"))
                    && text("c").is_none_or(|c| c == "7")
                    && cells.iter().all(|(col, _, _)| {
                        ["d:id", "d:v", "d:s", "d:w", "d:c"]
                            .iter()
                            .any(|q| col.as_slice() == q.as_bytes())
                    });
                if !ok {
                    let shown: Vec<String> = cells
                        .iter()
                        .map(|(c, v, _)| {
                            format!(
                                "{}={}",
                                String::from_utf8_lossy(c),
                                String::from_utf8_lossy(v)
                            )
                        })
                        .collect();
                    problems.push(format!(
                        "row {}: {}",
                        String::from_utf8_lossy(key),
                        shown.join(" ")
                    ));
                }
            }
        }
        problems
    });
    (keys, check)
}

/// A writer that inserts new rows (ids from `base`) and updates old ones, never deletes: the
/// rows MySQL had before it started stay, so an HBase reader must always see at least those.
/// A statement MariaDB refuses because a table it (or a trigger) names was just swapped away
/// (1146: pt-online-schema-change's triggers at the cut-over) changed nothing; it is tried
/// again and not counted.
fn inserting_writer(db: &str, base: u32, rows: u32, changes: u32) -> Workload {
    Workload::start_n(db, changes, move |c, done| {
        Box::pin(async move {
            let result = if done % 2 == 0 {
                c.exec_drop("INSERT INTO t (id, v) VALUES (?, ?)", (base + done, done))
                    .await
            } else {
                let id = done.wrapping_mul(7919) % rows + 1;
                c.exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (id,))
                    .await
            };
            match result {
                Ok(()) => Ok(1),
                Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(0),
                Err(e) => Err(e),
            }
        })
    })
}

async fn mysql_rows(c: &mut mysql_async::Conn) -> usize {
    c.query_first::<usize, _>("SELECT COUNT(*) FROM t")
        .await
        .unwrap()
        .unwrap()
}

async fn jobs(env: &TestEnv) -> usize {
    mysql()
        .await
        .query_first::<usize, _>(format!(
            "SELECT COUNT(*) FROM `{}`.bootstrap_jobs",
            env.state_db
        ))
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_of_every_class_never_blanks_the_hbase_table_under_a_writer() {
    const ROWS: u32 = 200_000;
    let env = TestEnv::new("ddl_classes", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT NOT NULL, v INT, s VARCHAR(20), w INT, PRIMARY KEY (id))",
            &format!(
                "INSERT INTO t SELECT seq, seq, CONCAT('s', seq), seq % 100 FROM seq_1_to_{ROWS}"
            ),
        ])
        .await;
    let mut daemon = env.start_streaming().await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    let table = env.hbase_table("t");

    // No stored value changes: nothing written, no job, not even a re-read.
    let (applied, jobs_before) = (
        metric_sum(&env, "mysql2hbase_rows_applied_total").await,
        jobs(&env).await,
    );
    let (sample, check) = ddl_sample(ROWS);
    let counter = RowCounter::sampling(&table, sample, check);
    run_sql(
        &mut c,
        &[
            "ALTER TABLE t ADD INDEX (w)",
            "ALTER TABLE t COMMENT = 'indexed', ENGINE = InnoDB",
            "INSERT INTO t (id, v) VALUES (900000, 1)",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    let (lowest, _, problems) = counter.finish();
    assert!(
        lowest >= ROWS as usize,
        "{lowest} rows seen after ADD INDEX"
    );
    assert!(problems.is_empty(), "after ADD INDEX: {problems:?}");
    assert_eq!(
        metric_sum(&env, "mysql2hbase_rows_applied_total").await - applied,
        1.0,
        "ADD INDEX and table options wrote rows to HBase"
    );
    assert_eq!(jobs(&env).await, jobs_before, "ADD INDEX started a job");
    assert_eq!(
        metric(
            &env,
            &format!(
                "mysql2hbase_ddl_total{{effect=\"schema_only\",table=\"{}.t\"}}",
                env.db
            )
        )
        .await,
        Some(2.0),
        "{}",
        daemon.log_text()
    );

    // DDL that changes stored values (a new column with its default, a dropped column, a
    // re-rendered one: backfills of just those columns) and row keys (a new primary key: a
    // whole-table resync), each under a writer.
    // A row the writer never changes: a backfill leaves its other cells as they were (same
    // versions), writing or deleting just the changed column's.
    let untouched = (1..=ROWS)
        .find(|id| {
            !(1..2_000u32)
                .step_by(2)
                .any(|done| done.wrapping_mul(7919) % ROWS + 1 == *id)
        })
        .expect("a row no update touches");
    let stamps = || {
        let key = untouched.to_string().into_bytes();
        let rows = hbase_client::get_rows(&mut hbase(), &table, "d", &[key]).unwrap();
        rows.into_iter()
            .flat_map(|(_, cells)| cells)
            .map(|(col, _, ts)| (String::from_utf8(col).unwrap(), ts))
            .collect::<std::collections::BTreeMap<String, i64>>()
    };
    for (round, (ddl, changed)) in [
        (
            "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7 AFTER id",
            Some("d:c"),
        ),
        ("ALTER TABLE t DROP COLUMN s", Some("d:s")),
        ("ALTER TABLE t MODIFY COLUMN w DECIMAL(12,2)", Some("d:w")),
        (
            "ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (id, c)",
            None,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let stamps_before = stamps();
        let before = mysql_rows(&mut c).await;
        let (sample, check) = ddl_sample(ROWS);
        let counter = RowCounter::sampling(&table, sample, check);
        let writer = inserting_writer(&env.db, 1_000_000 + round as u32 * 10_000, ROWS, 2_000);
        run_sql(&mut c, &[ddl]).await;
        let changes = writer.finish().await;
        env.assert_converges(&mut c, "t", CONVERGE).await;
        let (lowest, passes, problems) = counter.finish();
        assert!(
            lowest >= before,
            "{ddl}: an HBase reader saw {lowest} rows while MySQL had at least {before}"
        );
        assert!(
            problems.is_empty(),
            "{ddl}: an HBase reader saw values MySQL never had: {problems:?}"
        );
        assert!(
            passes >= 2,
            "{ddl}: the reader counted only {passes} time(s)"
        );
        assert_eq!(changes, 2_000);
        if let Some(changed) = changed {
            let others = |m: std::collections::BTreeMap<String, i64>| {
                m.into_iter()
                    .filter(|(col, _)| col != changed)
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                others(stamps()),
                others(stamps_before),
                "{ddl}: the backfill rewrote cells of row {untouched} other than {changed}"
            );
        }
    }
    // Column changes were backfilled, the new primary key resynced whole; each job shows in
    // `status` with its kind and its rows (all of the table's).
    for (effect, count) in [("backfill", 3.0), ("resync", 1.0)] {
        let name = format!(
            "mysql2hbase_ddl_total{{effect=\"{effect}\",table=\"{}.t\"}}",
            env.db
        );
        assert_eq!(metric(&env, &name).await, Some(count), "{name}");
    }
    let status = cli(&env, &["status"]);
    let jobs_of = |kind: &str| {
        status
            .text()
            .lines()
            .filter(|l| l.contains(&format!(" {kind} ")) && l.contains(" complete "))
            .count()
    };
    assert_eq!(jobs_of("backfill"), 3, "{}", status.text());
    assert!(jobs_of("resync") >= 1, "{}", status.text());
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn pt_online_schema_change_has_no_helper_tables_and_no_blank_window() {
    const ROWS: u32 = 50_000;
    let env = TestEnv::new("pt_osc", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            &format!("INSERT INTO t SELECT seq, seq FROM seq_1_to_{ROWS}"),
        ])
        .await;
    let mut daemon = env.start_streaming().await;
    env.assert_converges(&mut c, "t", CONVERGE).await;

    let counter = RowCounter::start(&env.hbase_table("t"));
    let writer = inserting_writer(&env.db, 1_000_000, ROWS, 4_000);
    let dsn = format!("h=127.0.0.1,P=3306,u=root,D={},t=t", env.db);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("pt-online-schema-change")
            .args([
                "--alter",
                "ADD COLUMN c INT DEFAULT 7",
                "--execute",
                "--recursion-method=none",
                "--chunk-size=1000",
                &dsn,
            ])
            .output()
            .unwrap_or_else(|e| {
                panic!("pt-online-schema-change did not run ({e}): install percona-toolkit (scripts/test.sh does)")
            })
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "pt-online-schema-change failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let changes = writer.finish().await;
    assert_eq!(changes, 4_000);
    let not_seven: usize = c
        .query_first("SELECT COUNT(*) FROM t WHERE c IS NULL OR c <> 7")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(not_seven, 0, "MySQL itself: every row has c = 7");
    env.assert_converges(&mut c, "t", CONVERGE).await;
    let (lowest, passes, _) = counter.finish();
    assert!(
        lowest >= ROWS as usize,
        "an HBase reader saw {lowest} rows while MySQL had at least {ROWS}"
    );
    assert!(passes >= 2, "the reader counted only {passes} time(s)");

    let tables = hbase_client::table_names(&mut hbase()).unwrap();
    let helpers: Vec<&String> = tables
        .iter()
        .filter(|t| t.starts_with(&env.db) && **t != env.hbase_table("t"))
        .collect();
    assert!(helpers.is_empty(), "helper tables in HBase: {helpers:?}");
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}

/// gh-ost's statements, replayed by hand: a changelog table, a ghost table filled by copy, the
/// sentry table and the atomic `RENAME` cut-over.
#[tokio::test(flavor = "multi_thread")]
async fn gh_ost_cut_over_replayed_by_hand_has_no_helper_tables_and_no_blank_window() {
    const ROWS: u32 = 20_000;
    let env = TestEnv::new("gh_ost", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            &format!("INSERT INTO t SELECT seq, seq FROM seq_1_to_{ROWS}"),
        ])
        .await;
    let mut daemon = env.start_streaming().await;
    env.assert_converges(&mut c, "t", CONVERGE).await;

    let counter = RowCounter::start(&env.hbase_table("t"));
    let writer = inserting_writer(&env.db, 1_000_000, ROWS, 2_000);
    run_sql(
        &mut c,
        &[
            "CREATE TABLE _t_ghc (id BIGINT AUTO_INCREMENT, last_update TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, \
             hint VARCHAR(64) NOT NULL, value TEXT, PRIMARY KEY (id), UNIQUE KEY hint_uidx (hint))",
            "INSERT INTO _t_ghc (hint, value) VALUES ('state', 'GhostTableMigrated')",
            "CREATE TABLE _t_gho LIKE t",
            "ALTER TABLE _t_gho ADD COLUMN c INT DEFAULT 7",
            "INSERT IGNORE INTO _t_gho (id, v) SELECT id, v FROM t FORCE INDEX (PRIMARY)",
            "REPLACE INTO _t_ghc (hint, value) VALUES ('heartbeat', NOW())",
            "CREATE TABLE _t_del (id INT AUTO_INCREMENT PRIMARY KEY) COMMENT = 'ghost-cut-over-sentry'",
            "DROP TABLE _t_del",
            "RENAME TABLE t TO _t_del, _t_gho TO t",
            "DROP TABLE _t_del",
            "DROP TABLE _t_ghc",
        ],
    )
    .await;
    writer.finish().await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    let (lowest, passes, _) = counter.finish();
    assert!(
        lowest >= ROWS as usize,
        "an HBase reader saw {lowest} rows while MySQL had at least {ROWS}"
    );
    assert!(passes >= 2, "the reader counted only {passes} time(s)");
    let tables = hbase_client::table_names(&mut hbase()).unwrap();
    let helpers: Vec<&String> = tables
        .iter()
        .filter(|t| t.starts_with(&env.db) && **t != env.hbase_table("t"))
        .collect();
    assert!(helpers.is_empty(), "helper tables in HBase: {helpers:?}");
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}

/// `DROP COLUMN` while a bootstrap of the same table runs: chunks read with the column must not
/// be written after the column is gone.
async fn drop_column_mid_bootstrap(mode: &str) {
    // `extended` reads every row under the lock before the ALTER can run: more rows keep the
    // job running (writing) when it does.
    let rows = if mode == "extended" { 200_000 } else { 60_000 };
    let env = TestEnv::new(&format!("ddl_boot_{mode}"), "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", mode)
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "2000")
        .set("MYSQL2HBASE__SNAPSHOT__PARALLELISM", "1");
    let mut c = env
        .sql(&[
            "CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, gone VARCHAR(40))",
            &format!("INSERT INTO big SELECT seq, seq, CONCAT('gone', seq) FROM seq_1_to_{rows}"),
        ])
        .await;
    let mut daemon = env.start();
    if mode == "extended" {
        // Chunks are written once every row is read: the ALTER, waiting for the lock, runs
        // while they are handed over.
        wait_for("the bootstrap to start", CONVERGE, || async {
            first_job(&env)
                .await
                .is_some_and(|(_, status, _, _)| status == "running")
        })
        .await;
    } else {
        wait_mid_bootstrap(&env, &mut daemon, 1).await;
    }
    // Under `extended` the ALTER waits for the bootstrap's global read lock.
    let db = env.db.clone();
    let alter = tokio::spawn(async move {
        let mut c = mysql().await;
        c.query_drop(format!("ALTER TABLE `{db}`.big DROP COLUMN gone"))
            .await
            .unwrap();
    });
    alter.await.unwrap();
    run_sql(&mut c, &["UPDATE big SET v = v + 1 WHERE id % 1000 = 0"]).await;
    env.assert_converges(&mut c, "big", CONVERGE).await;
    let left: usize = hbase_content(&env.hbase_table("big"))
        .values()
        .filter(|cells| cells.contains_key(b"gone".as_slice()))
        .count();
    assert_eq!(left, 0, "{left} rows keep a cell of the dropped column");
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_column_during_a_lock_free_bootstrap() {
    drop_column_mid_bootstrap("none").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_column_during_a_minimal_lock_bootstrap() {
    drop_column_mid_bootstrap("minimal").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_column_during_an_extended_lock_bootstrap() {
    drop_column_mid_bootstrap("extended").await;
}
