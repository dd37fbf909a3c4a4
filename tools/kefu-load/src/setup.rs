//! The HTTP part: log in, find the workspace, create an inbox and the
//! visitors' widget sessions.

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug, Deserialize)]
struct Login {
    access_token: String,
    workspaces: Vec<WorkspaceRef>,
}

#[derive(Debug, Deserialize)]
struct WorkspaceRef {
    id: String,
    name: String,
}

#[derive(Debug, Deserialize)]
struct InboxCreated {
    widget_key: String,
}

#[derive(Debug, Deserialize)]
struct SessionCreated {
    visitor_token: String,
}

#[derive(Debug)]
pub struct Agent {
    pub access_token: String,
    pub workspace_id: String,
}

#[derive(Debug)]
pub struct Sessions {
    pub tokens: Vec<String>,
    pub elapsed: Duration,
    pub errors: BTreeMap<String, u64>,
}

pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Logs in and picks the workspace: the one whose id or name is given, or
/// the first.
pub async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
    workspace: Option<&str>,
) -> anyhow::Result<Agent> {
    let res = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .with_context(|| format!("POST {base}/api/v1/auth/login"))?;
    let status = res.status();
    if !status.is_success() {
        bail!(
            "login failed: {status} {}",
            res.text().await.unwrap_or_default()
        );
    }
    let login: Login = res.json().await.context("reading the login answer")?;
    let ws = match workspace {
        Some(w) => login
            .workspaces
            .iter()
            .find(|x| x.id == w || x.name == w)
            .with_context(|| format!("the account is not in workspace `{w}`"))?,
        None => login
            .workspaces
            .first()
            .context("the account has no workspace")?,
    };
    Ok(Agent {
        access_token: login.access_token,
        workspace_id: ws.id.clone(),
    })
}

/// A new web inbox (bot off, any origin) for this run; its widget key.
pub async fn create_inbox(
    http: &reqwest::Client,
    base: &str,
    agent: &Agent,
    name: &str,
) -> anyhow::Result<String> {
    let url = format!("{base}/api/v1/workspaces/{}/inboxes", agent.workspace_id);
    let res = http
        .post(&url)
        .bearer_auth(&agent.access_token)
        .json(&json!({ "name": name, "channel": "web", "bot_enabled": false }))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = res.status();
    if !status.is_success() {
        bail!(
            "creating the inbox failed: {status} {}",
            res.text().await.unwrap_or_default()
        );
    }
    Ok(res.json::<InboxCreated>().await?.widget_key)
}

/// `n` widget sessions (one new visitor each), `concurrency` at a time.
/// Failures are counted by kind; the tokens of the others are returned.
pub async fn sessions(
    http: &reqwest::Client,
    base: &str,
    widget_key: &str,
    n: usize,
    concurrency: usize,
) -> Sessions {
    let started = Instant::now();
    let url = format!("{base}/api/v1/widget/sessions");
    let results: Vec<Result<String, String>> = stream::iter(0..n)
        .map(|_| {
            let req = http
                .post(&url)
                .json(&json!({ "widget_key": widget_key }))
                .send();
            async move {
                let res = req.await.map_err(|e| {
                    if e.is_timeout() {
                        "session_timeout".to_string()
                    } else {
                        "session_connect".to_string()
                    }
                })?;
                let status = res.status();
                if !status.is_success() {
                    return Err(format!("session_http_{}", status.as_u16()));
                }
                res.json::<SessionCreated>()
                    .await
                    .map(|s| s.visitor_token)
                    .map_err(|_| "session_bad_body".to_string())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut tokens = Vec::with_capacity(n);
    let mut errors = BTreeMap::new();
    for r in results {
        match r {
            Ok(t) => tokens.push(t),
            Err(kind) => *errors.entry(kind).or_insert(0) += 1,
        }
    }
    Sessions {
        tokens,
        elapsed: started.elapsed(),
        errors,
    }
}

/// `http://host:port[/]` → `ws://host:port/ws`.
pub fn ws_url(base: &str) -> anyhow::Result<String> {
    let base = base.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("http://") {
        Ok(format!("ws://{rest}/ws"))
    } else if base.starts_with("https://") {
        bail!("https is not supported by this load generator (no TLS); point it at the server directly")
    } else if let Some(rest) = base.strip_prefix("ws://") {
        Ok(format!("ws://{rest}/ws"))
    } else {
        bail!("--url must start with http://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_url() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080/").unwrap(),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(ws_url("http://h:1").unwrap(), "ws://h:1/ws");
        assert!(ws_url("https://h").is_err());
        assert!(ws_url("h:1").is_err());
    }
}
