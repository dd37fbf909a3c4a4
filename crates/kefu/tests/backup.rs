//! `kefu backup` as operators run it: real processes on real databases.
//! Archives are made while a server keeps serving, restored into SQLite and
//! PostgreSQL, and the restored server is compared with the original
//! through the API; damaged archives, wrong keys, newer schemas, full disks
//! and non-empty targets are refused without touching the target.

mod support;

use kefu_store::testing::TestDb;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use support::*;

const OWNER: &str = "owner@example.com";

/// Fills a workspace through the API: an inbox, three visitors with three
/// messages each and an agent reply, two articles (one edited).
async fn seed(c: &reqwest::Client, base: &str, token: &str, ws: &str) {
    let api = format!("{base}/api/v1/workspaces/{ws}");
    let inbox = json_of(
        c.post(format!("{api}/inboxes"))
            .bearer_auth(token)
            .json(&json!({"name": "官网", "channel": "web", "bot_enabled": false})),
    )
    .await;
    let key = inbox["widget_key"].as_str().unwrap();
    for v in 0..3 {
        let s = json_of(
            c.post(format!("{base}/api/v1/widget/sessions"))
                .json(&json!({"widget_key": key, "locale": "zh-CN"})),
        )
        .await;
        let vt = s["visitor_token"].as_str().unwrap();
        let mut conversation = String::new();
        for m in 0..3 {
            let msg = json_of(
                c.post(format!("{base}/api/v1/widget/messages"))
                    .bearer_auth(vt)
                    .json(&json!({"client_msg_id": format!("v{v}m{m}"), "body": format!("第{m}条：退货怎么办？(visitor {v})")})),
            )
            .await;
            conversation = msg["conversation_id"].as_str().unwrap().to_string();
        }
        json_of(
            c.post(format!("{api}/conversations/{conversation}/messages"))
                .bearer_auth(token)
                .json(&json!({"body": format!("您好，这是回复 {v}"), "client_msg_id": format!("a{v}")})),
        )
        .await;
    }
    let a = json_of(c.post(format!("{api}/kb/articles")).bearer_auth(token).json(&json!({
        "title": "退货政策", "body": "七天无理由退货。", "questions": ["怎么退货"], "status": "published", "locale": "zh-CN"
    })))
    .await;
    json_of(
        c.put(format!("{api}/kb/articles/{}", a["id"].as_str().unwrap()))
            .bearer_auth(token)
            .json(&json!({"title": "退货政策", "body": "七天无理由退货，运费由买家承担。", "status": "published", "locale": "zh-CN"})),
    )
    .await;
    json_of(c.post(format!("{api}/kb/articles")).bearer_auth(token).json(&json!({
        "title": "Shipping", "body": "We ship worldwide within 3 days.", "status": "published", "locale": "en"
    })))
    .await;
    json_of(
        c.put(format!("{api}/kb/synonyms"))
            .bearer_auth(token)
            .json(&json!({"groups": [["退货", "退款"], ["发票", "开票"]]})),
    )
    .await;
    // Single sign-on settings (disabled: no provider to discover here).
    json_of(c.put(format!("{api}/sso/oidc")).bearer_auth(token).json(&json!({
        "issuer": "https://login.example.com", "client_id": "kefu", "client_secret": "s3cret",
        "enabled": false, "jit_domains": ["example.com"], "jit_role": "supervisor"
    })))
    .await;
}

/// What the API shows of a workspace: conversations with their messages,
/// articles with their versions, members.
async fn view(c: &reqwest::Client, base: &str, token: &str, ws: &str) -> Value {
    let api = format!("{base}/api/v1/workspaces/{ws}");
    let convs = json_of(
        c.get(format!("{api}/conversations?limit=100"))
            .bearer_auth(token),
    )
    .await;
    let mut out = Vec::new();
    for conv in convs["items"].as_array().unwrap() {
        let id = conv["id"].as_str().unwrap();
        let msgs = json_of(
            c.get(format!("{api}/conversations/{id}/messages?limit=100"))
                .bearer_auth(token),
        )
        .await;
        let msgs: Vec<Value> = msgs["items"]
            .as_array()
            .unwrap_or_else(|| msgs.as_array().unwrap())
            .iter()
            .map(|m| json!([m["seq"], m["sender"]["type"], m["body"], m["created_at"]]))
            .collect();
        out.push(json!({"id": id, "status": conv["status"], "messages": msgs}));
    }
    out.sort_by_key(|v| v["id"].as_str().unwrap().to_string());
    let arts = json_of(c.get(format!("{api}/kb/articles")).bearer_auth(token)).await;
    let mut articles = Vec::new();
    for a in arts["items"].as_array().unwrap() {
        let id = a["id"].as_str().unwrap();
        let versions = json_of(
            c.get(format!("{api}/kb/articles/{id}/versions"))
                .bearer_auth(token),
        )
        .await;
        articles.push(json!([id, a["title"], a["body"], a["version"], versions]));
    }
    articles.sort_by_key(|v| v[0].as_str().unwrap().to_string());
    let members = json_of(c.get(format!("{api}/members")).bearer_auth(token)).await;
    let sso = json_of(c.get(format!("{api}/sso/oidc")).bearer_auth(token)).await;
    // Not the redirect URI and sign-in link: they name the server's address.
    let sso: Vec<&Value> = [
        "issuer",
        "client_id",
        "client_secret_set",
        "scopes",
        "enabled",
        "jit_domains",
        "jit_role",
        "created_at",
    ]
    .iter()
    .map(|k| &sso[*k])
    .collect();
    // The synonym list, and that search uses it (loaded at start): 退款
    // finds the article that says 退货.
    let synonyms = json_of(c.get(format!("{api}/kb/synonyms")).bearer_auth(token)).await;
    let refund = json_of(
        c.get(format!("{api}/kb/search"))
            .query(&[("q", "退款")])
            .bearer_auth(token),
    )
    .await;
    let refund: Vec<&Value> = refund["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| &h["title"])
        .collect();
    json!({"conversations": out, "articles": articles, "members": members, "sso": sso,
           "synonyms": synonyms, "refund_search": refund})
}

fn key_file(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    let bytes: Vec<String> = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    std::fs::write(&p, format!("{}\n", bytes.concat())).unwrap();
    p
}

fn sha256_of(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

fn json_line(s: &str) -> Value {
    serde_json::from_str(s.trim()).unwrap_or_else(|e| panic!("not one JSON line ({e}): {s}"))
}

/// Source → backup while serving → restore into each target → the restored
/// server shows exactly what the original showed, and sign-ins survive.
async fn round_trip(source: TestDb, targets: Vec<TestDb>) {
    let tmp = tempfile::tempdir().unwrap();
    let src_dir = tmp.path().join("src");
    let ws = create_owner(&src_dir, Some(&source.url), OWNER);
    let server = serve(&src_dir, Some(&source.url), &[]);
    let c = reqwest::Client::new();
    let token = login(&c, &server.base(), OWNER).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    seed(&c, &server.base(), &token, &ws).await;
    let before = view(&c, &server.base(), &token, &ws).await;
    assert_eq!(before["conversations"].as_array().unwrap().len(), 3);
    assert_eq!(before["refund_search"], json!(["退货政策"]), "{before}");

    // Online: the server keeps running while the archives are made.
    let key = key_file(tmp.path(), "backup.key");
    let sealed = tmp.path().join("out/sealed.kefubak");
    let made = json_line(&ok(kefu(&src_dir, Some(&source.url)).args([
        "backup",
        "create",
        "--out",
        sealed.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
        "--include-secrets",
    ])));
    assert_eq!(made["rows"]["messages"], 12, "{made}");
    assert_eq!(made["rows"]["conversations"], 3);
    assert_eq!(made["rows"]["kb_article_versions"], 3);
    assert_eq!(made["bytes"], std::fs::metadata(&sealed).unwrap().len());
    assert_eq!(made["sha256"], sha256_of(&sealed));
    let plain = tmp.path().join("out/plain.kefubak");
    ok(kefu(&src_dir, Some(&source.url)).args([
        "backup",
        "create",
        "--out",
        plain.to_str().unwrap(),
    ]));
    // The server still serves what it served.
    assert_eq!(view(&c, &server.base(), &token, &ws).await, before);
    drop(server);

    for (i, target) in targets.into_iter().enumerate() {
        let dir = tmp.path().join(format!("target{i}"));
        // The first target gets the sealed archive with the signing key:
        // sign-ins made before the backup keep working.
        let sealed_restore = i == 0;
        let mut cmd = kefu(&dir, None);
        cmd.args(["backup", "restore", "--into", &target.url]);
        if sealed_restore {
            cmd.arg(&sealed).arg("--key-file").arg(&key);
        } else {
            cmd.arg(&plain);
        }
        let restored = json_line(&ok(&mut cmd));
        assert_eq!(restored["rows"], made["rows"], "{restored}");
        assert_eq!(restored["audit_chains"], 1);
        // The archive's secrets are sealed under the source's key-encryption
        // key: carried by the sealed archive; for the plain one, the
        // operator brings it (and a server without it refuses to start).
        let kek = src_dir.join("secrets.key");
        let kek_env = [("KEFU_SECRETS__KEY_FILE", kek.to_str().unwrap())];
        let env: &[(&str, &str)] = if sealed_restore {
            assert_eq!(restored["secrets_key"], "restored", "{restored}");
            assert_eq!(restored["audit_check"], "keyed", "{restored}");
            &[]
        } else {
            assert_eq!(restored["secrets_key"], "missing", "{restored}");
            assert_eq!(restored["audit_check"], "links-only", "{restored}");
            let refused = kefu(&dir, Some(&target.url))
                .args(["serve", "--listen", "127.0.0.1:0"])
                .output()
                .unwrap();
            assert!(!refused.status.success());
            assert!(
                text(&refused.stderr).contains("not configured"),
                "{}",
                text(&refused.stderr)
            );
            &kek_env
        };
        let restarted = serve(&dir, Some(&target.url), env);
        if sealed_restore {
            assert_eq!(restored["signing_key"], "restored");
            let me = c
                .get(format!("{}/api/v1/me", restarted.base()))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(me.status(), 200, "an access token from before the backup");
        } else {
            assert_eq!(restored["signing_key"], "differs");
        }
        let fresh = login(&c, &restarted.base(), OWNER).await;
        let t = fresh["access_token"].as_str().unwrap();
        assert_eq!(
            view(&c, &restarted.base(), t, &ws).await,
            before,
            "target {i}"
        );
        // The restored audit chain verifies with the ordinary command.
        ok(kefu(&dir, Some(&target.url))
            .envs(env.iter().copied())
            .args(["audit", "verify"]));
        drop(restarted);
        target.cleanup().await;
    }
    source.cleanup().await;
}

#[tokio::test]
async fn sqlite_backup_restores_into_sqlite_and_postgres() {
    round_trip(
        TestDb::sqlite(),
        vec![TestDb::sqlite(), TestDb::postgres().await],
    )
    .await;
}

#[tokio::test]
async fn postgres_backup_restores_into_postgres_and_sqlite() {
    round_trip(
        TestDb::postgres().await,
        vec![TestDb::postgres().await, TestDb::sqlite()],
    )
    .await;
}

/// The e-mails of a database's users (to see that a target was not touched).
async fn emails(url: &str) -> Vec<String> {
    use sqlx::Connection;
    let q = "SELECT email FROM users ORDER BY email";
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
    }
}

/// Every bad input is refused with its name, and the target keeps its data.
async fn bad_input(target: TestDb) {
    let tmp = tempfile::tempdir().unwrap();
    let src = TestDb::sqlite();
    let src_dir = tmp.path().join("src");
    create_owner(&src_dir, Some(&src.url), OWNER);
    let key = key_file(tmp.path(), "k1");
    let other_key = key_file(tmp.path(), "k2");
    let archive = tmp.path().join("a.kefubak");
    ok(kefu(&src_dir, Some(&src.url))
        .args(["backup", "create", "--out"])
        .arg(&archive)
        .arg("--key-file")
        .arg(&key));
    ok(kefu(&src_dir, None)
        .args(["backup", "verify"])
        .arg(&archive)
        .arg("--key-file")
        .arg(&key));

    // A target with data of its own.
    let tdir = tmp.path().join("target");
    create_owner(&tdir, Some(&target.url), "keep@example.com");
    let restore = |path: &Path, extra: &[&str]| {
        let mut c = kefu(&tdir, None);
        c.args(["backup", "restore"])
            .arg(path)
            .args(["--into", &target.url]);
        c.arg("--key-file").arg(&key).args(extra);
        c
    };
    let e = fails(&mut restore(&archive, &[]));
    assert!(e.contains("not empty") && e.contains("--force"), "{e}");

    let bytes = std::fs::read(&archive).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() - 40].to_vec(), "truncated"),
        ("cut at the header", bytes[..20].to_vec(), "truncated"),
        (
            "flipped",
            {
                let mut b = bytes.clone();
                let mid = b.len() / 2;
                b[mid] ^= 0x20;
                b
            },
            "corrupt",
        ),
        (
            "not an archive",
            b"PK\x03\x04 this is a zip".to_vec(),
            "not a Kefu backup",
        ),
    ];
    for (what, content, expect) in cases {
        let p = tmp.path().join(format!("{what}.kefubak"));
        std::fs::write(&p, content).unwrap();
        let e = fails(
            kefu(&tdir, None)
                .args(["backup", "verify"])
                .arg(&p)
                .arg("--key-file")
                .arg(&key),
        );
        assert!(e.contains(expect), "{what}: {e}");
        let e = fails(&mut restore(&p, &["--force"]));
        assert!(
            e.contains(expect) && e.contains("left as it was"),
            "{what}: {e}"
        );
    }
    let e = fails(
        kefu(&tdir, None)
            .args(["backup", "verify"])
            .arg(&archive)
            .arg("--key-file")
            .arg(&other_key),
    );
    assert!(e.contains("no key given matches"), "{e}");
    let e = fails(kefu(&tdir, None).args(["backup", "verify"]).arg(&archive));
    assert!(e.contains("--key-file"), "{e}");

    // An archive from a newer Kefu.
    let newer = tmp.path().join("newer.kefubak");
    {
        let header = kefu_backup::format::Header {
            format: kefu_backup::format::FORMAT,
            schema_version: kefu_store::snapshot::SCHEMA_VERSION + 1,
            kefu_version: "9.9.9".into(),
            engine: "sqlite".into(),
            created_at: chrono::Utc::now(),
            compression: "zstd".into(),
            encryption: None,
        };
        let f = std::fs::File::create(&newer).unwrap();
        let w = kefu_backup::ArchiveWriter::new(f, header, None, 3, None).unwrap();
        w.finish().unwrap();
    }
    let e = fails(kefu(&tdir, None).args(["backup", "verify"]).arg(&newer));
    assert!(
        e.contains("newer Kefu") && e.contains("schema version"),
        "{e}"
    );
    let e = fails(&mut restore(&newer, &["--force"]));
    assert!(e.contains("newer Kefu"), "{e}");

    assert_eq!(
        emails(&target.url).await,
        vec!["keep@example.com".to_string()]
    );
    // With --force, a whole archive replaces the target's contents.
    ok(&mut restore(&archive, &["--force"]));
    assert_eq!(emails(&target.url).await, vec![OWNER.to_string()]);
    target.cleanup().await;
    src.cleanup().await;
}

#[tokio::test]
async fn bad_archives_are_refused_and_leave_a_sqlite_target_alone() {
    bad_input(TestDb::sqlite()).await;
}

#[tokio::test]
async fn bad_archives_are_refused_and_leave_a_postgres_target_alone() {
    bad_input(TestDb::postgres().await).await;
}

/// A failure in the middle of loading (PostgreSQL cannot store a NUL that
/// SQLite kept) rolls the whole restore back.
#[tokio::test]
async fn a_restore_failing_halfway_rolls_back_on_postgres() {
    let tmp = tempfile::tempdir().unwrap();
    let src = TestDb::sqlite();
    let src_dir = tmp.path().join("src");
    create_owner(&src_dir, Some(&src.url), OWNER);
    {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&src.url).await.unwrap();
        sqlx::query("UPDATE users SET name = 'a' || char(0) || 'b'")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let archive = tmp.path().join("nul.kefubak");
    ok(kefu(&src_dir, Some(&src.url))
        .args(["backup", "create", "--out"])
        .arg(&archive));
    let target = TestDb::postgres().await;
    let tdir = tmp.path().join("target");
    create_owner(&tdir, Some(&target.url), "keep@example.com");
    let e = fails(
        kefu(&tdir, None)
            .args(["backup", "restore"])
            .arg(&archive)
            .args(["--into", &target.url, "--force"]),
    );
    assert!(e.contains("users.name") && e.contains("NUL"), "{e}");
    assert_eq!(
        emails(&target.url).await,
        vec!["keep@example.com".to_string()]
    );
    target.cleanup().await;
    src.cleanup().await;
}

/// On a terminal, create and restore draw progress on stderr; otherwise
/// they print only their JSON line (the other tests parse stdout whole).
#[test]
fn progress_shows_on_a_terminal_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    create_owner(&dir, None, OWNER);
    let archive = tmp.path().join("a.kefubak");
    let plain = kefu(&dir, None)
        .args(["backup", "create", "--out"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        !text(&plain.stderr).contains("rows/s"),
        "{}",
        text(&plain.stderr)
    );
    std::fs::remove_file(&archive).unwrap();
    // `script` runs the command on a pseudo-terminal.
    let cmd = format!(
        "{BIN} --data-dir {} backup create --out {}",
        dir.display(),
        archive.display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env_remove("KEFU_DATABASE_URL")
        .output()
        .unwrap();
    let shown = text(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("backup: ") && shown.contains("rows/s"),
        "{shown}"
    );
    assert!(shown.contains("\"sha256\""), "{shown}");
}

/// A disk that fills up mid-archive (a file-size limit here) leaves no file
/// under the archive's name and no temporary file behind.
#[test]
fn a_full_disk_leaves_no_archive_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    create_owner(&dir, None, OWNER);
    {
        // Incompressible content, so the archive outgrows the limit.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            use sqlx::Connection;
            let url = format!("sqlite://{}/kefu.db", dir.display());
            let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
            let noise: String = (0..4000)
                .map(|_| uuid::Uuid::new_v4().simple().to_string())
                .collect();
            sqlx::query("UPDATE workspaces SET name = ?")
                .bind(noise)
                .execute(&mut c)
                .await
                .unwrap();
        });
    }
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let archive = out_dir.join("full.kefubak");
    let script = format!(
        "trap '' XFSZ; ulimit -f 64; exec {} --data-dir {} backup create --out {}",
        BIN,
        dir.display(),
        archive.display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_remove("KEFU_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).to_lowercase().contains("file too large"),
        "{}",
        text(&out.stderr)
    );
    assert!(!archive.exists());
    let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// The value of an unlabelled metric in a scrape.
fn metric(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in the scrape"))
}

/// Two replicas on one PostgreSQL with a backup every second: each fire
/// time is taken by exactly one of them, retention prunes, the first run is
/// restore-tested, and both export the cluster's last success.
#[tokio::test]
async fn postgres_scheduled_backups_run_once_per_fire_time_across_replicas() {
    scheduled(TestDb::postgres().await).await;
}

/// A single node on SQLite: the same schedule, retention, restore test and
/// metrics.
#[tokio::test]
async fn sqlite_scheduled_backups_are_taken_pruned_and_restore_tested() {
    scheduled(TestDb::sqlite()).await;
}

/// A scheduled backup run as recorded: slot, holder, ok, location,
/// restore_ok.
type Run = (
    chrono::DateTime<chrono::Utc>,
    String,
    Option<bool>,
    Option<String>,
    Option<bool>,
);

async fn backup_runs(url: &str) -> Vec<Run> {
    use sqlx::Connection;
    let q = "SELECT slot, holder, ok, location, restore_ok FROM backup_runs ORDER BY slot";
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_as(q).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_as(q).fetch_all(&mut conn).await.unwrap()
    }
}

async fn scheduled(db: TestDb) {
    let cluster = db.url.starts_with("postgres");
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("archives");
    let key = key_file(tmp.path(), "backup.key");
    let signing = tmp.path().join("signing.key");
    std::fs::write(&signing, "0123456789abcdef0123456789abcdef0123456789abcdef").unwrap();
    // One key-encryption key for the owner's creation and every replica.
    std::fs::create_dir_all(tmp.path().join("a")).unwrap();
    let kek = tmp.path().join("a/secrets.key");
    std::fs::write(&kek, format!("{}\n", "5e".repeat(32))).unwrap();
    let dest_s = dest.to_str().unwrap().to_string();
    let mut env = vec![
        (
            "KEFU_AUTH__SIGNING_KEY_FILE".to_string(),
            signing.to_str().unwrap().to_string(),
        ),
        (
            "KEFU_SECRETS__KEY_FILE".to_string(),
            kek.to_str().unwrap().to_string(),
        ),
        ("KEFU_BACKUP__SCHEDULE".into(), "* * * * * *".into()),
        ("KEFU_BACKUP__DESTINATION".into(), dest_s),
        (
            "KEFU_BACKUP__KEY_FILE".into(),
            key.to_str().unwrap().to_string(),
        ),
        // The schedule is under test, not the priority: a nice-19 thread
        // beside a parallel test suite could miss the six-second window.
        ("KEFU_BACKUP__NICE".into(), "0".into()),
    ];
    if cluster {
        let redis = std::env::var("KEFU_TEST_REDIS_URL")
            .expect("KEFU_TEST_REDIS_URL (a Redis server) is needed");
        env.push(("KEFU_REDIS_URL".into(), redis));
    }
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    create_owner(&tmp.path().join("a"), Some(&db.url), OWNER);
    // Two replicas on PostgreSQL; SQLite serves one node.
    let replicas = if cluster { 2 } else { 1 };
    let servers: Vec<Server> = (0..replicas)
        .map(|i| serve(&tmp.path().join(format!("r{i}")), Some(&db.url), &env))
        .collect();
    // Runs fire every second; on a loaded machine each (a backup and a
    // restore test) can take longer, so wait for what is asserted below
    // rather than a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let runs = backup_runs(&db.url).await;
        let done = runs.len() >= 3
            && runs.iter().filter(|r| r.2 == Some(true)).count() >= 2
            && runs.iter().any(|r| r.4 == Some(true));
        if done || std::time::Instant::now() > deadline {
            break;
        }
    }
    let c = reqwest::Client::new();
    let mut scrapes = Vec::new();
    for s in &servers {
        scrapes.push(
            c.get(format!("{}/metrics", s.base()))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    let started: usize = servers
        .iter()
        .map(|s| {
            s.log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("scheduled backup started"))
                .count()
        })
        .sum();
    drop(servers);
    let runs = backup_runs(&db.url).await;
    assert!(runs.len() >= 3, "{runs:?}");
    let succeeded: Vec<_> = runs.iter().filter(|r| r.2 == Some(true)).collect();
    assert!(succeeded.len() >= 2, "{runs:?}");
    assert!(
        runs.iter().any(|r| r.4 == Some(true)),
        "one run was restore-tested: {runs:?}"
    );
    // Exactly one replica started each run: had two taken a fire time, the
    // logs would name more runs than there are rows (a run claimed just
    // before the kill may not have logged yet).
    assert!(
        started <= runs.len() && runs.len() - started <= replicas,
        "{started} started, {} rows",
        runs.len()
    );
    // Retention keeps the newest per hour/day/…: all runs are in one hour.
    let files: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files.is_empty() && files.len() < succeeded.len(),
        "{files:?} of {succeeded:?}"
    );
    for f in &files {
        assert!(
            succeeded
                .iter()
                .any(|r| r.3.as_deref().unwrap_or("").ends_with(f.as_str())),
            "{f} is not a recorded run"
        );
    }
    for scrape in &scrapes {
        let last = metric(scrape, "kefu_backup_last_success_timestamp_seconds");
        assert!(last > 1.0e9, "{last}");
        assert!(
            metric(
                scrape,
                "kefu_backup_restore_test_last_success_timestamp_seconds"
            ) > 1.0e9
        );
    }
    // The archives verify with the key.
    let newest = dest.join(files.iter().max().unwrap());
    ok(kefu(tmp.path(), None)
        .args(["backup", "verify"])
        .arg(&newest)
        .arg("--key-file")
        .arg(&key));
    db.cleanup().await;
}
