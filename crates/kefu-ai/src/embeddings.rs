//! [`EmbeddingsClient`]: `POST {url}/embeddings`, batched, with the
//! vectors returned in input order and L2-normalised.

use crate::config::{endpoint, require_model};
use crate::{AiError, EmbeddingsConfig};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// What a text is embedded as: asymmetric models embed a search query
/// differently from the passages it should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbedMode {
    Query,
    Passage,
}

impl EmbedMode {
    /// The `input_type` value sent for this mode.
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedMode::Query => "query",
            EmbedMode::Passage => "passage",
        }
    }
}

/// A client of one embeddings endpoint; cheap to clone (the connection
/// pool is shared).
#[derive(Debug, Clone)]
pub struct EmbeddingsClient {
    http: reqwest::Client,
    url: reqwest::Url,
    cfg: EmbeddingsConfig,
}

#[derive(Deserialize)]
struct Response {
    data: Vec<Item>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: Option<u32>,
}

impl EmbeddingsClient {
    /// Checks the settings (URL, non-empty model names, batch size and
    /// timeout above zero); does not contact the endpoint.
    pub fn new(cfg: EmbeddingsConfig) -> Result<Self, AiError> {
        let url = endpoint("embeddings", &cfg.url, "embeddings")?;
        require_model("embeddings", "model", &cfg.model)?;
        for (key, model) in [
            ("query_model", &cfg.query_model),
            ("passage_model", &cfg.passage_model),
        ] {
            if let Some(model) = model {
                require_model("embeddings", key, model)?;
            }
        }
        if cfg.batch_size == 0 || cfg.timeout_ms == 0 {
            return Err(AiError::Config(
                "[embeddings] batch_size and timeout_ms must be above 0".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| AiError::Config(format!("[embeddings] HTTP client: {e}")))?;
        Ok(Self { http, url, cfg })
    }

    /// The model used for `mode`: `query_model` / `passage_model` when set,
    /// else `model`.
    pub fn model_for(&self, mode: EmbedMode) -> &str {
        let specific = match mode {
            EmbedMode::Query => &self.cfg.query_model,
            EmbedMode::Passage => &self.cfg.passage_model,
        };
        specific.as_deref().unwrap_or(&self.cfg.model)
    }

    /// The settings in use.
    pub fn config(&self) -> &EmbeddingsConfig {
        &self.cfg
    }

    /// One unit-length vector per text, in the order of `texts`; `batch_size`
    /// texts per request, each request bounded by `timeout_ms`. No request
    /// for no texts.
    pub async fn embed(&self, texts: &[String], mode: EmbedMode) -> Result<Vec<Vec<f32>>, AiError> {
        let started = Instant::now();
        let model = self.model_for(mode);
        let mut vectors = Vec::with_capacity(texts.len());
        let mut tokens = 0u32;
        for batch in texts.chunks(self.cfg.batch_size) {
            let (batch_vectors, batch_tokens) = self.retried(batch, model, mode).await.inspect_err(|e| {
                let error = e.to_string();
                let error = crate::mask::mask_pii(&error);
                tracing::warn!(model, latency_ms = elapsed_ms(started), error = %error, "embeddings failed");
            })?;
            if let (Some(first), Some(v)) = (vectors.first().map(Vec::len), batch_vectors.first()) {
                if v.len() != first {
                    return Err(AiError::Protocol(format!(
                        "embeddings of {first} and {} dimensions",
                        v.len()
                    )));
                }
            }
            vectors.extend(batch_vectors);
            tokens = tokens.saturating_add(batch_tokens.unwrap_or(0));
        }
        if !texts.is_empty() {
            tracing::info!(
                model,
                mode = mode.as_str(),
                texts = texts.len(),
                prompt_tokens = tokens,
                latency_ms = elapsed_ms(started),
                "embeddings"
            );
        }
        Ok(vectors)
    }

    async fn retried(
        &self,
        texts: &[String],
        model: &str,
        mode: EmbedMode,
    ) -> Result<(Vec<Vec<f32>>, Option<u32>), AiError> {
        let mut attempt = 0;
        loop {
            match self.batch(texts, model, mode).await {
                Err(e)
                    if attempt < self.cfg.retries
                        && !matches!(e, AiError::Timeout)
                        && e.is_transient() =>
                {
                    let pause = Duration::from_millis(200 << attempt.min(5));
                    tracing::debug!(model, attempt, error = %e, "embeddings retry");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn batch(
        &self,
        texts: &[String],
        model: &str,
        mode: EmbedMode,
    ) -> Result<(Vec<Vec<f32>>, Option<u32>), AiError> {
        let mut body = json!({ "model": model, "input": texts });
        if self.cfg.send_input_type {
            body["input_type"] = mode.as_str().into();
        }
        let bytes = post_json(&self.http, &self.url, self.cfg.api_key.as_ref(), &body).await?;
        let parsed: Response = serde_json::from_slice(&bytes)
            .map_err(|e| AiError::Protocol(format!("embeddings response: {e}")))?;
        let vectors = in_order(parsed.data, texts.len())?;
        Ok((vectors, parsed.usage.and_then(|u| u.prompt_tokens)))
    }
}

/// The vectors ordered by `index` (position when absent), checked to be one
/// per input, and L2-normalised.
fn in_order(items: Vec<Item>, expected: usize) -> Result<Vec<Vec<f32>>, AiError> {
    if items.len() != expected {
        return Err(AiError::Protocol(format!(
            "{} embeddings for {expected} inputs",
            items.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for (position, item) in items.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let slot = slots
            .get_mut(index)
            .ok_or_else(|| AiError::Protocol(format!("embedding index {index} out of range")))?;
        if slot.is_some() {
            return Err(AiError::Protocol(format!("embedding index {index} twice")));
        }
        if item.embedding.is_empty() || item.embedding.iter().any(|x| !x.is_finite()) {
            return Err(AiError::Protocol(format!(
                "embedding {index} is empty or not finite"
            )));
        }
        *slot = Some(normalised(item.embedding));
    }
    Ok(slots.into_iter().flatten().collect())
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in &mut v {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    v
}

/// POSTs `body` as JSON (with the API key as a bearer token when there is
/// one) and returns the body of a 2xx answer; any other status becomes the
/// endpoint's error ([`AiError::from_status`]). Shared by the embeddings and
/// rerank clients.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &reqwest::Url,
    api_key: Option<&secrecy::SecretString>,
    body: &serde_json::Value,
) -> Result<Vec<u8>, AiError> {
    let mut request = http.post(url.clone()).json(body);
    if let Some(key) = api_key {
        request = request.bearer_auth(key.expose_secret());
    }
    let response = request.send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    if !status.is_success() {
        return Err(AiError::from_status(status.as_u16(), &bytes));
    }
    Ok(bytes.into())
}

pub(crate) fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(index: Option<usize>, embedding: Vec<f32>) -> Item {
        Item { index, embedding }
    }

    #[test]
    fn ordered_by_index_and_normalised() {
        let v = in_order(
            vec![item(Some(1), vec![0.0, 2.0]), item(Some(0), vec![3.0, 4.0])],
            2,
        )
        .unwrap();
        assert_eq!(v, vec![vec![0.6, 0.8], vec![0.0, 1.0]]);
        let v = in_order(
            vec![item(None, vec![0.0, 0.0]), item(None, vec![5.0, 0.0])],
            2,
        )
        .unwrap();
        assert_eq!(v, vec![vec![0.0, 0.0], vec![1.0, 0.0]]);
    }

    #[test]
    fn malformed_data_is_a_protocol_error() {
        for (items, n) in [
            (vec![item(Some(0), vec![1.0])], 2),
            (vec![item(Some(0), vec![1.0]), item(Some(0), vec![1.0])], 2),
            (vec![item(Some(5), vec![1.0])], 1),
            (vec![item(Some(0), vec![])], 1),
            (vec![item(Some(0), vec![f32::NAN])], 1),
        ] {
            assert!(matches!(in_order(items, n), Err(AiError::Protocol(_))));
        }
    }
}
