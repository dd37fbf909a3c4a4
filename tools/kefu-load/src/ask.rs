//! `--ask FILE`: latency of `POST …/bot/ask` over HTTP. Each of
//! `--ask-clients` clients sends the questions of FILE (one a line, taken in
//! turn) back to back — closed loop, so the figures are service times at
//! that concurrency — after an unmeasured warm-up.

use crate::setup::Agent;
use crate::stats::{Samples, Summary};
use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
pub struct AskReport {
    pub url: String,
    pub label: Option<String>,
    pub clients: usize,
    pub requests: usize,
    pub secs: f64,
    pub requests_per_sec: f64,
    pub latency: Summary,
    /// answer / suggest / handoff counts.
    pub decisions: BTreeMap<String, u64>,
    /// Failed requests by status or error kind.
    pub errors: BTreeMap<String, u64>,
}

impl AskReport {
    pub fn render(&self) -> String {
        let l = &self.latency;
        format!(
            "bot/ask {}: {} requests from {} client(s) in {:.1}s ({:.0}/s)\n  \
             latency p50 {:.2} ms  p95 {:.2} ms  p99 {:.2} ms  max {:.2} ms  mean {:.2} ms\n  \
             decisions {:?}  errors {:?}",
            self.label.as_deref().unwrap_or(&self.url),
            self.requests,
            self.clients,
            self.secs,
            self.requests_per_sec,
            l.p50_ms,
            l.p95_ms,
            l.p99_ms,
            l.max_ms,
            l.mean_ms,
            self.decisions,
            self.errors,
        )
    }
}

pub fn questions(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the questions file {}", path.display()))?;
    let qs: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    anyhow::ensure!(!qs.is_empty(), "{} has no questions", path.display());
    Ok(qs)
}

struct Outcome {
    latency: Samples,
    decisions: BTreeMap<String, u64>,
    errors: BTreeMap<String, u64>,
}

async fn client(
    http: reqwest::Client,
    url: String,
    token: String,
    questions: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    until: usize,
) -> Outcome {
    let mut out = Outcome {
        latency: Samples::default(),
        decisions: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= until {
            return out;
        }
        let q = &questions[i % questions.len()];
        let started = Instant::now();
        let res = http
            .post(&url)
            .bearer_auth(&token)
            .json(&json!({"question": q}))
            .send()
            .await;
        let kind = match res {
            Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                Ok(v) => {
                    out.latency.record(started.elapsed());
                    let d = v["decision"].as_str().unwrap_or("?").to_string();
                    *out.decisions.entry(d).or_insert(0) += 1;
                    continue;
                }
                Err(_) => "bad body".to_string(),
            },
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".into(),
            Err(_) => "connection".into(),
        };
        *out.errors.entry(kind).or_insert(0) += 1;
    }
}

/// Warms up with `warmup` requests, then measures `requests`.
pub async fn run(
    http: &reqwest::Client,
    base: &str,
    agent: &Agent,
    questions: Vec<String>,
    clients: usize,
    warmup: usize,
    requests: usize,
) -> AskReport {
    let url = format!("{base}/api/v1/workspaces/{}/bot/ask", agent.workspace_id);
    let questions = Arc::new(questions);
    let clients = clients.max(1);
    let phase = |n: usize| {
        let next = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                tokio::spawn(client(
                    http.clone(),
                    url.clone(),
                    agent.access_token.clone(),
                    questions.clone(),
                    next.clone(),
                    n,
                ))
            })
            .collect();
        async move {
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.expect("client task"));
            }
            all
        }
    };
    phase(warmup).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let outcomes = phase(requests).await;
    let secs = started.elapsed().as_secs_f64();
    let mut latency = Samples::default();
    let mut decisions = BTreeMap::new();
    let mut errors = BTreeMap::new();
    for o in outcomes {
        latency.extend(&o.latency);
        for (k, v) in o.decisions {
            *decisions.entry(k).or_insert(0) += v;
        }
        for (k, v) in o.errors {
            *errors.entry(k).or_insert(0) += v;
        }
    }
    AskReport {
        url: base.to_string(),
        label: None,
        clients,
        requests,
        secs,
        requests_per_sec: requests as f64 / secs.max(1e-9),
        latency: latency.summary(),
        decisions,
        errors,
    }
}
