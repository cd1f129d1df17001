//! Server settings that change how the binlog looks. They are global, so these tests run one at a
//! time in their own test binary and put the settings back whatever happens.
//! - `binlog_row_metadata = MINIMAL`: no column names, primary keys, charsets or ENUM/SET labels
//!   in TABLE_MAP events; the daemon takes them from information_schema.
//! - `binlog_format = STATEMENT`: refused at start, naming the setting and the fix.

mod common;

use std::time::Duration;

use common::*;
use futures_util::FutureExt;
use mysql_async::prelude::Queryable;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn statement_based_binlogs_are_refused_at_start_with_the_fix() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("statement_format", "").await;
    let mut admin = mysql().await;
    admin
        .query_drop("SET GLOBAL binlog_format = 'STATEMENT'")
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(async {
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
    .catch_unwind()
    .await;
    admin
        .query_drop("SET GLOBAL binlog_format = 'ROW'")
        .await
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_with_minimal_row_metadata() {
    let _serial = SERIAL.lock().await;
    let mut admin = mysql().await;
    admin
        .query_drop("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(scenario())
        .catch_unwind()
        .await;
    admin
        .query_drop("SET GLOBAL binlog_row_metadata = 'FULL'")
        .await
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario() {
    let env = TestEnv::new("minimal_meta", "").await;
    let db = env.db.clone();
    let mut c = mysql().await;
    let meta: String = c
        .query_first("SELECT @@global.binlog_row_metadata")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta, "MINIMAL");
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    c.query_drop(
        "CREATE TABLE t (a INT UNSIGNED, b VARCHAR(10) CHARACTER SET latin1, \
         e ENUM('x','y','z'), s SET('p','q','r'), big BIGINT UNSIGNED, PRIMARY KEY (a, b))",
    )
    .await
    .unwrap();
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;
    c.query_drop(
        "INSERT INTO t VALUES (4294967295, 'café', 'z', 'p,r', 18446744073709551615), (1, 'a|b', 'x', '', 0)",
    )
    .await
    .unwrap();
    c.query_drop("UPDATE t SET e = 'y', s = 'q' WHERE a = 1")
        .await
        .unwrap();
    c.query_drop("INSERT INTO t VALUES (2, 'gone', NULL, NULL, NULL)")
        .await
        .unwrap();
    c.query_drop("DELETE FROM t WHERE a = 2").await.unwrap();
    assert_converges(
        &mut c,
        &db,
        "t",
        &env.hbase_table("t"),
        Duration::from_secs(60),
    )
    .await;
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{}", daemon.log_text());
}
