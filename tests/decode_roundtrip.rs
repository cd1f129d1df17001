//! Round trip against the real MariaDB (`scripts/services.sh up mariadb`): rows with one column
//! of every type and edge values are written, read back from the binlog, decoded with
//! `table_schema` + `decode_row`, and every `to_text()` is compared byte for byte with what
//! `SELECT col` returns over the text protocol (session `time_zone='+00:00'`, `NAMES utf8mb4`);
//! FLOAT/DOUBLE are compared as numbers. An UPDATE checks the before and after images.
//!
//! Fails (never skips) when the server is not there.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, OptsBuilder, Row, Value};
use mysql_common::binlog::events::{EventData, RowsEventData, TableMapEvent};
use mysql_common::binlog::row::BinlogRow;
use mysql_common::constants::ColumnType;

use mysql2hbase::model::{SqlValue, TableSchema};
use mysql2hbase::source::decode;

const URL: &str = "mysql://root@127.0.0.1:3306";

async fn connect() -> Conn {
    let opts = mysql_async::Opts::from_url(URL).unwrap();
    let opts = OptsBuilder::from_opts(opts).init(vec![
        "SET time_zone = '+00:00'".to_string(),
        "SET NAMES utf8mb4".to_string(),
        "SET sql_mode = ''".to_string(),
    ]);
    match tokio::time::timeout(Duration::from_secs(15), Conn::new(opts)).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => panic!("MariaDB not reachable at 127.0.0.1:3306: start it with scripts/services.sh up mariadb ({e})"),
        Err(_) => panic!("MariaDB not reachable at 127.0.0.1:3306: start it with scripts/services.sh up mariadb (connect timed out)"),
    }
}

const TABLE: &str = "CREATE TABLE t (
    id INT NOT NULL PRIMARY KEY,
    g GEOMETRY NULL,
    ti TINYINT, tiu TINYINT UNSIGNED,
    si SMALLINT, siu SMALLINT UNSIGNED,
    mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
    i INT, iu INT UNSIGNED,
    bi BIGINT, biu BIGINT UNSIGNED,
    f FLOAT, d DOUBLE,
    dec1 DECIMAL(10,2), dec2 DECIMAL(30,10), dec3 DECIMAL(5,0) UNSIGNED,
    b1 BIT(1), b64 BIT(64), b10 BIT(10),
    dt DATE, dtm DATETIME, dtm6 DATETIME(6),
    ts TIMESTAMP NULL DEFAULT NULL, ts3 TIMESTAMP(3) NULL DEFAULT NULL,
    tm TIME, tm2 TIME(2),
    y YEAR,
    c10 CHAR(10) CHARSET utf8mb4,
    vl VARCHAR(20) CHARSET latin1,
    tl TEXT CHARSET latin1,
    tx TEXT CHARSET utf8mb4,
    u2 VARCHAR(10) CHARSET ucs2,
    a3 CHAR(5) CHARSET ascii,
    bin4 BINARY(4),
    vb VARBINARY(10),
    bl BLOB,
    lt LONGTEXT CHARSET utf8mb4,
    e ENUM('x','y','é') CHARSET latin1,
    s SET('a','b','c'),
    j JSON
)";

/// Row 1: minimums, zero dates, empty strings; row 2: maximums and ordinary values; row 3
/// ([`NULL_ROW`]): NULLs.
const ROWS: &str = "INSERT INTO t VALUES
 (1, ST_GeomFromText('POINT(1 2)'),
  -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615,
  3.14, 1.7976931348623157e308,
  -0.50, 12345678901234567890.1234567890, 99999,
  b'1', b'1000000000000000000000000000000000000000000000000000000000000001', b'1111111111',
  '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000',
  '0000-00-00 00:00:00', '2023-11-14 22:13:20.123',
  '-838:59:59', '838:59:59.00',
  0,
  '😀é', 'é', '€ÿ', '', 'é€', 'abc',
  'ab', x'00ff', x'', '',
  '', '',
  '{\"a\": 1, \"b\": [1, 2]}'),
 (2, NULL,
  127, 0, 32767, 0, 8388607, 0, 2147483647, 0,
  9223372036854775807, 0,
  -1.5, 0.1,
  0.00, -1.0000000000, 0,
  b'0', b'0', b'0000000001',
  '2024-02-29', '9999-12-31 23:59:59', '2020-01-02 03:04:05.000006',
  '2038-01-19 03:14:07', '1970-01-01 00:00:01.000',
  '00:00:00', '-838:59:59.00',
  2155,
  'abc', 'naïve', 'x', 'hello\\nworld\\t\"q\"', '', 'z',
  'abcd', '', x'0102', 'long 😀 text',
  'é', 'a,c',
  '[1, \"x\", null, true, {\"k\": 1.5}]')";

const NULL_ROW: &str = "INSERT INTO t (id) VALUES (3)";

const UPDATE: &str = "UPDATE t SET biu = 18446744073709551614, vl = 'ÿ€', s = 'b', e = 'x',
  tm = '-00:00:01', ts3 = '2000-02-29 12:00:00.5', y = 1901, dec1 = -12345678.99,
  j = JSON_OBJECT('z', 'é'), bin4 = 'a', b64 = b'0', d = -2.5e-300, f = 1e10
  WHERE id = 2";

/// Negative TIME(1)/TIME(2) with a fraction: mysql_common mis-decodes them (see source/decode/value.rs).
const TIME_TABLE: &str =
    "CREATE TABLE tt (id INT PRIMARY KEY, tm2 TIME(2), tm1 TIME(1), tm6 TIME(6))";
const TIME_ROWS: &str = "INSERT INTO tt VALUES
 (1, '-01:02:03.45', '-01:02:03.4', '-01:02:03.456789'),
 (2, '-838:59:58.99', '-838:59:58.9', '-838:59:58.999999'),
 (3, '-00:00:00.01', '-00:00:00.1', '-00:00:00.000001'),
 (4, '12:00:00.50', '26:00:00.5', '838:59:59.000000'),
 (5, '-700:00:00.50', '-624:59:59.9', '-00:00:01.5')";

#[derive(Debug)]
struct Change {
    table: String,
    before: Option<Vec<SqlValue>>,
    after: Option<Vec<SqlValue>>,
}

#[tokio::test]
async fn binlog_rows_decode_like_select() {
    let mut conn = connect().await;
    let db = format!("decode_test_{}", std::process::id());
    conn.query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .unwrap();
    conn.query_drop(format!("CREATE DATABASE {db}"))
        .await
        .unwrap();
    let result = AssertUnwindSafe(run(&mut conn, &db)).catch_unwind().await;
    let _ = conn
        .query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await;
    let _ = conn.disconnect().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn run(conn: &mut Conn, db: &str) {
    conn.query_drop(format!("USE {db}")).await.unwrap();
    conn.query_drop(TABLE).await.unwrap();
    conn.query_drop(TIME_TABLE).await.unwrap();
    let status: Row = conn.query_first("SHOW MASTER STATUS").await.unwrap().expect(
        "SHOW MASTER STATUS returned nothing: the server's binlog is off (scripts/services.sh configures it)",
    );
    let file: String = status.get(0).unwrap();
    let pos: u64 = status.get(1).unwrap();

    conn.query_drop(ROWS).await.unwrap();
    conn.query_drop(NULL_ROW).await.unwrap();
    let inserted = select_text(conn, "SELECT * FROM t ORDER BY id").await;
    conn.query_drop(UPDATE).await.unwrap();
    let updated = select_text(conn, "SELECT * FROM t ORDER BY id").await;
    conn.query_drop(TIME_ROWS).await.unwrap();
    let times = select_text(conn, "SELECT * FROM tt ORDER BY id").await;
    let names = select_names(conn, "SELECT * FROM t LIMIT 0").await;
    assert_eq!(inserted.len(), 3);

    let (schemas, changes) = read_binlog(db, &file, pos).await;

    // The schema from the TABLE_MAP event matches the table's definition.
    let schema = schemas.get("t").expect("no TABLE_MAP event for t");
    assert_eq!(schema.database, db);
    assert_eq!(
        schema
            .columns
            .iter()
            .map(|c| c.name.clone())
            .collect::<Vec<_>>(),
        names
    );
    assert_eq!(schema.primary_key, vec![0]);
    check_schema_against_information_schema(conn, db, schema).await;
    let e = schema.columns.iter().find(|c| c.name == "e").unwrap();
    assert_eq!(e.enum_values, vec!["x", "y", "é"]);
    let s = schema.columns.iter().find(|c| c.name == "s").unwrap();
    assert_eq!(s.set_values, vec!["a", "b", "c"]);

    let t_changes: Vec<&Change> = changes.iter().filter(|c| c.table == "t").collect();
    assert_eq!(
        t_changes.len(),
        4,
        "expected 3 inserts and 1 update of t, got {t_changes:#?}"
    );
    for (k, change) in t_changes[..3].iter().enumerate() {
        assert!(change.before.is_none());
        compare(
            schema,
            change.after.as_ref().unwrap(),
            &inserted[k],
            &format!("insert of row {}", k + 1),
        );
    }
    let update = t_changes[3];
    compare(
        schema,
        update.before.as_ref().unwrap(),
        &inserted[1],
        "update before image",
    );
    compare(
        schema,
        update.after.as_ref().unwrap(),
        &updated[1],
        "update after image",
    );

    // Spot checks of the decoded values themselves.
    let row1 = t_changes[0].after.as_ref().unwrap();
    let at = |row: &[SqlValue], name: &str| -> SqlValue {
        row[schema.columns.iter().position(|c| c.name == name).unwrap()].clone()
    };
    assert_eq!(at(row1, "biu"), SqlValue::UInt(u64::MAX));
    assert_eq!(at(row1, "bi"), SqlValue::Int(i64::MIN));
    assert_eq!(at(row1, "y"), SqlValue::Year(0));
    assert_eq!(
        at(row1, "e"),
        SqlValue::Enum {
            index: 0,
            label: String::new()
        }
    );
    assert_eq!(at(row1, "s"), SqlValue::Set(vec![]));
    assert_eq!(at(row1, "tx"), SqlValue::Text(String::new()));
    assert_eq!(at(row1, "vl"), SqlValue::Text("é".into()));
    assert_eq!(at(row1, "bin4"), SqlValue::Bytes(b"ab\0\0".to_vec()));
    assert!(matches!(at(row1, "g"), SqlValue::Bytes(_)));
    assert_eq!(
        at(row1, "ts"),
        SqlValue::Timestamp {
            secs: 0,
            micros: 0,
            fsp: 0
        }
    );
    let row2 = t_changes[1].after.as_ref().unwrap();
    assert_eq!(
        at(row2, "e"),
        SqlValue::Enum {
            index: 3,
            label: "é".into()
        }
    );
    assert_eq!(at(row2, "s"), SqlValue::Set(vec!["a".into(), "c".into()]));
    let row3 = t_changes[2].after.as_ref().unwrap();
    assert!(row3[1..].iter().all(|v| *v == SqlValue::Null), "{row3:?}");
    assert_eq!(
        at(update.after.as_ref().unwrap(), "biu"),
        SqlValue::UInt(u64::MAX - 1)
    );

    // Negative fractional TIME(1)/TIME(2).
    let tt = schemas.get("tt").expect("no TABLE_MAP event for tt");
    let tt_changes: Vec<&Change> = changes.iter().filter(|c| c.table == "tt").collect();
    assert_eq!(
        tt_changes.len(),
        times.len(),
        "negative fractional TIME rows were not decoded"
    );
    for (k, change) in tt_changes.iter().enumerate() {
        compare(
            tt,
            change.after.as_ref().unwrap(),
            &times[k],
            &format!("TIME row {}", k + 1),
        );
    }
}

/// Each row of a text-protocol query: `None` = NULL, else the bytes.
async fn select_text(conn: &mut Conn, sql: &str) -> Vec<Vec<Option<Vec<u8>>>> {
    let rows: Vec<Row> = conn.query(sql).await.unwrap();
    rows.iter()
        .map(|row| {
            (0..row.len())
                .map(|i| match row.as_ref(i).unwrap() {
                    Value::NULL => None,
                    Value::Bytes(b) => Some(b.clone()),
                    other => panic!("text protocol gave {other:?}"),
                })
                .collect()
        })
        .collect()
}

async fn select_names(conn: &mut Conn, sql: &str) -> Vec<String> {
    let result = conn.query_iter(sql).await.unwrap();
    let names = result
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    result.drop_result().await.unwrap();
    names
}

fn compare(schema: &TableSchema, decoded: &[SqlValue], selected: &[Option<Vec<u8>>], what: &str) {
    assert_eq!(decoded.len(), selected.len(), "{what}: column count");
    for ((col, value), expected) in schema.columns.iter().zip(decoded).zip(selected) {
        let got = value.to_text();
        let show =
            |b: &Option<Vec<u8>>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
        match (col.column_type, &got, expected) {
            (ColumnType::MYSQL_TYPE_FLOAT, Some(g), Some(e)) => {
                let g: f32 = std::str::from_utf8(g).unwrap().parse().unwrap();
                let e: f32 = std::str::from_utf8(e).unwrap().parse().unwrap();
                assert_eq!(g, e, "{what}: column {} ({value:?})", col.name);
            }
            (ColumnType::MYSQL_TYPE_DOUBLE, Some(g), Some(e)) => {
                let g: f64 = std::str::from_utf8(g).unwrap().parse().unwrap();
                let e: f64 = std::str::from_utf8(e).unwrap().parse().unwrap();
                assert_eq!(g, e, "{what}: column {} ({value:?})", col.name);
            }
            _ => assert!(
                got == *expected,
                "{what}: column {} ({:?}): decoded {value:?} renders as {:?} ({got:?}), SELECT gives {:?} ({expected:?})",
                col.name,
                col.column_type,
                show(&got),
                show(expected),
            ),
        }
    }
}

async fn check_schema_against_information_schema(conn: &mut Conn, db: &str, schema: &TableSchema) {
    let rows: Vec<(String, String, Option<u64>)> = conn
        .exec(
            "SELECT c.COLUMN_NAME, c.COLUMN_TYPE, co.ID FROM information_schema.COLUMNS c
             LEFT JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = c.COLLATION_NAME
             WHERE c.TABLE_SCHEMA = ? AND c.TABLE_NAME = 't' ORDER BY c.ORDINAL_POSITION",
            (db,),
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), schema.columns.len());
    for ((name, column_type, collation), col) in rows.into_iter().zip(&schema.columns) {
        assert_eq!(name, col.name);
        let numeric =
            col.column_type.is_numeric_type() && col.column_type != ColumnType::MYSQL_TYPE_YEAR;
        if numeric {
            assert_eq!(
                column_type.contains("unsigned"),
                col.unsigned,
                "unsigned flag of {name} ({column_type})"
            );
        }
        match collation {
            Some(id) => assert_eq!(
                col.collation,
                Some(id as u16),
                "collation of {name} ({column_type})"
            ),
            // Binary strings have no collation name in information_schema; the binlog says 63.
            None if column_type.contains("binary") || column_type.contains("blob") => {
                assert_eq!(
                    col.collation,
                    Some(63),
                    "collation of {name} ({column_type})"
                )
            }
            None => assert_eq!(col.collation, None, "collation of {name} ({column_type})"),
        }
    }
}

/// Reads the binlog from `file:pos` until the expected rows of `db` are there (with a timeout),
/// decoding them. Rows of a table whose decoding panics inside mysql_common are left out.
async fn read_binlog(
    db: &str,
    file: &str,
    pos: u64,
) -> (HashMap<String, TableSchema>, Vec<Change>) {
    let server_id = 9000 + std::process::id() % 1000;
    let conn = connect().await;
    let request = BinlogStreamRequest::new(server_id)
        .with_filename(file.as_bytes())
        .with_pos(pos);
    let mut stream = conn.get_binlog_stream(request).await.unwrap();
    let mut tables: HashMap<u64, (TableMapEvent<'static>, TableSchema)> = HashMap::new();
    let mut schemas = HashMap::new();
    let mut changes = Vec::new();
    // 3 inserts + 1 update of t, then the rows event of tt.
    let mut t_rows = 0;
    let mut tt_done = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while t_rows < 4 || !tt_done {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = match tokio::time::timeout(left, stream.next()).await {
            Err(_) => {
                panic!("timed out reading the binlog: got {t_rows} rows of t, tt done: {tt_done}")
            }
            Ok(None) => panic!("the binlog stream ended"),
            Ok(Some(event)) => event.unwrap(),
        };
        match event.read_data().unwrap() {
            Some(EventData::TableMapEvent(tme)) if tme.database_name() == db => {
                let schema = decode::table_schema(&tme).unwrap();
                schemas.insert(schema.table.clone(), schema.clone());
                tables.insert(tme.table_id(), (tme.into_owned(), schema));
            }
            Some(EventData::RowsEvent(rows)) => {
                let Some((tme, schema)) = tables.get(&rows.table_id()) else {
                    continue;
                };
                if matches!(rows, RowsEventData::PartialUpdateRowsEvent(_)) {
                    panic!("unexpected partial update");
                }
                // The daemon's reader, checked against mysql_common's own row parser on every
                // value of every type.
                let list: Vec<Change> = decode::event_rows(schema, &rows)
                    .map(|row| {
                        let (before, after) = row.unwrap();
                        Change {
                            table: schema.table.clone(),
                            before,
                            after,
                        }
                    })
                    .collect();
                let reference: Vec<_> = rows
                    .rows(tme)
                    .map(|row| {
                        let by_mysql_common = |r: BinlogRow| {
                            (0..r.len())
                                .map(|i| {
                                    decode::decode_value(&schema.columns[i], r.as_ref(i)).unwrap()
                                })
                                .collect::<Vec<_>>()
                        };
                        let (before, after) = row.unwrap();
                        (before.map(by_mysql_common), after.map(by_mysql_common))
                    })
                    .collect();
                let ours: Vec<_> = list
                    .iter()
                    .map(|c| (c.before.clone(), c.after.clone()))
                    .collect();
                assert_eq!(ours, reference, "rows of {}", schema.table);
                if schema.table == "t" {
                    t_rows += list.len();
                } else {
                    tt_done = true;
                }
                changes.extend(list);
            }
            _ => {}
        }
    }
    let _ = stream.close().await;
    (schemas, changes)
}
