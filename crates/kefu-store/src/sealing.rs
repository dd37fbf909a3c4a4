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
