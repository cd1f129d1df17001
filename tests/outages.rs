//! HBase and MySQL outages against the real servers: the restart strategy rides one out (and
//! `/health` says so meanwhile), or gives up with an error naming HBase; either way a restart
//! ends with HBase equal to MySQL. These tests stop and start the servers with
//! `scripts/services.sh`, so they run one at a time, in their own test binary.

mod common;

use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Keeps changing rows of `t` until stopped, reconnecting while MySQL is away (a statement cut
/// off by the restart may or may not have committed: the comparison at the end reads MySQL's
/// final state either way).
fn workload(env: &TestEnv) -> Workload {
    let mut i = 0u32;
    Workload::reconnecting(&env.db, move |c, _| {
        i += 1;
        let (i, id) = (i, i % 300);
        Box::pin(async move {
            let result = match i % 3 {
                0 => c.exec_drop("REPLACE INTO t VALUES (?, ?)", (id, i)).await,
                1 => {
                    c.exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (id,))
                        .await
                }
                _ => c.exec_drop("DELETE FROM t WHERE id = ?", (id,)).await,
            };
            tokio::time::sleep(Duration::from_millis(5)).await;
            result.map(|()| 1)
        })
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_25s_hbase_outage_is_survived_with_fixed_delay() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("outage_survive", "")
        .await
        .set("MYSQL2HBASE__RESTART__STRATEGY", "fixed-delay")
        .set("MYSQL2HBASE__RESTART__ATTEMPTS", "20")
        .set("MYSQL2HBASE__RESTART__DELAY", "3s");
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    let mut daemon = env.start_streaming().await;
    let port = env.admin_port;
    wait_health(port, 200, "/health 200", Duration::from_secs(30)).await;

    let writes = workload(&env);
    tokio::time::sleep(Duration::from_secs(1)).await;
    services("down", "hbase");
    let down_at = Instant::now();
    wait_health(
        port,
        503,
        "/health 503 while HBase is down",
        Duration::from_secs(30),
    )
    .await;
    let (_, body) = http(port, "GET", "/health", None).await;
    assert!(body.contains("HBase"), "{body}");
    tokio::time::sleep(Duration::from_secs(25).saturating_sub(down_at.elapsed())).await;
    services("up", "hbase");
    wait_health(
        port,
        200,
        "/health 200 after HBase returned",
        Duration::from_secs(90),
    )
    .await;
    let changes = writes.stop().await;
    assert!(changes > 100);
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(90))
        .await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let took = daemon.stop();
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
    report_figures(&format!(
        "HBase stopped 25 s under load: survived without a daemon restart, {changes} changes, {rows} rows compared, 0 differences"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mysql_restart_under_load_is_survived() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("outage_mysql", "")
        .await
        .set("MYSQL2HBASE__RESTART__STRATEGY", "fixed-delay")
        .set("MYSQL2HBASE__RESTART__ATTEMPTS", "60")
        .set("MYSQL2HBASE__RESTART__DELAY", "1s");
    drop(
        env.sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
            .await,
    );
    let mut daemon = env.start_streaming().await;
    let writes = workload(&env);
    wait_for_hbase(
        "changes in HBase before the restart",
        &env.hbase_table("t"),
        Duration::from_secs(30),
        |rows| !rows.is_empty(),
    )
    .await;
    services("restart", "mariadb");
    let after_restart = writes.changes();
    let writes_ref = &writes;
    wait_for(
        "500 more changes after the restart",
        Duration::from_secs(60),
        || async move { writes_ref.changes() > after_restart + 500 },
    )
    .await;
    // Streaming again: a change made after the restart reaches HBase.
    let mut c = env.sql(&["INSERT INTO t VALUES (100000, 1)"]).await;
    wait_for_hbase(
        "a change after the restart in HBase",
        &env.hbase_table("t"),
        Duration::from_secs(90),
        |rows| rows.contains_key(b"100000".as_slice()),
    )
    .await;
    wait_health(
        env.admin_port,
        200,
        "/health 200 after the restart",
        Duration::from_secs(30),
    )
    .await;
    let changes = writes.stop().await;
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(90))
        .await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        log.contains("pipeline failed; restarting from the checkpoint"),
        "the daemon did not notice the restart: {log}"
    );
    daemon.stop();
    report_figures(&format!(
        "MySQL restarted under load: survived without a daemon restart, {changes} changes, {rows} rows compared, 0 differences"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_strategy_gives_up_naming_hbase_and_a_restart_converges() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("outage_giveup", "").await;
    let strict = [
        ("MYSQL2HBASE__RESTART__STRATEGY", "fixed-delay"),
        ("MYSQL2HBASE__RESTART__ATTEMPTS", "2"),
        ("MYSQL2HBASE__RESTART__DELAY", "1s"),
    ];
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    let mut daemon = env.start_logged("strict", &strict);
    wait_streaming(&env, &mut daemon).await;
    let writes = workload(&env);
    services("down", "hbase");
    let status = daemon.wait_exit(Duration::from_secs(120)).await;
    writes.stop().await;
    services("up", "hbase");
    assert!(!status.success());
    let log = daemon.log_text();
    assert!(log.contains("giving up after 3 failure(s)"), "{log}");
    assert!(log.contains("restart.strategy = fixed-delay"), "{log}");
    assert!(log.contains("HBase"), "{log}");

    // Nothing acknowledged was lost: a plain restart ends equal.
    let mut daemon = env.start();
    env.assert_converges(&mut c, "t", Duration::from_secs(90))
        .await;
    daemon.stop();
}
