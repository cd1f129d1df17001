//! `verify` and cleanups of joined tables (wide rows) against real MariaDB and HBase: a joined
//! table is compared against its own cells in its parent's rows, a missing, an extra (absent
//! or moved to another parent) and a different child are found and repaired, and a cleanup
//! deletes the children HBase holds and MySQL lacks without touching the parent's or a
//! sibling table's cells.

mod common;

use std::time::Duration;

use common::*;
use hbase_thrift::hbase::THbaseSyncClient;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(60);

/// `verify <args> --json`, which must exit `code`; its one-line report.
#[track_caller]
fn verify_json(env: &TestEnv, args: &[&str], code: i32) -> serde_json::Value {
    let mut argv = vec!["verify"];
    argv.extend(args);
    argv.push("--json");
    let out = cli(env, &argv).code(code).out;
    let line = out.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

fn counts(v: &serde_json::Value) -> (u64, u64, u64, u64) {
    (
        v["checked"].as_u64().unwrap(),
        v["missing"].as_u64().unwrap(),
        v["extra"].as_u64().unwrap(),
        v["different"].as_u64().unwrap(),
    )
}

fn samples(v: &serde_json::Value, kind: &str) -> Vec<String> {
    v["samples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == kind)
        .map(|s| s["key"].as_str().unwrap().to_string())
        .collect()
}

/// Deletes cells behind the service's back at timestamp `ts`.
fn hbase_delete_cells(table: &str, key: &[u8], columns: &[&str], ts: i64) {
    use hbase_thrift::hbase::Mutation;
    let mutations = columns
        .iter()
        .map(|c| Mutation {
            is_delete: Some(true),
            column: Some(c.as_bytes().to_vec()),
            value: None,
            write_to_w_a_l: Some(true),
        })
        .collect();
    hbase()
        .mutate_row_ts(
            table.as_bytes().to_vec(),
            key.to_vec(),
            mutations,
            ts,
            Default::default(),
        )
        .unwrap();
}

/// The qualifiers (without family) HBase row `key` of `table` holds.
fn qualifiers(table: &str, key: &[u8]) -> Vec<String> {
    hbase_content(table)
        .get(key)
        .map(|cells| {
            cells
                .keys()
                .map(|q| String::from_utf8_lossy(q).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn joined_rows_are_verified_repaired_and_cleaned_up_by_their_own_cells() {
    let db = format!("joined_verify_{}", std::process::id());
    let orders = format!("{db}_orders");
    // Two joined tables sharing a family, told apart by their templates' prefixes.
    let env = TestEnv::new(
        "joined_verify",
        &format!(
            "[[mapping.tables]]\nsource = \"{db}.items\"\ntable = \"{orders}\"\nrow_key = [\"order_id\"]\nfamily = \"c\"\nqualifier = \"i{{id}}:{{column}}\"\n\
             [[mapping.tables]]\nsource = \"{db}.notes\"\ntable = \"{orders}\"\nrow_key = [\"order_id\"]\nfamily = \"c\"\nqualifier = \"n{{id}}:{{column}}\"\n"
        ),
    )
    .await;
    let mut c = env
        .sql(&[
            "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(20))",
            "CREATE TABLE items (id INT PRIMARY KEY, order_id INT NOT NULL, sku VARCHAR(20), qty INT NULL)",
            "CREATE TABLE notes (id INT PRIMARY KEY, order_id INT NOT NULL, body VARCHAR(50))",
        ])
        .await;
    env.drop_hbase_table("orders");
    let mut daemon = env.start_streaming().await;
    run_sql(
        &mut c,
        &[
            "INSERT INTO orders VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')",
            "INSERT INTO items VALUES (1, 1, 'x', 1), (2, 1, 'y', 2), (3, 2, 'z', 3), (4, 3, 'w', NULL)",
            // Note 3 belongs to an order MySQL does not have: HBase row 9 holds only its cells.
            "INSERT INTO notes VALUES (1, 1, 'hello'), (2, 2, 'bye'), (3, 9, 'orphan')",
        ],
    )
    .await;
    wait_for_hbase(
        "the orders with their children",
        &orders,
        CONVERGE,
        |rows| {
            let has = |key: &[u8], q: &[u8]| rows.get(key).is_some_and(|r| r.contains_key(q));
            has(b"1", b"customer")
                && has(b"1", b"i2:sku")
                && has(b"3", b"i4:sku")
                && has(b"1", b"n1:body")
                && has(b"9", b"n3:body")
        },
    )
    .await;

    let (orders_t, items_t, notes_t) = (
        format!("{db}.orders"),
        format!("{db}.items"),
        format!("{db}.notes"),
    );
    assert_eq!(counts(&verify_json(&env, &[&items_t], 0)), (4, 0, 0, 0));
    assert_eq!(counts(&verify_json(&env, &[&notes_t], 0)), (3, 0, 0, 0));
    // Row 9 holds only a child's cells: no extra order.
    assert_eq!(counts(&verify_json(&env, &[&orders_t], 0)), (3, 0, 0, 0));

    // Damage behind the service's back: item 2 missing, item 3 changed, item 77 (no such
    // item) and item 1 in the wrong order (it is in order 1) extra.
    let ts = clock_ms();
    hbase_delete_cells(
        &orders,
        b"1",
        &["c:i2:id", "c:i2:order_id", "c:i2:sku", "c:i2:qty"],
        ts,
    );
    hbase_put_ts(&orders, b"2", "c:i3:sku", b"tampered", ts);
    hbase_put_ts(&orders, b"3", "c:i77:sku", b"ghost", ts);
    hbase_put_ts(&orders, b"2", "c:i1:sku", b"moved", ts);

    let report = verify_json(&env, &[&items_t], 1);
    assert_eq!(counts(&report), (4, 1, 2, 1), "{report}");
    assert_eq!(samples(&report, "missing"), ["1/i2:"], "{report}");
    assert_eq!(samples(&report, "different"), ["2/i3:"], "{report}");
    let mut extra = samples(&report, "extra");
    extra.sort();
    assert_eq!(extra, ["2/i1:", "3/i77:"], "{report}");
    // The parent and the sibling do not see the damage.
    assert_eq!(counts(&verify_json(&env, &[&orders_t], 0)), (3, 0, 0, 0));
    assert_eq!(counts(&verify_json(&env, &[&notes_t], 0)), (3, 0, 0, 0));

    let repaired = verify_json(&env, &[&items_t, "--repair"], 0);
    assert_eq!(counts(&repaired), (4, 0, 0, 0), "{repaired}");
    assert_eq!(repaired["repaired"]["missing"], 1, "{repaired}");
    assert_eq!(repaired["repaired"]["extra"], 2, "{repaired}");
    assert_eq!(repaired["repaired"]["different"], 1, "{repaired}");
    assert_eq!(
        qualifiers(&orders, b"2"),
        [
            "customer",
            "i3:id",
            "i3:order_id",
            "i3:qty",
            "i3:sku",
            "id",
            "n2:body",
            "n2:id",
            "n2:order_id"
        ]
    );
    assert!(!qualifiers(&orders, b"3").contains(&"i77:sku".to_string()));

    // A cleanup (a re-bootstrap with cleanup): a child MySQL lacks and a dropped column's cell
    // go, the parent's and the sibling's cells stay.
    let ts = clock_ms();
    hbase_put_ts(&orders, b"1", "c:i88:sku", b"ghost", ts);
    hbase_put_ts(&orders, b"1", "c:i1:dropped", b"old", ts);
    hbase_put_ts(&orders, b"1", "c:x:other", b"not ours", ts);
    c.query_drop(format!(
        "INSERT INTO `{}`.bootstrap_jobs (database_name, table_name, cleanup) VALUES ('{db}', 'items', 1)",
        env.state_db
    ))
    .await
    .unwrap();
    let id: u64 = c
        .query_first("SELECT LAST_INSERT_ID()")
        .await
        .unwrap()
        .unwrap();
    let state_db = env.state_db.clone();
    wait_for("the cleanup job", CONVERGE, || {
        let sql = format!("SELECT status FROM `{state_db}`.bootstrap_jobs WHERE id = {id}");
        async move {
            let status: Option<String> = mysql().await.query_first(sql).await.unwrap();
            assert_ne!(status.as_deref(), Some("failed"));
            status.as_deref() == Some("complete")
        }
    })
    .await;
    assert_eq!(
        qualifiers(&orders, b"1"),
        [
            "customer",
            "i1:id",
            "i1:order_id",
            "i1:qty",
            "i1:sku",
            "i2:id",
            "i2:order_id",
            "i2:qty",
            "i2:sku",
            "id",
            "n1:body",
            "n1:id",
            "n1:order_id",
            "x:other"
        ]
    );
    assert_eq!(counts(&verify_json(&env, &[&items_t], 0)), (4, 0, 0, 0));
    assert_eq!(counts(&verify_json(&env, &[&notes_t], 0)), (3, 0, 0, 0));
    assert_eq!(counts(&verify_json(&env, &[&orders_t], 0)), (3, 0, 0, 0));
    daemon.stop();
}
