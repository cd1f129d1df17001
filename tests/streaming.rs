//! Binlog streaming into HBase against real MariaDB and HBase: every test ends by comparing the
//! whole HBase table with MySQL under the default mapping.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn inserts_updates_deletes_and_key_changes_converge() {
    let env = TestEnv::new("stream_dml", "").await;
    let db = &env.db;
    let mut c = env
        .sql(&[
            "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), note TEXT NULL)",
            "CREATE TABLE pairs (a VARCHAR(20), b VARCHAR(20), v INT, PRIMARY KEY (a, b))",
        ])
        .await;
    let mut daemon = env.start_streaming().await;

    run_sql(&mut c, &[
        "INSERT INTO items VALUES (1, 'one', 1.50, 'n'), (2, 'two', 2.00, NULL), (3, 'three', 3.25, '')",
        "UPDATE items SET name = 'uno', note = NULL WHERE id = 1",
        "UPDATE items SET note = 'now set' WHERE id = 2",
        "DELETE FROM items WHERE id = 3",
        // Primary-key change: the old key disappears, the new one appears.
        "UPDATE items SET id = 20 WHERE id = 2",
        // Delete and re-insert of one key inside one transaction.
        "BEGIN",
        "DELETE FROM items WHERE id = 1",
        "INSERT INTO items VALUES (1, 'again', 9.99, NULL)",
        "COMMIT",
        // Composite keys with the separator and the escape character inside values.
        "INSERT INTO pairs VALUES ('a|b', 'c', 1), ('a', 'b|c', 2), ('x\\\\', '\\\\y', 3), ('😀', '', 4)",
        "UPDATE pairs SET v = 10 WHERE a = 'a|b'",
        "UPDATE pairs SET b = 'moved' WHERE a = 'a' AND b = 'b|c'",
    ]).await;
    env.assert_converges(&mut c, "items", CONVERGE).await;
    env.assert_converges(&mut c, "pairs", CONVERGE).await;
    let items = hbase_content(&env.hbase_table("items"));
    assert_eq!(
        items.keys().cloned().collect::<Vec<_>>(),
        [b"1".to_vec(), b"20".to_vec()]
    );
    assert!(
        !items[&b"1".to_vec()].contains_key(b"note".as_slice()),
        "NULL is no cell"
    );
    // /metrics is Prometheus text, and its row counters grow with the changes.
    let applied = |text: &str| -> f64 {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let (series, value) = l
                    .rsplit_once(' ')
                    .unwrap_or_else(|| panic!("bad metric line {l:?}"));
                let value: f64 = value
                    .parse()
                    .unwrap_or_else(|_| panic!("bad metric value in {l:?}"));
                (series.to_string(), value)
            })
            .filter(|(series, _)| {
                series.starts_with("mysql2hbase_rows_applied_total{")
                    && series.contains(&format!("{db}.items"))
            })
            .map(|(_, v)| v)
            .sum()
    };
    let (code, before) = http(env.admin_port, "GET", "/metrics", None).await;
    assert_eq!(code, 200);
    assert!(
        before.contains("mysql2hbase_hbase_batch_seconds_bucket"),
        "{before}"
    );
    let first = applied(&before);
    assert!(first >= 10.0, "{before}");
    run_sql(&mut c, &["INSERT INTO items VALUES (30, 'x', 1.00, NULL)"]).await;
    env.assert_converges(&mut c, "items", CONVERGE).await;
    let (_, after) = http(env.admin_port, "GET", "/metrics", None).await;
    assert_eq!(applied(&after), first + 1.0, "{after}");
    let pairs = hbase_content(&env.hbase_table("pairs"));
    assert!(
        pairs.contains_key(b"a\\|b|c".as_slice()),
        "{:?}",
        pairs.keys()
    );

    let took = daemon.stop();
    assert!(took < Duration::from_secs(10), "shutdown took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kill9_mid_stream_then_restart_converges_and_idle_restart_rewrites_nothing() {
    let env = TestEnv::new("stream_kill", "")
        .await
        .set("MYSQL2HBASE__PIPELINE__BATCH_ROWS", "500");
    let mut c = create_mixed_table(&env, 0).await;
    let mut daemon = env.start_streaming().await;

    // A writer keeps changing rows while the daemon is killed and restarted.
    let workload = Workload::start_n(&env.db, 3000, |c, i| {
        Box::pin(async move {
            mixed_change(c, i, i % 700).await;
            // The binlog rotates under the stream now and then.
            if i % 1000 == 999 {
                c.query_drop("FLUSH BINARY LOGS").await?;
            }
            Ok(1)
        })
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    daemon.kill9();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut daemon = env.start();
    workload.finish().await;
    // A change after the workload's: once HBase has it, this daemon has streamed past every
    // change (the killed one may have written them all before its checkpoint moved), so its
    // checkpoint at shutdown leaves nothing for the idle restart below.
    mixed_change(&mut c, 3000, 701).await;
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.stop();

    // Restart with no new changes: it resumes at the stored checkpoint and writes nothing.
    let mut idle = env.start_logged("idle", &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    idle.stop();
    let text = idle.log_text();
    assert!(text.contains("streaming from the checkpoint"), "{text}");
    // MariaDB has GTIDs: the checkpoint carries the equivalent GTID position, at shutdown the
    // exact one (in between the daemon refreshes it once a minute: pipeline::GTID_REFRESH).
    let (gtid, exact): (Option<String>, Option<String>) = c
        .query_first(format!(
            "SELECT gtid_set, BINLOG_GTID_POS(binlog_file, binlog_pos) FROM `{}`.checkpoint \
             WHERE server_id = {}",
            env.state_db, env.server_id
        ))
        .await
        .unwrap()
        .expect("a stored checkpoint");
    let gtid = gtid.expect("GTID set stored beside the checkpoint");
    assert!(gtid.starts_with("0-1-"), "{gtid}");
    assert_eq!(exact.as_deref(), Some(gtid.as_str()));
    assert!(
        !text.contains("batch written"),
        "an idle restart rewrote rows:\n{text}"
    );
    env.assert_converges(&mut c, "t", CONVERGE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_100k_row_transaction_streams_through() {
    let env = TestEnv::new("stream_bigtx", "").await;
    let mut c = env
        .sql(&["CREATE TABLE big (id INT PRIMARY KEY, a BIGINT, b VARCHAR(64), c DOUBLE)"])
        .await;
    let mut daemon = env.start_streaming().await;
    c.query_drop("SET SESSION cte_max_recursion_depth = 200000")
        .await
        .ok();
    run_sql(
        &mut c,
        &[
            "BEGIN",
            "INSERT INTO big SELECT seq, seq * 7, CONCAT('row-', seq), seq / 3 FROM seq_1_to_100000",
            "UPDATE big SET b = NULL WHERE id % 10 = 0",
            "COMMIT",
        ],
    )
    .await;
    env.assert_converges(&mut c, "big", Duration::from_secs(180))
        .await;
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_table_without_primary_key_goes_to_the_dead_letter_file() {
    // A configured row key on a nullable column: a NULL there cannot be keyed.
    let keyed = format!("stream_nopk_{}.keyed", std::process::id());
    let env = TestEnv::new(
        "stream_nopk",
        &format!("[[mapping.tables]]\nsource = \"{keyed}\"\nrow_key = [\"k\"]\n"),
    )
    .await;
    let dead_letter = env.dir.join("dead-letter.jsonl");
    let _ = std::fs::remove_file(&dead_letter);
    let env = env.set(
        "MYSQL2HBASE__DEAD_LETTER__PATH",
        dead_letter.to_str().unwrap(),
    );
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            "CREATE TABLE nokey (a INT, b INT)",
            "CREATE TABLE withkey (id INT PRIMARY KEY, b INT)",
        ])
        .await;
    let mut daemon = env.start_streaming().await;
    for i in 0..3 {
        c.exec_drop("INSERT INTO nokey VALUES (?, ?)", (i, i))
            .await
            .unwrap();
        c.exec_drop("INSERT INTO withkey VALUES (?, ?)", (i, i))
            .await
            .unwrap();
    }
    env.assert_converges(&mut c, "withkey", CONVERGE).await;
    assert!(daemon.is_running());
    let log = daemon.log_text();
    assert_eq!(log.matches("nokey has no primary key").count(), 1, "{log}");
    assert!(hbase_content(&env.hbase_table("nokey")).is_empty());
    run_sql(
        &mut c,
        &[
            "UPDATE nokey SET b = 10 WHERE a = 1",
            "DELETE FROM nokey WHERE a = 2",
            "INSERT INTO withkey VALUES (99, 99)",
        ],
    )
    .await;
    env.assert_converges(&mut c, "withkey", CONVERGE).await;
    daemon.stop();
    let records = read_jsonl(&dead_letter);
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["insert", "insert", "insert", "update", "delete"],
        "{records:?}"
    );
    let update = &records[3];
    assert_eq!(update["table"], format!("{db}.nokey"));
    assert!(update["reason"]
        .as_str()
        .unwrap()
        .contains("no primary key"));
    assert!(update["position"].as_str().unwrap().starts_with("binlog."));
    assert_eq!(update["before"], serde_json::json!({"a": "1", "b": "1"}));
    assert_eq!(update["after"], serde_json::json!({"a": "1", "b": "10"}));
}

#[tokio::test(flavor = "multi_thread")]
async fn ddl_is_followed_without_a_restart() {
    let env = TestEnv::new("stream_ddl", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "none");
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT, s VARCHAR(20))",
            "INSERT INTO t SELECT seq, seq, CONCAT('s', seq) FROM seq_1_to_300",
        ])
        .await;
    let mut daemon = env.start_streaming().await;
    run_sql(&mut c, &["INSERT INTO t VALUES (1000, 1, 'streamed')"]).await;

    // Rows that exist only through the DDL's defaults, and cells a dropped column leaves behind.
    for ddl in [
        "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 7",
        "ALTER TABLE t DROP COLUMN s",
        "ALTER TABLE t MODIFY COLUMN v DECIMAL(10,2)",
        "ALTER TABLE t RENAME COLUMN c TO c2",
    ] {
        run_sql(&mut c, &[ddl, "UPDATE t SET v = v + 1 WHERE id % 50 = 0"]).await;
        env.assert_converges(&mut c, "t", CONVERGE).await;
    }

    run_sql(
        &mut c,
        &[
            "RENAME TABLE t TO t2",
            "INSERT INTO t2 (id, v) VALUES (2000, 5)",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t2", CONVERGE).await;
    wait_for_hbase(
        "the renamed-away table to be emptied in HBase",
        &env.hbase_table("t"),
        CONVERGE,
        |rows| rows.is_empty(),
    )
    .await;

    run_sql(
        &mut c,
        &[
            "TRUNCATE TABLE t2",
            "INSERT INTO t2 (id, v) VALUES (1, 1), (2, 2)",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t2", CONVERGE).await;

    run_sql(&mut c, &["DROP TABLE t2"]).await;
    wait_for_hbase(
        "the dropped table to be emptied in HBase",
        &env.hbase_table("t2"),
        CONVERGE,
        |rows| rows.is_empty(),
    )
    .await;

    run_sql(
        &mut c,
        &[
            "CREATE TABLE t3 (a INT, b VARCHAR(5), PRIMARY KEY (a, b))",
            "INSERT INTO t3 VALUES (1, 'x'), (2, 'y|z')",
        ],
    )
    .await;
    env.assert_converges(&mut c, "t3", CONVERGE).await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_asks_for_its_token_when_one_is_set() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = TestEnv::new("admin_token", "")
        .await
        .set("MYSQL2HBASE__ADMIN__TOKEN", "t0ken-for-tests");
    let mut daemon = env.start_streaming().await;
    let port = env.admin_port;
    let get = |auth: Option<&'static str>| async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let header = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        s.write_all(
            format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out.split_whitespace().nth(1).unwrap().to_string()
    };
    assert_eq!(get(None).await, "401");
    assert_eq!(get(Some("Bearer wrong")).await, "401");
    assert_eq!(get(Some("Bearer t0ken-for-tests")).await, "200");
    assert!(
        !daemon.log_text().contains("t0ken-for-tests"),
        "the token was logged"
    );
    daemon.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_can_go_to_a_kafka_topic() {
    let topic = format!("m2h-dead-letter-{}", std::process::id());
    let env = TestEnv::new(
        "dead_letter_kafka",
        "[kafka]\nbrokers = \"127.0.0.1:9092\"\n",
    )
    .await
    .set("MYSQL2HBASE__DEAD_LETTER__TOPIC", &topic);
    let db = env.db.clone();
    stream_dead_letters(&env).await;
    let mut client = rdkafka::ClientConfig::new();
    client.set("bootstrap.servers", "127.0.0.1:9092");
    let records = kafka_records(client, &topic, 2);
    assert_eq!(
        records.len(),
        2,
        "dead-letter records in {topic}: {records:?}"
    );
    assert_eq!(records[0]["table"], format!("{db}.nokey"));
    assert_eq!(
        records[1]["after"],
        serde_json::json!({"a": "2", "b": null})
    );
}
