//! The Thrift transports and protocols production HBase clusters run, against real Thrift
//! servers (`scripts/services.sh up thrift2` with `THRIFT2_FLAGS`): a server started with
//! `-f -c` (framed transport, compact protocol) and one started with `-hsha` (framed, binary).
//! The daemon streams through each when `hbase.thrift_transport` / `thrift_protocol` match, and
//! `check` names a mismatch with the settings that work, instead of "end of file".
//!
//! One test: the second Thrift server is restarted between the modes.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

const THRIFT2: &str = "127.0.0.1:9091";

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
