//! [`RerankClient`]: `POST {url}/rerank`, a cross-encoder's relevance score
//! for each of a few documents against one query. One request per call, no
//! retries: a reranker sits inside a visitor's wait, and its caller keeps
//! the search's own order when it fails.

use crate::config::{endpoint, require_model};
use crate::embeddings::{elapsed_ms, post_json};
use crate::mask::mask_pii;
use crate::{AiError, RerankApi, RerankConfig};
use serde::Deserialize;
use serde_json::json;
use std::time::{Duration, Instant};

/// One document's score: `index` into the documents sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    pub index: usize,
    pub score: f32,
}

/// A client of one rerank endpoint; cheap to clone (the connection pool is
/// shared).
#[derive(Debug, Clone)]
pub struct RerankClient {
    http: reqwest::Client,
    url: reqwest::Url,
    cfg: RerankConfig,
}

/// Either answer: Cohere's and Jina's `{results: [{index,
/// relevance_score}]}` or TEI's bare `[{index, score}]`.
#[derive(Deserialize)]
#[serde(untagged)]
enum Response {
    Results { results: Vec<Item> },
    Bare(Vec<Item>),
}

#[derive(Deserialize)]
struct Item {
    index: usize,
    #[serde(alias = "score")]
    relevance_score: f64,
}

impl RerankClient {
    /// Checks the settings (URL; a model name unless `api = "tei"`; `top_k`
    /// of 2 or more; timeout and document size above zero); does not
    /// contact the endpoint.
    pub fn new(cfg: RerankConfig) -> Result<Self, AiError> {
        let url = endpoint("rerank", &cfg.url, "rerank")?;
        if cfg.api == RerankApi::Cohere {
            require_model("rerank", "model", &cfg.model).map_err(|_| {
                AiError::Config(
                    "[rerank] model is empty: name the reranker model (for example \
                     BAAI/bge-reranker-v2-m3), or set api = \"tei\" for a TEI server, \
                     which takes none"
                        .into(),
                )
            })?;
        }
        if cfg.top_k < 2 {
            return Err(AiError::Config(
                "[rerank] top_k must be 2 or more (one hit has nothing to be ranked against)"
                    .into(),
            ));
        }
        if cfg.timeout_ms == 0 || cfg.max_document_chars == 0 {
            return Err(AiError::Config(
                "[rerank] timeout_ms and max_document_chars must be above 0".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(cfg.timeout_ms))
            .build()
            .map_err(|e| AiError::Config(format!("[rerank] HTTP client: {e}")))?;
        Ok(Self { http, url, cfg })
    }

    /// How many of the best hits to rerank.
    pub fn top_k(&self) -> usize {
        self.cfg.top_k
    }

    /// The documents' scores against `query`, best first (ties in document
    /// order). The query is masked ([`mask_pii`]) before it is sent; the
    /// documents are sent as given, each cut to `max_document_chars`. The
    /// endpoint may return fewer scores than documents (a `top_n`), never
    /// none, an index twice or one out of range. No request for no
    /// documents.
    pub async fn rerank(&self, query: &str, documents: &[String]) -> Result<Vec<Ranked>, AiError> {
        if documents.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let query = mask_pii(query);
        let max = self.cfg.max_document_chars;
        let docs: Vec<&str> = documents.iter().map(|d| cut(d, max)).collect();
        let body = match self.cfg.api {
            RerankApi::Cohere => json!({
                "model": self.cfg.model,
                "query": query,
                "documents": docs,
                "top_n": docs.len(),
            }),
            // TEI refuses texts beyond the model's length unless told to
            // truncate them.
            RerankApi::Tei => json!({ "query": query, "texts": docs, "truncate": true }),
        };
        let bytes = post_json(&self.http, &self.url, self.cfg.api_key.as_ref(), &body).await?;
        let ranked = parse(&bytes, docs.len())?;
        tracing::info!(
            model = %self.cfg.model,
            documents = docs.len(),
            latency_ms = elapsed_ms(started),
            "rerank"
        );
        Ok(ranked)
    }
}

/// `s` cut to `max` characters (on a character boundary).
fn cut(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// The scores of a 2xx body, checked against `n` documents and sorted.
fn parse(body: &[u8], n: usize) -> Result<Vec<Ranked>, AiError> {
    let items = match serde_json::from_slice::<Response>(body) {
        Ok(Response::Results { results }) | Ok(Response::Bare(results)) => results,
        Err(_) => return Err(AiError::Protocol(
            "rerank response is neither {results: [{index, relevance_score}]} nor [{index, score}]"
                .into(),
        )),
    };
    if items.is_empty() {
        return Err(AiError::Protocol(format!(
            "rerank returned no scores for {n} documents"
        )));
    }
    let mut seen = vec![false; n];
    let mut ranked = Vec::with_capacity(items.len());
    for item in items {
        let slot = seen.get_mut(item.index).ok_or_else(|| {
            AiError::Protocol(format!(
                "rerank index {} out of range ({n} documents)",
                item.index
            ))
        })?;
        if std::mem::replace(slot, true) {
            return Err(AiError::Protocol(format!(
                "rerank index {} twice",
                item.index
            )));
        }
        let score = item.relevance_score as f32;
        if !score.is_finite() {
            return Err(AiError::Protocol(format!(
                "rerank score of {} is not finite",
                item.index
            )));
        }
        ranked.push(Ranked {
            index: item.index,
            score,
        });
    }
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    Ok(ranked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indices(body: &str, n: usize) -> Result<Vec<usize>, AiError> {
        parse(body.as_bytes(), n).map(|r| r.iter().map(|r| r.index).collect())
    }

    #[test]
    fn both_response_shapes_are_read_and_sorted() {
        let cohere = r#"{"id":"x","results":[{"index":0,"relevance_score":0.1},
            {"index":2,"relevance_score":0.9,"document":{"text":"t"}},{"index":1,"relevance_score":0.5}],
            "usage":{"total_tokens":9}}"#;
        assert_eq!(indices(cohere, 3).unwrap(), vec![2, 1, 0]);
        let tei = r#"[{"index":1,"score":0.98},{"index":0,"score":0.02}]"#;
        assert_eq!(indices(tei, 2).unwrap(), vec![1, 0]);
        // Fewer than sent (a top_n), ties in document order.
        let ties =
            r#"{"results":[{"index":3,"relevance_score":0.5},{"index":1,"relevance_score":0.5}]}"#;
        assert_eq!(indices(ties, 4).unwrap(), vec![1, 3]);
    }

    #[test]
    fn malformed_bodies_are_protocol_errors() {
        for (body, n) in [
            ("not json", 2),
            (r#"{"data":[]}"#, 2),
            (r#"{"results":[]}"#, 2),
            (r#"[{"index":0}]"#, 1),
            (r#"[{"index":-1,"score":1}]"#, 1),
            (r#"[{"index":2,"score":1}]"#, 2),
            (r#"[{"index":0,"score":1},{"index":0,"score":0.5}]"#, 2),
            (r#"[{"index":0,"score":1e400}]"#, 1),
            (r#"[{"index":0,"score":1e300}]"#, 1),
            (r#"[{"index":0,"score":"high"}]"#, 1),
        ] {
            assert!(
                matches!(parse(body.as_bytes(), n), Err(AiError::Protocol(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn a_missing_model_names_the_way_out() {
        let e = RerankClient::new(RerankConfig::default()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("[rerank] model is empty"), "{msg}");
        assert!(msg.contains("api = \"tei\""), "{msg}");
        // TEI serves one model and reads no name.
        let tei = RerankConfig {
            api: RerankApi::Tei,
            ..RerankConfig::default()
        };
        assert!(RerankClient::new(tei).is_ok());
    }

    #[test]
    fn documents_are_cut_on_characters() {
        assert_eq!(cut("退款政策说明", 2), "退款");
        assert_eq!(cut("abc", 5), "abc");
    }
}
