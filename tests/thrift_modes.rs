//! Thrift servers as production HBase clusters run them, for real (`scripts/services.sh up
//! thrift2`, a second Thrift server of the same HBase, with `THRIFT2_FLAGS`):
//! - the transports and protocols: a server started with `-f -c` (framed transport, compact
//!   protocol) and one started with `-hsha` (framed, binary); the daemon streams through each
//!   when `hbase.thrift_transport` / `thrift_protocol` match, and `check` names a mismatch with
//!   the settings that work, instead of "end of file";
//! - several servers: one of two killed (`kill -9`) mid-stream and started again later, then
//!   hung (SIGSTOP) and resumed; the writers go on through the other, `/health` names the
//!   failed one while it is down, the pipeline never restarts, and HBase equals MySQL.
//!
//! The tests take turns (they restart the same second server).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const THRIFT2: &str = "127.0.0.1:9091";

/// The tests take turns with the second Thrift server.
static THRIFT2_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// (Re)starts the second Thrift server with `flags`.
fn thrift2(flags: &str) {
    services("down", "thrift2");
    let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/services.sh"))
        .args(["up", "thrift2"])
        .env("THRIFT2_FLAGS", flags)
        .status()
        .expect("run scripts/services.sh");
    assert!(
        status.success(),
        "THRIFT2_FLAGS='{flags}' scripts/services.sh up thrift2 failed"
    );
}

/// Waits up to `secs` until `/health` answers 200 with a body holding every one of `texts`.
async fn wait_health_says(env: &TestEnv, what: &str, secs: u64, texts: &[&str]) {
    wait_for(what, Duration::from_secs(secs), || async {
        let (code, body) = http(env.admin_port, "GET", "/health", None).await;
        code == 200 && texts.iter().all(|t| body.contains(t))
    })
    .await;
}

/// The checkpoint (which moves only past what every writer made durable) moves within `secs`.
async fn assert_checkpoint_moves(env: &TestEnv, secs: u64, while_: &str) {
    let checkpoint = checkpoint_position(env).await;
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let later = checkpoint_position(env).await;
    assert!(
        later > checkpoint,
        "the checkpoint stayed at {checkpoint} for {secs} s while {while_}"
    );
}

/// Streams a few changes through the Thrift server on 9091 spoken as `transport`/`protocol`;
/// HBase (read through the default server) must equal MySQL.
async fn streams_through(env: &TestEnv, transport: &str, protocol: &str, base: u32) {
    let env = env
        .clone()
        .set("MYSQL2HBASE__HBASE__THRIFT", THRIFT2)
        .set("MYSQL2HBASE__HBASE__THRIFT_TRANSPORT", transport)
        .set("MYSQL2HBASE__HBASE__THRIFT_PROTOCOL", protocol);
    cli(&env, &["check"]).code(0);
    let mut daemon = env.start_streaming().await;
    let mut c = env.sql(&[]).await;
    for i in base..base + 200 {
        run_sql(
            &mut c,
            &[&format!(
                "INSERT INTO t VALUES ({i}, 'v{i}') ON DUPLICATE KEY UPDATE v = 'again'"
            )],
        )
        .await;
    }
    run_sql(
        &mut c,
        &[&format!("DELETE FROM t WHERE id < {}", base + 20)],
    )
    .await;
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn framed_compact_and_hsha_servers_are_spoken_and_a_mismatch_is_named() {
    let _turn = THRIFT2_TURN.lock().await;
    let env = TestEnv::new("thrift_modes", "").await;
    env.sql(&["CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"])
        .await;

    thrift2("-f -c");
    // The default (buffered binary) against it: `check` says what the server speaks.
    let default = env.clone().set("MYSQL2HBASE__HBASE__THRIFT", THRIFT2);
    cli(&default, &["check"]).fails().says(&[
        "does not speak the buffered transport with the binary protocol",
        "answers in the framed transport with the compact protocol",
        "thrift_transport = \"framed\"",
        "thrift_protocol = \"compact\"",
    ]);
    streams_through(&env, "framed", "compact", 1).await;

    thrift2("-hsha");
    cli(&default, &["check"])
        .fails()
        .says(&["answers in the framed transport with the binary protocol"]);
    streams_through(&env, "framed", "binary", 1000).await;

    services("down", "thrift2");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_of_two_thrift_servers_killed_mid_stream_is_left_to_the_other() {
    let _turn = THRIFT2_TURN.lock().await;
    thrift2("");
    let env = TestEnv::new("thrift_failover", "")
        .await
        .set(
            "MYSQL2HBASE__HBASE__THRIFT",
            &format!("127.0.0.1:9090,{THRIFT2}"),
        )
        .set("MYSQL2HBASE__HBASE__TIMEOUT", "5s");
    let mut c = create_mixed_table(&env, 0).await;
    cli(&env, &["check"])
        .code(0)
        .says(&["127.0.0.1:9090 (", "127.0.0.1:9091 ("]);
    let mut daemon = env.start_streaming().await;
    let workload = Workload::start(&env.db, |c, i| {
        Box::pin(async move {
            mixed_change(c, i, i.wrapping_mul(7919) % 3_000 + 1).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(1)
        })
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let pid_file = concat!(env!("CARGO_MANIFEST_DIR"), "/.data/hbase/thrift2.pid");
    let pid = std::fs::read_to_string(pid_file).expect("thrift2's pid file");
    let killed = Command::new("kill")
        .args(["-9", pid.trim()])
        .status()
        .expect("kill");
    assert!(killed.success(), "kill -9 {pid}");
    wait_health_says(
        &env,
        "/health to name the dead Thrift server",
        30,
        &["degraded", THRIFT2],
    )
    .await;
    assert_checkpoint_moves(&env, 3, "a Thrift server was down").await;

    thrift2("");
    // A writer tries it again once it has been left alone long enough (5 s after the first
    // failure, 10 s after a failed retry, ...), and the mark clears.
    wait_health_says(&env, "/health to be ok again", 60, &["\"ok\""]).await;

    // Hung instead of dead (SIGSTOP: it accepts connections and answers nothing): the writer
    // on it gives up after `hbase.timeout` (5 s here) and goes on through the other server;
    // its retries start with a short probe, so they cost it at most 2 s each.
    services("pause", "thrift2");
    wait_health_says(
        &env,
        "/health to name the hung Thrift server",
        30,
        &["degraded", THRIFT2],
    )
    .await;
    assert_checkpoint_moves(&env, 8, "a Thrift server hung").await;
    services("resume", "thrift2");
    wait_health_says(
        &env,
        "/health to be ok again after the resume",
        60,
        &["\"ok\""],
    )
    .await;

    let changes = workload.stop().await;
    assert!(changes > 100, "only {changes} changes");
    env.assert_converges(&mut c, "t", Duration::from_secs(60))
        .await;
    assert_eq!(
        metric(&env, "mysql2hbase_restarts_total").await,
        Some(0.0),
        "the pipeline restarted: {}",
        daemon.log_text()
    );
    assert!(
        daemon
            .log_text()
            .contains("retrying on another Thrift server"),
        "no write went to the other server: {}",
        daemon.log_text()
    );
    daemon.stop();
    services("down", "thrift2");
}
