//! `mysql2hbase verify` against real MariaDB and HBase: damage found and repaired, no false
//! differences while the daemon streams a workload, clear errors.

mod common;

use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(60);

fn json_line(stdout: &str) -> serde_json::Value {
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "--json prints exactly one line: {stdout:?}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
}

/// `verify <args> --json`, which must exit `code`; its one-line report.
#[track_caller]
fn verify_json(env: &TestEnv, args: &[&str], code: i32) -> serde_json::Value {
    let mut argv = vec!["verify"];
    argv.extend(args);
    argv.push("--json");
    json_line(&cli(env, &argv).code(code).out)
}

fn counts(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    (
        v["checked"].as_u64().unwrap(),
        v["missing"].as_u64().unwrap(),
        v["extra"].as_u64().unwrap(),
        v["different"].as_u64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn damage_behind_the_services_back_is_found_and_repaired() {
    // A salted table too: its HBase keys carry a two-character prefix verify must strip.
    let salted_source = format!("verify_damage_{}.salted", std::process::id());
    let env = TestEnv::new(
        "verify_damage",
        &format!("[[mapping.tables]]\nsource = \"{salted_source}\"\nsalt_buckets = 8\n"),
    )
    .await
    // Several chunks, so chunk boundaries and checksums are exercised.
    .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "7");
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), qty INT NULL, price DECIMAL(8,2))",
            "CREATE TABLE pairs (a VARCHAR(20), b INT, v VARCHAR(20), PRIMARY KEY (a, b))",
            "CREATE TABLE salted (id INT PRIMARY KEY, v INT)",
            "CREATE TABLE side (id INT PRIMARY KEY)",
        ])
        .await;
    env.drop_hbase_table("items");
    env.drop_hbase_table("pairs");
    env.drop_hbase_table("salted");
    let mut daemon = env.start_streaming().await;

    for i in 1..=50 {
        let qty = if i % 4 == 0 {
            "NULL".to_string()
        } else {
            i.to_string()
        };
        c.query_drop(format!(
            "INSERT INTO items VALUES ({i}, 'item {i}', {qty}, {i}.50)"
        ))
        .await
        .unwrap();
    }
    run_sql(
        &mut c,
        &[
            "INSERT INTO pairs VALUES ('a|b', 1, 'x'), ('a', 2, 'y'), ('c\\\\d', 3, 'z'), ('p', 4, NULL)",
            "INSERT INTO salted VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)",
        ],
    )
    .await;
    let items = env.hbase_table("items");
    let pairs = env.hbase_table("pairs");
    let salted = env.hbase_table("salted");
    wait_for_hbase("the salted rows in HBase", &salted, CONVERGE, |rows| {
        rows.len() == 5
    })
    .await;
    env.assert_converges(&mut c, "items", CONVERGE).await;
    env.assert_converges(&mut c, "pairs", CONVERGE).await;
    daemon.stop();

    // Equal before the damage.
    let (items_t, pairs_t, salted_t) = (
        format!("{db}.items"),
        format!("{db}.pairs"),
        format!("{db}.salted"),
    );
    let report = verify_json(&env, &[&items_t], 0);
    assert_eq!(counts(&report), (50, 0, 0, 0));

    // Damage "behind the service's back", with the clock (as the HBase shell would stamp it).
    let ts = clock_ms();
    for key in [b"3".as_slice(), b"17", b"40"] {
        hbase_delete_row_ts(&items, key, ts);
    }
    hbase_put_ts(&items, b"25", "d:name", b"tampered", ts);
    hbase_put_ts(&items, b"9999", "d:name", b"ghost", ts);
    // Composite keys: one extra row whose key needs unescaping, one missing row.
    hbase_put_ts(&pairs, b"x\\|y|5", "d:v", b"ghost", ts);
    hbase_delete_row_ts(&pairs, b"a\\|b|1", ts);
    // Salted: an extra key (wrong salt for id 2, so no MySQL row maps to it) and a changed cell.
    let salted_keys: Vec<Vec<u8>> = hbase_content(&salted).into_keys().collect();
    let key2 = salted_keys
        .iter()
        .find(|k| k.ends_with(b"2"))
        .unwrap()
        .clone();
    let mut wrong = key2.clone();
    wrong[0] = if wrong[0] == b'f' { b'e' } else { b'f' };
    hbase_put_ts(&salted, &wrong, "d:v", b"2", ts);
    hbase_put_ts(&salted, &key2, "d:v", b"22", ts);
    // The binlog moves on, in a table verify does not look at.
    run_sql(&mut c, &["INSERT INTO side VALUES (1)"]).await;

    let run = cli(&env, &["verify", &items_t, "--json"]).code(1);
    let report = json_line(&run.out);
    assert_eq!(counts(&report), (50, 3, 1, 1), "{report}");
    let samples = report["samples"].as_array().unwrap();
    let has = |key: &str, kind: &str| samples.iter().any(|s| s["key"] == key && s["kind"] == kind);
    assert!(
        has("3", "missing") && has("17", "missing") && has("40", "missing"),
        "{report}"
    );
    assert!(has("25", "different") && has("9999", "extra"), "{report}");
    // No daemon runs, but its last checkpoint covers every change of the table (the binlog
    // after it only touches `side`), so verify had nothing to wait for and says nothing of it.
    assert!(!run.err.contains("did not move"), "{}", run.err);

    // The human report names the keys too.
    cli(&env, &["verify", &items_t])
        .code(1)
        .stdout_has(&["3 missing, 1 extra, 1 different"]);

    let report = verify_json(&env, &[&pairs_t], 1);
    assert_eq!(counts(&report), (4, 1, 1, 0), "{report}");
    let report = verify_json(&env, &[&salted_t], 1);
    assert_eq!(counts(&report), (5, 0, 1, 1), "{report}");
    // Repairs go through the running daemon, in stream order with its own writes, and land
    // above the damage (stamped with the clock).
    let mut daemon = env.start_streaming().await;
    cli(&env, &["verify", &salted_t, "--repair"]).code(0);
    let content = hbase_content(&salted);
    assert_eq!(content.len(), 5, "{content:?}");
    assert_eq!(content[&key2][b"v".as_slice()], b"2");

    // Repair, then both tables are equal, by verify and by an independent comparison.
    let report = verify_json(&env, &[&items_t, "--repair"], 0);
    assert_eq!(counts(&report), (50, 0, 0, 0), "{report}");
    assert_eq!(report["repaired"]["missing"], 3, "{report}");
    assert_eq!(report["repaired"]["extra"], 1, "{report}");
    assert_eq!(report["repaired"]["different"], 1, "{report}");
    cli(&env, &["verify", &pairs_t, "--repair"])
        .code(0)
        .stdout_has(&["after repair"]);

    for table in ["items", "pairs"] {
        cli(&env, &["verify", &format!("{db}.{table}")]).code(0);
        env.assert_converges(&mut c, table, Duration::from_secs(1))
            .await;
    }

    // The stream goes on above the repairs: later changes win.
    run_sql(
        &mut c,
        &[
            "UPDATE items SET name = 'after repair' WHERE id IN (3, 25)",
            "DELETE FROM items WHERE id = 17",
        ],
    )
    .await;
    env.assert_converges(&mut c, "items", CONVERGE).await;
    let report = verify_json(&env, &[&items_t], 0);
    assert_eq!(counts(&report), (49, 0, 0, 0));
    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_false_differences_while_the_daemon_streams_a_workload() {
    let env = TestEnv::new("verify_live", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "50");
    let db = env.db.clone();
    let mut c = create_mixed_table(&env, 0).await;
    env.drop_hbase_table("t");
    let mut daemon = env.start_streaming().await;
    let values: Vec<String> = (0..400).map(|i| format!("({i}, {i}, 's{i}')")).collect();
    c.query_drop(format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await
        .unwrap();
    env.assert_converges(&mut c, "t", CONVERGE).await;

    let workload = Workload::start(&db, |c, done| {
        Box::pin(async move {
            let i = 1000 + done;
            mixed_change(c, i, (i * 7) % 450).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(1)
        })
    });

    // Twice during the workload: whatever is in flight is re-checked, never reported.
    wait_for("the workload to run", Duration::from_secs(30), || {
        let n = workload.changes();
        async move { n >= 20 }
    })
    .await;
    let t = format!("{db}.t");
    for _ in 0..2 {
        let run = tokio::task::block_in_place(|| cli(&env, &["verify", &t, "--json"])).code(0);
        eprintln!("verify during the workload: {}", run.text());
        let report = json_line(&run.out);
        let (checked, missing, extra, different) = counts(&report);
        assert!(checked > 300, "{report}");
        assert_eq!((missing, extra, different), (0, 0, 0), "{report}");
        assert!(
            !run.err.contains("did not move"),
            "the daemon runs, so verify must not give up waiting: {}",
            run.err
        );
    }
    // Enough changes around the verifies, however fast they were.
    wait_for(
        "the workload to make 60 changes",
        Duration::from_secs(60),
        || {
            let n = workload.changes();
            async move { n >= 60 }
        },
    )
    .await;
    let changes = workload.stop().await;
    assert!(changes >= 60, "the workload ran ({changes} changes)");

    cli(&env, &["verify", &t, "--json"]).code(0);
    env.assert_converges(&mut c, "t", CONVERGE).await;
    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_table_or_unreachable_server_is_exit_2_with_a_clear_message() {
    let env = TestEnv::new("verify_errors", "").await;
    let db = env.db.clone();
    env.sql(&[
        "CREATE TABLE nokey (a INT, b INT)",
        "CREATE TABLE ok (id INT PRIMARY KEY)",
    ])
    .await;
    let ok = format!("{db}.ok");

    for (args, expect) in [
        (
            vec![format!("{db}.nosuch")],
            format!("table {db}.nosuch does not exist"),
        ),
        (
            vec![format!("{db}.nokey"), "--json".into()],
            "has no primary key".into(),
        ),
        (vec!["nodot".into()], "db.table".into()),
        (
            vec![ok.clone(), "--where".into(), "no_such_column > 1".into()],
            "not a valid condition".into(),
        ),
    ] {
        let mut argv = vec!["verify"];
        argv.extend(args.iter().map(String::as_str));
        cli(&env, &argv).code(2).stderr_has(&[&expect]);
    }

    let env = env.set("MYSQL2HBASE__HBASE__THRIFT", "127.0.0.1:1");
    cli(&env, &["verify", &ok])
        .code(2)
        .stderr_has(&["HBase Thrift server at 127.0.0.1:1 is unreachable"]);

    let env = env.set("MYSQL2HBASE__MYSQL__URL", "mysql://root@127.0.0.1:1");
    cli(&env, &["verify", &ok])
        .code(2)
        .stderr_has(&["cannot connect to MySQL at"]);
}
