//! Test support (feature `testing`): [`FakeOpenAi`], an OpenAI-compatible
//! server on a real TCP port, so that clients are tested through real HTTP
//! — status codes, headers, SSE framing split across TCP writes — rather
//! than through mocks. Each instance is scripted on its own:
//!
//! ```no_run
//! # async fn demo() {
//! use kefu_ai::fake::{ChatBehaviour, FakeOpenAi};
//! let fake = FakeOpenAi::start().await;
//! fake.set_chat(ChatBehaviour::Reply("Returns take 7 days [1].".into()));
//! // … point an LlmConfig's url at fake.base_url, call, then:
//! let sent = fake.chat_requests();
//! # }
//! ```
//!
//! Served: `POST /v1/embeddings`, `POST /v1/chat/completions` (streamed
//! and not), `POST /v1/rerank` and `POST /rerank` (Cohere's and Jina's
//! shape, or TEI's when the request has `texts`), `GET /v1/models`. Errors come in OpenAI's shape,
//! `{"error":{"message","type","param","code"}}`. The server stops when
//! the `FakeOpenAi` is dropped.

mod chat;
mod embed;
mod rerank;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::fake::embed::{fake_embedding, FAKE_DIMENSIONS};
pub use crate::fake::rerank::fake_rerank_score;

/// How `/v1/chat/completions` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatBehaviour {
    /// A reply built from the request: the first passage's title and first
    /// line, cited as `[1]`; `NO_ANSWER` when the prompt has no `[1]`. The
    /// default.
    Auto,
    /// This text, streamed a few characters per chunk.
    Reply(String),
    /// Exactly these chunks.
    Pieces(Vec<String>),
    /// `NO_ANSWER`.
    Refuse,
    /// This status with an OpenAI error body.
    Error { status: u16, message: String },
    /// Waits before the response headers, then replies.
    Delay(Duration, String),
    /// Sends the headers and the first piece of this text, then nothing
    /// more until the client gives up.
    StallAfterFirstToken(String),
    /// Streams this text one chunk every `gap`.
    Slow(Duration, String),
    /// This raw body as `text/event-stream`, for protocol errors.
    RawSse(String),
    /// One JSON completion of this text even when asked to stream, as some
    /// servers do.
    IgnoreStream(String),
}

/// How `/v1/embeddings` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedBehaviour {
    /// Deterministic vectors, see [`fake_embedding`]. The default.
    Ok,
    /// This status with an OpenAI error body, every time.
    Error { status: u16, message: String },
    /// 503 for the next `n` requests, then as `Ok`.
    FailTimes(u32),
    /// Waits this long, then as `Ok`.
    Delay(Duration),
}

/// How `/v1/rerank` (and `/rerank`) answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RerankBehaviour {
    /// Scores by word overlap, see [`fake_rerank_score`]. The default.
    Overlap,
    /// Documents containing this text score 1, the others half their
    /// overlap score.
    Favour(String),
    /// This status with an OpenAI error body, every time.
    Error { status: u16, message: String },
    /// Waits this long, then as `Overlap`.
    Delay(Duration),
    /// This body with status 200, as JSON, for protocol errors.
    Raw(String),
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// E.g. `/v1/embeddings`.
    pub path: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body (`Null` when it was not JSON).
    pub body: Value,
}

impl RecordedRequest {
    /// `body.model`.
    pub fn model(&self) -> Option<&str> {
        self.body.get("model").and_then(Value::as_str)
    }

    /// The chat messages' contents, system prompt first.
    pub fn message_texts(&self) -> Vec<&str> {
        let messages = self.body.get("messages").and_then(Value::as_array);
        messages
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("content").and_then(Value::as_str))
            .collect()
    }

    /// A rerank request's `query`.
    pub fn query(&self) -> Option<&str> {
        self.body.get("query").and_then(Value::as_str)
    }

    /// A rerank request's `documents` (or TEI's `texts`).
    pub fn documents(&self) -> Vec<&str> {
        let items = self
            .body
            .get("documents")
            .or_else(|| self.body.get("texts"));
        items
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }

    /// The embedding inputs (a single string counts as one).
    pub fn inputs(&self) -> Vec<&str> {
        match self.body.get("input") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Script {
    chat: ChatBehaviour,
    embed: EmbedBehaviour,
    rerank: RerankBehaviour,
    api_key: Option<String>,
    requests: Vec<RecordedRequest>,
}

type Shared = Arc<Mutex<Script>>;

/// The fake server; see the [module](self) documentation.
#[derive(Debug)]
pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`, for the clients' `url`.
    pub base_url: String,
    script: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl FakeOpenAi {
    /// Listens on an ephemeral port of 127.0.0.1. Needs a tokio runtime.
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script {
            chat: ChatBehaviour::Auto,
            embed: EmbedBehaviour::Ok,
            rerank: RerankBehaviour::Overlap,
            api_key: None,
            requests: Vec::new(),
        }));
        let app = Router::new()
            .route("/v1/embeddings", post(embed::handle))
            .route("/v1/chat/completions", post(chat::handle))
            .route("/v1/rerank", post(rerank::handle))
            .route("/rerank", post(rerank::handle))
            .route("/v1/models", get(models))
            .fallback(|| async { error(StatusCode::NOT_FOUND, "Unknown request URL") })
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url: format!("http://{addr}/v1"),
            script,
            server,
        }
    }

    /// Settings for an [`EmbeddingsClient`](crate::EmbeddingsClient) of
    /// this server: model `fake-embed`, the rest default.
    pub fn embeddings_config(&self) -> crate::EmbeddingsConfig {
        crate::EmbeddingsConfig {
            url: self.base_url.clone(),
            model: "fake-embed".into(),
            ..crate::EmbeddingsConfig::default()
        }
    }

    /// Settings for a [`ChatClient`](crate::ChatClient) of this server:
    /// model `fake-chat`, the rest default.
    pub fn llm_config(&self) -> crate::LlmConfig {
        crate::LlmConfig {
            url: self.base_url.clone(),
            model: "fake-chat".into(),
            ..crate::LlmConfig::default()
        }
    }

    /// Settings for a [`RerankClient`](crate::RerankClient) of this
    /// server: model `fake-rerank`, the rest default.
    pub fn rerank_config(&self) -> crate::RerankConfig {
        crate::RerankConfig {
            url: self.base_url.clone(),
            model: "fake-rerank".into(),
            ..crate::RerankConfig::default()
        }
    }

    pub fn set_chat(&self, behaviour: ChatBehaviour) {
        self.lock().chat = behaviour;
    }

    pub fn set_embeddings(&self, behaviour: EmbedBehaviour) {
        self.lock().embed = behaviour;
    }

    pub fn set_rerank(&self, behaviour: RerankBehaviour) {
        self.lock().rerank = behaviour;
    }

    /// Answers 401 unless requests carry `Authorization: Bearer {key}`.
    pub fn require_api_key(&self, key: Option<&str>) {
        self.lock().api_key = key.map(str::to_owned);
    }

    /// Everything received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    pub fn chat_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/v1/chat/completions")
    }

    pub fn embedding_requests(&self) -> Vec<RecordedRequest> {
        self.requests_to("/v1/embeddings")
    }

    /// Requests to `/v1/rerank` and `/rerank`, oldest first.
    pub fn rerank_requests(&self) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path.ends_with("/rerank"))
            .cloned()
            .collect()
    }

    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FakeOpenAi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Records the request and checks the API key and JSON; `Err` is the
/// error to answer with.
fn record(
    script: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, (StatusCode, &'static str)> {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
    s.requests.push(RecordedRequest {
        path: path.to_owned(),
        authorization: authorization.clone(),
        body: json.clone(),
    });
    if let Some(key) = &s.api_key {
        if authorization.as_deref() != Some(&format!("Bearer {key}")) {
            return Err((StatusCode::UNAUTHORIZED, "Incorrect API key provided."));
        }
    }
    if json.is_null() {
        return Err((
            StatusCode::BAD_REQUEST,
            "We could not parse the JSON body of your request.",
        ));
    }
    Ok(json)
}

/// An error response in OpenAI's shape.
fn error(status: StatusCode, message: &str) -> Response {
    let (kind, code) = match status.as_u16() {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        404 => ("invalid_request_error", json!("unknown_url")),
        429 => ("rate_limit_error", json!("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", Value::Null),
        _ => ("server_error", Value::Null),
    };
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, Json(body)).into_response()
}

fn error_u16(status: u16, message: &str) -> Response {
    error(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message,
    )
}

async fn models() -> Json<Value> {
    Json(json!({ "object": "list", "data": [
        { "id": "fake-chat", "object": "model", "created": 0, "owned_by": "kefu" },
        { "id": "fake-embed", "object": "model", "created": 0, "owned_by": "kefu" },
        { "id": "fake-rerank", "object": "model", "created": 0, "owned_by": "kefu" },
    ] }))
}
