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
    let mut c = mysql().await;
    let db = env.db.clone();
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    c.query_drop(
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(50), qty INT NULL, price DECIMAL(8,2))",
    )
    .await
    .unwrap();
    c.query_drop("CREATE TABLE pairs (a VARCHAR(20), b INT, v VARCHAR(20), PRIMARY KEY (a, b))")
        .await
        .unwrap();
    c.query_drop("CREATE TABLE salted (id INT PRIMARY KEY, v INT)")
        .await
        .unwrap();
    c.query_drop("CREATE TABLE side (id INT PRIMARY KEY)")
        .await
        .unwrap();
    env.drop_hbase_table("items");
    env.drop_hbase_table("pairs");
    env.drop_hbase_table("salted");
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;

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
    c.query_drop(
        "INSERT INTO pairs VALUES ('a|b', 1, 'x'), ('a', 2, 'y'), ('c\\\\d', 3, 'z'), ('p', 4, NULL)",
    )
    .await
    .unwrap();
    c.query_drop("INSERT INTO salted VALUES (1, 1), (2, 2), (3, 3), (4, 4), (5, 5)")
        .await
        .unwrap();
    let items = env.hbase_table("items");
    let pairs = env.hbase_table("pairs");
    let salted = env.hbase_table("salted");
    wait_for("the salted rows in HBase", CONVERGE, || {
        let t = salted.clone();
        async move {
            tokio::task::spawn_blocking(move || hbase_content(&t).len() == 5)
                .await
                .unwrap()
        }
    })
    .await;
    assert_converges(&mut c, &db, "items", &items, CONVERGE).await;
    assert_converges(&mut c, &db, "pairs", &pairs, CONVERGE).await;
    let (status, _) = daemon.terminate();
    assert!(status.success(), "{}", daemon.log_text());

    // Equal before the damage.
    let (code, out, err) = cli(&env, &["verify", &format!("{db}.items"), "--json"]);
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    assert_eq!(counts(&json_line(&out)), (50, 0, 0, 0));

    // Damage "behind the service's back", just above every streamed version.
    let ts = current_version().await + 1;
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
    // The binlog moves on (a table verify does not look at), so repairs get a higher version.
    c.query_drop("INSERT INTO side VALUES (1)").await.unwrap();

    let (code, out, err) = cli(&env, &["verify", &format!("{db}.items"), "--json"]);
    assert_eq!(code, 1, "stdout {out} stderr {err}");
    let report = json_line(&out);
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
    assert!(!err.contains("did not move"), "{err}");

    // The human report names the keys too.
    let (code, out, _) = cli(&env, &["verify", &format!("{db}.items")]);
    assert_eq!(code, 1);
    assert!(out.contains("3 missing, 1 extra, 1 different"), "{out}");

    let (code, out, err) = cli(&env, &["verify", &format!("{db}.pairs"), "--json"]);
    assert_eq!(code, 1, "stdout {out} stderr {err}");
    let report = json_line(&out);
    assert_eq!(counts(&report), (4, 1, 1, 0), "{report}");
    let (code, out, err) = cli(&env, &["verify", &format!("{db}.salted"), "--json"]);
    assert_eq!(code, 1, "stdout {out} stderr {err}");
    let report = json_line(&out);
    assert_eq!(counts(&report), (5, 0, 1, 1), "{report}");
    let (code, out, err) = cli(&env, &["verify", &format!("{db}.salted"), "--repair"]);
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    let content = hbase_content(&salted);
    assert_eq!(content.len(), 5, "{content:?}");
    assert_eq!(content[&key2][b"v".as_slice()], b"2");

    // Repair, then both tables are equal, by verify and by an independent comparison.
    let (code, out, err) = cli(
        &env,
        &["verify", &format!("{db}.items"), "--repair", "--json"],
    );
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    let report = json_line(&out);
    assert_eq!(counts(&report), (50, 0, 0, 0), "{report}");
    assert_eq!(report["repaired"]["missing"], 3, "{report}");
    assert_eq!(report["repaired"]["extra"], 1, "{report}");
    assert_eq!(report["repaired"]["different"], 1, "{report}");
    let (code, out, err) = cli(&env, &["verify", &format!("{db}.pairs"), "--repair"]);
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    assert!(out.contains("after repair"), "{out}");

    for table in ["items", "pairs"] {
        let (code, out, err) = cli(&env, &["verify", &format!("{db}.{table}")]);
        assert_eq!(code, 0, "{table}: stdout {out} stderr {err}");
        assert_converges(
            &mut c,
            &db,
            table,
            &env.hbase_table(table),
            Duration::from_secs(1),
        )
        .await;
    }

    // The stream goes on above the repairs: a restarted daemon's changes win.
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;
    c.query_drop("UPDATE items SET name = 'after repair' WHERE id IN (3, 25)")
        .await
        .unwrap();
    c.query_drop("DELETE FROM items WHERE id = 17")
        .await
        .unwrap();
    assert_converges(&mut c, &db, "items", &items, CONVERGE).await;
    let (code, out, err) = cli(&env, &["verify", &format!("{db}.items"), "--json"]);
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    assert_eq!(counts(&json_line(&out)), (49, 0, 0, 0));
    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn no_false_differences_while_the_daemon_streams_a_workload() {
    let env = TestEnv::new("verify_live", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "50");
    let mut c = mysql().await;
    let db = env.db.clone();
    c.query_drop(format!(
        "CREATE TABLE `{db}`.t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40))"
    ))
    .await
    .unwrap();
    env.drop_hbase_table("t");
    let mut daemon = env.start();
    wait_streaming(&env, &mut daemon).await;
    c.query_drop(format!("USE `{db}`")).await.unwrap();
    let values: Vec<String> = (0..400).map(|i| format!("({i}, {i}, 's{i}')")).collect();
    c.query_drop(format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await
        .unwrap();
    assert_converges(&mut c, &db, "t", &env.hbase_table("t"), CONVERGE).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (writer_db, writer_stop) = (db.clone(), stop.clone());
    let workload = tokio::spawn(async move {
        let mut c = mysql().await;
        c.query_drop(format!("USE `{writer_db}`")).await.unwrap();
        let mut i = 1000u32;
        while !writer_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let id = (i * 7) % 450;
            mixed_change(&mut c, i, id).await;
            i += 1;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        i - 1000
    });

    // Twice during the workload: whatever is in flight is re-checked, never reported.
    for _ in 0..2 {
        let env_ref = &env;
        let (code, out, err) =
            tokio::task::block_in_place(|| cli(env_ref, &["verify", &format!("{db}.t"), "--json"]));
        assert_eq!(code, 0, "stdout {out} stderr {err}");
        eprintln!("verify during the workload: {out}{err}");
        let report = json_line(&out);
        let (checked, missing, extra, different) = counts(&report);
        assert!(checked > 300, "{report}");
        assert_eq!((missing, extra, different), (0, 0, 0), "{report}");
        assert!(
            !err.contains("did not move"),
            "the daemon runs, so verify must not give up waiting: {err}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let changes = workload.await.unwrap();
    assert!(changes > 50, "the workload ran ({changes} changes)");

    let (code, out, err) = cli(&env, &["verify", &format!("{db}.t"), "--json"]);
    assert_eq!(code, 0, "stdout {out} stderr {err}");
    assert_converges(&mut c, &db, "t", &env.hbase_table("t"), CONVERGE).await;
    daemon.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_table_or_unreachable_server_is_exit_2_with_a_clear_message() {
    let env = TestEnv::new("verify_errors", "").await;
    let mut c = mysql().await;
    let db = env.db.clone();
    c.query_drop(format!("CREATE TABLE `{db}`.nokey (a INT, b INT)"))
        .await
        .unwrap();
    c.query_drop(format!("CREATE TABLE `{db}`.ok (id INT PRIMARY KEY)"))
        .await
        .unwrap();

    let (code, out, err) = cli(&env, &["verify", &format!("{db}.nosuch")]);
    assert_eq!(code, 2, "stdout {out} stderr {err}");
    assert!(
        err.contains(&format!("table {db}.nosuch does not exist")),
        "{err}"
    );

    let (code, _, err) = cli(&env, &["verify", &format!("{db}.nokey"), "--json"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("has no primary key"), "{err}");

    let (code, _, err) = cli(&env, &["verify", "nodot"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("db.table"), "{err}");

    let (code, _, err) = cli(
        &env,
        &[
            "verify",
            &format!("{db}.ok"),
            "--where",
            "no_such_column > 1",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a valid condition"), "{err}");

    let env = env.set("MYSQL2HBASE__HBASE__THRIFT", "127.0.0.1:1");
    let (code, _, err) = cli(&env, &["verify", &format!("{db}.ok")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("HBase Thrift server at 127.0.0.1:1 is unreachable"),
        "{err}"
    );

    let env = env.set("MYSQL2HBASE__MYSQL__URL", "mysql://root@127.0.0.1:1");
    let (code, _, err) = cli(&env, &["verify", &format!("{db}.ok")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("cannot connect to MySQL at"), "{err}");
}
