//! Support code for `examples/tune/main.rs`: loading the tuning sets, an
//! embeddings client with a file cache, and a small logistic-regression fit.

use std::collections::HashMap;

use kefu_kb::confidence::{Model, NF};
use kefu_kb::eval::EvalCase;
use kefu_kb::ArticleDoc;
use serde_json::Value;
use uuid::Uuid;

pub struct Set {
    pub name: String,
    pub ws: Uuid,
    pub articles: Vec<ArticleDoc>,
    pub cases: Vec<EvalCase>,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Loads `<data>/<kind>/<lang>` (`kind` = kb-tuning or kb-docs); the
/// off-topic questions are kb-tuning's of the same language (kb-docs has
/// none of its own).
pub fn load_set(data: &str, kind: &str, lang: &str, index: u128) -> Set {
    let ws = Uuid::from_u128(index + 1);
    let name = format!("{}-{lang}", kind.trim_start_matches("kb-"));
    let dir = format!("{data}/{kind}/{lang}");
    let articles = read(&format!("{dir}/articles.jsonl"))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let v: Value = serde_json::from_str(l).expect("article json");
            let strs = |k: &str| -> Vec<String> {
                v[k].as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            ArticleDoc {
                workspace_id: ws,
                article_id: Uuid::from_u128((ws.as_u128() << 32) + i as u128 + 1),
                external_id: v["external_id"].as_str().map(String::from),
                title: v["title"].as_str().unwrap_or_default().into(),
                questions: strs("questions"),
                body: v["body"].as_str().unwrap_or_default().into(),
                tags: strs("tags"),
                locale: v["locale"].as_str().unwrap_or("en").into(),
                version: 1,
            }
        })
        .collect();
    let mut cases =
        EvalCase::parse_jsonl(&read(&format!("{dir}/questions.jsonl"))).expect("questions");
    cases.extend(
        EvalCase::parse_jsonl(&read(&format!("{data}/kb-tuning/{lang}/off-topic.jsonl")))
            .expect("off-topic"),
    );
    Set {
        name,
        ws,
        articles,
        cases,
    }
}

/// OpenAI-compatible embeddings client with a JSON file cache.
pub struct Embedder {
    url: String,
    cache: HashMap<String, Vec<f32>>,
    dirty: bool,
}

const CACHE: &str = "/tmp/kefu-kb-embeddings.json";

impl Embedder {
    pub fn new(base: &str) -> Embedder {
        let cache = std::fs::read_to_string(CACHE)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        Embedder {
            url: format!("{}/embeddings", base.trim_end_matches('/')),
            cache,
            dirty: false,
        }
    }

    pub fn embed(&mut self, kind: &str, texts: &[String]) -> Vec<Vec<f32>> {
        let key = |t: &str| format!("{kind}\u{1}{t}");
        let missing: Vec<&String> = texts
            .iter()
            .filter(|t| !self.cache.contains_key(&key(t)))
            .collect();
        for chunk in missing.chunks(32) {
            let body = serde_json::json!({"model": "multilingual-e5-small", "input": chunk, "input_type": kind});
            let mut resp = ureq::post(&self.url)
                .send_json(&body)
                .expect("embeddings request");
            let v: Value = resp.body_mut().read_json().expect("embeddings json");
            for (t, d) in chunk.iter().zip(v["data"].as_array().expect("data")) {
                let e: Vec<f32> = d["embedding"]
                    .as_array()
                    .expect("embedding")
                    .iter()
                    .map(|x| x.as_f64().unwrap_or(0.0) as f32)
                    .collect();
                self.cache.insert(key(t), e);
            }
            self.dirty = true;
        }
        texts.iter().map(|t| self.cache[&key(t)].clone()).collect()
    }

    pub fn save(&self) {
        if self.dirty {
            std::fs::write(
                CACHE,
                serde_json::to_string(&self.cache).expect("cache json"),
            )
            .expect("write cache");
        }
    }
}

/// L2-regularised logistic regression by gradient descent. Lexical fits
/// use only the lexical features (the semantic weights stay 0).
pub fn fit_logistic(data: &[([f32; NF], bool)], dims: &[usize]) -> Model {
    let mut w = [0f64; NF];
    let mut b = 0f64;
    let n = data.len() as f64;
    let lr = 1.0;
    let l2 = 1e-3;
    for _ in 0..20_000 {
        let mut gw = [0f64; NF];
        let mut gb = 0f64;
        for (x, y) in data {
            let z = b + dims.iter().map(|&d| w[d] * x[d] as f64).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let err = p - if *y { 1.0 } else { 0.0 };
            gb += err;
            for &d in dims {
                gw[d] += err * x[d] as f64;
            }
        }
        b -= lr * gb / n;
        for &d in dims {
            w[d] -= lr * (gw[d] / n + l2 * w[d]);
        }
    }
    Model {
        bias: b as f32,
        weights: w.map(|v| v as f32),
    }
}
