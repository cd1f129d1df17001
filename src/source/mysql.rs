//! Connections to the source server and the facts about it the service depends on.

use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Conn, Opts, OptsBuilder, Pool, SslOpts};

use crate::config::{MysqlConfig, SecretUrl, TlsConfig};
use crate::error::{Result, SyncError};
use crate::model::BinlogPosition;

/// Every identifier interpolated into SQL goes through here.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `db`.`table`, quoted.
pub fn quote_table(db: &str, table: &str) -> String {
    format!("{}.{}", quote_identifier(db), quote_identifier(table))
}

/// Connection options for a URL, with our timeouts, `[mysql.tls]`, and the session settings every
/// query relies on: UTC, so TIMESTAMP values read as text equal the binlog's UTC seconds.
pub fn opts(url: &SecretUrl, cfg: &MysqlConfig, database: Option<&str>) -> Result<Opts> {
    let base = Opts::from_url(url.expose()).map_err(|e| {
        SyncError::definite(
            format!("mysql.url {} is not a valid URL: {e}", url.redacted()),
            "write it as mysql://user[:password]@host:port",
        )
    })?;
    let builder = OptsBuilder::from_opts(base)
        .db_name(database)
        .prefer_socket(false)
        .init(vec![
            "SET time_zone = '+00:00'".to_string(),
            "SET NAMES utf8mb4".to_string(),
        ])
        .ssl_opts(cfg.tls.as_ref().map(ssl_opts).transpose()?);
    Ok(builder.into())
}

/// With a CA file only that CA is trusted, so a server certificate from anyone else is refused.
/// A client certificate and key (PEM, like `[kafka.tls]`) go to the TLS library as an in-memory
/// PKCS#12 archive, the form mysql_async's native-tls backend takes.
fn ssl_opts(tls: &TlsConfig) -> Result<SslOpts> {
    let mut opts = SslOpts::default().with_danger_skip_domain_validation(!tls.verify_identity);
    if let Some(ca) = &tls.ca {
        opts = opts
            .with_root_certs(vec![std::path::PathBuf::from(ca).into()])
            .with_disable_built_in_roots(true);
    }
    if let (Some(certificate), Some(key)) = (&tls.certificate, &tls.key) {
        let archive = pkcs12_from_pem(certificate, key).map_err(|e| {
            SyncError::definite(
                format!("[mysql.tls] certificate {certificate:?} and key {key:?}: {e}"),
                "point [mysql.tls] certificate and key at the client's PEM certificate and its unencrypted key",
            )
        })?;
        opts =
            opts.with_client_identity(Some(ClientIdentity::new(archive.into()).with_password("")));
    }
    Ok(opts)
}

/// A PKCS#12 archive (no password) of the certificate (and the chain after it) and its key;
/// a key that is not the certificate's is refused here rather than by the server.
fn pkcs12_from_pem(certificate: &str, key: &str) -> std::result::Result<Vec<u8>, String> {
    use openssl::{pkcs12::Pkcs12, pkey::PKey, stack::Stack, x509::X509};
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
    let mut chain = X509::stack_from_pem(&read(certificate)?)
        .map_err(|e| format!("{certificate} is not a PEM certificate: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{certificate} holds no PEM certificate"));
    }
    let leaf = chain.remove(0);
    let key = PKey::private_key_from_pem(&read(key)?)
        .map_err(|e| format!("{key} is not an unencrypted PEM private key: {e}"))?;
    let matches = leaf
        .public_key()
        .map(|public| public.public_eq(&key))
        .unwrap_or(false);
    if !matches {
        return Err("the key is not the certificate's key".into());
    }
    let openssl_error = |e: openssl::error::ErrorStack| e.to_string();
    let mut builder = Pkcs12::builder();
    builder.name("mysql2hbase").pkey(&key).cert(&leaf);
    if !chain.is_empty() {
        let mut ca = Stack::new().map_err(openssl_error)?;
        for c in chain {
            ca.push(c).map_err(openssl_error)?;
        }
        builder.ca(ca);
    }
    builder
        .build2("")
        .and_then(|archive| archive.to_der())
        .map_err(openssl_error)
}

/// One connection, with a clear error naming the server (never the password).
pub async fn connect(url: &SecretUrl, cfg: &MysqlConfig, database: Option<&str>) -> Result<Conn> {
    let opts = opts(url, cfg, database)?;
    match tokio::time::timeout(cfg.connect_timeout * 2, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        // Refused credentials or TLS: retrying cannot help.
        Ok(Err(e)) if refused_for_good(&e) => Err(SyncError::definite(
            format!("cannot connect to MySQL at {}: {e}", url.redacted()),
            connect_hint(&e, cfg),
        )),
        // Transient: the server may be restarting; the restart strategy retries.
        Ok(Err(e)) => Err(SyncError::transient(format!(
            "cannot connect to MySQL at {}: {e}; {}",
            url.redacted(),
            connect_hint(&e, cfg)
        ))),
        Err(_) => Err(SyncError::transient(format!(
            "cannot connect to MySQL at {}: timed out after {:?}",
            url.redacted(),
            cfg.connect_timeout * 2
        ))),
    }
}

/// A connection the server refused for reasons a retry does not change: the credentials
/// (access denied, an unknown database, an authentication plugin the user must change) or TLS
/// (a certificate that does not verify, TLS the server does not offer).
fn refused_for_good(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(s) => matches!(s.code, 1044 | 1045 | 1049 | 1251 | 1698),
        mysql_async::Error::Io(mysql_async::IoError::Tls(_)) => true,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => true,
        _ => false,
    }
}

/// What to look at when a connection fails: TLS settings for TLS errors, else the URL.
fn connect_hint(e: &mysql_async::Error, cfg: &MysqlConfig) -> &'static str {
    let tls_error = matches!(e, mysql_async::Error::Io(mysql_async::IoError::Tls(_)))
        || matches!(
            e,
            mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
        );
    match (&cfg.tls, tls_error) {
        (Some(_), true) => "TLS failed: check that [mysql.tls] ca is the CA that signed the server's certificate, that the certificate names the host of [mysql] url (or set verify_identity = false), and that the server has TLS enabled (have_ssl = YES)",
        _ => "check [mysql] url, that the server runs and that the user may connect from here (a user created REQUIRE SSL needs [mysql.tls]; REQUIRE X509, SUBJECT or ISSUER also needs [mysql.tls] certificate and key)",
    }
}

pub fn pool(url: &SecretUrl, cfg: &MysqlConfig, database: Option<&str>) -> Result<Pool> {
    Ok(Pool::new(opts(url, cfg, database)?))
}

/// The server's current binlog position and GTID set (empty when the server has no GTIDs).
pub async fn current_position(conn: &mut Conn) -> Result<(BinlogPosition, Option<String>)> {
    let row: Option<mysql_async::Row> = match conn.query_first("SHOW MASTER STATUS").await {
        Ok(row) => row,
        // MySQL 8.4 removed SHOW MASTER STATUS in favour of SHOW BINARY LOG STATUS.
        Err(mysql_async::Error::Server(_)) => conn.query_first("SHOW BINARY LOG STATUS").await?,
        Err(e) => return Err(e.into()),
    };
    let Some(row) = row else {
        return Err(SyncError::ServerSetting {
            setting: "log_bin".into(),
            expected: "ON".into(),
            actual: "OFF".into(),
            hint: "start the server with log_bin (and binlog_format=ROW)".into(),
        });
    };
    let file: String = row.get(0).unwrap_or_default();
    let pos: u64 = row.get(1).unwrap_or_default();
    let gtid = gtid_executed(conn).await?;
    Ok((server_position(file, pos)?, gtid))
}

/// Whether the server is MariaDB (its GTIDs and dump protocol differ from MySQL's).
pub async fn is_mariadb(conn: &mut Conn) -> Result<bool> {
    let version: Option<String> = conn.query_first("SELECT VERSION()").await?;
    Ok(version.is_some_and(|v| v.to_ascii_lowercase().contains("mariadb")))
}

/// Which server this is, as stored beside the checkpoint: MySQL's `server_uuid`, else (MariaDB)
/// `server_id`. A failover to a replica changes it.
pub async fn source_id(conn: &mut Conn) -> Result<String> {
    let uuid: Option<String> = conn
        .query_first("SELECT @@global.server_uuid")
        .await
        .ok()
        .flatten();
    if let Some(uuid) = uuid.filter(|u| !u.is_empty()) {
        return Ok(format!("uuid:{uuid}"));
    }
    let id: Option<u64> = conn.query_first("SELECT @@global.server_id").await?;
    Ok(format!("server_id:{}", id.unwrap_or_default()))
}

/// The second event of `file` (MariaDB's GTID list, MySQL's previous GTIDs), as `type info`:
/// with the file's creation time, what tells the file apart from another of the same name after
/// a reset or a restore (see `source::binlog::origin`). `None` when the server has no such file.
pub async fn second_event(conn: &mut Conn, file: &str) -> Result<Option<String>> {
    let sql = format!(
        "SHOW BINLOG EVENTS IN {} LIMIT 1, 1",
        mysql_async::Value::from(file).as_sql(false)
    );
    match conn.query_first::<mysql_async::Row, _>(sql).await {
        Ok(row) => Ok(Some(row.map_or_else(String::new, |r| {
            let kind: String = r.get(2).unwrap_or_default();
            let info: String = r.get(5).unwrap_or_default();
            format!("{kind} {info}")
        }))),
        Err(mysql_async::Error::Server(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether an event of `file` starts at `offset` (or the file ends there), as a position of
/// the file's history must; a reset binlog's file of the same name rarely has one there.
pub async fn is_event_boundary(conn: &mut Conn, file: &str, offset: u64) -> Result<bool> {
    let sql = format!(
        "SHOW BINLOG EVENTS IN {} FROM {offset} LIMIT 1",
        mysql_async::Value::from(file).as_sql(false)
    );
    match conn.query_drop(sql).await {
        Ok(()) => Ok(true),
        Err(mysql_async::Error::Server(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A position the server reported.
fn server_position(file: String, pos: u64) -> Result<BinlogPosition> {
    BinlogPosition::new(file, pos).map_err(|e| {
        SyncError::definite(
            format!("the server reports a binlog position that cannot be followed: {e}"),
            "set log_bin to a base name (log_bin = mysql-bin) so binlog files are numbered",
        )
    })
}

/// GTID set of the server: MySQL's `gtid_executed` when GTID mode is on, MariaDB's
/// `gtid_binlog_pos`; `None` when the server has none.
pub async fn gtid_executed(conn: &mut Conn) -> Result<Option<String>> {
    let mariadb: Option<String> = conn
        .query_first("SELECT @@global.gtid_binlog_pos")
        .await
        .ok()
        .flatten();
    if let Some(g) = mariadb {
        return Ok(Some(g).filter(|g| !g.is_empty()));
    }
    let mysql: Option<String> = conn
        .query_first("SELECT @@global.gtid_executed")
        .await
        .ok()
        .flatten();
    Ok(mysql.filter(|g| !g.is_empty()))
}

/// The GTID set equivalent to a binlog position, stored beside the checkpoint so a restart
/// against a failed-over server can find its place. MariaDB computes it (`BINLOG_GTID_POS`);
/// MySQL has no such function, and servers without GTIDs have none: `None` then.
pub async fn gtid_set_at(pool: &Pool, position: &BinlogPosition) -> Option<String> {
    let mut conn = pool.get_conn().await.ok()?;
    let gtid: Option<Option<String>> = conn
        .exec_first(
            "SELECT BINLOG_GTID_POS(?, ?)",
            (position.file(), position.offset()),
        )
        .await
        .ok()?;
    gtid.flatten().filter(|g| !g.is_empty())
}

/// Inside a `START TRANSACTION WITH CONSISTENT SNAPSHOT`, the binlog position the snapshot is
/// consistent with, where the server says (MariaDB, Percona Server); `None` elsewhere.
pub async fn snapshot_position(conn: &mut Conn) -> Result<Option<BinlogPosition>> {
    let rows: Vec<(String, String)> = conn
        .query("SHOW SESSION STATUS LIKE 'Binlog_snapshot_%'")
        .await?;
    let get = |name: &str| {
        rows.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    match (get("Binlog_snapshot_file"), get("Binlog_snapshot_position")) {
        (Some(file), Some(pos)) if !file.is_empty() => match pos.parse() {
            Ok(pos) => Ok(Some(server_position(file, pos)?)),
            Err(_) => Ok(None),
        },
        _ => Ok(None),
    }
}

/// Server settings the binlog must have to be followed row by row: (variable, required value,
/// how to fix it). Checked by `check` and at `run` start.
pub const REQUIRED_SETTINGS: [(&str, &str, &str); 3] = [
    (
        "log_bin",
        "ON",
        "start the server with log_bin (in my.cnf: log_bin = mysql-bin) and restart it",
    ),
    (
        "binlog_format",
        "ROW",
        "SET GLOBAL binlog_format = 'ROW' and binlog_format = ROW in my.cnf (open sessions keep their format until they reconnect)",
    ),
    (
        "binlog_row_image",
        "FULL",
        "SET GLOBAL binlog_row_image = 'FULL' and binlog_row_image = FULL in my.cnf",
    ),
];

/// A global variable as text, `None` when the server does not know it.
pub async fn variable(conn: &mut Conn, name: &str) -> Result<Option<String>> {
    let row: Option<(String, String)> = conn
        .exec_first("SHOW GLOBAL VARIABLES WHERE Variable_name = ?", (name,))
        .await?;
    Ok(row.map(|(_, v)| v))
}

/// Binlog files the server still has, oldest first.
pub async fn binlog_files(conn: &mut Conn) -> Result<Vec<String>> {
    let rows: Vec<mysql_async::Row> = conn.query("SHOW BINARY LOGS").await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.get::<String, _>(0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_identifier("a`b"), "`a``b`");
        assert_eq!(quote_table("db", "t"), "`db`.`t`");
    }
}
