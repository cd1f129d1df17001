//! A compressed binlog against the real MariaDB and HBase: with `log_bin_compress = ON` the
//! server writes its query and rows events compressed (Query_compressed,
//! Write/Update/Delete_rows_compressed_v1), and the daemon must apply every one of them: a mixed
//! workload, a DDL whose only trace is a compressed query, 1 MiB rows and a restart in the middle
//! end with HBase equal to MySQL. The binlog itself is read back to prove the events were
//! compressed, and the daemon's log that it received them so.
//!
//! `log_bin_compress` is global: the one test sets it and puts it back as it was, also when it
//! fails (scripts/test.sh runs test binaries one after another).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use common::*;
use futures_util::FutureExt;
use mysql2hbase::model::BinlogPosition;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

const CONVERGE: Duration = Duration::from_secs(120);
/// The daemon's log line when a stream meets its first compressed event.
const DECODING: &str = "the binlog holds compressed events (MariaDB log_bin_compress)";

/// Runs `scenario` with MariaDB compressing every event of 10 bytes or more
/// (`log_bin_compress_min_len`'s least), then puts both settings back as they were, also when
/// `scenario` panics (the panic is raised again afterwards).
async fn with_compression(scenario: impl Future<Output = ()>) {
    let mut admin = mysql().await;
    let (compress, min_len): (String, String) = admin
        .query_first("SELECT @@GLOBAL.log_bin_compress, @@GLOBAL.log_bin_compress_min_len")
        .await
        .unwrap()
        .expect("MariaDB has log_bin_compress");
    run_sql(
        &mut admin,
        &[
            "SET GLOBAL log_bin_compress_min_len = 10",
            "SET GLOBAL log_bin_compress = ON",
        ],
    )
    .await;
    let result = std::panic::AssertUnwindSafe(scenario).catch_unwind().await;
    run_sql(
        &mut admin,
        &[
            &format!("SET GLOBAL log_bin_compress = {compress}"),
            &format!("SET GLOBAL log_bin_compress_min_len = {min_len}"),
        ],
    )
    .await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The rows and query events the binlog holds from `from` on (following files too): for each
/// event type, the tables (`db.table`, from the TABLE_MAP before a rows event) or statements
/// (query events), and the largest event of each (type, table).
struct BinlogEvents {
    tables: BTreeMap<String, BTreeSet<String>>,
    queries: BTreeMap<String, Vec<String>>,
    largest: BTreeMap<(String, String), u64>,
}

async fn binlog_events(c: &mut Conn, from: &BinlogPosition) -> BinlogEvents {
    let files: Vec<Row> = c.query("SHOW BINARY LOGS").await.unwrap();
    let files: Vec<String> = files
        .into_iter()
        .map(|r| r.get::<String, _>(0).unwrap())
        .filter(|f| f.as_str() >= from.file())
        .collect();
    let mut events = BinlogEvents {
        tables: BTreeMap::new(),
        queries: BTreeMap::new(),
        largest: BTreeMap::new(),
    };
    let mut table = String::new();
    for file in files {
        let start = if file == from.file() {
            from.offset()
        } else {
            4
        };
        let rows: Vec<Row> = c
            .query(format!("SHOW BINLOG EVENTS IN '{file}' FROM {start}"))
            .await
            .unwrap();
        for row in rows {
            let kind: String = row.get("Event_type").unwrap();
            let info: String = row.get("Info").unwrap();
            let (pos, end): (u64, u64) = (row.get("Pos").unwrap(), row.get("End_log_pos").unwrap());
            if kind == "Table_map" {
                // "table_id: 23310 (db.t)"
                let name = info.rsplit_once('(').map_or("", |(_, t)| t);
                table = name.trim_end_matches(')').to_string();
            } else if kind.contains("_rows") {
                events
                    .tables
                    .entry(kind.clone())
                    .or_default()
                    .insert(table.clone());
                let largest = events.largest.entry((kind, table.clone())).or_default();
                *largest = (*largest).max(end - pos);
            } else if kind.starts_with("Query") {
                events.queries.entry(kind).or_default().push(info);
            }
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread")]
async fn a_compressed_binlog_streams_into_hbase_exactly() {
    let env = TestEnv::new("compressed", "")
        .await
        // The DDL's resync reads the table without a global read lock.
        .set("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "none");
    let mut c = mysql().await;
    let packet: u64 = c
        .query_first("SELECT @@GLOBAL.max_allowed_packet")
        .await
        .unwrap()
        .unwrap();
    assert!(
        packet >= 4 << 20,
        "max_allowed_packet = {packet}: the 1 MiB rows need 4 MiB (SET GLOBAL max_allowed_packet = 67108864)"
    );
    let start = current_position().await;
    with_compression(compressed_workload(&env)).await;

    // What the server wrote: compressed events of every kind, for the test's own tables.
    let events = binlog_events(&mut c, &start).await;
    let db = &env.db;
    for (kind, table) in [
        ("Write_rows_compressed_v1", "items"),
        ("Update_rows_compressed_v1", "items"),
        ("Delete_rows_compressed_v1", "items"),
        ("Write_rows_compressed_v1", "docs"),
        ("Update_rows_compressed_v1", "docs"),
        ("Write_rows_compressed_v1", "t"),
        ("Update_rows_compressed_v1", "t"),
    ] {
        let tables = events.tables.get(kind).cloned().unwrap_or_default();
        assert!(
            tables.contains(&format!("{db}.{table}")),
            "no {kind} event of {db}.{table} in the binlog: {:?}",
            events.tables
        );
    }
    // The 1 MiB row of hashes compresses to about half: one event of over 400 kB.
    let largest = events.largest[&("Write_rows_compressed_v1".to_string(), format!("{db}.docs"))];
    assert!(
        largest > 400_000,
        "largest compressed docs insert: {largest} bytes"
    );
    let compressed_ddl = events
        .queries
        .get("Query_compressed")
        .cloned()
        .unwrap_or_default();
    assert!(
        compressed_ddl
            .iter()
            .any(|q| q.contains("ALTER TABLE items ADD COLUMN extra")),
        "the ALTER is no Query_compressed event: {:?}",
        events.queries
    );

    // check reports the setting either way: it is back to OFF (or what it was) now.
    let setting: String = c
        .query_first("SELECT IF(@@GLOBAL.log_bin_compress, 'ON', 'OFF')")
        .await
        .unwrap()
        .unwrap();
    cli(&env, &["check"]).says(&[
        "[PASS] log_bin_compress",
        &format!("log_bin_compress = {setting}"),
    ]);
}

/// Everything that runs while the server compresses: the daemon streams a mixed workload, a
/// DDL, 1 MiB rows, and restarts in the middle; HBase must equal MySQL after each part.
async fn compressed_workload(env: &TestEnv) {
    cli(env, &["check"]).says(&[
        "[PASS] log_bin_compress",
        "log_bin_compress = ON: compressed events are decoded",
    ]);
    // Empty: rows written before the daemon starts are never streamed (snapshot.mode = never).
    let mut c = create_mixed_table(env, 0).await;
    run_sql(
        &mut c,
        &[
            "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(100), qty INT, note TEXT NULL)",
            "CREATE TABLE docs (id INT PRIMARY KEY, body LONGTEXT)",
            "SET SESSION group_concat_max_len = 4194304",
        ],
    )
    .await;
    let mut daemon = env.start_streaming().await;

    // A writer replacing, updating, deleting and re-inserting rows of `t` meanwhile.
    let workload = Workload::start_n(&env.db, 600, |c, i| {
        Box::pin(async move {
            mixed_change(c, i, i % 60 + 1).await;
            Ok(1)
        })
    });
    run_sql(&mut c, &[
        "INSERT INTO items SELECT seq, CONCAT('item number ', seq, ' of the compressed test'), seq, IF(seq % 4 = 0, NULL, REPEAT('note ', seq)) FROM seq_1_to_40",
        "UPDATE items SET qty = qty * 10 WHERE id % 3 = 0",
        "UPDATE items SET note = NULL WHERE id = 1",
        "DELETE FROM items WHERE id % 7 = 0",
        // A key change: the old row goes, the new one comes.
        "UPDATE items SET id = 1005 WHERE id = 5",
        // A multi-row transaction of every kind of change.
        "BEGIN",
        "INSERT INTO items VALUES (100, 'in a transaction', 1, 'first'), (101, 'in a transaction', 2, NULL)",
        "UPDATE items SET name = 'changed in the transaction' WHERE id IN (1, 2, 100)",
        "DELETE FROM items WHERE id = 3",
        "INSERT INTO items VALUES (3, 'deleted and inserted again', 3, 'again')",
        "COMMIT",
        // 1 MiB rows: one that compresses well, one of hashes that hardly does.
        "INSERT INTO docs VALUES (1, REPEAT('compressible text ', 58255))",
        "INSERT INTO docs SELECT 2, GROUP_CONCAT(SHA2(seq, 256) SEPARATOR '') FROM seq_1_to_16384",
    ])
    .await;
    let len: u64 = c
        .query_first("SELECT LENGTH(body) FROM docs WHERE id = 2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(len, 1 << 20);
    workload.finish().await;
    for table in ["items", "docs", "t"] {
        env.assert_converges(&mut c, table, CONVERGE).await;
    }

    // Stopped and started again between compressed events: the checkpoint is a compressed
    // event's end, which the restart must find as an event boundary.
    daemon.stop();
    let first_life = daemon.log_text().matches(DECODING).count();
    assert!(first_life >= 1, "{}", daemon.log_text());
    run_sql(&mut c, &[
        "UPDATE docs SET body = (SELECT GROUP_CONCAT(SHA2(seq + 1, 256) SEPARATOR '') FROM seq_1_to_16384) WHERE id = 2",
        "UPDATE items SET qty = qty + 1 WHERE id < 50",
        "DELETE FROM items WHERE id = 101",
    ])
    .await;
    let mut daemon = env.start_streaming().await;
    // A DDL whose only trace is a compressed query: the rows get their new column only through
    // the resync it starts.
    run_sql(
        &mut c,
        &[
            "ALTER TABLE items ADD COLUMN extra VARCHAR(40) NOT NULL DEFAULT 'added by the compressed ALTER'",
            "INSERT INTO items (id, name, qty) VALUES (200, 'after the ALTER', 1)",
        ],
    )
    .await;
    for table in ["items", "docs", "t"] {
        env.assert_converges(&mut c, table, CONVERGE).await;
    }
    let items = hbase_content(&env.hbase_table("items"));
    assert!(
        items
            .values()
            .all(|cells| cells.contains_key(b"extra".as_slice())),
        "rows without the ALTER's column"
    );
    daemon.stop();
    // The log file is the same for both lives: the second stream met compressed events too.
    let log = daemon.log_text();
    assert!(log.matches(DECODING).count() > first_life, "{log}");
}
