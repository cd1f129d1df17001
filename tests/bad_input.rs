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

#[test]
fn every_kind_of_config_mistake_is_refused_naming_the_key() {
    let base = std::fs::read_to_string(LOCAL).unwrap();
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
        // The file is named after the case, so a failure's command line says which one.
        let file = write_config(&format!("badcfg-{}", what.replace(' ', "-")), text);
        mysql2hbase(&["check", "--config", file.to_str().unwrap()], &[])
            .code(2)
            .stderr_has(expect);
    }
    report_figures(&format!(
        "bad configs: {} kinds of mistake, each refused with exit 2 naming the key",
        cases.len()
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_that_cannot_run_exit_2_with_the_reason_and_touch_nothing() {
    // A row_key override on a column that is not unique would merge rows.
    let dupkey = format!("bad_requests_{}.dupkey", std::process::id());
    let env = TestEnv::new(
        "bad_requests",
        &format!("[[mapping.tables]]\nsource = \"{dupkey}\"\nrow_key = [\"k\"]\n"),
    )
    .await;
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            "CREATE TABLE t (id INT PRIMARY KEY, v INT)",
            "INSERT INTO t VALUES (1, 1), (2, 2)",
            "CREATE TABLE nokey (a INT)",
            "CREATE TABLE dupkey (id INT PRIMARY KEY, k INT NOT NULL, INDEX (k))",
            "CREATE TABLE `my table` (id INT PRIMARY KEY)",
        ])
        .await;
    let t = format!("{db}.t");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![format!("{db}.missing")], "does not exist"),
        (vec![format!("{db}.nokey")], "has no primary key"),
        (vec![dupkey.clone()], "is not unique"),
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
            cli(&env, &argv).code(2).stderr_has(&[expect]);
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
            cli(&unreachable, &[command, &t])
                .code(2)
                .stderr_has(&[expect]);
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
        let run = cli(&unreachable, &argv).code(2);
        assert!(
            !run.err.trim().is_empty(),
            "{}: no reason given",
            run.command
        );
        tried += 1;
    }
    // `check` names it, and the daemon refuses to start on it, naming it and the fix.
    cli(&env, &["check"])
        .code(1)
        .says(&["mapping.row_key", "is not unique"]);
    let mut daemon = env.start_logged("dupkey", &[]);
    let status = daemon.wait_exit(Duration::from_secs(60)).await;
    assert_eq!(status.code(), Some(1), "{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(
        log.contains("is not unique")
            && log.contains(&format!("ALTER TABLE {dupkey} ADD UNIQUE (k)")),
        "{log}"
    );
    tried += 1;
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
        "bad requests: {tried} bootstrap/verify requests and a daemon start (missing table, no primary key, a row_key that is not unique, bad names, invalid or injected --where, unreachable MySQL/HBase), each exit 2 with the reason, nothing run"
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
    let mut c = env
        .sql(&[
            "CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB)",
            "CREATE TABLE doc (id INT PRIMARY KEY, j JSON)",
            "CREATE TABLE l1 (id INT PRIMARY KEY, s VARCHAR(300) CHARACTER SET latin1, t TEXT CHARACTER SET latin1)",
            "CREATE TABLE `odd-cols` (id INT PRIMARY KEY, `a:b` INT, `sp ace` INT, `ü` VARCHAR(5), `x``y` INT)",
            "CREATE TABLE `my table` (id INT PRIMARY KEY, v INT)",
        ])
        .await;
    let mut daemon = env.start_streaming().await;

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
    run_sql(
        &mut c,
        &[
            "SET SESSION group_concat_max_len = 67108864",
            "INSERT INTO doc SELECT 1, JSON_OBJECT('items', JSON_ARRAYAGG(JSON_OBJECT('n', seq, 's', REPEAT('é', 20)))) FROM seq_1_to_75000",
        ],
    )
    .await;
    let json_len: u64 = c
        .query_first("SELECT LENGTH(j) FROM doc")
        .await
        .unwrap()
        .unwrap();
    assert!(json_len > 4 << 20, "{json_len}");
    // Every byte, most of them invalid as UTF-8, in latin1 columns.
    run_sql(
        &mut c,
        &[
            "INSERT INTO l1 VALUES (1, UNHEX(CONCAT_WS('', (SELECT GROUP_CONCAT(LPAD(HEX(seq), 2, '0') SEPARATOR '') FROM seq_1_to_255))), UNHEX('80FF81E9C3'))",
            "INSERT INTO `odd-cols` VALUES (1, 1, 2, 'ü', 3)",
            "INSERT INTO `my table` VALUES (1, 1)",
        ],
    )
    .await;

    let mut rows = 0;
    for table in ["doc", "l1", "odd-cols"] {
        rows += env
            .assert_converges(&mut c, table, Duration::from_secs(120))
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
    let aside = read_jsonl(&dead_letters);
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
    daemon.stop();
    report_figures(&format!(
        "bad values: cells at 10 MiB - 100 B, - 30 B, = 10 MiB and + 1 B (those over HBase's limit dead-lettered with the reason), a {json_len}-byte JSON document, all 255 non-zero bytes in latin1 columns, odd column names, a table name HBase refuses (dead-lettered); {rows} rows compared, 0 differences"
    ));
}
