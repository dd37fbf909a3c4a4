//! The `kefu` binary as a user runs it: real processes, real files, real
//! signals. PostgreSQL variants use `KEFU_TEST_DATABASE_URL`.

use kefu_store::testing::TestDb;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kefu");

fn kefu(data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data_dir);
    // Keep the developer's environment from leaking into the tests.
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEFU_")) {
        c.env_remove(k);
    }
    c.env("KEFU_LOG_FORMAT", "json");
    c
}

fn create_owner(
    data_dir: &Path,
    db_url: Option<&str>,
    email: &str,
    password: &str,
) -> std::process::Output {
    let mut cmd = kefu(data_dir);
    if let Some(u) = db_url {
        cmd.env("KEFU_DATABASE_URL", u);
    }
    let mut child = cmd
        .args([
            "admin",
            "create-owner",
            "--email",
            email,
            "--name",
            "Owner",
            "--workspace",
            "客服团队",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn help_describes_every_command() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "serve",
        "migrate",
        "config",
        "healthcheck",
        "admin",
        "audit",
        "--config",
        "--data-dir",
    ] {
        assert!(help.contains(cmd), "{cmd} missing from --help:\n{help}");
    }
    let out = Command::new(BIN)
        .args(["admin", "create-owner", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in ["--email", "--name", "--workspace", "stdin"] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    let out = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("--listen"));
    let out = Command::new(BIN).arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("frobnicate"));
}

/// A running `kefu serve` child; killed if the test fails half-way.
struct Server {
    child: Child,
    addr: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Sends the request; the JSON answer.
async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// Creates the owner `login` signs in as (SQLite in `data`); their
/// workspace id.
fn owner_workspace(data: &Path) -> String {
    let out = create_owner(data, None, "owner@example.com", "a-long-password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The owner's access token.
async fn login(client: &reqwest::Client, base: &str) -> String {
    let login =
        json_of(client.post(format!("{base}/api/v1/auth/login")).json(
            &serde_json::json!({"email": "owner@example.com", "password": "a-long-password"}),
        ))
        .await;
    login["access_token"]
        .as_str()
        .expect("logged in")
        .to_string()
}

fn serve(data_dir: &Path) -> Server {
    serve_with(data_dir, &[])
}

fn serve_with(data_dir: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = kefu(data_dir)
        .envs(env.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(addr) = v["addr"].as_str() {
                    let _ = tx.send(addr.to_string());
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("server announced its address");
    Server { child, addr, log }
}

fn terminate(mut s: Server) -> (std::process::ExitStatus, Vec<String>) {
    let pid = s.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            std::thread::sleep(Duration::from_millis(100));
            let log = s.log.lock().unwrap().clone();
            return (status, log);
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The README's path: empty directory → serve → create owner → log in →
/// GET /me → SIGTERM.
#[tokio::test]
async fn newcomer_path_on_an_empty_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let server = serve(&data);
    let startup = started.elapsed();
    assert!(data.join("kefu.db").is_file(), "database created");
    let key = data.join("signing.key");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let base = format!("http://{}", server.addr);
    let health = kefu(&data)
        .args(["healthcheck", "--url", &base])
        .status()
        .unwrap();
    assert!(health.success());

    let ws = owner_workspace(&data);
    assert!(uuid::Uuid::parse_str(&ws).is_ok(), "{ws}");

    let client = reqwest::Client::new();
    let token = &login(&client, &base).await;
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["workspaces"][0]["id"], ws.as_str());
    assert_eq!(me["workspaces"][0]["name"], "客服团队");
    let members = client
        .get(format!("{base}/api/v1/workspaces/{ws}/members"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(members.status(), 200);

    let (status, log) = terminate(server);
    assert!(status.success(), "clean exit on SIGTERM: {status:?}");
    let all = log.join("\n");
    assert!(all.contains("generated a new token signing key"), "{all}");
    assert!(all.contains("server stopped"));
    // The first-run hint survives the log's personal-data masking.
    let hint = log
        .iter()
        .find(|l| l.contains("create the first owner"))
        .expect("the first-run hint");
    assert!(
        hint.contains("kefu admin create-owner --email <your e-mail> --name")
            && !hint.contains("[email]"),
        "{hint}"
    );
    // Every request line carries its request id and route; no secrets.
    let login_line = log
        .iter()
        .find(|l| l.contains("\"route\":\"/api/v1/auth/login\"") && l.contains("request completed"))
        .expect("login logged");
    assert!(login_line.contains("request_id"), "{login_line}");
    // Workspace routes add the workspace id to the request's lines.
    let members_line = log
        .iter()
        .find(|l| l.contains("/members\"") && l.contains("request completed"))
        .expect("members request logged");
    assert!(
        members_line.contains(&format!("\"workspace_id\":\"{ws}\"")),
        "{members_line}"
    );
    assert!(members_line.contains("\"status\":200"), "{members_line}");
    assert!(!all.contains("a-long-password"), "password never logged");
    assert!(!all.contains(token), "tokens never logged");
    let key_text = std::fs::read_to_string(&key).unwrap();
    assert!(!all.contains(key_text.trim()), "signing key never logged");
    eprintln!("startup on an empty directory took {startup:?}");
}

/// `kefu admin create-owner` at a terminal (a pseudo-terminal made by
/// util-linux's `script`): the password is asked twice and never echoed;
/// two different answers create nothing.
#[test]
fn create_owner_at_a_terminal_asks_twice_without_echo() {
    let script = Command::new("script").arg("--version").output();
    assert!(
        script.is_ok_and(|o| o.status.success()),
        "`script` (util-linux, Debian package bsdutils) is needed for this test"
    );
    let run = |data: &Path, first: &str, second: &str| -> (bool, String) {
        let cmd = format!(
            "{BIN} --data-dir {} admin create-owner --email tty@example.com --name T --workspace W",
            data.display()
        );
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("KEFU_LOG_FORMAT", "json")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        let wait_for = |what: &str| {
            let deadline = Instant::now() + Duration::from_secs(20);
            while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(what) {
                assert!(Instant::now() < deadline, "no {what:?} prompt");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let mut stdin = child.stdin.take().unwrap();
        // Type only once the prompt is there: the terminal echoes what
        // arrives while its echo is still on.
        wait_for("Password: ");
        stdin.write_all(format!("{first}\n").as_bytes()).unwrap();
        wait_for("Repeat the password: ");
        stdin.write_all(format!("{second}\n").as_bytes()).unwrap();
        let ok = child.wait().unwrap().success();
        drop(stdin);
        reader.join().unwrap();
        let text = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
        (ok, text)
    };
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = run(
        &dir.path().join("a"),
        "typo-pass-word-1",
        "typo-pass-word-2",
    );
    assert!(!ok, "{text}");
    assert!(text.contains("the two passwords differ"), "{text}");
    assert!(!text.contains("typo-pass-word"), "echoed: {text}");
    let (ok, text) = run(&dir.path().join("a"), "tty-pass-word-9", "tty-pass-word-9");
    assert!(ok, "{text}");
    assert!(!text.contains("tty-pass-word-9"), "echoed: {text}");
    let ws = text
        .split_whitespace()
        .find(|w| uuid::Uuid::parse_str(w).is_ok());
    assert!(ws.is_some(), "the workspace id is printed: {text}");
}

/// A data directory the server may not write (a root-owned bind mount
/// under a container's unprivileged user): one error naming the directory,
/// the uid and the fix, instead of SQLite's "unable to open database file".
#[test]
fn an_unwritable_data_directory_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let root = rustix::process::geteuid().is_root();
    let out = if root {
        // Root writes anywhere: run as `nobody` on a root-owned directory.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        Command::new("runuser")
            .args(["-u", "nobody", "--", BIN, "--data-dir"])
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .output()
            .unwrap()
    } else {
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o555))
            .unwrap();
        kefu(&data)
            .env("KEFU_LOG_FORMAT", "text")
            .args(["serve", "--listen", "127.0.0.1:0"])
            .output()
            .unwrap()
    };
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let uid = if root {
        "65534".to_string()
    } else {
        rustix::process::geteuid().as_raw().to_string()
    };
    let want = format!("{} is not writable by uid {uid}", data.display());
    assert!(err.contains(&want), "{err}");
    assert!(err.contains(&format!("chown -R {uid}")), "{err}");
    assert_eq!(err.matches("not writable").count(), 1, "said once: {err}");
}

#[test]
fn create_owner_reports_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = create_owner(dir.path(), None, "not-an-email", "a-long-password");
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("email: invalid_email"), "{err}");
    let out = create_owner(dir.path(), None, "ok@example.com", "short");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("password: too_short"));
    let out = kefu(dir.path())
        .args([
            "admin",
            "create-owner",
            "--email",
            "a@example.com",
            "--name",
            "A",
            "--workspace",
            "W",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("no password on stdin"));
}

#[test]
fn config_show_redacts_secrets_and_warns_on_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(dir.path())
        .args(["config", "show"])
        .env(
            "KEFU_AUTH__SIGNING_KEY",
            "super-secret-signing-key-0123456789abcdef",
        )
        .env(
            "KEFU_DATABASE_URL",
            "postgres://kefu:hunter2@db.internal/kefu",
        )
        .env("KEFU_HTTP__BODY_LIMT_BYTES", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains("[redacted]"));
    assert!(
        !shown.contains("super-secret") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(shown.contains("body_limit_bytes = 1048576"), "{shown}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown configuration key `http.body_limt_bytes`"),
        "{err}"
    );
    let out = kefu(dir.path())
        .args(["config", "show"])
        .env("KEFU_HTTP__BODY_LIMIT_BYTES", "huge")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("body_limit_bytes"));
}

#[test]
fn migrate_is_idempotent_and_healthcheck_fails_without_a_server() {
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(dir.path()).arg("migrate").output().unwrap();
    assert!(out.status.success());
    let first = String::from_utf8(out.stdout).unwrap();
    let applied: usize = first.split(' ').next().unwrap().parse().unwrap();
    assert!(applied >= 1, "{first}");
    let out = kefu(dir.path()).arg("migrate").output().unwrap();
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .starts_with("0 migration(s) applied"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let out = kefu(dir.path())
        .args(["healthcheck", "--url", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("unhealthy"));
}

#[test]
fn cluster_settings_with_sqlite_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("KEFU_REDIS_URL", "redis://127.0.0.1:6379")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("a cluster needs PostgreSQL"));
}

async fn tamper(url: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query("DROP TRIGGER audit_log_no_update")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET action = 'workspace.forged' WHERE seq = 1")
            .execute(&mut c)
            .await
            .unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        // The attacker has database access: drop the guard, then edit.
        sqlx::query("DROP TRIGGER audit_log_no_update ON audit_log")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("UPDATE audit_log SET action = 'workspace.forged' WHERE seq = 1")
            .execute(&mut c)
            .await
            .unwrap();
    }
}

async fn audit_verify_detects_tampering(db: TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let out = create_owner(
        dir.path(),
        Some(&db.url),
        "o@example.com",
        "a-long-password",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verify = || {
        kefu(dir.path())
            .args(["audit", "verify"])
            .env("KEFU_DATABASE_URL", &db.url)
            .output()
            .unwrap()
    };
    let ok = verify();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8(ok.stdout)
        .unwrap()
        .contains("chain intact"));
    // The append-only guard refuses an honest mistake.
    {
        use sqlx::Connection;
        if db.url.starts_with("sqlite") {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            assert!(sqlx::query("DELETE FROM audit_log")
                .execute(&mut c)
                .await
                .is_err());
        } else {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            assert!(sqlx::query("DELETE FROM audit_log")
                .execute(&mut c)
                .await
                .is_err());
        }
    }
    tamper(&db.url).await;
    let bad = verify();
    assert_eq!(bad.status.code(), Some(1));
    let report = String::from_utf8(bad.stdout).unwrap();
    assert!(
        report.contains("TAMPERED") && report.contains("entry 1 was edited"),
        "{report}"
    );
    db.cleanup().await;
}

#[tokio::test]
async fn audit_verify_detects_tampering_sqlite() {
    audit_verify_detects_tampering(TestDb::sqlite()).await;
}

#[tokio::test]
async fn audit_verify_detects_tampering_postgres() {
    audit_verify_detects_tampering(TestDb::postgres().await).await;
}

/// A stand-in OpenTelemetry collector: accepts OTLP/HTTP JSON posts to
/// `/v1/traces` (one per connection) and keeps their spans.
async fn fake_collector() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let spans = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = spans.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let sink = sink.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let body = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    assert!(head.starts_with("post /v1/traces "), "{head}");
                    assert!(head.contains("content-type: application/json"), "{head}");
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break buf[end + 4..end + 4 + len].to_vec();
                    }
                };
                let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let resource = &doc["resourceSpans"][0];
                assert_eq!(
                    resource["resource"]["attributes"][0]["value"]["stringValue"],
                    "kefu"
                );
                for span in resource["scopeSpans"][0]["spans"].as_array().unwrap() {
                    sink.lock().unwrap().push(span.clone());
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                    .await;
            });
        }
    });
    (url, spans)
}

fn attribute<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

/// With `KEFU_OTLP_ENDPOINT` set, a request continues the caller's trace
/// (`traceparent`) and its spans — the request, and one per database
/// statement under it — reach the collector; the trace id is in the log
/// lines; and even at debug level no message body or phone number is
/// logged.
#[tokio::test]
async fn traces_reach_the_collector_and_logs_keep_bodies_and_pii_out() {
    let (collector, spans) = fake_collector().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = serve_with(
        &data,
        &[
            ("KEFU_OTLP_ENDPOINT", collector.as_str()),
            ("KEFU_LOG_FILTER", "debug,hyper=info,h2=info"),
        ],
    );
    let base = format!("http://{}", server.addr);
    let ws = owner_workspace(&data);
    let client = reqwest::Client::new();
    let token = login(&client, &base).await;

    // A visitor's message with personal data in it, and an agent's reply.
    let inbox = json_of(
        client
            .post(format!("{base}/api/v1/workspaces/{ws}/inboxes"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "Web", "channel": "web", "bot_enabled": false})),
    )
    .await;
    let session = json_of(
        client
            .post(format!("{base}/api/v1/widget/sessions"))
            .json(&serde_json::json!({"widget_key": inbox["widget_key"]})),
    )
    .await;
    let sent = json_of(
        client
            .post(format!("{base}/api/v1/widget/messages"))
            .bearer_auth(session["visitor_token"].as_str().unwrap())
            .json(&serde_json::json!({"client_msg_id": "m-1",
            "body": "订单 body-marker-7731，手机 13812345678，邮箱 wang@example.cn"})),
    )
    .await;
    let conv = sent["conversation_id"].as_str().expect("sent");
    let reply = client
        .post(format!(
            "{base}/api/v1/workspaces/{ws}/conversations/{conv}/messages"
        ))
        .bearer_auth(&token)
        .json(&serde_json::json!({"client_msg_id": "a-1", "body": "reply-marker-4410 稍等"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);

    // A caller's trace, continued.
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace}-{caller}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(10);
    let (request, statements) = loop {
        let got = spans.lock().unwrap().clone();
        let mine: Vec<_> = got.into_iter().filter(|s| s["traceId"] == trace).collect();
        if let Some(req) = mine.iter().find(|s| s["name"] == "request").cloned() {
            let db: Vec<_> = mine
                .iter()
                .filter(|s| s["name"] == "db.query" && s["parentSpanId"] == req["spanId"])
                .cloned()
                .collect();
            if !db.is_empty() {
                break (req, db);
            }
        }
        assert!(
            Instant::now() < deadline,
            "no request span with its statements reached the collector; got: {:?}; log: {:?}",
            spans
                .lock()
                .unwrap()
                .iter()
                .map(|s| (
                    s["name"].clone(),
                    s["traceId"].clone(),
                    s["parentSpanId"].clone()
                ))
                .collect::<Vec<_>>(),
            server
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains("otlp") || l.contains("/me"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(request["parentSpanId"], caller);
    assert_eq!(request["kind"], 2, "a server span");
    assert_eq!(
        attribute(&request, "http.route").unwrap()["stringValue"],
        "/api/v1/me"
    );
    assert_eq!(
        attribute(&request, "http.response.status_code").unwrap()["intValue"],
        "200"
    );
    let (start, end): (u64, u64) = (
        request["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
        request["endTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    assert!(start > 1_700_000_000_000_000_000 && end >= start);
    assert!(statements
        .iter()
        .any(|s| attribute(s, "db.operation.name").unwrap()["stringValue"] == "select"));

    let (status, log) = terminate(server);
    assert!(status.success());
    let all = log.join("\n");
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("\"trace_id\":\"{trace}\""))),
        "the request's log lines carry its trace id"
    );
    for secret in [
        "body-marker-7731",
        "reply-marker-4410",
        "13812345678",
        "wang@example.cn",
    ] {
        assert!(!all.contains(secret), "{secret} is in the logs");
    }
}
