//! The `mysql2hbase` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use mysql2hbase::config::Config;

#[derive(Parser)]
#[command(name = "mysql2hbase", version, about = "Keeps HBase tables exactly in sync with MySQL")]
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
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Check { config, json } => {
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let items = mysql2hbase::check::run_checks(&cfg).await;
            let ok = if json {
                let ok = items
                    .iter()
                    .all(|i| i.outcome != mysql2hbase::check::Outcome::Fail);
                println!("{}", serde_json::json!({ "ok": ok, "items": items }));
                ok
            } else {
                mysql2hbase::check::print_report(&items)
            };
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
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
                    println!("applied to `{}`: {}", cfg.state.database, applied.join(", "));
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
