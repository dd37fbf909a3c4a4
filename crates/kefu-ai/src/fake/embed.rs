//! The fake `/v1/embeddings`: deterministic vectors from hashed words and
//! character bigrams, so that texts sharing words (or, in Chinese, shared
//! pairs of characters) get similar vectors, and a different model gives
//! unrelated ones.

use super::{error, error_u16, record, EmbedBehaviour, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// Length of the fake vectors.
pub const FAKE_DIMENSIONS: usize = 64;

/// The vector the fake returns for `text` under `model`, as sent: not
/// normalised (clients must normalise), the same for `query` and
/// `passage` (`input_type` is checked and recorded, nothing more).
/// Features: lower-cased ASCII words, and bigrams (single characters for
/// a lone one) of the other characters, each hashed with the model's name
/// into a dimension and a sign.
pub fn fake_embedding(model: &str, text: &str) -> Vec<f32> {
    let mut v = vec![0f32; FAKE_DIMENSIONS];
    let mut add = |feature: &str| {
        let h = fnv(fnv(FNV_OFFSET, model.as_bytes()) ^ 0xff, feature.as_bytes());
        let dim = (h % FAKE_DIMENSIONS as u64) as usize;
        v[dim] += if (h >> 40) & 1 == 0 { 1.0 } else { -1.0 };
    };
    let lower = text.to_lowercase();
    let mut word = String::new();
    let mut other: Vec<char> = Vec::new();
    let flush_other = |other: &mut Vec<char>, add: &mut dyn FnMut(&str)| {
        match other.len() {
            0 => {}
            1 => add(&other[0].to_string()),
            _ => other
                .windows(2)
                .for_each(|w| add(&w.iter().collect::<String>())),
        }
        other.clear();
    };
    for c in lower.chars() {
        if c.is_ascii_alphanumeric() {
            flush_other(&mut other, &mut add);
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            add(&word);
            word.clear();
        }
        if c.is_alphanumeric() {
            other.push(c);
        } else {
            flush_other(&mut other, &mut add);
        }
    }
    if !word.is_empty() {
        add(&word);
    }
    flush_other(&mut other, &mut add);
    // A bias dimension, so that no text gets the zero vector.
    v[0] += 0.5;
    v
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub(super) async fn handle(
    State(script): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = match record(&script, "/v1/embeddings", &headers, &body) {
        Ok(json) => json,
        Err((status, message)) => return error(status, message),
    };
    let behaviour = {
        let mut s = script.lock().unwrap_or_else(|e| e.into_inner());
        let now = s.embed.clone();
        if let EmbedBehaviour::FailTimes(n) = now {
            s.embed = if n > 1 {
                EmbedBehaviour::FailTimes(n - 1)
            } else {
                EmbedBehaviour::Ok
            };
        }
        now
    };
    match behaviour {
        EmbedBehaviour::Ok => {}
        EmbedBehaviour::Error { status, message } => return error_u16(status, &message),
        EmbedBehaviour::FailTimes(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is overloaded; retry later.",
            )
        }
        EmbedBehaviour::Delay(pause) => tokio::time::sleep(pause).await,
    }
    match respond(&json) {
        Ok(body) => Json(body).into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, &message),
    }
}

/// The response body for a valid request, or what is wrong with it.
fn respond(request: &Value) -> Result<Value, String> {
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .ok_or("you must provide a model parameter")?;
    let inputs: Vec<&str> = match request.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().ok_or("'input' items must be strings"))
            .collect::<Result<_, _>>()?,
        _ => return Err("'input' must be a non-empty string or array of strings".into()),
    };
    match request.get("input_type") {
        None => {}
        Some(t) if t == "query" || t == "passage" => {}
        Some(t) => return Err(format!("input_type {t} is not one of 'query', 'passage'")),
    }
    // Returned last first: clients must order by `index`.
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .rev()
        .map(|(index, text)| json!({ "object": "embedding", "index": index, "embedding": fake_embedding(model, text) }))
        .collect();
    let tokens: usize = inputs.iter().map(|t| t.chars().count()).sum();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    }

    #[test]
    fn similar_texts_get_similar_vectors() {
        let e = |t| fake_embedding("m", t);
        assert_eq!(e("How do I return an item?"), e("How do I return an item?"));
        let near = cosine(&e("how do I return an item"), &e("return an item please"));
        let far = cosine(
            &e("how do I return an item"),
            &e("shipping to Canada costs extra"),
        );
        assert!(near > far, "{near} vs {far}");
        let near = cosine(&e("如何申请退货退款"), &e("退货退款怎么申请"));
        let far = cosine(&e("如何申请退货退款"), &e("国际运费如何计算"));
        assert!(near > far, "{near} vs {far}");
        assert_ne!(
            fake_embedding("a", "same text"),
            fake_embedding("b", "same text")
        );
        assert!(fake_embedding("m", "").iter().any(|x| *x != 0.0));
    }

    #[test]
    fn requests_are_checked() {
        assert!(respond(&json!({ "input": ["x"] })).is_err());
        assert!(respond(&json!({ "model": "m", "input": [] })).is_err());
        assert!(respond(&json!({ "model": "m", "input": [1] })).is_err());
        assert!(respond(&json!({ "model": "m", "input": ["x"], "input_type": "doc" })).is_err());
        let ok = respond(&json!({ "model": "m", "input": "x", "input_type": "query" })).unwrap();
        assert_eq!(ok["data"][0]["index"], 0);
    }
}
