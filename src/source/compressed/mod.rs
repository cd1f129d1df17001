//! Compressed binlog events: each becomes the ordinary events it holds before the router sees
//! it, or the stream stops with a definite error naming its position and the server setting
//! that writes it. Nothing is dropped.
//!
//! **MariaDB** (`log_bin_compress = ON`, for events of at least `log_bin_compress_min_len`
//! bytes) writes QUERY_COMPRESSED_EVENT (165), WRITE/UPDATE/DELETE_ROWS_COMPRESSED_EVENT_V1
//! (166-168) and their v2 forms (169-171). Only the variable part of an event is compressed
//! (MariaDB's `query_event_uncompress` and `row_log_event_uncompress`, log_event.cc):
//! - a query event: the query text, after the post-header, the status variables and the
//!   NUL-terminated default database;
//! - a rows event: the row images, after the table id, the flags, (v2) the extra data, the
//!   column count and the column bitmaps (two for an update).
//!
//! The compressed block opens with one byte `0x80 | algorithm << 4 | n`, then the uncompressed
//! length in `n` (1-4) big-endian bytes, then the data. Algorithm 0, zlib, is the only one
//! MariaDB has. [`mariadb_event`] does what MariaDB does before applying such an event on a
//! replica: it inflates the block behind the unchanged head of the event, writes the
//! uncompressed type and the new size into the header and a new CRC32 after it, and reads the
//! bytes back with mysql_common (`Event::read`) under the stream's FORMAT_DESCRIPTION. Time,
//! server id, flags and end position stay: the event ends where the compressed one ended.
//!
//! **MySQL** (`binlog_transaction_compression = ON`, 8.0.20+) writes each transaction, all but
//! its GTID event, as one TRANSACTION_PAYLOAD_EVENT: a header of (type, length, value) fields
//! (algorithm, payload size, uncompressed size), then the transaction's events without
//! checksums, zstd-compressed. mysql_async's binlog stream inflates payloads itself: it yields
//! the payload event, then each event inside it, read with checksums turned off (which is how
//! they are told apart here). Inflating them again would route every event twice, so
//! [`Decompression`] instead holds mysql_async to the payload's header: the events inside must
//! add up to exactly the uncompressed size it announces. Each gets the payload's end position
//! (the transaction's; a restart replays the transaction whole), and the payload event itself
//! is not passed on. What mysql_async gives up on in silence (a payload it cannot parse or
//! inflate yields no events) is caught that way: an ordinary event (the next transaction, a
//! heartbeat) arriving before a payload's events are complete is a definite error. Where
//! mysql_async panics instead (an unknown algorithm, an inner event longer than the payload),
//! the tailer catches the panic and [`Decompression::reader_panicked`] names it.

use mysql_common::binlog::consts::{BinlogChecksumAlg, EventType};
use mysql_common::binlog::events::{Event, FormatDescriptionEvent};
use mysql_common::io::ReadMysqlExt;

use crate::error::{Result, SyncError};
use crate::model::BinlogPosition;

const QUERY_COMPRESSED: u8 = 165;
const UPDATE_ROWS_COMPRESSED_V1: u8 = 167;
const WRITE_ROWS_COMPRESSED: u8 = 169;
const UPDATE_ROWS_COMPRESSED: u8 = 170;
const DELETE_ROWS_COMPRESSED: u8 = 171;
/// The 19-byte header every event starts with (binlog version 4).
const HEADER_LEN: usize = 19;
/// No server writes a larger event (`max_allowed_packet` stops at 1 GiB): a larger
/// uncompressed length is a damaged event, not an allocation to make.
const MAX_EVENT_BYTES: usize = 1 << 30;

/// Turns the stream's compressed events into ordinary ones, one stream (connection) long.
#[derive(Debug, Default)]
pub struct Decompression {
    /// The MySQL payload whose inner events mysql_async is yielding now.
    payload: Option<Payload>,
    /// Whether this stream has met a compressed event yet (logged once).
    seen: bool,
}

#[derive(Debug)]
struct Payload {
    /// Where the payload event ends: the position of every event inside it.
    position: BinlogPosition,
    /// Bytes of events the payload holds (its uncompressed size), and those yielded so far.
    size: u64,
    yielded: u64,
}

impl Decompression {
    /// The event the router gets for `event` (as the stream yields it, ending at `position`):
    /// the event itself, the ordinary event a MariaDB compressed one holds, or an event from
    /// inside a MySQL payload at the payload's position; `None` for the payload event.
    pub fn event(
        &mut self,
        event: Event,
        position: BinlogPosition,
    ) -> Result<Option<(Event, BinlogPosition)>> {
        if !event.footer().get_checksum_enabled() {
            return self.inside_payload(event, &position).map(Some);
        }
        if let Some(payload) = self.payload.take() {
            return Err(mysql_error(
                format!(
                    "the compressed transaction yielded {} of its {} bytes of events before the next event: mysql_async could not read or inflate it",
                    payload.yielded, payload.size
                ),
                &payload.position,
            ));
        }
        let raw = event.header().event_type_raw();
        if is_mariadb_compressed(raw) {
            self.first_seen("MariaDB log_bin_compress");
            let plain = mariadb_event(&event).map_err(|reason| {
                SyncError::definite(
                    format!(
                        "cannot decompress the binlog event {} (MariaDB log_bin_compress): {reason}",
                        mariadb_type_name(raw)
                    ),
                    "the binlog is damaged or compressed in a way mysql2hbase does not know (only zlib); SET GLOBAL log_bin_compress = OFF (and log_bin_compress = OFF in my.cnf) so the server writes events uncompressed, and report this event with the server version",
                )
                .at(&position)
            })?;
            return Ok(Some((plain, position)));
        }
        if event.header().event_type() == Ok(EventType::TRANSACTION_PAYLOAD_EVENT) {
            self.first_seen("MySQL binlog_transaction_compression");
            let size = payload_size(event.data()).map_err(|reason| {
                mysql_error(
                    format!("cannot read the header of a compressed transaction: {reason}"),
                    &position,
                )
            })?;
            if size > 0 {
                self.payload = Some(Payload {
                    position,
                    size,
                    yielded: 0,
                });
            }
            return Ok(None);
        }
        Ok(Some((event, position)))
    }

    /// The position of the payload whose events are being read, if any.
    pub fn open_payload(&self) -> Option<&BinlogPosition> {
        self.payload.as_ref().map(|p| &p.position)
    }

    /// The definite error for a panic of the binlog stream while reading the event that
    /// starts at `after` (mysql_async unwraps a payload's algorithm and the lengths of the
    /// events inside it).
    pub fn reader_panicked(&self, message: &str, after: &BinlogPosition) -> SyncError {
        match self.open_payload() {
            Some(position) => mysql_error(
                format!("mysql_async panicked on an event inside the compressed transaction ending here: {message}"),
                position,
            ),
            None if message.contains("TransactionPayload") => mysql_error(
                format!("mysql_async panicked on the compressed transaction starting here: {message}"),
                after,
            ),
            None => SyncError::definite(
                format!("the binlog stream panicked on the event starting here: {message}"),
                "the binlog is damaged or of a server version mysql_async cannot read; report it with the server version",
            )
            .at(after),
        }
    }

    /// The definite error for a stream error inside a payload: its events cannot be read.
    pub fn failed_inside(&self, error: &dyn std::fmt::Display) -> Option<SyncError> {
        self.open_payload().map(|position| {
            mysql_error(
                format!("cannot read the events of the compressed transaction: {error}"),
                position,
            )
        })
    }

    fn inside_payload(
        &mut self,
        event: Event,
        position: &BinlogPosition,
    ) -> Result<(Event, BinlogPosition)> {
        let Some(payload) = self.payload.as_mut() else {
            return Err(SyncError::definite(
                "an event read without checksum arrived outside a compressed transaction",
                "the binlog stream is out of step (a mysql_async change?); report it with the mysql_async version",
            )
            .at(position));
        };
        let size = u64::from(event.header().event_size());
        if size < HEADER_LEN as u64 || payload.yielded + size > payload.size {
            let problem = format!(
                "an event of {size} bytes inside the compressed transaction, after {} of its {} bytes",
                payload.yielded, payload.size
            );
            return Err(mysql_error(problem, &payload.position));
        }
        payload.yielded += size;
        let at = payload.position.clone();
        if payload.yielded == payload.size {
            self.payload = None;
        }
        Ok((event, at))
    }

    fn first_seen(&mut self, setting: &str) {
        if !self.seen {
            self.seen = true;
            tracing::info!("the binlog holds compressed events ({setting}): decoding them");
        }
    }
}

fn mysql_error(problem: String, position: &BinlogPosition) -> SyncError {
    SyncError::definite(
        format!("{problem} (MySQL binlog_transaction_compression)"),
        "the binlog is damaged or compressed in a way mysql2hbase does not know (zstd and none are known); SET GLOBAL binlog_transaction_compression = OFF (and in my.cnf) so the server writes transactions uncompressed, and report this one with the server version",
    )
    .at(position)
}

/// Whether `raw` is one of MariaDB's compressed event types.
pub fn is_mariadb_compressed(raw: u8) -> bool {
    (QUERY_COMPRESSED..=DELETE_ROWS_COMPRESSED).contains(&raw)
}

/// MariaDB's name of a compressed event type, as `SHOW BINLOG EVENTS` prints it.
fn mariadb_type_name(raw: u8) -> &'static str {
    match raw {
        165 => "Query_compressed",
        166 => "Write_rows_compressed_v1",
        167 => "Update_rows_compressed_v1",
        168 => "Delete_rows_compressed_v1",
        169 => "Write_rows_compressed",
        170 => "Update_rows_compressed",
        171 => "Delete_rows_compressed",
        _ => "(not compressed)",
    }
}

/// The uncompressed event a MariaDB compressed event holds (see the module doc), or why not.
pub fn mariadb_event(event: &Event) -> std::result::Result<Event, String> {
    let raw = event.header().event_type_raw();
    let data = event.data();
    // The FORMAT_DESCRIPTION event gives the post-header length of every type.
    let post_header = |default: usize| {
        let lengths = event.fde().event_type_header_lengths();
        lengths
            .get(usize::from(raw) - 1)
            .map_or(default, |&n| usize::from(n))
    };
    let (kind, start) = match raw {
        QUERY_COMPRESSED => (
            EventType::QUERY_EVENT,
            query_text_start(data, post_header(13))?,
        ),
        166..=168 => {
            const PLAIN: [EventType; 3] = [
                EventType::WRITE_ROWS_EVENT_V1,
                EventType::UPDATE_ROWS_EVENT_V1,
                EventType::DELETE_ROWS_EVENT_V1,
            ];
            let update = raw == UPDATE_ROWS_COMPRESSED_V1;
            let start = row_images_start(data, post_header(8), false, update)?;
            (PLAIN[usize::from(raw - 166)], start)
        }
        WRITE_ROWS_COMPRESSED..=DELETE_ROWS_COMPRESSED => {
            const PLAIN: [EventType; 3] = [
                EventType::WRITE_ROWS_EVENT,
                EventType::UPDATE_ROWS_EVENT,
                EventType::DELETE_ROWS_EVENT,
            ];
            let update = raw == UPDATE_ROWS_COMPRESSED;
            let start = row_images_start(data, post_header(10), true, update)?;
            (PLAIN[usize::from(raw - WRITE_ROWS_COMPRESSED)], start)
        }
        _ => return Err(format!("event type {raw} is not a compressed one")),
    };
    let body = inflate(&data[start..])?;
    rebuild(event, kind, &data[..start], &body)
}

/// Where a query event's text starts: after the post-header (thread id 4, execution time 4,
/// database length 1, error code 2, status variables length 2, ...), the status variables and
/// the database name with its NUL.
fn query_text_start(data: &[u8], post_header: usize) -> std::result::Result<usize, String> {
    if post_header < 13 || data.len() < post_header {
        return Err(format!(
            "a query event of {} bytes with a post-header of {post_header}",
            data.len()
        ));
    }
    let database = usize::from(data[8]);
    let status = usize::from(u16::from_le_bytes([data[11], data[12]]));
    let start = post_header + status + database + 1;
    if start >= data.len() {
        return Err("the query event ends before its compressed text".into());
    }
    Ok(start)
}

/// Where a rows event's images start: after the table id (6) and flags (2), in v2 the extra
/// data (its 2-byte length counts itself), the column count and one column bitmap, two for an
/// update (before and after image).
fn row_images_start(
    data: &[u8],
    post_header: usize,
    v2: bool,
    update: bool,
) -> std::result::Result<usize, String> {
    let expected = if v2 { 10 } else { 8 };
    if post_header != expected {
        return Err(format!(
            "a post-header of {post_header} bytes where MariaDB writes {expected}"
        ));
    }
    let short = || {
        format!(
            "the rows event ends ({} bytes) before its row images",
            data.len()
        )
    };
    let mut at = 8;
    if v2 {
        let extra = data.get(8..10).ok_or_else(short)?;
        let extra = usize::from(u16::from_le_bytes([extra[0], extra[1]]));
        if extra < 2 {
            return Err(format!("an extra data length of {extra}"));
        }
        at += extra;
    }
    let mut rest = data.get(at..).ok_or_else(short)?;
    let before = rest.len();
    let columns = rest.read_lenenc_int().map_err(|_| short())?;
    at += before - rest.len();
    let bitmaps = usize::try_from(columns.div_ceil(8))
        .ok()
        .and_then(|bitmap| bitmap.checked_mul(if update { 2 } else { 1 }))
        .and_then(|bitmaps| at.checked_add(bitmaps))
        .ok_or_else(short)?;
    if bitmaps >= data.len() {
        return Err(short());
    }
    Ok(bitmaps)
}

/// Inflates one compressed block (header byte, big-endian length, zlib stream).
fn inflate(block: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use flate2::{Decompress, FlushDecompress, Status};
    let (&first, rest) = block.split_first().ok_or("no compressed data")?;
    if first & 0x80 == 0 {
        return Err(format!(
            "the compressed data starts with {first:#04x}, not with 0x80 | algorithm << 4 | length bytes"
        ));
    }
    let algorithm = (first & 0x70) >> 4;
    if algorithm != 0 {
        return Err(format!(
            "compression algorithm {algorithm}; MariaDB writes only zlib (0)"
        ));
    }
    let n = usize::from(first & 0x07);
    if !(1..=4).contains(&n) || rest.len() <= n {
        return Err(format!("a length of {n} bytes in {} bytes", rest.len()));
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |len, &b| len << 8 | usize::from(b));
    if len == 0 || len > MAX_EVENT_BYTES {
        return Err(format!("an uncompressed length of {len} bytes"));
    }
    // Exactly the announced length: a longer stream stops short of its end and is refused.
    let mut out = Vec::with_capacity(len);
    let status = Decompress::new(true)
        .decompress_vec(&rest[n..], &mut out, FlushDecompress::Finish)
        .map_err(|e| format!("zlib: {e}"))?;
    match status {
        Status::StreamEnd if out.len() == len => Ok(out),
        Status::StreamEnd => Err(format!(
            "{} bytes inflated where the header announces {len}",
            out.len()
        )),
        Status::Ok | Status::BufError => Err(format!(
            "the zlib stream does not end within the {len} bytes the header announces (truncated or longer)"
        )),
    }
}

/// The event `event` becomes with type `kind` and data `head` + `body`: its header with the
/// new type and size, and a checksum where the stream's events carry one.
fn rebuild(
    event: &Event,
    kind: EventType,
    head: &[u8],
    body: &[u8],
) -> std::result::Result<Event, String> {
    let header = event.header();
    let checksum = carries_checksum(event.fde());
    let size = HEADER_LEN + head.len() + body.len() + if checksum { 4 } else { 0 };
    let size32 = u32::try_from(size).map_err(|_| format!("{size} bytes uncompressed"))?;
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(&header.timestamp().to_le_bytes());
    bytes.push(kind as u8);
    bytes.extend_from_slice(&header.server_id().to_le_bytes());
    bytes.extend_from_slice(&size32.to_le_bytes());
    bytes.extend_from_slice(&header.log_pos().to_le_bytes());
    bytes.extend_from_slice(&header.flags_raw().to_le_bytes());
    bytes.extend_from_slice(head);
    bytes.extend_from_slice(body);
    if checksum {
        let mut crc = flate2::Crc::new();
        crc.update(&bytes);
        bytes.extend_from_slice(&crc.sum().to_le_bytes());
    }
    Event::read(event.fde(), &bytes[..]).map_err(|e| format!("the uncompressed event: {e}"))
}

/// Whether mysql_common expects a checksum after events read under `fde` (as `Event::read`
/// decides it).
fn carries_checksum(fde: &FormatDescriptionEvent<'_>) -> bool {
    let footer = fde.footer();
    footer.get_checksum_enabled()
        && !matches!(
            footer.get_checksum_alg(),
            Ok(None) | Ok(Some(BinlogChecksumAlg::BINLOG_CHECKSUM_ALG_OFF))
        )
}

/// The bytes of events a TRANSACTION_PAYLOAD_EVENT holds, from its header: the uncompressed
/// size for zstd, the payload size when uncompressed. Fields are (type, length, value), each a
/// length-encoded integer, until type 0; a field of unknown type is skipped by its length.
fn payload_size(mut data: &[u8]) -> std::result::Result<u64, String> {
    const PAYLOAD_SIZE: u64 = 1;
    const ALGORITHM: u64 = 2;
    const UNCOMPRESSED_SIZE: u64 = 3;
    const ZSTD: u64 = 0;
    const NONE: u64 = 255;
    let (mut payload, mut algorithm, mut uncompressed) = (None, None, None);
    let ends = |_| "the header ends early".to_string();
    loop {
        let field = data.read_lenenc_int().map_err(ends)?;
        if field == 0 {
            break;
        }
        let length = data.read_lenenc_int().map_err(ends)?;
        match field {
            PAYLOAD_SIZE => payload = Some(data.read_lenenc_int().map_err(ends)?),
            ALGORITHM => algorithm = Some(data.read_lenenc_int().map_err(ends)?),
            UNCOMPRESSED_SIZE => uncompressed = Some(data.read_lenenc_int().map_err(ends)?),
            _ => {
                let skip = usize::try_from(length).unwrap_or(usize::MAX);
                data = data.get(skip..).ok_or("the header ends early")?;
            }
        }
    }
    let payload = payload.ok_or("the header has no payload size")?;
    if payload > data.len() as u64 {
        return Err(format!(
            "a payload of {payload} bytes in an event with {} bytes after its header",
            data.len()
        ));
    }
    match algorithm {
        Some(ZSTD) => uncompressed
            .filter(|&size| size > 0)
            .ok_or_else(|| "a zstd payload without its uncompressed size".to_string()),
        Some(NONE) => Ok(payload),
        Some(other) => Err(format!(
            "compression algorithm {other}; zstd (0) and none (255) are known"
        )),
        None => Err("the header names no compression algorithm".into()),
    }
}

#[cfg(test)]
mod tests;
