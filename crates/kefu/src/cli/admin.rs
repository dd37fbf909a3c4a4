//! `kefu admin create-owner` and `kefu audit verify`.

use super::AdminCommand;
use crate::app;
use crate::config::Settings;
use anyhow::Context;
use kefu_domain::audit::ChainFault;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateOwner {
            email,
            name,
            workspace,
        } => {
            let password = read_password()?;
            let password = password.as_str();
            anyhow::ensure!(
                !password.is_empty(),
                "no password on stdin: type it at the prompt, or pipe it in as the first line; nothing was created"
            );
            let store = app::open_store(settings).await?;
            store.migrate().await?;
            let services = app::services(settings, store)?;
            match services
                .create_owner(&email, &name, &workspace, password)
                .await
            {
                Ok((ws, _)) => {
                    println!("{ws}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(kefu_service::ServiceError::Validation(fields)) => {
                    let list: Vec<String> = fields
                        .iter()
                        .map(|(f, why)| format!("{f}: {why}"))
                        .collect();
                    anyhow::bail!("invalid input — {}", list.join(", "))
                }
                Err(kefu_service::ServiceError::Unauthorized(_)) => {
                    anyhow::bail!(
                        "{email} already has an account and the password given is not its password"
                    )
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// The new owner's password: typed at a terminal without echo and asked
/// twice, or else the first line of stdin (a pipe, a file).
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !rustix::termios::isatty(&stdin) {
        return read_line();
    }
    let first = read_hidden("Password: ")?;
    let again = read_hidden("Repeat the password: ")?;
    anyhow::ensure!(
        first == again,
        "the two passwords differ; nothing was created"
    );
    Ok(first)
}

/// One line of stdin, without its line ending.
fn read_line() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

/// One line typed at the terminal with its echo off (restored after).
fn read_hidden(prompt: &str) -> anyhow::Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let stdin = std::io::stdin();
    let before = tcgetattr(&stdin).context("reading the terminal's mode")?;
    let mut quiet = before.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning the echo off")?;
    // The prompt only once the echo is off: whatever is typed as soon as it
    // shows must not appear on the screen.
    eprint!("{prompt}");
    let line = read_line();
    tcsetattr(&stdin, OptionalActions::Now, &before).context("turning the echo back on")?;
    line
}

/// Checks every workspace's chain under the chain key and, with `heads`, that
/// every head published earlier (log lines kept outside) is still in the
/// chain. Prints the first broken link of each workspace; exit 1 on any.
pub async fn verify_audit(settings: &Settings, heads: Option<&Path>) -> anyhow::Result<ExitCode> {
    let published = match heads {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading published heads from {}", p.display()))?;
            let found = crate::audit_heads::parse_published(&text);
            anyhow::ensure!(
                !found.is_empty(),
                "{}: no published audit chain heads in it (lines of `kefu serve`'s log with \
                 \"audit chain head\", or `<workspace id> <seq> <head>`)",
                p.display()
            );
            found
        }
        None => Vec::new(),
    };
    let store = app::open_store(settings).await?;
    store
        .prepare()
        .await
        .context("opening the audit chain key (is the key-encryption key configured?)")?;
    let services = app::services(settings, store.clone())?;
    let report = services.verify_audit().await?;
    let mut bad = 0;
    for (ws, entries, faults) in &report {
        let ws_text = ws.to_string();
        let mut problems: Vec<String> = faults.iter().map(describe).collect();
        let mine: Vec<_> = published
            .iter()
            .filter(|p| p.workspace_id == ws_text)
            .collect();
        if !mine.is_empty() {
            let (chain, _, _) = store.audit_chain(*ws).await?;
            for p in &mine {
                match chain.iter().find(|e| e.seq == p.seq) {
                    Some(e) if e.hash == p.head => {}
                    Some(_) => problems.push(format!(
                        "entry {} differs from the head published for it: history up to it was rewritten",
                        p.seq
                    )),
                    None => problems.push(format!(
                        "entry {} was published as a head but is gone (entries deleted)",
                        p.seq
                    )),
                }
            }
        }
        if problems.is_empty() {
            let checked = if mine.is_empty() {
                String::new()
            } else {
                format!(", {} published head(s) match", mine.len())
            };
            println!("ok       workspace {ws}: {entries} entries, chain intact{checked}");
        } else {
            bad += 1;
            println!("TAMPERED workspace {ws}: {entries} entries");
            println!("         first broken link: {}", problems[0]);
            for p in &problems[1..] {
                println!("         - {p}");
            }
        }
    }
    let unknown = published
        .iter()
        .filter(|p| {
            !report
                .iter()
                .any(|(ws, _, _)| ws.to_string() == p.workspace_id)
        })
        .count();
    if unknown > 0 {
        bad += 1;
        println!("TAMPERED {unknown} published head(s) name a workspace that is gone");
    }
    println!("{} workspace(s) checked, {bad} with faults", report.len());
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn describe(f: &ChainFault) -> String {
    match f {
        ChainFault::Tampered { seq } => {
            format!("entry {seq} was edited (its hash no longer matches)")
        }
        ChainFault::Gap {
            expected_seq,
            found_seq,
        } => {
            format!(
                "entries {expected_seq}..{} are missing (deleted)",
                found_seq - 1
            )
        }
        ChainFault::BrokenLink { seq } => {
            format!("entry {seq} does not link to the entry before it")
        }
        ChainFault::HeadMismatch { head_seq, last_seq } => {
            format!("the log ends at entry {last_seq} but the workspace recorded {head_seq} (tail deleted or head edited)")
        }
    }
}
