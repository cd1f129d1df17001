//! Wide rows (joined tables) against real MariaDB and HBase: a parent table and the tables joined
//! into its HBase rows must end, cell for cell, equal to the join computed from MySQL (every
//! parent column under `d:<column>`, every child's non-NULL columns under
//! `<family>:<qualifier>`), whatever the order in which parents and children arrive: children
//! before their parents, children moving between parents, parents deleted and re-created, NULLs
//! set and cleared, multi-row transactions, a bootstrap under writes with a `kill -9` in it and
//! another mid-stream, `on_parent_delete = "delete_children"` with a real `ON DELETE CASCADE`,
//! and distributed mode with two apply workers.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

const CONVERGE: Duration = Duration::from_secs(90);

/// A table joined into its parent's HBase rows, as its `[[mapping.tables]]` entry maps it.
#[derive(Clone, Copy, Debug)]
struct Joined {
    table: &'static str,
    /// `row_key`: the join key, the parent's primary key in key order.
    join_key: &'static [&'static str],
    family: &'static str,
    qualifier: &'static str,
    on_parent_delete: &'static str,
}

impl Joined {
    /// Its `[[mapping.tables]]` entry, joining `db.<table>` into HBase table `into`.
    fn entry(&self, db: &str, into: &str) -> String {
        let keys: Vec<String> = self.join_key.iter().map(|k| format!("\"{k}\"")).collect();
        format!(
            "[[mapping.tables]]\nsource = \"{db}.{}\"\ntable = \"{into}\"\nrow_key = [{}]\nfamily = \"{}\"\nqualifier = \"{}\"\non_parent_delete = \"{}\"\n",
            self.table,
            keys.join(", "),
            self.family,
            self.qualifier,
            self.on_parent_delete
        )
    }
}

/// The entries of `children`, all joined into HBase table `into`.
fn entries(db: &str, into: &str, children: &[Joined]) -> String {
    children.iter().map(|j| j.entry(db, into)).collect()
}

const ORDER_CHILDREN: [Joined; 2] = [
    Joined {
        table: "order_items",
        join_key: &["order_id"],
        family: "items",
        qualifier: "{id}:{column}",
        on_parent_delete: "keep",
    },
    Joined {
        table: "payments",
        join_key: &["order_id"],
        family: "pay",
        qualifier: "{id}:{column}",
        on_parent_delete: "keep",
    },
];

const PROFILE: Joined = Joined {
    table: "user_profiles",
    join_key: &["user_id"],
    family: "p",
    qualifier: "{column}",
    on_parent_delete: "keep",
};

const CASCADED_PROFILE: Joined = Joined {
    on_parent_delete: "delete_children",
    ..PROFILE
};

// ---------------------------------------------------------------------------------------------
// The join, computed from MySQL independently of the service.

/// A qualifier template, parsed: literal text, a column's value, or the column's name.
enum Part {
    Literal(Vec<u8>),
    Value(String),
    ColumnName,
}

fn template_parts(template: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        match rest.find('{') {
            Some(0) => {
                let end = rest.find('}').expect("a closed placeholder");
                let name = &rest[1..end];
                parts.push(if name == "column" {
                    Part::ColumnName
                } else {
                    Part::Value(name.to_string())
                });
                rest = &rest[end + 1..];
            }
            Some(i) => {
                parts.push(Part::Literal(rest.as_bytes()[..i].to_vec()));
                rest = &rest[i..];
            }
            None => {
                parts.push(Part::Literal(rest.as_bytes().to_vec()));
                rest = "";
            }
        }
    }
    parts
}

/// The qualifier prefix of a child row: the template up to `{column}`, values with `\` and every
/// byte of the template's literal text escaped by a `\`.
fn member(parts: &[Part], row: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut escaped = vec![b'\\'];
    for p in parts {
        if let Part::Literal(l) = p {
            escaped.extend_from_slice(l);
        }
    }
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Literal(l) => out.extend_from_slice(l),
            Part::Value(column) => {
                for &b in row
                    .get(column)
                    .unwrap_or_else(|| panic!("template column {column} is NULL"))
                {
                    if escaped.contains(&b) {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
            }
            Part::ColumnName => break,
        }
    }
    out
}

/// A row key from its values' text: one value as it is; several with `\` and `|` escaped,
/// joined by `|`.
fn row_key(values: &[&[u8]]) -> Vec<u8> {
    if let [one] = values {
        return one.to_vec();
    }
    let mut key = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            key.push(b'|');
        }
        for &b in *v {
            if b == b'\\' || b == b'|' {
                key.push(b'\\');
            }
            key.push(b);
        }
    }
    key
}

/// The non-NULL columns of every row of `db.table` (text protocol, UTC), by name.
async fn rows_by_name(c: &mut Conn, db: &str, table: &str) -> Vec<BTreeMap<String, Vec<u8>>> {
    let rows: Vec<Row> = c
        .query(format!("SELECT * FROM `{db}`.`{table}`"))
        .await
        .unwrap_or_else(|e| panic!("reading {db}.{table}: {e}"));
    rows.into_iter()
        .map(|row| {
            let names: Vec<String> = row
                .columns_ref()
                .iter()
                .map(|c| c.name_str().into_owned())
                .collect();
            names
                .into_iter()
                .enumerate()
                .filter_map(|(i, name)| match row.as_ref(i) {
                    Some(Value::Bytes(b)) => Some((name, b.clone())),
                    Some(Value::NULL) | None => None,
                    Some(other) => panic!("{table}.{name}: not text: {other:?}"),
                })
                .collect()
        })
        .collect()
}

/// What HBase must hold for `parent` and the tables joined into its rows: the parent's columns
/// as `d:<column>` (as `expected_content` renders them), each child row's non-NULL columns as
/// `<family>:<member><column>` in the row its join key names. Qualifiers with their family.
async fn expected_wide(c: &mut Conn, db: &str, parent: &str, children: &[Joined]) -> Content {
    let mut content = Content::new();
    for (key, cells) in expected_content(c, db, parent).await {
        let cells = cells
            .into_iter()
            .map(|(q, v)| ([b"d:".as_slice(), &q].concat(), v))
            .collect();
        content.insert(key, cells);
    }
    for child in children {
        let parts = template_parts(child.qualifier);
        for row in rows_by_name(c, db, child.table).await {
            let key_values: Vec<&[u8]> = child
                .join_key
                .iter()
                .map(|k| {
                    row.get(*k)
                        .unwrap_or_else(|| panic!("{}.{k} is NULL", child.table))
                        .as_slice()
                })
                .collect();
            let key = row_key(&key_values);
            let prefix = [child.family.as_bytes(), b":", &member(&parts, &row)].concat();
            let cells = content.entry(key).or_default();
            for (column, value) in &row {
                cells.insert(
                    [prefix.as_slice(), column.as_bytes()].concat(),
                    value.clone(),
                );
            }
        }
    }
    content
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Cell by cell, the first differences of rows both sides hold (after [`describe_diff`]'s row
/// summary), and the cells of the first missing and extra rows.
fn wide_diff(expected: &Content, actual: &Content) -> String {
    let mut out = describe_diff(expected, actual);
    let cells = |c: &Cells| -> Vec<String> {
        c.iter()
            .map(|(q, v)| format!("{}={}", text(q), text(v)))
            .collect()
    };
    for (key, want) in expected
        .iter()
        .filter(|(k, _)| !actual.contains_key(*k))
        .take(3)
    {
        out += &format!("\n  missing row {}: {:?}", text(key), cells(want));
    }
    for (key, got) in actual
        .iter()
        .filter(|(k, _)| !expected.contains_key(*k))
        .take(3)
    {
        out += &format!("\n  extra row {}: {:?}", text(key), cells(got));
    }
    let differing = expected
        .iter()
        .filter_map(|(k, want)| Some((k, want, actual.get(k)?)))
        .filter(|(_, want, got)| want != got);
    let mut rows = 0;
    for (key, want, got) in differing {
        rows += 1;
        if rows > 8 {
            continue;
        }
        let mut lines = Vec::new();
        for (q, v) in want {
            match got.get(q) {
                None => lines.push(format!("missing {}={}", text(q), text(v))),
                Some(g) if g != v => {
                    lines.push(format!("{}: mysql {} hbase {}", text(q), text(v), text(g)))
                }
                Some(_) => {}
            }
        }
        for (q, v) in got.iter().filter(|(q, _)| !want.contains_key(*q)) {
            lines.push(format!("extra {}={}", text(q), text(v)));
        }
        out += &format!("\n  row {}: {}", text(key), lines.join("; "));
    }
    out += &format!("\n  {rows} row(s) differ cell by cell");
    out
}

/// Waits until HBase table `<db>_<parent>` holds exactly the join of `parent` and `children`
/// in MySQL, or panics after `within` with the differences; returns the rows compared.
async fn assert_wide_converges(
    c: &mut Conn,
    env: &TestEnv,
    parent: &str,
    children: &[Joined],
    within: Duration,
) -> usize {
    let table = env.hbase_table(parent);
    let deadline = Instant::now() + within;
    loop {
        let expected = expected_wide(c, &env.db, parent, children).await;
        let t = table.clone();
        let actual = tokio::task::spawn_blocking(move || hbase_content_with_families(&t))
            .await
            .unwrap();
        if expected == actual {
            return expected.len();
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = children.iter().map(|j| j.table).collect();
            panic!(
                "HBase {table} differs from the join of {parent} and {names:?} in MySQL after {within:?}: {}",
                wide_diff(&expected, &actual)
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `verify <db>.<table>` of every one of `tables`; all must exit 0 (else: panics with every
/// failing run's output).
fn verify_all(env: &TestEnv, tables: &[&str]) {
    let failures: Vec<String> = tables
        .iter()
        .map(|t| cli(env, &["verify", &format!("{}.{t}", env.db)]))
        .filter(|run| run.code != 0)
        .map(|run| {
            format!(
                "`{}` exited {}\n--- stdout:\n{}\n--- stderr:\n{}",
                run.command, run.code, run.out, run.err
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// Orders, their items and payments.

#[derive(Clone, Copy)]
struct Scale {
    orders: u32,
    items: u32,
    payments: u32,
}

impl Scale {
    /// Order ids the first children reference: 30 % more than there are orders, so some
    /// children have no parent.
    fn item_parents(&self) -> u32 {
        self.orders * 13 / 10
    }

    /// Order ids the workload touches.
    fn order_space(&self) -> u32 {
        self.item_parents() + 100
    }
}

async fn create_order_tables(env: &TestEnv) -> Conn {
    env.sql(&[
        "CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(30) NOT NULL, total DECIMAL(10,2) NOT NULL, note VARCHAR(40) NULL)",
        "CREATE TABLE order_items (id INT PRIMARY KEY, order_id INT NOT NULL, sku VARCHAR(20) NOT NULL, qty INT NOT NULL, note VARCHAR(40) NULL, KEY (order_id))",
        // Payment ids hold the template's `:` and the escape `\`.
        "CREATE TABLE payments (id VARCHAR(30) PRIMARY KEY, order_id INT NOT NULL, amount DECIMAL(10,2) NULL, KEY (order_id))",
    ])
    .await
}

/// The first orders, items and payments (multi-row statements).
async fn fill_orders(c: &mut Conn, s: Scale) {
    let parents = s.item_parents();
    run_sql(
        c,
        &[
            &format!(
                "INSERT INTO orders SELECT seq, CONCAT('c', seq % 97), seq / 4, IF(seq % 3 = 0, NULL, CONCAT('o', seq)) FROM seq_1_to_{}",
                s.orders
            ),
            &format!(
                "INSERT INTO order_items SELECT seq, seq % {parents} + 1, CONCAT('s', seq), seq % 7, IF(seq % 3 = 0, NULL, CONCAT('n', seq)) FROM seq_1_to_{}",
                s.items
            ),
            &format!(
                "INSERT INTO payments SELECT IF(seq % 5 = 0, CONCAT('p\\\\', seq), CONCAT('p:', seq)), seq % {parents} + 1, IF(seq % 4 = 0, NULL, seq / 100) FROM seq_1_to_{}",
                s.payments
            ),
        ],
    )
    .await;
}

fn mix(i: u32, salt: u64) -> u32 {
    let mut z = (u64::from(i) << 8 | salt).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u32
}

/// Step `i` of the orders workload; returns the statements it ran.
async fn order_step(c: &mut Conn, i: u32, s: Scale) -> StepResult {
    let o = mix(i, 1) % s.order_space() + 1;
    let o2 = mix(i, 2) % s.order_space() + 1;
    let it = mix(i, 3) % s.items + 1;
    Ok(match i % 14 {
        0 => {
            // Children before their parent, each in its own transaction.
            let order = 100_000 + i;
            c.exec_drop(
                "INSERT INTO order_items VALUES (?, ?, 'early', 1, NULL)",
                (1_000_000 + i, order),
            )
            .await?;
            c.exec_drop(
                "INSERT INTO payments VALUES (?, ?, 9.99)",
                (format!("early:{i}"), order),
            )
            .await?;
            c.exec_drop(
                "INSERT INTO orders VALUES (?, 'late', 1.00, NULL)",
                (order,),
            )
            .await?;
            3
        }
        1 => {
            // An item moves to another order.
            c.exec_drop("UPDATE order_items SET order_id = ? WHERE id = ?", (o, it))
                .await?;
            1
        }
        2 => {
            c.exec_drop("DELETE FROM order_items WHERE id = ?", (it,))
                .await?;
            1
        }
        3 => {
            c.exec_drop("DELETE FROM payments WHERE order_id = ?", (o,))
                .await?;
            1
        }
        4 => {
            // A parent deleted: its children stay.
            c.exec_drop("DELETE FROM orders WHERE id = ?", (o,)).await?;
            1
        }
        5 => {
            c.exec_drop(
                "REPLACE INTO orders VALUES (?, ?, ?, NULL)",
                (o, format!("again{i}"), i % 1000),
            )
            .await?;
            1
        }
        6 => {
            // NULLs set.
            c.exec_drop("UPDATE orders SET note = NULL WHERE id = ?", (o,))
                .await?;
            c.exec_drop("UPDATE order_items SET note = NULL WHERE id = ?", (it,))
                .await?;
            c.exec_drop(
                "UPDATE payments SET amount = NULL WHERE order_id = ?",
                (o2,),
            )
            .await?;
            3
        }
        7 => {
            // NULLs cleared, several rows at once.
            c.exec_drop(
                "UPDATE orders SET note = ? WHERE id = ?",
                (format!("set{i}"), o),
            )
            .await?;
            c.exec_drop(
                "UPDATE order_items SET note = ? WHERE order_id = ?",
                (format!("n{i}"), o2),
            )
            .await?;
            c.exec_drop(
                "UPDATE payments SET amount = ? WHERE order_id = ?",
                (i % 700, o2),
            )
            .await?;
            3
        }
        8 => {
            // A multi-row transaction over the three tables, children first.
            let order = 200_000 + i;
            let (a, b) = (2_000_000 + 2 * i, 2_000_001 + 2 * i);
            c.query_drop(format!(
                "BEGIN; \
                 INSERT INTO order_items VALUES ({a}, {order}, 'tx', 2, NULL), ({b}, {o}, 'tx', 3, 'n'); \
                 INSERT INTO orders VALUES ({order}, 'tx', 5.50, 'in tx'); \
                 INSERT INTO payments VALUES ('tx:{i}', {order}, 5.50); \
                 UPDATE orders SET total = total + 1 WHERE id IN ({o}, {o2}); \
                 DELETE FROM order_items WHERE id = {it}; \
                 UPDATE order_items SET order_id = {o2} WHERE order_id = {o}; \
                 COMMIT"
            ))
            .await?;
            7
        }
        9 => {
            // A parent deleted and re-created in one transaction.
            c.query_drop(format!(
                "BEGIN; DELETE FROM orders WHERE id = {o}; \
                 INSERT INTO orders VALUES ({o}, 'reborn{i}', 2.00, NULL); COMMIT"
            ))
            .await?;
            2
        }
        10 => {
            c.exec_drop(
                "UPDATE order_items SET qty = qty + 1 WHERE order_id = ?",
                (o,),
            )
            .await?;
            1
        }
        11 => {
            // A child's own key changes (its cells move within the row), and payments move.
            c.exec_drop(
                "UPDATE IGNORE order_items SET id = ? WHERE id = ?",
                (3_000_000 + i, it),
            )
            .await?;
            c.exec_drop(
                "UPDATE payments SET order_id = ? WHERE order_id = ?",
                (o2, o),
            )
            .await?;
            2
        }
        12 => {
            // A payment id with `\` and `:`, and an item whose order never exists.
            c.exec_drop(
                "INSERT INTO payments VALUES (?, ?, ?)",
                (format!("q\\:{i}"), o, i % 500),
            )
            .await?;
            c.exec_drop(
                "INSERT INTO order_items VALUES (?, ?, 'orphan', 1, 'no parent')",
                (4_000_000 + i, 900_000 + i % 50),
            )
            .await?;
            2
        }
        _ => {
            // An item deleted and inserted again under another order in one transaction.
            c.query_drop(format!(
                "BEGIN; DELETE FROM order_items WHERE id = {it}; \
                 INSERT INTO order_items VALUES ({it}, {o}, 'back', 4, NULL); COMMIT"
            ))
            .await?;
            2
        }
    })
}

fn orders_workload(env: &TestEnv, s: Scale) -> Workload {
    Workload::start(&env.db, move |c, i| Box::pin(order_step(c, i, s)))
}

/// Waits until the writer has made `n` more changes than `from`.
async fn wait_changes(workload: &Workload, from: u32, n: u32, what: &str) {
    wait_for(what, Duration::from_secs(60), || {
        let done = workload.changes();
        async move { done >= from + n }
    })
    .await;
}

/// Waits until every bootstrap job is complete, killing the daemon (`kill -9`) and starting it
/// again once the `table` job has written `kill_at` chunks; returns the changes the writer made
/// while the `table` job was seen running with a chunk written. Panics when a job fails, the
/// daemon exits, the job was never seen running or ended before the kill (make it slower), or
/// after 120 s.
async fn bootstrap_under_writes(
    env: &TestEnv,
    daemon: &mut Daemon,
    workload: &Workload,
    table: &str,
    kill_at: u64,
) -> u32 {
    let started = Instant::now();
    let mut seen_running: Option<u32> = None;
    let mut done_at: Option<u32> = None;
    let mut killed = false;
    loop {
        let jobs = bootstrap_jobs(env).await;
        for (t, status, _) in &jobs {
            assert_ne!(
                status,
                "failed",
                "bootstrap of {t} failed: {}",
                daemon.log_text()
            );
        }
        if let Some((_, status, chunks)) = jobs.iter().find(|(t, _, _)| t == table) {
            if status == "running" && *chunks >= 1 && seen_running.is_none() {
                seen_running = Some(workload.changes());
            }
            if status == "running" && *chunks >= kill_at && !killed {
                daemon.kill9();
                *daemon = env.start();
                killed = true;
            }
            if status == "complete" && done_at.is_none() {
                assert!(
                    seen_running.is_some() && killed,
                    "the bootstrap of {table} ended before it was seen running with {kill_at} chunks written; make it slower"
                );
                done_at = Some(workload.changes());
            }
        }
        if !jobs.is_empty() && jobs.iter().all(|(_, s, _)| s == "complete") {
            if let (Some(from), Some(to)) = (seen_running, done_at) {
                return to - from;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "bootstraps not complete after 120 s ({jobs:?}): {}",
            daemon.log_text()
        );
        assert!(daemon.is_running(), "daemon exited: {}", daemon.log_text());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn joined_tables_equal_the_join_whatever_the_order() {
    const BIG: Scale = Scale {
        orders: 2000,
        items: 50_000,
        payments: 3000,
    };
    let started = Instant::now();
    let name = "wide_orders";
    let db = format!("{name}_{}", std::process::id());
    let orders = format!("{db}_orders");
    let env = TestEnv::new(name, &entries(&db, &orders, &ORDER_CHILDREN))
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "1000")
        .set("MYSQL2HBASE__SNAPSHOT__PARALLELISM", "1");
    let mut c = create_order_tables(&env).await;
    fill_orders(&mut c, BIG).await;
    env.drop_hbase_table("orders");

    // The writer runs from before the start: the 50,000 items are bootstrapped under it, with a
    // kill -9 after the 10th of their 50 chunks.
    let workload = orders_workload(&env, BIG);
    let mut daemon = env.start();
    let during = bootstrap_under_writes(&env, &mut daemon, &workload, "order_items", 10).await;
    assert!(
        during >= 50,
        "the writer made only {during} changes during the items' bootstrap"
    );

    // kill -9 mid-stream, changes while the daemon is down, a restart.
    let at = workload.changes();
    wait_changes(
        &workload,
        at,
        800,
        "800 changes streamed after the bootstraps",
    )
    .await;
    daemon.kill9();
    let at = workload.changes();
    wait_changes(&workload, at, 300, "300 changes while the daemon is down").await;
    let mut daemon = env.start();
    let at = workload.changes();
    wait_changes(&workload, at, 800, "800 changes after the restart").await;
    let changes = workload.stop().await;

    let rows = assert_wide_converges(&mut c, &env, "orders", &ORDER_CHILDREN, CONVERGE).await;
    assert!(daemon.is_running(), "{}", daemon.log_text());
    assert_eq!(hbase_families(&orders), ["d", "items", "pay"]);
    verify_all(&env, &["orders", "order_items", "payments"]);
    daemon.stop();
    println!(
        "wide rows: {changes} changes (items bootstrap of {} rows under {during} of them, a kill -9 in it and one mid-stream), {rows} HBase rows equal to the join, in {:?}",
        BIG.items,
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Users and their profiles, 1:1.

async fn create_user_tables(env: &TestEnv, cascade: bool) -> Conn {
    let fk = if cascade {
        ", FOREIGN KEY (user_id) REFERENCES users (user_id) ON DELETE CASCADE"
    } else {
        ""
    };
    env.sql(&[
        "CREATE TABLE users (user_id INT PRIMARY KEY, name VARCHAR(30) NOT NULL, email VARCHAR(40) NULL)",
        &format!("CREATE TABLE user_profiles (user_id INT PRIMARY KEY, bio VARCHAR(40) NULL, age INT NULL{fk})"),
    ])
    .await
}

/// The qualifiers (with family) of HBase row `key`, as text.
fn qualifiers_of(content: &Content, key: &str) -> Vec<String> {
    content
        .get(key.as_bytes())
        .map(|cells| cells.keys().map(|q| text(q)).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_to_one_join_with_nulls_and_deletes_on_both_sides() {
    // on_parent_delete = "keep": the HBase row holds what MySQL holds.
    let name = "wide_users";
    let db = format!("{name}_{}", std::process::id());
    let users = format!("{db}_users");
    let env = TestEnv::new(name, &PROFILE.entry(&db, &users)).await;
    let mut c = create_user_tables(&env, false).await;
    env.drop_hbase_table("users");
    let mut daemon = env.start_streaming().await;

    // A profile before its user: the table's first change is a child's, and the table is
    // created with the parent's family too.
    run_sql(
        &mut c,
        &["INSERT INTO user_profiles VALUES (1, 'early bird', NULL)"],
    )
    .await;
    assert_wide_converges(&mut c, &env, "users", &[PROFILE], CONVERGE).await;
    assert_eq!(hbase_families(&users), ["d", "p"]);
    assert_eq!(
        qualifiers_of(&hbase_content_with_families(&users), "1"),
        ["p:bio", "p:user_id"]
    );

    run_sql(
        &mut c,
        &[
            "INSERT INTO users VALUES (1, 'ann', NULL), (2, 'bob', 'bob@x'), (3, 'cy', 'cy@x'), (5, 'eve', NULL)",
            "INSERT INTO user_profiles VALUES (2, NULL, 40), (3, 'cy bio', NULL), (98, 'no such user', 7), (99, 'moves', 9)",
            // NULLs set and cleared on both sides.
            "UPDATE users SET email = 'ann@x' WHERE user_id = 1",
            "UPDATE users SET email = NULL WHERE user_id = 2",
            "UPDATE user_profiles SET age = 30, bio = NULL WHERE user_id = 1",
            "UPDATE user_profiles SET bio = 'bob bio', age = NULL WHERE user_id = 2",
            // Deletes on both sides: user 2 loses its profile, user 3 goes and its profile stays.
            "DELETE FROM user_profiles WHERE user_id = 2",
            "DELETE FROM users WHERE user_id = 3",
            // A profile whose join key changes moves to the other row.
            "UPDATE user_profiles SET user_id = 5 WHERE user_id = 99",
            // A user deleted and re-created in one transaction, its profile changed in between.
            "BEGIN",
            "DELETE FROM users WHERE user_id = 1",
            "UPDATE user_profiles SET age = 31 WHERE user_id = 1",
            "INSERT INTO users VALUES (1, 'ann again', NULL)",
            "COMMIT",
        ],
    )
    .await;
    let rows = assert_wide_converges(&mut c, &env, "users", &[PROFILE], CONVERGE).await;
    assert_eq!(rows, 5, "rows 1, 2, 3, 5 and 98");
    let content = hbase_content_with_families(&users);
    assert_eq!(
        qualifiers_of(&content, "1"),
        ["d:name", "d:user_id", "p:age", "p:user_id"]
    );
    assert_eq!(qualifiers_of(&content, "2"), ["d:name", "d:user_id"]);
    assert_eq!(qualifiers_of(&content, "3"), ["p:bio", "p:user_id"]);
    assert_eq!(
        qualifiers_of(&content, "98"),
        ["p:age", "p:bio", "p:user_id"]
    );
    assert!(!content.contains_key(b"99".as_slice()));
    verify_all(&env, &["users", "user_profiles"]);
    daemon.stop();

    // on_parent_delete = "delete_children" with the foreign key's ON DELETE CASCADE, whose
    // cascaded deletes the binlog does not carry: the profile's cells go with the user, and a
    // profile written after the delete stays.
    let name = "wide_cascade";
    let db = format!("{name}_{}", std::process::id());
    let users = format!("{db}_users");
    let env = TestEnv::new(name, &CASCADED_PROFILE.entry(&db, &users)).await;
    let mut c = create_user_tables(&env, true).await;
    env.drop_hbase_table("users");
    let mut daemon = env.start_streaming().await;
    let cascaded = [CASCADED_PROFILE];
    run_sql(
        &mut c,
        &[
            "INSERT INTO users VALUES (1, 'ann', 'ann@x'), (2, 'bob', NULL), (3, 'cy', NULL), (4, 'dee', 'dee@x')",
            "INSERT INTO user_profiles VALUES (1, 'ann bio', 20), (2, NULL, 30), (3, 'cy bio', NULL), (4, 'dee bio', 40)",
        ],
    )
    .await;
    assert_wide_converges(&mut c, &env, "users", &cascaded, CONVERGE).await;

    run_sql(&mut c, &["DELETE FROM users WHERE user_id = 1"]).await;
    let (profiles,): (u32,) = c
        .query_first("SELECT COUNT(*) FROM user_profiles WHERE user_id = 1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profiles, 0, "the foreign key cascaded");
    assert_wide_converges(&mut c, &env, "users", &cascaded, CONVERGE).await;
    assert!(!hbase_content_with_families(&users).contains_key(b"1".as_slice()));

    run_sql(
        &mut c,
        &[
            // Written after the delete, in their own transactions: they stay.
            "INSERT INTO users VALUES (1, 'ann back', NULL)",
            "INSERT INTO user_profiles VALUES (1, 'after', NULL)",
            // The same in one transaction with the delete.
            "BEGIN",
            "DELETE FROM users WHERE user_id = 2",
            "INSERT INTO users VALUES (2, 'bob again', 'bob@y')",
            "INSERT INTO user_profiles VALUES (2, 'reborn', 31)",
            "COMMIT",
            // A profile changed, then its user deleted: both go.
            "UPDATE user_profiles SET age = 41 WHERE user_id = 4",
            "DELETE FROM users WHERE user_id = 4",
            // A delete and re-inserts right after one another (same second).
            "DELETE FROM users WHERE user_id = 3",
            "INSERT INTO users VALUES (3, 'cy again', NULL)",
            "INSERT INTO user_profiles VALUES (3, NULL, 33)",
        ],
    )
    .await;
    let rows = assert_wide_converges(&mut c, &env, "users", &cascaded, CONVERGE).await;
    assert_eq!(rows, 3, "rows 1, 2 and 3");
    let content = hbase_content_with_families(&users);
    assert_eq!(
        content[b"1".as_slice()]
            .get(b"p:bio".as_slice())
            .map(|v| text(v)),
        Some("after".to_string())
    );
    assert_eq!(
        content[b"2".as_slice()]
            .get(b"p:bio".as_slice())
            .map(|v| text(v)),
        Some("reborn".to_string())
    );
    verify_all(&env, &["users", "user_profiles"]);
    daemon.stop();
}

// ---------------------------------------------------------------------------------------------
// Distributed mode.

/// Only this test of the file uses Kafka; kept serial like tests/distributed.rs's.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A config with the distributed topic and consumer group of this test run only, and `extra`.
async fn distributed_env(name: &str, extra: &str) -> TestEnv {
    let env = TestEnv::new(
        name,
        &format!("[kafka]\nbrokers = \"{KAFKA}\"\ninternal_partitions = 6\n{extra}"),
    )
    .await;
    let topic = format!("m2h.{}.changes", env.db);
    let group = format!("apply-{}", env.db);
    env.set("MYSQL2HBASE__KAFKA__INTERNAL_TOPIC", &topic)
        .set("MYSQL2HBASE__KAFKA__APPLY_GROUP", &group)
}

/// An apply worker whose admin API listens on `port`, logging to `<name>.log`.
fn apply_worker(env: &TestEnv, name: &str, port: u16) -> Daemon {
    let listen = format!("127.0.0.1:{port}");
    env.start_role("apply", name, &[("MYSQL2HBASE__ADMIN__LISTEN", &listen)])
}

#[tokio::test(flavor = "multi_thread")]
async fn distributed_apply_keeps_joined_rows_exact() {
    const SMALL: Scale = Scale {
        orders: 300,
        items: 3000,
        payments: 400,
    };
    let _serial = SERIAL.lock().await;
    let name = "wide_dist";
    let db = format!("{name}_{}", std::process::id());
    let orders = format!("{db}_orders");
    let env = distributed_env(name, &entries(&db, &orders, &ORDER_CHILDREN)).await;
    let mut c = create_order_tables(&env).await;
    env.drop_hbase_table("orders");

    let mut capture = env.start_role("capture", "capture", &[]);
    let (port1, port2) = (free_port(), free_port());
    let mut worker1 = apply_worker(&env, "apply-1", port1);
    let mut worker2 = apply_worker(&env, "apply-2", port2);
    wait_streaming(&env, &mut capture).await;

    // The first change is a child's: the table is created with every family.
    run_sql(
        &mut c,
        &["INSERT INTO order_items VALUES (999999, 1, 'first', 1, NULL)"],
    )
    .await;
    assert_wide_converges(&mut c, &env, "orders", &ORDER_CHILDREN, CONVERGE).await;
    assert_eq!(hbase_families(&orders), ["d", "items", "pay"]);

    // The first rows streamed (multi-row statements), then the workload until both workers
    // have written changes and at least 1,500 were made.
    fill_orders(&mut c, SMALL).await;
    let workload = orders_workload(&env, SMALL);
    let both_by = Instant::now() + Duration::from_secs(60);
    loop {
        let written = [applied_changes(port1).await, applied_changes(port2).await];
        if written.iter().all(|&n| n > 0) && workload.changes() >= 1500 {
            break;
        }
        assert!(
            Instant::now() < both_by,
            "after 60 s and {} changes the apply workers have written {written:?}\n--- apply-1:\n{}\n--- apply-2:\n{}",
            workload.changes(),
            worker1.log_text(),
            worker2.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let changes = workload.stop().await;
    let rows = assert_wide_converges(&mut c, &env, "orders", &ORDER_CHILDREN, CONVERGE).await;
    for (name, d) in [
        ("capture", &mut capture),
        ("apply-1", &mut worker1),
        ("apply-2", &mut worker2),
    ] {
        assert!(d.is_running(), "{name} exited: {}", d.log_text());
    }
    println!("wide rows, distributed: {changes} changes, {rows} HBase rows equal to the join");
    worker1.stop();
    worker2.stop();
    capture.stop();
}

// ---------------------------------------------------------------------------------------------
// delete_children while the children are bootstrapped.

/// Users deleted (their profiles cascaded by the foreign key, which the binlog does not carry)
/// while the profiles are bootstrapped from a snapshot taken before: the chunks read before a
/// delete must not bring the deleted profiles' cells back after the family delete.
#[tokio::test(flavor = "multi_thread")]
async fn cascaded_children_do_not_come_back_with_their_bootstrap() {
    const USERS: u32 = 20_000;
    let name = "wide_cascade_boot";
    let db = format!("{name}_{}", std::process::id());
    let users = format!("{db}_users");
    let env = TestEnv::new(name, &CASCADED_PROFILE.entry(&db, &users))
        .await
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
        .set("MYSQL2HBASE__SNAPSHOT__CHUNK_ROWS", "500")
        .set("MYSQL2HBASE__SNAPSHOT__PARALLELISM", "1");
    let mut c = create_user_tables(&env, true).await;
    run_sql(
        &mut c,
        &[
            &format!("INSERT INTO users SELECT seq, CONCAT('u', seq), NULL FROM seq_1_to_{USERS}"),
            &format!("INSERT INTO user_profiles SELECT seq, CONCAT('bio', seq), seq % 90 FROM seq_1_to_{USERS}"),
        ],
    )
    .await;
    env.drop_hbase_table("users");
    // Users deleted (their profiles with them, by the foreign key), re-created without a
    // profile, and given a new one, all through the profiles' bootstrap.
    let workload = Workload::start(&env.db, |c, i| {
        Box::pin(async move {
            let u = mix(i / 3, 7) % USERS + 1;
            match i % 3 {
                0 => c.exec_drop("DELETE FROM users WHERE user_id = ?", (u,)).await?,
                1 => {
                    c.exec_drop("INSERT IGNORE INTO users VALUES (?, 'back', NULL)", (u,))
                        .await?
                }
                _ if i % 2 == 0 => {
                    c.exec_drop(
                        "INSERT INTO user_profiles SELECT user_id, 'again', ? FROM users WHERE user_id = ? \
                         ON DUPLICATE KEY UPDATE age = VALUES(age)",
                        (i, u),
                    )
                    .await?
                }
                _ => {}
            }
            Ok(1)
        })
    });
    let mut daemon = env.start();
    let during = bootstrap_under_writes(&env, &mut daemon, &workload, "user_profiles", 5).await;
    assert!(
        during >= 50,
        "the writer made only {during} changes during the profiles' bootstrap"
    );
    let changes = workload.stop().await;
    println!("cascade bootstrap: {changes} changes, {during} during the profiles' bootstrap");
    assert_wide_converges(&mut c, &env, "users", &[CASCADED_PROFILE], CONVERGE).await;
    daemon.stop();
}
