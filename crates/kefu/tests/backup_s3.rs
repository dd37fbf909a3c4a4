//! Off-site copies over the real S3 protocol, against moto's S3 server (a
//! PyPI package the test suite installs into target/backup-tools; point
//! `KEFU_TEST_MOTO_SERVER` at another `moto_server` binary to use that).
//! Archives large enough for a multipart upload go up, are listed, verified,
//! restore-tested, restored into PostgreSQL and pruned; an unreachable store
//! fails with a clear error and counts in `kefu_backup_failures_total`.

mod support;

use kefu_store::testing::TestDb;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

const BUCKET: &str = "kefu-backups";

struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("KEFU_TEST_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/backup-tools/bin/moto_server");
    assert!(
        p.exists(),
        "moto_server is not installed: run scripts/backup-tools (scripts/test does), or set KEFU_TEST_MOTO_SERVER"
    );
    p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start_moto() -> Moto {
    let port = free_port();
    let child = Command::new(moto_binary())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    let moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = c.put(format!("{}/{BUCKET}", moto.endpoint)).send().await {
            assert!(
                r.status().is_success(),
                "creating the bucket: {}",
                r.status()
            );
            return moto;
        }
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn s3_env(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("KEFU_BACKUP__S3__ENDPOINT", endpoint.to_string()),
        ("KEFU_BACKUP__S3__ALLOW_HTTP", "true".into()),
        ("KEFU_BACKUP__S3__REGION", "us-east-1".into()),
        ("KEFU_BACKUP__S3__ACCESS_KEY_ID", "kefu-test".into()),
        (
            "KEFU_BACKUP__S3__SECRET_ACCESS_KEY",
            "kefu-test-secret".into(),
        ),
        (
            "KEFU_BACKUP__S3__PART_SIZE_BYTES",
            (5 * 1024 * 1024).to_string(),
        ),
        ("KEFU_BACKUP__S3__MAX_RETRIES", "2".into()),
        ("KEFU_BACKUP__S3__RETRY_TIMEOUT_SECS", "5".into()),
    ]
}

fn with_env(mut c: Command, env: &[(&'static str, String)]) -> Command {
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

#[tokio::test]
async fn postgres_restore_from_an_s3_archive_uploaded_in_parts() {
    let moto = start_moto().await;
    let env = s3_env(&moto.endpoint);
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    create_owner(&src, None, "owner@example.com");
    // ~12 MB of hex in a row: an archive of ~6 MB, over one 5 MiB part.
    {
        use sqlx::Connection;
        let url = format!("sqlite://{}/kefu.db", src.display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let noise: String = (0..380_000)
            .map(|_| uuid::Uuid::new_v4().simple().to_string())
            .collect();
        sqlx::query("UPDATE users SET name = ?")
            .bind(noise)
            .execute(&mut c)
            .await
            .unwrap();
    }
    let key = tmp.path().join("k");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let url = format!("s3://{BUCKET}/nightly/kefu-20261207T010000Z.kefubak");
    let made: serde_json::Value = serde_json::from_str(&ok(with_env(kefu(&src, None), &env)
        .args(["backup", "create", "--out", &url, "--key-file"])
        .arg(&key)))
    .unwrap();
    assert!(made["bytes"].as_u64().unwrap() > 5 * 1024 * 1024, "{made}");
    // A multipart upload's ETag ends in -<parts>.
    let head = reqwest::Client::new()
        .head(format!(
            "{}/{BUCKET}/nightly/kefu-20261207T010000Z.kefubak",
            moto.endpoint
        ))
        .send()
        .await
        .unwrap();
    let etag = head.headers()["etag"].to_str().unwrap().to_string();
    assert!(
        etag.trim_matches('"').ends_with("-2"),
        "not a two-part upload: {etag}"
    );
    assert_eq!(
        head.headers()["content-length"].to_str().unwrap(),
        made["bytes"].to_string()
    );

    let listed = ok(with_env(kefu(&src, None), &env).args([
        "backup",
        "list",
        &format!("s3://{BUCKET}/nightly"),
        "--json",
    ]));
    assert!(
        listed.contains("kefu-20261207T010000Z.kefubak")
            && listed.contains("\"engine\":\"sqlite\""),
        "{listed}"
    );
    ok(with_env(kefu(&src, None), &env)
        .args(["backup", "verify", &url, "--restore-test", "--key-file"])
        .arg(&key));

    let target = TestDb::postgres().await;
    let restored: serde_json::Value =
        serde_json::from_str(&ok(with_env(kefu(&tmp.path().join("t"), None), &env)
            .args([
                "backup",
                "restore",
                &url,
                "--into",
                &target.url,
                "--key-file",
            ])
            .arg(&key)))
        .unwrap();
    assert_eq!(restored["rows"], made["rows"]);

    // Scheduled-style runs into S3, then retention there: of three archives
    // in one hour, the newest stays.
    let dest_env = [
        ("KEFU_BACKUP__DESTINATION", format!("s3://{BUCKET}/runs")),
        ("KEFU_BACKUP__KEY_FILE", key.display().to_string()),
    ];
    for _ in 0..3 {
        let mut c = with_env(kefu(&src, None), &env);
        for (k, v) in &dest_env {
            c.env(k, v);
        }
        ok(c.args(["backup", "run"]));
        std::thread::sleep(Duration::from_millis(1100));
    }
    let listed = ok(with_env(kefu(&src, None), &env).args([
        "backup",
        "list",
        &format!("s3://{BUCKET}/runs"),
        "--json",
    ]));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    target.cleanup().await;
}

#[tokio::test]
async fn unreachable_storage_fails_clearly_and_counts() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let env = s3_env(&dead);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    create_owner(&dir, None, "owner@example.com");
    let e = fails(with_env(kefu(&dir, None), &env).args([
        "backup",
        "create",
        "--out",
        &format!("s3://{BUCKET}/x.kefubak"),
    ]));
    assert!(e.contains("storage") && e.contains("x.kefubak"), "{e}");
    // Nothing staged is left behind.
    let staged: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".kefu-staged-"))
        .filter(|e| {
            e.metadata()
                .map(|m| m.modified().unwrap().elapsed().unwrap() < Duration::from_secs(60))
                .unwrap_or(false)
        })
        .collect();
    assert!(staged.is_empty(), "{staged:?}");

    // A server whose scheduled backups cannot reach the store counts them.
    let mut senv: Vec<(&str, String)> = env.clone();
    senv.push(("KEFU_BACKUP__SCHEDULE", "* * * * * *".into()));
    senv.push(("KEFU_BACKUP__DESTINATION", format!("s3://{BUCKET}/runs")));
    let senv: Vec<(&str, &str)> = senv.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = serve(&dir, None, &senv);
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let scrape = c
            .get(format!("{}/metrics", server.base()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let storage_failures = scrape
            .lines()
            .find_map(|l| l.strip_prefix("kefu_backup_failures_total{stage=\"storage\"} "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .expect("the storage failure counter exists from the start");
        if storage_failures >= 1.0 {
            assert!(
                scrape.contains("kefu_backup_last_success_timestamp_seconds 0"),
                "no success recorded"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no storage failure counted:\n{scrape}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let log = server.log.lock().unwrap().join("\n");
    assert!(log.contains("scheduled backup failed"), "{log}");
}
