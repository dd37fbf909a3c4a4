//! Test support (feature `testing`): a fresh, empty database per test, on
//! SQLite always and on PostgreSQL when `KEFU_TEST_DATABASE_URL` is set, so
//! tests never share state and run in parallel.

use std::time::Duration;

/// Where a test's database lives; dropped (PostgreSQL) or deleted (SQLite)
/// by [`TestDb::cleanup`].
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    postgres_admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// The env var that points the suites at a PostgreSQL server.
pub const POSTGRES_ENV: &str = "KEFU_TEST_DATABASE_URL";

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("create a temp dir for the test database");
        let url = format!("sqlite://{}/kefu.db", dir.path().display());
        Self {
            url,
            postgres_admin: None,
            _dir: Some(dir),
        }
    }

    /// Creates a uniquely named database on the server `KEFU_TEST_DATABASE_URL`
    /// names. Fails loudly when the variable is unset: a PostgreSQL test that
    /// quietly passes without PostgreSQL would prove nothing. (To run only
    /// the SQLite half locally: `cargo test -- --skip postgres`.)
    pub async fn postgres() -> Self {
        let admin_url = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
            panic!(
                "{POSTGRES_ENV} is not set. PostgreSQL tests need a server, e.g. \
                 {POSTGRES_ENV}=postgres://postgres@127.0.0.1:5432/test \
                 (or skip them with `cargo test -- --skip postgres`)"
            )
        });
        let name = format!("kefu_t_{}", uuid::Uuid::now_v7().simple());
        let mut admin = connect_admin(&admin_url).await;
        sqlx::Executor::execute(&mut admin, format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = replace_db_name(&admin_url, &name);
        Self {
            url,
            postgres_admin: Some((admin_url, name)),
            _dir: None,
        }
    }

    pub async fn cleanup(self) {
        if let Some((admin_url, name)) = &self.postgres_admin {
            let mut admin = connect_admin(admin_url).await;
            let _ = sqlx::Executor::execute(
                &mut admin,
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
            )
            .await;
        }
    }
}

async fn connect_admin(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let fut = sqlx::PgConnection::connect(url);
    match tokio::time::timeout(Duration::from_secs(10), fut).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => panic!("{POSTGRES_ENV}={url} does not answer: {e}"),
        Err(_) => panic!("{POSTGRES_ENV}={url} did not answer within 10 s"),
    }
}

/// `postgres://u@h:5432/test?x=y` with `name` → `postgres://u@h:5432/name?x=y`.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let mut out = match path_start {
        Some(i) => format!("{}/{}", &base[..i], name),
        None => format!("{base}/{name}"),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// One key-encryption keyring for the whole test process, so a test that
/// opens the same database twice opens its sealed secrets both times.
pub fn keyring() -> std::sync::Arc<kefu_domain::secrets::Keyring> {
    static RING: std::sync::OnceLock<std::sync::Arc<kefu_domain::secrets::Keyring>> =
        std::sync::OnceLock::new();
    RING.get_or_init(|| std::sync::Arc::new(kefu_domain::secrets::Keyring::ephemeral()))
        .clone()
}

/// Connection options for a test database, with the process's keyring.
pub fn options(url: impl Into<String>) -> crate::ConnectOptions {
    crate::ConnectOptions::new(url, keyring())
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_name() {
        assert_eq!(
            super::replace_db_name("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://h?sslmode=disable", "x"),
            "postgres://h/x?sslmode=disable"
        );
    }
}
