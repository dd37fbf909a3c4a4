//! Outgoing e-mail through a real SMTP server (aiosmtpd, tests/smtp/server.py,
//! installed by scripts/backup-tools) that requires STARTTLS and AUTH: the
//! invitation e-mail and the password-reset round trip, multipart text and
//! HTML in both languages; and a relay that does not answer: the e-mail is
//! kept, retried with back-off, marked failed and retried on request —
//! never dropped.

use kefu_testkit::{on_both_backends, Backend, TestApp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

on_both_backends!(
    invitations_and_password_resets_go_out_over_smtp,
    an_unreachable_relay_keeps_the_email_and_retries,
);

const USER: &str = "kefu";
const PASSWORD: &str = "smtp-s3cret";

struct Smtp {
    child: Child,
    port: u16,
    out: PathBuf,
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/backup-tools/bin/python")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// aiosmtpd on a free port with a fresh self-signed certificate for
/// 127.0.0.1 (the CA Kefu is told to trust).
async fn start_smtp() -> Smtp {
    let python = tools();
    assert!(
        python.exists(),
        "aiosmtpd is not installed: run scripts/backup-tools (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    // A throwaway CA, and the server's certificate for 127.0.0.1 from it.
    let openssl = |args: &[&str]| {
        let ok = Command::new("openssl")
            .args(args)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("openssl makes the test certificates")
            .success();
        assert!(ok, "openssl {args:?} failed");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Kefu test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    std::fs::write(
        p("leaf.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    let (cert, key) = (p("cert.pem"), p("key.pem"));
    let port = free_port();
    let out = dir.path().join("mail");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/smtp/server.py");
    let child = Command::new(python)
        .arg(script)
        .arg(port.to_string())
        .arg(&out)
        .arg(&cert)
        .arg(&key)
        .args([USER, PASSWORD])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the SMTP server");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "the SMTP server did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Smtp {
        child,
        port,
        out,
        ca: p("ca.pem"),
        _dir: dir,
    }
}

/// The n-th message the server accepted (1-based), waiting for it.
async fn mail(dir: &Path, n: usize) -> Value {
    let path = dir.join(format!("{n}.json"));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(t) = std::fs::read_to_string(&path) {
            return serde_json::from_str(&t).unwrap();
        }
        assert!(Instant::now() < deadline, "no e-mail #{n} within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

async fn invitations_and_password_resets_go_out_over_smtp(b: Backend) {
    let smtp = start_smtp().await;
    let (port, ca) = (smtp.port, smtp.ca.clone());
    let app = TestApp::spawn_with(b, move |s| {
        s.email.smtp_url =
            Some(format!("smtp://{USER}:{PASSWORD}@127.0.0.1:{port}?tls=required").into());
        s.email.tls_ca = Some(std::fs::read_to_string(ca).unwrap());
        s.email.from = "Kefu 客服 <noreply@kefu.example.cn>".into();
        s.email.reply_delay_secs = 1;
        s.http.public_url = Some("https://kefu.example.cn".into());
    })
    .await;
    let owner = app.owner("owner@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let tok = Some(owner.access_token.as_str());

    // The invitation e-mail, in English.
    let inv = app
        .post(
            &format!("{base}/invitations"),
            tok,
            json!({"email": "new@example.com", "role": "agent", "locale": "en"}),
        )
        .await
        .expect(201);
    assert!(inv.body["email_id"].is_string());
    let m = mail(&smtp.out, 1).await;
    assert_eq!(m["rcpt_tos"], json!(["new@example.com"]));
    assert_eq!(m["tls"], true, "STARTTLS before anything else");
    assert_eq!(m["authenticated"], true);
    assert_eq!(m["content_type"], "multipart/alternative");
    assert!(m["from"]
        .as_str()
        .unwrap()
        .contains("noreply@kefu.example.cn"));
    assert!(
        m["subject"].as_str().unwrap().contains("invited you"),
        "{m}"
    );
    let link = format!(
        "https://kefu.example.cn/#/accept?token={}",
        inv.body["token"].as_str().unwrap()
    );
    assert!(m["text"].as_str().unwrap().contains(&link), "{m}");
    assert!(m["html"]
        .as_str()
        .unwrap()
        .contains("Accept the invitation"));
    // Admins follow it in the outbox; the body is not shown there.
    let outbox = app
        .get(&format!("{base}/email-outbox"), tok)
        .await
        .expect(200);
    let e = &outbox.body["items"][0];
    assert_eq!(
        (e["kind"].as_str(), e["status"].as_str()),
        (Some("invitation"), Some("sent"))
    );
    assert!(e.get("text").is_none() && e.get("html").is_none());

    // "Forgot my password", in Chinese: the link sets a new one, once.
    app.post(
        "/api/v1/auth/password-reset",
        None,
        json!({"email": "OWNER@example.com", "locale": "zh-CN"}),
    )
    .await
    .expect(202);
    let m = mail(&smtp.out, 2).await;
    assert_eq!(m["rcpt_tos"], json!(["owner@example.com"]));
    assert_eq!(m["subject"], "重设您的 Kefu 密码");
    let text = m["text"].as_str().unwrap();
    let token = text
        .split("#/reset?token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("a reset link")
        .to_string();
    assert!(m["html"].as_str().unwrap().contains("设置新密码"));
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "short"}),
    )
    .await
    .expect_error(422, "validation_failed");
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "a brand new passphrase 2026"}),
    )
    .await
    .expect(204);
    app.login("owner@example.com", "a brand new passphrase 2026")
        .await
        .expect(200);
    app.login("owner@example.com", kefu_testkit::PASSWORD)
        .await
        .expect_error(401, "invalid_credentials");
    // Once only; a forged one never.
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": token, "new_password": "yet another passphrase 99"}),
    )
    .await
    .expect_error(401, "invalid_reset_token");
    app.post(
        "/api/v1/auth/password-reset/confirm",
        None,
        json!({"token": format!("{token}x"), "new_password": "yet another passphrase 99"}),
    )
    .await
    .expect_error(401, "invalid_reset_token");
    // An address without an account: the same answer, no e-mail.
    app.post(
        "/api/v1/auth/password-reset",
        None,
        json!({"email": "nobody@example.com"}),
    )
    .await
    .expect(202);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(count(&smtp.out), 2);
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("kefu_emails_total{outcome=\"sent\"} 2"),
        "{metrics}"
    );
}

async fn an_unreachable_relay_keeps_the_email_and_retries(b: Backend) {
    let dead = free_port();
    let app = TestApp::spawn_with(b, move |s| {
        s.email.smtp_url = Some(format!("smtp://127.0.0.1:{dead}").into());
        s.email.max_attempts = 2;
        s.email.retry_base_secs = 1;
        s.email.timeout_secs = 2;
        s.chat.sweep_interval_secs = 1;
    })
    .await;
    let owner = app.owner("owner@example.com").await;
    let base = format!("/api/v1/workspaces/{}", owner.workspace_id);
    let tok = Some(owner.access_token.as_str());
    let inv = app
        .post(
            &format!("{base}/invitations"),
            tok,
            json!({"email": "new@example.com", "role": "agent"}),
        )
        .await
        .expect(201);
    let id = inv.body["email_id"].as_str().unwrap().to_string();
    let (url, t) = (format!("{base}/email-outbox"), owner.access_token.clone());
    let find = |v: &Value| -> Value {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == id.as_str())
            .cloned()
            .unwrap()
    };
    // Two attempts (one retry after the back-off), then failed, with why.
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let e = find(&app.get(&url, Some(&t)).await.expect(200).body);
        if e["status"] == "failed" {
            break e;
        }
        assert!(Instant::now() < deadline, "not failed within 30 s: {e}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(failed["attempts"], 2);
    assert!(failed["last_error"].as_str().is_some_and(|s| !s.is_empty()));
    let metrics = app.get("/metrics", None).await.text;
    assert!(
        metrics.contains("kefu_emails_total{outcome=\"retried\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kefu_emails_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    // An admin retries it: pending again, tried again.
    app.post(&format!("{url}/{id}/retry"), Some(&t), json!({}))
        .await
        .expect(202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let e = find(&app.get(&url, Some(&t)).await.expect(200).body);
        if e["attempts"].as_i64() == Some(3) && e["status"] == "failed" {
            break;
        }
        assert!(Instant::now() < deadline, "not retried within 30 s: {e}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Only a failed one may be retried; agents may not look.
    app.post(
        &format!("{url}/{}/retry", uuid::Uuid::now_v7()),
        Some(&t),
        json!({}),
    )
    .await
    .expect_error(404, "email_not_found");
    let (_, agent) = app.member(&owner, "a@example.com", "agent").await;
    app.get(&url, Some(&agent))
        .await
        .expect_error(403, "forbidden");
}
