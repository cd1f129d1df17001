//! FLOAT and DOUBLE exactly, whichever way a row reaches HBase, against real MariaDB and HBase:
//! the same values bootstrapped (chunks read over the text protocol), streamed (binlog) and
//! repaired (`verify --repair`) give identical cells, each reading back as the stored number
//! (checked against the binary protocol's f32/f64), and `verify` finds no difference. FLOAT,
//! DOUBLE, FLOAT(p) both sides of 24, FLOAT(M,D)/DOUBLE(M,D), unsigned, NULL, negative zero,
//! subnormals and extremes; and a table keyed by a FLOAT, read in chunks of 2 rows, whose
//! keys the server's 6-digit text (`123457`) could not page through.

mod common;

use std::time::Duration;

use common::*;
use mysql2hbase::model::SqlValue;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const CONVERGE: Duration = Duration::from_secs(60);

const COLUMNS: &str = "f FLOAT, d DOUBLE, f10 FLOAT(10), f30 FLOAT(30), fm FLOAT(7,4), \
    dm DOUBLE(10,2), fu FLOAT UNSIGNED, du DOUBLE UNSIGNED";

const ROWS: &str = "
 (1, 123456.79, 0.1, 0.1, 0.1, 123.45678, 12345.678, 3.5, 2.5),
 (2, -0e0, -0e0, 1.1, 1.1, -1.2345, -0.001, 0, 0),
 (3, 3.402823466e38, 1.7976931348623157e308, -3.402823466e38, -1.7976931348623157e308,
     999.9999, 99999999.99, 1.17549435e-38, 2.2250738585072014e-308),
 (4, 1e-45, 5e-324, -1e-45, -5e-324, 0.0001, 0.005, 1e-40, 1e-320),
 (5, 0.0001, 1e15, 1e14, 999999999999999, -999.9999, -99999999.99, 16777217, 9007199254740993),
 (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, -123456.79, 0.30000000000000004, 1e22, 1e22, 0.5, 0.5, 1e10, 1e100)";

/// FLOAT keys: 123456.79, 123456.9 and 123457 are all `123457` in `SELECT k`.
const KEYS: &str = "(123456.79, 1), (123456.9, 2), (123457, 3), (0.1, 4), (-1.5, 5), \
    (1e-45, 6), (3.4e38, 7)";

/// `verify <table> --json`, which must exit `code`: (checked, missing, extra, different).
#[track_caller]
fn verify(env: &TestEnv, table: &str, code: i32) -> (u64, u64, u64, u64) {
    let run = cli(env, &["verify", table, "--json"]).code(code);
    let v: serde_json::Value = serde_json::from_str(run.out.trim()).unwrap();
    let n = |k: &str| v[k].as_u64().unwrap();
    (n("checked"), n("missing"), n("extra"), n("different"))
}

/// Every FLOAT/DOUBLE cell of `content` reads back as the number MySQL stores, as the binary
/// protocol gives it (an f32 for FLOAT, an f64 for DOUBLE; NULL = no cell).
async fn assert_cells_read_back_exactly(c: &mut Conn, table: &str, content: &Content) {
    let rows: Vec<Row> = c.exec(format!("SELECT * FROM {table}"), ()).await.unwrap();
    assert!(!rows.is_empty());
    for row in rows {
        let key = match row.as_ref(0).unwrap() {
            Value::Int(i) => i.to_string(),
            Value::Float(f) => String::from_utf8(SqlValue::float(*f).to_text().unwrap()).unwrap(),
            other => panic!("{other:?}"),
        };
        let cells = &content[key.as_bytes()];
        for (i, col) in row.columns_ref().iter().enumerate() {
            let cell = cells
                .get(col.name_str().as_bytes())
                .map(|v| String::from_utf8(v.clone()).unwrap());
            let what = format!("{table} row {key} column {}: {cell:?}", col.name_str());
            match row.as_ref(i).unwrap() {
                Value::NULL => assert_eq!(cell, None, "{what}"),
                Value::Float(f) => {
                    assert_eq!(cell.unwrap().parse::<f32>().unwrap(), *f, "{what}")
                }
                Value::Double(d) => {
                    assert_eq!(cell.unwrap().parse::<f64>().unwrap(), *d, "{what}")
                }
                _ => {}
            }
        }
    }
}

/// `a` and `b` hold the same rows and cells; the first differences otherwise.
#[track_caller]
fn assert_same(a: &Content, b: &Content, what: &str) {
    assert!(a == b, "{what}: {}", describe_diff(a, b));
}

#[tokio::test(flavor = "multi_thread")]
async fn floats_and_doubles_are_the_same_bootstrapped_streamed_and_repaired() {
    let env = TestEnv::new("float_exact", "")
        .await
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "2");
    let db = env.db.clone();
    let mut c = env
        .sql(&[
            &format!("CREATE TABLE boot (id INT PRIMARY KEY, {COLUMNS})"),
            &format!("CREATE TABLE strm (id INT PRIMARY KEY, {COLUMNS})"),
            "CREATE TABLE fk_boot (k FLOAT PRIMARY KEY, v INT)",
            "CREATE TABLE fk_strm (k FLOAT PRIMARY KEY, v INT)",
            &format!("INSERT INTO boot VALUES {ROWS}"),
            &format!("INSERT INTO fk_boot VALUES {KEYS}"),
        ])
        .await;
    for t in ["boot", "strm", "fk_boot", "fk_strm"] {
        env.drop_hbase_table(t);
    }
    // MariaDB stores negative zero as zero: the stream and the chunks both see zero.
    let zero: Option<f64> = c
        .query_first("SELECT ATAN2(f, -1) FROM boot WHERE id = 2")
        .await
        .unwrap()
        .flatten();
    assert_eq!(zero, Some(std::f64::consts::PI));
    let mut daemon = env.start_streaming().await;

    // Bootstrapped (text-protocol chunks of 2 rows) ...
    for t in ["boot", "fk_boot"] {
        cli(&env, &["bootstrap", &format!("{db}.{t}"), "--wait"]).code(0);
    }
    // ... and the same values streamed.
    run_sql(
        &mut c,
        &[
            &format!("INSERT INTO strm VALUES {ROWS}"),
            &format!("INSERT INTO fk_strm VALUES {KEYS}"),
        ],
    )
    .await;
    for t in ["strm", "fk_strm"] {
        wait_for_hbase(
            &format!("the {t} rows"),
            &env.hbase_table(t),
            CONVERGE,
            |r| r.len() == 7,
        )
        .await;
    }
    let boot = hbase_content(&env.hbase_table("boot"));
    let strm = hbase_content(&env.hbase_table("strm"));
    assert_same(&boot, &strm, "bootstrapped (left) and streamed (right)");
    let fk = hbase_content(&env.hbase_table("fk_boot"));
    let fk_strm = hbase_content(&env.hbase_table("fk_strm"));
    assert_same(
        &fk,
        &fk_strm,
        "bootstrapped (left) and streamed (right) FLOAT keys",
    );

    // The cells: each FLOAT the f32's shortest text, not the server's `123457`.
    let cell = |row: &str, col: &str| {
        boot[row.as_bytes()]
            .get(col.as_bytes())
            .map(|v| String::from_utf8(v.clone()).unwrap())
    };
    let expected = [
        ("1", "f", "123456.79"),
        ("1", "d", "0.1"),
        ("1", "f10", "0.1"),
        ("1", "f30", "0.1"),
        ("1", "fm", "123.4568"),
        ("1", "dm", "12345.68"),
        ("2", "f", "0"),
        ("2", "d", "0"),
        ("2", "dm", "0"),
        ("3", "f", "3.4028235e38"),
        ("3", "f10", "-3.4028235e38"),
        ("3", "f30", "-1.7976931348623157e308"),
        ("3", "fu", "1.1754944e-38"),
        ("4", "f", "1e-45"),
        ("4", "d", "5e-324"),
        ("4", "fu", "1e-40"),
        ("5", "f", "1e-4"),
        ("5", "f10", "100000000000000"),
        ("5", "fu", "16777216"),
        ("7", "f", "-123456.79"),
        ("7", "d", "0.30000000000000004"),
    ];
    for (row, col, text) in expected {
        assert_eq!(
            cell(row, col).as_deref(),
            Some(text),
            "row {row} column {col}"
        );
    }
    assert_eq!(boot[b"6".as_slice()].len(), 1, "NULLs are no cells");
    let keys: Vec<&str> = fk.keys().map(|k| std::str::from_utf8(k).unwrap()).collect();
    for k in [
        "123456.79",
        "123456.9",
        "123457",
        "0.1",
        "-1.5",
        "1e-45",
        "3.4e38",
    ] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert_cells_read_back_exactly(&mut c, "boot", &boot).await;
    assert_cells_read_back_exactly(&mut c, "fk_boot", &fk).await;

    // verify reads them the same way (chunks keyed by the FLOAT too).
    for t in ["boot", "strm", "fk_boot", "fk_strm"] {
        assert_eq!(verify(&env, &format!("{db}.{t}"), 0), (7, 0, 0, 0), "{t}");
    }

    // What the bootstrap used to write (the server's 6 digits) is a difference, and the
    // repair writes the exact value.
    let table = env.hbase_table("boot");
    hbase_put_ts(&table, b"1", "d:f", b"123457", clock_ms());
    // A FLOAT key as HBase has it (`2.5`, `123456.79`) is looked up in MySQL exactly.
    let fk_table = env.hbase_table("fk_boot");
    hbase_put_ts(&fk_table, b"123456.79", "d:v", b"0", clock_ms());
    hbase_put_ts(&fk_table, b"2.5", "d:v", b"0", clock_ms());
    assert_eq!(verify(&env, &format!("{db}.boot"), 1), (7, 0, 0, 1));
    assert_eq!(verify(&env, &format!("{db}.fk_boot"), 1), (7, 0, 1, 1));
    for t in ["boot", "fk_boot"] {
        cli(&env, &["verify", &format!("{db}.{t}"), "--repair"])
            .code(0)
            .stdout_has(&["after repair:", "(equal)"]);
    }
    assert_same(&strm, &hbase_content(&table), "streamed and repaired");
    assert_same(
        &fk_strm,
        &hbase_content(&fk_table),
        "streamed and repaired FLOAT keys",
    );
    assert!(daemon.is_running(), "{}", daemon.log_text());
    daemon.stop();
}
