//! `kefu admin create-owner` and `kefu audit verify`.

use super::AdminCommand;
use crate::app;
use crate::config::Settings;
use kefu_domain::audit::ChainFault;
use std::io::BufRead;
use std::process::ExitCode;

pub async fn run(settings: &Settings, command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::CreateOwner {
            email,
            name,
            workspace,
        } => {
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(
                !password.is_empty(),
                "no password on stdin: type it (or pipe it in) as the first line"
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

pub async fn verify_audit(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = app::open_store(settings).await?;
    let services = app::services(settings, store)?;
    let report = services.verify_audit().await?;
    let mut bad = 0;
    for (ws, entries, faults) in &report {
        if faults.is_empty() {
            println!("ok       workspace {ws}: {entries} entries, chain intact");
        } else {
            bad += 1;
            println!("TAMPERED workspace {ws}: {entries} entries");
            for f in faults {
                println!("         - {}", describe(f));
            }
        }
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
