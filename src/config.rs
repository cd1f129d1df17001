//! Configuration: one TOML file, every key overridable by the environment.
//!
//! Sources, later ones winning: the file given with `--config`, then environment variables
//! `MYSQL2HBASE__SECTION__KEY` (e.g. `MYSQL2HBASE__SNAPSHOT__LOCKING_MODE=none`; list keys take
//! comma-separated values). The merged tree is deserialized into [`Config`] with
//! `deny_unknown_fields` everywhere, so a misspelt key is an error naming it, and enums list their
//! allowed values. [`Config::validate`] then checks what types cannot express (ranges, templates,
//! patterns). `config/mysql2hbase.example.toml` documents every key; keep the two in step.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Environment variable prefix: `MYSQL2HBASE__MYSQL__URL` overrides `[mysql] url`.
pub const ENV_PREFIX: &str = "MYSQL2HBASE";

/// The whole service configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mysql: MysqlConfig,
    pub hbase: HbaseConfig,
    #[serde(default)]
    pub state: StateConfig,
    #[serde(default)]
    pub capture: CaptureConfig,
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    #[serde(default)]
    pub mapping: MappingConfig,
    #[serde(default)]
    pub pipeline: PipelineConfig,
    /// Kafka output; absent means no Kafka at all.
    #[serde(default)]
    pub kafka: Option<KafkaConfig>,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    #[serde(default)]
    pub restart: RestartConfig,
}

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

/// A connection URL whose password never reaches a log, a status page or an error message.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }
    /// The real URL, for opening connections only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact_url(&self.0)
    }
    /// The URL with `password` (percent-encoded) put in; `Err` says why it cannot be: no user
    /// in the URL, or a password already there.
    pub fn with_password(&self, password: &str) -> Result<SecretUrl, &'static str> {
        let url = &self.0;
        let scheme_end = url
            .find("://")
            .map(|i| i + 3)
            .ok_or("a URL with a scheme")?;
        let rest = &url[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let at = rest[..authority_end]
            .rfind('@')
            .ok_or("a user in the URL (mysql://user@host:port) to go with the password")?;
        if rest[..at].contains(':') {
            return Err("either a password in the URL or a password file, not both");
        }
        let encoded: String = password
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        Ok(SecretUrl(format!(
            "{}{}:{encoded}{}",
            &url[..scheme_end],
            &rest[..at],
            &rest[at..]
        )))
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A secret (token, password) that never reaches a log or a status page.
#[derive(Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Replaces the password of `scheme://user:password@host/...` by `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
    }
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
    fn validate(&self, section: &str) -> Result<(), ConfigError> {
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
    /// Thrift1 server, `host:port` (buffered binary protocol).
    pub thrift: String,
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureConfig {
    /// `db.table` patterns, `*` matches any run of characters. Empty captures nothing.
    #[serde(default)]
    pub include: Vec<String>,
    /// `db.table` patterns removed from what `include` selects.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// `db.table.column` patterns of columns never written.
    #[serde(default)]
    pub exclude_columns: Vec<String>,
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
    /// ... or when its oldest change is this old.
    #[serde(default = "defaults::batch_delay", with = "humantime_serde")]
    pub batch_delay: Duration,
    /// Bytes of decoded changes in flight between the binlog reader and HBase acknowledgements;
    /// the reader waits when it is reached (backpressure).
    #[serde(default = "defaults::max_inflight_bytes")]
    pub max_inflight_bytes: usize,
    /// How often the checkpoint is stored at most.
    #[serde(default = "defaults::checkpoint_interval", with = "humantime_serde")]
    pub checkpoint_interval: Duration,
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
        Duration::from_millis(50)
    }
    pub fn max_inflight_bytes() -> usize {
        64 << 20
    }
    pub fn checkpoint_interval() -> Duration {
        Duration::from_secs(1)
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

impl Config {
    /// Loads `path` (TOML) and the `MYSQL2HBASE__*` environment, then validates.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(path, None)
    }

    /// Like [`Config::load`], with an explicit environment (tests) instead of the process's.
    pub fn load_with_env(
        path: &Path,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::FileMissing(path.display().to_string()));
        }
        let environment = config::Environment::with_prefix(ENV_PREFIX)
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("capture.include")
            .with_list_parse_key("capture.exclude")
            .with_list_parse_key("capture.exclude_columns")
            .source(env);
        let raw = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Toml))
            .add_source(environment)
            .build()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut cfg: Config = raw
            .try_deserialize()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.read_secret_files()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads a config from TOML text (tests and tools).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let raw = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let mut cfg: Config = raw
            .try_deserialize()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        cfg.read_secret_files()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Puts the contents of `mysql.password_file` into `mysql.url` and of `admin.token_file` into
    /// `admin.token`, so the rest of the service sees one place for each secret.
    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        fn read(key: &str, path: &str) -> Result<String, ConfigError> {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::BadValue {
                key: key.into(),
                value: format!("{path:?}"),
                allowed: format!("a readable file holding the secret on one line ({e})"),
            })?;
            let secret = text.trim_end_matches(['\r', '\n']).to_string();
            if secret.is_empty() || secret.contains('\n') {
                return Err(ConfigError::BadValue {
                    key: key.into(),
                    value: format!("{path:?}"),
                    allowed: "a file holding the secret on one line".into(),
                });
            }
            Ok(secret)
        }
        if let Some(path) = &self.mysql.password_file {
            let password = read("mysql.password_file", path)?;
            self.mysql.url = self.mysql.url.with_password(&password).map_err(|allowed| {
                ConfigError::BadValue {
                    key: "mysql.password_file".into(),
                    value: format!("{path:?}"),
                    allowed: allowed.into(),
                }
            })?;
        }
        if let Some(path) = &self.admin.token_file {
            if self.admin.token.is_some() {
                return Err(ConfigError::BadValue {
                    key: "admin.token_file".into(),
                    value: format!("{path:?}"),
                    allowed: "either admin.token or admin.token_file, not both".into(),
                });
            }
            self.admin.token = Some(Secret::new(read("admin.token_file", path)?));
        }
        Ok(())
    }

    /// Checks what the types cannot: ranges, templates and patterns.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &str, value: impl fmt::Display, allowed: &str) -> ConfigError {
            ConfigError::BadValue {
                key: key.into(),
                value: value.to_string(),
                allowed: allowed.into(),
            }
        }
        if !self.mysql.url.expose().starts_with("mysql://") {
            return Err(bad(
                "mysql.url",
                self.mysql.url.redacted(),
                "a URL of the form mysql://user:password@host:port",
            ));
        }
        if self.mysql.server_id == 0 {
            return Err(bad("mysql.server_id", 0, "a non-zero replica id"));
        }
        if !self.hbase.thrift.contains(':') {
            return Err(bad("hbase.thrift", &self.hbase.thrift, "host:port"));
        }
        if self.hbase.max_versions == 0 {
            return Err(bad("hbase.max_versions", 0, "1 or more"));
        }
        if self.state.database.is_empty() || self.state.database.contains('`') {
            return Err(bad(
                "state.database",
                &self.state.database,
                "a schema name without backticks",
            ));
        }
        for (key, patterns, parts) in [
            ("capture.include", &self.capture.include, 2),
            ("capture.exclude", &self.capture.exclude, 2),
            ("capture.exclude_columns", &self.capture.exclude_columns, 3),
        ] {
            for p in patterns {
                if p.split('.').count() != parts || p.split('.').any(str::is_empty) {
                    let shape = if parts == 2 {
                        "db.table"
                    } else {
                        "db.table.column"
                    };
                    return Err(bad(
                        key,
                        p,
                        &format!("patterns of the form {shape}, * as wildcard"),
                    ));
                }
            }
        }
        if self.snapshot.chunk_rows == 0 {
            return Err(bad("snapshot.chunk_rows", 0, "1 or more"));
        }
        if self.snapshot.parallelism == 0 {
            return Err(bad("snapshot.parallelism", 0, "1 or more"));
        }
        if !self.mapping.table.contains("{table}") {
            return Err(bad(
                "mapping.table",
                &self.mapping.table,
                "a template containing {table} (and usually {db})",
            ));
        }
        let sample = crate::core::mapping::hbase_table_name(&self.mapping.table, "db", "t");
        if !crate::core::mapping::is_legal_hbase_table_name(&sample) {
            return Err(bad(
                "mapping.table",
                &self.mapping.table,
                "a template giving legal HBase names: letters, digits, _ - . and an optional namespace:",
            ));
        }
        validate_family("mapping.family", &self.mapping.family)?;
        for o in &self.mapping.tables {
            if o.source.split('.').count() != 2 || o.source.contains('*') {
                return Err(bad("mapping.tables.source", &o.source, "an exact db.table"));
            }
            if let Some(f) = &o.family {
                validate_family("mapping.tables.family", f)?;
            }
            if let Some(t) = &o.table {
                if !crate::core::mapping::is_legal_hbase_table_name(t) {
                    return Err(bad(
                        "mapping.tables.table",
                        t,
                        "a legal HBase table name: letters, digits, _ - . and an optional namespace:",
                    ));
                }
            }
            if o.salt_buckets == Some(0) || o.salt_buckets.is_some_and(|b| b > 256) {
                return Err(bad(
                    "mapping.tables.salt_buckets",
                    o.salt_buckets.unwrap_or_default(),
                    "1 to 256",
                ));
            }
            if o.row_key.as_ref().is_some_and(|k| k.is_empty()) {
                return Err(bad(
                    "mapping.tables.row_key",
                    "[]",
                    "one or more column names",
                ));
            }
        }
        let p = &self.pipeline;
        if p.writers == 0 || p.writers > 64 {
            return Err(bad("pipeline.writers", p.writers, "1 to 64"));
        }
        if p.batch_rows == 0 {
            return Err(bad("pipeline.batch_rows", 0, "1 or more"));
        }
        if p.batch_bytes < 1024 {
            return Err(bad("pipeline.batch_bytes", p.batch_bytes, "1024 or more"));
        }
        if p.max_inflight_bytes < p.batch_bytes {
            return Err(bad(
                "pipeline.max_inflight_bytes",
                p.max_inflight_bytes,
                "at least pipeline.batch_bytes",
            ));
        }
        if self.dead_letter.path.is_some() && self.dead_letter.topic.is_some() {
            return Err(bad(
                "dead_letter.topic",
                self.dead_letter.topic.as_deref().unwrap_or_default(),
                "either dead_letter.path or dead_letter.topic, not both",
            ));
        }
        if self.dead_letter.topic.is_some() && self.kafka.is_none() {
            return Err(bad(
                "dead_letter.topic",
                self.dead_letter.topic.as_deref().unwrap_or_default(),
                "a topic on the [kafka] brokers: add a [kafka] section",
            ));
        }
        if let Some(k) = &self.kafka {
            if k.brokers.trim().is_empty() {
                return Err(bad("kafka.brokers", "\"\"", "host:port[,host:port...]"));
            }
            if k.topic.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(bad(
                    "kafka.topic",
                    "\"\"",
                    "a topic name, e.g. \"maxwell\" or \"{db}.{table}\"; leave it out for no change events",
                ));
            }
            if !(1..=10_000).contains(&k.internal_partitions) {
                return Err(bad(
                    "kafka.internal_partitions",
                    k.internal_partitions,
                    "between 1 and 10000",
                ));
            }
        }
        self.validate_tls_files()?;
        if self.restart.delay.is_zero() {
            return Err(bad(
                "restart.delay",
                "0s",
                "a duration above zero, e.g. \"10s\"",
            ));
        }
        if self.restart.max_delay < self.restart.delay {
            return Err(bad(
                "restart.max_delay",
                humantime::format_duration(self.restart.max_delay),
                "at least restart.delay",
            ));
        }
        match self.admin.listen.parse::<std::net::SocketAddr>() {
            Err(_) => {
                return Err(bad(
                    "admin.listen",
                    &self.admin.listen,
                    "ip:port, e.g. 127.0.0.1:8686",
                ))
            }
            Ok(addr) if !addr.ip().is_loopback() && self.admin.token.is_none() => {
                return Err(bad(
                    "admin.listen",
                    &self.admin.listen,
                    "a loopback address, or set [admin] token when the admin API is exposed",
                ))
            }
            Ok(_) => {}
        }
        Ok(())
    }

    fn validate_tls_files(&self) -> Result<(), ConfigError> {
        if let Some(tls) = &self.mysql.tls {
            tls.validate("mysql.tls")?;
        }
        if let Some(tls) = self.kafka.as_ref().and_then(|k| k.tls.as_ref()) {
            tls.validate("kafka.tls")?;
        }
        Ok(())
    }

    /// The state store server URL (its own, or the source server's).
    pub fn state_url(&self) -> &SecretUrl {
        self.state.url.as_ref().unwrap_or(&self.mysql.url)
    }
}

fn validate_family(key: &str, family: &str) -> Result<(), ConfigError> {
    if family.is_empty() || family.contains(':') || !family.is_ascii() {
        return Err(ConfigError::BadValue {
            key: key.into(),
            value: family.into(),
            allowed: "a non-empty ASCII column family name without ':'".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [mysql]
        url = "mysql://root:secret@127.0.0.1:3306"
        server_id = 54321
        [hbase]
        thrift = "127.0.0.1:9090"
    "#;

    #[test]
    fn minimal_config_gets_documented_defaults() {
        let cfg = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(cfg.snapshot.mode, SnapshotMode::Initial);
        assert_eq!(cfg.snapshot.locking_mode, LockingMode::Minimal);
        assert_eq!(cfg.mapping.table, "{db}_{table}");
        assert_eq!(cfg.mapping.family, "d");
        assert_eq!(cfg.state.database, "mysql2hbase");
        assert_eq!(cfg.admin.listen, "127.0.0.1:8686");
        assert!(cfg.kafka.is_none());
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[snapshot]\nlocking_mod = \"none\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("locking_mod"), "{err}");
        assert!(
            err.contains("locking_mode"),
            "should list the known keys: {err}"
        );
    }

    #[test]
    fn bad_enum_value_names_key_and_allowed_values() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[snapshot]\nlocking_mode = \"full\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("locking_mode"), "{err}");
        assert!(
            err.contains("minimal") && err.contains("extended") && err.contains("none"),
            "{err}"
        );
    }

    #[test]
    fn restart_strategy_names() {
        let cfg = Config::from_toml(&format!(
            "{MINIMAL}\n[restart]\nstrategy = \"fixed-delay\"\nattempts = 20\ndelay = \"3s\"\n"
        ))
        .unwrap();
        assert_eq!(cfg.restart.strategy, RestartStrategy::FixedDelay);
        assert_eq!(cfg.restart.delay, Duration::from_secs(3));
        let err = Config::from_toml(&format!("{MINIMAL}\n[restart]\nstrategy = \"sometimes\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("restart.strategy") && err.contains("`failure-rate`"),
            "{err}"
        );
    }

    #[test]
    fn bad_range_names_key() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[pipeline]\nwriters = 0\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline.writers") && err.contains("1 to 64"),
            "{err}"
        );
        let err = Config::from_toml(&format!("{MINIMAL}\n[capture]\ninclude = [\"shop\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("capture.include") && err.contains("db.table"),
            "{err}"
        );
    }

    #[test]
    fn password_is_redacted() {
        let cfg = Config::from_toml(MINIMAL).unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("root:***@127.0.0.1:3306"), "{shown}");
        assert_eq!(redact_url("mysql://root@h:1/x"), "mysql://root@h:1/x");
        assert_eq!(redact_url("mysql://u:p@ss@h:1"), "mysql://u:***@h:1");
    }

    #[test]
    fn secrets_come_from_files_and_are_never_shown() {
        let dir = std::env::temp_dir().join(format!("m2h-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (password, token) = (dir.join("password"), dir.join("token"));
        std::fs::write(&password, "p@ss:w/rd#1\n").unwrap();
        std::fs::write(&token, "t0k3n\n").unwrap();
        let text = MINIMAL.replace("root:secret@", "repl@").replace(
            "server_id = 54321",
            &format!("server_id = 54321\npassword_file = {password:?}"),
        ) + &format!("[admin]\ntoken_file = {token:?}\n");
        let cfg = Config::from_toml(&text).unwrap();
        assert_eq!(
            cfg.mysql.url.expose(),
            "mysql://repl:p%40ss%3Aw%2Frd%231@127.0.0.1:3306"
        );
        assert_eq!(cfg.admin.token.as_ref().unwrap().expose(), "t0k3n");
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("p%40ss") && !shown.contains("t0k3n"),
            "{shown}"
        );

        // A password in the URL too, or an unreadable file: errors naming the key.
        let err = Config::from_toml(&MINIMAL.replace(
            "server_id = 54321",
            &format!("server_id = 54321\npassword_file = {password:?}"),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`mysql.password_file`") && err.contains("not both"),
            "{err}"
        );
        let err = Config::from_toml(&format!(
            "{MINIMAL}\n[admin]\ntoken_file = \"/nonexistent\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`admin.token_file`") && err.contains("readable"),
            "{err}"
        );
    }

    #[test]
    fn an_exposed_admin_api_needs_a_token_that_is_never_shown() {
        let err = Config::from_toml(&format!("{MINIMAL}\n[admin]\nlisten = \"0.0.0.0:8686\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("admin.listen") && err.contains("token"),
            "{err}"
        );
        let cfg = Config::from_toml(&format!(
            "{MINIMAL}\n[admin]\nlisten = \"0.0.0.0:8686\"\ntoken = \"s3cr3t\"\n"
        ))
        .unwrap();
        assert!(!format!("{cfg:?}").contains("s3cr3t"));
    }

    #[test]
    fn the_shipped_config_files_load() {
        for file in ["config/mysql2hbase.example.toml", "config/local.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
            Config::load_with_env(&path, Some(Default::default()))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }

    #[test]
    fn environment_overrides_file() {
        let dir = std::env::temp_dir().join(format!("m2h-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, MINIMAL).unwrap();
        let env = [
            ("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "none"),
            ("MYSQL2HBASE__PIPELINE__WRITERS", "4"),
            ("MYSQL2HBASE__CAPTURE__INCLUDE", "a.*,b.t"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::load_with_env(&file, Some(env)).unwrap();
        assert_eq!(cfg.snapshot.locking_mode, LockingMode::None);
        assert_eq!(cfg.pipeline.writers, 4);
        assert_eq!(cfg.capture.include, vec!["a.*", "b.t"]);

        let env = [("MYSQL2HBASE__SNAPSHOT__LOCKING_MODE", "bogus")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let err = Config::load_with_env(&file, Some(env))
            .unwrap_err()
            .to_string();
        assert!(err.contains("locking_mode"), "{err}");
    }
}
