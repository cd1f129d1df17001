//! Changes that do not arrive as row events, against real MariaDB and HBase: DML a session logs
//! as a statement (`binlog_format` STATEMENT or MIXED), XA transactions (applied at commit,
//! dropped at rollback, across a restart while prepared), `DROP DATABASE`, `EXCHANGE
//! PARTITION`, `RENAME TABLE` swaps, and a statement whose tables cannot be told (it stops the
//! daemon naming it, until the configuration says how to go on).

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn changes_logged_as_statements_resync_their_table() {
    let env = TestEnv::new("stmt_resync", "").await;
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)",
        ])
        .await;
    let mut daemon = env.start_logged("daemon", &[]);
    wait_streaming(&env, &mut daemon).await;
    run_sql(&mut c, &["INSERT INTO t VALUES (4, 4)"]).await;
    // Statement-format sessions: none of these changes has a row event.
    let mut s = env.sql(&["SET SESSION binlog_format = 'STATEMENT'"]).await;
    run_sql(
        &mut s,
        &[
            "UPDATE t SET v = v * 10",
            "DELETE FROM t WHERE id = 2",
            "INSERT INTO t VALUES (5, 5)",
            "BEGIN",
            "UPDATE t SET v = v + 1 WHERE id > 3",
            "REPLACE INTO t VALUES (1, 100)",
            "COMMIT",
            "SET SESSION binlog_format = 'MIXED'",
            "UPDATE t SET v = v + 1000 WHERE id = 3",
        ],
    )
    .await;
    let rows = env.assert_converges(&mut c, "t", CONVERGE).await;
    assert_eq!(rows, 4);
    let log = daemon.log_text();
    assert!(
        log.contains("a change was logged as a statement (binlog_format STATEMENT or MIXED): resyncing the table"),
        "{log}"
    );
    // Later row changes still stream on top.
    run_sql(&mut c, &["UPDATE t SET v = -1 WHERE id = 5"]).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_changes_stop_when_configured_naming_the_statement() {
    let env = TestEnv::new("stmt_stop", "")
        .await
        .set("MYSQL2HBASE__CAPTURE__STATEMENT_CHANGES", "stop");
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    let mut daemon = env.start_logged("daemon", &[]);
    wait_streaming(&env, &mut daemon).await;
    run_sql(&mut c, &["INSERT INTO t VALUES (1, 1)"]).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    let mut s = env.sql(&["SET SESSION binlog_format = 'STATEMENT'"]).await;
    run_sql(&mut s, &["UPDATE t SET v = 2"]).await;
    let status = daemon.wait_exit(CONVERGE).await;
    assert_eq!(status.code(), Some(1), "{}", daemon.log_text());
    let log = daemon.log_text();
    for expected in [
        "logged as a statement",
        "UPDATE t SET v = 2",
        &format!("table {}.t", env.db),
        "binlog position binlog.",
        "binlog_format = ROW",
    ] {
        assert!(log.contains(expected), "{expected:?} not in {log}");
    }
    // The way out the message names: resync instead; nothing was lost meanwhile.
    let mut daemon = env.start_logged(
        "resync",
        &[("MYSQL2HBASE__CAPTURE__STATEMENT_CHANGES", "resync")],
    );
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
}

/// `XA START`, an insert of `id`, `XA END`, `XA PREPARE` on a connection of its own (MariaDB
/// keeps a prepared transaction with its connection until it is committed or rolled back).
async fn xa_prepare(env: &TestEnv, xid: &str, id: u32) {
    let mut c = env.sql(&[]).await;
    run_sql(
        &mut c,
        &[
            &format!("XA START '{xid}'"),
            &format!("INSERT INTO t VALUES ({id}, {id})"),
            &format!("XA END '{xid}'"),
            &format!("XA PREPARE '{xid}'"),
        ],
    )
    .await;
    // Disconnecting keeps the prepared transaction (MariaDB 10.5+).
    drop(c);
}

#[tokio::test(flavor = "multi_thread")]
async fn xa_transactions_are_applied_at_commit_and_dropped_at_rollback() {
    let env = TestEnv::new("stmt_xa", "").await;
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    let mut daemon = env.start_logged("daemon", &[]);
    wait_streaming(&env, &mut daemon).await;
    xa_prepare(&env, "committed", 1).await;
    xa_prepare(&env, "rolled-back", 2).await;
    // Prepared rows are not in MySQL's committed state, nor in HBase, while other changes go on.
    run_sql(&mut c, &["INSERT INTO t VALUES (10, 10)"]).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    assert!(!hbase_content(&env.hbase_table("t")).contains_key(b"1".as_slice()));
    run_sql(
        &mut c,
        &["XA ROLLBACK 'rolled-back'", "XA COMMIT 'committed'"],
    )
    .await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    // One phase.
    run_sql(
        &mut c,
        &[
            "XA START 'one'",
            "INSERT INTO t VALUES (3, 3)",
            "XA END 'one'",
            "XA COMMIT 'one' ONE PHASE",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t", CONVERGE).await;

    // A restart while a transaction is prepared: the checkpoint stayed before its prepare, so
    // the restarted stream reads its rows again and applies them at the commit.
    xa_prepare(&env, "across-restart", 4).await;
    run_sql(&mut c, &["INSERT INTO t VALUES (11, 11)"]).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
    run_sql(&mut c, &["XA COMMIT 'across-restart'"]).await;
    let mut daemon = env.start_logged("restarted", &[]);
    let rows = env.assert_converges(&mut c, "t", CONVERGE).await;
    assert_eq!(rows, 5);
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_database_exchange_partition_and_rename_swaps_are_followed() {
    let env = TestEnv::new("stmt_ddl", "").await;
    let mut c = env
        .sql(&[
            "CREATE TABLE p (id INT PRIMARY KEY, v INT) PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (100), PARTITION p1 VALUES LESS THAN MAXVALUE)",
            "CREATE TABLE x (id INT PRIMARY KEY, v INT)",
            "CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(10))",
            "CREATE TABLE b (id INT PRIMARY KEY, v VARCHAR(10))",
        ])
        .await;
    let mut daemon = env.start_logged("daemon", &[]);
    wait_streaming(&env, &mut daemon).await;
    run_sql(
        &mut c,
        &[
            "INSERT INTO p VALUES (1, 1), (2, 2), (150, 150)",
            "INSERT INTO x VALUES (7, 7), (8, 8)",
            "INSERT INTO a VALUES (1, 'a1'), (2, 'a2')",
            "INSERT INTO b VALUES (1, 'b1'), (3, 'b3')",
        ],
    )
    .await;
    for t in ["p", "x", "a", "b"] {
        env.assert_converges(&mut c, t, CONVERGE).await;
    }
    // Rows move both ways, without row events.
    run_sql(
        &mut c,
        &[
            "ALTER TABLE p EXCHANGE PARTITION p0 WITH TABLE x",
            "RENAME TABLE a TO swap_tmp, b TO a, swap_tmp TO b",
        ],
    )
    .await;
    for t in ["p", "x", "a", "b"] {
        env.assert_converges(&mut c, t, CONVERGE).await;
    }
    // Every table of a dropped database leaves HBase.
    run_sql(&mut c, &[&format!("DROP DATABASE `{}`", env.db)]).await;
    for t in ["p", "x", "a", "b"] {
        wait_for_hbase(
            &format!("{t} emptied by DROP DATABASE"),
            &env.hbase_table(t),
            CONVERGE,
            |rows| rows.is_empty(),
        )
        .await;
    }
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_statement_of_unknown_effect_stops_naming_it_until_told_how_to_go_on() {
    let env = TestEnv::new("stmt_unknown", "").await;
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "CREATE FUNCTION bump() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE t SET v = v + 1; RETURN 1; END",
        ])
        .await;
    let mut daemon = env.start_logged("daemon", &[]);
    wait_streaming(&env, &mut daemon).await;
    run_sql(&mut c, &["INSERT INTO t VALUES (1, 1), (2, 2)"]).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    // In statement format the server logs `SELECT bump()`: which tables it wrote, the binlog
    // does not say.
    let mut s = env.sql(&["SET SESSION binlog_format = 'STATEMENT'"]).await;
    let _: Option<i32> = s.query_first("SELECT bump()").await.unwrap();
    let status = daemon.wait_exit(CONVERGE).await;
    assert_eq!(status.code(), Some(1), "{}", daemon.log_text());
    let log = daemon.log_text();
    for expected in [
        "cannot be worked out",
        "`bump`()",
        "binlog position binlog.",
        "capture.unknown_statements",
    ] {
        assert!(log.contains(expected), "{expected:?} not in {log}");
    }
    let mut daemon = env.start_logged(
        "resync",
        &[("MYSQL2HBASE__CAPTURE__UNKNOWN_STATEMENTS", "resync")],
    );
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
}
