//! A checkpoint's position belongs to one server's binlog history. Against real MariaDB servers:
//! a failover to a promoted GTID replica (`scripts/services.sh up mariadb-replica`), and a
//! `RESET MASTER` while the daemon is stopped. The daemon resumes after the checkpoint's GTIDs
//! where the new history has them, and otherwise stops naming what changed (or re-bootstraps
//! with `snapshot.mode = "when_needed"`); HBase ends equal to the server it follows.
//!
//! These tests stop, reset and replace the shared MariaDB, so they run one at a time, and put the
//! primary back the way the other tests expect it.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts};

const CONVERGE: Duration = Duration::from_secs(90);
const REPLICA_URL: &str = "mysql://root@127.0.0.1:3307";

/// One scenario at a time: they change the server every test uses.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn replica(db: Option<&str>) -> Conn {
    let url = match db {
        Some(db) => format!("{REPLICA_URL}/{db}"),
        None => REPLICA_URL.to_string(),
    };
    Conn::new(Opts::from_url(&url).unwrap())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the replica on 3307 does not answer ({e}): scripts/services.sh up mariadb-replica"
            )
        })
}

/// Kills the primary MariaDB (3306) the hard way.
fn kill_primary() {
    let pidfile = concat!(env!("CARGO_MANIFEST_DIR"), "/.data/mariadb/mariadb.pid");
    let pid = std::fs::read_to_string(pidfile)
        .unwrap_or_else(|e| panic!("no pid file {pidfile}: {e}"))
        .trim()
        .to_string();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid}");
}

/// Waits until the replica has applied everything the primary has binlogged (MariaDB's
/// `MASTER_GTID_WAIT`); says where both are when it does not.
async fn replica_caught_up() {
    let primary: String = mysql()
        .await
        .query_first("SELECT @@global.gtid_binlog_pos")
        .await
        .unwrap()
        .unwrap();
    let mut r = replica(None).await;
    let waited: Option<i32> = r
        .exec_first(
            "SELECT MASTER_GTID_WAIT(?, ?)",
            (&primary, CONVERGE.as_secs()),
        )
        .await
        .unwrap();
    if waited != Some(0) {
        let applied: Option<String> = r
            .query_first("SELECT @@global.gtid_slave_pos")
            .await
            .unwrap();
        let status: Vec<mysql_async::Row> = r.query("SHOW SLAVE STATUS").await.unwrap();
        panic!(
            "the replica did not apply the primary's {primary} within {CONVERGE:?}: it is at {applied:?}; {status:?}"
        );
    }
}

/// The replica becomes the primary: it stops replicating and takes writes.
async fn promote_replica() {
    run_sql(
        &mut replica(None).await,
        &["STOP SLAVE", "RESET SLAVE ALL", "SET GLOBAL read_only = 0"],
    )
    .await;
}

/// Inserts and updates on `c` for a while: `n` changes, ids from `from`.
async fn changes(c: &mut Conn, from: u32, n: u32) {
    for i in from..from + n {
        c.exec_drop(
            "INSERT INTO t VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE v = VALUES(v), n = n + 1",
            (i % 120, format!("v{i}"), i),
        )
        .await
        .unwrap();
        if i % 10 == 0 {
            c.exec_drop("DELETE FROM t WHERE id = ?", ((i / 10) % 120,))
                .await
                .unwrap();
        }
    }
}

/// A failover mid-workload: the daemon streams the primary, the primary dies (`kill -9`, and the
/// daemon with it when `kill_daemon`), the replica is promoted and the workload goes on there;
/// the daemon, pointed at the replica, resumes after its checkpoint's GTIDs.
async fn failover(name: &str, kill_daemon: bool) {
    services("up", "mariadb-replica");
    // Created after the replica came up, so the replica has it from its start.
    let env = TestEnv::new(name, "").await;
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT NOT NULL)"])
        .await;
    env.drop_hbase_table("t");
    let mut daemon = env.start_streaming().await;
    changes(&mut c, 0, 300).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    changes(&mut c, 300, 200).await;
    // The replica has every transaction the primary wrote; the daemon may be anywhere behind.
    replica_caught_up().await;
    if kill_daemon {
        daemon.kill9();
    }
    kill_primary();
    promote_replica().await;
    if !kill_daemon {
        // It cannot reach the primary: it retries until pointed elsewhere.
        daemon.terminate();
    }
    let url = ("MYSQL2HBASE__MYSQL__URL", REPLICA_URL);
    let mut daemon = env.start_logged("on-replica", &[url]);
    let mut on_replica = replica(Some(&env.db)).await;
    changes(&mut on_replica, 500, 200).await;
    let rows = assert_converges(
        &mut on_replica,
        &env.db,
        "t",
        &env.hbase_table("t"),
        CONVERGE,
    )
    .await;
    let log = daemon.log_text();
    assert!(
        log.contains("resuming after the checkpoint's GTID set"),
        "{log}"
    );
    daemon.stop();
    report_figures(&format!(
        "failover: primary killed -9 mid-workload{}, replica promoted, the daemon resumed by GTID on it: {rows} rows compared, 0 differences",
        if kill_daemon { " together with the daemon" } else { "" }
    ));
    services("down", "mariadb-replica");
    services("up", "mariadb");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failover_to_a_promoted_replica_resumes_by_gtid() {
    let _serial = SERIAL.lock().await;
    failover("hist_failover", false).await;
    failover("hist_failover_kill", true).await;
}

/// The table's HBase rows as they are.
fn hbase_rows(env: &TestEnv) -> Content {
    hbase_content(&env.hbase_table("t"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_binlog_is_followed_by_gtid_or_refused_by_name() {
    let _serial = SERIAL.lock().await;
    // The state store on another server: on the source, the daemon's own checkpoint writes
    // would be transactions after the checkpoint's GTIDs, which a reset loses, and MariaDB
    // then cannot start after those GTIDs (README, "Failover and binlog resets"). The second
    // MariaDB serves as that other server here, not as a replica.
    services("up", "mariadb-replica");
    run_sql(&mut replica(None).await, &["STOP SLAVE", "RESET SLAVE ALL"]).await;
    let env = TestEnv::new("hist_reset", "")
        .await
        .set("MYSQL2HBASE__STATE__URL", REPLICA_URL);
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT NOT NULL)"])
        .await;
    env.drop_hbase_table("t");
    // Its checkpoint lives on the state server: wait for /health instead.
    let mut daemon = env.start();
    wait_health(
        env.admin_port,
        200,
        "the daemon to stream",
        Duration::from_secs(60),
    )
    .await;
    changes(&mut c, 0, 100).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();

    // RESET MASTER with the GTID state carried over (how MariaDB keeps GTIDs across a reset):
    // the checkpoint's position is gone, its GTIDs are not.
    let mut admin = mysql().await;
    let state: String = admin
        .query_first("SELECT @@global.gtid_binlog_state")
        .await
        .unwrap()
        .unwrap();
    run_sql(
        &mut admin,
        &[
            "RESET MASTER",
            &format!("SET GLOBAL gtid_binlog_state = '{state}'"),
        ],
    )
    .await;
    changes(&mut c, 100, 50).await;
    let mut daemon = env.start_logged("after-reset", &[]);
    env.assert_converges(&mut c, "t", CONVERGE).await;
    assert!(
        daemon
            .log_text()
            .contains("resuming after the checkpoint's GTID set"),
        "{}",
        daemon.log_text()
    );
    daemon.stop();

    // A plain RESET MASTER: the GTIDs start over, nothing leads from the checkpoint into the
    // new binlog. The daemon stops naming the reset and the way out, and touches nothing.
    run_sql(&mut admin, &["RESET MASTER"]).await;
    changes(&mut c, 150, 50).await;
    let before = hbase_rows(&env);
    let mut daemon = env.start_logged("refused", &[]);
    let status = daemon.wait_exit(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(1), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        log.contains("reset") && log.contains("when_needed"),
        "{log}"
    );
    assert_eq!(hbase_rows(&env), before, "HBase was touched");

    // With when_needed it re-bootstraps from the new history, and follows it.
    let mut daemon = env.start_logged(
        "when-needed",
        &[("MYSQL2HBASE__SNAPSHOT__MODE", "when_needed")],
    );
    env.assert_converges(&mut c, "t", CONVERGE).await;
    changes(&mut c, 200, 50).await;
    let rows = env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();
    services("down", "mariadb-replica");
    report_figures(&format!(
        "RESET MASTER while stopped: resumed by GTID when the GTID state was kept; refused naming the reset (exit 1, HBase untouched) when not, then re-bootstrapped by when_needed: {rows} rows compared, 0 differences"
    ));
}
