//! Server settings that change how the binlog looks. They are global, so these tests run one at a
//! time in their own test binary and put the settings back whatever happens.
//! - `binlog_row_metadata = MINIMAL`: no column names, primary keys, charsets or ENUM/SET labels
//!   in TABLE_MAP events; the daemon takes them from its schema history.
//!   With DDLs while the daemon is stopped, rows are decoded with the schema in force at their
//!   position (the schema history), not today's.
//! - `binlog_format = STATEMENT`: refused at start, naming the setting and the fix.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn statement_based_binlogs_are_refused_at_start_with_the_fix() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("statement_format", "").await;
    with_global("binlog_format", "STATEMENT", "ROW", async {
        let mut daemon = env.start();
        let status = daemon.wait_exit(Duration::from_secs(30)).await;
        assert!(!status.success());
        let log = daemon.log_text();
        assert!(
            log.contains("binlog_format is STATEMENT, but mysql2hbase needs ROW"),
            "{log}"
        );
        assert!(log.contains("SET GLOBAL binlog_format = 'ROW'"), "{log}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_with_minimal_row_metadata() {
    let _serial = SERIAL.lock().await;
    with_global("binlog_row_metadata", "MINIMAL", "FULL", scenario()).await;
}

async fn scenario() {
    let env = TestEnv::new("minimal_meta", "").await;
    let mut c = env.sql(&[]).await;
    let meta: String = c
        .query_first("SELECT @@global.binlog_row_metadata")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta, "MINIMAL");
    run_sql(
        &mut c,
        &[
            "CREATE TABLE t (a INT UNSIGNED, b VARCHAR(10) CHARACTER SET latin1, \
           e ENUM('x','y','z'), s SET('p','q','r'), big BIGINT UNSIGNED, PRIMARY KEY (a, b))",
        ],
    )
    .await;
    let mut daemon = env.start_streaming().await;
    run_sql(
        &mut c,
        &[
            "INSERT INTO t VALUES (4294967295, 'café', 'z', 'p,r', 18446744073709551615), (1, 'a|b', 'x', '', 0)",
            "UPDATE t SET e = 'y', s = 'q' WHERE a = 1",
            "INSERT INTO t VALUES (2, 'gone', NULL, NULL, NULL)",
            "DELETE FROM t WHERE a = 2",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    daemon.stop();
}

/// With `binlog_row_metadata = MINIMAL` the daemon decodes rows with the schema in force at
/// their position (the schema history), not today's: stopped across `ADD COLUMN ... FIRST`,
/// `DROP COLUMN` and `MODIFY` with rows changed between them, then restarted; then DDL while
/// it runs.
#[tokio::test(flavor = "multi_thread")]
async fn minimal_row_metadata_across_ddls_while_stopped() {
    let _serial = SERIAL.lock().await;
    with_global(
        "binlog_row_metadata",
        "MINIMAL",
        "FULL",
        ddls_while_stopped(),
    )
    .await;
}

async fn ddls_while_stopped() {
    let env = TestEnv::new("minimal_ddl", "").await;
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, a INT, b VARCHAR(20), d DECIMAL(8,2))"])
        .await;
    let mut daemon = env.start_streaming().await;
    run_sql(
        &mut c,
        &["INSERT INTO t VALUES (1, 1, 'one', 1.5), (2, 2, 'two', 2.5), (3, 3, 'three', 3.5)"],
    )
    .await;
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    daemon.stop();

    run_sql(
        &mut c,
        &[
            "INSERT INTO t VALUES (4, 4, 'four', 4.5)",
            "ALTER TABLE t ADD COLUMN f INT NOT NULL DEFAULT 9 FIRST",
            "INSERT INTO t (f, id, a, b, d) VALUES (5, 5, 5, 'five', 5.5)",
            "UPDATE t SET a = a + 10 WHERE id = 1",
            "ALTER TABLE t DROP COLUMN b",
            "INSERT INTO t (f, id, a, d) VALUES (6, 6, 6, 6.5)",
            "DELETE FROM t WHERE id = 2",
            "ALTER TABLE t MODIFY COLUMN a VARCHAR(10)",
            "INSERT INTO t VALUES (7, 7, 'seven', 7.5)",
            "UPDATE t SET a = CONCAT(a, '!') WHERE id = 3",
        ],
    )
    .await;
    let mut daemon = env.start_streaming().await;
    env.assert_converges(&mut c, "t", Duration::from_secs(90))
        .await;

    // Followed live as well, and streaming goes on with the schema in force now.
    run_sql(
        &mut c,
        &[
            "INSERT INTO t VALUES (8, 8, 'eight', 8.5)",
            "ALTER TABLE t ADD COLUMN g VARCHAR(5) NOT NULL DEFAULT 'g' FIRST",
            "INSERT INTO t VALUES ('h', 9, 9, 'nine', 9.5)",
            "UPDATE t SET d = 0 WHERE id = 1",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t", Duration::from_secs(90))
        .await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}
