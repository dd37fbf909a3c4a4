//! Running the real `kefu` binary from tests: a command with the developer's
//! `KEFU_*` environment kept out, owner creation, and a server process whose
//! address is read from its start-up log.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_kefu");
pub const PASSWORD: &str = "a-long-password";

/// The binary on `data_dir` and the database `db_url` (None: SQLite in the
/// data directory).
pub fn kefu(data_dir: &Path, db_url: Option<&str>) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data_dir);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEFU_")) {
        c.env_remove(k);
    }
    c.env("KEFU_LOG_FORMAT", "json");
    if let Some(u) = db_url {
        c.env("KEFU_DATABASE_URL", u);
    }
    c
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `cmd`, asserting success; its stdout.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stdout)
}

/// Runs `cmd`, asserting exit code 1; its stderr.
pub fn fails(cmd: &mut Command) -> String {
    let out: Output = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{cmd:?}: expected exit 1, got {:?}: {}\n{}",
        out.status,
        text(&out.stderr),
        text(&out.stdout)
    );
    text(&out.stderr)
}

/// Creates a workspace and its owner (`email`, [`PASSWORD`]); its id.
pub fn create_owner(data_dir: &Path, db_url: Option<&str>, email: &str) -> String {
    let mut child = kefu(data_dir, db_url)
        .args(["admin", "create-owner", "--email", email, "--name", "Owner"])
        .args(["--workspace", "客服团队"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout).trim().to_string()
}

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kefu serve` on a free port; returns once it logged its address.
pub fn serve(data_dir: &Path, db_url: Option<&str>, env: &[(&str, &str)]) -> Server {
    let mut child = kefu(data_dir, db_url)
        .envs(env.iter().copied())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
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
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("server did not start: {:?}", log.lock().unwrap()));
    Server { child, addr, log }
}

/// Sends the request; asserts a 2xx; the JSON answer (Null for no body).
pub async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
    let res = req.send().await.unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    if body.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&body).unwrap()
    }
}

/// Signs in as `email` with [`PASSWORD`]; the login answer.
pub async fn login(client: &reqwest::Client, base: &str, email: &str) -> serde_json::Value {
    json_of(
        client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD})),
    )
    .await
}
