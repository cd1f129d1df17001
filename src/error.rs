//! Error types, each with a kind.
//!
//! - *Transient* errors (a lost connection, a server restarting, HBase or Kafka unreachable)
//!   may go away: the restart strategy retries them from the checkpoint.
//! - *Definite* errors cannot be retried away (a purged binlog, a server setting, a bad
//!   configuration, a row that cannot be decoded): the service stops with a message that names
//!   the problem, where it happened (table, binlog position) and the fix.
//!
//! [`SyncError::is_transient`] is the only place that decides which is which.

use thiserror::Error;

use crate::model::BinlogPosition;

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist (pass --config with the path of a TOML file; see config/mysql2hbase.example.toml)")]
    FileMissing(String),
    #[error("invalid configuration: {0} (see config/mysql2hbase.example.toml for every key and its allowed values)")]
    Invalid(String),
    #[error("invalid configuration: `{key}` = {value} is not allowed; expected {allowed}")]
    BadValue {
        key: String,
        value: String,
        allowed: String,
    },
}

/// Server error codes we react to by name.
pub mod mysql_codes {
    /// The requested binlog file is gone (purged) or unreadable.
    pub const ER_SOURCE_FATAL_ERROR_READING_BINLOG: u16 = 1236;
    /// `FLUSH TABLES WITH READ LOCK` without the RELOAD privilege.
    pub const ER_SPECIFIC_ACCESS_DENIED: u16 = 1227;
    pub const ER_ACCESS_DENIED: u16 = 1045;
    pub const ER_NO_SUCH_TABLE: u16 = 1146;
    pub const ER_BAD_DB: u16 = 1049;
    pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
    /// Server errors that go away by themselves: too many connections (1040), shutdown in
    /// progress (1053), lock wait timeout and deadlock (1205, 1213), read-only during a
    /// failover (1290, 1836), the connection killed (1927), idle disconnect (4031).
    pub const TRANSIENT_SERVER_ERRORS: [u16; 8] = [1040, 1053, 1205, 1213, 1290, 1836, 1927, 4031];
}

/// An error retrying cannot help with: what is wrong, where, and how to fix it.
#[derive(Debug)]
pub struct Definite {
    pub problem: String,
    /// `db.table`, when one table is concerned.
    pub table: Option<String>,
    /// The binlog position of the event concerned.
    pub position: Option<BinlogPosition>,
    pub fix: String,
}

impl std::fmt::Display for Definite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem)?;
        match (&self.table, &self.position) {
            (Some(t), Some(p)) => write!(f, " (table {t}, binlog position {p})")?,
            (Some(t), None) => write!(f, " (table {t})")?,
            (None, Some(p)) => write!(f, " (binlog position {p})")?,
            (None, None) => {}
        }
        write!(f, "; {}", self.fix)
    }
}

/// Errors of the sync pipeline.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The checkpoint's binlog is no longer on the server.
    #[error("the binlog file {file} that the checkpoint needs has been purged from the server ({message}); HBase is left as it was. Restart with `snapshot.mode = \"when_needed\"` (or MYSQL2HBASE__SNAPSHOT__MODE=when_needed) to re-bootstrap every captured table from the current position, and keep binlogs longer than the longest downtime")]
    BinlogPurged { file: String, message: String },
    /// The checkpoint's position belongs to another history: another server (a failover), a
    /// reset or restored binlog; and no GTID leads from it to this server's binlog.
    #[error("{what}. A position of another history is never used; the daemon resumes after the checkpoint's GTID set only where the server's binlog has it (MariaDB; MySQL with gtid_mode = ON). Restart with `snapshot.mode = \"when_needed\"` (or MYSQL2HBASE__SNAPSHOT__MODE=when_needed) to re-bootstrap every captured table from the current position")]
    SourceChanged { what: String },
    /// The server is not configured for row-based replication.
    #[error("MySQL setting {setting} is {actual}, but mysql2hbase needs {expected}: {hint}")]
    ServerSetting {
        setting: String,
        expected: String,
        actual: String,
        hint: String,
    },
    #[error("MySQL error: {0}")]
    Mysql(#[from] mysql_async::Error),
    #[error("HBase/Thrift error: {0}")]
    Hbase(String),
    #[error("Kafka error: {0}")]
    Kafka(String),
    #[error("state store: {0}")]
    State(String),
    /// Something that may go away by itself: a lost connection, a component that stopped
    /// because another failed.
    #[error("{0}")]
    Transient(String),
    /// Something retrying cannot fix.
    #[error("{0}")]
    Definite(Box<Definite>),
    /// The restart strategy gave up.
    #[error("giving up after {failures} failure(s) in a row (restart.strategy = {strategy}); last error: {last}")]
    GaveUp {
        strategy: String,
        failures: u32,
        last: String,
    },
}

impl SyncError {
    /// Whether retrying from the last checkpoint may succeed (lost connections, outages).
    pub fn is_transient(&self) -> bool {
        match self {
            SyncError::Mysql(mysql_async::Error::Io(_) | mysql_async::Error::Driver(_)) => true,
            SyncError::Mysql(mysql_async::Error::Server(e)) => {
                mysql_codes::TRANSIENT_SERVER_ERRORS.contains(&e.code)
            }
            SyncError::Mysql(_) => false,
            SyncError::Hbase(_) | SyncError::Kafka(_) | SyncError::Transient(_) => true,
            SyncError::BinlogPurged { .. }
            | SyncError::SourceChanged { .. }
            | SyncError::ServerSetting { .. }
            | SyncError::State(_)
            | SyncError::Definite(_)
            | SyncError::GaveUp { .. } => false,
        }
    }

    pub fn transient(message: impl Into<String>) -> SyncError {
        SyncError::Transient(message.into())
    }

    /// A definite error: `problem`, then `fix`; add where with [`Self::in_table`] and
    /// [`Self::at`].
    pub fn definite(problem: impl Into<String>, fix: impl Into<String>) -> SyncError {
        SyncError::Definite(Box::new(Definite {
            problem: problem.into(),
            table: None,
            position: None,
            fix: fix.into(),
        }))
    }

    /// Names the table a definite error concerns (other kinds are returned unchanged).
    pub fn in_table(mut self, table: impl Into<String>) -> SyncError {
        if let SyncError::Definite(d) = &mut self {
            d.table = Some(table.into());
        }
        self
    }

    /// Names the binlog position a definite error concerns (other kinds are returned unchanged).
    pub fn at(mut self, position: &BinlogPosition) -> SyncError {
        if let SyncError::Definite(d) = &mut self {
            d.position = Some(position.clone());
        }
        self
    }
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definite_errors_name_problem_place_and_fix_and_are_not_retried() {
        let p = BinlogPosition::new("b.000003", 120).unwrap();
        let e = SyncError::definite("a row cannot be decoded", "set [dead_letter] path")
            .in_table("shop.t")
            .at(&p);
        assert_eq!(
            e.to_string(),
            "a row cannot be decoded (table shop.t, binlog position b.000003:120); set [dead_letter] path"
        );
        assert!(!e.is_transient());
        assert!(SyncError::transient("connection lost").is_transient());
        assert!(SyncError::Hbase("down".into()).is_transient());
        let purged = SyncError::BinlogPurged {
            file: "b.1".into(),
            message: "gone".into(),
        };
        assert!(!purged.is_transient());
    }
}
