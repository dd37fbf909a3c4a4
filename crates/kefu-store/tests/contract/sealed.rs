//! Issue 14, hardening 11 and 12: secrets at rest (TOTP, identity and SSO
//! client secrets) are sealed under the
//! key-encryption key, rotation re-seals them while the old key is still
//! accepted, and the audit chain is keyed so that someone with write access
//! to the database (these tests write raw SQL, as they could) cannot rewrite
//! it. Each case runs on both engines.

use crate::support::*;
use kefu_domain::audit::{legacy_entry_hash, verify_chain, ChainCheck, ChainFault, GENESIS_HASH};
use kefu_domain::secrets::{Kek, Keyring};
use kefu_domain::store::Store;
use kefu_domain::{InboxId, StoreError, WorkspaceId};
use kefu_store::testing::TestDb;
use kefu_store::ConnectOptions;
use std::sync::Arc;

macro_rules! on_both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = kefu_store::testing::TestDb::sqlite();
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let db = kefu_store::testing::TestDb::postgres().await;
                    super::$case(&db).await;
                    db.cleanup().await;
                }
            )*
        }
    };
}

on_both!(
    totp_and_identity_secrets_are_sealed_at_rest,
    a_sealed_secret_moved_to_another_row_does_not_open,
    rotation_reseals_everything_while_the_old_key_still_opens,
    plaintext_from_an_older_version_is_sealed_by_a_reseal_pass,
    a_forger_with_database_access_cannot_rewrite_the_audit_chain,
    chains_written_before_the_key_are_resealed_once
);

async fn open_with(db: &TestDb, ring: Keyring) -> Arc<dyn Store> {
    let store = kefu_store::connect(&ConnectOptions::new(&db.url, Arc::new(ring)))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    store
}

/// What someone with database access does first: remove the append-only
/// guard.
async fn drop_guard(db: &TestDb) {
    if db.url.starts_with("sqlite:") {
        sql(db, "DROP TRIGGER audit_log_no_update", &[]).await;
    } else {
        sql(
            db,
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
            &[],
        )
        .await;
    }
}

/// A bound value of raw SQL.
enum A<'a> {
    T(&'a str),
    U(uuid::Uuid),
}

/// Raw SQL against the test database, as someone with database access.
async fn sql(db: &TestDb, q: &str, args: &[A<'_>]) -> Vec<Vec<Option<String>>> {
    if db.url.starts_with("sqlite:") {
        use sqlx::Row;
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        let mut query = sqlx::query(q);
        for a in args {
            query = match a {
                A::T(t) => query.bind(*t),
                A::U(u) => query.bind(*u),
            };
        }
        let rows = query.fetch_all(&mut conn).await.unwrap();
        rows.iter()
            .map(|r| {
                (0..r.columns().len())
                    .map(|i| r.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect()
    } else {
        use sqlx::Row;
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        let mut query = sqlx::query(q);
        for a in args {
            query = match a {
                A::T(t) => query.bind(*t),
                A::U(u) => query.bind(*u),
            };
        }
        let rows = query.fetch_all(&mut conn).await.unwrap();
        rows.iter()
            .map(|r| {
                (0..r.columns().len())
                    .map(|i| r.try_get::<Option<String>, _>(i).unwrap())
                    .collect()
            })
            .collect()
    }
}

fn oidc(ws: WorkspaceId) -> kefu_domain::sso::OidcConfig {
    kefu_domain::sso::OidcConfig {
        workspace_id: ws,
        issuer: "https://idp.example".into(),
        client_id: "kefu".into(),
        client_secret: "oidc-client-secret-plain".into(),
        scopes: vec!["openid".into()],
        enabled: true,
        jit_domains: vec![],
        jit_role: kefu_domain::Role::Agent,
        created_at: now(),
        updated_at: now(),
    }
}

fn inbox(ws: WorkspaceId) -> kefu_domain::chat::Inbox {
    kefu_domain::chat::Inbox {
        id: InboxId::new(),
        workspace_id: ws,
        name: "网站".into(),
        channel: "web".into(),
        widget_key: format!("wk_{}", uuid::Uuid::now_v7().simple()),
        identity_secret: "ids_plain_identity_secret".into(),
        allowed_origins: vec![],
        greeting: None,
        bot_enabled: false,
        business_hours: None,
        offline_mode: kefu_domain::chat::OfflineMode::Queue,
        automation: Default::default(),
        created_at: now(),
    }
}

async fn totp_and_identity_secrets_are_sealed_at_rest(db: &TestDb) {
    let store = open_with(db, Keyring::ephemeral()).await;
    let (ws, user) = workspace(&store, "o@example.com").await;
    store
        .set_pending_totp(user, "JBSWY3DPEHPK3PXP")
        .await
        .unwrap();
    let i = inbox(ws);
    store
        .create_inbox(&i, record(ws, "inbox.created"))
        .await
        .unwrap();
    store
        .put_oidc_config(&oidc(ws), record(ws, "sso.configured"))
        .await
        .unwrap();
    // What the database holds: ciphertext only.
    let raw = sql(db, "SELECT client_secret FROM oidc_configs", &[]).await;
    let cs = raw[0][0].clone().unwrap();
    assert!(
        cs.starts_with("kek1:") && !cs.contains("oidc-client"),
        "{cs}"
    );
    assert_eq!(
        store.oidc_config(ws).await.unwrap().unwrap().client_secret,
        "oidc-client-secret-plain"
    );
    let raw = sql(db, "SELECT totp_secret FROM users", &[]).await;
    let totp = raw[0][0].clone().unwrap();
    assert!(totp.starts_with("kek1:"), "{totp}");
    assert!(!totp.contains("JBSWY3DPEHPK3PXP"));
    let raw = sql(db, "SELECT identity_secret FROM inboxes", &[]).await;
    let ids = raw[0][0].clone().unwrap();
    assert!(
        ids.starts_with("kek1:") && !ids.contains("ids_plain"),
        "{ids}"
    );
    // What the store gives back: the plaintext.
    assert_eq!(
        store.get_user(user).await.unwrap().totp_secret.as_deref(),
        Some("JBSWY3DPEHPK3PXP")
    );
    assert_eq!(
        store.get_inbox(ws, i.id).await.unwrap().identity_secret,
        "ids_plain_identity_secret"
    );
    // Enabling compares the pending secret by value, not by ciphertext.
    assert!(matches!(
        store.enable_totp(user, "WRONGWRONGWRONG2", &[]).await,
        Err(StoreError::NotFound("pending_totp"))
    ));
    store
        .enable_totp(user, "JBSWY3DPEHPK3PXP", &["h1".into()])
        .await
        .unwrap();
    assert!(store.get_user(user).await.unwrap().totp_enabled);
    // The usage report counts them under the one key.
    let usage = store.secret_key_usage().await.unwrap();
    assert!(usage.iter().all(|(id, _)| id != "plaintext"), "{usage:?}");
    assert_eq!(usage.iter().map(|(_, n)| n).sum::<u64>(), 4, "{usage:?}");
}

async fn a_sealed_secret_moved_to_another_row_does_not_open(db: &TestDb) {
    let store = open_with(db, Keyring::ephemeral()).await;
    let (ws, owner) = workspace(&store, "o@example.com").await;
    let agent = add_member(&store, ws, owner, "a@example.com", kefu_domain::Role::Agent).await;
    store
        .set_pending_totp(owner, "OWNERSECRETOWNER")
        .await
        .unwrap();
    // Copy the owner's sealed secret onto the agent's row.
    sql(
        db,
        "UPDATE users SET totp_secret = (SELECT totp_secret FROM users WHERE id = $1) WHERE id = $2",
        &[A::U(owner.0), A::U(agent.0)],
    )
    .await;
    let err = store.get_user(agent).await.unwrap_err().to_string();
    assert!(err.contains("does not open"), "{err}");
    assert!(store.get_user(owner).await.is_ok());
}

async fn rotation_reseals_everything_while_the_old_key_still_opens(db: &TestDb) {
    let old = Kek::generate();
    let new = Kek::generate();
    let store = open_with(db, Keyring::new(old.clone(), vec![])).await;
    let (ws, user) = workspace(&store, "o@example.com").await;
    store
        .set_pending_totp(user, "ROTATEMEROTATEME")
        .await
        .unwrap();
    let i = inbox(ws);
    store
        .create_inbox(&i, record(ws, "inbox.created"))
        .await
        .unwrap();
    store
        .put_oidc_config(&oidc(ws), record(ws, "sso.configured"))
        .await
        .unwrap();
    drop(store);
    // The new key is primary, the old one still accepted: everything opens.
    let during = open_with(db, Keyring::new(new.clone(), vec![old.clone()])).await;
    assert_eq!(
        during.get_user(user).await.unwrap().totp_secret.as_deref(),
        Some("ROTATEMEROTATEME")
    );
    // New writes use the new key already.
    store_secret_under(&during, db, user, new.id()).await;
    let report = during.reseal_secrets(false).await.unwrap();
    // The inbox's identity secret, the SSO client secret and the audit
    // chain key were under the old key; the TOTP secret was re-written
    // under the new one above.
    assert_eq!(report.rewrapped, 3, "{report:?}");
    assert_eq!(report.current, 1, "{report:?}");
    let usage = during.secret_key_usage().await.unwrap();
    assert_eq!(usage, vec![(new.id().to_string(), 4)]);
    // A second pass finds nothing to do.
    let again = during.reseal_secrets(false).await.unwrap();
    assert_eq!((again.rewrapped, again.current), (0, 4));
    drop(during);
    // After the rotation the old key can go.
    let after = open_with(db, Keyring::new(new.clone(), vec![])).await;
    assert_eq!(
        after.get_inbox(ws, i.id).await.unwrap().identity_secret,
        "ids_plain_identity_secret"
    );
    assert_eq!(
        after.oidc_config(ws).await.unwrap().unwrap().client_secret,
        "oidc-client-secret-plain"
    );
    let (entries, seq, head) = after.audit_chain(ws).await.unwrap();
    let check = ChainCheck::Keyed(after.audit_chain_key().unwrap());
    assert_eq!(verify_chain(&check, &entries, seq, &head), vec![]);
    drop(after);
    // The old key alone no longer opens the database: refused at start.
    let stale = kefu_store::connect(&ConnectOptions::new(
        &db.url,
        Arc::new(Keyring::new(old, vec![])),
    ))
    .await
    .unwrap();
    let err = stale.migrate().await.unwrap_err().to_string();
    assert!(err.contains(new.id()), "names the missing key: {err}");
}

/// Re-writes the pending TOTP secret and checks it is sealed under `kid`.
async fn store_secret_under(
    store: &Arc<dyn Store>,
    db: &TestDb,
    user: kefu_domain::UserId,
    kid: &str,
) {
    store
        .set_pending_totp(user, "ROTATEMEROTATEME")
        .await
        .unwrap();
    let raw = sql(db, "SELECT totp_secret FROM users", &[]).await;
    assert_eq!(Keyring::key_id_of(raw[0][0].as_deref().unwrap()), Some(kid));
}

async fn plaintext_from_an_older_version_is_sealed_by_a_reseal_pass(db: &TestDb) {
    let store = open_with(db, Keyring::ephemeral()).await;
    let (_, user) = workspace(&store, "o@example.com").await;
    // As a version before sealing wrote it.
    sql(db, "UPDATE users SET totp_secret = 'LEGACYPLAINTEXT2'", &[]).await;
    assert_eq!(
        store.get_user(user).await.unwrap().totp_secret.as_deref(),
        Some("LEGACYPLAINTEXT2")
    );
    let usage = store.secret_key_usage().await.unwrap();
    assert!(usage.contains(&("plaintext".to_string(), 1)), "{usage:?}");
    let report = store.reseal_secrets(true).await.unwrap();
    assert_eq!(report.sealed_plaintext, 1, "{report:?}");
    // The start-up pass reads only values in clear, not every sealed one
    // (the audit chain key here).
    assert_eq!(report.current, 0, "{report:?}");
    let raw = sql(db, "SELECT totp_secret FROM users", &[]).await;
    assert!(raw[0][0].as_deref().unwrap().starts_with("kek1:"));
    assert_eq!(
        store.get_user(user).await.unwrap().totp_secret.as_deref(),
        Some("LEGACYPLAINTEXT2")
    );
}

async fn a_forger_with_database_access_cannot_rewrite_the_audit_chain(db: &TestDb) {
    let store = open_with(db, Keyring::ephemeral()).await;
    let (ws, _) = workspace(&store, "o@example.com").await;
    for i in 0..4 {
        store
            .append_audit(record(ws, &format!("t.{i}")))
            .await
            .unwrap();
    }
    let check = ChainCheck::Keyed(store.audit_chain_key().unwrap());
    let (entries, seq, head) = store.audit_chain(ws).await.unwrap();
    assert_eq!(verify_chain(&check, &entries, seq, &head), vec![]);
    // Entries are HMACs under the chain key, not plain SHA-256.
    assert_ne!(
        entries[0].hash,
        legacy_entry_hash(
            GENESIS_HASH,
            1,
            entries[0].id,
            &entries[0].record(),
            &entries[0].details_text
        )
    );
    // The forger edits entry 3 and re-links everything after it with the
    // only hash they can compute, and moves the head along.
    drop_guard(db).await;
    let mut forged = entries.clone();
    forged[2].action = "member.role_changed".into();
    let mut prev = forged[1].hash.clone();
    for e in forged.iter_mut().skip(2) {
        e.prev_hash = prev.clone();
        e.hash = legacy_entry_hash(&e.prev_hash, e.seq, e.id, &e.record(), &e.details_text);
        prev = e.hash.clone();
    }
    for e in forged.iter().skip(2) {
        sql(
            db,
            "UPDATE audit_log SET action = $1, prev_hash = $2, hash = $3 WHERE id = $4",
            &[
                A::T(&e.action),
                A::T(&e.prev_hash),
                A::T(&e.hash),
                A::U(e.id.0),
            ],
        )
        .await;
    }
    sql(
        db,
        "UPDATE workspaces SET audit_head_hash = $1 WHERE id = $2",
        &[A::T(&prev), A::U(ws.0)],
    )
    .await;
    let (entries, seq, head) = store.audit_chain(ws).await.unwrap();
    assert_eq!(
        entries[2].action, "member.role_changed",
        "the forgery landed"
    );
    let faults = verify_chain(&check, &entries, seq, &head);
    assert_eq!(
        faults.first(),
        Some(&ChainFault::Tampered { seq: 3 }),
        "{faults:?}"
    );
    // The chain key is not in the database in clear.
    let raw = sql(db, "SELECT sealed FROM sealed_keys", &[]).await;
    let sealed = raw[0][0].clone().unwrap();
    assert!(sealed.starts_with("kek1:"));
    assert!(!sealed.contains(&store.audit_chain_key().unwrap().to_hex()));
}

async fn chains_written_before_the_key_are_resealed_once(db: &TestDb) {
    let ring = Keyring::ephemeral();
    let store = open_with(db, ring.clone()).await;
    let (ws, _) = workspace(&store, "o@example.com").await;
    for i in 0..3 {
        store
            .append_audit(record(ws, &format!("t.{i}")))
            .await
            .unwrap();
    }
    // Make it look as a version before keyed chains left it: plain SHA-256
    // links and no chain key.
    let (entries, _, _) = store.audit_chain(ws).await.unwrap();
    drop(store);
    drop_guard(db).await;
    let mut prev = GENESIS_HASH.to_string();
    for e in &entries {
        let h = legacy_entry_hash(&prev, e.seq, e.id, &e.record(), &e.details_text);
        sql(
            db,
            "UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE id = $3",
            &[A::T(&prev), A::T(&h), A::U(e.id.0)],
        )
        .await;
        prev = h;
    }
    sql(
        db,
        "UPDATE workspaces SET audit_head_hash = $1 WHERE id = $2",
        &[A::T(&prev), A::U(ws.0)],
    )
    .await;
    sql(db, "DELETE FROM sealed_keys", &[]).await;
    let legacy_head = prev;
    // Opening it creates the key and re-seals the chain under it.
    let store = open_with(db, ring.clone()).await;
    let check = ChainCheck::Keyed(store.audit_chain_key().unwrap());
    let (entries, seq, head) = store.audit_chain(ws).await.unwrap();
    assert_eq!(verify_chain(&check, &entries, seq, &head), vec![]);
    assert_ne!(head, legacy_head);
    // The guard is back after the re-seal (where the test had removed it,
    // the re-seal recreates it on SQLite and re-enables it on PostgreSQL).
    let guarded = if db.url.starts_with("sqlite:") {
        let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET action = 'x'")
            .execute(&mut c)
            .await
            .unwrap_err()
            .to_string()
    } else {
        let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET action = 'x'")
            .execute(&mut c)
            .await
            .unwrap_err()
            .to_string()
    };
    assert!(guarded.contains("append-only"), "{guarded}");
    // Once: a second start keeps the same key and heads.
    let key = store.audit_chain_key().unwrap();
    drop(store);
    let again = open_with(db, ring).await;
    assert_eq!(again.audit_chain_key().unwrap(), key);
    assert_eq!(again.audit_chain(ws).await.unwrap().2, head);
}
