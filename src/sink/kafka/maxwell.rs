//! Change events in Maxwell's JSON format, so existing Maxwell consumers read our topic unchanged.
//!
//! One message per row change:
//!
//! ```text
//! key:   {"database":"shop","table":"orders","pk.id":7}
//! value: {"database":"shop","table":"orders","type":"update","ts":1700000000,"xid":4242,
//!         "commit":true,"position":"mysql-bin.000003:1234","primary_key":[7],
//!         "primary_key_columns":["id"],"data":{"id":7,"qty":2},"old":{"qty":1}}
//! ```
//!
//! Field order, names and presence follow Maxwell's `RowMap.toJSON`: `commit` appears only (as
//! `true`) on the last row of a transaction, `xid` only when the transaction ended with an XID
//! event, `position` and `primary_key(_columns)` only when configured, `old` only on updates and
//! only with the columns that changed. Deletes carry the deleted row in `data`. A primary-key
//! change is one `update` whose `old` holds the old key, keyed by the new key (as Maxwell does).
//!
//! Values are rendered as Maxwell renders them: integers as JSON integers (unsigned 64-bit too),
//! DECIMAL as a JSON number written with its exact digits and scale, FLOAT/DOUBLE as numbers,
//! DATE `YYYY-MM-DD`, DATETIME/TIMESTAMP `YYYY-MM-DD HH:MM:SS[.ffffff]` with as many fraction
//! digits as the column declares (TIMESTAMP in UTC), TIME as a string, YEAR and BIT as integers,
//! ENUM as its label, SET as an array of labels in definition order, JSON embedded as a JSON
//! value (on MariaDB, whose JSON is LONGTEXT, for columns with a `json_valid` check), GEOMETRY
//! as WKT text (`POINT (1 2)`, see `sink::wkt`), binary strings base64, NULL as null.
//!
//! The message key is Maxwell's `hash` key: database, table and `pk.<column>` (lower-cased
//! names) with the row's key values, so one row always lands in one partition (the producer uses
//! murmur2, like Java clients). A table without a primary key gets a random `_uuid`, as in
//! Maxwell.

use std::collections::{HashSet, VecDeque};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use base64::Engine as _;

use mysql_common::constants::ColumnType;

use crate::model::{SqlValue, TableSchema};
use crate::sink::kafka::wkt;

/// What goes into every event besides the row.
#[derive(Debug, Clone, Default)]
pub struct EventOptions {
    pub include_position: bool,
    pub include_primary_key: bool,
}

/// How a column's values are written beyond what their type says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Rendering {
    Plain,
    /// Text holding JSON (MariaDB's JSON type): embedded as a JSON value.
    Json,
    /// MySQL geometry bytes: WKT text, as Maxwell writes them.
    Geometry,
}

/// A table's rendering plan, built once per schema.
#[derive(Debug)]
pub struct EventTable {
    pub topic: Arc<str>,
    /// `"database":"..","table":".."`, escaped.
    ident: String,
    /// Column names as escaped JSON strings, and how their values are written.
    columns: Vec<(String, Rendering)>,
    primary_key: Vec<usize>,
    /// `"pk.<lower-cased name>"` per key column, escaped.
    key_fields: Vec<String>,
    /// Columns left out of every event (`capture.exclude_columns`).
    excluded: Vec<bool>,
}

impl EventTable {
    /// `topic_template` has `{db}` and `{table}` placeholders; `json_columns` names the text
    /// columns to embed as JSON (MariaDB's JSON type).
    pub fn new(schema: &TableSchema, topic_template: &str, json_columns: &HashSet<String>) -> Self {
        let topic = topic_template
            .replace("{db}", &schema.database)
            .replace("{table}", &schema.table);
        EventTable {
            topic: Arc::from(topic),
            ident: format!(
                "\"database\":{},\"table\":{}",
                json_string(&schema.database),
                json_string(&schema.table)
            ),
            columns: schema
                .columns
                .iter()
                .map(|c| {
                    let rendering = if json_columns.contains(&c.name) {
                        Rendering::Json
                    } else if c.column_type == ColumnType::MYSQL_TYPE_GEOMETRY {
                        Rendering::Geometry
                    } else {
                        Rendering::Plain
                    };
                    (json_string(&c.name), rendering)
                })
                .collect(),
            primary_key: schema.primary_key.clone(),
            key_fields: schema
                .primary_key
                .iter()
                .map(|&i| json_string(&format!("pk.{}", schema.columns[i].name.to_lowercase())))
                .collect(),
            excluded: vec![false; schema.columns.len()],
        }
    }

    /// Leaves the columns `excluded` names out of every event, key fields included.
    pub fn without(mut self, schema: &TableSchema, excluded: impl Fn(&str) -> bool) -> Self {
        self.excluded = schema.columns.iter().map(|c| excluded(&c.name)).collect();
        let kept: Vec<(usize, String)> = self
            .primary_key
            .iter()
            .zip(&self.key_fields)
            .filter(|(&i, _)| !self.excluded[i])
            .map(|(&i, f)| (i, f.clone()))
            .collect();
        self.primary_key = kept.iter().map(|(i, _)| *i).collect();
        self.key_fields = kept.into_iter().map(|(_, f)| f).collect();
        self
    }
}

/// Maxwell's event types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Insert,
    Update,
    Delete,
    BootstrapStart,
    BootstrapInsert,
    BootstrapComplete,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Insert => "insert",
            EventType::Update => "update",
            EventType::Delete => "delete",
            EventType::BootstrapStart => "bootstrap-start",
            EventType::BootstrapInsert => "bootstrap-insert",
            EventType::BootstrapComplete => "bootstrap-complete",
        }
    }
}

/// One rendered message, waiting for its transaction's `xid` and `commit`.
#[derive(Debug, Clone, PartialEq)]
pub struct RowEvent {
    pub topic: Arc<str>,
    pub key: String,
    /// `{"database":..,"table":..,"type":..,"ts":..`
    head: String,
    /// `,"position":..,"primary_key":..,"data":{..},"old":{..}}`
    tail: String,
    pub xid: Option<u64>,
    pub commit: bool,
}

impl RowEvent {
    /// The message value.
    pub fn payload(&self) -> String {
        let mut s = String::with_capacity(self.head.len() + self.tail.len() + 40);
        s.push_str(&self.head);
        if let Some(xid) = self.xid {
            let _ = write!(s, ",\"xid\":{xid}");
        }
        if self.commit {
            s.push_str(",\"commit\":true");
        }
        s.push_str(&self.tail);
        s
    }

    /// Bytes held, for memory accounting.
    pub fn size(&self) -> usize {
        self.topic.len() + self.key.len() + self.head.len() + self.tail.len() + 64
    }

    /// The parts a spill file stores: topic, key, head, tail.
    fn parts(&self) -> [&str; 4] {
        [&self.topic, &self.key, &self.head, &self.tail]
    }

    fn from_parts(topic: Arc<str>, key: String, head: String, tail: String) -> Self {
        RowEvent {
            topic,
            key,
            head,
            tail,
            xid: None,
            commit: false,
        }
    }
}

/// Renders one row change. `before`/`after` are full row images in column order; an update has
/// both, an insert only `after`, a delete only `before`; bootstrap markers have neither.
pub fn row_event(
    table: &EventTable,
    kind: EventType,
    ts: u64,
    position: Option<&str>,
    opts: &EventOptions,
    before: Option<&[SqlValue]>,
    after: Option<&[SqlValue]>,
) -> RowEvent {
    let data = after.or(before);
    let mut head = String::with_capacity(96);
    let _ = write!(
        head,
        "{{{},\"type\":\"{}\",\"ts\":{ts}",
        table.ident,
        kind.as_str()
    );

    let mut tail = String::with_capacity(256);
    if let (true, Some(p)) = (opts.include_position, position) {
        tail.push_str(",\"position\":");
        tail.push_str(&json_string(p));
    }
    // A key column's value (null in bootstrap markers, which carry no row).
    let key_value = |out: &mut String, i: usize| {
        push_value(
            out,
            data.map_or(&SqlValue::Null, |d| &d[i]),
            table.columns[i].1,
        )
    };
    if opts.include_primary_key {
        tail.push_str(",\"primary_key\":");
        push_array(&mut tail, &table.primary_key, |out, &i| key_value(out, i));
        tail.push_str(",\"primary_key_columns\":");
        push_array(&mut tail, &table.primary_key, |out, &i| {
            out.push_str(&table.columns[i].0)
        });
    }
    tail.push_str(",\"data\":{");
    if let Some(values) = data {
        push_fields(&mut tail, table, values, |_| true);
    }
    tail.push('}');
    if let (Some(old), Some(new)) = (before, after) {
        let changed = |i: usize| old[i] != new[i] && !table.excluded[i];
        if (0..old.len().min(new.len())).any(changed) {
            tail.push_str(",\"old\":{");
            push_fields(&mut tail, table, old, changed);
            tail.push('}');
        }
    }
    tail.push('}');

    let mut key = String::with_capacity(64);
    key.push('{');
    key.push_str(&table.ident);
    if table.primary_key.is_empty() {
        let _ = write!(key, ",\"_uuid\":\"{}\"", uuid::Uuid::new_v4());
    } else {
        for (field, &i) in table.key_fields.iter().zip(&table.primary_key) {
            key.push(',');
            key.push_str(field);
            key.push(':');
            key_value(&mut key, i);
        }
    }
    key.push('}');

    RowEvent {
        topic: table.topic.clone(),
        key,
        head,
        tail,
        xid: None,
        commit: false,
    }
}

fn push_fields(
    out: &mut String,
    table: &EventTable,
    values: &[SqlValue],
    keep: impl Fn(usize) -> bool,
) {
    let mut first = true;
    for (i, ((name, rendering), value)) in table.columns.iter().zip(values).enumerate() {
        if !keep(i) || table.excluded[i] {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(name);
        out.push(':');
        push_value(out, value, *rendering);
    }
}

/// Appends one value as Maxwell renders it (see the module doc).
pub fn push_value(out: &mut String, value: &SqlValue, rendering: Rendering) {
    match value {
        SqlValue::Null => out.push_str("null"),
        SqlValue::Int(i) => {
            let _ = write!(out, "{i}");
        }
        SqlValue::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        SqlValue::Year(y) => {
            let _ = write!(out, "{y}");
        }
        SqlValue::Float(_) | SqlValue::Double(_) => {
            let finite = match value {
                SqlValue::Float(f) => f.is_finite(),
                SqlValue::Double(d) => d.is_finite(),
                _ => unreachable!(),
            };
            match value.to_text().filter(|_| finite) {
                Some(text) => out.push_str(&String::from_utf8_lossy(&text)),
                None => out.push_str("null"),
            }
        }
        // The exact digits, scale kept: `1.50` stays `1.50`.
        SqlValue::Decimal(d) => out.push_str(d),
        SqlValue::Bit(bytes) => {
            let n = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
            let _ = write!(out, "{n}");
        }
        SqlValue::Bytes(b) if rendering == Rendering::Geometry => {
            match wkt::mysql_geometry_wkt(b) {
                Some(text) => out.push_str(&json_string(&text)),
                // Not valid WKB (it came from MySQL, so this is not expected): the bytes, unchanged.
                None => push_value(out, value, Rendering::Plain),
            }
        }
        SqlValue::Bytes(b) => {
            out.push('"');
            out.push_str(&base64::engine::general_purpose::STANDARD.encode(b));
            out.push('"');
        }
        SqlValue::Enum { label, .. } => out.push_str(&json_string(label)),
        SqlValue::Set(labels) => push_array(out, labels, |out, l| out.push_str(&json_string(l))),
        SqlValue::Json(text) => push_json_text(out, text),
        SqlValue::Text(text) if rendering == Rendering::Json => push_json_text(out, text),
        SqlValue::Text(text) => out.push_str(&json_string(text)),
        // Dates and times: the text MySQL shows (fraction digits as declared).
        other => {
            let text = other.to_text().unwrap_or_default();
            out.push_str(&json_string(&String::from_utf8_lossy(&text)));
        }
    }
}

/// `[a,b,...]` with each item written by `push`.
fn push_array<T>(out: &mut String, items: &[T], mut push: impl FnMut(&mut String, &T)) {
    out.push('[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        push(out, item);
    }
    out.push(']');
}

/// JSON documents are embedded; text that is not valid JSON stays a string (nothing is lost).
fn push_json_text(out: &mut String, text: &str) {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(v) => out.push_str(&v.to_string()),
        Err(_) => out.push_str(&json_string(text)),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

/// A transaction's events until its end, when Maxwell's `xid` and `commit` are known: in memory
/// up to `memory_limit` bytes, the rest in an unnamed temporary file, so a transaction of any
/// size holds bounded memory.
pub struct TransactionBuffer {
    memory: VecDeque<RowEvent>,
    memory_bytes: usize,
    memory_limit: usize,
    spill: Option<Spill>,
    /// Events pushed and not yet taken.
    len: usize,
}

struct Spill {
    writer: Option<BufWriter<File>>,
    reader: Option<BufReader<File>>,
    topics: Vec<Arc<str>>,
}

impl TransactionBuffer {
    pub fn new(memory_limit: usize) -> Self {
        TransactionBuffer {
            memory: VecDeque::new(),
            memory_bytes: 0,
            memory_limit,
            spill: None,
            len: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, event: RowEvent) -> std::io::Result<()> {
        self.len += 1;
        if self.spill.is_none() && self.memory_bytes + event.size() <= self.memory_limit {
            self.memory_bytes += event.size();
            self.memory.push_back(event);
            return Ok(());
        }
        if self.spill.is_none() {
            self.spill = Some(Spill {
                writer: Some(BufWriter::new(tempfile::tempfile()?)),
                reader: None,
                topics: Vec::new(),
            });
        }
        let spill = self.spill.as_mut().expect("created above");
        let topic = match spill.topics.iter().position(|t| *t == event.topic) {
            Some(i) => i,
            None => {
                spill.topics.push(event.topic.clone());
                spill.topics.len() - 1
            }
        };
        let w = spill.writer.as_mut().expect("writing until the first take");
        w.write_all(&(topic as u32).to_be_bytes())?;
        for part in &event.parts()[1..] {
            w.write_all(&(part.len() as u32).to_be_bytes())?;
            w.write_all(part.as_bytes())?;
        }
        Ok(())
    }

    /// Up to `max` events in order, stamped with `xid`; the transaction's last event carries
    /// `commit`. Call until empty; nothing may be pushed in between.
    pub fn take(&mut self, max: usize, xid: Option<u64>) -> std::io::Result<Vec<RowEvent>> {
        let mut out = Vec::with_capacity(max.min(self.len));
        while out.len() < max && self.len > 0 {
            let mut event = match self.memory.pop_front() {
                Some(e) => {
                    self.memory_bytes -= e.size();
                    e
                }
                None => self.read_spilled()?,
            };
            self.len -= 1;
            event.xid = xid;
            event.commit = self.len == 0;
            out.push(event);
        }
        if self.len == 0 {
            self.spill = None;
        }
        Ok(out)
    }

    fn read_spilled(&mut self) -> std::io::Result<RowEvent> {
        let spill = self.spill.as_mut().ok_or_else(|| {
            std::io::Error::other("transaction buffer: event count and contents disagree")
        })?;
        if let Some(w) = spill.writer.take() {
            let mut file = w.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(0))?;
            spill.reader = Some(BufReader::new(file));
        }
        let r = spill.reader.as_mut().expect("reader set above");
        let mut n = [0u8; 4];
        r.read_exact(&mut n)?;
        let topic = spill.topics[u32::from_be_bytes(n) as usize].clone();
        let mut parts = [String::new(), String::new(), String::new()];
        for part in &mut parts {
            r.read_exact(&mut n)?;
            let mut bytes = vec![0; u32::from_be_bytes(n) as usize];
            r.read_exact(&mut bytes)?;
            *part = String::from_utf8(bytes).map_err(std::io::Error::other)?;
        }
        let [key, head, tail] = parts;
        Ok(RowEvent::from_parts(topic, key, head, tail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ColumnSchema;
    use mysql_common::constants::ColumnType;

    fn schema(pk: Vec<usize>) -> TableSchema {
        let col = |name: &str| ColumnSchema {
            name: name.into(),
            column_type: ColumnType::MYSQL_TYPE_LONG,
            meta: vec![],
            unsigned: false,
            collation: None,
            enum_values: vec![],
            set_values: vec![],
        };
        TableSchema {
            database: "shop".into(),
            table: "orders".into(),
            columns: vec![col("ID"), col("qty"), col("doc")],
            primary_key: pk,
        }
    }

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn update_has_old_with_changed_columns_only_and_maxwell_key() {
        let json_cols = HashSet::from(["doc".to_string()]);
        let t = EventTable::new(&schema(vec![0]), "{db}.{table}", &json_cols);
        let before = [
            SqlValue::Int(7),
            SqlValue::Int(1),
            SqlValue::Text("{\"a\": 1}".into()),
        ];
        let after = [
            SqlValue::Int(7),
            SqlValue::Int(2),
            SqlValue::Text("{\"a\": 1}".into()),
        ];
        let mut e = row_event(
            &t,
            EventType::Update,
            1_700_000_000,
            Some("mysql-bin.000003:1234"),
            &EventOptions::default(),
            Some(&before),
            Some(&after),
        );
        e.xid = Some(42);
        e.commit = true;
        assert_eq!(&*e.topic, "shop.orders");
        assert_eq!(e.key, r#"{"database":"shop","table":"orders","pk.id":7}"#);
        assert_eq!(
            e.payload(),
            r#"{"database":"shop","table":"orders","type":"update","ts":1700000000,"xid":42,"commit":true,"data":{"ID":7,"qty":2,"doc":{"a":1}},"old":{"qty":1}}"#
        );
    }

    #[test]
    fn excluded_columns_are_in_no_part_of_an_event() {
        let s = schema(vec![0, 1]);
        let t = EventTable::new(&s, "cdc", &HashSet::new()).without(&s, |c| c != "ID");
        let before = [
            SqlValue::Int(1),
            SqlValue::Int(5),
            SqlValue::Text("x".into()),
        ];
        let after = [
            SqlValue::Int(1),
            SqlValue::Int(6),
            SqlValue::Text("y".into()),
        ];
        let opts = EventOptions {
            include_position: false,
            include_primary_key: true,
        };
        let e = row_event(
            &t,
            EventType::Update,
            9,
            None,
            &opts,
            Some(&before),
            Some(&after),
        );
        let text = format!("{} {}", e.key, e.payload());
        for secret in ["qty", "doc", "\"x\"", "\"y\"", ":5", ":6"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        let v = parse(&e.payload());
        assert_eq!(v["data"], serde_json::json!({"ID": 1}));
        assert_eq!(v["primary_key"], serde_json::json!([1]));
        assert!(v.get("old").is_none(), "only excluded columns changed: {v}");
    }

    #[test]
    fn commit_is_absent_until_the_last_row_and_options_add_fields() {
        let t = EventTable::new(&schema(vec![0, 1]), "cdc", &HashSet::new());
        let row = [SqlValue::Int(1), SqlValue::Int(5), SqlValue::Null];
        let opts = EventOptions {
            include_position: true,
            include_primary_key: true,
        };
        let mut e = row_event(
            &t,
            EventType::Delete,
            9,
            Some("b.000001:4"),
            &opts,
            Some(&row),
            None,
        );
        e.xid = Some(3);
        let v = parse(&e.payload());
        assert_eq!(v["type"], "delete");
        assert!(v.get("commit").is_none());
        assert_eq!(v["position"], "b.000001:4");
        assert_eq!(v["primary_key"], serde_json::json!([1, 5]));
        assert_eq!(v["primary_key_columns"], serde_json::json!(["ID", "qty"]));
        assert_eq!(
            v["data"],
            serde_json::json!({"ID": 1, "qty": 5, "doc": null})
        );
        assert!(v.get("old").is_none());
        assert_eq!(
            e.key,
            r#"{"database":"shop","table":"orders","pk.id":1,"pk.qty":5}"#
        );
    }

    #[test]
    fn values_render_as_maxwell_does() {
        let cases: Vec<(SqlValue, &str)> = vec![
            (SqlValue::UInt(u64::MAX), "18446744073709551615"),
            (SqlValue::Int(-5), "-5"),
            (SqlValue::Decimal("1.50".into()), "1.50"),
            (SqlValue::Double(2.5), "2.5"),
            (
                SqlValue::Date {
                    year: 2024,
                    month: 2,
                    day: 29,
                },
                "\"2024-02-29\"",
            ),
            (
                SqlValue::DateTime {
                    year: 2024,
                    month: 1,
                    day: 2,
                    hour: 3,
                    minute: 4,
                    second: 5,
                    micros: 120_000,
                    fsp: 3,
                },
                "\"2024-01-02 03:04:05.120\"",
            ),
            (
                SqlValue::Timestamp {
                    secs: 86_400,
                    micros: 0,
                    fsp: 0,
                },
                "\"1970-01-02 00:00:00\"",
            ),
            (
                SqlValue::Time {
                    negative: true,
                    hours: 838,
                    minutes: 59,
                    seconds: 59,
                    micros: 0,
                    fsp: 0,
                },
                "\"-838:59:59\"",
            ),
            (SqlValue::Year(2155), "2155"),
            (SqlValue::Bit(vec![0x01, 0x02]), "258"),
            (
                SqlValue::Enum {
                    index: 2,
                    label: "b".into(),
                },
                "\"b\"",
            ),
            (SqlValue::Set(vec!["x".into(), "z".into()]), "[\"x\",\"z\"]"),
            (
                SqlValue::Json("[1, {\"k\": null}]".into()),
                "[1,{\"k\":null}]",
            ),
            (SqlValue::Bytes(vec![0, 255, 1]), "\"AP8B\""),
            (SqlValue::Text("é\"\n".into()), "\"é\\\"\\n\""),
            (SqlValue::Null, "null"),
        ];
        for (value, expected) in cases {
            let mut out = String::new();
            push_value(&mut out, &value, Rendering::Plain);
            assert_eq!(out, expected, "{value:?}");
        }
        let mut out = String::new();
        push_value(
            &mut out,
            &SqlValue::Text("not json".into()),
            Rendering::Json,
        );
        assert_eq!(out, "\"not json\"", "invalid JSON text stays a string");
        // A geometry column: WKT; bytes that are not WKB stay base64.
        let mut point = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
        point.extend(1.0f64.to_le_bytes());
        point.extend(2.5f64.to_le_bytes());
        let mut out = String::new();
        push_value(&mut out, &SqlValue::Bytes(point), Rendering::Geometry);
        assert_eq!(out, "\"POINT (1 2.5)\"");
        let mut out = String::new();
        push_value(
            &mut out,
            &SqlValue::Bytes(vec![0, 255, 1]),
            Rendering::Geometry,
        );
        assert_eq!(out, "\"AP8B\"");
    }

    #[test]
    fn transaction_buffer_spills_keeps_order_and_marks_the_last_event() {
        let t = EventTable::new(&schema(vec![0]), "{table}", &HashSet::new());
        let event = |i: i64| {
            let row = [
                SqlValue::Int(i),
                SqlValue::Text("x".repeat(100)),
                SqlValue::Null,
            ];
            row_event(
                &t,
                EventType::Insert,
                1,
                None,
                &EventOptions::default(),
                None,
                Some(&row),
            )
        };
        // Room for about three events in memory: the rest goes to the file.
        let mut buf = TransactionBuffer::new(3 * event(0).size());
        for i in 0..50 {
            buf.push(event(i)).unwrap();
        }
        assert!(buf.spill.is_some());
        let mut taken = Vec::new();
        while !buf.is_empty() {
            taken.extend(buf.take(7, Some(99)).unwrap());
        }
        assert_eq!(taken.len(), 50);
        for (i, e) in taken.iter().enumerate() {
            let mut expected = event(i as i64);
            expected.xid = Some(99);
            expected.commit = i == 49;
            assert_eq!(*e, expected);
        }
        assert!(
            buf.spill.is_none(),
            "the file is dropped with the transaction"
        );
        buf.push(event(1)).unwrap();
        assert!(buf.take(10, None).unwrap()[0].commit);
    }

    #[test]
    fn table_without_key_gets_a_random_uuid_key() {
        let t = EventTable::new(&schema(vec![]), "t", &HashSet::new());
        let row = [SqlValue::Int(1), SqlValue::Int(2), SqlValue::Null];
        let insert = || {
            let opts = EventOptions::default();
            row_event(&t, EventType::Insert, 1, None, &opts, None, Some(&row))
        };
        let (a, b) = (insert(), insert());
        assert!(parse(&a.key)["_uuid"].is_string());
        assert_ne!(a.key, b.key);
    }
}
