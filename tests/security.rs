//! Security against the real servers: TLS to MariaDB (a user created `REQUIRE SSL` streams
//! through the daemon; a wrong CA is refused clearly; a user created `REQUIRE SUBJECT` streams
//! with a client certificate, and without one or with a wrong key is refused clearly), TLS to Kafka (`check` and the dead-letter
//! topic on the TLS listener; a wrong CA is refused clearly), a password read from a file and
//! never shown, and the least privileges the README documents: enough to bootstrap and stream,
//! and `check` names what is missing.
//!
//! `scripts/services.sh up` makes the certificates (`.data/tls/`), gives MariaDB its
//! `ssl_ca/ssl_cert/ssl_key` and opens Kafka's TLS listener on 127.0.0.1:9094.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use mysql_async::prelude::Queryable;

const CONVERGE: Duration = Duration::from_secs(60);

/// A file of `.data/tls/`; panics (naming the fix) when the servers were set up without TLS.
fn tls_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".data/tls")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/services.sh up makes it",
        path.display()
    );
    path.to_str().unwrap().to_string()
}

/// A MariaDB user `name`@'%' with `password`, `require` (e.g. "REQUIRE SSL" or ""), the global
/// privileges `global` and what the state store needs on `state_db`.
async fn create_user(name: &str, password: &str, require: &str, global: &str, state_db: &str) {
    let mut c = mysql().await;
    c.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
        .await
        .unwrap();
    let quoted = password.replace('\\', "\\\\").replace('\'', "''");
    c.query_drop(format!(
        "CREATE USER '{name}'@'%' IDENTIFIED BY '{quoted}' {require}"
    ))
    .await
    .unwrap();
    c.query_drop(format!("GRANT {global} ON *.* TO '{name}'@'%'"))
        .await
        .unwrap();
    c.query_drop(format!(
        "GRANT CREATE, INSERT, UPDATE, DELETE, ALTER, INDEX ON `{state_db}`.* TO '{name}'@'%'"
    ))
    .await
    .unwrap();
}

/// `env` as a new user `name` (password `password`, letters and digits) created `require`,
/// with the README's least privileges, bootstrapping its tables on start.
async fn as_new_user(env: TestEnv, name: &str, password: &str, require: &str) -> TestEnv {
    create_user(
        name,
        password,
        require,
        "REPLICATION SLAVE, REPLICATION CLIENT, SELECT, RELOAD",
        &env.state_db,
    )
    .await;
    env.set(
        "MYSQL2HBASE__MYSQL__URL",
        &format!("mysql://{name}:{password}@127.0.0.1:3306"),
    )
    .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial")
}

async fn drop_user(name: &str) {
    let mut c = mysql().await;
    c.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
        .await
        .unwrap();
}

/// `t` with rows 1..=200 in the test's database; the connection (root) stays in it.
async fn table_with_rows(env: &TestEnv) -> mysql_async::Conn {
    env.sql(&[
        "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))",
        "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_200",
    ])
    .await
}

/// Starts the daemon (it bootstraps `t`), updates and deletes some rows, and waits until HBase
/// equals MySQL. Returns the running daemon.
async fn bootstrap_and_stream(env: &TestEnv, c: &mut mysql_async::Conn) -> Daemon {
    let daemon = env.start_streaming().await;
    run_sql(
        c,
        &[
            "UPDATE t SET v = 'changed' WHERE id <= 10",
            "DELETE FROM t WHERE id > 190",
        ],
    )
    .await;
    env.assert_converges(c, "t", CONVERGE).await;
    daemon
}

/// `check` as `env`: it fails to connect to MySQL and says `reason`; returns its stdout and
/// stderr.
fn check_refuses_mysql(env: &TestEnv, reason: &str) -> (String, String) {
    let run = cli(env, &["check"])
        .code(1)
        .stdout_has(&["[FAIL] mysql.connect", reason]);
    (run.out, run.err)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_require_ssl_user_streams_over_tls_with_a_password_file_and_a_wrong_ca_is_refused() {
    let user = format!("m2h_tls_{}", std::process::id());
    // URL-special characters: the file's password is percent-encoded into the URL.
    let password = "p@ss:w/rd#%41 tls";
    let env = TestEnv::new(
        "tls_mysql",
        &format!("[mysql.tls]\nca = \"{}\"\n", tls_file("ca.pem")),
    )
    .await;
    create_user(
        &user,
        password,
        "REQUIRE SSL",
        "REPLICATION SLAVE, REPLICATION CLIENT, SELECT, RELOAD",
        &env.state_db,
    )
    .await;
    let password_file = env.dir.join("mysql-password");
    std::fs::write(&password_file, format!("{password}\n")).unwrap();
    let env = env
        .set(
            "MYSQL2HBASE__MYSQL__URL",
            &format!("mysql://{user}@127.0.0.1:3306"),
        )
        .set(
            "MYSQL2HBASE__MYSQL__PASSWORD_FILE",
            password_file.to_str().unwrap(),
        )
        .set("MYSQL2HBASE__SNAPSHOT__MODE", "initial");
    let mut c = table_with_rows(&env).await;

    let mut shown = cli(&env, &["check"])
        .code(0)
        .stdout_has(&["[PASS] mysql.connect", "[PASS] privileges"])
        .text();

    // Bootstrap, then stream, all over TLS as the REQUIRE SSL user.
    let mut daemon = bootstrap_and_stream(&env, &mut c).await;
    let ssl_connections: Vec<(String, String)> = c
        .query(format!(
            "SELECT s.VARIABLE_NAME, s.VARIABLE_VALUE FROM performance_schema.status_by_thread s \
             JOIN performance_schema.threads t USING (THREAD_ID) \
             WHERE t.PROCESSLIST_USER = '{user}' AND s.VARIABLE_NAME = 'Ssl_version'"
        ))
        .await
        .unwrap();
    assert!(
        !ssl_connections.is_empty() && ssl_connections.iter().all(|(_, v)| v.starts_with("TLS")),
        "the daemon's connections are not all TLS: {ssl_connections:?}"
    );
    shown += &cli(&env, &["status"]).code(0).text();
    daemon.stop();
    shown += &daemon.log_text();

    // Without [mysql.tls] the server refuses the user; the message points at TLS.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let plain = env.with_config("plain.toml", text.split("[mysql.tls]").next().unwrap());
    let (out, err) = check_refuses_mysql(&plain, "REQUIRE SSL needs [mysql.tls]");
    shown += &format!("{out}{err}");

    // A CA that did not sign the server's certificate: refused, by `check` and by `run`.
    let wrong = env
        .clone()
        .set("MYSQL2HBASE__MYSQL__TLS__CA", &tls_file("wrong-ca.pem"));
    let (out, err) = check_refuses_mysql(
        &wrong,
        "TLS failed: check that [mysql.tls] ca is the CA that signed",
    );
    shown += &format!("{out}{err}");
    let mut refused = wrong.start_logged("wrong-ca", &[]);
    let status = refused.wait_exit(Duration::from_secs(60)).await;
    assert!(!status.success());
    let log = refused.log_text();
    assert!(log.contains("TLS failed"), "{log}");
    shown += &log;

    // A missing CA file is a config error naming the key.
    let missing = env.set("MYSQL2HBASE__MYSQL__TLS__CA", "/nonexistent/ca.pem");
    cli(&missing, &["check"])
        .code(2)
        .stderr_has(&["`mysql.tls.ca`"]);

    assert!(
        !shown.contains(password) && !shown.contains("p%40ss"),
        "the password was shown:\n{shown}"
    );
    drop_user(&user).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_least_privileges_suffice_and_check_names_what_is_missing() {
    let user = format!("m2h_least_{}", std::process::id());
    let env = TestEnv::new("least_privileges", "").await;
    // README, "Privileges of the MySQL user", minus nothing.
    let env = as_new_user(env, &user, "least", "").await;
    let db = env.db.clone();
    let mut c = create_mixed_table(&env, 2000).await;
    cli(&env, &["check"])
        .code(0)
        .stdout_has(&["[PASS] privileges"]);

    let mut daemon = env.start_streaming().await;
    for i in 0..300u32 {
        mixed_change(&mut c, i, i % 150).await;
    }
    env.assert_converges(&mut c, "t", CONVERGE).await;
    cli(&env, &["verify", &format!("{db}.t")]).code(0);
    daemon.stop();

    // Take away one privilege at a time: check names it and the GRANT that fixes it.
    let mut admin = mysql().await;
    for (revoke, on, expect) in [
        (
            "REPLICATION SLAVE",
            "*.*".to_string(),
            "missing: REPLICATION SLAVE".to_string(),
        ),
        (
            "ALTER, INDEX",
            format!("`{}`.*", env.state_db),
            format!(
                "missing on `{}`.* (the state schema): ALTER, INDEX",
                env.state_db
            ),
        ),
    ] {
        admin
            .query_drop(format!("REVOKE {revoke} ON {on} FROM '{user}'@'%'"))
            .await
            .unwrap();
        cli(&env, &["check"]).code(1).stdout_has(&[
            "[FAIL] privileges",
            &expect,
            &format!("GRANT {revoke} ON"),
        ]);
        admin
            .query_drop(format!("GRANT {revoke} ON {on} TO '{user}'@'%'"))
            .await
            .unwrap();
    }
    drop_user(&user).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_over_tls_serves_check_and_the_dead_letter_topic_and_a_wrong_ca_is_refused() {
    let topic = format!("m2h-dead-letter-tls-{}", std::process::id());
    let env = TestEnv::new(
        "tls_kafka",
        &format!(
            "[kafka]\nbrokers = \"127.0.0.1:9094\"\n[kafka.tls]\nca = \"{}\"\n",
            tls_file("ca.pem")
        ),
    )
    .await
    .set("MYSQL2HBASE__DEAD_LETTER__TOPIC", &topic);
    cli(&env, &["check"])
        .code(0)
        .stdout_has(&["[PASS] kafka.connect", "127.0.0.1:9094 answered"]);

    let db = env.db.clone();
    stream_dead_letters(&env).await;
    let mut client = rdkafka::ClientConfig::new();
    client
        .set("bootstrap.servers", "127.0.0.1:9094")
        .set("security.protocol", "ssl")
        .set("ssl.ca.location", tls_file("ca.pem"));
    let records = tokio::task::spawn_blocking(move || kafka_records(client, &topic, 2))
        .await
        .unwrap();
    assert_eq!(records.len(), 2, "dead-letter records: {records:?}");
    assert_eq!(records[0]["table"], format!("{db}.nokey"));

    // The broker's certificate is not from this CA: refused, and the reason is the certificate.
    let wrong = env
        .clone()
        .set("MYSQL2HBASE__KAFKA__TLS__CA", &tls_file("wrong-ca.pem"));
    cli(&wrong, &["check"]).code(1).stdout_has(&[
        "[FAIL] kafka.connect",
        "certificate verify failed",
        "[kafka.tls] ca",
    ]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_require_x509_user_streams_with_a_client_certificate_and_a_wrong_key_is_refused() {
    let user = format!("m2h_x509_{}", std::process::id());
    let identity = format!(
        "certificate = \"{}\"\nkey = \"{}\"\n",
        tls_file("client.pem"),
        tls_file("client.key")
    );
    let env = TestEnv::new(
        "x509_mysql",
        &format!("[mysql.tls]\nca = \"{}\"\n{identity}", tls_file("ca.pem")),
    )
    .await;
    // The server checks the certificate's subject and issuer, so only ours gets in.
    let require = "REQUIRE SUBJECT '/CN=mysql2hbase client' AND ISSUER '/CN=mysql2hbase test CA'";
    let env = as_new_user(env, &user, "x509pw", require).await;
    let mut c = table_with_rows(&env).await;

    cli(&env, &["check"])
        .code(0)
        .stdout_has(&["[PASS] mysql.connect"]);

    // Bootstrap, then stream, as the REQUIRE SUBJECT user.
    bootstrap_and_stream(&env, &mut c).await.stop();

    // Without the certificate the server refuses the user; the message says what to add.
    let text = std::fs::read_to_string(&env.config).unwrap();
    let no_identity = env.with_config("no-identity.toml", &text.replace(&identity, ""));
    check_refuses_mysql(
        &no_identity,
        "REQUIRE X509, SUBJECT or ISSUER also needs [mysql.tls] certificate and key",
    );

    // A key that is not the certificate's: refused before any connection, naming both files.
    let wrong_key = env
        .clone()
        .set("MYSQL2HBASE__MYSQL__TLS__KEY", &tls_file("server.key"));
    let (out, _) = check_refuses_mysql(&wrong_key, "the key is not the certificate's key");
    assert!(out.contains("server.key"), "{out}");

    // A certificate without its key is a config error naming the key.
    let key_line = format!("key = \"{}\"\n", tls_file("client.key"));
    let half = env.with_config("half.toml", &text.replace(&key_line, ""));
    cli(&half, &["check"])
        .code(2)
        .stderr_has(&["`mysql.tls.key`", "together, or neither"]);

    drop_user(&user).await;
}
