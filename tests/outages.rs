//! HBase and MySQL outages against the real servers: the restart strategy rides one out (and
//! `/health` says so meanwhile), or gives up with an error naming HBase; either way a restart
//! ends with HBase equal to MySQL. These tests stop and start the servers with
//! `scripts/services.sh`, so they run one at a time, in their own test binary.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Statements the workload has run successfully so far.
static DONE: AtomicU32 = AtomicU32::new(0);

/// Keeps changing rows until told to stop; returns how many statements succeeded (also counted
/// in [`DONE`]). While MySQL
/// is away it reconnects (a statement cut off by the restart may or may not have committed:
/// the comparison at the end reads MySQL's final state either way).
fn workload(db: String, stop: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<u32> {
    tokio::spawn(async move {
        let connect = || async {
            let opts = mysql_async::Opts::from_url(&format!("{MYSQL_URL}/{db}")).unwrap();
            mysql_async::Conn::new(opts).await
        };
        let mut c = connect().await.unwrap();
        let (mut i, mut done) = (0u32, 0u32);
        while !*stop.borrow() {
            i += 1;
            let id = i % 300;
            let result = match i % 3 {
                0 => c.exec_drop("REPLACE INTO t VALUES (?, ?)", (id, i)).await,
                1 => {
                    c.exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (id,))
                        .await
                }
                _ => c.exec_drop("DELETE FROM t WHERE id = ?", (id,)).await,
            };
            match result {
                Ok(()) => {
                    done += 1;
                    DONE.fetch_add(1, Ordering::Relaxed);
                }
                Err(mysql_async::Error::Server(e)) => panic!("workload statement failed: {e}"),
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if let Ok(fresh) = connect().await {
                        c = fresh;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        done
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
    services("down", "hbase");
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
    services("up", "hbase");
    wait_for(
        "/health 200 after HBase returned",
        Duration::from_secs(90),
        || async move { health(port).await == 200 },
    )
    .await;
    stop.send(true).unwrap();
    let changes = writes.await.unwrap();
    assert!(changes > 100);
    let rows = assert_converges(
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
    let db = env.db.clone();
    let mut c = mysql().await;
    c.query_drop(format!("CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT)"))
        .await
        .unwrap();
    drop(c);
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writes = workload(db.clone(), stopped);
    let table = env.hbase_table("t");
    wait_for(
        "changes in HBase before the restart",
        Duration::from_secs(30),
        || {
            let table = table.clone();
            async move {
                tokio::task::spawn_blocking(move || !hbase_content(&table).is_empty())
                    .await
                    .unwrap()
            }
        },
    )
    .await;
    services("restart", "mariadb");
    let after_restart = DONE.load(Ordering::Relaxed);
    wait_for(
        "500 more changes after the restart",
        Duration::from_secs(60),
        || async move { DONE.load(Ordering::Relaxed) > after_restart + 500 },
    )
    .await;
    let port = env.admin_port;
    // Streaming again: a change made after the restart reaches HBase.
    let mut c = mysql().await;
    c.query_drop(format!("INSERT INTO `{db}`.t VALUES (100000, 1)"))
        .await
        .unwrap();
    let table = env.hbase_table("t");
    wait_for(
        "a change after the restart in HBase",
        Duration::from_secs(90),
        || {
            let table = table.clone();
            async move {
                tokio::task::spawn_blocking(move || {
                    hbase_content(&table).contains_key(b"100000".as_slice())
                })
                .await
                .unwrap()
            }
        },
    )
    .await;
    wait_for(
        "/health 200 after the restart",
        Duration::from_secs(30),
        || async move { health(port).await == 200 },
    )
    .await;
    stop.send(true).unwrap();
    let changes = writes.await.unwrap();
    let rows = assert_converges(&mut c, &db, "t", &table, Duration::from_secs(90)).await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        log.contains("pipeline failed; restarting from the checkpoint"),
        "the daemon did not notice the restart: {log}"
    );
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{}", daemon.log_text());
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
    services("down", "hbase");
    let status = daemon.wait_exit(Duration::from_secs(120)).await;
    stop.send(true).unwrap();
    writes.await.unwrap();
    services("up", "hbase");
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
