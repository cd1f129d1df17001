//! Distributed mode on the real servers: one `run --role capture` and two `run --role apply`
//! workers in one consumer group; one worker is killed with `kill -9` mid-stream and the other
//! takes its partitions over. HBase must end equal to MySQL (what the single-process path
//! writes).

mod common;

use std::time::Duration;

use mysql_async::prelude::Queryable;

use common::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_workers_survive_a_kill_and_hbase_equals_mysql() {
    let env = TestEnv::new(
        "distributed",
        &format!("[kafka]\nbrokers = \"{KAFKA}\"\ninternal_partitions = 6\n"),
    )
    .await
    .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
    .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "100");
    // One topic and consumer group per test run.
    let topic = format!("m2h.{}.changes", env.db);
    let group = format!("apply-{}", env.db);
    let env = env
        .set("MYSQL2HBASE__KAFKA__INTERNAL_TOPIC", &topic)
        .set("MYSQL2HBASE__KAFKA__APPLY_GROUP", &group);
    let mut c = mysql().await;
    c.query_drop(format!(
        "CREATE TABLE `{0}`.t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20));
         CREATE TABLE `{0}`.k (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
        env.db
    ))
    .await
    .unwrap();
    // Rows before the start: the capture role bootstraps them through Kafka too.
    for id in 0..500u32 {
        c.exec_drop(
            format!("INSERT INTO `{}`.t VALUES (?, ?, ?)", env.db),
            (id, id, format!("pre{id}")),
        )
        .await
        .unwrap();
    }

    let capture = env.start_role("capture", "capture", &[]);
    let worker = |name: &str, port: u16| {
        env.start_role(
            "apply",
            name,
            &[("MYSQL2HBASE__ADMIN__LISTEN", format!("127.0.0.1:{port}"))],
        )
    };
    let (survivor_port, victim_port) = (free_port(), free_port());
    let mut survivor = worker("apply-1", survivor_port);
    let mut victim = worker("apply-2", victim_port);
    let mut capture = capture;
    wait_streaming(&env, &mut capture).await;

    c.query_drop(format!("USE `{}`", env.db)).await.unwrap();
    let mut killed = false;
    for i in 0..3000u32 {
        let id = (i * 7919) % 700;
        if i % 10 == 0 {
            // Multi-row transactions across both tables.
            c.query_drop(format!(
                "BEGIN; UPDATE t SET v = v + 1 WHERE id < {}; REPLACE INTO k VALUES ({}, 'x{}', {i}); COMMIT",
                id % 50,
                id % 40,
                id % 3
            ))
            .await
            .unwrap();
        } else {
            mixed_change(&mut c, i, id).await;
        }
        if i == 1200 {
            // Both workers share the partitions and write to HBase; then one dies mid-stream.
            for port in [survivor_port, victim_port] {
                wait_for(
                    "both apply workers to write changes",
                    Duration::from_secs(60),
                    || async move { applied_changes(port).await > 0 },
                )
                .await;
            }
            victim.kill9();
            killed = true;
        }
    }
    assert!(killed);
    assert_converges(
        &mut c,
        &env.db,
        "t",
        &env.hbase_table("t"),
        Duration::from_secs(120),
    )
    .await;
    assert_converges(
        &mut c,
        &env.db,
        "k",
        &env.hbase_table("k"),
        Duration::from_secs(60),
    )
    .await;
    assert!(survivor.is_running(), "{}", survivor.log_text());
    assert!(capture.is_running(), "{}", capture.log_text());
    // The survivor took the victim's partitions over: it ends up owning all six.
    let survivor_log = survivor.log_text();
    assert!(
        survivor_log.contains("partitions assigned") && survivor_log.contains("0,1,2,3,4,5"),
        "{survivor_log}"
    );
    let (status, _) = survivor.terminate();
    assert!(status.success(), "{}", survivor.log_text());
    let (status, _) = capture.terminate();
    assert!(status.success(), "{}", capture.log_text());
}

/// `mysql2hbase_applied_changes_total` of a worker's /metrics (0 while it is unreachable).
async fn applied_changes(port: u16) -> u64 {
    let (code, body) = http(port, "GET", "/metrics", None).await;
    if code != 200 {
        return 0;
    }
    body.lines()
        .find_map(|l| l.strip_prefix("mysql2hbase_applied_changes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
