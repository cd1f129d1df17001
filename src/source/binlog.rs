//! The binlog tailer: a replica connection (mysql_async's binlog stream) from a position, or
//! after a GTID set.
//!
//! - A start by position checks that the position still belongs to the history the checkpoint
//!   read: the server's first events name the file and, in its FORMAT_DESCRIPTION event, when
//!   the file was created; a file of the same name created at another time (`RESET MASTER`, a
//!   restore) is refused with [`SyncError::SourceChanged`]. The creation time of every file read
//!   is kept ([`FileOrigins`]) for the checkpoint.
//! - A start by GTID (a failover, a reset binlog whose GTIDs went on) lets the server find the
//!   first transaction after the set: MariaDB through `@slave_connect_state`, MySQL through
//!   `COM_BINLOG_DUMP_GTID`; its first ROTATE tells where that is.
//! - Asks the server for heartbeats (`@master_heartbeat_period`), so an idle stream still
//!   receives an event every `[mysql] heartbeat`; no event for three periods means the connection
//!   is dead, and the caller reconnects from its checkpoint.
//! - Tracks the current file across ROTATE events, so every event has a full position
//!   (file, end offset). MariaDB's first (fake) ROTATE may carry checksum bytes after the file
//!   name (mysql_async issue 189); they are cut off.
//! - A purged file (server error 1236) becomes [`SyncError::BinlogPurged`] with the way out.
//! - The stream is read by its own task, up to [`READ_AHEAD`] events ahead of the caller, so
//!   network reads and packet parsing overlap with decoding and routing (another core).
//! - Compressed events (MariaDB `log_bin_compress`, MySQL `binlog_transaction_compression`)
//!   become the ordinary events they hold in that task too ([`crate::source::compressed`]),
//!   so the caller only ever sees ordinary events; one that cannot be decompressed is a
//!   definite error. A panic of mysql_async's stream (it unwraps parts of a compressed
//!   transaction) is caught and becomes one as well, instead of a reader that silently died.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest};
use mysql_common::binlog::consts::EventType;
use mysql_common::binlog::events::{Event, RotateEvent};
use mysql_common::packets::{GnoInterval, Sid};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::{mysql_codes, Result, SyncError};
use crate::model::gtid::GtidSet;
use crate::model::BinlogPosition;
use crate::source::compressed::Decompression;
use crate::source::mysql as my;

/// Where a stream starts.
#[derive(Debug, Clone)]
pub enum StartAt {
    /// A position of this server's binlog; `origin`, when known, is when its file was created
    /// (the header time of the file's first event), checked against the file the server has.
    Position {
        position: BinlogPosition,
        origin: Option<String>,
    },
    /// The first transaction after this GTID set (MariaDB `domain-server-seq` list or MySQL UUID
    /// set): another server's history (a failover), or a reset binlog whose GTIDs went on.
    Gtid(String),
}

/// When each binlog file read so far was created (file index -> header time of its first
/// event), for the checkpoint to store beside its position (see [`origin`]).
pub type FileOrigins = Arc<Mutex<BTreeMap<u32, u32>>>;

/// What a binlog file began with, as the checkpoint stores it: its creation time and its second
/// event (`source::mysql::second_event`).
pub fn origin(created: u32, second_event: &str) -> String {
    format!("created {created}; {second_event}")
}

pub struct BinlogTailer {
    events: mpsc::Receiver<Result<(Event, BinlogPosition)>>,
    reader: JoinHandle<BinlogStream>,
    /// The position the stream starts at (known from the server's first event).
    start: BinlogPosition,
    origins: FileOrigins,
}

/// Events read ahead of the caller (a rows event is up to ~8 KiB on MariaDB by default).
const READ_AHEAD: usize = 1024;

/// The reading side: the stream and the file of the events being read.
struct Reader {
    stream: BinlogStream,
    /// A position in the file of the events being read (the file name is shared by all).
    file: BinlogPosition,
    /// No event (not even a heartbeat) for this long means the connection is dead.
    idle_timeout: Duration,
    origins: FileOrigins,
    /// Compressed events -> ordinary ones, with the state of a MySQL payload being read.
    decompression: Decompression,
    /// Where the last event read ended (names the event after it when the stream fails).
    last: BinlogPosition,
}

impl BinlogTailer {
    /// Opens a replica connection reading from `at`. Refuses a position whose file was created
    /// at another time than `origin` says (the binlog was reset or restored since).
    pub async fn open(cfg: &Config, at: &StartAt) -> Result<BinlogTailer> {
        let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
        let period_ns = cfg.mysql.heartbeat.as_nanos().max(1_000_000) as u64;
        conn.query_drop(format!("SET @master_heartbeat_period = {period_ns}"))
            .await?;
        let files = my::binlog_files(&mut conn).await?;
        // The checkpoint's file as the server has it now (`None`: purged, the dump says so).
        let mut second_event = None;
        if let StartAt::Position {
            position,
            origin: Some(_),
        } = at
        {
            second_event = my::second_event(&mut conn, position.file()).await?;
            if second_event.is_some()
                && !my::is_event_boundary(&mut conn, position.file(), position.offset()).await?
            {
                return Err(SyncError::SourceChanged {
                    what: format!(
                        "no event of the server's binlog file {} starts at the checkpoint's position {position}: the binlog was reset (RESET MASTER) or the server restored since",
                        position.file()
                    ),
                });
            }
        }
        // MariaDB sends its own GTID events (which carry an XA transaction's id) instead of
        // the BEGIN queries it substitutes for replicas that do not say they know them.
        let mariadb = my::is_mariadb(&mut conn).await?;
        if mariadb {
            conn.exec_drop("SET @mariadb_slave_capability = 4", ())
                .await?;
        }
        let mut request = BinlogStreamRequest::new(cfg.mysql.server_id);
        let sids;
        match at {
            StartAt::Position { position, .. } => {
                request = request
                    .with_filename(position.file().as_bytes())
                    .with_pos(position.offset());
            }
            StartAt::Gtid(set) if mariadb => {
                // MariaDB: the server starts after the slave's GTID state, whatever file and
                // position the dump request names.
                conn.exec_drop("SET @slave_connect_state = ?", (set.as_str(),))
                    .await?;
                conn.exec_drop("SET @slave_gtid_strict_mode = 0", ())
                    .await?;
                conn.exec_drop("SET @slave_gtid_ignore_duplicates = 0", ())
                    .await?;
            }
            StartAt::Gtid(set) => {
                let parsed = GtidSet::parse(set).ok_or_else(|| {
                    SyncError::definite(
                        format!("the checkpoint's GTID set {set:?} is not a MySQL GTID set"),
                        "restart with snapshot.mode = \"when_needed\" to re-bootstrap every captured table",
                    )
                })?;
                sids = mysql_sids(&parsed);
                request = request.with_gtid().with_gtid_set(sids.iter().cloned());
            }
        }
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| stream_error(e, at))?;
        let idle_timeout = cfg.mysql.heartbeat * 3 + Duration::from_secs(1);
        let origins: FileOrigins = Arc::default();
        // Replaced by the server's first event (a ROTATE naming the file and position).
        let file = match at {
            StartAt::Position { position, .. } => position.clone(),
            StartAt::Gtid(_) => BinlogPosition::new("unknown.000000", 4).expect("numbered"),
        };
        let mut reader = Reader {
            stream,
            last: file.clone(),
            file,
            idle_timeout,
            origins: origins.clone(),
            decompression: Decompression::default(),
        };
        // The first events: the ROTATE telling where the stream starts, then the file's
        // FORMAT_DESCRIPTION event telling when it was created.
        let mut first = Vec::new();
        let mut start = None;
        let origin = loop {
            let (event, position) = reader.next_from(&files).await.map_err(|e| match (e, at) {
                (SyncError::Mysql(m), _) => stream_error(m, at),
                // The server refuses a GTID start with its first packet.
                (SyncError::BinlogPurged { message, .. }, StartAt::Gtid(set)) => {
                    SyncError::SourceChanged {
                        what: format!(
                            "the server cannot stream from the checkpoint's GTID set {set}: {message}"
                        ),
                    }
                }
                (other, _) => other,
            })?;
            let kind = event.header().event_type();
            if kind == Ok(EventType::ROTATE_EVENT) && start.is_none() {
                start = Some(position.clone());
            }
            let origin = (kind == Ok(EventType::FORMAT_DESCRIPTION_EVENT))
                .then(|| event.header().timestamp());
            first.push(Ok((event, position)));
            if let Some(origin) = origin {
                break origin;
            }
        };
        let start = start.unwrap_or_else(|| reader.file.clone());
        if let (
            StartAt::Position {
                position,
                origin: Some(expected),
            },
            Some(second),
        ) = (at, &second_event)
        {
            let now = self::origin(origin, second);
            if now != *expected {
                return Err(SyncError::SourceChanged {
                    what: format!(
                        "the server's binlog file {} began with \"{now}\", the checkpoint's with \"{expected}\": the binlog was reset (RESET MASTER) or the server restored since",
                        position.file()
                    ),
                });
            }
        }
        let (tx, events) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(async move {
            for event in first {
                if tx.send(event).await.is_err() {
                    return reader.stream;
                }
            }
            loop {
                let next = reader.next_from(&[]).await;
                let failed = next.is_err();
                // Stop at the first error, or when the tailer is gone.
                if tx.send(next).await.is_err() || failed {
                    return reader.stream;
                }
            }
        });
        Ok(BinlogTailer {
            events,
            reader,
            start,
            origins,
        })
    }

    /// Where the stream starts: the requested position, or where the server put a GTID start.
    pub fn start(&self) -> &BinlogPosition {
        &self.start
    }

    /// When the files read so far were created.
    pub fn origins(&self) -> FileOrigins {
        self.origins.clone()
    }

    /// The next event and the position right after it.
    pub async fn next(&mut self) -> Result<(Event, BinlogPosition)> {
        match self.events.recv().await {
            Some(next) => next,
            None => Err(SyncError::transient("the binlog reader stopped")),
        }
    }

    pub async fn close(self) {
        drop(self.events);
        // The reader notices the closed channel at its next event (a heartbeat at the latest);
        // closing the stream without waiting for it is what dropping it does.
        if self.reader.is_finished() {
            if let Ok(stream) = self.reader.await {
                let _ = stream.close().await;
            }
        } else {
            self.reader.abort();
        }
    }
}

impl Reader {
    /// The next event for the caller and the position right after it; `files` are the
    /// server's binlog file names, to recognise a first ROTATE whose name carries checksum
    /// bytes when the current file is not known yet.
    async fn next_from(&mut self, files: &[String]) -> Result<(Event, BinlogPosition)> {
        loop {
            let event = self.read().await?;
            let position = self.follow(&event, files)?;
            self.last = position.clone();
            if let Some(next) = self.decompression.event(event, position)? {
                return Ok(next);
            }
        }
    }

    /// The next event of the stream, as mysql_async yields it.
    async fn read(&mut self) -> Result<Event> {
        // mysql_async unwraps parts of a compressed transaction: a panic is an event it cannot
        // read, named here, not a reader task that silently died.
        let next = std::panic::AssertUnwindSafe(self.stream.next()).catch_unwind();
        match tokio::time::timeout(self.idle_timeout, next).await {
            Err(_) => Err(SyncError::transient(format!(
                "no binlog event or heartbeat for {:?}: the connection to MySQL is dead",
                self.idle_timeout
            ))),
            Ok(Err(panic)) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Err(self.decompression.reader_panicked(&message, &self.last))
            }
            Ok(Ok(None)) => Err(SyncError::transient("the server closed the binlog stream")),
            Ok(Ok(Some(Err(e)))) => Err(match self.decompression.failed_inside(&e) {
                Some(inside) => inside,
                None => purged_or(e, self.file.file()),
            }),
            Ok(Ok(Some(Ok(event)))) => Ok(event),
        }
    }

    /// Follows the stream's file across ROTATE events and records when each file was created
    /// (FORMAT_DESCRIPTION); returns the position right after `event`.
    fn follow(&mut self, event: &Event, files: &[String]) -> Result<BinlogPosition> {
        // Only these two types are parsed here: the router parses the rest.
        match event.header().event_type() {
            Ok(EventType::ROTATE_EVENT) => {
                if let Ok(rotate) = event.read_event::<RotateEvent<'_>>() {
                    let name = clean_file_name(rotate.name_raw(), self.file.file(), files);
                    // A rotate announces the next file; its own position is where that file
                    // starts.
                    self.file = if name == self.file.file() {
                        self.file.at(rotate.position())
                    } else {
                        BinlogPosition::new(name, rotate.position()).map_err(|e| {
                            SyncError::definite(
                                format!("the server rotated to a binlog file that cannot be followed: {e}"),
                                "set log_bin to a base name (log_bin = mysql-bin) so binlog files are numbered",
                            )
                        })?
                    };
                    return Ok(self.file.clone());
                }
            }
            Ok(EventType::FORMAT_DESCRIPTION_EVENT) => {
                self.origins
                    .lock()
                    .expect("origins lock")
                    .insert(self.file.index(), event.header().timestamp());
            }
            _ => {}
        }
        // Artificial events (log_pos 0) do not move the position.
        Ok(match event.header().log_pos() {
            0 => self.file.clone(),
            end => self.file.at(end as u64),
        })
    }
}

/// The GTID set as MySQL's dump request takes it (intervals half-open).
fn mysql_sids(set: &GtidSet) -> Vec<Sid<'static>> {
    set.uuid_intervals()
        .map(|(uuid, intervals)| {
            Sid::new(uuid).with_intervals(
                intervals
                    .iter()
                    .map(|&(start, end)| GnoInterval::new(start, end + 1))
                    .collect(),
            )
        })
        .collect()
}

/// A dump request the server refused: a purged file, or (GTID start) GTIDs it does not have.
fn stream_error(e: mysql_async::Error, at: &StartAt) -> SyncError {
    match (at, &e) {
        (StartAt::Position { position, .. }, _) => purged_or(e, position.file()),
        (StartAt::Gtid(set), mysql_async::Error::Server(s))
            if s.code == mysql_codes::ER_SOURCE_FATAL_ERROR_READING_BINLOG =>
        {
            SyncError::SourceChanged {
                what: format!(
                    "the server cannot stream from the checkpoint's GTID set {set}: {}",
                    s.message
                ),
            }
        }
        _ => SyncError::Mysql(e),
    }
}

/// Cuts checksum bytes that MariaDB appends to the file name of its first ROTATE event: the
/// name is the current file's, or one of `files` (the server's), when followed by 4 bytes.
fn clean_file_name(reported: &[u8], current: &str, files: &[String]) -> String {
    for known in std::iter::once(current).chain(files.iter().map(String::as_str)) {
        if reported.len() == known.len() + 4 && reported.starts_with(known.as_bytes()) {
            return known.to_string();
        }
    }
    String::from_utf8_lossy(reported).into_owned()
}

fn purged_or(e: mysql_async::Error, file: &str) -> SyncError {
    match &e {
        mysql_async::Error::Server(s)
            if s.code == mysql_codes::ER_SOURCE_FATAL_ERROR_READING_BINLOG =>
        {
            SyncError::BinlogPurged {
                file: file.to_string(),
                message: s.message.clone(),
            }
        }
        _ => SyncError::Mysql(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_bytes_are_cut_from_the_first_rotate() {
        assert_eq!(
            clean_file_name(b"binlog.000001\x01\xff\xfeb", "binlog.000001", &[]),
            "binlog.000001"
        );
        assert_eq!(
            clean_file_name(b"binlog.000002", "binlog.000001", &[]),
            "binlog.000002"
        );
        // A GTID start does not know the file yet: the server's file list does.
        let files = ["b.000007".to_string(), "b.000008".to_string()];
        assert_eq!(
            clean_file_name(b"b.000008\x01\x02\x03\x04", "unknown.000000", &files),
            "b.000008"
        );
    }
}
