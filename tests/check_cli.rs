//! `mysql2hbase check` and `migrate` against the real local services.

mod common;

use common::{mysql2hbase, write_config, CliRun};
use mysql_async::prelude::Queryable;

const LOCAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/local.toml");

/// `mysql2hbase <command> --config <config>` with the environment variables `env`.
fn run(command: &str, config: &str, env: &[(&str, &str)]) -> CliRun {
    mysql2hbase(&[command, "--config", config], env)
}

#[test]
fn check_passes_against_the_local_services() {
    let check = run("check", LOCAL, &[]).code(0);
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
            check.text().contains(&format!("[PASS] {item}")),
            "{item} did not pass:\n{}",
            check.text()
        );
    }
}

#[test]
fn check_names_a_bad_locking_mode() {
    run(
        "check",
        LOCAL,
        &[("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "sometimes")],
    )
    .fails()
    // The key and its allowed values.
    .says(&["locking_mode", "`minimal`, `extended`, `none`"]);
}

#[test]
fn check_names_an_unreachable_hbase() {
    run(
        "check",
        LOCAL,
        &[("MYSQL2HBASE__HBASE__THRIFT", "127.0.0.1:1")],
    )
    .fails()
    .says(&[
        "[FAIL] hbase.thrift",
        "HBase Thrift server at 127.0.0.1:1 is unreachable",
        // The other items are still checked.
        "[PASS] binlog_format",
    ]);
}

#[test]
fn check_names_an_unknown_key() {
    let text = std::fs::read_to_string(LOCAL)
        .unwrap()
        .replace("[hbase]", "[hbase]\nthirft = \"x\"");
    let file = write_config("check-typo", &text);
    run("check", file.to_str().unwrap(), &[])
        .code(2)
        .says(&["thirft"]);
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
    run("migrate", LOCAL, &env).code(0).says(&["V1__initial"]);
    run("migrate", LOCAL, &env).code(0).says(&["up to date"]);
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
    // Warnings do not fail check.
    let out = run("check", LOCAL, &capture)
        .code(0)
        .says(&[
            "[WARN] hbase_names",
            r#"check_tables.odd$name -> "check_tables_odd$name""#,
            "[WARN] primary_keys",
            "check_tables.no_key",
        ])
        .text();
    assert!(!out.contains("check_tables.fine"), "{out}");

    // The fix the warning names: a [[mapping.tables]] entry with a legal name.
    let text = std::fs::read_to_string(LOCAL).unwrap()
        + "\n[[mapping.tables]]\nsource = \"check_tables.odd$name\"\ntable = \"check_tables_odd\"\n";
    let file = write_config("check-names", &text);
    run("check", file.to_str().unwrap(), &capture)
        .code(0)
        .says(&["[PASS] hbase_names", "3 captured table(s)"]);
    c.query_drop("DROP DATABASE check_tables").await.unwrap();
}

/// Joined tables (wide rows): `check` names a join key whose text differs from the parent's key
/// and a missing parent, passes the fixed mapping, and a template that could not be read back
/// is refused when the config loads, naming the entry and the rule.
#[tokio::test]
async fn check_validates_joined_tables() {
    let mut c = common::mysql().await;
    for sql in [
        "DROP DATABASE IF EXISTS check_joined",
        "CREATE DATABASE check_joined",
        "CREATE TABLE check_joined.orders (id INT PRIMARY KEY, customer VARCHAR(20))",
        "CREATE TABLE check_joined.items (id INT PRIMARY KEY, order_id VARCHAR(10) NOT NULL, sku VARCHAR(20))",
        "CREATE TABLE check_joined.notes (id INT PRIMARY KEY, order_id BIGINT NOT NULL, body TEXT)",
    ] {
        c.query_drop(sql).await.unwrap();
    }
    let capture = [("MYSQL2HBASE__CAPTURE__INCLUDE", "check_joined.*")];
    let joined = |source: &str, table: &str, family: &str, template: &str| {
        format!("\n[[mapping.tables]]\nsource = \"check_joined.{source}\"\ntable = \"{table}\"\nrow_key = [\"order_id\"]\nfamily = \"{family}\"\nqualifier = \"{template}\"\n")
    };
    let local = std::fs::read_to_string(LOCAL).unwrap();
    let config = |name: &str, entries: &[String]| {
        let file = write_config(name, &(local.clone() + &entries.concat()));
        file.to_str().unwrap().to_string()
    };
    let bad = config(
        "check-joined-bad",
        &[
            joined("items", "check_joined_orders", "items", "{id}:{column}"),
            joined("notes", "check_joined_nowhere", "notes", "{id}:{column}"),
        ],
    );
    run("check", &bad, &capture).fails().says(&[
        "[FAIL] mapping.joined",
        "check_joined.items.order_id (text) joins check_joined.orders.id (integer)",
        "no captured table writes its own rows into check_joined_nowhere",
    ]);
    c.query_drop("ALTER TABLE check_joined.items MODIFY order_id INT NOT NULL")
        .await
        .unwrap();
    let good = config(
        "check-joined-good",
        &[
            joined("items", "check_joined_orders", "items", "{id}:{column}"),
            joined("notes", "check_joined_orders", "notes", "{id}:{column}"),
        ],
    );
    run("check", &good, &capture)
        .code(0)
        .says(&["[PASS] mapping.joined", "2 joined table(s)"]);
    let unreadable = config(
        "check-joined-template",
        &[joined(
            "items",
            "check_joined_orders",
            "items",
            "{id}{column}",
        )],
    );
    run("check", &unreadable, &capture).code(2).says(&[
        "mapping.tables.qualifier",
        "check_joined.items",
        "side by side",
    ]);
    let parents_family = config(
        "check-joined-family",
        &[joined("items", "check_joined_orders", "d", "{id}:{column}")],
    );
    run("check", &parents_family, &capture)
        .code(2)
        .says(&["mapping.tables.family", "other than the parent's own (d)"]);
    c.query_drop("DROP DATABASE check_joined").await.unwrap();
}
