//! `mysql2hbase check` and `migrate` against the real local services.

mod common;

use std::process::Command;

use mysql_async::prelude::Queryable;

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mysql2hbase"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run mysql2hbase");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

const LOCAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/local.toml");

#[test]
fn check_passes_against_the_local_services() {
    let (code, out) = run(&["check", "--config", LOCAL], &[]);
    assert_eq!(code, 0, "check failed:\n{out}");
    for item in [
        "mysql.connect",
        "log_bin",
        "binlog_format",
        "binlog_row_image",
        "binlog_row_metadata",
        "server_id",
        "privileges",
        "hbase.thrift",
        "kafka.connect",
        "hbase_names",
    ] {
        assert!(
            out.contains(&format!("[PASS] {item}")),
            "{item} did not pass:\n{out}"
        );
    }
}

#[test]
fn check_names_a_bad_locking_mode() {
    let (code, out) = run(
        &["check", "--config", LOCAL],
        &[("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "sometimes")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("locking_mode"), "{out}");
    assert!(
        out.contains("`minimal`, `extended`, `none`"),
        "allowed values missing: {out}"
    );
}

#[test]
fn check_names_an_unreachable_hbase() {
    let (code, out) = run(
        &["check", "--config", LOCAL],
        &[("MYSQL2HBASE__HBASE__THRIFT", "127.0.0.1:1")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("[FAIL] hbase.thrift"), "{out}");
    assert!(
        out.contains("HBase Thrift server at 127.0.0.1:1 is unreachable"),
        "{out}"
    );
    // The other items are still checked.
    assert!(out.contains("[PASS] binlog_format"), "{out}");
}

#[test]
fn check_names_an_unknown_key() {
    let dir = std::env::temp_dir().join(format!("m2h-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("typo.toml");
    let text = std::fs::read_to_string(LOCAL)
        .unwrap()
        .replace("[hbase]", "[hbase]\nthirft = \"x\"");
    std::fs::write(&file, text).unwrap();
    let (code, out) = run(&["check", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("thirft"), "{out}");
}

#[test]
fn migrate_creates_the_state_schema_once() {
    let state = format!("m2h_migrate_{}", std::process::id());
    let env = [("MYSQL2HBASE__STATE__DATABASE", state.as_str())];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use mysql_async::prelude::Queryable;
        let mut c = common::mysql().await;
        c.query_drop(format!("DROP DATABASE IF EXISTS `{state}`"))
            .await
            .unwrap();
    });
    let (code, out) = run(&["migrate", "--config", LOCAL], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("V1__initial"), "{out}");
    let (code, out) = run(&["migrate", "--config", LOCAL], &env);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("up to date"), "{out}");
    rt.block_on(async {
        use mysql_async::prelude::Queryable;
        let mut c = common::mysql().await;
        let tables: Vec<String> = c
            .exec("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY 1", (&state,))
            .await
            .unwrap();
        assert_eq!(tables, ["bootstrap_jobs", "checkpoint", "refinery_schema_history", "schema_history", "table_state"]);
        c.query_drop(format!("DROP DATABASE `{state}`")).await.unwrap();
    });
}

#[tokio::test]
async fn check_warns_about_captured_tables_hbase_cannot_take() {
    let mut c = common::mysql().await;
    for sql in [
        "DROP DATABASE IF EXISTS check_tables",
        "CREATE DATABASE check_tables",
        "CREATE TABLE check_tables.`odd$name` (id INT PRIMARY KEY)",
        "CREATE TABLE check_tables.no_key (id INT)",
        "CREATE TABLE check_tables.fine (id INT PRIMARY KEY)",
    ] {
        c.query_drop(sql).await.unwrap();
    }
    let capture = [("MYSQL2HBASE__CAPTURE__INCLUDE", "check_tables.*")];
    let (code, out) = run(&["check", "--config", LOCAL], &capture);
    assert_eq!(code, 0, "warnings do not fail check:\n{out}");
    assert!(out.contains("[WARN] hbase_names"), "{out}");
    assert!(
        out.contains(r#"check_tables.odd$name -> "check_tables_odd$name""#),
        "{out}"
    );
    assert!(out.contains("[WARN] primary_keys"), "{out}");
    assert!(out.contains("check_tables.no_key"), "{out}");
    assert!(!out.contains("check_tables.fine"), "{out}");

    // The fix the warning names: a [[mapping.tables]] entry with a legal name.
    let dir = std::env::temp_dir().join(format!("m2h-check-names-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("named.toml");
    let text = std::fs::read_to_string(LOCAL).unwrap()
        + "\n[[mapping.tables]]\nsource = \"check_tables.odd$name\"\ntable = \"check_tables_odd\"\n";
    std::fs::write(&file, text).unwrap();
    let (code, out) = run(&["check", "--config", file.to_str().unwrap()], &capture);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("[PASS] hbase_names") && out.contains("3 captured table(s)"),
        "{out}"
    );
    c.query_drop("DROP DATABASE check_tables").await.unwrap();
}
