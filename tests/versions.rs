//! Versions in HBase's own clock, against real MariaDB and HBase: cells other tools wrote before
//! the first start do not mask MySQL's rows, rows only HBase had are gone, and a family with a
//! time to live keeps every row visible (versions are the change's time, not a binlog offset
//! that reads as 1970).

mod common;

use std::time::Duration;

use common::*;
use hbase_thrift::hbase::{ColumnDescriptor, THbaseSyncClient};

const CONVERGE: Duration = Duration::from_secs(60);

/// Creates the HBase table `table` with one family `d` (time to live `ttl_secs`, forever with
/// `None`) before the daemon does.
fn create_hbase_table(table: &str, ttl_secs: Option<i32>) {
    let mut c = hbase();
    c.create_table(
        table.as_bytes().to_vec(),
        vec![ColumnDescriptor {
            name: Some(b"d:".to_vec()),
            max_versions: Some(3),
            compression: Some("NONE".into()),
            in_memory: Some(false),
            bloom_filter_type: Some("NONE".into()),
            bloom_filter_vector_size: Some(0),
            bloom_filter_nb_hashes: Some(0),
            block_cache_enabled: Some(true),
            time_to_live: Some(ttl_secs.unwrap_or(i32::MAX)),
        }],
    )
    .unwrap_or_else(|e| panic!("createTable {table}: {e}"));
}

/// Waits until every bootstrap job of the test is complete.
async fn wait_bootstraps(env: &TestEnv) {
    let state = env.state_db.clone();
    wait_for("the first start's bootstraps", CONVERGE, || {
        let state = state.clone();
        async move {
            let open: Option<u64> = mysql()
                .await
                .query_first(format!(
                    "SELECT COUNT(*) FROM `{state}`.bootstrap_jobs WHERE status <> 'complete'"
                ))
                .await
                .unwrap_or(None);
            open == Some(0)
        }
    })
    .await;
}

use mysql_async::prelude::Queryable;

#[tokio::test(flavor = "multi_thread")]
async fn cells_other_tools_wrote_before_the_first_start_do_not_survive_it() {
    let env = TestEnv::new("ver_foreign", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), qty INT NULL)",
            "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', NULL), (3, 'c', 3)",
        ])
        .await;
    env.drop_hbase_table("t");
    let table = env.hbase_table("t");
    create_hbase_table(&table, None);
    // Another tool's cells, stamped with the clock as the HBase shell or a Maxwell consumer
    // would: a value MySQL never had, a column MySQL does not have, a NULL column with a value,
    // and rows MySQL does not have (one of them not even a valid key).
    let ts = clock_ms();
    hbase_put_ts(&table, b"1", "d:name", b"stale", ts);
    hbase_put_ts(&table, b"1", "d:junk", b"x", ts);
    hbase_put_ts(&table, b"2", "d:qty", b"7", ts);
    hbase_put_ts(&table, b"999", "d:name", b"only in HBase", ts);
    hbase_put_ts(&table, b"not a key", "d:name", b"?", ts);

    let mut daemon = env.start_streaming().await;
    wait_bootstraps(&env).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    // And later changes on top.
    run_sql(
        &mut c,
        &[
            "UPDATE t SET name = 'a2', qty = NULL WHERE id = 1",
            "INSERT INTO t VALUES (999, 'now in MySQL', 9)",
            "DELETE FROM t WHERE id = 3",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_family_with_a_time_to_live_keeps_every_row_visible() {
    let env = TestEnv::new("ver_ttl", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
        ])
        .await;
    env.drop_hbase_table("t");
    // Seven days, as event tables often have.
    create_hbase_table(&env.hbase_table("t"), Some(7 * 24 * 3600));
    cli(&env, &["check"]).says(&["hbase_ttl", &env.hbase_table("t")]);

    let mut daemon = env.start_streaming().await;
    wait_bootstraps(&env).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    run_sql(
        &mut c,
        &[
            "INSERT INTO t VALUES (4, 'd')",
            "UPDATE t SET v = 'b2' WHERE id = 2",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
    // Still there a while later: nothing expires before its seven days.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.assert_converges(&mut c, "t", Duration::from_secs(1))
            .await,
        4
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_written_with_binlog_derived_versions_are_resynced_once() {
    let env = TestEnv::new("ver_upgrade", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
        ])
        .await;
    env.drop_hbase_table("t");
    let mut daemon = env.start_streaming().await;
    wait_bootstraps(&env).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
    // What an older version of the service left: its checkpoint has no highest version, and its
    // cells carry versions derived from binlog positions ((file index << 32) | offset, about
    // 4e9 per file), far below the clock. One of them is stale, one row is gone from MySQL.
    run_sql(
        &mut mysql().await,
        &[&format!(
            "UPDATE `{}`.checkpoint SET highest_version = NULL",
            env.state_db
        )],
    )
    .await;
    let table = env.hbase_table("t");
    let old_version = (40_i64 << 32) | 1234;
    hbase_put_ts(
        &table,
        b"9",
        "d:v",
        b"deleted in MySQL long ago",
        old_version,
    );
    hbase_put_ts(&table, b"9", "d:id", b"9", old_version);
    run_sql(&mut c, &["UPDATE t SET v = 'b2' WHERE id = 2"]).await;

    let mut daemon = env.start_logged("upgraded", &[]);
    env.assert_converges(&mut c, "t", CONVERGE).await;
    assert!(
        daemon
            .log_text()
            .contains("resyncing every captured table once"),
        "{}",
        daemon.log_text()
    );
    daemon.stop();
}
