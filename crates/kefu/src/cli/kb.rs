//! `kefu kb import | export | reindex | eval`: the knowledge base from the
//! command line, acting as the workspace's owner (audited as `system`).
//!
//! Import, export and eval use an in-memory index of their own, so they run
//! beside a live server without contending for the index under the data
//! directory (tantivy allows one writer per directory). Only `reindex`
//! touches that index, and it refuses while a server holds it.

use crate::app;
use crate::config::Settings;
use anyhow::Context;
use clap::Subcommand;
use kefu_domain::store::Store;
use kefu_domain::{StoreError, WorkspaceId};
use kefu_service::kb::import::ImportReport;
use kefu_service::{Access, ServiceError, Services};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufRead, AsyncWrite, BufReader, BufWriter};

/// How a running server learns of a command-line change (said in the help
/// of the commands that write).
const RUNNING_SERVER: &str = "A running server is not told about changes made here (its index follows \
    its own event bus, which this process does not share on a single SQLite node): it picks them up when \
    it restarts, as every start reconciles its index with the database. To make a running server search \
    new articles at once, import through the HTTP API instead (POST /api/v1/workspaces/W/kb/import). \
    This command keeps its own in-memory index, so it runs beside a server without contending for the \
    one under the data directory.";

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Import articles from a JSON Lines file (see --help for the format
    /// and exit status).
    #[command(long_about = import_help())]
    Import {
        /// JSON Lines file to read; `-` reads stdin.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Workspace id (as printed by `kefu admin create-owner`).
        #[arg(long, value_name = "W")]
        workspace: String,
    },
    /// Export every article (drafts too) as JSON Lines, in the import format.
    #[command(
        long_about = "Export every article of the workspace (drafts too) as JSON Lines, \
        in the import format plus each article's `id`. `kefu kb import` reads the file back: \
        lines with an `external_id` update the matching article.\n\n\
        Writes to stdout unless --out is given; the count goes to stderr."
    )]
    Export {
        /// Workspace id.
        #[arg(long, value_name = "W")]
        workspace: String,
        /// Write to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Rebuild the search index under the data directory from the database.
    #[command(
        long_about = "Rebuild the search index under the data directory (<data-dir>/kb-index) \
        from the database and print how many articles were indexed.\n\n\
        Without --workspace the index directory is deleted and rebuilt for every workspace; \
        with it, only that workspace's part is rebuilt.\n\n\
        A running server holds the index: stop it first (the command refuses otherwise). \
        Rarely needed: a server reconciles its index with the database at every start."
    )]
    Reindex {
        /// Rebuild only this workspace.
        #[arg(long, value_name = "W")]
        workspace: Option<String>,
    },
    /// Evaluate the bot's retrieval on a labelled question set.
    #[command(
        long_about = "Run a labelled question set through the bot's decision (nothing is written) \
        and report hit@1, hit@3, MRR@10, answer precision, coverage and off-topic hand-off at the \
        workspace's thresholds, then the same figures at every threshold from 0.00 to 1.00 in steps \
        of 0.05 (the curve the console's bot settings draw): coverage and off-topic hand-off with \
        that suggest threshold; outright answers, their precision and count with that answer \
        threshold. --json prints what POST …/kb/eval answers.\n\n\
        The questions file is JSON Lines, one question a line: \
        {\"question\": \"怎么退款\", \"expected_external_id\": \"refund\", \"locale\": \"zh-CN\"}; \
        \"expected_external_id\": null marks an off-topic question the bot should hand off.\n\n\
        The articles are read from the database into an in-memory index, so this runs beside a server."
    )]
    Eval {
        /// Workspace id.
        #[arg(long, value_name = "W")]
        workspace: String,
        /// The labelled questions (JSON Lines).
        #[arg(long, value_name = "FILE")]
        questions: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn import_help() -> String {
    format!(
        "Import articles from a JSON Lines file, one article a line:\n\n  \
        {{\"external_id\": \"refund\", \"title\": \"如何退款\", \"body\": \"…\", \"questions\": [\"怎么申请退款\"], \
        \"locale\": \"zh-CN\", \"status\": \"published\", \"tags\": [\"billing\"], \"category\": \"订单\"}}\n\n\
        Only title and body are required; status defaults to published. A line whose external_id exists \
        in the workspace updates that article (or leaves it alone when identical); any other line creates one. \
        A bad line is reported as `line N: code: message` and the others go on. When the workspace has an \
        evaluation gate, the whole import is evaluated first and nothing is written unless it passes.\n\n\
        Prints the counts (imported, created, updated, unchanged) and every failed line on stdout; \
        progress goes to stderr when it is a terminal.\n\n\
        Exit status:\n  \
        0  every line was imported\n  \
        1  some lines failed (listed); the other lines were imported — or the import could not run \
        (the error is on stderr)\n  \
        2  the workspace's evaluation gate refused the import; nothing was written\n\n\
        {RUNNING_SERVER}"
    )
}

pub async fn run(settings: &Settings, command: KbCommand) -> anyhow::Result<ExitCode> {
    match command {
        KbCommand::Import { file, workspace } => import(settings, &file, &workspace).await,
        KbCommand::Export { workspace, out } => export(settings, &workspace, out.as_deref()).await,
        KbCommand::Reindex { workspace } => reindex(settings, workspace.as_deref()).await,
        KbCommand::Eval {
            workspace,
            questions,
            json,
        } => eval(settings, &workspace, &questions, json).await,
    }
}

/// The services over the configured database, with `knowledge`.
async fn open(
    settings: &Settings,
    knowledge: kefu_service::kb::Knowledge,
) -> anyhow::Result<Services> {
    let store = app::open_store(settings).await?;
    if settings.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    } else {
        store
            .prepare()
            .await
            .context("opening the audit chain key")?;
    }
    app::services_with_knowledge(settings, store, knowledge)
}

/// Services with an in-memory index (not the server's).
async fn open_in_memory(settings: &Settings) -> anyhow::Result<Services> {
    open(settings, app::knowledge_at(settings, None)?).await
}

/// Parses the `--workspace` argument and checks the workspace exists.
async fn workspace_id(store: &dyn Store, workspace: &str) -> anyhow::Result<WorkspaceId> {
    let not_found = || {
        anyhow::anyhow!(
            "workspace {workspace} not found (give the workspace id that `kefu admin create-owner` printed)"
        )
    };
    let ws: WorkspaceId = workspace.trim().parse().map_err(|_| not_found())?;
    match store.get_workspace(ws).await {
        Ok(_) => Ok(ws),
        Err(StoreError::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e).context("looking up the workspace"),
    }
}

/// The command line's (owner-level) access to the `--workspace` argument.
async fn access(services: &Services, workspace: &str) -> anyhow::Result<Access> {
    let ws = workspace_id(&*services.store, workspace).await?;
    Ok(services.system_access(ws).await?)
}

/// A one-line progress display on stderr, drawn only when stderr is a
/// terminal, at most ten times a second.
struct Progress {
    on: bool,
    what: &'static str,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    fn new(what: &'static str) -> Self {
        Self {
            on: std::io::stderr().is_terminal(),
            what,
            last: None,
            drawn: false,
        }
    }

    fn update(&mut self, n: usize) {
        if !self.on
            || self
                .last
                .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(Instant::now());
        self.drawn = true;
        let mut e = std::io::stderr().lock();
        let _ = write!(e, "\r\x1b[2K{n} {}", self.what);
        let _ = e.flush();
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut e = std::io::stderr().lock();
            let _ = write!(e, "\r\x1b[2K");
            let _ = e.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

async fn import(settings: &Settings, file: &Path, workspace: &str) -> anyhow::Result<ExitCode> {
    let services = open_in_memory(settings).await?;
    let access = access(&services, workspace).await?;
    let name = if file == Path::new("-") {
        "stdin".to_string()
    } else {
        file.display().to_string()
    };
    let reader: Box<dyn AsyncBufRead + Unpin + Send> = if file == Path::new("-") {
        Box::new(BufReader::new(tokio::io::stdin()))
    } else {
        let f = tokio::fs::File::open(file)
            .await
            .with_context(|| format!("cannot read {name}"))?;
        Box::new(BufReader::with_capacity(64 * 1024, f))
    };
    let mut progress = Progress::new("lines read");
    let mut lines = 0;
    let result = services
        .import_articles(&access, reader, &mut |n| {
            lines = n;
            progress.update(n);
        })
        .await;
    progress.clear();
    let report = match result {
        Ok(r) => r,
        Err(ServiceError::Validation(fields)) if fields.contains_key("body") => {
            let why = match fields["body"].as_str() {
                "not_utf8" => "is not UTF-8 text",
                _ => "could not be read",
            };
            anyhow::bail!(
                "{name} {why} (after line {lines}); the lines before it were imported \
                 unless the workspace has an evaluation gate"
            )
        }
        Err(e) => return Err(e).context(format!("importing {name}")),
    };
    print!("{}", render_import(&report));
    Ok(match &report.gate {
        Some(g) if !g.passed => ExitCode::from(2),
        _ if !report.failed.is_empty() => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

fn render_import(r: &ImportReport) -> String {
    let mut s = String::new();
    if let Some(g) = &r.gate {
        let verdict = if g.passed {
            "evaluation gate passed"
        } else {
            "the workspace's evaluation gate refused the import; nothing was written"
        };
        s.push_str(&format!(
            "{verdict}: hit@1 {:.3} (minimum {:.3}), off-topic handoff {:.3} (minimum {:.3}) over {} question(s)\n",
            g.report.hit_at_1,
            g.min_hit_at_1,
            g.report.off_topic_handoff,
            g.min_off_topic_handoff,
            g.report.cases
        ));
    }
    s.push_str(&format!(
        "imported {} article(s): {} created, {} updated, {} unchanged; {} line(s) failed\n",
        r.imported,
        r.created,
        r.updated,
        r.unchanged,
        r.failed.len()
    ));
    for f in &r.failed {
        s.push_str(&format!("line {}: {}: {}\n", f.line, f.code, f.message));
    }
    s
}

async fn export(
    settings: &Settings,
    workspace: &str,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let services = open_in_memory(settings).await?;
    let access = access(&services, workspace).await?;
    let (writer, name): (Box<dyn AsyncWrite + Unpin + Send>, String) = match out {
        Some(p) => {
            let f = tokio::fs::File::create(p)
                .await
                .with_context(|| format!("cannot write {}", p.display()))?;
            (Box::new(f), p.display().to_string())
        }
        None => (Box::new(tokio::io::stdout()), "stdout".to_string()),
    };
    let mut buffered = BufWriter::with_capacity(64 * 1024, writer);
    let mut progress = Progress::new("articles exported");
    // Articles printed on the terminal would be mixed with the drawing.
    progress.on &= out.is_some() || !std::io::stdout().is_terminal();
    let n = services
        .export_articles(&access, &mut buffered, &mut |n| progress.update(n))
        .await
        .with_context(|| format!("exporting to {name}"))?;
    progress.clear();
    eprintln!("{n} article(s) exported to {name}");
    Ok(ExitCode::SUCCESS)
}

/// Whether a process (a running server) holds the index's writer lock.
fn index_in_use(dir: &Path) -> bool {
    let lock = dir.join(".tantivy-writer.lock");
    let Ok(f) = std::fs::File::open(&lock) else {
        return false;
    };
    matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

async fn reindex(settings: &Settings, workspace: Option<&str>) -> anyhow::Result<ExitCode> {
    let dir = app::kb_index_dir(settings);
    let in_use = || {
        anyhow::anyhow!(
            "the knowledge index in {} is in use by another process — is `kefu serve` running on this \
             data directory? Stop the server first (it also reconciles its index at every start)",
            dir.display()
        )
    };
    // Check before deleting anything: a running server's files stay whole.
    if index_in_use(&dir) {
        return Err(in_use());
    }
    // Check the workspace before touching the index.
    let store = app::open_store(settings).await?;
    if settings.auto_migrate {
        store.migrate().await.context("applying migrations")?;
    } else {
        store
            .prepare()
            .await
            .context("opening the audit chain key")?;
    }
    let ws = match workspace {
        Some(w) => Some(workspace_id(&*store, w).await?),
        None => None,
    };
    if ws.is_none() && dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot delete the old index in {}", dir.display()))?;
    }
    let knowledge = match app::knowledge(settings) {
        Ok(k) => k,
        // A server started since the check above.
        Err(_) if index_in_use(&dir) => return Err(in_use()),
        Err(e) => return Err(e),
    };
    let services = app::services_with_knowledge(settings, store, knowledge)?;
    let started = Instant::now();
    let (n, scope) = match ws {
        Some(ws) => {
            // Drop what the index holds for the workspace, then index every
            // published article again.
            let index = &services.knowledge.index;
            let held: Vec<_> = index.versions(ws.0).into_keys().collect();
            if !held.is_empty() {
                index
                    .remove(ws.0, &held)
                    .map_err(|e| anyhow::anyhow!("clearing workspace {ws} from the index: {e}"))?;
            }
            (
                services.reconcile_workspace(ws).await?,
                format!("workspace {ws}"),
            )
        }
        None => {
            let n = services.reconcile_knowledge().await?;
            let count = services.store.list_workspace_ids().await?.len();
            (n, format!("{count} workspace(s)"))
        }
    };
    println!(
        "{n} article(s) indexed for {scope} in {} ({} ms)",
        dir.display(),
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

async fn eval(
    settings: &Settings,
    workspace: &str,
    questions: &Path,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let text = tokio::fs::read_to_string(questions)
        .await
        .with_context(|| format!("cannot read the questions file {}", questions.display()))?;
    let cases = kefu_kb::eval::EvalCase::parse_jsonl(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", questions.display()))?;
    let services = open_in_memory(settings).await?;
    let access = access(&services, workspace).await?;
    services.reconcile_workspace(access.workspace_id).await?;
    let report = match services.evaluate(&access, &cases).await {
        Ok(r) => r,
        Err(ServiceError::Validation(fields)) => {
            let why = match fields.get("questions").map(String::as_str) {
                Some("required") => "has no questions".to_string(),
                Some("too_many") => format!(
                    "has too many questions (at most {})",
                    kefu_service::kb::eval::MAX_EVAL_CASES
                ),
                Some("blank_question") => "has a blank question".to_string(),
                _ => format!("was refused: {fields:?}"),
            };
            anyhow::bail!("{} {why}", questions.display())
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render_text());
    }
    Ok(ExitCode::SUCCESS)
}
