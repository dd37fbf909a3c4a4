//! Secrets at rest, for both engines: the store seals TOTP and identity
//! secrets on write and opens them on read (kefu_domain::secrets), so the
//! rest of Kefu sees plaintext and the database sees only ciphertext; and it
//! holds the audit chain's key, opened from `sealed_keys` at migrate time.

use kefu_domain::audit::{
    entry_hash, AuditEntry, ChainCheck, ChainKey, ChainVerifier, GENESIS_HASH,
};
use kefu_domain::secrets::{context, Keyring, SealState};
use kefu_domain::store::ResealReport;
use kefu_domain::{StoreError, StoreResult};
use std::sync::{Arc, OnceLock};

pub(crate) use kefu_domain::secrets::AUDIT_CHAIN_KEY as AUDIT_CHAIN;

#[derive(Debug, Clone)]
pub(crate) struct Sealer {
    keyring: Arc<Keyring>,
    chain: Arc<OnceLock<ChainKey>>,
}

fn secret_error(e: kefu_domain::secrets::SecretError) -> StoreError {
    StoreError::backend(e)
}

impl Sealer {
    pub(crate) fn new(keyring: Arc<Keyring>) -> Self {
        Self {
            keyring,
            chain: Arc::default(),
        }
    }

    pub(crate) fn seal_totp(&self, user: uuid::Uuid, secret: &str) -> String {
        self.keyring.seal(&context::totp_secret(user), secret)
    }

    pub(crate) fn open_totp(
        &self,
        user: uuid::Uuid,
        stored: Option<String>,
    ) -> StoreResult<Option<String>> {
        stored
            .map(|s| {
                self.keyring
                    .open(&context::totp_secret(user), &s)
                    .map(|o| o.plaintext)
                    .map_err(secret_error)
            })
            .transpose()
    }

    pub(crate) fn seal_identity(&self, inbox: uuid::Uuid, secret: &str) -> String {
        self.keyring.seal(&context::identity_secret(inbox), secret)
    }

    pub(crate) fn open_identity(&self, inbox: uuid::Uuid, stored: &str) -> StoreResult<String> {
        self.keyring
            .open(&context::identity_secret(inbox), stored)
            .map(|o| o.plaintext)
            .map_err(secret_error)
    }

    pub(crate) fn seal_client_secret(&self, ws: uuid::Uuid, secret: &str) -> String {
        self.keyring.seal(&context::oidc_client_secret(ws), secret)
    }

    pub(crate) fn open_client_secret(&self, ws: uuid::Uuid, stored: &str) -> StoreResult<String> {
        self.keyring
            .open(&context::oidc_client_secret(ws), stored)
            .map(|o| o.plaintext)
            .map_err(secret_error)
    }

    pub(crate) fn seal_key(&self, name: &str, key: &ChainKey) -> String {
        self.keyring.seal(&context::sealed_key(name), &key.to_hex())
    }

    pub(crate) fn open_key(&self, name: &str, stored: &str) -> StoreResult<ChainKey> {
        let o = self
            .keyring
            .open(&context::sealed_key(name), stored)
            .map_err(secret_error)?;
        ChainKey::from_hex(&o.plaintext).ok_or_else(|| crate::corrupt("sealed_keys.sealed"))
    }

    /// The audit chain key; an error before [`Store::migrate`] loaded it.
    ///
    /// [`Store::migrate`]: kefu_domain::store::Store::migrate
    pub(crate) fn chain(&self) -> StoreResult<ChainKey> {
        self.chain.get().cloned().ok_or_else(|| {
            StoreError::backend(std::io::Error::other(
                "the audit chain key is not loaded: migrate the store first",
            ))
        })
    }

    pub(crate) fn has_chain(&self) -> bool {
        self.chain.get().is_some()
    }

    pub(crate) fn set_chain(&self, key: ChainKey) {
        let _ = self.chain.set(key);
    }

    /// What re-sealing `stored` for `ctx` under the primary key gives: None
    /// when it is already current (or only plaintext was asked for and it is
    /// sealed).
    pub(crate) fn reseal(
        &self,
        ctx: &str,
        stored: &str,
        legacy_only: bool,
    ) -> StoreResult<Option<(String, SealState)>> {
        let o = self.keyring.open(ctx, stored).map_err(secret_error)?;
        let redo = match o.state {
            SealState::Current => false,
            SealState::PreviousKey(_) => !legacy_only,
            SealState::Plaintext => true,
        };
        Ok(redo.then(|| (self.keyring.seal(ctx, &o.plaintext), o.state)))
    }
}

/// Counts one value of a re-seal pass: `redo` is what [`Sealer::reseal`]
/// said (None: already current), `done` whether the compare-and-set took.
pub(crate) fn tally(report: &mut ResealReport, redo: Option<&SealState>, done: bool) {
    match redo {
        None => report.current += 1,
        Some(_) if !done => report.skipped += 1,
        Some(SealState::Plaintext) => report.sealed_plaintext += 1,
        Some(_) => report.rewrapped += 1,
    }
}

/// Counts a stored secret under its key id (or `plaintext`).
pub(crate) fn count_key(usage: &mut std::collections::BTreeMap<String, u64>, stored: &str) {
    let id = Keyring::key_id_of(stored)
        .unwrap_or("plaintext")
        .to_string();
    *usage.entry(id).or_default() += 1;
}

/// A row's key in a column of sealed secrets.
pub(crate) enum RowKey {
    Id(uuid::Uuid),
    Name(String),
}

/// A column of sealed secrets: its table, the row's key column, the value
/// column, and the place a value is sealed for. The SQL is derived from
/// these and is the same on both engines.
pub(crate) struct SecretColumn {
    pub table: &'static str,
    pub key: &'static str,
    pub column: &'static str,
    /// The key column is text (a name), not a uuid.
    pub by_name: bool,
    pub context: fn(&RowKey) -> String,
}

impl SecretColumn {
    /// `(key, value)` of every stored value; with `legacy_only`, only those
    /// in clear (so the start-up pass reads nothing once all are sealed).
    pub(crate) fn select(&self, legacy_only: bool) -> String {
        let filter = if legacy_only {
            format!(
                " AND {} NOT LIKE '{}%'",
                self.column,
                kefu_domain::secrets::SEALED_PREFIX
            )
        } else {
            String::new()
        };
        format!(
            "SELECT {key}, {col} FROM {table} WHERE {col} IS NOT NULL{filter}",
            key = self.key,
            col = self.column,
            table = self.table,
        )
    }

    /// Compare-and-set of one value: $1 new, $2 key, $3 old.
    pub(crate) fn update(&self) -> String {
        format!(
            "UPDATE {table} SET {col} = $1 WHERE {key} = $2 AND {col} = $3",
            key = self.key,
            col = self.column,
            table = self.table,
        )
    }
}

fn by_id(k: &RowKey, place: fn(uuid::Uuid) -> String) -> String {
    match k {
        RowKey::Id(u) => place(*u),
        RowKey::Name(n) => unreachable!("a uuid-keyed column read a name: {n}"),
    }
}

/// Every place Kefu keeps a sealed secret.
pub(crate) const SECRET_COLUMNS: &[SecretColumn] = &[
    SecretColumn {
        table: "users",
        key: "id",
        column: "totp_secret",
        by_name: false,
        context: |k| by_id(k, context::totp_secret),
    },
    SecretColumn {
        table: "inboxes",
        key: "id",
        column: "identity_secret",
        by_name: false,
        context: |k| by_id(k, context::identity_secret),
    },
    SecretColumn {
        table: "oidc_configs",
        key: "workspace_id",
        column: "client_secret",
        by_name: false,
        context: |k| by_id(k, context::oidc_client_secret),
    },
    SecretColumn {
        table: "sealed_keys",
        key: "name",
        column: "sealed",
        by_name: true,
        context: |k| match k {
            RowKey::Name(n) => context::sealed_key(n),
            RowKey::Id(u) => unreachable!("sealed_keys is keyed by name, read {u}"),
        },
    },
];

/// The re-seal pass over every [`SECRET_COLUMNS`] value, on either engine:
/// one compare-and-set per value, so a secret changed meanwhile is left for
/// the next pass, never lost.
macro_rules! reseal_all {
    ($sealer:expr, $reader:expr, $writer:expr, $legacy_only:expr) => {{
        use sqlx::Row;
        let mut report = kefu_domain::store::ResealReport::default();
        for col in $crate::sealing::SECRET_COLUMNS {
            let rows = sqlx::query(&col.select($legacy_only))
                .fetch_all($reader)
                .await
                .map_err($crate::db)?;
            for row in &rows {
                let key = if col.by_name {
                    $crate::sealing::RowKey::Name(row.try_get(0).map_err($crate::db)?)
                } else {
                    $crate::sealing::RowKey::Id(row.try_get(0).map_err($crate::db)?)
                };
                let old: String = row.try_get(1).map_err($crate::db)?;
                let Some((new, state)) =
                    $sealer.reseal(&(col.context)(&key), &old, $legacy_only)?
                else {
                    $crate::sealing::tally(&mut report, None, true);
                    continue;
                };
                let update = col.update();
                let q = sqlx::query(&update).bind(&new);
                let q = match &key {
                    $crate::sealing::RowKey::Id(u) => q.bind(*u),
                    $crate::sealing::RowKey::Name(n) => q.bind(n.clone()),
                };
                let done = q
                    .bind(&old)
                    .execute($writer)
                    .await
                    .map_err($crate::db)?
                    .rows_affected()
                    == 1;
                $crate::sealing::tally(&mut report, Some(&state), done);
            }
        }
        Ok(report)
    }};
}
pub(crate) use reseal_all;

/// How many stored secrets each key id seals, on either engine.
macro_rules! key_usage {
    ($reader:expr) => {{
        use sqlx::Row;
        let mut usage = std::collections::BTreeMap::new();
        for col in $crate::sealing::SECRET_COLUMNS {
            let rows = sqlx::query(&col.select(false))
                .fetch_all($reader)
                .await
                .map_err($crate::db)?;
            for row in &rows {
                let s: String = row.try_get(1).map_err($crate::db)?;
                $crate::sealing::count_key(&mut usage, &s);
            }
        }
        Ok(usage.into_iter().collect())
    }};
}
pub(crate) use key_usage;

/// One entry's new links after re-sealing a chain with the key.
#[derive(Debug)]
pub(crate) struct Relink {
    pub id: uuid::Uuid,
    pub prev_hash: String,
    pub hash: String,
}

/// Re-hashes one workspace's chain, written before the chain key existed
/// (plain SHA-256), under the key. Only an intact chain is re-sealed: a
/// chain already broken stays as it is, so its break stays visible (the
/// keyed check then reports it), and the faults are logged.
pub(crate) fn reseal_chain(
    key: &ChainKey,
    ws: uuid::Uuid,
    entries: &[AuditEntry],
    head_seq: i64,
    head_hash: &str,
) -> Option<(Vec<Relink>, String)> {
    let mut v = ChainVerifier::new(ChainCheck::Legacy);
    for e in entries {
        v.push(e);
    }
    let faults = v.finish(head_seq, head_hash);
    if !faults.is_empty() {
        tracing::error!(
            workspace_id = %ws,
            faults = ?faults,
            "this workspace's audit chain was already broken before it was keyed; left as it is"
        );
        return None;
    }
    let mut prev = GENESIS_HASH.to_string();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let hash = entry_hash(key, &prev, e.seq, e.id, &e.record(), &e.details_text);
        out.push(Relink {
            id: e.id.0,
            prev_hash: prev.clone(),
            hash: hash.clone(),
        });
        prev = hash;
    }
    Some((out, prev))
}
