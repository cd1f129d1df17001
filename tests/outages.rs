//! HBase outages against the real servers: the restart strategy rides one out (and `/health`
//! says so meanwhile), or gives up with an error naming HBase; either way a restart ends with
//! HBase equal to MySQL. These tests stop and start HBase with `scripts/services.sh`, so they
//! run one at a time, in their own test binary.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn services(action: &str) {
    let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/services.sh"))
        .args([action, "hbase"])
        .status()
        .expect("run scripts/services.sh");
    assert!(
        status.success(),
        "scripts/services.sh {action} hbase failed"
    );
}

/// Keeps changing rows until told to stop; returns how many statements it ran.
fn workload(db: String, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let mut c = mysql().await;
        c.query_drop(format!("USE `{db}`")).await.unwrap();
        let mut i = 0u32;
        while !*stop.borrow() {
            i += 1;
            let id = i % 300;
            match i % 3 {
                0 => c
                    .exec_drop("REPLACE INTO t VALUES (?, ?)", (id, i))
                    .await
                    .unwrap(),
                1 => c
                    .exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (id,))
                    .await
                    .unwrap(),
                _ => c
                    .exec_drop("DELETE FROM t WHERE id = ?", (id,))
                    .await
                    .unwrap(),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        i
    })
}

async fn health(port: u16) -> u16 {
    http(port, "GET", "/health", None).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_25s_hbase_outage_is_survived_with_fixed_delay() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("outage_survive", "")
        .await
        .set("MYSQL2HBASE__RESTART__STRATEGY", "fixed-delay")
        .set("MYSQL2HBASE__RESTART__ATTEMPTS", "20")
        .set("MYSQL2HBASE__RESTART__DELAY", "3s");
    let db = env.db.clone();
    let mut c = mysql().await;
    c.query_drop(format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)"))
        .await
        .unwrap();
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;
    let port = env.admin_port;
    wait_for("/health 200", Duration::from_secs(30), || async move {
        health(port).await == 200
    })
    .await;

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writes = workload(db.clone(), stopped);
    tokio::time::sleep(Duration::from_secs(1)).await;
    services("down");
    let down_at = Instant::now();
    wait_for(
        "/health 503 while HBase is down",
        Duration::from_secs(30),
        || async move { health(port).await == 503 },
    )
    .await;
    let (_, body) = http(port, "GET", "/health", None).await;
    assert!(body.contains("HBase"), "{body}");
    tokio::time::sleep(Duration::from_secs(25).saturating_sub(down_at.elapsed())).await;
    services("up");
    wait_for(
        "/health 200 after HBase returned",
        Duration::from_secs(90),
        || async move { health(port).await == 200 },
    )
    .await;
    stop.send(true).unwrap();
    assert!(writes.await.unwrap() > 100);
    assert_converges(
        &mut c,
        &db,
        "t",
        &env.hbase_table("t"),
        Duration::from_secs(90),
    )
    .await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let (status, took) = daemon.terminate();
    assert!(status.success(), "{}", daemon.log_text());
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_strategy_gives_up_naming_hbase_and_a_restart_converges() {
    let _serial = SERIAL.lock().await;
    let env = TestEnv::new("outage_giveup", "").await;
    let strict = [
        ("MYSQL2HBASE__RESTART__STRATEGY", "fixed-delay"),
        ("MYSQL2HBASE__RESTART__ATTEMPTS", "2"),
        ("MYSQL2HBASE__RESTART__DELAY", "1s"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let db = env.db.clone();
    let mut c = mysql().await;
    c.query_drop(format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)"))
        .await
        .unwrap();
    let mut daemon = Daemon::start_with(&env.config, &env.dir.join("strict.log"), &strict);
    wait_streaming(&env, &mut daemon).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writes = workload(db.clone(), stopped);
    services("down");
    let status = daemon.wait_exit(Duration::from_secs(120)).await;
    stop.send(true).unwrap();
    writes.await.unwrap();
    services("up");
    assert!(!status.success());
    let log = daemon.log_text();
    assert!(log.contains("giving up after 3 failure(s)"), "{log}");
    assert!(log.contains("restart.strategy = fixed-delay"), "{log}");
    assert!(log.contains("HBase"), "{log}");

    // Nothing acknowledged was lost: a plain restart ends equal.
    let mut daemon = env.start();
    assert_converges(
        &mut c,
        &db,
        "t",
        &env.hbase_table("t"),
        Duration::from_secs(90),
    )
    .await;
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{}", daemon.log_text());
}
