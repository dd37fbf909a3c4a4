//! The fake `/v1/rerank` and `/rerank`: Cohere's and Jina's shape (a
//! request with `documents` gets `{results: [{index, relevance_score,
//! document}]}`, `top_n` honoured) and TEI's (a request with `texts` gets a
//! bare `[{index, score}]`), best first as real servers answer. The default
//! score is word overlap, see [`fake_rerank_score`].

use super::{error, error_u16, record, RerankBehaviour, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashSet;

/// The score the fake gives `document` for `query` by default: the share
/// of the query's features (lower-cased ASCII words; pairs of other
/// letters, such as Chinese characters) that the document has too, from 0
/// to 1.
pub fn fake_rerank_score(query: &str, document: &str) -> f32 {
    let q = features(query);
    if q.is_empty() {
        return 0.0;
    }
    let d = features(document);
    q.intersection(&d).count() as f32 / q.len() as f32
}

fn features(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut word = String::new();
    let mut other: Vec<char> = Vec::new();
    for c in text.to_lowercase().chars() {
        if !c.is_ascii_alphanumeric() {
            end_word(&mut word, &mut out);
        }
        if c.is_ascii_alphanumeric() || !c.is_alphanumeric() {
            end_run(&mut other, &mut out);
        }
        if c.is_ascii_alphanumeric() {
            word.push(c);
        } else if c.is_alphanumeric() {
            other.push(c);
        }
    }
    end_word(&mut word, &mut out);
    end_run(&mut other, &mut out);
    out
}

fn end_word(word: &mut String, out: &mut HashSet<String>) {
    if !word.is_empty() {
        out.insert(std::mem::take(word));
    }
}

/// A run of non-ASCII letters: its pairs, or the one letter alone.
fn end_run(run: &mut Vec<char>, out: &mut HashSet<String>) {
    match run.len() {
        0 => {}
        1 => {
            out.insert(run[0].to_string());
        }
        _ => out.extend(run.windows(2).map(|w| w.iter().collect::<String>())),
    }
    run.clear();
}

pub(super) async fn handle(
    State(script): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = match record(&script, uri.path(), &headers, &body) {
        Ok(json) => json,
        Err((status, message)) => return error(status, message),
    };
    let behaviour = script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .rerank
        .clone();
    let favour = match behaviour {
        RerankBehaviour::Overlap => None,
        RerankBehaviour::Favour(text) => Some(text),
        RerankBehaviour::Error { status, message } => return error_u16(status, &message),
        RerankBehaviour::Delay(pause) => {
            tokio::time::sleep(pause).await;
            None
        }
        RerankBehaviour::Raw(body) => {
            return (
                StatusCode::OK,
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
    };
    match respond(&json, favour.as_deref()) {
        Ok(body) => Json(body).into_response(),
        Err(message) => error(StatusCode::BAD_REQUEST, &message),
    }
}

/// The response body for a valid request, or what is wrong with it.
fn respond(request: &Value, favour: Option<&str>) -> Result<Value, String> {
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .ok_or("'query' must be a string")?;
    let (tei, docs) = match (request.get("documents"), request.get("texts")) {
        (Some(d), None) => (false, d),
        (None, Some(t)) => (true, t),
        _ => return Err("send either 'documents' or 'texts'".into()),
    };
    let docs: Vec<&str> = match docs.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().ok_or("documents must be strings"))
            .collect::<Result<_, _>>()?,
        _ => return Err("documents must be a non-empty array".into()),
    };
    if !tei {
        request
            .get("model")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .ok_or("you must provide a model parameter")?;
    }
    let score = |doc: &str| match favour {
        Some(text) if doc.contains(text) => 1.0,
        Some(_) => 0.5 * fake_rerank_score(query, doc),
        None => fake_rerank_score(query, doc),
    };
    let mut scored: Vec<(usize, f32)> = docs.iter().map(|d| score(d)).enumerate().collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    if tei {
        return Ok(Value::Array(
            scored
                .iter()
                .map(|(index, score)| json!({ "index": index, "score": score }))
                .collect(),
        ));
    }
    let top_n = match request.get("top_n") {
        None | Some(Value::Null) => docs.len(),
        Some(n) => match n.as_u64() {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Err("'top_n' must be a positive integer".into()),
        },
    };
    let results: Vec<Value> = scored
        .iter()
        .take(top_n)
        .map(|(index, score)| {
            json!({ "index": index, "relevance_score": score, "document": { "text": docs[*index] } })
        })
        .collect();
    let tokens: usize =
        docs.iter().map(|d| d.chars().count()).sum::<usize>() + query.chars().count() * docs.len();
    Ok(json!({
        "id": "rerank-fake",
        "model": request["model"],
        "results": results,
        "usage": { "total_tokens": tokens },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_scores() {
        assert_eq!(
            fake_rerank_score("return an item", "How to return an item"),
            1.0
        );
        assert_eq!(fake_rerank_score("return an item", "shipping costs"), 0.0);
        let s = fake_rerank_score("如何申请退款", "退款将原路返回");
        assert!(s > 0.0 && s < 1.0, "{s}");
        assert_eq!(fake_rerank_score("", "x"), 0.0);
    }

    #[test]
    fn both_shapes_and_top_n() {
        let r = respond(
            &json!({"model":"m","query":"return an item","documents":["shipping","return it","return an item"],"top_n":2}),
            None,
        )
        .unwrap();
        let idx: Vec<_> = r["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["index"].clone())
            .collect();
        assert_eq!(idx, vec![json!(2), json!(1)]);
        let r = respond(
            &json!({"query":"return","texts":["shipping","return"]}),
            Some("ship"),
        )
        .unwrap();
        assert_eq!(r[0]["index"], 0);
        assert_eq!(r[0]["score"], 1.0);
        assert!(
            respond(&json!({"query":"q","documents":["a"]}), None).is_err(),
            "no model"
        );
        assert!(respond(&json!({"model":"m","query":"q","documents":[]}), None).is_err());
        assert!(respond(
            &json!({"model":"m","query":"q","documents":["a"],"texts":["a"]}),
            None
        )
        .is_err());
        assert!(respond(
            &json!({"model":"m","query":"q","documents":["a"],"top_n":0}),
            None
        )
        .is_err());
    }
}
