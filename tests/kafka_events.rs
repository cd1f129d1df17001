//! Maxwell change events on a real Kafka broker (`scripts/services.sh up`): the JSON of every
//! column type and change kind, Maxwell's keys and partitioning, bootstrap events, and the
//! checkpoint waiting for Kafka's acknowledgements.

mod common;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::json;

use common::*;

fn kafka_section(extra: &str) -> String {
    format!("[kafka]\nbrokers = \"{KAFKA}\"\ntopic = \"m2h.{{db}}.{{table}}\"\n{extra}")
}

#[tokio::test(flavor = "multi_thread")]
async fn events_render_every_type_and_change_kind_as_maxwell_does() {
    let env = TestEnv::new(
        "kafka_types",
        &kafka_section("include_position = true\ninclude_primary_key = true"),
    )
    .await;
    let topic = format!("m2h.{}.t", env.db);
    // Four partitions: keys must pick the partition Java clients (and so Maxwell) would.
    create_topic(&topic, 4).await;
    let mut c = env
        .sql(&["CREATE TABLE t (
            id BIGINT UNSIGNED PRIMARY KEY, i INT, u BIGINT UNSIGNED, d DECIMAL(10,3), f FLOAT,
            dbl DOUBLE, dt DATE, dtm DATETIME(3), ts TIMESTAMP(6) NULL, tm TIME(2), y YEAR,
            b BIT(12), e ENUM('a','b','c'), st SET('x','y','z'), j JSON, bin VARBINARY(8),
            blb BLOB, txt TEXT, ch CHAR(3), lat VARCHAR(10) CHARACTER SET latin1, g GEOMETRY)"])
        .await;
    let mut daemon = env.start_streaming().await;

    c.query_drop(
        "INSERT INTO t VALUES (1, -5, 18446744073709551615, 12.5, 1.5, -2.5, '2024-02-29',
            '2024-01-02 03:04:05.12', '2024-05-06 07:08:09.123456', '-838:59:59.5', 2155,
            b'101010101010', 'b', 'z,x', '{\"k\": [1, 2, null], \"s\": \"é\"}', x'00FF01',
            'hello', 'héllo \"q\"', 'ab', 'café',
            ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 0), (1 1, 2.5 1, 2 2, 1 1))'))",
    )
    .await
    .unwrap();
    // A multi-row transaction: two inserts and an update.
    c.query_drop(
        "BEGIN; INSERT INTO t (id) VALUES (2); INSERT INTO t (id, i) VALUES (3, 3);
         UPDATE t SET i = 6, txt = 'changed' WHERE id = 1; COMMIT",
    )
    .await
    .unwrap();
    c.query_drop("DELETE FROM t WHERE id = 3").await.unwrap();
    // A primary-key change.
    c.query_drop("UPDATE t SET id = 20 WHERE id = 2")
        .await
        .unwrap();

    let messages = kafka_messages(&topic, 6, Duration::from_secs(60));
    let events: Vec<_> = messages.iter().map(KafkaMessage::json).collect();
    let by_type = |kind: &str, id: u64| {
        let i = events
            .iter()
            .position(|e| e["type"] == kind && e["data"]["id"] == id)
            .unwrap_or_else(|| panic!("no {kind} of id {id} in {events:#?}"));
        (&messages[i], &events[i])
    };

    // Every value as Maxwell renders it; DECIMAL keeps its scale in the raw text.
    let (raw, insert) = by_type("insert", 1);
    assert_eq!(
        insert["data"],
        json!({
            "id": 1, "i": -5, "u": 18446744073709551615u64, "d": 12.5, "f": 1.5,
            "dbl": -2.5, "dt": "2024-02-29", "dtm": "2024-01-02 03:04:05.120",
            "ts": "2024-05-06 07:08:09.123456", "tm": "-838:59:59.50", "y": 2155, "b": 2730,
            "e": "b", "st": ["x", "z"], "j": {"k": [1, 2, null], "s": "é"}, "bin": "AP8B",
            "blb": "aGVsbG8=", "txt": "héllo \"q\"", "ch": "ab", "lat": "café",
            "g": "POLYGON ((0 0, 10 0, 10 10, 0 0), (1 1, 2.5 1, 2 2, 1 1))"
        })
    );
    assert!(raw.value.contains("\"d\":12.500"), "{}", raw.value);
    assert!(
        raw.value.contains("\"u\":18446744073709551615"),
        "{}",
        raw.value
    );
    // Maxwell's field order: database, table, type, ts, xid, commit, position, primary_key...
    let prefix = format!(
        "{{\"database\":\"{}\",\"table\":\"t\",\"type\":\"insert\",\"ts\":",
        env.db
    );
    assert!(raw.value.starts_with(&prefix), "{}", raw.value);
    assert_eq!(insert["commit"], true);
    assert!(insert["xid"].is_u64(), "{insert}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts = insert["ts"].as_u64().unwrap();
    assert!(ts <= now && now - ts < 120, "ts {ts} now {now}");
    let position = insert["position"].as_str().unwrap();
    let (file, offset) = position.split_once(':').unwrap();
    assert!(
        file.contains("bin") && offset.parse::<u64>().unwrap() > 4,
        "{position}"
    );
    assert_eq!(insert["primary_key"], json!([1]));
    assert_eq!(insert["primary_key_columns"], json!(["id"]));
    assert!(insert.get("old").is_none());
    assert_eq!(
        raw.key,
        format!(
            "{{\"database\":\"{}\",\"table\":\"t\",\"pk.id\":1}}",
            env.db
        )
    );

    // The transaction: one xid, `commit` only on its last row, in binlog order.
    let (m2, insert2) = by_type("insert", 2);
    let (m3, insert3) = by_type("insert", 3);
    let (m1, update1) = by_type("update", 1);
    let xid = &insert2["xid"];
    assert!(xid.is_u64() && *xid != insert["xid"]);
    assert_eq!(insert3["xid"], *xid);
    assert_eq!(update1["xid"], *xid);
    assert!(insert2.get("commit").is_none() && insert3.get("commit").is_none());
    assert_eq!(update1["commit"], true);
    assert_eq!(insert2["data"]["i"], serde_json::Value::Null);
    assert_eq!(insert2["data"]["txt"], serde_json::Value::Null);
    assert_eq!(insert2["data"].as_object().unwrap().len(), 21);
    assert_eq!(insert3["data"]["i"], 3);
    for m in [m2, m3, m1] {
        assert!(m.offset > raw.offset || m.partition != raw.partition);
    }
    // An update's `old` holds exactly the changed columns, with their old values.
    assert_eq!(update1["old"], json!({"i": -5, "txt": "héllo \"q\""}));
    assert_eq!(update1["data"]["i"], 6);
    assert_eq!(update1["data"]["txt"], "changed");

    // A delete carries the deleted row in `data`, and no `old`.
    let (_, delete3) = by_type("delete", 3);
    assert_eq!(delete3["data"]["i"], 3);
    assert!(delete3.get("old").is_none());
    assert_eq!(delete3["commit"], true);

    // A primary-key change: one update keyed by the new key, the old key in `old`.
    let (m20, update20) = by_type("update", 20);
    assert_eq!(update20["old"], json!({"id": 2}));
    assert_eq!(update20["primary_key"], json!([20]));
    assert_eq!(
        m20.key,
        format!(
            "{{\"database\":\"{}\",\"table\":\"t\",\"pk.id\":20}}",
            env.db
        )
    );

    // One row always lands in one partition: the one Java's murmur2 partitioner picks.
    for m in &messages {
        assert_eq!(
            m.partition,
            java_partition(m.key.as_bytes(), 4),
            "key {} in partition {}",
            m.key,
            m.partition
        );
    }
    // HBase is still written.
    env.assert_converges(&mut c, "t", Duration::from_secs(30))
        .await;
    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn bootstraps_publish_start_inserts_and_complete() {
    let env = TestEnv::new("kafka_boot", &kafka_section(""))
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "2");
    let topic = format!("m2h.{}.t", env.db);
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))",
            "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e')",
        ])
        .await;
    let mut daemon = env.start();
    let messages = kafka_messages(&topic, 7, Duration::from_secs(90));
    let events: Vec<_> = messages.iter().map(KafkaMessage::json).collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "bootstrap-start",
            "bootstrap-insert",
            "bootstrap-insert",
            "bootstrap-insert",
            "bootstrap-insert",
            "bootstrap-insert",
            "bootstrap-complete"
        ],
        "{events:#?}"
    );
    assert_eq!(events[0]["data"], json!({}));
    assert_eq!(events[6]["data"], json!({}));
    let mut ids: Vec<i64> = events[1..6]
        .iter()
        .map(|e| e["data"]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    assert_eq!(events[3]["data"]["v"], "c");
    assert!(events.iter().all(|e| e.get("xid").is_none()));
    assert_eq!(
        messages[1].key,
        format!(
            "{{\"database\":\"{}\",\"table\":\"t\",\"pk.id\":1}}",
            env.db
        )
    );
    env.assert_converges(&mut c, "t", Duration::from_secs(30))
        .await;
    daemon.terminate();
}

/// The checkpoint never passes an event Kafka has not acknowledged: with the brokers
/// unreachable HBase gets the rows but the checkpoint stays put; a restart with Kafka reachable
/// publishes every event.
#[tokio::test(flavor = "multi_thread")]
async fn checkpoint_waits_for_kafka_acknowledgements() {
    let env = TestEnv::new("kafka_acks", &kafka_section("")).await;
    let topic = format!("m2h.{}.t", env.db);
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT)"])
        .await;
    // Nothing listens on port 1: every delivery stays pending.
    let mut daemon = env.start_logged(
        "unreachable",
        &[("MYSQL2HBASE__KAFKA__BROKERS", "127.0.0.1:1")],
    );
    wait_streaming(&env, &mut daemon).await;
    for i in 0..20 {
        c.exec_drop("INSERT INTO t VALUES (?, ?)", (i, i))
            .await
            .unwrap();
    }
    let after_inserts = current_position().await;
    // HBase takes the rows while no event can reach Kafka...
    env.assert_converges(&mut c, "t", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    daemon.terminate();
    assert!(checkpoint_position(&env).await < after_inserts);

    // ...so the stored checkpoint must lie before the first insert: the restart below replays
    // from it, and every one of the 20 events reaches Kafka only if none was skipped.
    let mut daemon = env.start();
    let messages = kafka_messages(&topic, 20, Duration::from_secs(60));
    let mut ids: Vec<i64> = messages
        .iter()
        .map(|m| m.json()["data"]["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, (0..20).collect::<Vec<_>>());
    wait_for(
        "the checkpoint to move past the inserts",
        Duration::from_secs(30),
        || {
            let (env, after_inserts) = (&env, &after_inserts);
            async move { checkpoint_position(env).await >= *after_inserts }
        },
    )
    .await;
    daemon.terminate();
}

/// `capture.exclude_columns` keeps a column out of every output: HBase, the change events of
/// the stream and of a bootstrap, and the dead-letter records.
#[tokio::test(flavor = "multi_thread")]
async fn excluded_columns_reach_no_output() {
    let env = TestEnv::new("kafka_exclude", &kafka_section(""))
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let dead_letter = env.dir.join("dead-letter.jsonl");
    let _ = std::fs::remove_file(&dead_letter);
    let text = std::fs::read_to_string(&env.config).unwrap();
    let include = format!("include = [\"{}.*\"]", env.db);
    let text = text.replace(
        &include,
        &format!("{include}\nexclude_columns = [\"{}.*.secret\"]", env.db),
    );
    let env = env.with_config("exclude.toml", &text).set(
        "MYSQL2HBASE__DEAD_LETTER__PATH",
        dead_letter.to_str().unwrap(),
    );
    let topic = format!("m2h.{}.t", env.db);
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(10), secret VARCHAR(20))",
            "CREATE TABLE nokey (name VARCHAR(10), secret VARCHAR(20))",
            "INSERT INTO t VALUES (1, 'a', 'hunter1')",
        ])
        .await;
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;
    run_sql(
        &mut c,
        &[
            "INSERT INTO t VALUES (2, 'b', 'hunter2')",
            "UPDATE t SET secret = 'hunter3', name = 'b2' WHERE id = 2",
            "INSERT INTO nokey VALUES ('n', 'hunter4')",
        ],
    )
    .await;
    // bootstrap-start, -insert, -complete, then insert and update.
    let messages = kafka_messages(&topic, 5, Duration::from_secs(90));
    wait_for_hbase(
        "both rows in HBase",
        &env.hbase_table("t"),
        Duration::from_secs(60),
        |rows| rows.len() == 2,
    )
    .await;
    daemon.stop();
    let hbase = hbase_content(&env.hbase_table("t"));
    let mut everything: Vec<String> = messages
        .iter()
        .map(|m| format!("{} {}", m.key, m.value))
        .collect();
    for (key, cells) in &hbase {
        for (column, value) in cells {
            everything.push(format!(
                "{} {} {}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(column),
                String::from_utf8_lossy(value)
            ));
        }
    }
    everything.extend(read_jsonl(&dead_letter).iter().map(|r| r.to_string()));
    assert!(
        everything.iter().any(|e| e.contains("nokey")),
        "the dead letter has the row: {everything:#?}"
    );
    assert!(
        everything.iter().any(|e| e.contains("\"b2\"")),
        "the update is there: {everything:#?}"
    );
    for secret in ["hunter", "secret"] {
        assert!(
            everything.iter().all(|e| !e.contains(secret)),
            "{secret} leaked: {everything:#?}"
        );
    }
}
