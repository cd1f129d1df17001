//! Compressed events without servers: real events of a MariaDB 10.11 binlog (below, as the
//! server wrote them: `binlog_checksum = CRC32`, `log_bin_compress_min_len = 10`), the same
//! statements once compressed and once not; MariaDB's compression redone here byte by byte
//! (`binlog_buf_compress`) for the round trips; and MySQL payloads built from real events with
//! zstd, read the way mysql_async's binlog stream reads them.

use std::io::{Cursor, Write};

use mysql_common::binlog::consts::{BinlogChecksumAlg, BinlogVersion};
use mysql_common::binlog::events::{
    EventData, QueryEvent, RowsEventData, TableMapEvent, TransactionPayloadEvent,
};
use mysql_common::binlog::value::BinlogValue;
use mysql_common::binlog::EventStreamReader;
use mysql_common::value::Value;

use super::*;

// ---- a real binlog -------------------------------------------------------------------------
//
// CREATE TABLE cmpfix.t (id INT PRIMARY KEY, name VARCHAR(64), note TEXT), then with
// log_bin_compress = ON and again (table id 23311 after the ALTER) with it OFF:
//   INSERT INTO t VALUES (1, 'alpha alpha alpha alpha', 'note note note note'),
//                        (2, 'beta beta beta beta', NULL);
//   UPDATE t SET name = 'gamma gamma gamma gamma' WHERE id = 1;
//   DELETE FROM t WHERE id = 2;
//   ALTER TABLE t COMMENT 'a comment long enough to be compressed';

/// At 4 in binlog.000012.
const FORMAT_DESCRIPTION: &str = concat!(
    "229b0d6b0f01000000fc000000000100000100040031302e31312e31392d4d6172696144422d302b64656231",
    "3275312d6c6f6700000000000000000000000000000000000000000000000013380d00080012000404040412",
    "0000e400041a08000000080808020000000a0a0a0000000000000a0a0a000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "00000000000000000000000000000000041304000d0808080a0a0a018848e618",
);

/// At 552 in binlog.000012.
const TABLE_MAP: &str = concat!(
    "229b0d6b13010000004b0000007302000000000e5b00000000010006636d706669780001740003030ffc0300",
    "01020601010002012d040d026964046e616d65046e6f746508010055f601f6",
);

/// At 627 in binlog.000012.
const WRITE_ROWS_COMPRESSED_V1: &str = concat!(
    "229b0d6ba6010000004f000000c202000000000e5b0000000001000307814d789cfbc1c8c0c020ce90985390",
    "91a880410a33e4e597a42aa0127f98805a841992524b1215500900ac7818b51848eb9d",
);

/// At 706 in binlog.000012.
const XID: &str = "229b0d6b10010000001f000000e10200000000b749000000000000a5789d35";

/// At 935 in binlog.000012.
const UPDATE_ROWS_COMPRESSED_V1: &str = concat!(
    "229b0d6ba70100000050000000f703000000000e5b0000000001000307078166789cfbc1c8c0c020ce909853",
    "9091a880410a33e4e597a42aa0123f205ad213737313153048ac5a00878b219b5372a0cf",
);

/// At 1212 in binlog.000012.
const DELETE_ROWS_COMPRESSED_V1: &str = concat!(
    "229b0d6ba80100000039000000f504000000000e5b0000000001000307811a789cfbc3c4c0c020cc90945a92",
    "a8804a00005f7b07e24eaf0480",
);

/// At 1342 in binlog.000012.
const QUERY_COMPRESSED: &str = concat!(
    "229b0d6ba50100000094000000d2050000000059030000000000000600002300000000000101000020540000",
    "0000060373746404210021002d0081ba49000000000000636d7066697800813e789c73f409710d52087174f2",
    "7155285170f6f7f575f50b51504f5448cecfcd4dcd2b51c8c9cf4b5748cdcb2f4dcf5028c957484a05c91414",
    "a51617a7a6a803005499145f10971bb1",
);

/// At 2006 in binlog.000012.
const WRITE_ROWS_V1: &str = concat!(
    "229b0d6b17010000006e0000004408000000000f5b0000000001000307f8010000001700616c70686120616c",
    "70686120616c70686120616c70686113006e6f7465206e6f7465206e6f7465206e6f7465fc02000000130062",
    "657461206265746120626574612062657461dc8cee71",
);

/// At 2345 in binlog.000012.
const UPDATE_ROWS_V1: &str = concat!(
    "229b0d6b180100000088000000b109000000000f5b000000000100030707f8010000001700616c7068612061",
    "6c70686120616c70686120616c70686113006e6f7465206e6f7465206e6f7465206e6f7465f8010000001700",
    "67616d6d612067616d6d612067616d6d612067616d6d6113006e6f7465206e6f7465206e6f7465206e6f7465",
    "3cc780f2",
);

/// At 2678 in binlog.000012.
const DELETE_ROWS_V1: &str = concat!(
    "229b0d6b19010000003b000000b10a000000000f5b0000000001000307fc0200000013006265746120626574",
    "6120626574612062657461598b6114",
);

/// At 2810 in binlog.000012.
const QUERY: &str = concat!(
    "229b0d6b02010000008c000000860b0000000059030000000000000600002300000000000101000020540000",
    "0000060373746404210021002d0081c049000000000000636d7066697800414c544552205441424c45207420",
    "434f4d4d454e5420276120636f6d6d656e74206c6f6e6720656e6f75676820746f20626520636f6d70726573",
    "73656427b45b2de3",
);

const FILE: &str = "binlog.000012";
const QUERY_TEXT: &str = "ALTER TABLE t COMMENT 'a comment long enough to be compressed'";

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

/// A reader that has read the file's FORMAT_DESCRIPTION event (post-header lengths, CRC32).
fn binlog() -> EventStreamReader {
    let mut reader = EventStreamReader::new(BinlogVersion::Version4);
    reader
        .read(&bytes(FORMAT_DESCRIPTION)[..])
        .unwrap()
        .unwrap();
    reader
}

fn event(hex: &str) -> Event {
    binlog().read(&bytes(hex)[..]).unwrap().unwrap()
}

/// Where an event ends in the file (its header's log_pos).
fn end_of(event: &Event) -> BinlogPosition {
    BinlogPosition::new(FILE, u64::from(event.header().log_pos())).unwrap()
}

fn checksum_is_right(event: &Event) {
    let expected = event.calc_checksum(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_CRC32);
    assert_eq!(event.checksum(), Some(expected.to_le_bytes()));
}

/// The values of a rows event's rows (before and after images), as text or NULL.
fn row_values(rows_event: &Event) -> Vec<Vec<Option<String>>> {
    let table_map = event(TABLE_MAP);
    let tme: TableMapEvent<'_> = table_map.read_event().unwrap();
    let Some(EventData::RowsEvent(rows)) = rows_event.read_data().unwrap() else {
        panic!("not a rows event: {:?}", rows_event.header());
    };
    let mut images = Vec::new();
    for row in rows.rows(&tme) {
        let (before, after) = row.unwrap();
        for image in [before, after].into_iter().flatten() {
            images.push(
                (0..3)
                    .map(|i| match image.as_ref(i).unwrap() {
                        BinlogValue::Value(Value::NULL) => None,
                        BinlogValue::Value(Value::Bytes(b)) => {
                            Some(String::from_utf8(b.clone()).unwrap())
                        }
                        BinlogValue::Value(Value::Int(n)) => Some(n.to_string()),
                        other => panic!("unexpected value {other:?}"),
                    })
                    .collect(),
            );
        }
    }
    images
}

fn texts(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|row| row.iter().map(|v| v.map(str::to_string)).collect())
        .collect()
}

/// The event `event` becomes with type `raw` and `data` (size and checksum made to fit).
fn with_data(event: &Event, raw: u8, data: &[u8]) -> Event {
    let header = event.header();
    let size = (HEADER_LEN + data.len() + 4) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&header.timestamp().to_le_bytes());
    out.push(raw);
    out.extend_from_slice(&header.server_id().to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&header.log_pos().to_le_bytes());
    out.extend_from_slice(&header.flags_raw().to_le_bytes());
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    binlog().read(&out[..]).unwrap().unwrap()
}

/// MariaDB's compressed block of `plain` (`binlog_buf_compress`): 0x80 | length bytes, the
/// length big-endian in as few bytes as it takes, the zlib stream.
fn mariadb_block(plain: &[u8]) -> Vec<u8> {
    let len = plain.len() as u32;
    let n = (4 - len.leading_zeros() as usize / 8).max(1);
    let mut block = vec![0x80 | n as u8];
    block.extend_from_slice(&len.to_be_bytes()[4 - n..]);
    let mut zlib = flate2::write::ZlibEncoder::new(block, flate2::Compression::default());
    zlib.write_all(plain).unwrap();
    zlib.finish().unwrap()
}

/// `plain` compressed the way MariaDB does it: its variable part from `start` on.
fn mariadb_compress(plain: &Event, raw: u8, start: usize) -> Event {
    let mut data = plain.data()[..start].to_vec();
    data.extend(mariadb_block(&plain.data()[start..]));
    with_data(plain, raw, &data)
}

// ---- MariaDB -------------------------------------------------------------------------------

#[test]
fn mariadb_compressed_rows_events_become_what_the_server_writes_uncompressed() {
    for (compressed, plain, kind) in [
        (
            WRITE_ROWS_COMPRESSED_V1,
            WRITE_ROWS_V1,
            EventType::WRITE_ROWS_EVENT_V1,
        ),
        (
            UPDATE_ROWS_COMPRESSED_V1,
            UPDATE_ROWS_V1,
            EventType::UPDATE_ROWS_EVENT_V1,
        ),
        (
            DELETE_ROWS_COMPRESSED_V1,
            DELETE_ROWS_V1,
            EventType::DELETE_ROWS_EVENT_V1,
        ),
    ] {
        let (compressed, plain) = (event(compressed), event(plain));
        let decoded = mariadb_event(&compressed).unwrap();
        assert_eq!(decoded.header().event_type(), Ok(kind));
        // The same event but for the table id (the ALTER between them gave a new one).
        assert_eq!(decoded.data()[6..], plain.data()[6..], "{kind:?}");
        assert_eq!(decoded.data()[..6], compressed.data()[..6]);
        assert_eq!(decoded.header().event_size(), plain.header().event_size());
        // Time, server, flags and end position are the compressed event's.
        for (a, b) in [
            (
                decoded.header().timestamp(),
                compressed.header().timestamp(),
            ),
            (decoded.header().log_pos(), compressed.header().log_pos()),
            (
                decoded.header().server_id(),
                compressed.header().server_id(),
            ),
        ] {
            assert_eq!(a, b);
        }
        assert_eq!(
            decoded.header().flags_raw(),
            compressed.header().flags_raw()
        );
        checksum_is_right(&decoded);
        assert_eq!(row_values(&decoded), row_values(&plain));
    }
    let inserted = mariadb_event(&event(WRITE_ROWS_COMPRESSED_V1)).unwrap();
    assert_eq!(
        row_values(&inserted),
        texts(&[
            &[
                Some("1"),
                Some("alpha alpha alpha alpha"),
                Some("note note note note")
            ],
            &[Some("2"), Some("beta beta beta beta"), None],
        ])
    );
    let updated = mariadb_event(&event(UPDATE_ROWS_COMPRESSED_V1)).unwrap();
    assert_eq!(
        row_values(&updated),
        texts(&[
            &[
                Some("1"),
                Some("alpha alpha alpha alpha"),
                Some("note note note note")
            ],
            &[
                Some("1"),
                Some("gamma gamma gamma gamma"),
                Some("note note note note")
            ],
        ])
    );
}

#[test]
fn a_mariadb_compressed_query_becomes_the_query() {
    let decoded = mariadb_event(&event(QUERY_COMPRESSED)).unwrap();
    let plain = event(QUERY);
    assert_eq!(decoded.header().event_type(), Ok(EventType::QUERY_EVENT));
    checksum_is_right(&decoded);
    let (decoded, plain): (QueryEvent<'_>, QueryEvent<'_>) =
        (decoded.read_event().unwrap(), plain.read_event().unwrap());
    assert_eq!(decoded.query(), QUERY_TEXT);
    assert_eq!(decoded.schema(), "cmpfix");
    assert_eq!(decoded.query(), plain.query());
    // The same status variables but for the DDL's xid (Q_XID, 0x81, then 8 bytes).
    let (ours, theirs) = (decoded.status_vars_raw(), plain.status_vars_raw());
    assert_eq!(ours.len(), theirs.len());
    let xid = ours.iter().position(|&b| b == 0x81).unwrap();
    assert_eq!(ours[..xid], theirs[..xid]);
}

#[test]
fn compressed_as_mariadb_does_it_decodes_to_the_same_event() {
    // Variable parts: the query text after post-header, status variables and database; the row
    // images after table id, flags, column count and bitmaps (3 columns: one byte each).
    let query = event(QUERY);
    let q = query.data();
    let text = 13 + usize::from(u16::from_le_bytes([q[11], q[12]])) + usize::from(q[8]) + 1;
    let cases = [
        (query.clone(), 165, text),
        (event(WRITE_ROWS_V1), 166, 8 + 1 + 1),
        (event(UPDATE_ROWS_V1), 167, 8 + 1 + 2),
        (event(DELETE_ROWS_V1), 168, 8 + 1 + 1),
    ];
    for (plain, raw, start) in cases {
        let compressed = mariadb_compress(&plain, raw, start);
        assert_ne!(compressed.data(), plain.data());
        assert_eq!(mariadb_event(&compressed).unwrap(), plain, "type {raw}");
    }
    // v2 rows events: the extra data (here its bare 2-byte length) after the flags.
    for (v1, raw, kind, bitmaps) in [
        (WRITE_ROWS_V1, 169, 30, 1),
        (UPDATE_ROWS_V1, 170, 31, 2),
        (DELETE_ROWS_V1, 171, 32, 1),
    ] {
        let v1 = event(v1);
        let mut data = v1.data()[..8].to_vec();
        data.extend_from_slice(&2u16.to_le_bytes());
        data.extend_from_slice(&v1.data()[8..]);
        let plain = with_data(&v1, kind, &data);
        assert!(matches!(
            plain.read_data().unwrap(),
            Some(EventData::RowsEvent(
                RowsEventData::WriteRowsEvent(_)
                    | RowsEventData::UpdateRowsEvent(_)
                    | RowsEventData::DeleteRowsEvent(_)
            ))
        ));
        let compressed = mariadb_compress(&plain, raw, 10 + 1 + bitmaps);
        let decoded = mariadb_event(&compressed).unwrap();
        assert_eq!(decoded, plain, "type {raw}");
        assert_eq!(row_values(&decoded), row_values(&v1));
    }
    // A 1 MiB value: a 3-byte length.
    let big = vec![b'x'; 1 << 20];
    let block = mariadb_block(&big);
    assert_eq!(block[..4], [0x83, 0x10, 0x00, 0x00]);
    assert_eq!(inflate(&block).unwrap(), big);
}

#[test]
fn a_damaged_mariadb_event_stops_the_stream_at_its_position_naming_the_setting() {
    let compressed = event(WRITE_ROWS_COMPRESSED_V1);
    let data = compressed.data();
    let start = 8 + 1 + 1;
    let damaged = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut data = data.to_vec();
        f(&mut data);
        with_data(&compressed, 166, &data)
    };
    let last = data.len() - 1;
    for (case, reason) in [
        // A flipped byte in the zlib stream (its Adler-32 no longer fits).
        (damaged(&|d| d[last - 6] ^= 0x55), "zlib"),
        (damaged(&|d| d[start] = 0x91), "compression algorithm 1"),
        (damaged(&|d| d[start] = 0x05), "not with 0x80"),
        (damaged(&|d| d[start] = 0x87), "a length of 7 bytes"),
        (damaged(&|d| d[start + 1] -= 1), "does not end within"),
        (
            damaged(&|d| d[start + 1] += 1),
            "bytes inflated where the header announces",
        ),
        (damaged(&|d| d.truncate(last - 2)), "does not end within"),
        (damaged(&|d| d.truncate(start)), "before its row images"),
    ] {
        let error = Decompression::default()
            .event(case, end_of(&compressed))
            .expect_err(reason)
            .to_string();
        for part in [
            reason,
            "Write_rows_compressed_v1",
            "binlog position binlog.000012:706",
            "SET GLOBAL log_bin_compress = OFF",
        ] {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
    }
}

#[test]
fn the_stream_passes_ordinary_events_and_decodes_compressed_ones_in_place() {
    let mut decompression = Decompression::default();
    for hex in [TABLE_MAP, WRITE_ROWS_COMPRESSED_V1, XID, QUERY_COMPRESSED] {
        let original = event(hex);
        let (routed, at) = decompression
            .event(original.clone(), end_of(&original))
            .unwrap()
            .expect("every MariaDB event is routed");
        assert_eq!(at, end_of(&original));
        assert!(!is_mariadb_compressed(routed.header().event_type_raw()));
        if !is_mariadb_compressed(original.header().event_type_raw()) {
            assert_eq!(routed, original);
        }
    }
}

// ---- MySQL ---------------------------------------------------------------------------------

const TRANSACTION_PAYLOAD: u8 = 0x28;

/// An event as it is stored inside a payload: without its checksum.
fn without_checksum(event: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    event
        .write(BinlogVersion::Version4, &mut out)
        .expect("serializable");
    out.truncate(out.len() - 4);
    let size = out.len() as u32;
    out[9..13].copy_from_slice(&size.to_le_bytes());
    out
}

fn lenenc(out: &mut Vec<u8>, n: u64) {
    if n < 251 {
        out.push(n as u8);
    } else {
        out.push(0xfe);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// A TRANSACTION_PAYLOAD_EVENT ending at `end`: header fields (algorithm, uncompressed size,
/// payload size) then `payload`, as MySQL writes it.
fn payload_event(algorithm: u64, uncompressed: u64, payload: &[u8], end: u32) -> Vec<u8> {
    let mut data = Vec::new();
    for (field, value) in [(2, algorithm), (3, uncompressed), (1, payload.len() as u64)] {
        let mut v = Vec::new();
        lenenc(&mut v, value);
        lenenc(&mut data, field);
        lenenc(&mut data, v.len() as u64);
        data.extend(v);
    }
    data.push(0);
    data.extend_from_slice(payload);
    let size = (HEADER_LEN + data.len() + 4) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&1_760_000_000u32.to_le_bytes());
    out.push(TRANSACTION_PAYLOAD);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&size.to_le_bytes());
    out.extend_from_slice(&end.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend(data);
    let mut crc = flate2::Crc::new();
    crc.update(&out);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out
}

/// The transaction of the real binlog (table map, insert, commit) as MySQL stores it in a
/// payload: (events without checksums, their bytes).
fn transaction() -> (Vec<Event>, Vec<u8>) {
    let events: Vec<Event> = [TABLE_MAP, WRITE_ROWS_V1, XID].map(event).into();
    let inner = events.iter().flat_map(without_checksum).collect();
    (events, inner)
}

/// What mysql_async's binlog stream yields for these events of the server (its `poll_next`
/// without the network): each event, and after a payload event the events inside it, read
/// with checksums off; nothing for a payload it cannot parse or inflate.
fn as_mysql_async_yields(packets: &[Vec<u8>]) -> Vec<std::io::Result<Event>> {
    let mut reader = binlog();
    let mut out = Vec::new();
    for packet in packets {
        let event = reader.read(&packet[..]).unwrap().unwrap();
        let inner = (event.header().event_type_raw() == TRANSACTION_PAYLOAD)
            .then(|| event.read_event::<TransactionPayloadEvent<'_>>().ok())
            .flatten()
            .map(|payload| payload.danger_decompress());
        out.push(Ok(event));
        let mut inner = Cursor::new(inner.unwrap_or_default());
        loop {
            match reader.read_decompressed(&mut inner) {
                Ok(Some(event)) => out.push(Ok(event)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
    }
    out
}

/// The events the router gets for what mysql_async yields, or the first error.
fn route_all(yielded: Vec<std::io::Result<Event>>) -> Result<Vec<(Event, BinlogPosition)>> {
    let mut decompression = Decompression::default();
    let mut out = Vec::new();
    for event in yielded {
        let event = event.map_err(|e| decompression.failed_inside(&e).expect("inside"))?;
        let position = end_of(&event);
        out.extend(decompression.event(event, position)?);
    }
    Ok(out)
}

const PAYLOAD_END: u32 = 5000;

#[test]
fn a_mysql_payload_yields_its_events_in_order_at_its_own_position() {
    let (events, inner) = transaction();
    let compressed = zstd::encode_all(&inner[..], 3).unwrap();
    assert!(compressed.len() < inner.len());
    let next = event(QUERY);
    let packets = [
        payload_event(0, inner.len() as u64, &compressed, PAYLOAD_END),
        bytes(QUERY),
    ];
    let routed = route_all(as_mysql_async_yields(&packets)).unwrap();
    let at = BinlogPosition::new(FILE, u64::from(PAYLOAD_END)).unwrap();
    assert_eq!(routed.len(), 4, "the payload's three events, then the next");
    for ((event, position), original) in routed.iter().zip(&events) {
        assert_eq!(event.header().event_type(), original.header().event_type());
        assert_eq!(event.data(), original.data());
        assert_eq!(position, &at);
    }
    assert_eq!(row_values(&routed[1].0), row_values(&events[1]));
    assert_eq!(routed[3], (next.clone(), end_of(&next)));

    // Uncompressed payloads (algorithm "none") too.
    let packets = [payload_event(255, 0, &inner, PAYLOAD_END), bytes(QUERY)];
    let routed = route_all(as_mysql_async_yields(&packets)).unwrap();
    assert_eq!(routed.len(), 4);
    assert!(routed[..3].iter().all(|(_, position)| position == &at));
}

#[test]
fn a_payload_that_does_not_yield_its_announced_events_is_a_definite_error() {
    let (_, inner) = transaction();
    let compressed = zstd::encode_all(&inner[..], 3).unwrap();
    let size = inner.len() as u64;
    for (packets, reason) in [
        // Not zstd: mysql_async yields no event from it, in silence.
        (
            vec![
                payload_event(0, size, b"not zstd at all", PAYLOAD_END),
                bytes(QUERY),
            ],
            "yielded 0 of its",
        ),
        // An uncompressed size below the truth: mysql_async cannot inflate it either.
        (
            vec![
                payload_event(0, size - 10, &compressed, PAYLOAD_END),
                bytes(QUERY),
            ],
            "yielded 0 of its",
        ),
        // Above it: mysql_async reads zeros after the real events.
        (
            vec![payload_event(0, size + 40, &compressed, PAYLOAD_END)],
            "an event of 0 bytes inside the compressed transaction",
        ),
        (
            vec![payload_event(0, 0, &compressed, PAYLOAD_END)],
            "without its uncompressed size",
        ),
    ] {
        let error = route_all(as_mysql_async_yields(&packets))
            .expect_err(reason)
            .to_string();
        for part in [
            reason,
            "binlog position binlog.000012:5000",
            "SET GLOBAL binlog_transaction_compression = OFF",
        ] {
            assert!(error.contains(part), "{part:?} not in {error}");
        }
    }
}

#[test]
fn an_unknown_payload_algorithm_is_named_where_mysql_async_panics_on_it() {
    let (_, inner) = transaction();
    let packet = payload_event(7, inner.len() as u64, &inner, PAYLOAD_END);
    let event = binlog().read(&packet[..]).unwrap().unwrap();
    assert!(payload_size(event.data())
        .unwrap_err()
        .contains("compression algorithm 7"));
    // mysql_common unwraps the algorithm while mysql_async reads the event: the tailer catches
    // that panic, and its message says what it was about.
    let panic = std::panic::catch_unwind(|| {
        let _ = event.read_event::<TransactionPayloadEvent<'_>>();
    })
    .expect_err("mysql_common panics on an unknown payload algorithm");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    let after = BinlogPosition::new(FILE, 4000).unwrap();
    let error = Decompression::default()
        .reader_panicked(&message, &after)
        .to_string();
    for part in [
        "TransactionPayload",
        "binlog position binlog.000012:4000",
        "binlog_transaction_compression = OFF",
    ] {
        assert!(error.contains(part), "{part:?} not in {error}");
    }
}
