//! `kefu keys generate | status | rotate`: the key-encryption keys that
//! seal TOTP and identity secrets and the audit chain key in the database.

use super::KeysCommand;
use crate::app;
use crate::config::Settings;
use crate::secrets;
use anyhow::Context;
use kefu_domain::secrets::Kek;
use std::process::ExitCode;

pub async fn run(settings: &Settings, command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Generate => {
            println!("{}", Kek::generate().to_hex());
            eprintln!(
                "a new key-encryption key: keep it outside the database (a file readable by Kefu \
                 only, or a secret store) and with the backup key; give it as secrets.key_file"
            );
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Status => {
            let ring = secrets::keyring_if_any(settings)?.context(
                "no key-encryption key: none configured (secrets.key_file) and none in the data directory",
            )?;
            let store = app::open_store(settings).await?;
            let usage = store.secret_key_usage().await?;
            let count = |id: &str| usage.iter().find(|(k, _)| k == id).map_or(0, |(_, n)| *n);
            println!(
                "primary  {}  seals {}",
                ring.primary().id(),
                count(ring.primary().id())
            );
            for k in ring.previous() {
                println!("previous {}  seals {}", k.id(), count(k.id()));
            }
            let mut unknown = 0;
            for (id, n) in &usage {
                let known =
                    id == ring.primary().id() || ring.previous().iter().any(|k| k.id() == id);
                if id == "plaintext" {
                    println!("in clear             {n} (sealed when `kefu serve` starts, or by `kefu keys rotate`)");
                } else if !known {
                    unknown += n;
                    println!("UNKNOWN  {id}  seals {n} (this key is not configured: those secrets cannot be opened)");
                }
            }
            Ok(if unknown == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        KeysCommand::Rotate => {
            let ring = secrets::keyring_if_any(settings)?.context(
                "no key-encryption key: none configured (secrets.key_file) and none in the data directory",
            )?;
            let store = app::open_store(settings).await?;
            store
                .prepare()
                .await
                .context("opening the audit chain key (is the key that sealed it configured?)")?;
            let report = store
                .reseal_secrets(false)
                .await
                .context("re-sealing the stored secrets")?;
            let usage = store.secret_key_usage().await?;
            let left: u64 = usage
                .iter()
                .filter(|(id, _)| id != ring.primary().id())
                .map(|(_, n)| n)
                .sum();
            if left == 0 {
                eprintln!(
                    "every stored secret is sealed under {}: secrets.previous_keys can be removed (restart the replicas after)",
                    ring.primary().id()
                );
            } else {
                eprintln!("{left} secret(s) are not under the primary key yet (changed meanwhile): run it again");
            }
            println!(
                "{}",
                serde_json::json!({
                    "primary": ring.primary().id(),
                    "sealed_plaintext": report.sealed_plaintext,
                    "rewrapped": report.rewrapped,
                    "current": report.current,
                    "skipped": report.skipped,
                    "left": left,
                })
            );
            Ok(if left == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
