//! Shared helpers of the integration tests. They talk to the real servers started by
//! `scripts/services.sh up` and fail loudly when one is missing.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use hbase_thrift::hbase::THbaseSyncClient;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use mysql2hbase::sink::hbase::client::{self as hbase_client, ThriftClient};

pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306";
pub const THRIFT: &str = "127.0.0.1:9090";

/// Cells of one HBase row: qualifier (without family) -> value.
pub type Cells = BTreeMap<Vec<u8>, Vec<u8>>;
/// A table's content: row key -> cells.
pub type Content = BTreeMap<Vec<u8>, Cells>;

/// A root connection to MariaDB (session in UTC, utf8mb4); panics naming the fix when the
/// server is not there.
pub async fn mysql() -> Conn {
    try_mysql(None).await.unwrap_or_else(|e| {
        panic!("MariaDB not reachable at 127.0.0.1:3306 ({e}): start it with scripts/services.sh up mariadb")
    })
}

/// [`mysql`] without the panic, using database `db` if given (for writers that ride out a
/// server restart).
async fn try_mysql(db: Option<&str>) -> mysql_async::Result<Conn> {
    let url = match db {
        Some(db) => format!("{MYSQL_URL}/{db}"),
        None => MYSQL_URL.to_string(),
    };
    let opts = mysql_async::Opts::from_url(&url).unwrap();
    let opts = mysql_async::OptsBuilder::from_opts(opts).init(vec![
        "SET time_zone = '+00:00'".to_string(),
        "SET NAMES utf8mb4".to_string(),
    ]);
    Conn::new(opts).await
}

/// Runs `statements` in order on `c`; panics naming the statement that failed.
pub async fn run_sql(c: &mut Conn, statements: &[&str]) {
    for sql in statements {
        c.query_drop(*sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// A free TCP port on 127.0.0.1 (for admin APIs, so tests can run side by side).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn hbase() -> ThriftClient {
    let endpoint = hbase_client::ThriftEndpoint::buffered_binary(THRIFT, Duration::from_secs(30));
    hbase_client::connect_to(&endpoint).unwrap_or_else(|e| {
        panic!("HBase Thrift not reachable at {THRIFT} ({e}): start it with scripts/services.sh up hbase")
    })
}

/// One test's private world: its database, state schema, replica id and config file.
#[derive(Clone)]
pub struct TestEnv {
    pub name: String,
    pub db: String,
    pub state_db: String,
    pub server_id: u32,
    pub dir: PathBuf,
    pub config: PathBuf,
    /// The daemon's admin API port (a free one, so tests can run side by side).
    pub admin_port: u16,
    /// `MYSQL2HBASE__*` overrides given to every daemon this test starts.
    pub env: Vec<(String, String)>,
}

impl TestEnv {
    /// A fresh database `<name>_<pid>` captured as `<db>.*`; `extra` is appended to the config.
    pub async fn new(name: &str, extra: &str) -> TestEnv {
        let pid = std::process::id();
        let db = format!("{name}_{pid}");
        let state_db = format!("m2h_{name}_{pid}");
        let server_id = 10_000 + (mysql2hbase::model::naming::fnv1a(db.as_bytes()) % 50_000);
        let dir = std::env::temp_dir().join(format!("m2h-test-{db}"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        let admin_port = free_port();
        run_sql(
            &mut mysql().await,
            &[
                &format!("DROP DATABASE IF EXISTS `{db}`"),
                &format!("DROP DATABASE IF EXISTS `{state_db}`"),
                &format!("CREATE DATABASE `{db}`"),
            ],
        )
        .await;
        std::fs::write(
            &config,
            format!(
                r#"
[mysql]
url = "{MYSQL_URL}"
server_id = {server_id}
heartbeat = "1s"
[hbase]
thrift = "{THRIFT}"
[state]
database = "{state_db}"
[capture]
include = ["{db}.*"]
[snapshot]
mode = "never"
[pipeline]
checkpoint_interval = "200ms"
[admin]
listen = "127.0.0.1:{admin_port}"
{extra}
"#
            ),
        )
        .unwrap();
        TestEnv {
            name: name.into(),
            db,
            state_db,
            server_id,
            dir,
            config,
            admin_port,
            env: Vec::new(),
        }
    }

    /// Adds a `MYSQL2HBASE__SECTION__KEY` override for the daemons this test starts.
    pub fn set(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The HBase table a source table maps to by default.
    pub fn hbase_table(&self, table: &str) -> String {
        format!("{}_{table}", self.db)
    }

    /// The daemon (`run`) with the test's config and overrides, logging to `daemon.log`.
    pub fn start(&self) -> Daemon {
        Daemon::start_with(&self.config, &self.dir.join("daemon.log"), &self.env)
    }

    /// [`TestEnv::start`], then waits until the daemon streams (see [`wait_streaming`]).
    pub async fn start_streaming(&self) -> Daemon {
        let mut daemon = self.start();
        wait_streaming(self, &mut daemon).await;
        daemon
    }

    /// A daemon logging to `<log>.log`, with `extra` `MYSQL2HBASE__*` overrides on top of the
    /// test's.
    pub fn start_logged(&self, log: &str, extra: &[(&str, &str)]) -> Daemon {
        self.start_args(log, extra, &[])
    }

    /// A daemon in a distributed role (`capture` or `apply`), logging to `<log>.log`, with
    /// extra `MYSQL2HBASE__*` overrides (e.g. its own admin port).
    pub fn start_role(&self, role: &str, log: &str, extra: &[(&str, &str)]) -> Daemon {
        self.start_args(log, extra, &["--role", role])
    }

    fn start_args(&self, log: &str, extra: &[(&str, &str)], args: &[&str]) -> Daemon {
        let mut all = self.env.clone();
        all.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Daemon::start_args(
            &self.config,
            &self.dir.join(format!("{log}.log")),
            &all,
            args,
        )
    }

    /// A connection (root) using the test's database, after running `statements` in it.
    pub async fn sql(&self, statements: &[&str]) -> Conn {
        let mut c = mysql().await;
        c.query_drop(format!("USE `{}`", self.db)).await.unwrap();
        run_sql(&mut c, statements).await;
        c
    }

    /// Waits until HBase holds exactly what MySQL holds for `table` of the test's database
    /// (under the default mapping), or panics after `within` with the first differences;
    /// returns the number of rows compared.
    pub async fn assert_converges(&self, conn: &mut Conn, table: &str, within: Duration) -> usize {
        assert_converges(conn, &self.db, table, &self.hbase_table(table), within).await
    }

    /// The same test with another config file `<dir>/<file>`, holding `text`.
    pub fn with_config(&self, file: &str, text: &str) -> TestEnv {
        let config = self.dir.join(file);
        std::fs::write(&config, text).unwrap();
        TestEnv {
            config,
            ..self.clone()
        }
    }

    /// Requests a bootstrap of `table` (of the test's database) the way any SQL client can: a
    /// row in the state schema's `bootstrap_jobs`.
    pub async fn request_bootstrap_by_sql(&self, table: &str) {
        mysql()
            .await
            .query_drop(format!(
                "INSERT INTO `{}`.bootstrap_jobs (database_name, table_name) VALUES ('{}', '{table}')",
                self.state_db, self.db
            ))
            .await
            .unwrap();
    }

    /// Drops the test's HBase tables (from an earlier run of the same pid) and state.
    pub fn drop_hbase_table(&self, table: &str) {
        let mut c = hbase();
        let t = self.hbase_table(table);
        if hbase_client::table_names(&mut c).unwrap().contains(&t) {
            let _ = c.disable_table(t.clone().into_bytes());
            c.delete_table(t.into_bytes()).unwrap();
        }
    }
}

/// The daemon as a child process, as users run it.
pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// `mysql2hbase run --config <config>` with `MYSQL2HBASE__*` overrides `env`, logging to
    /// `log`.
    pub fn start_with(
        config: &std::path::Path,
        log: &std::path::Path,
        env: &[(String, String)],
    ) -> Daemon {
        Daemon::start_args(config, log, env, &[])
    }

    /// `mysql2hbase run --config <config> <args>`.
    pub fn start_args(
        config: &std::path::Path,
        log: &std::path::Path,
        env: &[(String, String)],
        args: &[&str],
    ) -> Daemon {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mysql2hbase"))
            .args(["run", "--config"])
            .arg(config)
            .args(args)
            .env("RUST_LOG", "info,mysql2hbase=debug")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start mysql2hbase");
        Daemon {
            child: Some(child),
            log: log.to_path_buf(),
        }
    }

    /// `kill -9`: no flush, no final checkpoint.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM; returns the exit status and how long the daemon took to exit.
    pub fn terminate(&mut self) -> (std::process::ExitStatus, Duration) {
        let mut c = self.child.take().expect("daemon running");
        let started = Instant::now();
        unsafe_kill(c.id(), "TERM");
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                c.kill().unwrap();
                panic!(
                    "daemon did not exit within 30 s of SIGTERM; log: {}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and the daemon must exit 0 (else: panics with its log); returns how long it
    /// took to exit.
    #[track_caller]
    pub fn stop(&mut self) -> Duration {
        let (status, took) = self.terminate();
        assert!(
            status.success(),
            "daemon exited with {status} after SIGTERM; log:\n{}",
            self.log_text()
        );
        took
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process's peak resident memory so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> u64 {
        let pid = self.child.as_ref().expect("daemon running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmHWM in /proc status");
        kb / 1024
    }

    /// The exit status once the process has exited by itself.
    pub fn try_status(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().unwrap()?;
        self.child = None;
        Some(status)
    }

    /// Waits for the daemon to exit by itself (a refusal, a strategy giving up, initial_only);
    /// panics with its log when it is still running after `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.try_status() {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "daemon still running after {within:?}: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn unsafe_kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// Every row of an HBase table (latest versions), qualifiers without the family. A read cut
/// off by a dropped Thrift connection (the gateway drops one now and then under load) is read
/// again, up to three times.
pub fn hbase_content(table: &str) -> Content {
    read_hbase_content(table, false)
}

/// [`hbase_content`] with qualifiers as `family:qualifier`: for tables with several families
/// (wide rows), whose qualifiers may repeat across families.
pub fn hbase_content_with_families(table: &str) -> Content {
    read_hbase_content(table, true)
}

fn read_hbase_content(table: &str, families: bool) -> Content {
    let mut attempt = 1;
    loop {
        match try_hbase_content(table, families) {
            Ok(content) => return content,
            Err(e) if attempt < 3 => {
                eprintln!("reading HBase table {table} failed ({e}); reading it again");
                attempt += 1;
            }
            Err(e) => panic!("reading HBase table {table}: {e}"),
        }
    }
}

fn try_hbase_content(table: &str, families: bool) -> mysql2hbase::error::Result<Content> {
    let mut c = hbase();
    let mut content = Content::new();
    if !hbase_client::table_names(&mut c)?
        .iter()
        .any(|t| t == table)
    {
        return Ok(content);
    }
    hbase_client::scan_rows(&mut c, table, None, |(key, cells)| {
        let cells = cells
            .into_iter()
            .map(|(col, v)| match families {
                true => (col, v),
                false => (
                    col.splitn(2, |b| *b == b':')
                        .nth(1)
                        .unwrap_or_default()
                        .to_vec(),
                    v,
                ),
            })
            .collect();
        content.insert(key, cells);
    })?;
    Ok(content)
}

/// What HBase must hold for a MySQL table under the default mapping, computed independently of
/// the service: `SELECT *` over the text protocol (UTC), key = the primary key's text (composite:
/// `\` and `|` escaped, joined by `|`), NULL = no cell.
pub async fn expected_content(conn: &mut Conn, db: &str, table: &str) -> Content {
    let pk: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await
        .unwrap();
    assert!(!pk.is_empty(), "{db}.{table} has no primary key");
    let rows: Vec<Row> = conn
        .query(format!("SELECT * FROM `{db}`.`{table}`"))
        .await
        .unwrap();
    let mut content = Content::new();
    for row in rows {
        let columns = row.columns();
        let mut cells = Cells::new();
        let mut by_name = BTreeMap::new();
        for (i, col) in columns.iter().enumerate() {
            if let Some(Value::Bytes(b)) = row.as_ref(i) {
                cells.insert(col.name_str().as_bytes().to_vec(), b.clone());
                by_name.insert(col.name_str().to_string(), b.clone());
            }
        }
        let key = if pk.len() == 1 {
            by_name[&pk[0]].clone()
        } else {
            let mut key = Vec::new();
            for (i, k) in pk.iter().enumerate() {
                if i > 0 {
                    key.push(b'|');
                }
                for &b in &by_name[k] {
                    if b == b'\\' || b == b'|' {
                        key.push(b'\\');
                    }
                    key.push(b);
                }
            }
            key
        };
        content.insert(key, cells);
    }
    content
}

/// Waits until HBase holds exactly what MySQL holds, or panics with the first differences;
/// returns the number of rows compared.
pub async fn assert_converges(
    conn: &mut Conn,
    db: &str,
    table: &str,
    hbase_table: &str,
    within: Duration,
) -> usize {
    let deadline = Instant::now() + within;
    loop {
        let expected = expected_content(conn, db, table).await;
        let t = hbase_table.to_string();
        let actual = tokio::task::spawn_blocking(move || hbase_content(&t))
            .await
            .unwrap();
        if expected == actual {
            return expected.len();
        }
        if Instant::now() > deadline {
            panic!(
                "HBase {hbase_table} differs from MySQL {db}.{table} after {within:?}: {}",
                describe_diff(&expected, &actual)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub fn describe_diff(expected: &Content, actual: &Content) -> String {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .take(5)
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .take(5)
        .collect();
    let different: Vec<_> = expected
        .iter()
        .filter(|(k, v)| actual.get(*k).is_some_and(|a| a != *v))
        .take(3)
        .map(|(k, v)| {
            format!(
                "{}: mysql {:?} hbase {:?}",
                String::from_utf8_lossy(k),
                show(v),
                show(&actual[k])
            )
        })
        .collect();
    format!(
        "{} rows in MySQL, {} in HBase; missing {:?}; extra {:?}; different {:?}",
        expected.len(),
        actual.len(),
        missing
            .iter()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        extra
            .iter()
            .map(|k| String::from_utf8_lossy(k))
            .collect::<Vec<_>>(),
        different
    )
}

fn show(cells: &Cells) -> BTreeMap<String, String> {
    cells
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

/// Polls `f` until it returns true, panicking after `within` with `what`.
pub async fn wait_for<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !f().await {
        if Instant::now() > deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `check` holds for the content of HBase table `table` (read off the async
/// runtime), panicking after `within` with `what`.
pub async fn wait_for_hbase<F>(what: &str, table: &str, within: Duration, check: F)
where
    F: Fn(&Content) -> bool + Send + Sync + 'static,
{
    let check = Arc::new(check);
    wait_for(what, within, || {
        let (table, check) = (table.to_string(), check.clone());
        async move {
            tokio::task::spawn_blocking(move || check(&hbase_content(&table)))
                .await
                .unwrap()
        }
    })
    .await;
}

/// Waits until `GET /health` of the admin API on `port` answers `code` (a daemon still starting
/// may not listen yet), panicking after `within` with `what`.
pub async fn wait_health(port: u16, code: u16, what: &str, within: Duration) {
    wait_for(what, within, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
            && http(port, "GET", "/health", None).await.0 == code
    })
    .await;
}

/// A plain HTTP/1.1 request to the daemon's admin API; returns the status code and body.
/// The daemon's first metric line starting with `name` (labels included), its value.
pub async fn metric(env: &TestEnv, name: &str) -> Option<f64> {
    let (_, body) = http(env.admin_port, "GET", "/metrics", None).await;
    body.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The sum of the daemon's metric lines starting with `name` (every label set).
pub async fn metric_sum(env: &TestEnv, name: &str) -> f64 {
    let (_, body) = http(env.admin_port, "GET", "/metrics", None).await;
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

pub async fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("admin API not reachable on port {port}: {e}"));
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// Waits until the daemon streams (its checkpoint row exists), within 60 s; panics if it exited.
pub async fn wait_streaming(env: &TestEnv, daemon: &mut Daemon) {
    wait_for(
        "the daemon to store its first checkpoint",
        Duration::from_secs(60),
        move || async move { stored_checkpoint(env).await.is_some() },
    )
    .await;
    assert!(daemon.is_running(), "daemon exited: {}", daemon.log_text());
}

/// The checkpoint the test's daemon stored last, (binlog file, position); `None` before the
/// first one (also while the state schema does not exist yet).
pub async fn stored_checkpoint(env: &TestEnv) -> Option<(String, u64)> {
    mysql()
        .await
        .exec_first(
            format!(
                "SELECT binlog_file, binlog_pos FROM `{}`.checkpoint WHERE server_id = ?",
                env.state_db
            ),
            (env.server_id,),
        )
        .await
        .unwrap_or(None)
}

/// The stored checkpoint's position.
pub async fn checkpoint_position(env: &TestEnv) -> mysql2hbase::model::BinlogPosition {
    let (file, pos) = stored_checkpoint(env).await.expect("a stored checkpoint");
    mysql2hbase::model::BinlogPosition::new(file, pos).unwrap()
}

/// The server's current binlog position.
pub async fn current_position() -> mysql2hbase::model::BinlogPosition {
    let mut c = mysql().await;
    let (pos, _) = mysql2hbase::source::mysql::current_position(&mut c)
        .await
        .unwrap();
    pos
}

/// The clock, as HBase and other tools stamp cells: milliseconds since the epoch.
pub fn clock_ms() -> i64 {
    mysql2hbase::model::Version::now().0
}

/// Writes one cell behind the service's back at timestamp `ts`.
pub fn hbase_put_ts(table: &str, key: &[u8], column: &str, value: &[u8], ts: i64) {
    use hbase_thrift::hbase::Mutation;
    hbase()
        .mutate_row_ts(
            table.as_bytes().to_vec(),
            key.to_vec(),
            vec![Mutation {
                is_delete: Some(false),
                column: Some(column.as_bytes().to_vec()),
                value: Some(value.to_vec()),
                write_to_w_a_l: Some(true),
            }],
            ts,
            Default::default(),
        )
        .unwrap();
}

/// Deletes a whole row behind the service's back at timestamp `ts` (`deleteAllRowTs`).
pub fn hbase_delete_row_ts(table: &str, key: &[u8], ts: i64) {
    hbase()
        .delete_all_row_ts(
            table.as_bytes().to_vec(),
            key.to_vec(),
            ts,
            Default::default(),
        )
        .unwrap();
}

/// Runs the CLI with the test's config and `MYSQL2HBASE__*` overrides
/// (`mysql2hbase <args> --config <config>`).
pub fn cli(env: &TestEnv, args: &[&str]) -> CliRun {
    let config = env.config.to_str().unwrap();
    let mut argv = args.to_vec();
    argv.extend(["--config", config]);
    let overrides: Vec<(&str, &str)> = env
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    mysql2hbase(&argv, &overrides)
}

/// Runs `mysql2hbase <args>` with the environment variables `env` (stdin closed).
pub fn mysql2hbase(args: &[&str], env: &[(&str, &str)]) -> CliRun {
    let out = Command::new(env!("CARGO_BIN_EXE_mysql2hbase"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run mysql2hbase");
    let command = env
        .iter()
        .map(|(k, v)| format!("{k}={v} "))
        .chain(std::iter::once(format!("mysql2hbase {}", args.join(" "))))
        .collect();
    CliRun {
        command,
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What a CLI command did. The checks panic with the command line, exit code and both outputs.
pub struct CliRun {
    /// The command line, with its environment overrides.
    pub command: String,
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl CliRun {
    fn shown(&self) -> String {
        format!(
            "`{}` exited {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.command, self.code, self.out, self.err
        )
    }

    /// The exit code must be `code`.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "{}", self.shown());
        self
    }

    /// The exit code must not be 0.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert_ne!(self.code, 0, "{}", self.shown());
        self
    }

    /// Stdout must contain every one of `texts`.
    #[track_caller]
    pub fn stdout_has(self, texts: &[&str]) -> Self {
        self.has(&self.out, "on stdout", texts);
        self
    }

    /// Stderr must contain every one of `texts`.
    #[track_caller]
    pub fn stderr_has(self, texts: &[&str]) -> Self {
        self.has(&self.err, "on stderr", texts);
        self
    }

    /// Stdout and stderr together must contain every one of `texts`.
    #[track_caller]
    pub fn says(self, texts: &[&str]) -> Self {
        self.has(&self.text(), "in the output", texts);
        self
    }

    #[track_caller]
    fn has(&self, output: &str, where_: &str, texts: &[&str]) {
        for t in texts {
            assert!(output.contains(t), "{t:?} not {where_}: {}", self.shown());
        }
    }

    /// Stdout followed by stderr.
    pub fn text(&self) -> String {
        format!("{}{}", self.out, self.err)
    }
}

/// Writes `text` to `<tmp>/m2h-<name>-<pid>.toml` (configs a test makes up); returns its path.
pub fn write_config(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("m2h-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

/// Creates the table [`mixed_change`] works on, `t` in the test's database, with rows 1..=`rows`;
/// returns a connection using that database.
pub async fn create_mixed_table(env: &TestEnv, rows: u32) -> Conn {
    let mut c = env
        .sql(&["CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(40))"])
        .await;
    if rows > 0 {
        c.query_drop(format!(
            "INSERT INTO t SELECT seq, seq, CONCAT('r', seq) FROM seq_1_to_{rows}"
        ))
        .await
        .unwrap();
    }
    c
}

/// One statement of a mixed workload on a table `t (id INT PRIMARY KEY, v INT NOT NULL,
/// s VARCHAR)`: replaces, updates, deletes and insert-ignores of row `id`, chosen by `i`.
pub async fn mixed_change(c: &mut Conn, i: u32, id: u32) {
    match i % 5 {
        0 | 1 => {
            c.exec_drop("REPLACE INTO t VALUES (?, ?, ?)", (id, i, format!("s{i}")))
                .await
        }
        2 => {
            c.exec_drop("UPDATE t SET v = v + 1 WHERE id = ?", (id,))
                .await
        }
        3 => c.exec_drop("DELETE FROM t WHERE id = ?", (id,)).await,
        _ => {
            c.exec_drop("INSERT IGNORE INTO t VALUES (?, ?, NULL)", (id, i))
                .await
        }
    }
    .unwrap();
}

/// One step of a [`Workload`]: given the connection and the number of changes made so far, makes
/// some changes and returns how many.
pub type StepResult = mysql_async::Result<u32>;

/// A writer changing rows in the background on its own connection to one database, by running a
/// step (see [`StepResult`]) over and over until [`Workload::stop`], or until it has made a given
/// number of changes. A failed statement panics the writer (and so the test, at `stop` or
/// `finish`), except connection errors in [`Workload::reconnecting`].
pub struct Workload {
    stop: tokio::sync::watch::Sender<bool>,
    changes: Arc<AtomicU32>,
    task: tokio::task::JoinHandle<u32>,
}

impl Workload {
    /// Runs `step` until [`Workload::stop`].
    pub fn start<F>(db: &str, step: F) -> Workload
    where
        F: for<'c> FnMut(&'c mut Conn, u32) -> BoxFuture<'c, StepResult> + Send + 'static,
    {
        Self::spawn(db, None, false, step)
    }

    /// Runs `step` until `changes` changes are made (or [`Workload::stop`]).
    pub fn start_n<F>(db: &str, changes: u32, step: F) -> Workload
    where
        F: for<'c> FnMut(&'c mut Conn, u32) -> BoxFuture<'c, StepResult> + Send + 'static,
    {
        Self::spawn(db, Some(changes), false, step)
    }

    /// Runs `step` until [`Workload::stop`], through server restarts: after a connection error
    /// (not an error the server reports) it waits 200 ms, reconnects and goes on. A statement
    /// cut off that way may or may not have committed, and is not counted.
    pub fn reconnecting<F>(db: &str, step: F) -> Workload
    where
        F: for<'c> FnMut(&'c mut Conn, u32) -> BoxFuture<'c, StepResult> + Send + 'static,
    {
        Self::spawn(db, None, true, step)
    }

    fn spawn<F>(db: &str, limit: Option<u32>, reconnect: bool, mut step: F) -> Workload
    where
        F: for<'c> FnMut(&'c mut Conn, u32) -> BoxFuture<'c, StepResult> + Send + 'static,
    {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let changes = Arc::new(AtomicU32::new(0));
        let counter = changes.clone();
        let db = db.to_string();
        let task = tokio::spawn(async move {
            let mut c = try_mysql(Some(&db))
                .await
                .unwrap_or_else(|e| panic!("workload: cannot connect to MariaDB ({e})"));
            let mut done = 0u32;
            while !*stopped.borrow() && limit.is_none_or(|n| done < n) {
                match step(&mut c, done).await {
                    Ok(n) => {
                        done += n;
                        counter.store(done, Ordering::Relaxed);
                    }
                    Err(mysql_async::Error::Server(e)) => panic!("workload statement failed: {e}"),
                    Err(e) if !reconnect => panic!("workload statement failed: {e}"),
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if let Ok(fresh) = try_mysql(Some(&db)).await {
                            c = fresh;
                        }
                    }
                }
            }
            done
        });
        Workload {
            stop,
            changes,
            task,
        }
    }

    /// The changes made so far.
    pub fn changes(&self) -> u32 {
        self.changes.load(Ordering::Relaxed)
    }

    /// Tells the writer to stop after its current step; returns the changes it made (and
    /// re-raises its panic if it failed).
    pub async fn stop(self) -> u32 {
        let _ = self.stop.send(true);
        self.finish().await
    }

    /// Waits until the writer has made its changes (see [`Workload::start_n`]); returns them.
    pub async fn finish(self) -> u32 {
        self.task
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

pub const KAFKA: &str = "127.0.0.1:9092";

/// A Kafka message as a test sees it.
#[derive(Debug, Clone)]
pub struct KafkaMessage {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: String,
}

impl KafkaMessage {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.value)
            .unwrap_or_else(|e| panic!("message is not JSON ({e}): {}", self.value))
    }
}

/// Reads `topic` from the beginning until `count` messages arrived (sorted by partition and
/// offset), or panics after `within` with what arrived.
pub fn kafka_messages(topic: &str, count: usize, within: Duration) -> Vec<KafkaMessage> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::Message;
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("group.id", format!("test-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("topic.metadata.refresh.interval.ms", "500")
        .create()
        .expect("Kafka consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count {
        if Instant::now() > deadline {
            panic!(
                "Kafka topic {topic}: {} of {count} messages after {within:?} (is Kafka up? scripts/services.sh up kafka): {out:#?}",
                out.len()
            );
        }
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(KafkaMessage {
                partition: m.partition(),
                offset: m.offset(),
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            }),
            // Topics appear when the first message is produced.
            Some(Err(e)) if e.to_string().contains("UnknownTopicOrPartition") => {}
            Some(Err(e)) => panic!("consuming {topic}: {e}"),
            None => {}
        }
    }
    out.sort_by_key(|m| (m.partition, m.offset));
    out
}

/// Creates `topic` with `partitions` partitions (replication 1).
pub async fn create_topic(topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("Kafka admin client");
    let results = admin
        .create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .unwrap_or_else(|e| {
            panic!("Kafka not reachable at {KAFKA} ({e}): scripts/services.sh up kafka")
        });
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("cannot create topic {t}: {e}"));
    }
}

/// Kafka's Java `murmur2` partitioner: `(murmur2(key) & 0x7fffffff) % partitions`.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    ((h & 0x7fff_ffff) % partitions as u32) as i32
}

/// `scripts/services.sh <action> <service>` (tests that stop servers run serialized).
pub fn services(action: &str, service: &str) {
    let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/services.sh"))
        .args([action, service])
        .status()
        .expect("run scripts/services.sh");
    assert!(
        status.success(),
        "scripts/services.sh {action} {service} failed"
    );
}

/// Sets the global server variable `name` to `value` while `scenario` runs, then to `restore`
/// whatever happens: a panic of `scenario` is raised again after the reset.
pub async fn with_global(
    name: &str,
    value: &str,
    restore: &str,
    scenario: impl Future<Output = ()>,
) {
    let mut admin = mysql().await;
    admin
        .query_drop(format!("SET GLOBAL {name} = '{value}'"))
        .await
        .unwrap();
    let result = std::panic::AssertUnwindSafe(scenario).catch_unwind().await;
    admin
        .query_drop(format!("SET GLOBAL {name} = '{restore}'"))
        .await
        .unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Streams two changes of a table without a primary key (`nokey`: `(1, 'x')`, `(2, NULL)`) into
/// the dead-letter output the test's config names, with a keyed table beside it; returns once
/// the daemon has passed them and stopped.
pub async fn stream_dead_letters(env: &TestEnv) {
    let mut c = env
        .sql(&[
            "CREATE TABLE keyed (id INT PRIMARY KEY)",
            "CREATE TABLE nokey (a INT, b VARCHAR(5))",
        ])
        .await;
    let mut daemon = env.start_streaming().await;
    // Once a later change is in HBase, the router has passed the dead letters' transaction.
    run_sql(
        &mut c,
        &[
            "INSERT INTO nokey VALUES (1, 'x'), (2, NULL)",
            "INSERT INTO keyed VALUES (1)",
        ],
    )
    .await;
    env.assert_converges(&mut c, "keyed", Duration::from_secs(60))
        .await;
    daemon.stop();
}

/// The records of a JSON-lines file (a dead-letter file), one JSON value a line.
pub fn read_jsonl(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The JSON records of partition 0 of `topic`, read with `client` (brokers and security set),
/// waiting up to 30 s for `n` of them.
pub fn kafka_records(
    mut client: rdkafka::ClientConfig,
    topic: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let consumer: BaseConsumer = client
        .set("group.id", format!("{topic}-test"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("Kafka consumer; is Kafka up? (scripts/services.sh up kafka)");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while records.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(500)) {
            records.push(serde_json::from_slice(m.payload().unwrap()).unwrap());
        }
    }
    records
}

/// Prints a line of figures for docs/RELIABILITY.md and appends it to
/// `target/tmp/reliability.txt`, which `scripts/test.sh` shows at the end of the run (cargo test
/// hides what passing tests print).
pub fn report_figures(line: &str) {
    use std::io::Write;
    println!("RELIABILITY {line}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("reliability.txt");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    writeln!(f, "{line}").unwrap();
}

/// The state of the test's first bootstrap job: (id, status, chunks_done, lock_held_ms).
pub async fn first_job(env: &TestEnv) -> Option<(u64, String, u64, Option<u64>)> {
    let mut c = mysql().await;
    c.query_first(format!(
        "SELECT id, status, chunks_done, lock_held_ms FROM `{}`.bootstrap_jobs ORDER BY id LIMIT 1",
        env.state_db
    ))
    .await
    .unwrap_or(None)
}

/// Waits until the test's first bootstrap job has written `chunks` chunks while still running,
/// so that a kill lands in the middle of it. Panics with the daemon's log if the job failed or
/// ended first, the daemon exited, or no chunk was written within 120 s.
pub async fn wait_mid_bootstrap(env: &TestEnv, daemon: &mut Daemon, chunks: u64) {
    let started = Instant::now();
    loop {
        if let Some((_, status, done, _)) = first_job(env).await {
            assert_ne!(status, "failed", "{}", daemon.log_text());
            if done >= chunks {
                assert_eq!(
                    status, "running",
                    "the bootstrap ended before the kill; make it slower"
                );
                return;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no chunk written: {}",
            daemon.log_text()
        );
        assert!(daemon.is_running(), "daemon exited: {}", daemon.log_text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The families of HBase table `table`, sorted (empty when the table does not exist).
pub fn hbase_families(table: &str) -> Vec<String> {
    let mut c = hbase();
    if !hbase_client::table_names(&mut c)
        .unwrap_or_else(|e| panic!("listing HBase tables: {e}"))
        .iter()
        .any(|t| t == table)
    {
        return Vec::new();
    }
    let mut families = hbase_client::families(&mut c, table)
        .unwrap_or_else(|e| panic!("reading the families of {table}: {e}"));
    families.sort();
    families
}

/// Every bootstrap job of the test's state store: (table, status, chunks_done), by id.
pub async fn bootstrap_jobs(env: &TestEnv) -> Vec<(String, String, u64)> {
    mysql()
        .await
        .query(format!(
            "SELECT table_name, status, chunks_done FROM `{}`.bootstrap_jobs ORDER BY id",
            env.state_db
        ))
        .await
        .unwrap_or_default()
}

/// `mysql2hbase_applied_changes_total` of a worker's /metrics (0 while it is unreachable).
pub async fn applied_changes(port: u16) -> u64 {
    if tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        return 0;
    }
    let (code, body) = http(port, "GET", "/metrics", None).await;
    if code != 200 {
        return 0;
    }
    body.lines()
        .find_map(|l| l.strip_prefix("mysql2hbase_applied_changes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
