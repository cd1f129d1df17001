//! The binlog tailer: a replica connection (mysql_async's binlog stream) from a position.
//!
//! - Asks the server for heartbeats (`@master_heartbeat_period`), so an idle stream still
//!   receives an event every `[mysql] heartbeat`; no event for three periods means the connection
//!   is dead, and the caller reconnects from its checkpoint.
//! - Tracks the current file across ROTATE events, so every event has a full position
//!   (file, end offset). MariaDB's first (fake) ROTATE may carry checksum bytes after the file
//!   name (mysql_async issue 189); they are cut off.
//! - A purged file (server error 1236) becomes [`SyncError::BinlogPurged`] with the way out.
//! - The stream is read by its own task, up to [`READ_AHEAD`] events ahead of the caller, so
//!   network reads and packet parsing overlap with decoding and routing (another core).

use std::time::Duration;

use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest};
use mysql_common::binlog::events::{Event, EventData};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::error::{mysql_codes, Result, SyncError};
use crate::model::BinlogPosition;
use crate::source::mysql as my;

pub struct BinlogTailer {
    events: mpsc::Receiver<Result<(Event, BinlogPosition)>>,
    reader: JoinHandle<BinlogStream>,
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
}

impl BinlogTailer {
    /// Opens a replica connection reading from `from`.
    pub async fn open(cfg: &Config, from: &BinlogPosition) -> Result<BinlogTailer> {
        let mut conn = my::connect(&cfg.mysql.url, &cfg.mysql, None).await?;
        let period_ns = cfg.mysql.heartbeat.as_nanos().max(1_000_000) as u64;
        conn.query_drop(format!("SET @master_heartbeat_period = {period_ns}"))
            .await?;
        let request = BinlogStreamRequest::new(cfg.mysql.server_id)
            .with_filename(from.file().as_bytes())
            .with_pos(from.offset());
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| purged_or(e, from.file()))?;
        let mut reader = Reader {
            stream,
            file: from.clone(),
            idle_timeout: cfg.mysql.heartbeat * 3 + Duration::from_secs(1),
        };
        let (tx, events) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(async move {
            loop {
                let next = reader.next().await;
                let failed = next.is_err();
                // Stop at the first error, or when the tailer is gone.
                if tx.send(next).await.is_err() || failed {
                    return reader.stream;
                }
            }
        });
        Ok(BinlogTailer { events, reader })
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
    async fn next(&mut self) -> Result<(Event, BinlogPosition)> {
        let event = match tokio::time::timeout(self.idle_timeout, self.stream.next()).await {
            Err(_) => {
                return Err(SyncError::transient(format!(
                    "no binlog event or heartbeat for {:?}: the connection to MySQL is dead",
                    self.idle_timeout
                )))
            }
            Ok(None) => return Err(SyncError::transient("the server closed the binlog stream")),
            Ok(Some(Err(e))) => return Err(purged_or(e, self.file.file())),
            Ok(Some(Ok(event))) => event,
        };
        if let Ok(Some(EventData::RotateEvent(rotate))) = event.read_data() {
            let name = clean_file_name(rotate.name_raw(), self.file.file());
            // A rotate announces the next file; its own position is where that file starts.
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
            return Ok((event, self.file.clone()));
        }
        let position = self.file.at(event.header().log_pos() as u64);
        Ok((event, position))
    }
}

/// Cuts checksum bytes that MariaDB appends to the file name of its first ROTATE event.
fn clean_file_name(reported: &[u8], current: &str) -> String {
    if reported.len() == current.len() + 4 && reported.starts_with(current.as_bytes()) {
        return current.to_string();
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
            clean_file_name(b"binlog.000001\x01\xff\xfeb", "binlog.000001"),
            "binlog.000001"
        );
        assert_eq!(
            clean_file_name(b"binlog.000002", "binlog.000001"),
            "binlog.000002"
        );
    }
}
