//! `mysql2hbase check`: the preflight a user runs before the first start.
//!
//! Each item is checked independently (one failure does not hide the others) and reported with a
//! hint how to fix it. `Fail` items make the command exit non-zero; `Warn` items are reported but
//! do not block a start (e.g. binlog_row_metadata=MINIMAL works through the schema cache).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::Config;
use crate::core::filter::TableFilter;
use crate::core::mapping::hbase_target;
use crate::model::naming::is_legal_hbase_table_name;
use crate::source::mysql as my;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckItem {
    pub name: String,
    pub outcome: Outcome,
    pub detail: String,
    /// How to fix it; empty when it passed.
    pub hint: String,
}

impl CheckItem {
    pub(crate) fn new(
        name: &str,
        outcome: Outcome,
        detail: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        CheckItem {
            name: name.into(),
            outcome,
            detail: detail.into(),
            hint: hint.into(),
        }
    }
    pub(crate) fn pass(name: &str, detail: impl Into<String>) -> Self {
        Self::new(name, Outcome::Pass, detail, "")
    }
}

/// Runs every check; never fails itself, each problem becomes an item.
pub async fn run_checks(cfg: &Config) -> Vec<CheckItem> {
    let mut items = Vec::new();
    let mut captured = Vec::new();
    match my::connect(&cfg.mysql.url, &cfg.mysql, None).await {
        Ok(mut conn) => {
            items.push(CheckItem::pass(
                "mysql.connect",
                format!("connected to {}", cfg.mysql.url.redacted()),
            ));
            check_mysql(cfg, &mut conn, &mut items).await;
            let filter = TableFilter::new(&cfg.capture);
            captured =
                crate::source::schema::captured_tables(&mut conn, |db, t| filter.captures(db, t))
                    .await
                    .unwrap_or_default();
            items.extend(super::check_joined::check_joined_tables(cfg, &mut conn, &captured).await);
            let _ = conn.disconnect().await;
        }
        Err(e) => items.push(CheckItem::new(
            "mysql.connect",
            Outcome::Fail,
            e.to_string(),
            "fix [mysql] url (user, password, host, port) or start the server",
        )),
    }
    items.push(check_hbase(cfg).await);
    items.extend(check_hbase_tables(cfg, &captured).await);
    if let Some(kafka) = &cfg.kafka {
        items.push(match crate::sink::kafka::probe(kafka, Duration::from_secs(10)).await {
            Ok(n) => CheckItem::pass("kafka.connect", format!("{} answered, {n} broker(s)", kafka.brokers)),
            Err(e) => CheckItem::new(
                "kafka.connect",
                Outcome::Fail,
                format!("Kafka at {} is unreachable: {e}", kafka.brokers),
                "fix [kafka] brokers (and [kafka.tls] ca when the brokers speak TLS) or start Kafka (scripts/services.sh up kafka); remove [kafka] to run without it",
            ),
        });
        if let Some(item) = check_internal_topic(kafka).await {
            items.push(item);
        }
    }
    items
}

/// The distributed mode's topic must keep every change until an apply worker wrote it: a
/// finite retention can expire unread changes (a worker then stops, naming the gap).
async fn check_internal_topic(kafka: &crate::config::KafkaConfig) -> Option<CheckItem> {
    let name = "kafka.internal_topic";
    let topic = &kafka.internal_topic;
    match crate::sink::kafka::internal_topic_retention(kafka, Duration::from_secs(10)).await {
        Ok(None) => None,
        Ok(Some(ms)) if ms == "-1" => Some(CheckItem::pass(
            name,
            format!("{topic}: retention.ms = -1, no change expires unread"),
        )),
        Ok(Some(ms)) => Some(CheckItem::new(
            name,
            Outcome::Warn,
            format!("{topic} keeps messages for retention.ms = {ms}: changes an apply worker has not written by then are lost to HBase (the worker stops naming the gap)"),
            format!("kafka-configs.sh --bootstrap-server {} --alter --entity-type topics --entity-name {topic} --add-config retention.ms=-1", kafka.brokers),
        )),
        Err(e) => Some(CheckItem::new(
            name,
            Outcome::Warn,
            format!("cannot read the configuration of {topic}: {e}"),
            "allow this user to describe the topic's configuration (DescribeConfigs)",
        )),
    }
}

/// Every Thrift server answers in the configured transport and protocol; when one does not,
/// the other combinations are tried, so a mismatch is named as such with the settings that work.
async fn check_hbase(cfg: &Config) -> CheckItem {
    use crate::sink::hbase::client::{self, ThriftEndpoint};
    let mut endpoints = ThriftEndpoint::all(&cfg.hbase);
    for e in &mut endpoints {
        e.timeout = e.timeout.min(Duration::from_secs(15));
    }
    let probe = tokio::task::spawn_blocking(move || {
        endpoints
            .into_iter()
            .map(|endpoint| {
                let answer =
                    client::connect_to(&endpoint).and_then(|mut c| client::table_names(&mut c));
                let spoken = match &answer {
                    Err(crate::error::SyncError::Hbase(e)) if !e.contains("unreachable") => {
                        client::spoken_combination(&endpoint)
                    }
                    _ => None,
                };
                (endpoint.addr, answer, spoken)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let answers = match probe {
        Ok(answers) => answers,
        Err(e) => return CheckItem::new("hbase.thrift", Outcome::Fail, e.to_string(), ""),
    };
    let (transport, protocol) = (cfg.hbase.thrift_transport, cfg.hbase.thrift_protocol);
    let mut answered = Vec::new();
    for (addr, answer, spoken) in answers {
        match (answer, spoken) {
            (Ok(tables), _) => answered.push(format!("{addr} ({} tables)", tables.len())),
            (Err(crate::error::SyncError::Hbase(e)), Some((t, p))) => return CheckItem::new(
                "hbase.thrift",
                Outcome::Fail,
                format!(
                    "the Thrift server at {addr} does not speak the {transport} transport with the {protocol} protocol ({e}), but answers in the {t} transport with the {p} protocol"
                ),
                format!("set thrift_transport = \"{t}\" and thrift_protocol = \"{p}\" in [hbase] (a server started with -hsha, -nonblocking, -threadedselector or -f needs \"framed\"; with -c, \"compact\")"),
            ),
            (Err(e), _) => return CheckItem::new(
                "hbase.thrift",
                Outcome::Fail,
                e.to_string(),
                "fix [hbase] thrift (and thrift_transport / thrift_protocol: they must match how the Thrift server was started) or start HBase and its Thrift1 server (scripts/services.sh up hbase)",
            ),
        }
    }
    CheckItem::pass(
        "hbase.thrift",
        format!(
            "HBase Thrift at {} answered ({transport} transport, {protocol} protocol)",
            answered.join(", ")
        ),
    )
}

/// Rows of each HBase table looked at for cells stamped in the future.
const FUTURE_SAMPLE_ROWS: usize = 1000;
/// Clock skew allowed before a cell counts as stamped in the future.
const FUTURE_TOLERANCE_MS: i64 = 60_000;

/// The HBase tables of captured tables that already exist: cells stamped in the future (by
/// another writer with its clock ahead) mask mysql2hbase's writes until the clock passes them;
/// a family time to live drops rows whose last change is older, while MySQL keeps them.
async fn check_hbase_tables(cfg: &Config, captured: &[(String, String)]) -> Vec<CheckItem> {
    let targets: Vec<(String, String)> = captured
        .iter()
        .map(|(db, t)| (format!("{db}.{t}"), hbase_target(cfg, db, t).0))
        .collect();
    let hbase = cfg.hbase.clone();
    let found = tokio::task::spawn_blocking(move || {
        use crate::sink::hbase::client;
        let mut c = client::connect(&hbase)?;
        let existing = client::table_names(&mut c)?;
        let now = crate::model::Version::now().0;
        let (mut future, mut ttls) = (Vec::new(), Vec::new());
        for (source, table) in targets.iter().filter(|(_, t)| existing.contains(t)) {
            if let Some(ts) = client::newest_timestamp(&mut c, table, FUTURE_SAMPLE_ROWS)? {
                if ts > now + FUTURE_TOLERANCE_MS {
                    future.push(format!(
                        "{table} ({source}): a cell at {ts}, {} s ahead of this clock",
                        (ts - now) / 1000
                    ));
                }
            }
            for (family, ttl) in client::family_ttls(&mut c, table)? {
                ttls.push(format!("{table}:{family} ({source}): {ttl} s"));
            }
        }
        Ok::<_, crate::error::SyncError>((future, ttls))
    })
    .await;
    let (future, ttls) = match found {
        Ok(Ok(found)) => found,
        // check_hbase says why HBase cannot be reached.
        _ => return Vec::new(),
    };
    vec![
        if future.is_empty() {
            CheckItem::pass(
                "hbase_future_cells",
                "no captured table's HBase cells are stamped in the future",
            )
        } else {
            CheckItem::new(
                "hbase_future_cells",
                Outcome::Warn,
                format!("HBase cells stamped in the future (another writer's clock is ahead; they hide mysql2hbase's writes of those cells until the clock passes them): {}", future.join("; ")),
                "delete those cells (or the table) in HBase and fix that writer's clock; then run `mysql2hbase verify --repair` for the table",
            )
        },
        if ttls.is_empty() {
            CheckItem::pass(
                "hbase_ttl",
                "no captured table's HBase family has a time to live",
            )
        } else {
            CheckItem::new(
                "hbase_ttl",
                Outcome::Warn,
                format!("HBase families with a time to live: HBase drops a row's cells once its last change is older than the TTL (versions are the change's time), while MySQL keeps the row: {}", ttls.join("; ")),
                "fine for event tables meant to expire; otherwise remove the TTL (alter 'table', {NAME => 'd', TTL => 'FOREVER'} in the HBase shell). verify reports expired rows as missing",
            )
        },
    ]
}

async fn check_mysql(cfg: &Config, conn: &mut Conn, items: &mut Vec<CheckItem>) {
    let var = |v: Result<Option<String>, _>| -> String {
        match v {
            Ok(Some(v)) => v,
            Ok(None) => "(unknown to this server)".into(),
            Err(e) => format!("(cannot read: {e})"),
        }
    };
    let expect = |name: &str, actual: String, want: &str, hint: &str| {
        if actual.eq_ignore_ascii_case(want) {
            CheckItem::pass(name, format!("{name} = {actual}"))
        } else {
            CheckItem::new(
                name,
                Outcome::Fail,
                format!("{name} = {actual}, needs {want}"),
                hint,
            )
        }
    };
    for (setting, expected, hint) in my::REQUIRED_SETTINGS {
        let actual = var(my::variable(conn, setting).await);
        items.push(expect(setting, actual, expected, hint));
    }
    let metadata = var(my::variable(conn, "binlog_row_metadata").await);
    items.push(if metadata.eq_ignore_ascii_case("FULL") {
        CheckItem::pass("binlog_row_metadata", "binlog_row_metadata = FULL")
    } else {
        CheckItem::new(
            "binlog_row_metadata",
            Outcome::Warn,
            format!(
                "binlog_row_metadata = {metadata}; column names will come from the schema cache"
            ),
            "FULL recommended (MySQL 8.0+, MariaDB 10.5+): SET GLOBAL binlog_row_metadata = 'FULL'",
        )
    });
    items.push(check_compression(conn).await);
    let server_id = var(my::variable(conn, "server_id").await);
    items.push(match server_id.parse::<u32>() {
        Ok(0) => CheckItem::new(
            "server_id",
            Outcome::Fail,
            "the server's server_id is 0",
            "set a non-zero server_id in the server's my.cnf",
        ),
        Ok(id) if id == cfg.mysql.server_id => CheckItem::new(
            "server_id",
            Outcome::Fail,
            format!("the server's server_id {id} equals ours ([mysql] server_id)"),
            "choose another [mysql] server_id, unique among the server's replicas",
        ),
        Ok(id) => CheckItem::pass(
            "server_id",
            format!("server {id}, ours {}", cfg.mysql.server_id),
        ),
        Err(_) => CheckItem::new(
            "server_id",
            Outcome::Fail,
            format!("server_id = {server_id}"),
            "",
        ),
    });
    items.push(check_privileges(cfg, conn).await);
    items.push(check_retention(conn).await);
    check_captured_tables(cfg, conn, items).await;
}

/// Binlog compression (MariaDB `log_bin_compress`, MySQL `binlog_transaction_compression`):
/// fine either way, compressed events are decoded (`source::compressed`); reported so a reader
/// of the report knows which events the stream carries.
async fn check_compression(conn: &mut Conn) -> CheckItem {
    for setting in ["log_bin_compress", "binlog_transaction_compression"] {
        match my::variable(conn, setting).await {
            Ok(Some(value)) if value.eq_ignore_ascii_case("ON") => {
                return CheckItem::pass(
                    setting,
                    format!("{setting} = ON: compressed events are decoded"),
                )
            }
            Ok(Some(value)) => return CheckItem::pass(setting, format!("{setting} = {value}")),
            Ok(None) => {}
            Err(e) => {
                return CheckItem::new(
                    setting,
                    Outcome::Warn,
                    format!("cannot read {setting}: {e}"),
                    "",
                )
            }
        }
    }
    CheckItem::pass(
        "binlog_compression",
        "this server version does not compress its binlog",
    )
}

/// Privileges from `SHOW GRANTS`, on `*.*` for the replication ones.
async fn check_privileges(cfg: &Config, conn: &mut Conn) -> CheckItem {
    let grants: Vec<String> = match conn.query("SHOW GRANTS FOR CURRENT_USER()").await {
        Ok(g) => g,
        Err(e) => {
            return CheckItem::new(
                "privileges",
                Outcome::Fail,
                format!("cannot read grants: {e}"),
                "",
            )
        }
    };
    let global: Vec<String> = grants
        .iter()
        .filter(|g| g.contains(" ON *.* "))
        .map(|g| g.to_uppercase())
        .collect();
    let has = |p: &str| {
        global
            .iter()
            .any(|g| g.contains("ALL PRIVILEGES") || g.contains(p))
    };
    let mut missing = Vec::new();
    if !has("REPLICATION SLAVE") {
        missing.push("REPLICATION SLAVE");
    }
    // MariaDB 10.5+ shows REPLICATION CLIENT as BINLOG MONITOR.
    if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
        missing.push("REPLICATION CLIENT");
    }
    if !has("SELECT") && !grants.iter().any(|g| g.to_uppercase().contains("SELECT")) {
        missing.push("SELECT");
    }
    let reload_needed = cfg.snapshot.locking_mode.needs_reload();
    if missing.is_empty() && reload_needed && !has("RELOAD") {
        return CheckItem::new(
            "privileges",
            Outcome::Warn,
            format!(
                "RELOAD is missing: snapshot.locking_mode = {:?} falls back to LOCK TABLES ... READ on the tables being bootstrapped",
                cfg.snapshot.locking_mode
            ),
            "GRANT RELOAD ON *.* TO the user, or set snapshot.locking_mode = \"none\"",
        );
    }
    // The state store lives here unless [state] url puts it elsewhere.
    let state_missing = if cfg.state.url.is_none() {
        missing_state_privileges(&grants, &cfg.state.database)
    } else {
        Vec::new()
    };
    if missing.is_empty() && !state_missing.is_empty() {
        let db = my::quote_identifier(&cfg.state.database);
        return CheckItem::new(
            "privileges",
            Outcome::Fail,
            format!(
                "missing on {db}.* (the state schema): {}",
                state_missing.join(", ")
            ),
            format!("GRANT {} ON {db}.* TO the user", state_missing.join(", ")),
        );
    }
    if missing.is_empty() {
        CheckItem::pass(
            "privileges",
            "REPLICATION SLAVE, REPLICATION CLIENT, SELECT present; the state schema is writable",
        )
    } else {
        CheckItem::new(
            "privileges",
            Outcome::Fail,
            format!("missing: {}", missing.join(", ")),
            format!("GRANT {} ON *.* TO the user", missing.join(", ")),
        )
    }
}

/// Privileges the state store needs on its schema that no grant (global or on that schema) gives.
fn missing_state_privileges(grants: &[String], state_db: &str) -> Vec<&'static str> {
    let quoted = my::quote_identifier(state_db).to_uppercase();
    let relevant: Vec<String> = grants
        .iter()
        // SHOW GRANTS escapes `_` and `%` in schema names (`m2h\_x`).
        .map(|g| g.to_uppercase().replace('\\', ""))
        .filter(|g| g.contains(" ON *.* ") || g.contains(&format!(" ON {quoted}.* ")))
        .collect();
    const NEEDED: [&str; 6] = ["CREATE", "INSERT", "UPDATE", "DELETE", "ALTER", "INDEX"];
    if relevant.iter().any(|g| g.contains("ALL PRIVILEGES")) {
        return Vec::new();
    }
    NEEDED
        .into_iter()
        .filter(|p| {
            !relevant.iter().any(|g| {
                let privileges = g.split(" ON ").next().unwrap_or_default();
                privileges
                    .trim_start_matches("GRANT ")
                    .split(", ")
                    .any(|have| have.trim() == *p)
            })
        })
        .collect()
}

async fn check_retention(conn: &mut Conn) -> CheckItem {
    // MySQL 8 and MariaDB 10.6+ have binlog_expire_logs_seconds; older ones expire_logs_days.
    let seconds = match my::variable(conn, "binlog_expire_logs_seconds").await {
        Ok(Some(s)) => s.parse::<f64>().ok(),
        _ => None,
    };
    let seconds = match seconds {
        Some(s) => s,
        None => match my::variable(conn, "expire_logs_days").await {
            Ok(Some(d)) => d.parse::<f64>().unwrap_or(0.0) * 86400.0,
            _ => 0.0,
        },
    };
    if seconds == 0.0 {
        CheckItem::pass("binlog_retention", "binlogs are never purged automatically")
    } else if seconds >= 86400.0 {
        CheckItem::pass(
            "binlog_retention",
            format!("binlogs kept {:.1} days", seconds / 86400.0),
        )
    } else {
        CheckItem::new(
            "binlog_retention",
            Outcome::Warn,
            format!("binlogs kept only {:.1} hours", seconds / 3600.0),
            "keep binlogs longer than the longest downtime you want to survive (binlog_expire_logs_seconds >= 86400)",
        )
    }
}

/// The captured tables' own problems: without a primary key their rows have no HBase row key,
/// and with a name HBase does not allow their HBase table cannot be created. Either way their
/// rows go to the dead-letter output instead of HBase.
async fn check_captured_tables(cfg: &Config, conn: &mut Conn, items: &mut Vec<CheckItem>) {
    let filter = TableFilter::new(&cfg.capture);
    let rows: Vec<(String, String, u64)> = match conn
        .query(
            // A join, not a subquery per table: MariaDB materializes information_schema for
            // each subquery, which took minutes with two thousand tables.
            "SELECT t.TABLE_SCHEMA, t.TABLE_NAME, COUNT(c.CONSTRAINT_NAME) \
             FROM information_schema.TABLES t \
             LEFT JOIN information_schema.TABLE_CONSTRAINTS c \
               ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME \
                 AND c.CONSTRAINT_TYPE = 'PRIMARY KEY' \
             WHERE t.TABLE_TYPE = 'BASE TABLE' \
               AND t.TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') \
             GROUP BY t.TABLE_SCHEMA, t.TABLE_NAME",
        )
        .await
    {
        Ok(r) => r,
        Err(e) => {
            items.push(CheckItem::new("primary_keys", Outcome::Fail, format!("cannot list tables: {e}"), ""));
            return;
        }
    };
    let captured: Vec<_> = rows
        .iter()
        .filter(|(db, t, _)| filter.captures(db, t))
        .collect();
    // A row_key override must be unique, or rows would merge (the daemon refuses to start).
    for (db, t, _) in &captured {
        if let Ok(Some((problem, fix))) =
            crate::core::bootstrap::job::row_key_problem(cfg, conn, db, t).await
        {
            items.push(CheckItem::new(
                "mapping.row_key",
                Outcome::Fail,
                problem,
                fix,
            ));
        }
    }
    let without: Vec<String> = captured
        .iter()
        .filter(|(_, _, pk)| *pk == 0)
        .map(|(db, t, _)| format!("{db}.{t}"))
        .collect();
    items.push(if without.is_empty() {
        CheckItem::pass(
            "primary_keys",
            format!(
                "{} captured table(s), all with a primary key",
                captured.len()
            ),
        )
    } else {
        CheckItem::new(
            "primary_keys",
            Outcome::Warn,
            format!("captured tables without a primary key (their rows go to the dead-letter output, not HBase): {}", without.join(", ")),
            "add a primary key, set a row_key in [[mapping.tables]], or exclude them in [capture] exclude",
        )
    });
    let illegal: Vec<String> = captured
        .iter()
        .filter_map(|(db, t, _)| {
            let (name, _) = hbase_target(cfg, db, t);
            (!is_legal_hbase_table_name(&name)).then(|| format!("{db}.{t} -> {name:?}"))
        })
        .collect();
    items.push(if illegal.is_empty() {
        CheckItem::pass(
            "hbase_names",
            format!("{} captured table(s), all with a legal HBase table name", captured.len()),
        )
    } else {
        CheckItem::new(
            "hbase_names",
            Outcome::Warn,
            format!("captured tables whose HBase table name HBase does not allow (their rows go to the dead-letter output, not HBase): {}", illegal.join(", ")),
            "name each in a [[mapping.tables]] entry (source = \"db.table\", table = \"...\": letters, digits, `_`, `-` and `.`, not first), or exclude them in [capture] exclude",
        )
    });
}

/// Prints the report; returns whether every item passed (warnings allowed).
pub fn print_report(items: &[CheckItem]) -> bool {
    for item in items {
        let tag = match item.outcome {
            Outcome::Pass => "PASS",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
        };
        println!("[{tag}] {:<20} {}", item.name, item.detail);
        if item.outcome != Outcome::Pass && !item.hint.is_empty() {
            println!("       {:<20} fix: {}", "", item.hint);
        }
    }
    let failed: Vec<&str> = items
        .iter()
        .filter(|i| i.outcome == Outcome::Fail)
        .map(|i| i.name.as_str())
        .collect();
    if failed.is_empty() {
        println!("all checks passed");
        true
    } else {
        println!("{} check(s) failed: {}", failed.len(), failed.join(", "));
        false
    }
}
