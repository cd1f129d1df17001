//! Bad input against the real servers: malformed configs, bootstrap and verify requests that
//! cannot run (each exit 2 with a clear message, nothing touched), values at HBase's cell size
//! limit and a 4 MB JSON document, every byte in a latin1 column, and table and column names
//! HBase cannot take as they are. (A statement-based binlog is refused at start in
//! tests/server_settings.rs.)

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

const LOCAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/local.toml");

/// Runs `check` on a config text; returns (exit code, stderr).
fn check_config(dir: &std::path::Path, text: &str) -> (i32, String) {
    let file = dir.join("bad.toml");
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mysql2hbase"))
        .args(["check", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_kind_of_config_mistake_is_refused_naming_the_key() {
    let base = std::fs::read_to_string(LOCAL).unwrap();
    let dir = std::env::temp_dir().join(format!("m2h-badcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let edit = |from: &str, to: &str| {
        assert!(base.contains(from), "{from}");
        base.replacen(from, to, 1)
    };
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "misspelt key",
            edit("[hbase]", "[hbase]\nthirft = \"x\""),
            &["thirft"],
        ),
        (
            "unknown section",
            base.clone() + "\n[hbsae]\nx = 1\n",
            &["hbsae"],
        ),
        (
            "wrong type",
            edit("server_id = 54321", "server_id = \"one\""),
            &["server_id"],
        ),
        (
            "negative number",
            edit("server_id = 54321", "server_id = -1"),
            &["server_id"],
        ),
        (
            "bad enum value",
            edit("mode = \"initial\"", "mode = \"sometimes\""),
            &["mode", "when_needed"],
        ),
        (
            "bad duration",
            edit(
                "server_id = 54321",
                "server_id = 54321\nheartbeat = \"5 parsecs\"",
            ),
            &["heartbeat"],
        ),
        (
            "out of range",
            base.clone() + "\n[pipeline]\nwriters = 0\n",
            &["pipeline.writers", "1 to 64"],
        ),
        (
            "missing required key",
            edit("thrift = \"127.0.0.1:9090\"", ""),
            &["thrift"],
        ),
        (
            "bad URL",
            edit("mysql://root@127.0.0.1:3306", "postgres://x"),
            &["mysql.url"],
        ),
        (
            "pattern without a table",
            edit("include = [\"shop.*\"]", "include = [\"shop\"]"),
            &["capture.include", "db.table"],
        ),
        (
            "template HBase cannot use",
            edit("table = \"{db}_{table}\"", "table = \"{db} {table}\""),
            &["mapping.table"],
        ),
        (
            "override HBase cannot use",
            base.clone() + "\n[[mapping.tables]]\nsource = \"shop.t\"\ntable = \"my table\"\n",
            &["mapping.tables.table"],
        ),
        (
            "family with a colon",
            edit("family = \"d\"", "family = \"d:x\""),
            &["mapping.family"],
        ),
        ("TOML syntax error", edit("[hbase]", "[hbase"), &["line"]),
        (
            "missing TLS CA file",
            base.clone() + "\n[mysql.tls]\nca = \"/nonexistent/ca.pem\"\n",
            &["mysql.tls.ca"],
        ),
        (
            "Kafka key without its certificate",
            edit(
                "brokers = \"127.0.0.1:9092\"",
                "brokers = \"127.0.0.1:9092\"\ntls = { key = \"/etc/hostname\" }",
            ),
            &["kafka.tls.key"],
        ),
        (
            "missing password file",
            edit(
                "server_id = 54321",
                "server_id = 54321\npassword_file = \"/nonexistent\"",
            ),
            &["mysql.password_file"],
        ),
        (
            "exposed admin API without a token",
            edit("listen = \"127.0.0.1:8686\"", "listen = \"0.0.0.0:8686\""),
            &["admin.listen", "token"],
        ),
    ];
    for (what, text, expect) in &cases {
        let (code, err) = check_config(&dir, text);
        assert_eq!(code, 2, "{what}: {err}");
        for e in *expect {
            assert!(err.contains(e), "{what}: {e:?} not in {err}");
        }
    }
    report_figures(&format!(
        "bad configs: {} kinds of mistake, each refused with exit 2 naming the key",
        cases.len()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_that_cannot_run_exit_2_with_the_reason_and_touch_nothing() {
    let env = TestEnv::new("bad_requests", "").await;
    let db = env.db.clone();
    let mut c = mysql().await;
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    c.query_drop("INSERT INTO t VALUES (1, 1), (2, 2)")
        .await
        .unwrap();
    c.query_drop("CREATE TABLE nokey (a INT)").await.unwrap();
    c.query_drop("CREATE TABLE `my table` (id INT PRIMARY KEY)")
        .await
        .unwrap();
    let t = format!("{db}.t");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("{db}.missing")], "does not exist"),
        (vec![format!("{db}.nokey")], "has no primary key"),
        (vec![format!("{db}.my table")], "which HBase does not allow"),
        (vec!["nodot".into()], "db.table"),
        (
            vec![t.clone(), "--where".into(), "id <=".into()],
            "not a valid condition",
        ),
        (
            vec![t.clone(), "--where".into(), "nosuchcolumn > 1".into()],
            "not a valid condition",
        ),
        (
            vec![t.clone(), "--where".into(), "id > 0; DROP TABLE t".into()],
            "one condition only",
        ),
        (
            vec![
                t.clone(),
                "--where".into(),
                "1) UNION SELECT 1 FROM mysql.user WHERE (1".into(),
            ],
            "closes a parenthesis",
        ),
        (
            vec![t.clone(), "--where".into(), "id > 0 -- and the rest".into()],
            "comments are not allowed",
        ),
    ];
    let mut tried = 0;
    for command in ["bootstrap", "verify"] {
        for (args, expect) in &cases {
            let mut argv = vec![command];
            argv.extend(args.iter().map(String::as_str));
            let (code, out, err) = cli(&env, &argv);
            assert_eq!(code, 2, "{argv:?}: {out}{err}");
            assert!(err.contains(expect), "{argv:?}: {expect:?} not in {err}");
            tried += 1;
        }
    }
    for (key, value, expect) in [
        (
            "MYSQL2HBASE__MYSQL__URL",
            "mysql://root@127.0.0.1:1",
            "cannot connect to MySQL at",
        ),
        (
            "MYSQL2HBASE__HBASE__THRIFT",
            "127.0.0.1:1",
            "HBase Thrift server at 127.0.0.1:1 is unreachable",
        ),
    ] {
        let unreachable = env.clone().set(key, value);
        for command in ["bootstrap", "verify"] {
            if command == "bootstrap" && key.contains("HBASE") {
                continue; // a bootstrap request is only recorded; the daemon writes HBase
            }
            let (code, out, err) = cli(&unreachable, &[command, &t]);
            assert_eq!(code, 2, "{command} {key}: {out}{err}");
            assert!(err.contains(expect), "{command} {key}: {err}");
            tried += 1;
        }
        // The read-only commands answer the same way.
        let reader = if key.contains("HBASE") {
            "peek"
        } else {
            "status"
        };
        let mut argv = vec![reader];
        if reader == "peek" {
            argv.push(&t);
        }
        let (code, out, err) = cli(&unreachable, &argv);
        assert_eq!(code, 2, "{reader} {key}: {out}{err}");
        assert!(!err.trim().is_empty(), "{reader} {key}: no reason given");
        tried += 1;
    }
    // Nothing ran: the table and its rows are still there, no job is pending.
    let rows: Vec<(u32, u32)> = c.query("SELECT id, v FROM t ORDER BY id").await.unwrap();
    assert_eq!(rows, [(1, 1), (2, 2)]);
    let pending: u64 = c
        .query_first(format!(
            "SELECT COUNT(*) FROM `{}`.bootstrap_jobs WHERE status <> 'failed'",
            env.state_db
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pending, 0);
    report_figures(&format!(
        "bad requests: {tried} bootstrap/verify requests (missing table, no primary key, bad names, invalid or injected --where, unreachable MySQL/HBase), each exit 2 with the reason, nothing run"
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn cell_size_limit_big_json_latin1_bytes_and_odd_names() {
    let dead_letters =
        std::env::temp_dir().join(format!("m2h-bad-dl-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&dead_letters);
    let env = TestEnv::new(
        "bad_values",
        &format!(
            "[dead_letter]\npath = {:?}\n",
            dead_letters.to_str().unwrap()
        ),
    )
    .await;
    let db = env.db.clone();
    let mut c = mysql().await;
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    for ddl in [
        "CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)",
        "CREATE TABLE doc (id INT PRIMARY KEY, j JSON)",
        "CREATE TABLE l1 (id INT PRIMARY KEY, s VARCHAR(300) CHARACTER SET latin1, t TEXT CHARACTER SET latin1)",
        "CREATE TABLE `odd-cols` (id INT PRIMARY KEY, `a:b` INT, `sp ace` INT, `ü` VARCHAR(5), `x``y` INT)",
        "CREATE TABLE `my table` (id INT PRIMARY KEY, v INT)",
    ] {
        c.query_drop(ddl).await.unwrap();
    }
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;

    // HBase refuses a cell whose serialized size (value plus row, family, qualifier, timestamp,
    // lengths) is over hbase.client.keyvalue.maxsize (10485760, our max_cell_bytes default): the
    // daemon sends such rows aside instead of retrying them forever.
    const LIMIT: usize = 10_485_760;
    for (id, len) in [
        (1, LIMIT - 100),
        (2, LIMIT - 30),
        (3, LIMIT),
        (4, LIMIT + 1),
    ] {
        c.exec_drop("INSERT INTO big VALUES (?, REPEAT('x', ?))", (id, len))
            .await
            .unwrap();
    }
    // A 4 MB JSON document.
    c.query_drop("SET SESSION group_concat_max_len = 67108864")
        .await
        .unwrap();
    c.query_drop(
        "INSERT INTO doc SELECT 1, JSON_OBJECT('items', JSON_ARRAYAGG(JSON_OBJECT('n', seq, 's', REPEAT('é', 20)))) FROM seq_1_to_75000",
    )
    .await
    .unwrap();
    let json_len: u64 = c
        .query_first("SELECT LENGTH(j) FROM doc")
        .await
        .unwrap()
        .unwrap();
    assert!(json_len > 4 << 20, "{json_len}");
    // Every byte, most of them invalid as UTF-8, in latin1 columns.
    c.query_drop("INSERT INTO l1 VALUES (1, UNHEX(CONCAT_WS('', (SELECT GROUP_CONCAT(LPAD(HEX(seq), 2, '0') SEPARATOR '') FROM seq_1_to_255))), UNHEX('80FF81E9C3'))")
        .await
        .unwrap();
    c.query_drop("INSERT INTO `odd-cols` VALUES (1, 1, 2, 'ü', 3)")
        .await
        .unwrap();
    c.query_drop("INSERT INTO `my table` VALUES (1, 1)")
        .await
        .unwrap();

    let mut rows = 0;
    for table in ["doc", "l1", "odd-cols"] {
        rows += assert_converges(
            &mut c,
            &db,
            table,
            &env.hbase_table(table),
            Duration::from_secs(120),
        )
        .await;
    }
    let mut expected = expected_content(&mut c, &db, "big").await;
    let big = env.hbase_table("big");
    let actual = tokio::task::spawn_blocking(move || hbase_content(&big))
        .await
        .unwrap();
    let written: Vec<&[u8]> = actual.keys().map(Vec::as_slice).collect();
    // The rows that fit are exact; the others are in the dead-letter file, named with the reason.
    expected.retain(|k, _| written.contains(&k.as_slice()));
    assert_eq!(expected, actual);
    // Row "1", column d:b: 1 + 3 - 1 + 20 = 23 bytes besides the value.
    assert_eq!(written, [b"1".as_slice(), b"2"]);
    rows += actual.len();
    let letters = std::fs::read_to_string(&dead_letters).unwrap();
    let aside: Vec<serde_json::Value> = letters
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let big_aside = aside
        .iter()
        .filter(|r| r["table"] == format!("{db}.big"))
        .count();
    assert_eq!(big_aside, 2, "{letters}");
    assert!(letters.contains("hbase.max_cell_bytes"), "{letters}");
    assert!(
        aside.iter().any(|r| r["table"] == format!("{db}.my table")
            && r["reason"]
                .as_str()
                .unwrap()
                .contains("HBase does not allow")),
        "{letters}"
    );
    assert!(daemon.is_running(), "{}", daemon.log_text());
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{}", daemon.log_text());
    report_figures(&format!(
        "bad values: cells at 10 MiB - 100 B, - 30 B, = 10 MiB and + 1 B (those over HBase's limit dead-lettered with the reason), a {json_len}-byte JSON document, all 255 non-zero bytes in latin1 columns, odd column names, a table name HBase refuses (dead-lettered); {rows} rows compared, 0 differences"
    ));
}
