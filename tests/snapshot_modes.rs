//! `snapshot.mode` against the real servers: `initial_only` bootstraps then exits, and a binlog
//! purged while the daemon was stopped is a clear error, or a re-bootstrap with `when_needed`.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

/// Purging binlogs must not pull files from under another test's daemon.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn initial_only_bootstraps_then_exits() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("mode_initial_only", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial_only");
    let mut c = env
        .sql(&[
            "CREATE TABLE a (id INT PRIMARY KEY, v TEXT)",
            "CREATE TABLE b (k VARCHAR(10), n INT, PRIMARY KEY (k, n))",
            "INSERT INTO a SELECT seq, REPEAT('x', seq % 50) FROM seq_1_to_20000",
            "INSERT INTO b VALUES ('p|q', 1), ('\\\\', 2)",
        ])
        .await;
    let mut daemon = env.start();
    let status = daemon.wait_exit(Duration::from_secs(120)).await;
    assert!(status.success(), "{}", daemon.log_text());
    assert!(daemon.log_text().contains("every bootstrap is complete"));
    for table in ["a", "b"] {
        env.assert_converges(&mut c, table, Duration::from_secs(5))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_purged_binlog_is_a_clear_error_or_a_rebootstrap_with_when_needed() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("mode_purged", "").await;
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    let mut daemon = env.start_streaming().await;
    run_sql(&mut c, &["INSERT INTO t VALUES (1, 1), (2, 2)"]).await;
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    daemon.stop();
    let hbase_before = hbase_content(&env.hbase_table("t"));

    // While it is stopped: changes, then the binlog holding them is purged.
    let (checkpoint_file, _) = stored_checkpoint(&env).await.expect("a stored checkpoint");
    run_sql(
        &mut c,
        &[
            "UPDATE t SET v = 10 WHERE id = 1",
            "DELETE FROM t WHERE id = 2",
            "INSERT INTO t VALUES (3, 3)",
            "FLUSH BINARY LOGS",
        ],
    )
    .await;
    let (current, _): (String, u64) = {
        let row: mysql_async::Row = c.query_first("SHOW MASTER STATUS").await.unwrap().unwrap();
        (row.get(0).unwrap(), row.get(1).unwrap())
    };
    // MariaDB keeps a file until its binlog checkpoint has moved on: purge until it is gone.
    let purged_file = checkpoint_file.clone();
    wait_for(
        "the checkpoint's binlog file to be purged",
        Duration::from_secs(30),
        || {
            let (current, purged_file) = (current.clone(), purged_file.clone());
            async move {
                let mut c = mysql().await;
                c.query_drop(format!("PURGE BINARY LOGS TO '{current}'"))
                    .await
                    .unwrap();
                let logs: Vec<mysql_async::Row> = c.query("SHOW BINARY LOGS").await.unwrap();
                !logs
                    .iter()
                    .any(|r| r.get::<String, _>(0).unwrap() == purged_file)
            }
        },
    )
    .await;

    let mut daemon = env.start();
    let status = daemon.wait_exit(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(1), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        log.contains(&format!("binlog file {checkpoint_file}")),
        "{log}"
    );
    assert!(log.contains("when_needed"), "{log}");
    // Nothing was touched: HBase still holds the state before the purge, cell for cell.
    assert_eq!(hbase_content(&env.hbase_table("t")), hbase_before);

    let env = env.set("MYSQL2HBASE__SNAPSHOT__MODE", "when_needed");
    let mut daemon = env.start();
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    run_sql(&mut c, &["INSERT INTO t VALUES (4, 4)"]).await;
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    daemon.stop();
    report_figures(&format!(
        "binlog purged while stopped: refused (exit 1, the file and when_needed named, HBase untouched), then re-bootstrapped by when_needed, {rows} rows compared, 0 differences"
    ));
}
