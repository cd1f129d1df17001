//! Rows HBase cannot take (a cell over `hbase.max_cell_bytes`, 10 MiB) against real MariaDB and
//! HBase, in every path that writes rows: a bootstrap of a table with an 11 MiB cell among
//! small rows completes (chunks of 2 rows, no restart), the big row goes to the dead-letter file
//! and is absent from HBase; a streamed row updated from small to 11 MiB disappears from HBase
//! (its old image does not stay current) and is dead-lettered; `verify` counts such rows as
//! `unwritable`, not as differences, and an old image left behind is an extra row that
//! `verify --repair` deletes.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(60);
/// Over the 10 MiB default of `hbase.max_cell_bytes`.
const BIG: usize = 11 << 20;

/// `verify <table> --json`, which must exit `code`.
#[track_caller]
fn verify(env: &TestEnv, table: &str, code: i32) -> serde_json::Value {
    let run = cli(env, &["verify", table, "--json"]).code(code);
    serde_json::from_str(run.out.trim()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_over_the_cell_limit_are_dead_lettered_deleted_and_jobs_complete() {
    let dead_letters =
        std::env::temp_dir().join(format!("m2h-cell-limit-dl-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&dead_letters);
    let env = TestEnv::new(
        "cell_limit",
        &format!(
            "[dead_letter]\npath = {:?}\n",
            dead_letters.to_str().unwrap()
        ),
    )
    .await
    .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "2");
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            "CREATE TABLE big (id INT PRIMARY KEY, v VARCHAR(20), b LONGBLOB)",
            "INSERT INTO big SELECT seq, CONCAT('r', seq), 'small' FROM seq_1_to_6",
        ])
        .await;
    let packet: u64 = c
        .query_first("SELECT @@GLOBAL.max_allowed_packet")
        .await
        .unwrap()
        .unwrap();
    assert!(
        packet > 2 * BIG as u64,
        "max_allowed_packet = {packet} is too small for an {BIG}-byte value: scripts/services.sh sets 64M"
    );
    c.exec_drop("UPDATE big SET b = REPEAT('b', ?) WHERE id = 3", (BIG,))
        .await
        .unwrap();
    env.drop_hbase_table("big");
    let table = env.hbase_table("big");
    let mut daemon = env.start_streaming().await;

    // (a) A bootstrap meets the big row in its second chunk and completes.
    cli(&env, &["bootstrap", &format!("{db}.big")]).code(0);
    let started = Instant::now();
    loop {
        let status = first_job(&env).await.map(|(_, status, _, _)| status);
        if status.as_deref() == Some("complete") {
            break;
        }
        assert_ne!(status.as_deref(), Some("failed"), "{}", daemon.log_text());
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the bootstrap did not complete: {}",
            daemon.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut expected = expected_content(&mut c, &db, "big").await;
    expected.remove(b"3".as_slice());
    assert_eq!(hbase_content(&table), expected, "every row but the big one");
    assert_eq!(metric(&env, "mysql2hbase_restarts_total").await, Some(0.0));
    let records = read_jsonl(&dead_letters);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["table"], format!("{db}.big"));
    assert_eq!(
        (r["key"].as_str(), r["type"].as_str()),
        (Some("3"), Some("bootstrap-insert"))
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("over hbase.max_cell_bytes"),
        "{r}"
    );
    assert_eq!(r["after"]["b"].as_str().map(str::len), Some(BIG));

    // (b) Streaming: a row written small, then updated beyond the limit, leaves HBase.
    run_sql(&mut c, &["INSERT INTO big VALUES (7, 'r7', 'small')"]).await;
    wait_for_hbase("row 7", &table, CONVERGE, |rows| {
        rows.contains_key(b"7".as_slice())
    })
    .await;
    c.exec_drop("UPDATE big SET b = REPEAT('s', ?) WHERE id = 7", (BIG,))
        .await
        .unwrap();
    run_sql(&mut c, &["INSERT INTO big VALUES (8, 'r8', 'after')"]).await;
    wait_for_hbase("row 7 gone and row 8 in", &table, CONVERGE, |rows| {
        !rows.contains_key(b"7".as_slice()) && rows.contains_key(b"8".as_slice())
    })
    .await;
    let records = read_jsonl(&dead_letters);
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        (records[1]["key"].as_str(), records[1]["type"].as_str()),
        (Some("7"), Some("update"))
    );
    assert_eq!(records[1]["before"]["b"], "small");
    let not_written = format!(
        "mysql2hbase_rows_not_written_total{{reason=\"cell_too_large\",table=\"{db}.big\"}}"
    );
    assert_eq!(metric(&env, &not_written).await, Some(2.0));
    assert_eq!(metric(&env, "mysql2hbase_restarts_total").await, Some(0.0));

    // (c) verify: the two rows are absent as they should be, not differences.
    let report = verify(&env, &format!("{db}.big"), 0);
    assert_eq!(
        (
            &report["checked"],
            &report["missing"],
            &report["extra"],
            &report["different"],
            &report["unwritable"]
        ),
        (&8.into(), &0.into(), &0.into(), &0.into(), &2.into()),
        "{report}"
    );
    let samples = report["samples"].as_array().unwrap();
    for key in ["3", "7"] {
        assert!(
            samples
                .iter()
                .any(|s| s["key"] == key && s["kind"] == "unwritable"),
            "{report}"
        );
    }
    cli(&env, &["verify", &format!("{db}.big")])
        .code(0)
        .stdout_has(&["2 unwritable", "(equal)", "hbase.max_cell_bytes"]);
    // An old image left in HBase is an extra row; the repair (a chunk through the daemon)
    // deletes it and dead-letters the row again.
    hbase_put_ts(&table, b"3", "d:v", b"stale", clock_ms());
    let report = verify(&env, &format!("{db}.big"), 1);
    assert_eq!(
        (&report["extra"], &report["unwritable"]),
        (&1.into(), &1.into()),
        "{report}"
    );
    cli(&env, &["verify", &format!("{db}.big"), "--repair"])
        .code(0)
        .stdout_has(&["after repair:", "(equal)"]);
    assert!(!hbase_content(&table).contains_key(b"3".as_slice()));
    let records = read_jsonl(&dead_letters);
    assert_eq!(records.len(), 3, "{records:?}");
    assert_eq!(
        (records[2]["key"].as_str(), records[2]["type"].as_str()),
        (Some("3"), Some("bootstrap-insert"))
    );
    assert_eq!(metric(&env, "mysql2hbase_restarts_total").await, Some(0.0));
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
    report_figures(&format!(
        "cell limit: an {BIG}-byte cell in a bootstrap (completed, 5 rows written), a stream update and a repair: dead-lettered and absent from HBase, 0 restarts, verify 0 differences"
    ));
}
