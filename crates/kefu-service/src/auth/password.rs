//! argon2id password hashing. Hashing is deliberately slow (tens of ms) and
//! memory-hard (tens of MiB), so it runs on the blocking pool — never on the
//! async workers — and at most `max_concurrent` at a time: a burst of logins
//! queues instead of multiplying memory use and thrashing the CPUs.

use crate::error::{ServiceError, ServiceResult};
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::{OnceCell, Semaphore};

#[derive(Debug, Clone, Copy)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
}

#[derive(Debug)]
pub struct Passwords {
    params: HashParams,
    permits: Arc<Semaphore>,
    decoy: OnceCell<String>,
}

impl Passwords {
    /// `max_concurrent` 0 means one per CPU.
    pub fn new(params: HashParams, max_concurrent: usize) -> Self {
        let n = if max_concurrent == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            max_concurrent
        };
        Self {
            params,
            permits: Arc::new(Semaphore::new(n)),
            decoy: OnceCell::new(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> ServiceResult<T> + Send + 'static,
    ) -> ServiceResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ServiceError::Internal("password hashing closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let out = job();
            drop(permit);
            out
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("hashing task: {e}")))?
    }

    pub async fn hash(&self, password: &str) -> ServiceResult<String> {
        let password = password.to_string();
        let p = self.params;
        self.run(move || {
            let params = Params::new(p.memory_kib, p.iterations, 1, None)
                .map_err(|e| ServiceError::Internal(format!("argon2 params: {e}")))?;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| ServiceError::Internal(format!("argon2 hash: {e}")))
        })
        .await
    }

    /// Checks a password against a stored PHC string. The parameters embedded
    /// in the hash are used, so hashes made with older settings still verify.
    pub async fn verify(&self, password: &str, phc: &str) -> ServiceResult<bool> {
        let password = password.to_string();
        let phc = phc.to_string();
        self.run(move || {
            let parsed = PasswordHash::new(&phc)
                .map_err(|e| ServiceError::Internal(format!("stored hash: {e}")))?;
            Ok(Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: HashParams = HashParams {
        memory_kib: 1024,
        iterations: 1,
    };

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let p = Passwords::new(FAST, 1);
        let a = p.hash("correct horse").await.unwrap();
        let b = p.hash("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_ne!(a, b, "salted");
        assert!(p.verify("correct horse", &a).await.unwrap());
        assert!(!p.verify("wrong horse", &a).await.unwrap());
        p.verify_decoy("anything").await.unwrap();
        assert!(p.decoy.get().is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrency_is_bounded() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let p = Arc::new(Passwords::new(FAST, 2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (p, running, peak) = (p.clone(), running.clone(), peak.clone());
            set.spawn(async move {
                p.run(move || {
                    let now = running.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, SeqCst);
                    Ok(())
                })
                .await
                .unwrap()
            });
        }
        while set.join_next().await.is_some() {}
        assert_eq!(peak.load(SeqCst), 2, "exactly two jobs ran at once");
    }
}
