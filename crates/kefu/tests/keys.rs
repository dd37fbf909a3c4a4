//! Issue 14, hardening 11 and 12, as operators meet them: `kefu keys
//! generate | status | rotate` with the old key accepted until the rotation
//! is done; `kefu serve` publishing the audit chain heads; and `kefu audit
//! verify` finding the first broken link of a chain rewritten by someone
//! with database access, and, with `--heads`, a rewrite by someone holding
//! every key. Real processes, raw SQL, both engines.

mod support;

use kefu_domain::audit::{entry_hash, legacy_entry_hash, AuditEntry, GENESIS_HASH};
use kefu_domain::secrets::{Kek, Keyring};
use kefu_store::testing::TestDb;
use std::sync::Arc;
use support::*;

const OWNER: &str = "owner@example.com";

#[tokio::test]
async fn keys_rotate_and_audit_verify_on_sqlite() {
    rotate_and_verify(TestDb::sqlite()).await;
}

#[tokio::test]
async fn keys_rotate_and_audit_verify_on_postgres() {
    rotate_and_verify(TestDb::postgres().await).await;
}

fn with_keys(cmd: &mut std::process::Command, key: &str, previous: Option<&str>) {
    cmd.env("KEFU_SECRETS__KEY", key);
    if let Some(p) = previous {
        cmd.env("KEFU_SECRETS__PREVIOUS_KEYS", p);
    }
}

/// The chain as the store gives it (with the chain key) under `key`.
async fn chain(db: &TestDb, key: &str) -> (Arc<dyn kefu_domain::store::Store>, Vec<AuditEntry>) {
    let ring = Keyring::new(Kek::parse_hex(key).unwrap(), vec![]);
    let store = kefu_store::connect(&kefu_store::ConnectOptions::new(&db.url, Arc::new(ring)))
        .await
        .unwrap();
    store.prepare().await.unwrap();
    let ws = store.list_workspace_ids().await.unwrap()[0];
    let (entries, _, _) = store.audit_chain(ws).await.unwrap();
    (store, entries)
}

/// Rewrites every entry after the first with `hash`, as someone with write
/// access to the database would (the append-only guard removed first), and
/// moves the head.
async fn rewrite(db: &TestDb, entries: &[AuditEntry], hash: &dyn Fn(&AuditEntry) -> String) {
    let mut forged: Vec<AuditEntry> = entries.to_vec();
    forged[0].action = "workspace.forged".into();
    let mut prev = GENESIS_HASH.to_string();
    for e in forged.iter_mut() {
        e.prev_hash = prev.clone();
        e.hash = hash(e);
        prev = e.hash.clone();
    }
    let ws = entries[0].workspace_id.0;
    macro_rules! run {
        ($conn:expr, $guard:expr) => {{
            let mut c = $conn;
            sqlx::query($guard).execute(&mut c).await.unwrap();
            for e in &forged {
                sqlx::query(
                    "UPDATE audit_log SET action = $1, prev_hash = $2, hash = $3 WHERE id = $4",
                )
                .bind(&e.action)
                .bind(&e.prev_hash)
                .bind(&e.hash)
                .bind(e.id.0)
                .execute(&mut c)
                .await
                .unwrap();
            }
            sqlx::query("UPDATE workspaces SET audit_head_hash = $1 WHERE id = $2")
                .bind(&prev)
                .bind(ws)
                .execute(&mut c)
                .await
                .unwrap();
        }};
    }
    if db.url.starts_with("sqlite:") {
        run!(
            <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap(),
            "DROP TRIGGER IF EXISTS audit_log_no_update"
        );
    } else {
        run!(
            <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
                .await
                .unwrap(),
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update"
        );
    }
}

async fn rotate_and_verify(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let url = Some(db.url.as_str());
    let old = Kek::generate().to_hex();
    let kefu_with = |key: &str, prev: Option<&str>| {
        let mut c = kefu(data, url);
        with_keys(&mut c, key, prev);
        c
    };
    // A workspace, its first audit entries, its secrets sealed under `old`.
    let mut c = kefu_with(&old, None);
    c.args(["admin", "create-owner", "--email", OWNER, "--name", "Owner"])
        .args(["--workspace", "客服团队"])
        .stdin(std::process::Stdio::piped());
    let mut child = c
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let old_id = Kek::parse_hex(&old).unwrap().id().to_string();

    // `generate` prints a fresh key.
    let new = ok(kefu(data, url).args(["keys", "generate"]))
        .trim()
        .to_string();
    let new_id = Kek::parse_hex(&new)
        .expect("64 hex characters")
        .id()
        .to_string();
    assert_ne!(new_id, old_id);

    // During the rotation: the new key is primary, the old one accepted.
    let status = ok(kefu_with(&new, Some(&old)).args(["keys", "status"]));
    assert!(
        status.contains(&format!("primary  {new_id}  seals 0")),
        "{status}"
    );
    assert!(
        status.contains(&format!("previous {old_id}  seals 1")),
        "{status}"
    );
    let out = ok(kefu_with(&new, Some(&old)).args(["keys", "rotate"]));
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["primary"], new_id.as_str());
    assert_eq!(report["rewrapped"], 1, "{report}");
    assert_eq!(report["left"], 0, "{report}");
    // Done: the new key alone opens everything; the old key alone no longer.
    let verified = ok(kefu_with(&new, None).args(["audit", "verify"]));
    assert!(verified.contains("chain intact"), "{verified}");
    let out = kefu_with(&old, None)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(&new_id), "{}", text(&out.stderr));

    // The server publishes the heads: a log line per workspace.
    let server = serve(
        data,
        url,
        &[
            ("KEFU_SECRETS__KEY", new.as_str()),
            ("KEFU_AUDIT__PUBLISH_INTERVAL_SECS", "1"),
        ],
    );
    let mut published = None;
    for _ in 0..100 {
        let log = server.log.lock().unwrap().clone();
        if let Some(l) = log.iter().find(|l| l.contains("audit chain head")) {
            published = Some(l.clone());
            break;
        }
        drop(log);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let published = published.expect("a published head within 10 s");
    let metrics = reqwest::get(format!("{}/metrics", server.base()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kefu_audit_chain_heads{digest=\""),
        "{metrics}"
    );
    drop(server);
    let heads = data.join("heads.log");
    std::fs::write(&heads, format!("{published}\n")).unwrap();
    let verified = ok(kefu_with(&new, None)
        .args(["audit", "verify", "--heads"])
        .arg(&heads));
    assert!(verified.contains("1 published head(s) match"), "{verified}");

    // Someone with database access but not the key rewrites the chain with
    // the only hash they can compute: the first broken link is reported.
    let (store, entries) = chain(&db, &new).await;
    let key = store.audit_chain_key().unwrap();
    drop(store);
    rewrite(&db, &entries, &|e| {
        legacy_entry_hash(&e.prev_hash, e.seq, e.id, &e.record(), &e.details_text)
    })
    .await;
    let out = kefu_with(&new, None)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(
        report.contains("first broken link: entry 1 was edited"),
        "{report}"
    );

    // Someone holding every key rewrites it consistently: the chain alone
    // verifies, the heads published before do not.
    rewrite(&db, &entries, &|e| {
        entry_hash(
            &key,
            &e.prev_hash,
            e.seq,
            e.id,
            &e.record(),
            &e.details_text,
        )
    })
    .await;
    let alone = ok(kefu_with(&new, None).args(["audit", "verify"]));
    assert!(alone.contains("chain intact"), "{alone}");
    let out = kefu_with(&new, None)
        .args(["audit", "verify", "--heads"])
        .arg(&heads)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report = text(&out.stdout);
    assert!(
        report.contains("history up to it was rewritten"),
        "{report}"
    );
    db.cleanup().await;
}
