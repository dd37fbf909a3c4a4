//! argon2id password hashing on a small pool of dedicated threads.
//!
//! Hashing is deliberately slow (tens of ms) and memory-hard (tens of MiB), so
//! it never runs on the async workers. Each hashing thread owns one argon2
//! memory buffer and reuses it for every hash: memory stays at
//! `threads × argon2_memory_kib` however many logins arrive — a burst queues
//! instead of multiplying allocations (with per-call allocation glibc kept
//! hundreds of MiB of freed argon2 blocks in its per-thread arenas).

use crate::error::{ServiceError, ServiceResult};
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, OnceCell};

#[derive(Debug, Clone, Copy)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

#[derive(Debug)]
pub struct Passwords {
    params: HashParams,
    jobs: Mutex<mpsc::Sender<Job>>,
    decoy: OnceCell<String>,
}

impl Passwords {
    /// `threads` 0 means one per CPU.
    pub fn new(params: HashParams, threads: usize) -> Self {
        let n = if threads == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            threads
        };
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("kefu-hash-{i}"))
                .spawn(move || {
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        // The lock is held only while waiting for the next
                        // job, never while hashing.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&mut memory),
                            Err(_) => return, // `Passwords` dropped
                        }
                    }
                })
                .expect("spawn a hashing thread");
        }
        Self {
            params,
            jobs: Mutex::new(tx),
            decoy: OnceCell::new(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> ServiceResult<T> + Send + 'static,
    ) -> ServiceResult<T> {
        let (tx, rx) = oneshot::channel();
        let boxed: Job = Box::new(move |memory| {
            let _ = tx.send(job(memory));
        });
        self.jobs
            .lock()
            .map_err(|_| ServiceError::Internal("hashing pool poisoned".into()))?
            .send(boxed)
            .map_err(|_| ServiceError::Internal("hashing pool stopped".into()))?;
        rx.await
            .map_err(|_| ServiceError::Internal("hashing job lost".into()))?
    }

    pub async fn hash(&self, password: &str) -> ServiceResult<String> {
        let password = password.to_string();
        let p = self.params;
        self.run(move |memory| {
            let params = Params::new(p.memory_kib, p.iterations, 1, None).map_err(internal)?;
            let salt = SaltString::generate(&mut OsRng);
            let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(internal)?;
            let out = compute(&argon, &params, password.as_bytes(), salt_bytes, memory)?;
            let phc = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).map_err(internal)?,
                salt: Some(salt.as_salt()),
                hash: Some(out),
            };
            Ok(phc.to_string())
        })
        .await
    }

    /// Checks a password against a stored PHC string. The parameters embedded
    /// in the hash are used, so hashes made with older settings still verify.
    pub async fn verify(&self, password: &str, phc: &str) -> ServiceResult<bool> {
        let password = password.to_string();
        let phc = phc.to_string();
        self.run(move |memory| {
            let parsed = PasswordHash::new(&phc).map_err(internal)?;
            let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
                return Err(ServiceError::Internal(
                    "stored hash has no salt or output".into(),
                ));
            };
            let algorithm = Algorithm::try_from(parsed.algorithm).map_err(internal)?;
            let version = parsed
                .version
                .map(Version::try_from)
                .transpose()
                .map_err(internal)?
                .unwrap_or_default();
            let params = Params::try_from(&parsed).map_err(internal)?;
            let argon = Argon2::new(algorithm, version, params.clone());
            let mut salt_bytes = [0u8; 64];
            let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(internal)?;
            let out = compute(&argon, &params, password.as_bytes(), salt_bytes, memory)?;
            // `Output`'s equality is constant-time.
            Ok(out == expected)
        })
        .await
    }

    /// Does the work of a failed verification when there is no account, so
    /// that a login for an unknown e-mail takes as long as a wrong password
    /// (no account enumeration by timing). The decoy hash is made once.
    pub async fn verify_decoy(&self, password: &str) -> ServiceResult<()> {
        let decoy = self
            .decoy
            .get_or_try_init(|| async {
                let random = super::tokens::random_secret("decoy");
                self.hash(&random).await
            })
            .await?;
        self.verify(password, decoy).await.map(|_| ())
    }
}

/// One argon2 computation into the thread's reusable memory.
fn compute(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    memory: &mut Vec<Block>,
) -> ServiceResult<Output> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    Output::init_with(len, |out| {
        argon
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(internal)
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("password hashing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    const FAST: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
    };

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let p = Passwords::new(FAST, 1);
        let a = p.hash("correct horse").await.unwrap();
        let b = p.hash("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(p.verify("correct horse", &a).await.unwrap());
        assert!(!p.verify("wrong horse", &a).await.unwrap());
        p.verify_decoy("anything").await.unwrap();
        assert!(p.decoy.get().is_some());
        assert!(p.verify("x", "not a phc string").await.is_err());
    }

    /// Interoperates with the argon2 crate's own hasher both ways, including
    /// hashes made with other parameters (settings change over the years).
    #[tokio::test]
    async fn compatible_with_the_reference_implementation() {
        let p = Passwords::new(FAST, 1);
        let ours = p.hash("密码 with ünïcode").await.unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password("密码 with ünïcode".as_bytes(), &parsed)
            .is_ok());
        let params = Params::new(2048, 2, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"legacy", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(p.verify("legacy", &theirs).await.unwrap());
        assert!(!p.verify("legacy!", &theirs).await.unwrap());
    }

    #[tokio::test]
    async fn work_runs_on_exactly_the_configured_threads() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let p = Arc::new(Passwords::new(FAST, 2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (p, running, peak) = (p.clone(), running.clone(), peak.clone());
            set.spawn(async move {
                p.run(move |_| {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, SeqCst);
                    Ok(std::thread::current()
                        .name()
                        .unwrap_or_default()
                        .to_string())
                })
                .await
                .unwrap()
            });
        }
        let mut names = std::collections::BTreeSet::new();
        while let Some(name) = set.join_next().await {
            names.insert(name.unwrap());
        }
        assert_eq!(peak.load(SeqCst), 2, "exactly two jobs ran at once");
        assert!(
            names.iter().all(|n| n.starts_with("kefu-hash-")),
            "{names:?}"
        );
    }
}
