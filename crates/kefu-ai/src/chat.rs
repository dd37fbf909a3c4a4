//! [`ChatClient`]: answers a question from numbered passages through
//! `POST {url}/chat/completions` with `stream: true`, passing the text on
//! as it arrives, within a time-to-first-token and a total time limit.

use crate::answer::{citations, is_refusal, system_prompt, user_message, Gate, Passage};
use crate::config::{endpoint, require_model};
use crate::mask::mask_pii;
use crate::sse::SseParser;
use crate::{AiError, LlmConfig};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    /// The whole reply, trimmed, with its `[n]` markers; markers naming no
    /// passage removed. For a refusal, whatever the model said.
    pub text: String,
    /// 0-based indexes of the passages cited, deduplicated, in order of
    /// first use.
    pub cited: Vec<usize>,
    /// The model found no answer in the passages (`NO_ANSWER` or the like),
    /// or there were no passages to ask about.
    pub refused: bool,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
    /// From the call to the last byte.
    pub latency_ms: u64,
}

/// A client of one chat-completions endpoint; cheap to clone.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: reqwest::Client,
    url: reqwest::Url,
    cfg: LlmConfig,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Content>,
    /// Non-streamed responses, from servers that ignore `stream`.
    #[serde(default)]
    message: Option<Content>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u32>,
    #[serde(default)]
    completion_tokens: Option<u32>,
}

/// What the reply came to, before citations and refusals are worked out.
#[derive(Default)]
struct Reply {
    text: String,
    usage: Option<Usage>,
    finished: bool,
}

impl ChatClient {
    /// Checks the settings; does not contact the endpoint.
    pub fn new(cfg: LlmConfig) -> Result<Self, AiError> {
        let url = endpoint("llm", &cfg.url, "chat/completions")?;
        require_model("llm", "model", &cfg.model)?;
        if cfg.timeout_ms == 0 || cfg.first_token_timeout_ms == 0 || cfg.max_tokens == 0 {
            return Err(AiError::Config(
                "[llm] timeout_ms, first_token_timeout_ms and max_tokens must be above 0".into(),
            ));
        }
        if !(0.0..=2.0).contains(&cfg.temperature) {
            return Err(AiError::Config(
                "[llm] temperature must be within 0..=2".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(
                cfg.first_token_timeout_ms.min(cfg.timeout_ms),
            ))
            .build()
            .map_err(|e| AiError::Config(format!("[llm] HTTP client: {e}")))?;
        Ok(Self { http, url, cfg })
    }

    /// The settings in use.
    pub fn config(&self) -> &LlmConfig {
        &self.cfg
    }

    /// Answers `question` from `passages` (numbered `[1]`, `[2]` … in
    /// order), in the language of `locale`'s prompt (Chinese for `zh…`).
    /// Personal data in the question and passages is masked before sending.
    /// `on_delta` gets the text piece by piece as it streams in — except a
    /// refusal, which is held back. Without passages there is nothing to
    /// answer from: a refusal, without a request.
    pub async fn answer(
        &self,
        question: &str,
        passages: &[Passage],
        locale: &str,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<LlmAnswer, AiError> {
        let started = Instant::now();
        if passages.is_empty() {
            return Ok(LlmAnswer {
                text: crate::NO_ANSWER.into(),
                cited: Vec::new(),
                refused: true,
                prompt_tokens: None,
                completion_tokens: None,
                latency_ms: 0,
            });
        }
        let body = json!({
            "model": self.cfg.model,
            "messages": [
                { "role": "system", "content": system_prompt(locale) },
                { "role": "user", "content": user_message(question, passages, locale, self.cfg.max_passage_chars) },
            ],
            "stream": true,
            "stream_options": { "include_usage": true },
            "max_tokens": self.cfg.max_tokens,
            "temperature": self.cfg.temperature,
        });
        let mut gate = Gate::default();
        let result = self.complete(&body, started, &mut gate, on_delta).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let model = self.cfg.model.as_str();
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(model, latency_ms, error = %mask_pii(&error), "llm answer failed");
                return Err(e);
            }
        };
        gate.finish(on_delta);
        let (text, cited) = citations(reply.text.trim(), passages.len());
        let refused = is_refusal(&text, &cited);
        let answer = LlmAnswer {
            text,
            cited: if refused { Vec::new() } else { cited },
            refused,
            prompt_tokens: reply.usage.as_ref().and_then(|u| u.prompt_tokens),
            completion_tokens: reply.usage.as_ref().and_then(|u| u.completion_tokens),
            latency_ms,
        };
        tracing::info!(
            model,
            latency_ms,
            prompt_tokens = answer.prompt_tokens,
            completion_tokens = answer.completion_tokens,
            refused,
            cited = answer.cited.len(),
            "llm answer"
        );
        Ok(answer)
    }

    /// Sends the request and reads the reply, streamed or not, within the
    /// time limits.
    async fn complete(
        &self,
        body: &serde_json::Value,
        started: Instant,
        gate: &mut Gate,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Reply, AiError> {
        let total = started + Duration::from_millis(self.cfg.timeout_ms);
        let first = (started + Duration::from_millis(self.cfg.first_token_timeout_ms)).min(total);
        let mut request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body);
        if let Some(key) = &self.cfg.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let mut response = timeout_at(first, request.send())
            .await
            .map_err(|_| AiError::Timeout)??;
        let status = response.status();
        if !status.is_success() {
            let bytes = timeout_at(total, response.bytes())
                .await
                .map_err(|_| AiError::Timeout)??;
            return Err(AiError::from_status(status.as_u16(), &bytes));
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let mut reply = Reply::default();
        if is_json {
            let bytes = timeout_at(first, response.bytes())
                .await
                .map_err(|_| AiError::Timeout)??;
            handle(&bytes, &mut reply, gate, on_delta)?;
            reply.finished = true;
            return Ok(reply);
        }
        let mut parser = SseParser::default();
        loop {
            let deadline = if reply.text.is_empty() { first } else { total };
            let chunk = timeout_at(deadline, response.chunk())
                .await
                .map_err(|_| AiError::Timeout)??;
            let Some(bytes) = chunk else {
                // No `[DONE]`: acceptable once the choice said it finished.
                if let Some(data) = parser.finish().filter(|d| d.trim() != "[DONE]") {
                    handle(data.as_bytes(), &mut reply, gate, on_delta)?;
                }
                if !reply.finished {
                    return Err(AiError::Protocol(
                        "event stream ended before the answer did".into(),
                    ));
                }
                return Ok(reply);
            };
            for data in parser.push(&bytes)? {
                if data.trim() == "[DONE]" {
                    reply.finished = true;
                    return Ok(reply);
                }
                handle(data.as_bytes(), &mut reply, gate, on_delta)?;
            }
        }
    }
}

/// One chunk (or a whole non-streamed completion): its text to the reply
/// and through the gate, its usage and finish noted.
fn handle(
    data: &[u8],
    reply: &mut Reply,
    gate: &mut Gate,
    on_delta: &mut (dyn FnMut(&str) + Send),
) -> Result<(), AiError> {
    let chunk: Chunk = serde_json::from_slice(data)
        .map_err(|e| AiError::Protocol(format!("completion chunk: {e}")))?;
    if let Some(error) = chunk.error {
        let message = error
            .get("message")
            .and_then(|m| m.as_str())
            .map_or_else(|| error.to_string(), str::to_owned);
        return Err(AiError::Protocol(format!(
            "error in the event stream: {message}"
        )));
    }
    if let Some(choice) = chunk.choices.unwrap_or_default().into_iter().next() {
        let content = choice.delta.or(choice.message).and_then(|c| c.content);
        if let Some(piece) = content.filter(|p| !p.is_empty()) {
            reply.text.push_str(&piece);
            gate.push(&piece, on_delta);
        }
        if choice.finish_reason.is_some() {
            reply.finished = true;
        }
    }
    if chunk.usage.is_some() {
        reply.usage = chunk.usage;
    }
    Ok(())
}
