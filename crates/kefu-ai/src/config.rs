//! Settings of the clients, embedded in the application's configuration as
//! the `[embeddings]`, `[llm]` and `[rerank]` sections. Every field has a
//! default, so a section may name only what it changes;
//! [`EmbeddingsClient::new`], [`ChatClient::new`] and [`RerankClient::new`]
//! check the values. `Debug` never shows the API key
//! (it is a [`SecretString`]); `Serialize` does, like the application's
//! other secrets, so that figment can take the defaults from it.
//!
//! [`EmbeddingsClient::new`]: crate::EmbeddingsClient::new
//! [`ChatClient::new`]: crate::ChatClient::new
//! [`RerankClient::new`]: crate::RerankClient::new

use crate::AiError;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// `[embeddings]`: an OpenAI-compatible `/embeddings` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddingsConfig {
    /// Base URL, up to and including the version, e.g.
    /// `http://127.0.0.1:8000/v1`; the client appends `/embeddings`.
    pub url: String,
    /// The model, for queries and passages alike unless overridden below.
    pub model: String,
    /// Model for search queries (asymmetric model pairs).
    pub query_model: Option<String>,
    /// Model for indexed passages (asymmetric model pairs).
    pub passage_model: Option<String>,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub api_key: Option<SecretString>,
    /// Per request (one batch), connection included.
    pub timeout_ms: u64,
    /// Texts per request.
    pub batch_size: usize,
    /// Send `"input_type": "query" | "passage"` (NVIDIA NIM, Cohere-style
    /// servers; most others ignore it, a few strict ones reject it).
    pub send_input_type: bool,
    /// Further tries of a batch after a connection failure, 429 or 5xx
    /// (not after a timeout), 200 ms apart and doubling.
    pub retries: u32,
}

impl Default for EmbeddingsConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000/v1".into(),
            model: String::new(),
            query_model: None,
            passage_model: None,
            api_key: None,
            timeout_ms: 10_000,
            batch_size: 16,
            send_input_type: true,
            retries: 2,
        }
    }
}

/// `[llm]`: an OpenAI-compatible `/chat/completions` endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// Base URL, e.g. `http://127.0.0.1:8000/v1`; the client appends
    /// `/chat/completions`.
    pub url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub api_key: Option<SecretString>,
    /// Whole answer, from sending the request to the last token.
    pub timeout_ms: u64,
    /// From sending the request to the first piece of text.
    pub first_token_timeout_ms: u64,
    pub max_tokens: u32,
    pub temperature: f32,
    /// Each passage's text is cut to this many characters in the prompt.
    pub max_passage_chars: usize,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000/v1".into(),
            model: String::new(),
            api_key: None,
            timeout_ms: 20_000,
            first_token_timeout_ms: 8_000,
            max_tokens: 512,
            temperature: 0.2,
            max_passage_chars: 1500,
        }
    }
}

/// `[rerank]`: a `/rerank` endpoint that scores passages against a question
/// with a cross-encoder (vLLM, Xinference, Jina, Cohere, LiteLLM; Hugging
/// Face TEI with `api = "tei"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RerankConfig {
    /// Base URL, e.g. `http://127.0.0.1:8000/v1` (TEI: the server's root,
    /// `http://127.0.0.1:8080`); the client appends `/rerank`.
    pub url: String,
    /// The reranker model (may be empty with `api = "tei"`, which serves
    /// one model and reads no name).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub api_key: Option<SecretString>,
    /// The request's shape; either response shape is understood.
    pub api: RerankApi,
    /// How many of the best search hits are reranked (the rest keep their
    /// place after them).
    pub top_k: usize,
    /// Per request, connection included; on expiry the search keeps its
    /// own order.
    pub timeout_ms: u64,
    /// Each document (title and passage) is cut to this many characters.
    pub max_document_chars: usize,
}

impl Default for RerankConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8000/v1".into(),
            model: String::new(),
            api_key: None,
            api: RerankApi::Cohere,
            top_k: 10,
            timeout_ms: 800,
            max_document_chars: 2000,
        }
    }
}

/// The request shape of a `/rerank` endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RerankApi {
    /// `{model, query, documents, top_n}` → `{results: [{index,
    /// relevance_score}]}`: Cohere's and Jina's API, served by vLLM,
    /// Xinference, LiteLLM and others. (`"jina"` is read as this too.)
    #[serde(alias = "jina")]
    Cohere,
    /// Hugging Face text-embeddings-inference: `{query, texts, truncate}`
    /// → `[{index, score}]`.
    Tei,
}

fn ser_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_some(secret.expose_secret()),
        None => s.serialize_none(),
    }
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|k| !k.is_empty())
        .map(SecretString::from))
}

/// `{base}/{path}` as a checked URL: `base` must be an absolute http(s)
/// URL. (https also needs TLS in reqwest, which the workspace leaves out
/// so far: such a request fails with [`AiError::Config`].)
pub(crate) fn endpoint(section: &str, base: &str, path: &str) -> Result<reqwest::Url, AiError> {
    let joined = format!("{}/{path}", base.trim_end_matches('/'));
    let url = reqwest::Url::parse(&joined)
        .map_err(|e| AiError::Config(format!("[{section}] url {base:?}: {e}")))?;
    match url.scheme() {
        "http" | "https" if url.has_host() => Ok(url),
        other => Err(AiError::Config(format!(
            "[{section}] url {base:?}: not an http(s) URL (scheme {other:?})"
        ))),
    }
}

/// A non-empty model name, or a configuration error naming the key.
pub(crate) fn require_model(section: &str, key: &str, model: &str) -> Result<(), AiError> {
    if model.trim().is_empty() {
        return Err(AiError::Config(format!("[{section}] {key} is empty")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_partial_sections() {
        let cfg: EmbeddingsConfig =
            serde_json::from_str(r#"{"model":"bge-m3","api_key":"sk-secret"}"#).unwrap();
        assert_eq!(cfg.timeout_ms, 10_000);
        assert_eq!(cfg.batch_size, 16);
        assert!(cfg.send_input_type);
        assert_eq!(cfg.model, "bge-m3");
        let llm: LlmConfig = serde_json::from_str(r#"{"model":"qwen"}"#).unwrap();
        assert_eq!(
            (llm.timeout_ms, llm.first_token_timeout_ms, llm.max_tokens),
            (20_000, 8_000, 512)
        );
        assert_eq!(llm.max_passage_chars, 1500);
        assert!((llm.temperature - 0.2).abs() < f32::EPSILON);
    }

    #[test]
    fn rerank_defaults_and_api_names() {
        let cfg: RerankConfig = serde_json::from_str(r#"{"model":"bge-reranker-v2-m3"}"#).unwrap();
        assert_eq!((cfg.top_k, cfg.timeout_ms), (10, 800));
        assert_eq!(cfg.max_document_chars, 2000);
        assert_eq!(cfg.api, RerankApi::Cohere);
        for (name, api) in [
            ("cohere", RerankApi::Cohere),
            ("jina", RerankApi::Cohere),
            ("tei", RerankApi::Tei),
        ] {
            let cfg: RerankConfig =
                serde_json::from_value(serde_json::json!({ "api": name })).unwrap();
            assert_eq!(cfg.api, api, "{name}");
        }
        assert!(serde_json::from_str::<RerankConfig>(r#"{"api":"openai"}"#).is_err());
        let keyed: RerankConfig = serde_json::from_str(r#"{"api_key":"jina_secret"}"#).unwrap();
        assert!(!format!("{keyed:?}").contains("jina_secret"));
    }

    #[test]
    fn debug_redacts_the_api_key() {
        let cfg: LlmConfig = serde_json::from_str(r#"{"api_key":"sk-secret"}"#).unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-secret"), "{shown}");
        let empty: LlmConfig = serde_json::from_str(r#"{"api_key":""}"#).unwrap();
        assert!(empty.api_key.is_none());
    }

    #[test]
    fn endpoints_are_joined_and_checked() {
        let url = endpoint("llm", "http://h:1/v1/", "chat/completions").unwrap();
        assert_eq!(url.as_str(), "http://h:1/v1/chat/completions");
        assert!(matches!(
            endpoint("llm", "h:1", "x"),
            Err(AiError::Config(_))
        ));
        assert!(matches!(endpoint("llm", "", "x"), Err(AiError::Config(_))));
        assert!(require_model("llm", "model", " ").is_err());
    }
}
