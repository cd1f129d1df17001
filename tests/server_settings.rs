//! Server settings that change how the binlog looks. They are global, so these tests run one at a
//! time in their own test binary and put the settings back whatever happens.
//! - `binlog_row_metadata = MINIMAL`: no column names, primary keys, charsets or ENUM/SET labels
//!   in TABLE_MAP events; the daemon takes them from information_schema.
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
