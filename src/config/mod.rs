//! Configuration: one TOML file, every key overridable by the environment.
//!
//! Sources, later ones winning: the file given with `--config`, then environment variables
//! `MYSQL2HBASE__SECTION__KEY` (e.g. `MYSQL2HBASE__SNAPSHOT__LOCKING_MODE=none`; list keys take
//! comma-separated values). The merged tree is deserialized into [`Config`] with
//! `deny_unknown_fields` everywhere, so a misspelt key is an error naming it, and enums list their
//! allowed values. [`Config::validate`] then checks what types cannot express (ranges, templates,
//! patterns). `config/mysql2hbase.example.toml` documents every key; keep the two in step.

mod joined;
mod secret;
mod sections;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

pub use self::joined::{parse_qualifier, OnParentDelete, TemplatePart};
pub use self::secret::{redact_url, Secret, SecretUrl};
pub use self::sections::*;

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
            .with_list_parse_key("capture.exclude_tool_tables")
            .with_list_parse_key("capture.exclude_columns")
            .with_list_parse_key("hbase.thrift")
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
        let servers = self.hbase.thrift.list();
        if servers.is_empty() || servers.iter().any(|s| !s.contains(':')) {
            return Err(bad(
                "hbase.thrift",
                format!("{:?}", servers),
                "\"host:port\" or a list of them",
            ));
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
            (
                "capture.exclude_tool_tables",
                &self.capture.exclude_tool_tables,
                2,
            ),
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
        // One HBase write may take 3 tries of hbase.timeout with backoff before it fails.
        let longest_write = self.hbase.timeout * 3 + std::time::Duration::from_secs(2);
        if self.pipeline.stall_timeout <= longest_write {
            return Err(bad(
                "pipeline.stall_timeout",
                humantime::format_duration(self.pipeline.stall_timeout),
                &format!(
                    "more than 3 x hbase.timeout + 2s = {} (the longest single HBase write)",
                    humantime::format_duration(longest_write)
                ),
            ));
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
        let sample = crate::model::naming::hbase_table_name(&self.mapping.table, "db", "t");
        if !crate::model::naming::is_legal_hbase_table_name(&sample) {
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
                if !crate::model::naming::is_legal_hbase_table_name(t) {
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
        self.mapping.validate_joined()?;
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
    use std::time::Duration;

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
    fn thrift_is_one_server_or_a_list_of_them() {
        let cfg = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(cfg.hbase.thrift.list(), vec!["127.0.0.1:9090"]);
        assert_eq!(cfg.hbase.thrift_protocol, ThriftProtocol::Binary);
        let two = MINIMAL.replace(
            r#"thrift = "127.0.0.1:9090""#,
            r#"thrift = ["127.0.0.1:9090", "127.0.0.1:9091"]
            thrift_protocol = "compact""#,
        );
        let cfg = Config::from_toml(&two).unwrap();
        assert_eq!(
            cfg.hbase.thrift.list(),
            vec!["127.0.0.1:9090", "127.0.0.1:9091"]
        );
        assert_eq!(cfg.hbase.thrift_protocol, ThriftProtocol::Compact);
        for bad in [r#"thrift = []"#, r#"thrift = ["127.0.0.1:9090", "nohost"]"#] {
            let text = MINIMAL.replace(r#"thrift = "127.0.0.1:9090""#, bad);
            let err = Config::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains("hbase.thrift"), "{err}");
        }
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
            ("MYSQL2HBASE__HBASE__THRIFT", "h1:9090,h2:9090"),
            ("MYSQL2HBASE__HBASE__THRIFT_TRANSPORT", "framed"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let cfg = Config::load_with_env(&file, Some(env)).unwrap();
        assert_eq!(cfg.snapshot.locking_mode, LockingMode::None);
        assert_eq!(cfg.pipeline.writers, 4);
        assert_eq!(cfg.capture.include, vec!["a.*", "b.t"]);
        assert_eq!(cfg.hbase.thrift.list(), vec!["h1:9090", "h2:9090"]);
        assert_eq!(cfg.hbase.thrift_transport, ThriftTransport::Framed);

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
