//! The sections of the configuration file, one struct each, with their defaults. Enum keys are
//! read as strings so that a bad value lists the allowed ones. `config/mysql2hbase.example.toml`
//! documents every key; keep the two in step.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::{Secret, SecretUrl};
use crate::error::ConfigError;

/// How the daemon restarts a failed pipeline (Flink's strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "kebab-case", try_from = "String")]
pub enum RestartStrategy {
    /// `attempts` restarts `delay` apart, then give up.
    FixedDelay,
    /// `delay` doubling up to `max_delay`, `attempts` restarts, then give up.
    #[default]
    Exponential,
    /// Give up when more than `failures_per_interval` failures fall within `interval`.
    FailureRate,
    /// Give up at the first failure.
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RestartConfig {
    #[serde(default)]
    pub strategy: RestartStrategy,
    /// Consecutive restarts without recovery before giving up (fixed-delay, exponential).
    #[serde(default = "defaults::restart_attempts")]
    pub attempts: u32,
    #[serde(default = "defaults::restart_delay", with = "humantime_serde")]
    pub delay: Duration,
    #[serde(default = "defaults::restart_max_delay", with = "humantime_serde")]
    pub max_delay: Duration,
    #[serde(default = "defaults::failures_per_interval")]
    pub failures_per_interval: u32,
    #[serde(default = "defaults::failure_interval", with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for RestartConfig {
    fn default() -> Self {
        RestartConfig {
            strategy: RestartStrategy::default(),
            attempts: defaults::restart_attempts(),
            delay: defaults::restart_delay(),
            max_delay: defaults::restart_max_delay(),
            failures_per_interval: defaults::failures_per_interval(),
            interval: defaults::failure_interval(),
        }
    }
}

/// Where changes that cannot be written to HBase go.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// JSON-lines file; absent (and no topic) means such changes are only logged.
    #[serde(default)]
    pub path: Option<String>,
    /// Kafka topic on `[kafka] brokers`, instead of a file.
    #[serde(default)]
    pub topic: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlConfig {
    /// `mysql://user:password@host:port`; the database part is ignored.
    pub url: SecretUrl,
    /// Our replica id; must differ from the server's and from every other replica's.
    pub server_id: u32,
    /// Heartbeat period asked of the server, so a dead connection is noticed.
    #[serde(default = "defaults::heartbeat", with = "humantime_serde")]
    pub heartbeat: Duration,
    /// How long to wait for a TCP connection.
    #[serde(default = "defaults::connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// File holding the password of `url`'s user (one line); keeps it out of the config file.
    #[serde(default)]
    pub password_file: Option<String>,
    /// TLS for every connection to the source server (and to `[state] url`); absent: plain TCP.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// `[mysql.tls]` and `[kafka.tls]`: connections must be encrypted, and the server's (broker's)
/// certificate is verified. For Kafka it is `security.protocol = ssl` for every client.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of the CA(s) that signed the server's certificate; then only those are trusted.
    /// Absent: the system's CA store.
    #[serde(default)]
    pub ca: Option<String>,
    /// Client certificate (PEM, optionally followed by its chain) and its unencrypted key (PEM),
    /// for servers that authenticate clients (MySQL users created `REQUIRE X509` / `SUBJECT` /
    /// `ISSUER`, Kafka brokers with `ssl.client.auth=required`).
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    /// Check that the certificate names the host connected to (off: any certificate the CA
    /// signed).
    #[serde(default = "defaults::yes")]
    pub verify_identity: bool,
}

impl TlsConfig {
    /// The files must exist now, not at the first connection; a key needs its certificate.
    /// `section` is `mysql.tls` or `kafka.tls`, for the messages.
    pub(super) fn validate(&self, section: &str) -> Result<(), ConfigError> {
        if self.certificate.is_some() != self.key.is_some() {
            return Err(ConfigError::BadValue {
                key: format!("{section}.key"),
                value: format!("{:?}", self.key.as_deref().unwrap_or("(none)")),
                allowed: format!("{section}.certificate and {section}.key together, or neither"),
            });
        }
        let files = [
            ("ca", &self.ca),
            ("certificate", &self.certificate),
            ("key", &self.key),
        ];
        for (key, path) in files {
            if let Some(path) = path {
                if let Err(e) = std::fs::File::open(path) {
                    return Err(ConfigError::BadValue {
                        key: format!("{section}.{key}"),
                        value: format!("{path:?}"),
                        allowed: format!("a readable PEM file ({e})"),
                    });
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HbaseConfig {
    /// Thrift1 server, `host:port`, or a list of them (writers are spread over them; one that
    /// fails is left to the others until it answers again).
    pub thrift: ThriftServers,
    /// The Thrift server's transport: `buffered` (HBase's default `-threadpool` server) or
    /// `framed` (needed by servers started with `-hsha`, `-nonblocking`, `-threadedselector`,
    /// or `-f`).
    #[serde(default)]
    pub thrift_transport: ThriftTransport,
    /// The Thrift server's protocol: `binary` (HBase's default) or `compact` (`-c`).
    #[serde(default)]
    pub thrift_protocol: ThriftProtocol,
    /// Socket read/write timeout of one Thrift call.
    #[serde(default = "defaults::hbase_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Versions kept per cell by tables the service creates.
    #[serde(default = "defaults::max_versions")]
    pub max_versions: u32,
    /// Largest cell value written (HBase's `hbase.client.keyvalue.maxsize`); rows with a larger
    /// one go to the dead-letter output instead.
    #[serde(default = "defaults::max_cell_bytes")]
    pub max_cell_bytes: usize,
}

/// One Thrift1 server (`"host:port"`) or several (`["host:port", ...]`) of the same HBase.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ThriftServers {
    One(String),
    Many(Vec<String>),
}

impl ThriftServers {
    /// Every server, in the configured order.
    pub fn list(&self) -> Vec<&str> {
        match self {
            ThriftServers::One(s) => vec![s.as_str()],
            ThriftServers::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

impl std::fmt::Display for ThriftServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.list().join(", "))
    }
}

/// How Thrift messages are delimited on the connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThriftTransport {
    #[default]
    Buffered,
    Framed,
}

/// How Thrift messages are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ThriftProtocol {
    #[default]
    Binary,
    Compact,
}

impl std::fmt::Display for ThriftTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ThriftTransport::Buffered => "buffered",
            ThriftTransport::Framed => "framed",
        })
    }
}

impl std::fmt::Display for ThriftProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ThriftProtocol::Binary => "binary",
            ThriftProtocol::Compact => "compact",
        })
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    /// Schema holding checkpoints, bootstrap jobs and schema history.
    #[serde(default = "defaults::state_database")]
    pub database: String,
    /// Server holding the state store; defaults to the source server (`[mysql] url`).
    #[serde(default)]
    pub url: Option<SecretUrl>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            database: defaults::state_database(),
            url: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// `db.table` patterns, `*` matches any run of characters. Empty captures nothing.
    #[serde(default)]
    pub include: Vec<String>,
    /// `db.table` patterns removed from what `include` selects.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `db.table` patterns of online schema change tools' helper tables, never captured:
    /// pt-online-schema-change's `_t_new` / `_t_old`, gh-ost's `_t_gho` / `_t_ghc` / `_t_del`.
    /// Their rows reach the real table at the tool's cut-over (`RENAME TABLE`), which resyncs
    /// it. Set to `[]` to capture tables named like that.
    #[serde(default = "defaults::tool_tables")]
    pub exclude_tool_tables: Vec<String>,
    /// `db.table.column` patterns of columns never written.
    #[serde(default)]
    pub exclude_columns: Vec<String>,
    /// What a change logged as a statement (a session with `binlog_format = STATEMENT` or
    /// `MIXED`) to a captured table does: `resync` the table from that point, or `stop`.
    #[serde(default)]
    pub statement_changes: StatementChanges,
    /// What a statement or event whose tables cannot be worked out does: `stop` (the default),
    /// `resync` every captured table from that point, or `warn` and go on.
    #[serde(default)]
    pub unknown_statements: UnknownStatements,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            exclude_tool_tables: defaults::tool_tables(),
            exclude_columns: Vec::new(),
            statement_changes: StatementChanges::default(),
            unknown_statements: UnknownStatements::default(),
        }
    }
}

/// `*`-glob match, case-sensitive like MySQL table names on Linux.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut star_ti) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            star_ti = ti;
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            star_ti += 1;
            ti = star_ti;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Whether `db.table.column` may leave the service: no `exclude_columns` pattern matches it.
pub fn captures_column(exclude_columns: &[String], db: &str, table: &str, column: &str) -> bool {
    if exclude_columns.is_empty() {
        return true;
    }
    let name = format!("{db}.{table}.{column}");
    !exclude_columns.iter().any(|p| glob_match(p, &name))
}

impl CaptureConfig {
    /// See [`captures_column`]: every output (HBase, change events, the dead letter) leaves out
    /// the columns it refuses.
    pub fn captures_column(&self, db: &str, table: &str, column: &str) -> bool {
        captures_column(&self.exclude_columns, db, table, column)
    }
}

/// See [`CaptureConfig::statement_changes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum StatementChanges {
    /// Resync the table from the statement's position (exact, costs a table read).
    #[default]
    Resync,
    /// Stop with an error naming the statement.
    Stop,
}

/// See [`CaptureConfig::unknown_statements`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum UnknownStatements {
    /// Stop with an error naming the statement and its position.
    #[default]
    Stop,
    /// Resync every captured table from the statement's position.
    Resync,
    /// Log at warn, count in `mysql2hbase_statements_ignored_total`, go on.
    Warn,
}

/// When tables are bootstrapped (Debezium's `snapshot.mode` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum SnapshotMode {
    /// Bootstrap every captured table on the first start, then stream.
    #[default]
    Initial,
    /// Never bootstrap on its own; stream from the current position on a first start.
    Never,
    /// Like `initial`, and also when the checkpoint's binlog file has been purged.
    WhenNeeded,
    /// Bootstrap, then exit.
    InitialOnly,
}

/// How a bootstrap keeps its rows consistent with the binlog (Debezium's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum LockingMode {
    /// Global read lock only while reading the binlog position and schemas.
    #[default]
    Minimal,
    /// Global read lock held until every row is read.
    Extended,
    /// No lock: per-chunk low/high watermarks.
    None,
}

impl LockingMode {
    /// Whether this mode takes `FLUSH TABLES WITH READ LOCK` (needs RELOAD).
    pub fn needs_reload(self) -> bool {
        !matches!(self, LockingMode::None)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotConfig {
    #[serde(default)]
    pub mode: SnapshotMode,
    #[serde(default)]
    pub locking_mode: LockingMode,
    /// Longest wait for the global read lock before the bootstrap fails.
    #[serde(default = "defaults::lock_timeout", with = "humantime_serde")]
    pub lock_timeout: Duration,
    /// Rows per primary-key chunk.
    #[serde(default = "defaults::chunk_rows")]
    pub chunk_rows: u64,
    /// Chunk readers working at once.
    #[serde(default = "defaults::parallelism")]
    pub parallelism: usize,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            mode: SnapshotMode::default(),
            locking_mode: LockingMode::default(),
            lock_timeout: defaults::lock_timeout(),
            chunk_rows: defaults::chunk_rows(),
            parallelism: defaults::parallelism(),
        }
    }
}

/// How cell values are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case", try_from = "String")]
pub enum ValueEncoding {
    /// The bytes MySQL's text protocol returns for the column (session time zone UTC).
    #[default]
    String,
    /// HBase `Bytes.toBytes`-compatible binary for numbers; text for the rest.
    Native,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// HBase table name template; `{db}` and `{table}` are replaced.
    #[serde(default = "defaults::table_template")]
    pub table: String,
    /// Column family of every cell.
    #[serde(default = "defaults::family")]
    pub family: String,
    #[serde(default)]
    pub encoding: ValueEncoding,
    /// Per-table overrides.
    #[serde(default)]
    pub tables: Vec<TableOverride>,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            table: defaults::table_template(),
            family: defaults::family(),
            encoding: ValueEncoding::default(),
            tables: Vec::new(),
        }
    }
}

/// `[[mapping.tables]]`: overrides for one source table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TableOverride {
    /// The source table, `db.table` (exact, no patterns).
    pub source: String,
    /// HBase table name (may contain a namespace, `ns:table`).
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub family: Option<String>,
    /// Row-key columns in order; default is the primary key.
    #[serde(default)]
    pub row_key: Option<Vec<String>>,
    /// Prefix row keys with `hash(key) % salt_buckets` (two hex digits) against hot-spotting.
    #[serde(default)]
    pub salt_buckets: Option<u16>,
    #[serde(default)]
    pub encoding: Option<ValueEncoding>,
    /// A joined table: its rows are written into the HBase rows of `table` (their parent's),
    /// `row_key` naming the join columns, each column a cell of `family` named by this template
    /// (see `config::joined`), e.g. `"{id}:{column}"`.
    #[serde(default)]
    pub qualifier: Option<String>,
    /// A joined table's cells when their parent row is deleted (default `keep`).
    #[serde(default)]
    pub on_parent_delete: Option<super::joined::OnParentDelete>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Parallel HBase writers; one row always goes to the same writer.
    #[serde(default = "defaults::writers")]
    pub writers: usize,
    /// A batch is flushed at this many rows ...
    #[serde(default = "defaults::batch_rows")]
    pub batch_rows: usize,
    /// ... or this many bytes ...
    #[serde(default = "defaults::batch_bytes")]
    pub batch_bytes: usize,
    /// ... or when its oldest change is this old. Zero (the default): as soon as the writer's
    /// previous write returned, with everything that arrived meanwhile (natural batching).
    #[serde(default = "defaults::batch_delay", with = "humantime_serde")]
    pub batch_delay: Duration,
    /// Bytes of decoded changes in flight between the binlog reader and HBase acknowledgements;
    /// the reader waits when it is reached (backpressure).
    #[serde(default = "defaults::max_inflight_bytes")]
    pub max_inflight_bytes: usize,
    /// How often the checkpoint is stored at most.
    #[serde(default = "defaults::checkpoint_interval", with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// Changes waiting this long without any progress (HBase, Kafka or MySQL not answering)
    /// mean the pipeline is stalled: it is restarted from the checkpoint. Also bounds each step
    /// of a (re)start. Must exceed the longest single write: 3 x `hbase.timeout` and backoff.
    #[serde(default = "defaults::stall_timeout", with = "humantime_serde")]
    pub stall_timeout: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            writers: defaults::writers(),
            batch_rows: defaults::batch_rows(),
            batch_bytes: defaults::batch_bytes(),
            batch_delay: defaults::batch_delay(),
            max_inflight_bytes: defaults::max_inflight_bytes(),
            checkpoint_interval: defaults::checkpoint_interval(),
            stall_timeout: defaults::stall_timeout(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// Topic of the Maxwell-format change events; `{db}` and `{table}` are replaced. Absent: no
    /// change events (Kafka then serves only the dead-letter topic or the distributed roles).
    #[serde(default)]
    pub topic: Option<String>,
    /// Add Maxwell's `position` (`file:offset`) to every change event.
    #[serde(default)]
    pub include_position: bool,
    /// Add Maxwell's `primary_key` and `primary_key_columns` to every change event.
    #[serde(default)]
    pub include_primary_key: bool,
    /// Topic between `run --role capture` and `run --role apply` (distributed mode).
    #[serde(default = "defaults::kafka_internal_topic")]
    pub internal_topic: String,
    /// Partitions of `internal_topic` when the capture role creates it: the most apply workers
    /// that can share the work.
    #[serde(default = "defaults::kafka_internal_partitions")]
    pub internal_partitions: i32,
    /// Consumer group of the apply workers (distributed mode).
    #[serde(default = "defaults::kafka_apply_group")]
    pub apply_group: String,
    /// TLS to the brokers; absent: plaintext.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Admin HTTP address; loopback by default.
    #[serde(default = "defaults::admin_listen")]
    pub listen: String,
    /// Bearer token every request must carry; required when `listen` is not a loopback address.
    #[serde(default)]
    pub token: Option<Secret>,
    /// File holding the token (one line), instead of `token`.
    #[serde(default)]
    pub token_file: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: defaults::admin_listen(),
            token: None,
            token_file: None,
        }
    }
}

/// Enum keys are read as strings so that a bad value lists the allowed ones (the `config`
/// crate's own enum errors do not).
macro_rules! string_enum {
    ($ty:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl TryFrom<String> for $ty {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                match value.as_str() {
                    $($text => Ok($ty::$variant),)+
                    other => Err(format!(
                        "unknown value `{other}`, expected one of {}",
                        [$(concat!("`", $text, "`")),+].join(", ")
                    )),
                }
            }
        }
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text,)+
                }
            }
        }
    };
}

string_enum!(SnapshotMode {
    Initial = "initial",
    Never = "never",
    WhenNeeded = "when_needed",
    InitialOnly = "initial_only",
});
string_enum!(StatementChanges {
    Resync = "resync",
    Stop = "stop",
});
string_enum!(UnknownStatements {
    Stop = "stop",
    Resync = "resync",
    Warn = "warn",
});
string_enum!(LockingMode {
    Minimal = "minimal",
    Extended = "extended",
    None = "none",
});
string_enum!(RestartStrategy {
    FixedDelay = "fixed-delay",
    Exponential = "exponential",
    FailureRate = "failure-rate",
    None = "none",
});
string_enum!(ValueEncoding {
    String = "string",
    Native = "native",
});

mod defaults {
    use std::time::Duration;
    pub fn heartbeat() -> Duration {
        Duration::from_secs(5)
    }
    pub fn connect_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn hbase_timeout() -> Duration {
        Duration::from_secs(30)
    }
    pub fn max_versions() -> u32 {
        3
    }
    pub fn max_cell_bytes() -> usize {
        10 << 20
    }
    pub fn tool_tables() -> Vec<String> {
        ["_new", "_old", "_gho", "_ghc", "_del"]
            .iter()
            .map(|suffix| format!("*._*{suffix}"))
            .collect()
    }
    pub fn state_database() -> String {
        "mysql2hbase".into()
    }
    pub fn lock_timeout() -> Duration {
        Duration::from_secs(10)
    }
    pub fn chunk_rows() -> u64 {
        10_000
    }
    pub fn parallelism() -> usize {
        2
    }
    pub fn table_template() -> String {
        "{db}_{table}".into()
    }
    pub fn family() -> String {
        "d".into()
    }
    pub fn writers() -> usize {
        2
    }
    pub fn batch_rows() -> usize {
        2_000
    }
    pub fn batch_bytes() -> usize {
        4 << 20
    }
    pub fn batch_delay() -> Duration {
        Duration::ZERO
    }
    pub fn max_inflight_bytes() -> usize {
        64 << 20
    }
    pub fn checkpoint_interval() -> Duration {
        Duration::from_secs(1)
    }
    pub fn stall_timeout() -> Duration {
        Duration::from_secs(300)
    }
    pub fn kafka_internal_topic() -> String {
        "mysql2hbase.changes".into()
    }
    pub fn kafka_internal_partitions() -> i32 {
        12
    }
    pub fn kafka_apply_group() -> String {
        "mysql2hbase-apply".into()
    }
    pub fn restart_attempts() -> u32 {
        1_000_000
    }
    pub fn restart_delay() -> Duration {
        Duration::from_secs(1)
    }
    pub fn restart_max_delay() -> Duration {
        Duration::from_secs(60)
    }
    pub fn failures_per_interval() -> u32 {
        10
    }
    pub fn failure_interval() -> Duration {
        Duration::from_secs(300)
    }
    pub fn admin_listen() -> String {
        "127.0.0.1:8686".into()
    }
    pub fn yes() -> bool {
        true
    }
}
