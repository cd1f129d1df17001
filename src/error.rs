//! Error types. Each definite error says what is wrong and how to fix it; transient ones
//! (a lost connection, an HBase outage) are retried by the caller instead of shown to the user.

use thiserror::Error;

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
    pub const ER_NO_SUCH_TABLE: u16 = 1146;
    pub const ER_BAD_DB: u16 = 1049;
    pub const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
}

/// Errors of the sync pipeline.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The checkpoint's binlog is no longer on the server.
    #[error("the binlog file {file} that the checkpoint needs has been purged from the server ({message}); HBase is left as it was. Restart with `snapshot.mode = \"when_needed\"` (or MYSQL2HBASE__SNAPSHOT__MODE=when_needed) to re-bootstrap every captured table from the current position, and keep binlogs longer than the longest downtime")]
    BinlogPurged { file: String, message: String },
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
    #[error("{0}")]
    Other(String),
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
            SyncError::Mysql(e) => {
                matches!(e, mysql_async::Error::Io(_) | mysql_async::Error::Driver(_))
            }
            SyncError::Hbase(_) | SyncError::Kafka(_) => true,
            _ => false,
        }
    }
}

pub type Result<T, E = SyncError> = std::result::Result<T, E>;
