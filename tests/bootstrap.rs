//! Table bootstraps against real MariaDB and HBase, for each locking mode: a 120k-row table
//! bootstrapped while another connection updates, deletes and re-inserts its rows, with a
//! `kill -9` in the middle; HBase must equal MySQL at the end, the restart must resume after the
//! last written chunk (checked in the server's general log), `minimal` must hold the global lock
//! under a second, and `none` must send no lock statement at all. `extended` and `none` read
//! the table with three readers over key ranges (`snapshot.parallelism = 3`), each on its own
//! connection, every range resuming where it got to.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

/// The general log is global: tests that read it run one at a time.
static GENERAL_LOG: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROWS: u32 = 120_000;

/// The first job's key ranges as stored: (each range's SQL bounds, whether it has a last key,
/// whether it is done).
async fn key_ranges(env: &TestEnv) -> Vec<(serde_json::Value, bool, bool)> {
    let mut c = mysql().await;
    let text: Option<String> = c
        .query_first(format!(
            "SELECT key_ranges FROM `{}`.bootstrap_jobs ORDER BY id LIMIT 1",
            env.state_db
        ))
        .await
        .unwrap()
        .flatten();
    let ranges: Vec<serde_json::Value> =
        serde_json::from_str(&text.expect("key ranges stored")).unwrap();
    ranges
        .into_iter()
        .map(|r| {
            (
                r["range"].clone(),
                !r["last_key"].is_null(),
                r["done"] == true,
            )
        })
        .collect()
}

async fn exercise(mode: &str, kill_mid_bootstrap: bool, readers: usize) {
    let _serial = GENERAL_LOG.lock().await;
    let env = TestEnv::new(&format!("boot_{mode}"), "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", mode)
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "3000")
        .set("MYSQL2HBASE__SNAPSHOT__PARALLELISM", &readers.to_string());
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            "CREATE TABLE big (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40), d DATETIME(3) NULL)",
            &format!("INSERT INTO big SELECT seq, seq, CONCAT('r', seq), NULL FROM seq_1_to_{ROWS}"),
            "SET GLOBAL log_output = 'TABLE'",
            "SET GLOBAL general_log = 'ON'",
        ])
        .await;
    let since: String = c.query_first("SELECT NOW(6)").await.unwrap().unwrap();

    // Concurrent changes all through the bootstrap and the crash.
    let workload = Workload::start(&db, |c, done| {
        Box::pin(async move {
            let i = done + 1;
            let id = (i.wrapping_mul(7919)) % (ROWS + 500) + 1;
            match i % 4 {
                0 => {
                    c.exec_drop("UPDATE big SET v = v + 1, d = NOW(3) WHERE id = ?", (id,))
                        .await?
                }
                1 => c.exec_drop("DELETE FROM big WHERE id = ?", (id,)).await?,
                2 => {
                    c.exec_drop("REPLACE INTO big VALUES (?, ?, 'again', NOW(3))", (id, i))
                        .await?
                }
                _ => {
                    c.exec_drop("UPDATE big SET s = NULL WHERE id = ?", (id,))
                        .await?
                }
            }
            Ok(1)
        })
    });

    let mut daemon = env.start();
    // Kill the daemon once a few chunks are in HBase. A range without a durable chunk then
    // is read from its start again; the others resume after their last key.
    let mut unstarted_at_kill = 0;
    if kill_mid_bootstrap {
        wait_mid_bootstrap(&env, &mut daemon, 3).await;
        daemon.kill9();
        let ranges = key_ranges(&env).await;
        assert_eq!(ranges.len(), readers, "{ranges:?}");
        unstarted_at_kill = ranges.iter().filter(|(_, progress, _)| !progress).count();
        daemon = env.start();
    }
    let started = Instant::now();
    loop {
        let status = first_job(&env).await.map(|(_, status, _, _)| status);
        if status.as_deref() == Some("complete") {
            break;
        }
        assert_ne!(status.as_deref(), Some("failed"), "{}", daemon.log_text());
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "bootstrap did not finish: {}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let changes = workload.stop().await;
    assert!(
        changes > 100,
        "the workload made only {changes} changes during the bootstrap"
    );
    env.assert_converges(&mut c, "big", Duration::from_secs(120))
        .await;

    run_sql(&mut c, &["SET GLOBAL general_log = 'OFF'"]).await;
    let logged: Vec<(u64, String)> = c
        .exec(
            "SELECT thread_id, CONVERT(argument USING utf8mb4) FROM mysql.general_log WHERE event_time >= ? AND command_type = 'Query'",
            (&since,),
        )
        .await
        .unwrap();
    let statements: Vec<String> = logged.iter().map(|(_, q)| q.clone()).collect();
    run_sql(
        &mut c,
        &[
            "TRUNCATE TABLE mysql.general_log",
            "SET GLOBAL log_output = 'FILE'",
        ],
    )
    .await;
    let chunk_reads: Vec<&String> = statements
        .iter()
        .filter(|q| q.contains(&format!("FROM `{db}`.`big`")) && q.contains("LIMIT 3000"))
        .collect();
    // A range's first chunk has no "after the last key" condition (`id` > 'N').
    let first_chunk_reads = chunk_reads
        .iter()
        .filter(|q| !q.contains("`id` > '"))
        .count();
    assert_eq!(
        first_chunk_reads,
        readers + unstarted_at_kill,
        "the restart read a range from its start again instead of resuming after its last written chunk: {chunk_reads:#?}"
    );
    let ranges = key_ranges(&env).await;
    assert_eq!(ranges.len(), readers, "{ranges:?}");
    assert!(ranges.iter().all(|(_, _, done)| *done), "{ranges:?}");
    if readers > 1 {
        // Each range on its own connection.
        let connections: std::collections::HashSet<u64> = logged
            .iter()
            .filter(|(_, q)| chunk_reads.contains(&q))
            .map(|(thread, _)| *thread)
            .collect();
        assert!(
            connections.len() >= readers,
            "{} connections read the ranges",
            connections.len()
        );
    }
    // Each range ends with one short (or empty) read, and the kill loses at most the chunk
    // each reader had in flight (its read-ahead: `parallelism / readers`, here 1) and the one
    // it was reading.
    let most = ROWS as usize / 3000 + readers + readers * 2;
    assert!(
        chunk_reads.len() <= most,
        "{} chunk reads for {} chunks ({readers} readers, at most {most} expected): finished chunks were read again",
        chunk_reads.len(),
        ROWS / 3000
    );
    let locks: Vec<&String> = statements
        .iter()
        .filter(|q| {
            let q = q.to_ascii_uppercase();
            q.contains("FLUSH TABLES") || q.starts_with("LOCK TABLES")
        })
        .collect();
    let log = daemon.log_text();
    match mode {
        "none" => assert!(
            locks.is_empty(),
            "lock statements reached the server in mode none: {locks:?}"
        ),
        "minimal" => {
            assert!(!locks.is_empty(), "no global read lock taken");
            let (_, _, _, held) = first_job(&env).await.unwrap();
            let held = held.expect("lock window recorded");
            assert!(held < 1000, "global read lock held {held} ms");
            assert!(log.contains("global read lock released"), "{log}");
        }
        _ => {
            assert!(!locks.is_empty(), "no global read lock taken");
            assert!(
                log.contains("read lock released after the last chunk"),
                "{log}"
            );
        }
    }
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_minimal_lock() {
    exercise("minimal", true, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_extended_lock() {
    // The global read lock is held through the whole read, and the state store lives on the
    // same server: no progress can be stored before it is released, so there is no mid-way
    // resume to check (see source/snapshot.rs); convergence under writes is.
    exercise("extended", false, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstrap_without_lock() {
    exercise("none", true, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstraps_on_demand_from_the_cli_and_from_sql_while_streaming() {
    // Its bootstraps take global read locks, which the `none` test must not see.
    let _serial = GENERAL_LOG.lock().await;
    let env = TestEnv::new("boot_cli", "").await;
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
            "CREATE TABLE nokey (a INT)",
            // Rows that exist before the daemon starts (snapshot.mode = never): only a bootstrap copies them.
            "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_500",
        ])
        .await;
    let mut daemon = env.start();
    let t = format!("{db}.t");

    // A range repair first: only ids <= 100.
    let run = cli(&env, &["bootstrap", &t, "--where", "id <= 100", "--wait"]);
    assert_eq!(run.code, 0, "{}\n{}", run.text(), daemon.log_text());
    assert_eq!(hbase_content(&env.hbase_table("t")).len(), 100);

    // The whole table, requested by a row inserted from any SQL client.
    env.request_bootstrap_by_sql("t").await;
    run_sql(&mut c, &["UPDATE t SET v = 'changed' WHERE id = 7"]).await;
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;

    // Jobs that cannot run fail with a clear reason and a non-zero exit.
    for (table, expect) in [
        (format!("{db}.missing"), "does not exist"),
        (format!("{db}.nokey"), "has no primary key"),
        ("mysql.user".to_string(), "is not captured"),
    ] {
        cli(&env, &["bootstrap", &table, "--wait"])
            .fails()
            .says(&[expect]);
    }
    cli(&env, &["bootstrap", &t, "--where", "id <=", "--wait"])
        .fails()
        .says(&["not a valid condition"]);

    // The same through the admin API, which also reports health.
    let port = env.admin_port;
    wait_health(
        port,
        200,
        "the admin API to report health",
        Duration::from_secs(30),
    )
    .await;
    let (code, body) = http(
        port,
        "POST",
        "/bootstrap",
        Some(&format!(r#"{{"table": "{db}.t", "where": "id > 490"}}"#)),
    )
    .await;
    assert_eq!(code, 202, "{body}");
    let job: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = job["job"].as_u64().unwrap();
    let (code, body) = http(
        port,
        "POST",
        "/bootstrap",
        Some(&format!(r#"{{"table": "{db}.nokey"}}"#)),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("has no primary key"), "{body}");
    let state_db = env.state_db.clone();
    wait_for(
        "the API's bootstrap job to complete",
        Duration::from_secs(60),
        || {
            let state_db = state_db.clone();
            async move {
                let mut c = mysql().await;
                let status: Option<String> = c
                    .exec_first(
                        format!("SELECT status FROM `{state_db}`.bootstrap_jobs WHERE id = ?"),
                        (id,),
                    )
                    .await
                    .unwrap();
                status.as_deref() == Some("complete")
            }
        },
    )
    .await;
    let (code, body) = http(port, "GET", "/status", None).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("bootstrap_jobs"), "{body}");

    cli(&env, &["status"])
        .code(0)
        .says(&["complete", "failed", "checkpoint:"]);
    let out = cli(&env, &["status", "--json"]).code(0).out;
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tables = json["tables"].as_array().unwrap();
    let state = |name: &str| {
        tables
            .iter()
            .find(|t| t["table"] == format!("{db}.{name}"))
            .map(|t| t["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state("t").as_deref(), Some("streaming"), "{json}");
    assert_eq!(state("nokey").as_deref(), Some("dead-letter"), "{json}");
    let nokey = tables
        .iter()
        .find(|t| t["table"] == format!("{db}.nokey"))
        .unwrap();
    assert!(
        nokey["detail"]
            .as_str()
            .unwrap()
            .contains("has no primary key"),
        "the reason is shown: {json}"
    );
    assert!(json["checkpoint"]["position"]["file"].is_string(), "{json}");
    assert_eq!(
        json["bootstrap_jobs"].as_array().unwrap().len(),
        8,
        "{json}"
    );
    daemon.stop();
}

/// A `minimal` snapshot is exact as of one position, so the router keeps every key the stream
/// changed since, to keep the chunks from overwriting them. Under a hot writer that memory is
/// bounded: past half of `max_inflight_bytes` the job reads its next chunks each in its own
/// snapshot, whose hand-over forgets the older changes; HBase still ends equal. Two readers
/// over key ranges: the tracker forgets only below the lower of their positions.
#[tokio::test(flavor = "multi_thread")]
async fn a_minimal_bootstrap_under_a_hot_writer_keeps_its_change_tracker_bounded() {
    let env = TestEnv::new("boot_tracker", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "minimal")
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "500")
        .set("MYSQL2HBASE__SNAPSHOT__PARALLELISM", "2")
        .set("MYSQL2HBASE__PIPELINE__BATCH_BYTES", "131072")
        .set("MYSQL2HBASE__PIPELINE__MAX_INFLIGHT_BYTES", "524288");
    let rows = 30_000u32;
    let mut c = env
        .sql(&[
            "CREATE TABLE hot (id INT PRIMARY KEY, v INT NOT NULL)",
            &format!("INSERT INTO hot SELECT seq, seq FROM seq_1_to_{rows}"),
        ])
        .await;
    // Multi-row updates: thousands of distinct keys change while the chunks are read (at a
    // pace the stream keeps up with).
    let workload = Workload::start(&env.db, move |c, done| {
        Box::pin(async move {
            let from = (done * 389) % rows;
            c.exec_drop(
                "UPDATE hot SET v = v + 1 WHERE id BETWEEN ? AND ?",
                (from, from + 50),
            )
            .await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(1)
        })
    });
    let mut daemon = env.start();
    let started = Instant::now();
    loop {
        let status = first_job(&env).await.map(|(_, status, _, _)| status);
        if status.as_deref() == Some("complete") {
            break;
        }
        assert_ne!(status.as_deref(), Some("failed"), "{}", daemon.log_text());
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "bootstrap did not finish: {}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    workload.stop().await;
    env.assert_converges(&mut c, "hot", Duration::from_secs(120))
        .await;
    let log = daemon.log_text();
    assert!(
        log.contains("reading the next chunks each in its own snapshot"),
        "the tracker never reached its bound: {log}"
    );
    daemon.stop();
}
