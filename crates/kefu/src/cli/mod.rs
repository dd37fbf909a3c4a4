//! The command line: `kefu serve | migrate | config show | healthcheck |
//! admin create-owner | audit verify | kb import|export|reindex|eval |
//! backup create|verify|restore|list|prune`.

mod admin;
mod backup;
mod healthcheck;
mod kb;
mod keys;

pub use backup::BackupCommand;
pub use kb::KbCommand;

use crate::config::{Loaded, Overrides, Settings};
use crate::{app, logging, App};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "kefu",
    version,
    about = "Kefu (客服): customer-service platform — chat widget, bot, agent console, tickets.",
    long_about = "Kefu (客服): customer-service platform — chat widget, bot, agent console, tickets.\n\n\
        One binary. `kefu serve` runs everything on one machine with an embedded SQLite database; \
        pointed at PostgreSQL (KEFU_DATABASE_URL) and Redis (KEFU_REDIS_URL) it runs as identical replicas.\n\n\
        Settings come from defaults, then kefu.toml (or --config), then KEFU_* environment variables \
        (`__` between sections, e.g. KEFU_HTTP__BODY_LIMIT_BYTES), then flags. `kefu config show` prints the result."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file (TOML). Default: ./kefu.toml when present.
    #[arg(long, global = true, value_name = "FILE", env = "KEFU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory: SQLite database, generated signing key. Default ./data.
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (HTTP API, health, metrics).
    Serve {
        /// Address to listen on, e.g. 0.0.0.0:8080 (env KEFU_LISTEN).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Inspect configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Exit 0 when the local server's /readyz answers 200 (for container health checks).
    Healthcheck {
        /// Base URL of the server; default: http://<listen>.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3)]
        timeout_secs: u64,
    },
    /// Administrative tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Key-encryption keys: generate, status, rotate (docs/security.md).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The knowledge base: import, export, reindex, evaluate.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Backups: create, verify, restore (either engine), list, prune.
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML, secrets redacted.
    Show,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a workspace and its first owner. At a terminal it asks for
    /// the password twice without echoing it; otherwise it reads the first
    /// line of stdin. Prints the new workspace id on stdout.
    CreateOwner {
        /// The owner's e-mail (their login).
        #[arg(long)]
        email: String,
        /// The owner's display name.
        #[arg(long)]
        name: String,
        /// The new workspace's name.
        #[arg(long)]
        workspace: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every workspace's keyed hash chain (needs the
    /// key-encryption key); print each broken chain's first broken link and
    /// exit 1 if any entry was edited, deleted or reordered.
    Verify {
        /// Also check heads published earlier: a file of `kefu serve` log
        /// lines ("audit chain head") or `<workspace id> <seq> <head>` lines,
        /// kept outside the database.
        #[arg(long, value_name = "FILE")]
        heads: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Print a new random key-encryption key (64 hex characters) on stdout:
    /// `kefu keys generate > secrets.key`.
    Generate,
    /// The configured keys and how many stored secrets each one seals.
    Status,
    /// Re-seal every stored secret under the primary key (secrets.key),
    /// opening them with it or any of secrets.previous_keys; then the
    /// previous keys can be removed. Safe to repeat and to run while
    /// `kefu serve` runs.
    Rotate,
}

fn load(global: &GlobalArgs, listen: Option<String>) -> anyhow::Result<Loaded> {
    let overrides = Overrides {
        listen,
        data_dir: global.data_dir.clone(),
    };
    Settings::load(global.config.as_deref(), &overrides)
}

#[must_use = "dropping the guard stops trace export"]
fn init_logging(loaded: &Loaded) -> Option<crate::otlp::OtlpGuard> {
    let guard = logging::init(
        loaded.settings.log_format,
        &loaded.settings.log_filter,
        loaded.settings.otlp_endpoint.as_deref(),
    );
    if let Some(src) = &loaded.source {
        tracing::debug!(file = %src.display(), "configuration file read");
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    guard
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let listen = match &cli.command {
        Command::Serve { listen } => listen.clone(),
        _ => None,
    };
    let loaded = load(&cli.global, listen)?;
    match cli.command {
        Command::Serve { .. } => {
            let _traces = init_logging(&loaded);
            serve(loaded.settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let _traces = init_logging(&loaded);
            let store = app::open_store_for_schema(&loaded.settings).await?;
            let n = store.migrate_schema().await?;
            println!(
                "{n} migration(s) applied; the {} database is up to date",
                store.backend_name()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Show,
        } => {
            for w in &loaded.warnings {
                eprintln!("warning: {w}");
            }
            print!("{}", loaded.settings.redacted_toml());
            Ok(ExitCode::SUCCESS)
        }
        Command::Healthcheck { url, timeout_secs } => {
            Ok(healthcheck::run(&loaded.settings, url, timeout_secs).await)
        }
        Command::Admin { command } => {
            let _traces = init_logging(&loaded);
            admin::run(&loaded.settings, command).await
        }
        Command::Audit {
            command: AuditCommand::Verify { heads },
        } => {
            let _traces = init_logging(&loaded);
            admin::verify_audit(&loaded.settings, heads.as_deref()).await
        }
        Command::Keys { command } => {
            let _traces = init_logging(&loaded);
            keys::run(&loaded.settings, command).await
        }
        Command::Kb { command } => {
            let _traces = init_logging(&loaded);
            kb::run(&loaded.settings, command).await
        }
        Command::Backup { command } => {
            let _traces = init_logging(&loaded);
            // On a thread (and runtime) of its own at a lower CPU priority
            // ([backup] nice), which the threads it starts inherit: a backup
            // next to a busy server yields the cores to it.
            let settings = loaded.settings.clone();
            tokio::task::spawn_blocking(move || {
                kefu_backup::lower_priority(&settings.backup);
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(backup::run(&settings, command))
            })
            .await?
        }
    }
}

async fn serve(settings: crate::Settings) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let app = App::build(settings.clone()).await?;
    let addr = app.local_addr();
    let store = app.store();
    let has_members = !store.list_workspace_ids().await?.is_empty();
    tracing::info!(
        %addr,
        store = store.backend_name(),
        startup_ms = started.elapsed().as_millis() as u64,
        "kefu is listening on http://{addr}"
    );
    if !has_members {
        // Placeholders, not an example address: the log's personal-data
        // masking would print an address as `[email]`.
        tracing::info!(
            "no workspace yet — create the first owner with: \
             kefu admin create-owner --email <your e-mail> --name <your name> --workspace <team name> (it asks for the password)"
        );
    }
    app.run(app::shutdown_signal()).await
}
