//! HBase and MySQL outages against the real servers: servers stopped (5 s to 2 min) or hung
//! (SIGSTOP) under a writer. The restart strategy rides them out (every step of a restart under
//! it, every wait bounded, `/health` 503 meanwhile), or gives up with an error naming HBase;
//! either way HBase ends equal to MySQL. These tests stop and start the servers with
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

/// A restart strategy whose budget covers a two-minute outage: exponential from 1 s to 10 s,
/// 40 attempts (a pipeline that moved its checkpoint starts counting again).
const RIDE_OUT: [(&str, &str); 4] = [
    ("MYSQL2HBASE__RESTART__STRATEGY", "exponential"),
    ("MYSQL2HBASE__RESTART__ATTEMPTS", "40"),
    ("MYSQL2HBASE__RESTART__DELAY", "1s"),
    ("MYSQL2HBASE__RESTART__MAX_DELAY", "10s"),
];

/// One daemon rides out `outages` of `service` (`down` for the given time, then `up`), each
/// under a concurrent writer; after each HBase equals MySQL, `/health` is 200 and the daemon
/// is the same process.
async fn ride_out(name: &str, service: &str, outages: &[u64]) {
    let env = TestEnv::new(name, "").await;
    drop(
        env.sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
            .await,
    );
    let mut daemon = env.start_logged("daemon", &RIDE_OUT);
    wait_streaming(&env, &mut daemon).await;
    let port = env.admin_port;
    let mut figures = Vec::new();
    for &secs in outages {
        let writes = workload(&env);
        tokio::time::sleep(Duration::from_secs(1)).await;
        services("down", service);
        let down_at = Instant::now();
        wait_health(
            port,
            503,
            &format!("/health 503 while {service} is down"),
            Duration::from_secs(60),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(secs).saturating_sub(down_at.elapsed())).await;
        services("up", service);
        wait_health(
            port,
            200,
            &format!("/health 200 after {service} returned from {secs} s"),
            Duration::from_secs(120),
        )
        .await;
        // Changes after the outage reach HBase too.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let changes = writes.stop().await;
        assert!(changes > 50, "{changes} changes");
        // A connection of its own: a MySQL outage broke the earlier ones.
        let mut c = env.sql(&[]).await;
        let rows = env
            .assert_converges(&mut c, "t", Duration::from_secs(120))
            .await;
        assert!(daemon.is_running(), "{}", daemon.log_text());
        figures.push(format!("{secs} s ({changes} changes, {rows} rows)"));
    }
    let log = daemon.log_text();
    assert!(
        log.contains("pipeline failed; restarting from the checkpoint"),
        "the daemon did not notice the outages: {log}"
    );
    let took = daemon.stop();
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
    report_figures(&format!(
        "{service} down under load, one daemon, restart.strategy exponential 1-10 s: survived {}; HBase equal to MySQL after each",
        figures.join(", ")
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_outages_of_5s_30s_and_2min_are_ridden_out() {
    let _serial = SERIAL.lock().await;
    ride_out("outage_mysql", "mariadb", &[5, 30, 120]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hbase_outages_of_25s_and_2min_are_ridden_out() {
    let _serial = SERIAL.lock().await;
    ride_out("outage_hbase", "hbase", &[25, 120]).await;
}

/// A server that hangs instead of going away (SIGSTOP: connections stay open, nothing answers)
/// for `secs` under a writer: every wait has a bound, the daemon restarts its pipeline and ends
/// equal.
async fn ride_out_a_hang(name: &str, service: &str, secs: u64) {
    let env = TestEnv::new(name, "")
        .await
        .set("MYSQL2HBASE__HBASE__TIMEOUT", "5s")
        .set("MYSQL2HBASE__PIPELINE__STALL_TIMEOUT", "30s")
        .set("MYSQL2HBASE__MYSQL__HEARTBEAT", "2s");
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    let mut daemon = env.start_logged("daemon", &RIDE_OUT);
    wait_streaming(&env, &mut daemon).await;
    let writes = workload(&env);
    tokio::time::sleep(Duration::from_secs(1)).await;
    services("pause", service);
    let paused_at = Instant::now();
    let resumed = scopeguard(service);
    wait_health(
        env.admin_port,
        503,
        &format!("/health 503 while {service} hangs"),
        Duration::from_secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(secs).saturating_sub(paused_at.elapsed())).await;
    drop(resumed);
    wait_health(
        env.admin_port,
        200,
        &format!("/health 200 after {service} woke up"),
        Duration::from_secs(120),
    )
    .await;
    let changes = writes.stop().await;
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(120))
        .await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
    report_figures(&format!(
        "{service} hung (SIGSTOP) {secs} s under load: survived, {changes} changes, {rows} rows compared, 0 differences"
    ));
}

/// Resumes the paused service when dropped, also when the test fails, and makes sure it is up
/// for the tests that follow.
fn scopeguard(service: &str) -> impl Drop + '_ {
    struct Resume<'a>(&'a str);
    impl Drop for Resume<'_> {
        fn drop(&mut self) {
            services("resume", self.0);
            services("up", self.0);
        }
    }
    Resume(service)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_mysql_is_ridden_out() {
    let _serial = SERIAL.lock().await;
    ride_out_a_hang("hang_mysql", "mariadb", 30).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_hbase_is_ridden_out() {
    let _serial = SERIAL.lock().await;
    // The Thrift gateway hangs (scripts/services.sh pause hbase).
    ride_out_a_hang("hang_hbase", "hbase", 30).await;
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
