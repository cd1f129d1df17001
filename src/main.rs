//! The `mysql2hbase` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use mysql2hbase::config::Config;
use mysql2hbase::core::pipeline::Role;

/// mimalloc instead of glibc malloc: decoding allocates per value and per row, and with glibc
/// malloc/free took a quarter of the router's CPU (see bench/RESULTS.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mysql2hbase",
    version,
    about = "Keeps HBase tables exactly in sync with MySQL"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Preflight: checks the servers and settings the service needs, with a fix for each problem.
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Runs the sync daemon: streams the binlog into HBase until SIGTERM/SIGINT.
    Run {
        #[arg(long, short)]
        config: PathBuf,
        /// all: one process, binlog to HBase. capture: binlog and bootstraps into the internal
        /// Kafka topic. apply: a worker writing that topic into HBase (run any number).
        #[arg(long, value_enum, default_value_t = Role::All)]
        role: Role,
    },
    /// Requests a bootstrap (re-copy) of a table while the daemon runs.
    Bootstrap {
        #[arg(long, short)]
        config: PathBuf,
        /// The table, `db.table`.
        table: String,
        /// Only rows matching this SQL condition (repairing a range).
        #[arg(long = "where")]
        where_clause: Option<String>,
        /// Show progress and exit when the job ends: 0 when complete, 1 with the reason when not
        /// (2 when the request itself is refused or a server is unreachable).
        #[arg(long)]
        wait: bool,
    },
    /// Shows the checkpoint, lag, stopped tables and bootstrap jobs (daemon running or not).
    Status {
        #[arg(long, short)]
        config: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Prints the first rows of the HBase table a MySQL table is mapped to.
    Peek {
        #[arg(long, short)]
        config: PathBuf,
        /// The source table, `db.table`.
        table: String,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Compares a MySQL table with its HBase copy (works while the daemon runs); exit 0 when
    /// equal, 1 when not, 2 on error.
    Verify {
        #[arg(long, short)]
        config: PathBuf,
        /// The source table, `db.table`.
        table: String,
        /// Only rows matching this SQL condition.
        #[arg(long = "where")]
        where_clause: Option<String>,
        /// Rewrite differing and missing rows, delete extra ones, then verify again.
        #[arg(long)]
        repair: bool,
        /// Print one JSON line: {"checked", "missing", "extra", "different", "samples"}.
        #[arg(long)]
        json: bool,
    },
    /// Creates the state schema and applies pending migrations.
    Migrate {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    Config::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    mysql2hbase::disable_transparent_huge_pages();
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Check { config, json } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let items = mysql2hbase::admin::check::run_checks(&cfg).await;
            let ok = if json {
                let ok = items
                    .iter()
                    .all(|i| i.outcome != mysql2hbase::admin::check::Outcome::Fail);
                println!("{}", serde_json::json!({ "ok": ok, "items": items }));
                ok
            } else {
                mysql2hbase::admin::check::print_report(&items)
            };
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Run { config, role } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let (stop, stopped) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                shutdown_signal().await;
                let _ = stop.send(true);
            });
            let health = mysql2hbase::telemetry::health::SharedHealth::default();
            if let Err(e) = mysql2hbase::admin::http::serve(cfg.clone(), health.clone()).await {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
            match mysql2hbase::core::supervisor::run(cfg, role, stopped, health).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Bootstrap {
            config,
            table,
            where_clause,
            wait,
        } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            use mysql2hbase::admin::commands;
            let id = match commands::request_bootstrap(&cfg, &table, where_clause.as_deref()).await
            {
                Ok(id) => id,
                // Refused (bad table, name or condition) or a server unreachable: nothing ran.
                Err(e) => {
                    eprintln!("error: {e:#}");
                    return ExitCode::from(2);
                }
            };
            println!("bootstrap job {id} recorded for {table}");
            if !wait {
                return ExitCode::SUCCESS;
            }
            match commands::wait_for_job(&cfg, id).await {
                Ok(job) => {
                    println!("bootstrap job {id} complete: {} rows", job.rows_done);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Status { config, json } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match mysql2hbase::admin::commands::status(&cfg).await {
                Ok(s) if json => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&s).expect("serializable")
                    );
                    ExitCode::SUCCESS
                }
                Ok(s) => {
                    mysql2hbase::admin::commands::print_status(&s);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Peek {
            config,
            table,
            limit,
        } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match peek(&cfg, &table, limit) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Verify {
            config,
            table,
            where_clause,
            repair,
            json,
        } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            ExitCode::from(
                mysql2hbase::admin::verify::command(
                    &cfg,
                    &table,
                    where_clause.as_deref(),
                    repair,
                    json,
                )
                .await,
            )
        }
        Command::Migrate { config } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match mysql2hbase::state::StateStore::connect_and_migrate(&cfg).await {
                Ok((_, applied)) if applied.is_empty() => {
                    println!("state schema `{}` is up to date", cfg.state.database);
                    ExitCode::SUCCESS
                }
                Ok((_, applied)) => {
                    println!(
                        "applied to `{}`: {}",
                        cfg.state.database,
                        applied.join(", ")
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn peek(cfg: &Config, source: &str, limit: usize) -> anyhow::Result<()> {
    use mysql2hbase::sink::hbase::client as hbase_client;
    let (db, table) = source
        .split_once('.')
        .ok_or_else(|| anyhow::anyhow!("name the table as db.table, not {source:?}"))?;
    let (hbase_table, _) = mysql2hbase::core::mapping::hbase_target(cfg, db, table);
    let mut client = hbase_client::connect(&cfg.hbase)?;
    if !hbase_client::table_exists(&mut client, &hbase_table)? {
        anyhow::bail!("HBase table {hbase_table} does not exist yet");
    }
    println!("HBase table {hbase_table}:");
    let n = hbase_client::scan_rows(&mut client, &hbase_table, Some(limit), |(key, cells)| {
        let cells: Vec<String> = cells
            .iter()
            .map(|(c, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(c),
                    String::from_utf8_lossy(v)
                )
            })
            .collect();
        println!("  {}  {}", String::from_utf8_lossy(&key), cells.join(" "));
    })?;
    println!("({n} row(s) shown)");
    Ok(())
}
