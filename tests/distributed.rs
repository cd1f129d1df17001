//! Distributed mode on the real servers: one `run --role capture` and `run --role apply`
//! workers in one consumer group. A worker killed with `kill -9` mid-stream, or Kafka restarted
//! under load: HBase must end equal to MySQL (what the single-process path writes). The Kafka
//! restart disturbs every Kafka client, so the tests here run one at a time.

mod common;

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use common::*;

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A config with the distributed topic and consumer group of this test run only.
async fn distributed_env(name: &str) -> TestEnv {
    let env = TestEnv::new(
        name,
        &format!("[kafka]\nbrokers = \"{KAFKA}\"\ninternal_partitions = 6\n"),
    )
    .await;
    let topic = format!("m2h.{}.changes", env.db);
    let group = format!("apply-{}", env.db);
    env.set("MYSQL2HBASE__KAFKA__INTERNAL_TOPIC", &topic)
        .set("MYSQL2HBASE__KAFKA__APPLY_GROUP", &group)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_workers_survive_a_kill_and_hbase_equals_mysql() {
    let _serial = SERIAL.lock().await;
    let env = distributed_env("distributed")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "100");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20))",
            "CREATE TABLE k (a INT, b VARCHAR(10), v INT, PRIMARY KEY (a, b))",
        ])
        .await;
    // Rows before the start: the capture role bootstraps them through Kafka too.
    for id in 0..500u32 {
        c.exec_drop(
            "INSERT INTO t VALUES (?, ?, ?)",
            (id, id, format!("pre{id}")),
        )
        .await
        .unwrap();
    }

    let capture = env.start_role("capture", "capture", &[]);
    let (survivor_port, victim_port) = (free_port(), free_port());
    let mut survivor = apply_worker(&env, "apply-1", survivor_port);
    let mut victim = apply_worker(&env, "apply-2", victim_port);
    let mut capture = capture;
    wait_streaming(&env, &mut capture).await;

    // Changes keep coming until both workers have written some, then one dies mid-stream and
    // 1,800 more follow. (A worker can join the group late, e.g. while a fresh broker is still
    // loading its group coordinator, and find the first 1,200 changes already applied.)
    let both_writing_by = Instant::now() + Duration::from_secs(60);
    let mut killed_at: Option<u32> = None;
    let mut i = 0u32;
    while killed_at.is_none_or(|k| i < k + 1800) {
        let id = (i * 7919) % 700;
        if i.is_multiple_of(10) {
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
        if killed_at.is_none() && i >= 1200 && i.is_multiple_of(20) {
            let written = [
                applied_changes(survivor_port).await,
                applied_changes(victim_port).await,
            ];
            if written.iter().all(|&n| n > 0) {
                victim.kill9();
                killed_at = Some(i);
            } else if Instant::now() > both_writing_by {
                panic!(
                    "after {i} changes and 60 s, the apply workers have written {written:?} rows\n--- apply-1:\n{}\n--- apply-2:\n{}",
                    survivor.log_text(),
                    victim.log_text()
                );
            }
        }
        i += 1;
    }
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(120))
        .await
        + env
            .assert_converges(&mut c, "k", Duration::from_secs(60))
            .await;
    report_figures(&format!(
        "distributed: apply worker killed -9 mid-stream (1 capture, 2 workers, 6 partitions): {i} changes + a 500-row bootstrap, {rows} rows compared, 0 differences"
    ));
    assert!(survivor.is_running(), "{}", survivor.log_text());
    assert!(capture.is_running(), "{}", capture.log_text());
    // The survivor took the victim's partitions over: it ends up owning all six.
    // (Its last assignment: it may also have owned all six before the victim joined.)
    let survivor_log = survivor.log_text();
    let last_assignment = survivor_log
        .lines()
        .rfind(|l| l.contains("partitions assigned"))
        .unwrap_or_else(|| panic!("no assignment logged:\n{survivor_log}"));
    assert!(
        last_assignment.trim_end().ends_with("0,1,2,3,4,5"),
        "{survivor_log}"
    );
    // `status` shows the apply workers' lag: none once they caught up ...
    wait_for(
        "status to show no apply lag",
        Duration::from_secs(60),
        || {
            let env = env.clone();
            async move { apply_lag(&env) == Some(0) }
        },
    )
    .await;
    survivor.stop();
    // ... and the changes captured while no worker runs.
    for id in 10_000..10_020u32 {
        c.exec_drop("INSERT INTO t VALUES (?, 0, 'late')", (id,))
            .await
            .unwrap();
    }
    wait_for(
        "status to show the changes no worker applied",
        Duration::from_secs(60),
        || {
            let env = env.clone();
            async move { apply_lag(&env).is_some_and(|lag| lag >= 20) }
        },
    )
    .await;
    capture.stop();
}

/// An apply worker whose admin API listens on `port`, logging to `<name>.log`.
fn apply_worker(env: &TestEnv, name: &str, port: u16) -> Daemon {
    let listen = format!("127.0.0.1:{port}");
    env.start_role("apply", name, &[("MYSQL2HBASE__ADMIN__LISTEN", &listen)])
}

/// `apply.lag_changes` of `status --json`.
fn apply_lag(env: &TestEnv) -> Option<u64> {
    let out = cli(env, &["status", "--json"]).code(0).out;
    let status: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(
        status["apply"]["topic"],
        format!("m2h.{}.changes", env.db),
        "{out}"
    );
    status["apply"]["lag_changes"].as_u64()
}

/// Kafka stopped for a while and started again under load: capture's deliveries wait (its
/// checkpoint with them), the worker reconnects, nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_restart_under_load_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let env = distributed_env("kafka_restart").await;
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20))"])
        .await;
    let mut capture = env.start_role("capture", "capture", &[]);
    let mut worker = apply_worker(&env, "apply", free_port());
    wait_streaming(&env, &mut capture).await;
    burst(&mut c, 0, 800).await;
    services("down", "kafka");
    // Changes while Kafka is down: capture keeps them in flight (bounded) and waits.
    burst(&mut c, 800, 400).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    services("up", "kafka");
    burst(&mut c, 1200, 800).await;
    let rows = env
        .assert_converges(&mut c, "t", Duration::from_secs(180))
        .await;
    report_figures(&format!(
        "distributed: Kafka stopped and restarted under load: 2000 changes (400 while down), {rows} rows compared, 0 differences"
    ));
    assert!(capture.is_running(), "{}", capture.log_text());
    assert!(worker.is_running(), "{}", worker.log_text());
    capture.stop();
    worker.stop();
}

/// Changes that expire from the internal topic before an apply worker wrote them (retention,
/// or a deletion): the worker stops naming the partition, the offsets and the way out, instead
/// of going on without them. The topic is created with unlimited retention.
#[tokio::test(flavor = "multi_thread")]
async fn changes_gone_from_the_internal_topic_stop_the_worker_naming_them() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    let _serial = SERIAL.lock().await;
    let env = distributed_env("topic_gap").await;
    let topic = format!("m2h.{}.changes", env.db);
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20))"])
        .await;
    let mut capture = env.start_role("capture", "capture", &[]);
    let mut worker = apply_worker(&env, "apply", free_port());
    wait_streaming(&env, &mut capture).await;
    burst(&mut c, 0, 100).await;
    env.assert_converges(&mut c, "t", Duration::from_secs(120))
        .await;
    worker.stop();
    burst(&mut c, 100, 300).await;
    wait_for("the worker's lag", Duration::from_secs(60), || {
        let env = env.clone();
        async move { apply_lag(&env).is_some_and(|lag| lag >= 100) }
    })
    .await;

    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", KAFKA);
    let admin: AdminClient<DefaultClientContext> = config.create().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(&topic)], &opts)
        .await
        .unwrap();
    let resource = described[0].as_ref().unwrap();
    assert_eq!(
        resource
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        Some("-1")
    );
    cli(&env, &["check"]).says(&[&format!(
        "{topic}: retention.ms = -1, no change expires unread"
    )]);
    // What retention would do: every unread change of every partition goes.
    let consumer: BaseConsumer = config.create().unwrap();
    let mut delete = TopicPartitionList::new();
    for p in 0..6 {
        let (_, high) = consumer
            .fetch_watermarks(&topic, p, Duration::from_secs(30))
            .unwrap();
        delete
            .add_partition_offset(&topic, p, Offset::Offset(high))
            .unwrap();
    }
    admin.delete_records(&delete, &opts).await.unwrap();
    // The worker learns of the gap from the next change of a partition.
    burst(&mut c, 400, 50).await;

    let mut worker = apply_worker(&env, "apply-after", free_port());
    let status = worker.wait_exit(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(1), "{}", worker.log_text());
    let log = worker.log_text();
    for expected in [
        "were never applied and are gone from the topic",
        &format!("{topic}/"),
        "--reset-offsets --to-offset",
        "retention.ms = -1",
    ] {
        assert!(log.contains(expected), "{expected:?} not in {log}");
    }
    capture.stop();
}

/// Statements `start..start + n` of the mixed workload on table `t`.
async fn burst(c: &mut mysql_async::Conn, start: u32, n: u32) {
    for i in start..start + n {
        mixed_change(c, i, (i * 31) % 400).await;
    }
}
