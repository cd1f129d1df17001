//! The router without servers: binlog events built here byte by byte (as MariaDB and MySQL
//! write them with `binlog_row_metadata=FULL`), read back by mysql_common, routed, and the
//! messages each sink receives checked.

use std::sync::{Arc, Mutex};

use mysql_common::binlog::consts::BinlogVersion;
use mysql_common::binlog::events::{Event, FormatDescriptionEvent};
use tokio::sync::mpsc;

use super::*;
use crate::config::Config;
use crate::core::catalog::Catalog;
use crate::core::handover::{ChunkRows, HandoverRequest};
use crate::model::SqlValue;
use crate::state::{ColumnChange, SchemaEntry};

// ---- events, byte by byte ----------------------------------------------------------------

const QUERY_EVENT: u8 = 2;
const XID_EVENT: u8 = 16;
const TABLE_MAP_EVENT: u8 = 19;
const WRITE_ROWS_EVENT: u8 = 30;
const UPDATE_ROWS_EVENT: u8 = 31;
const DELETE_ROWS_EVENT: u8 = 32;
const MYSQL_TYPE_LONG: u8 = 3;
const MYSQL_TYPE_VARCHAR: u8 = 15;
const UTF8MB4_GENERAL_CI: u8 = 45;
/// When every test event was committed (its header time, in seconds).
const COMMIT_SECS: u32 = 1_700_000_000;
/// The router's floor: below the events' commit time, so changes carry their commit time.
const FLOOR: Version = Version(1_600_000_000_000);
/// The version of every test change: the commit second, in milliseconds.
const AT: Version = Version(1_700_000_000_000);

fn lenenc(out: &mut Vec<u8>, n: usize) {
    assert!(n < 251, "short lengths only");
    out.push(n as u8);
}

fn lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    lenenc(out, s.len());
    out.extend_from_slice(s);
}

/// A test table: `id INT` primary key first, then VARCHAR(64) columns.
struct Table {
    id: u64,
    db: &'static str,
    name: &'static str,
    /// Names of the VARCHAR columns after `id`.
    texts: Vec<&'static str>,
}

impl Table {
    fn new(id: u64, db: &'static str, name: &'static str, texts: &[&'static str]) -> Table {
        Table {
            id,
            db,
            name,
            texts: texts.to_vec(),
        }
    }

    fn columns(&self) -> usize {
        1 + self.texts.len()
    }

    /// TABLE_MAP body with FULL optional metadata (names, primary key, default charset).
    fn table_map(&self) -> Vec<u8> {
        self.table_map_with(true)
    }

    /// TABLE_MAP body without optional metadata (MariaDB's `binlog_row_metadata = NO_LOG`).
    fn table_map_without_names(&self) -> Vec<u8> {
        self.table_map_with(false)
    }

    fn table_map_with(&self, full: bool) -> Vec<u8> {
        let n = self.columns();
        let mut b = Vec::new();
        b.extend_from_slice(&self.id.to_le_bytes()[..6]);
        b.extend_from_slice(&[0, 0]);
        for name in [self.db, self.name] {
            b.push(name.len() as u8);
            b.extend_from_slice(name.as_bytes());
            b.push(0);
        }
        lenenc(&mut b, n);
        b.push(MYSQL_TYPE_LONG);
        b.extend(std::iter::repeat_n(MYSQL_TYPE_VARCHAR, self.texts.len()));
        let mut meta = Vec::new();
        for _ in &self.texts {
            meta.extend_from_slice(&64u16.to_le_bytes());
        }
        lenenc_str(&mut b, &meta);
        b.extend(std::iter::repeat_n(0xFF, n.div_ceil(8))); // every column nullable
        if !full {
            return b;
        }
        let mut tlv = |kind: u8, value: Vec<u8>| {
            b.push(kind);
            lenenc_str(&mut b, &value);
        };
        let mut names = Vec::new();
        lenenc_str(&mut names, b"id");
        for t in &self.texts {
            lenenc_str(&mut names, t.as_bytes());
        }
        tlv(2, vec![UTF8MB4_GENERAL_CI]); // DEFAULT_CHARSET, no exceptions
        tlv(4, names); // COLUMN_NAME
        tlv(8, vec![0]); // SIMPLE_PRIMARY_KEY: column 0
        b
    }

    /// One image: `None` values are NULL.
    fn image(&self, out: &mut Vec<u8>, id: i32, texts: &[Option<&str>]) {
        assert_eq!(texts.len(), self.texts.len());
        let mut nulls = vec![0u8; self.columns().div_ceil(8)];
        for (i, t) in texts.iter().enumerate() {
            if t.is_none() {
                nulls[(i + 1) / 8] |= 1 << ((i + 1) % 8);
            }
        }
        out.extend_from_slice(&nulls);
        out.extend_from_slice(&id.to_le_bytes());
        for t in texts.iter().flatten() {
            lenenc_str(out, t.as_bytes());
        }
    }

    /// A v2 rows event body of `images` (pairs for updates).
    fn rows(&self, update: bool, images: &[(i32, Vec<Option<&str>>)]) -> Vec<u8> {
        let n = self.columns();
        let mut b = Vec::new();
        b.extend_from_slice(&self.id.to_le_bytes()[..6]);
        b.extend_from_slice(&[0, 0]); // flags
        b.extend_from_slice(&2u16.to_le_bytes()); // extra data: just its length
        lenenc(&mut b, n);
        let present = vec![0xFF; n.div_ceil(8)];
        b.extend_from_slice(&present);
        if update {
            b.extend_from_slice(&present);
        }
        for (id, texts) in images {
            self.image(&mut b, *id, texts);
        }
        b
    }
}

fn query_body(schema: &str, query: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&1u32.to_le_bytes()); // thread id
    b.extend_from_slice(&0u32.to_le_bytes()); // execution time
    b.push(schema.len() as u8);
    b.extend_from_slice(&0u16.to_le_bytes()); // error code
    b.extend_from_slice(&0u16.to_le_bytes()); // status vars length
    b.extend_from_slice(schema.as_bytes());
    b.push(0);
    b.extend_from_slice(query.as_bytes());
    b
}

/// A binlog file being written: each event ends where the next starts.
struct Binlog {
    fde: FormatDescriptionEvent<'static>,
    end: BinlogPosition,
    /// The header time of the next events.
    secs: u32,
}

impl Binlog {
    fn new() -> Binlog {
        Binlog {
            fde: FormatDescriptionEvent::new(BinlogVersion::Version4),
            end: BinlogPosition::new("binlog.000007", 4).unwrap(),
            secs: COMMIT_SECS,
        }
    }

    fn event(&mut self, kind: u8, body: &[u8]) -> (Event, BinlogPosition) {
        let size = 19 + body.len();
        self.end = self.end.at(self.end.offset() + size as u64);
        let mut bytes = Vec::with_capacity(size);
        bytes.extend_from_slice(&self.secs.to_le_bytes());
        bytes.push(kind);
        bytes.extend_from_slice(&1u32.to_le_bytes()); // server id
        bytes.extend_from_slice(&(size as u32).to_le_bytes());
        bytes.extend_from_slice(&(self.end.offset() as u32).to_le_bytes());
        bytes.extend_from_slice(&0u16.to_le_bytes());
        bytes.extend_from_slice(body);
        let event = Event::read(&self.fde, &bytes[..]).expect("a well-formed event");
        (event, self.end.clone())
    }
}

// ---- the router under test ---------------------------------------------------------------

/// Records resync jobs; knows no table (FULL metadata needs none).
#[derive(Clone, Default)]
struct FixedCatalog {
    resyncs: Arc<Mutex<Vec<(String, String, BinlogPosition)>>>,
    /// Tables registered as captured.
    known: Arc<Mutex<Vec<(String, String)>>>,
    /// Jobs that ended (complete or failed).
    finished: Arc<Mutex<Vec<u64>>>,
    /// `information_schema` now, and the binlog's head then (one table).
    now: Arc<Mutex<Option<(TableSchema, BinlogPosition)>>>,
    /// The schema history.
    history: Arc<Mutex<Vec<SchemaEntry>>>,
    /// Backfills recorded: table, position, columns.
    backfills: Arc<Mutex<Vec<(String, BinlogPosition, ColumnChange)>>>,
}

impl Catalog for FixedCatalog {
    async fn table_schema(&self, _: &str, _: &str) -> Result<Option<TableSchema>> {
        Ok(None)
    }
    async fn schema_now(&self, _: &str, _: &str) -> Result<Option<(TableSchema, BinlogPosition)>> {
        Ok(self.now.lock().unwrap().clone())
    }
    async fn schema_at(
        &self,
        _: &str,
        _: &str,
        at: &BinlogPosition,
        strictly_before: bool,
    ) -> Result<Option<SchemaEntry>> {
        let history = self.history.lock().unwrap();
        Ok(history
            .iter()
            .filter(|e| {
                if strictly_before {
                    e.at < *at
                } else {
                    e.at <= *at
                }
            })
            .max_by(|a, b| a.at.cmp(&b.at))
            .cloned())
    }
    async fn record_schema(&self, entry: &SchemaEntry, _: Option<&str>) -> Result<()> {
        self.history.lock().unwrap().push(entry.clone());
        Ok(())
    }
    async fn json_columns(&self, _: &str, _: &str) -> Result<HashSet<String>> {
        Ok(HashSet::new())
    }
    async fn record_resync(&self, db: &str, table: &str, position: &BinlogPosition) -> Result<u64> {
        let mut r = self.resyncs.lock().unwrap();
        r.push((db.into(), table.into(), position.clone()));
        Ok(r.len() as u64)
    }
    async fn record_backfill(
        &self,
        db: &str,
        table: &str,
        position: &BinlogPosition,
        change: &ColumnChange,
    ) -> Result<u64> {
        let mut b = self.backfills.lock().unwrap();
        b.push((format!("{db}.{table}"), position.clone(), change.clone()));
        Ok(1000 + b.len() as u64)
    }
    async fn table_copied(&self, _: &str, _: &str) -> Result<bool> {
        Ok(true)
    }
    async fn job_open(&self, id: u64) -> Result<bool> {
        Ok(!self.finished.lock().unwrap().contains(&id))
    }
    async fn register_table(&self, db: &str, table: &str) -> Result<()> {
        let mut known = self.known.lock().unwrap();
        if !known.contains(&(db.to_string(), table.to_string())) {
            known.push((db.into(), table.into()));
        }
        Ok(())
    }
    async fn known_tables(&self, db: Option<&str>) -> Result<Vec<(String, String)>> {
        let known = self.known.lock().unwrap();
        Ok(known
            .iter()
            .filter(|(d, _)| db.is_none_or(|db| db == d))
            .cloned()
            .collect())
    }
}

struct Harness {
    router: Router<FixedCatalog>,
    sinks: Vec<mpsc::Receiver<SinkMsg<RowChange>>>,
    catalog: FixedCatalog,
    binlog: Binlog,
}

/// What a sink received, simplified.
#[derive(Debug, PartialEq)]
enum Got {
    Put {
        table: String,
        key: String,
        cells: Vec<(String, Option<String>)>,
        version: Version,
    },
    Delete {
        key: String,
        version: Version,
    },
    Commit(BinlogPosition),
}

impl Harness {
    fn new(sinks: usize, capture: &str) -> Harness {
        let cfg = Config::from_toml(&format!(
            "[mysql]\nurl = \"mysql://root@h:1\"\nserver_id = 7\n[hbase]\nthrift = \"h:9090\"\n[pipeline]\nwriters = {sinks}\n{capture}"
        ))
        .unwrap();
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..sinks).map(|_| mpsc::channel(1000)).unzip();
        let catalog = FixedCatalog::default();
        let binlog = Binlog::new();
        let router = Router::new(
            &cfg,
            catalog.clone(),
            senders,
            binlog.end.clone(),
            FLOOR,
            InflightBytes::new(1 << 20),
        )
        .unwrap();
        Harness {
            router,
            sinks: receivers,
            catalog,
            binlog,
        }
    }

    async fn route(&mut self, kind: u8, body: &[u8]) -> BinlogPosition {
        let (event, position) = self.binlog.event(kind, body);
        self.router.route(&event, &position).await.unwrap();
        position
    }

    /// Starts tracking `db.table` for bootstrap job `job`, as a job does before reading.
    async fn track(&mut self, job: u64, db: &str, table: &str) {
        let (reply, tracking) = tokio::sync::oneshot::channel();
        let request = HandoverRequest::Track {
            job,
            db: db.into(),
            table: table.into(),
            first: true,
            reply,
        };
        self.router.handover(request).await.unwrap();
        tracking.await.unwrap();
    }

    async fn xid(&mut self) -> BinlogPosition {
        self.route(XID_EVENT, &42u64.to_le_bytes()).await
    }

    /// Everything sink `idx` received so far.
    fn received(&mut self, idx: usize) -> Vec<Got> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut out = Vec::new();
        while let Ok(msg) = self.sinks[idx].try_recv() {
            match msg {
                SinkMsg::Items { items, .. } => {
                    for c in items {
                        out.push(match c.op {
                            RowOp::Put(cells) => Got::Put {
                                table: c.table.to_string(),
                                key: text(&c.key),
                                cells: cells
                                    .iter()
                                    .map(|cell| {
                                        (text(&cell.column), cell.value.as_deref().map(text))
                                    })
                                    .collect(),
                                version: c.version,
                            },
                            RowOp::Delete => Got::Delete {
                                key: text(&c.key),
                                version: c.version,
                            },
                            RowOp::Replace(_) => panic!("no bootstrap runs"),
                        })
                    }
                }
                SinkMsg::Commit(point) => out.push(Got::Commit(point.position)),
                SinkMsg::Barrier(_) => panic!("no bootstrap runs"),
            }
        }
        out
    }
}

fn put(key: &str, cells: &[(&str, Option<&str>)]) -> Got {
    Got::Put {
        table: "shop_t".into(),
        key: key.into(),
        cells: cells
            .iter()
            .map(|(c, v)| (c.to_string(), v.map(str::to_string)))
            .collect(),
        version: AT,
    }
}

const CAPTURE_SHOP: &str = "[capture]\ninclude = [\"shop.*\"]\n";

#[tokio::test]
async fn a_multi_statement_transaction_becomes_full_images_then_one_commit() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    let t = Table::new(70, "shop", "t", &["name", "note"]);
    h.route(QUERY_EVENT, &query_body("shop", "BEGIN")).await;
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(
        WRITE_ROWS_EVENT,
        &t.rows(
            false,
            &[(1, vec![Some("a"), None]), (2, vec![Some("b"), Some("x")])],
        ),
    )
    .await;
    h.route(
        UPDATE_ROWS_EVENT,
        &t.rows(
            true,
            &[(1, vec![Some("a"), None]), (1, vec![Some("a2"), Some("n")])],
        ),
    )
    .await;
    h.route(
        DELETE_ROWS_EVENT,
        &t.rows(false, &[(2, vec![Some("b"), Some("x")])]),
    )
    .await;
    let commit = h.xid().await;
    assert_eq!(
        h.received(0),
        [
            // A NULL column is a cell without value: a column delete at the version.
            put(
                "1",
                &[("d:id", Some("1")), ("d:name", Some("a")), ("d:note", None)]
            ),
            put(
                "2",
                &[
                    ("d:id", Some("2")),
                    ("d:name", Some("b")),
                    ("d:note", Some("x"))
                ]
            ),
            put(
                "1",
                &[
                    ("d:id", Some("1")),
                    ("d:name", Some("a2")),
                    ("d:note", Some("n"))
                ]
            ),
            Got::Delete {
                key: "2".into(),
                version: AT
            },
            Got::Commit(commit),
        ]
    );
}

#[tokio::test]
async fn an_update_that_changes_the_key_deletes_the_old_row_on_its_own_sink() {
    let mut h = Harness::new(4, CAPTURE_SHOP);
    let t = Table::new(71, "shop", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(
        UPDATE_ROWS_EVENT,
        &t.rows(true, &[(5, vec![Some("v")]), (6, vec![Some("v")])]),
    )
    .await;
    let commit = h.xid().await;
    let all: Vec<Vec<Got>> = (0..4).map(|i| h.received(i)).collect();
    let old = RowChange {
        table: "shop_t".into(),
        family: "d".into(),
        key: b"5".to_vec(),
        member: None,
        op: RowOp::Delete,
        version: AT,
    };
    let new = RowChange {
        key: b"6".to_vec(),
        ..old.clone()
    };
    let delete_sink = &all[old.partition(4)];
    assert!(delete_sink.contains(&Got::Delete {
        key: "5".into(),
        version: AT
    }));
    assert!(
        all[new.partition(4)].contains(&put("6", &[("d:id", Some("6")), ("d:name", Some("v"))]))
    );
    // Every sink gets the commit point, after its changes.
    for got in &all {
        assert_eq!(got.last(), Some(&Got::Commit(commit.clone())));
    }
    let rows: usize = all.iter().map(|g| g.len() - 1).sum();
    assert_eq!(rows, 2, "one delete and one put: {all:?}");
}

#[tokio::test]
async fn filters_decide_tables_and_columns_and_state_only_transactions_do_not_commit() {
    let mut h = Harness::new(
        1,
        "[capture]\ninclude = [\"shop.*\"]\nexclude = [\"shop.tmp\"]\nexclude_columns = [\"shop.t.secret\"]\n",
    );
    let t = Table::new(72, "shop", "t", &["name", "secret"]);
    let tmp = Table::new(73, "shop", "tmp", &["name"]);
    let other = Table::new(74, "other", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &tmp.table_map()).await;
    h.route(WRITE_ROWS_EVENT, &tmp.rows(false, &[(1, vec![Some("x")])]))
        .await;
    h.route(TABLE_MAP_EVENT, &other.table_map()).await;
    h.route(
        WRITE_ROWS_EVENT,
        &other.rows(false, &[(1, vec![Some("x")])]),
    )
    .await;
    let first = h.xid().await;
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(
        WRITE_ROWS_EVENT,
        &t.rows(false, &[(9, vec![Some("n"), Some("password")])]),
    )
    .await;
    let second = h.xid().await;
    // A transaction that only wrote the state schema (our own checkpoints) moves nothing.
    let state = Table::new(75, "mysql2hbase", "checkpoint", &["binlog_file"]);
    h.route(TABLE_MAP_EVENT, &state.table_map()).await;
    h.route(
        UPDATE_ROWS_EVENT,
        &state.rows(true, &[(1, vec![Some("a")]), (1, vec![Some("b")])]),
    )
    .await;
    h.xid().await;
    assert_eq!(
        h.received(0),
        [
            // Tables outside the capture still end transactions the checkpoint may pass.
            Got::Commit(first),
            put("9", &[("d:id", Some("9")), ("d:name", Some("n"))]),
            Got::Commit(second),
        ]
    );
}

#[tokio::test]
async fn ddl_records_a_resync_before_its_commit_and_forgets_the_table_maps() {
    let mut h = Harness::new(2, CAPTURE_SHOP);
    let t = Table::new(76, "shop", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(1, vec![Some("a")])]))
        .await;
    h.xid().await;
    let ddl = h
        .route(
            QUERY_EVENT,
            &query_body("shop", "ALTER TABLE t ADD COLUMN c INT DEFAULT 5"),
        )
        .await;
    // Not captured: no job.
    h.route(QUERY_EVENT, &query_body("other", "TRUNCATE TABLE t"))
        .await;
    // Changes nothing stored: no job.
    h.route(
        QUERY_EVENT,
        &query_body("shop", "CREATE TABLE n (id INT PRIMARY KEY)"),
    )
    .await;
    assert_eq!(
        *h.catalog.resyncs.lock().unwrap(),
        [("shop".to_string(), "t".to_string(), ddl.clone())]
    );
    for idx in 0..2 {
        assert!(h.received(idx).contains(&Got::Commit(ddl.clone())));
    }
    // The old TABLE_MAP is gone: rows need the new one.
    let (event, position) = h
        .binlog
        .event(WRITE_ROWS_EVENT, &t.rows(false, &[(2, vec![Some("b")])]));
    let err = h.router.route(&event, &position).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(
        err.to_string().contains("without its TABLE_MAP event"),
        "{err}"
    );
    assert!(err.to_string().contains(&position.to_string()), "{err}");
}

#[tokio::test]
async fn begin_commit_queries_end_transactions_like_xid() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    let t = Table::new(77, "shop", "t", &["name"]);
    h.route(QUERY_EVENT, &query_body("shop", "BEGIN")).await;
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(3, vec![Some("c")])]))
        .await;
    h.route(QUERY_EVENT, &query_body("shop", "SAVEPOINT s1"))
        .await;
    let commit = h.route(QUERY_EVENT, &query_body("shop", "COMMIT")).await;
    assert_eq!(
        h.received(0),
        [
            put("3", &[("d:id", Some("3")), ("d:name", Some("c"))]),
            Got::Commit(commit)
        ]
    );
}

#[tokio::test]
async fn a_row_without_key_value_stops_with_the_table_and_position() {
    let mut h = Harness::new(
        1,
        "[capture]\ninclude = [\"shop.*\"]\n[[mapping.tables]]\nsource = \"shop.t\"\nrow_key = [\"name\"]\n",
    );
    let t = Table::new(78, "shop", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    let (event, position) = h
        .binlog
        .event(WRITE_ROWS_EVENT, &t.rows(false, &[(1, vec![None])]));
    let err = h.router.route(&event, &position).await.unwrap_err();
    let text = err.to_string();
    assert!(!err.is_transient());
    assert!(text.contains("NULL in a row-key column"), "{text}");
    assert!(
        text.contains("shop.t") && text.contains(&position.to_string()),
        "{text}"
    );
    assert!(text.contains("[dead_letter]"), "names the fix: {text}");
}

#[tokio::test]
async fn versions_follow_commit_seconds_and_never_go_back() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    let t = Table::new(79, "shop", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.binlog.secs = COMMIT_SECS + 2;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(1, vec![Some("a")])]))
        .await;
    // An event stamped earlier (a clock step back on the server): the version stays.
    h.binlog.secs = COMMIT_SECS + 1;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(2, vec![Some("b")])]))
        .await;
    let versions: Vec<Version> = h
        .received(0)
        .into_iter()
        .map(|g| match g {
            Got::Put { version, .. } => version,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(versions, [Version(AT.0 + 2000), Version(AT.0 + 2000)]);
    // Below the floor (a replay after a restart): the floor.
    let mut h = Harness::new(1, CAPTURE_SHOP);
    h.binlog.secs = 1_500_000_000;
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(3, vec![Some("c")])]))
        .await;
    assert!(matches!(&h.received(0)[..], [Got::Put { version, .. }] if *version == FLOOR));
}

// ---- statements, XA and events without rows ----------------------------------------------

const MARIADB_GTID_EVENT: u8 = 162;
const XA_PREPARE_EVENT: u8 = 38;

/// A MariaDB GTID event body; `xa`: the gtrid of a prepared XA transaction it starts.
fn mariadb_gtid(seq: u64, xa: Option<&str>) -> Vec<u8> {
    let mut b = seq.to_le_bytes().to_vec();
    b.extend_from_slice(&0u32.to_le_bytes()); // domain
    match xa {
        Some(gtrid) => {
            b.push(0x40); // FL_PREPARED_XA
            b.extend_from_slice(&1i32.to_le_bytes());
            b.extend_from_slice(&[gtrid.len() as u8, 0]);
            b.extend_from_slice(gtrid.as_bytes());
        }
        None => b.push(0x08),
    }
    b
}

impl Harness {
    async fn try_route(&mut self, kind: u8, body: &[u8]) -> Result<BinlogPosition> {
        let (event, position) = self.binlog.event(kind, body);
        self.router.route(&event, &position).await?;
        Ok(position)
    }

    /// A prepared MariaDB XA transaction inserting row `id` of `t`.
    async fn xa_prepare(&mut self, t: &Table, gtrid: &str, id: i32) {
        self.route(MARIADB_GTID_EVENT, &mariadb_gtid(1, Some(gtrid)))
            .await;
        self.route(TABLE_MAP_EVENT, &t.table_map()).await;
        self.route(WRITE_ROWS_EVENT, &t.rows(false, &[(id, vec![Some("x")])]))
            .await;
        let hex: String = gtrid.bytes().map(|b| format!("{b:02x}")).collect();
        self.route(
            QUERY_EVENT,
            &query_body("shop", &format!("XA END X'{hex}',X'',1")),
        )
        .await;
        self.route(XA_PREPARE_EVENT, &[0; 13]).await;
    }

    /// The outcome of an XA transaction: `XA COMMIT` or `XA ROLLBACK`.
    async fn xa_outcome(&mut self, verb: &str, gtrid: &str) -> BinlogPosition {
        let hex: String = gtrid.bytes().map(|b| format!("{b:02X}")).collect();
        self.route(MARIADB_GTID_EVENT, &mariadb_gtid(2, None)).await;
        self.route(
            QUERY_EVENT,
            &query_body("shop", &format!("XA {verb} X'{hex}',X'',1")),
        )
        .await
    }
}

fn keys(got: &[Got]) -> Vec<String> {
    got.iter()
        .map(|g| match g {
            Got::Put { key, .. } => format!("put {key}"),
            Got::Delete { key, .. } => format!("delete {key}"),
            Got::Commit(_) => "commit".into(),
        })
        .collect()
}

#[tokio::test]
async fn xa_transactions_apply_at_commit_and_vanish_at_rollback() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    let t = Table::new(80, "shop", "t", &["name"]);
    h.xa_prepare(&t, "x1", 1).await;
    h.xa_prepare(&t, "x2", 2).await;
    assert_eq!(keys(&h.received(0)), Vec::<String>::new(), "prepared: held");
    // An ordinary transaction meanwhile: applied, but no commit point passes the prepares.
    h.route(MARIADB_GTID_EVENT, &mariadb_gtid(3, None)).await;
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(3, vec![Some("y")])]))
        .await;
    h.xid().await;
    assert_eq!(keys(&h.received(0)), ["put 3"]);
    h.xa_outcome("ROLLBACK", "x2").await;
    assert_eq!(keys(&h.received(0)), Vec::<String>::new(), "x1 still open");
    let commit = h.xa_outcome("COMMIT", "x1").await;
    let got = h.received(0);
    assert_eq!(keys(&got), ["put 1", "commit"], "x2's row never arrives");
    assert_eq!(got.last(), Some(&Got::Commit(commit)));
    assert!(h.catalog.resyncs.lock().unwrap().is_empty());

    // MySQL's one-phase form: XA START ... XA COMMIT ONE PHASE, no prepare.
    h.route(QUERY_EVENT, &query_body("shop", "XA START X'7833',X'',1"))
        .await;
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(4, vec![Some("z")])]))
        .await;
    h.route(QUERY_EVENT, &query_body("shop", "XA END X'7833',X'',1"))
        .await;
    h.route(
        QUERY_EVENT,
        &query_body("shop", "XA COMMIT X'7833',X'',1 ONE PHASE"),
    )
    .await;
    assert_eq!(keys(&h.received(0)), ["put 4", "commit"]);

    // Prepared before the stream started: its rows cannot be read; every table is resynced.
    h.catalog
        .register_table("shop", "t")
        .await
        .expect("registered");
    h.xa_outcome("COMMIT", "x9").await;
    assert_eq!(h.catalog.resyncs.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn dml_logged_as_a_statement_resyncs_its_table_once() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    h.route(QUERY_EVENT, &query_body("shop", "BEGIN")).await;
    let at = h
        .route(QUERY_EVENT, &query_body("shop", "UPDATE t SET v = v + 1"))
        .await;
    // Not captured: nothing to do.
    h.route(
        QUERY_EVENT,
        &query_body("shop", "DELETE FROM other.t WHERE id = 1"),
    )
    .await;
    let commit = h.xid().await;
    h.route(QUERY_EVENT, &query_body("shop", "BEGIN")).await;
    h.route(QUERY_EVENT, &query_body("shop", "INSERT INTO t VALUES (9)"))
        .await;
    h.xid().await;
    assert_eq!(
        *h.catalog.resyncs.lock().unwrap(),
        [("shop".into(), "t".into(), at)],
        "the resync not started yet covers the second statement"
    );
    // A resync that ended without starting (it failed) covers nothing later.
    h.catalog.finished.lock().unwrap().push(1);
    h.route(QUERY_EVENT, &query_body("shop", "BEGIN")).await;
    let later = h
        .route(QUERY_EVENT, &query_body("shop", "DELETE FROM t"))
        .await;
    h.xid().await;
    assert_eq!(h.catalog.resyncs.lock().unwrap().last().unwrap().2, later);
    // The commit point comes with the transaction's end, not at the statement.
    let got = h.received(0);
    assert_eq!(got.first(), Some(&Got::Commit(commit)));

    let mut stop = Harness::new(1, &format!("{CAPTURE_SHOP}statement_changes = \"stop\"\n"));
    let err = stop
        .try_route(QUERY_EVENT, &query_body("shop", "UPDATE t SET v = 1"))
        .await
        .unwrap_err();
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains("logged as a statement") && text.contains("shop.t"),
        "{text}"
    );
    assert!(text.contains("binlog_format = ROW"), "{text}");
}

#[tokio::test]
async fn drop_database_resyncs_every_table_it_had() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    for t in ["a", "b"] {
        h.catalog.register_table("shop", t).await.unwrap();
    }
    h.catalog.register_table("other", "c").await.unwrap();
    let at = h
        .route(QUERY_EVENT, &query_body("", "DROP DATABASE `shop`"))
        .await;
    let resyncs = h.catalog.resyncs.lock().unwrap().clone();
    assert_eq!(
        resyncs,
        [
            ("shop".into(), "a".into(), at.clone()),
            ("shop".into(), "b".into(), at)
        ]
    );
}

#[tokio::test]
async fn statements_and_events_of_unknown_effect_stop_unless_told() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    // Of a database without captured tables: let pass.
    h.route(QUERY_EVENT, &query_body("other", "SELECT f(1)"))
        .await;
    h.catalog.register_table("shop", "t").await.unwrap();
    let err = h
        .try_route(QUERY_EVENT, &query_body("shop", "SELECT f(1)"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cannot be worked out") && text.contains("binlog position binlog.000007:"),
        "{text}"
    );
    assert!(text.contains("capture.unknown_statements"), "{text}");

    let mut resync = Harness::new(
        1,
        &format!("{CAPTURE_SHOP}unknown_statements = \"resync\"\n"),
    );
    resync.catalog.register_table("shop", "t").await.unwrap();
    resync
        .route(QUERY_EVENT, &query_body("shop", "SELECT f(1)"))
        .await;
    assert_eq!(resync.catalog.resyncs.lock().unwrap().len(), 1);

    let mut warn = Harness::new(1, &format!("{CAPTURE_SHOP}unknown_statements = \"warn\"\n"));
    warn.catalog.register_table("shop", "t").await.unwrap();
    warn.route(QUERY_EVENT, &query_body("shop", "SELECT f(1)"))
        .await;
    assert!(warn.catalog.resyncs.lock().unwrap().is_empty());

    // Event types nobody knows, and compressed events the reader should have expanded.
    for (kind, expected) in [(200u8, "unknown type 200"), (166, "log_bin_compress")] {
        let err = h.try_route(kind, &[0; 8]).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{err}");
    }
    // Informational MariaDB events pass.
    for kind in [160u8, 161, 163] {
        h.try_route(kind, &[0; 8]).await.unwrap();
    }
}

// ---- rows HBase cannot take (`unwritable`) ------------------------------------------------

/// A dead-letter file of its own for one test.
fn dead_letter_file(h: &mut Harness, name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("m2h-router-{name}-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    h.router.dead_letter = Some(DeadLetter::open(path.to_str().unwrap()).unwrap());
    path
}

fn letters(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn not_written(table: &str, reason: &str) -> u64 {
    METRICS
        .rows_not_written
        .with_label_values(&[table, reason])
        .get()
}

#[tokio::test]
async fn a_row_updated_beyond_the_cell_limit_is_deleted_and_dead_lettered() {
    let mut h = Harness::new(1, "[capture]\ninclude = [\"huge.*\"]\n");
    h.router.cfg.hbase.max_cell_bytes = 100;
    let path = dead_letter_file(&mut h, "huge");
    let t = Table::new(81, "huge", "t", &["name"]);
    let big = "x".repeat(200);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(
        WRITE_ROWS_EVENT,
        &t.rows(false, &[(1, vec![Some("small")])]),
    )
    .await;
    h.route(
        UPDATE_ROWS_EVENT,
        &t.rows(true, &[(1, vec![Some("small")]), (1, vec![Some(&big)])]),
    )
    .await;
    let commit = h.xid().await;
    let put_small = Got::Put {
        table: "huge_t".into(),
        key: "1".into(),
        cells: vec![
            ("d:id".into(), Some("1".into())),
            ("d:name".into(), Some("small".into())),
        ],
        version: AT,
    };
    // The old image does not stay current: the key is deleted, in stream order.
    assert_eq!(
        h.received(0),
        [
            put_small,
            Got::Delete {
                key: "1".into(),
                version: AT
            },
            Got::Commit(commit)
        ]
    );
    let records = letters(&path);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(
        (r["table"].as_str(), r["type"].as_str(), r["key"].as_str()),
        (Some("huge.t"), Some("update"), Some("1"))
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("over hbase.max_cell_bytes = 100"),
        "{r}"
    );
    assert_eq!(r["after"]["name"].as_str(), Some(big.as_str()));
    assert_eq!(not_written("huge.t", "cell_too_large"), 1);

    // Without a dead-letter output: deleted as well (and logged), the stream goes on.
    h.router.dead_letter = None;
    h.route(WRITE_ROWS_EVENT, &t.rows(false, &[(2, vec![Some(&big)])]))
        .await;
    assert_eq!(
        h.received(0),
        [Got::Delete {
            key: "2".into(),
            version: AT
        }]
    );
    assert_eq!(not_written("huge.t", "cell_too_large"), 2);
}

#[tokio::test]
async fn a_row_key_set_to_null_deletes_the_old_key_when_dead_lettered() {
    let mut h = Harness::new(
        1,
        "[capture]\ninclude = [\"nullkey.*\"]\n[[mapping.tables]]\nsource = \"nullkey.t\"\nrow_key = [\"name\"]\n",
    );
    let path = dead_letter_file(&mut h, "nullkey");
    let t = Table::new(82, "nullkey", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(
        UPDATE_ROWS_EVENT,
        &t.rows(true, &[(1, vec![Some("a")]), (1, vec![None])]),
    )
    .await;
    let commit = h.xid().await;
    assert_eq!(
        h.received(0),
        [
            Got::Delete {
                key: "a".into(),
                version: AT
            },
            Got::Commit(commit)
        ]
    );
    let records = letters(&path);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["key"].as_str(), Some("a"));
    assert_eq!(
        records[0]["reason"].as_str(),
        Some("a row has NULL in a row-key column")
    );
    assert_eq!(not_written("nullkey.t", "null_row_key"), 1);
}

#[tokio::test]
async fn a_chunk_row_beyond_the_cell_limit_is_deleted_and_the_chunk_completes() {
    let mut h = Harness::new(1, "[capture]\ninclude = [\"hugechunk.*\"]\n");
    h.router.cfg.hbase.max_cell_bytes = 100;
    let path = dead_letter_file(&mut h, "hugechunk");
    let schema = TableSchema {
        database: "hugechunk".into(),
        table: "t".into(),
        columns: ["id", "name"]
            .iter()
            .map(|n| crate::model::ColumnSchema {
                name: n.to_string(),
                column_type: mysql_common::constants::ColumnType::MYSQL_TYPE_VARCHAR,
                meta: vec![],
                unsigned: false,
                collation: Some(45),
                enum_values: vec![],
                set_values: vec![],
            })
            .collect(),
        primary_key: vec![0],
    };
    let text = |s: &str| SqlValue::Text(s.into());
    h.track(9, "hugechunk", "t").await;
    let (written, written_rx) = tokio::sync::oneshot::channel();
    let at = h.binlog.end.clone();
    h.router
        .handover(HandoverRequest::Chunk(SnapshotChunk {
            job_id: 9,
            source: "hugechunk.t".into(),
            low: at.clone(),
            ready_at: at.clone(),
            prune_to: Some(at),
            rows: ChunkRows::Images {
                schema: Arc::new(schema),
                rows: vec![
                    vec![text("1"), text("fits")],
                    vec![text("2"), text(&"x".repeat(200))],
                    vec![text("3"), text("fits too")],
                ],
            },
            written,
        }))
        .await
        .unwrap();
    let mut ops = Vec::new();
    while let Ok(msg) = h.sinks[0].try_recv() {
        match msg {
            SinkMsg::Items { items, .. } => ops.extend(items.into_iter().map(|c| {
                let kind = match c.op {
                    RowOp::Replace(_) => "replace",
                    RowOp::Delete => "delete",
                    RowOp::Put(_) => "put",
                };
                (String::from_utf8(c.key).unwrap(), kind)
            })),
            SinkMsg::Barrier(barrier) => {
                ops.push(("barrier".into(), "barrier"));
                barrier.arrive();
            }
            SinkMsg::Commit(_) => panic!("no commit"),
        }
    }
    assert_eq!(
        ops,
        [
            ("1".to_string(), "replace"),
            ("2".to_string(), "delete"),
            ("3".to_string(), "replace"),
            ("barrier".to_string(), "barrier")
        ]
    );
    written_rx.await.expect("the chunk completes");
    // Recorded (and flushed) before the barrier.
    let records = letters(&path);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0]["type"].as_str(), records[0]["key"].as_str()),
        (Some("bootstrap-insert"), Some("2"))
    );
    assert_eq!(not_written("hugechunk.t", "cell_too_large"), 1);
}

#[tokio::test]
async fn an_undecodable_row_deletes_its_key_when_dead_lettered_and_stops_otherwise() {
    let mut h = Harness::new(1, "[capture]\ninclude = [\"undec.*\"]\n");
    let path = dead_letter_file(&mut h, "undec");
    let t = Table::new(83, "undec", "t", &["name"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    // `name` in a character set the decoder does not know (dec8): its values do not decode,
    // the key column does.
    let entry = h.router.tables.get_mut(&83).unwrap();
    let Route::Captured(mapping) = &entry.route else {
        panic!("captured")
    };
    let mut mapping = (**mapping).clone();
    let mut schema = (*mapping.schema).clone();
    schema.columns[1].collation = Some(3);
    mapping.schema = Arc::new(schema);
    entry.route = Route::Captured(Arc::new(mapping));
    let update = t.rows(true, &[(1, vec![Some("a")]), (1, vec![Some("b")])]);
    h.route(UPDATE_ROWS_EVENT, &update).await;
    let commit = h.xid().await;
    assert_eq!(
        h.received(0),
        [
            Got::Delete {
                key: "1".into(),
                version: AT
            },
            Got::Commit(commit)
        ]
    );
    let records = letters(&path);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (records[0]["type"].as_str(), records[0]["key"].as_str()),
        (Some("undecodable"), Some("1"))
    );
    assert!(records[0]["reason"]
        .as_str()
        .unwrap()
        .contains("cannot be decoded"));
    assert_eq!(not_written("undec.t", "undecodable"), 1);

    // Without a dead-letter output: a definite error, as before.
    h.router.dead_letter = None;
    let (event, position) = h.binlog.event(UPDATE_ROWS_EVENT, &update);
    let err = h.router.route(&event, &position).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("a row cannot be decoded"), "{err}");
    assert!(h.received(0).is_empty());
}

/// `shop.t` as `information_schema` describes it: `id INT`, then VARCHAR columns.
fn described(texts: &[&str]) -> TableSchema {
    use mysql_common::constants::ColumnType;
    let column = |name: &str, column_type, collation| crate::model::ColumnSchema {
        name: name.into(),
        column_type,
        meta: vec![],
        unsigned: false,
        collation,
        enum_values: vec![],
        set_values: vec![],
    };
    let mut columns = vec![column("id", ColumnType::MYSQL_TYPE_LONG, None)];
    for t in texts {
        columns.push(column(t, ColumnType::MYSQL_TYPE_VARCHAR, Some(45)));
    }
    TableSchema {
        database: "shop".into(),
        table: "t".into(),
        columns,
        primary_key: vec![0],
    }
}

#[tokio::test]
async fn without_column_names_rows_are_read_with_the_schema_of_their_position() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    let before = Table::new(80, "shop", "t", &["name"]);
    let after = Table::new(81, "shop", "t", &["a", "name"]);
    // Catching up: information_schema already shows the column a DDL further on adds, and
    // the binlog's head is far ahead.
    let head = BinlogPosition::new("binlog.000009", 4).unwrap();
    *h.catalog.now.lock().unwrap() = Some((described(&["a", "name"]), head.clone()));

    let first = h
        .route(TABLE_MAP_EVENT, &before.table_map_without_names())
        .await;
    h.route(
        WRITE_ROWS_EVENT,
        &before.rows(false, &[(1, vec![Some("x")])]),
    )
    .await;
    h.xid().await;
    // Not decoded with today's schema: the table is resynced from there instead.
    assert_eq!(
        *h.catalog.resyncs.lock().unwrap(),
        [("shop".to_string(), "t".to_string(), first.clone())]
    );
    assert!(
        !h.received(0).iter().any(|g| matches!(g, Got::Put { .. })),
        "a row decoded with a schema not its own"
    );
    assert_eq!(h.catalog.history.lock().unwrap()[0].at, first);

    // The DDL: the resync not started yet covers it; the schema after it is recorded.
    let ddl = h
        .route(
            QUERY_EVENT,
            &query_body("shop", "ALTER TABLE t ADD COLUMN a VARCHAR(64) AFTER id"),
        )
        .await;
    assert_eq!(h.catalog.resyncs.lock().unwrap().len(), 1);
    let history = h.catalog.history.lock().unwrap().clone();
    assert_eq!(history.len(), 2);
    assert_eq!((&history[1].at, &history[1].read_at), (&ddl, &head));

    // After it, rows decode with the recorded names.
    h.route(TABLE_MAP_EVENT, &after.table_map_without_names())
        .await;
    h.route(
        WRITE_ROWS_EVENT,
        &after.rows(false, &[(2, vec![Some("p"), Some("q")])]),
    )
    .await;
    h.xid().await;
    assert!(h.received(0).contains(&put(
        "2",
        &[
            ("d:id", Some("2")),
            ("d:a", Some("p")),
            ("d:name", Some("q"))
        ]
    )));

    // Past the head the schema was read at, a TABLE_MAP that does not match it means a DDL
    // the router did not see: a definite error naming the table.
    h.binlog.end = BinlogPosition::new("binlog.000010", 4).unwrap();
    h.router.tables.clear();
    let (event, position) = h
        .binlog
        .event(TABLE_MAP_EVENT, &before.table_map_without_names());
    let err = h.router.route(&event, &position).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(err.to_string().contains("shop.t"), "{err}");
}

#[tokio::test]
async fn an_alter_that_changes_some_columns_backfills_just_those() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    let t = Table::new(82, "shop", "t", &["name", "old"]);
    h.route(TABLE_MAP_EVENT, &t.table_map()).await;
    h.route(
        WRITE_ROWS_EVENT,
        &t.rows(false, &[(1, vec![Some("x"), Some("o")])]),
    )
    .await;
    h.xid().await;
    let head = BinlogPosition::new("binlog.000007", 1_000_000).unwrap();
    *h.catalog.now.lock().unwrap() = Some((described(&["name", "a"]), head));
    let ddl = h
        .route(
            QUERY_EVENT,
            &query_body(
                "shop",
                "ALTER TABLE t ADD COLUMN a VARCHAR(64), DROP COLUMN old",
            ),
        )
        .await;
    assert!(h.catalog.resyncs.lock().unwrap().is_empty());
    assert_eq!(
        *h.catalog.backfills.lock().unwrap(),
        [(
            "shop.t".to_string(),
            ddl,
            ColumnChange {
                put: vec!["a".into()],
                cleared: vec!["old".into()]
            }
        )]
    );
    // Another DDL while that backfill may still run: the whole table, to be exact.
    let second = h
        .route(
            QUERY_EVENT,
            &query_body("shop", "ALTER TABLE t MODIFY COLUMN a VARCHAR(80)"),
        )
        .await;
    assert_eq!(
        *h.catalog.resyncs.lock().unwrap(),
        [("shop".to_string(), "t".to_string(), second)]
    );
    assert_eq!(h.catalog.backfills.lock().unwrap().len(), 1);
}

/// Joined tables: a child's changes are puts of exactly its cells at its place in the
/// parent's row (a move deletes them at the old place), and a parent's delete deletes its own
/// family and those of `delete_children` tables.
#[tokio::test]
async fn joined_rows_change_exactly_their_cells_in_the_parents_row() {
    let mut h = Harness::new(
        1,
        &format!(
            "{CAPTURE_SHOP}[[mapping.tables]]\nsource = \"shop.items\"\ntable = \"shop_orders\"\nrow_key = [\"order_id\"]\nfamily = \"items\"\nqualifier = \"{{id}}:{{column}}\"\non_parent_delete = \"delete_children\"\n"
        ),
    );
    let items = Table::new(80, "shop", "items", &["order_id", "sku"]);
    let orders = Table::new(81, "shop", "orders", &["customer"]);
    h.route(TABLE_MAP_EVENT, &items.table_map()).await;
    h.route(
        WRITE_ROWS_EVENT,
        &items.rows(false, &[(10, vec![Some("1"), None])]),
    )
    .await;
    h.route(
        UPDATE_ROWS_EVENT,
        &items.rows(
            true,
            &[
                (10, vec![Some("1"), None]),
                (10, vec![Some("2"), Some("a")]),
            ],
        ),
    )
    .await;
    h.route(
        DELETE_ROWS_EVENT,
        &items.rows(false, &[(10, vec![Some("2"), Some("a")])]),
    )
    .await;
    h.route(TABLE_MAP_EVENT, &orders.table_map()).await;
    h.route(
        DELETE_ROWS_EVENT,
        &orders.rows(false, &[(1, vec![Some("ada")])]),
    )
    .await;
    h.xid().await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut got = Vec::new();
    while let Ok(msg) = h.sinks[0].try_recv() {
        if let SinkMsg::Items { items, .. } = msg {
            for c in items {
                let op = match &c.op {
                    RowOp::Put(cells) => cells
                        .iter()
                        .map(|cell| {
                            format!(
                                "{}={}",
                                text(&cell.column),
                                cell.value.as_deref().map_or("-".into(), text)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    RowOp::Delete => "family delete".into(),
                    RowOp::Replace(_) => panic!("no replace for a joined row: {c:?}"),
                };
                let member = c.member.as_deref().map_or("none".into(), text);
                got.push(format!(
                    "{} {} {} [{member}] {op}",
                    c.table,
                    text(&c.key),
                    c.family
                ));
            }
        }
    }
    assert_eq!(
        got,
        [
            "shop_orders 1 items [10:] items:10:id=10 items:10:order_id=1 items:10:sku=-",
            // The move: its cells go in the old row, are written in the new.
            "shop_orders 1 items [10:] items:10:id=- items:10:order_id=- items:10:sku=-",
            "shop_orders 2 items [10:] items:10:id=10 items:10:order_id=2 items:10:sku=a",
            "shop_orders 2 items [10:] items:10:id=- items:10:order_id=- items:10:sku=-",
            "shop_orders 1 items [none] family delete",
            "shop_orders 1 d [none] family delete",
        ]
    );
}

/// A parent deleted with `delete_children` while a copy of the child runs: the child rows of
/// that parent's HBase row read before the delete are not written back (their own cascaded
/// deletes are not in the binlog, only the parent's).
#[tokio::test]
async fn a_copy_does_not_bring_back_children_deleted_with_their_parent() {
    let mut h = Harness::new(
        1,
        &format!(
            "{CAPTURE_SHOP}[[mapping.tables]]\nsource = \"shop.items\"\ntable = \"shop_orders\"\nrow_key = [\"order_id\"]\nfamily = \"items\"\nqualifier = \"{{id}}:{{column}}\"\non_parent_delete = \"delete_children\"\n"
        ),
    );
    h.track(5, "shop", "items").await;
    let low = h.binlog.end.clone();
    let orders = Table::new(81, "shop", "orders", &["customer"]);
    h.route(TABLE_MAP_EVENT, &orders.table_map()).await;
    h.route(
        DELETE_ROWS_EVENT,
        &orders.rows(false, &[(1, vec![Some("ada")])]),
    )
    .await;
    h.xid().await;
    while h.sinks[0].try_recv().is_ok() {}
    let schema = described(&["order_id", "sku"]);
    let schema = TableSchema {
        database: "shop".into(),
        table: "items".into(),
        ..schema
    };
    let text = |s: &str| SqlValue::Text(s.into());
    let (written, _written_rx) = tokio::sync::oneshot::channel();
    h.router
        .handover(HandoverRequest::Chunk(SnapshotChunk {
            job_id: 5,
            source: "shop.items".into(),
            low: low.clone(),
            ready_at: h.binlog.end.clone(),
            prune_to: Some(low),
            rows: ChunkRows::Images {
                schema: Arc::new(schema),
                rows: vec![
                    vec![text("10"), text("1"), text("gone with order 1")],
                    vec![text("11"), text("2"), text("order 2 stays")],
                ],
            },
            written,
        }))
        .await
        .unwrap();
    let mut written_rows = Vec::new();
    while let Ok(msg) = h.sinks[0].try_recv() {
        if let SinkMsg::Items { items, .. } = msg {
            written_rows.extend(items.into_iter().map(|c| {
                let member = c
                    .member
                    .as_deref()
                    .map(|m| String::from_utf8_lossy(m).into_owned());
                (String::from_utf8(c.key).unwrap(), member)
            }));
        }
    }
    assert_eq!(written_rows, [("2".to_string(), Some("11:".to_string()))]);
}

/// Two readers of one job: reader A's chunk is read after a change of row 1, reader B's chunk
/// (row 1 among its rows) before it but handed over after A's. A's chunk carries the lower of
/// the two readers' positions as its prune-to, so the change is still remembered when B's
/// chunk comes: B's stale copy of row 1 is not written (the stream wrote row 1 itself).
#[tokio::test]
async fn a_chunk_read_before_another_readers_is_still_judged_by_every_later_change() {
    let mut h = Harness::new(1, CAPTURE_SHOP);
    h.track(6, "shop", "orders").await;
    let low_b = h.binlog.end.clone();
    let orders = Table::new(81, "shop", "orders", &["customer"]);
    h.route(TABLE_MAP_EVENT, &orders.table_map()).await;
    h.route(
        UPDATE_ROWS_EVENT,
        &orders.rows(true, &[(1, vec![Some("ada")]), (1, vec![Some("bea")])]),
    )
    .await;
    h.xid().await;
    let low_a = h.binlog.end.clone();
    while h.sinks[0].try_recv().is_ok() {}
    let schema = Arc::new(TableSchema {
        database: "shop".into(),
        table: "orders".into(),
        ..described(&["customer"])
    });
    let text = |s: &str| SqlValue::Text(s.into());
    let mut receivers = Vec::new();
    for (low, rows) in [
        (low_a.clone(), vec![vec![text("2"), text("cy")]]),
        (
            low_b.clone(),
            vec![vec![text("1"), text("ada")], vec![text("3"), text("di")]],
        ),
    ] {
        let (written, rx) = tokio::sync::oneshot::channel();
        receivers.push(rx);
        h.router
            .handover(HandoverRequest::Chunk(SnapshotChunk {
                job_id: 6,
                source: "shop.orders".into(),
                low,
                ready_at: low_a.clone(),
                // The lowest position of the readers still reading: B's.
                prune_to: Some(low_b.clone()),
                rows: ChunkRows::Images {
                    schema: schema.clone(),
                    rows,
                },
                written,
            }))
            .await
            .unwrap();
    }
    let mut keys = Vec::new();
    while let Ok(msg) = h.sinks[0].try_recv() {
        if let SinkMsg::Items { items, .. } = msg {
            keys.extend(items.into_iter().map(|c| String::from_utf8(c.key).unwrap()));
        }
    }
    assert_eq!(keys, ["2", "3"]);
}
