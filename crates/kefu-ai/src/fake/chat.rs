//! The fake `/v1/chat/completions`: streamed as real servers do (a role
//! chunk, content chunks, a finish chunk, a usage chunk when asked for,
//! `data: [DONE]`), each event written in two halves so that clients meet
//! events — and characters — split across reads; or one JSON completion
//! when `stream` is not set.

use super::{error, error_u16, record, ChatBehaviour, Shared};
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(super) async fn handle(
    State(script): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = match record(&script, "/v1/chat/completions", &headers, &body) {
        Ok(json) => json,
        Err((status, message)) => return error(status, message),
    };
    let behaviour = script
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .chat
        .clone();
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if model.is_empty() || messages.is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "'model' and a non-empty 'messages' are required",
        );
    }
    let mut stream = request.get("stream") == Some(&Value::Bool(true));
    let (pieces, gap, stall) = match behaviour {
        ChatBehaviour::Auto => (split(&auto_reply(&messages)), Duration::ZERO, false),
        ChatBehaviour::Reply(text) => (split(&text), Duration::ZERO, false),
        ChatBehaviour::Pieces(pieces) => (pieces, Duration::ZERO, false),
        ChatBehaviour::Refuse => (
            vec!["NO".into(), "_ANS".into(), "WER".into()],
            Duration::ZERO,
            false,
        ),
        ChatBehaviour::Error { status, message } => return error_u16(status, &message),
        ChatBehaviour::Delay(pause, text) => {
            tokio::time::sleep(pause).await;
            (split(&text), Duration::ZERO, false)
        }
        ChatBehaviour::StallAfterFirstToken(text) => (split(&text), Duration::ZERO, true),
        ChatBehaviour::Slow(gap, text) => (split(&text), gap, false),
        ChatBehaviour::IgnoreStream(text) => {
            stream = false;
            (split(&text), Duration::ZERO, false)
        }
        ChatBehaviour::RawSse(raw) => {
            return sse(move |tx| async move { write_split(&tx, &raw, 3).await })
        }
    };
    let prompt_tokens: usize = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .map(|c| c.chars().count())
        .sum();
    let usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": pieces.len(),
        "total_tokens": prompt_tokens + pieces.len(),
    });
    let id = format!("chatcmpl-fake-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    if !stream {
        return Json(json!({
            "id": id, "object": "chat.completion", "created": 0, "model": model,
            "choices": [{ "index": 0, "message": { "role": "assistant", "content": pieces.concat() }, "finish_reason": "stop" }],
            "usage": usage,
        }))
        .into_response();
    }
    let include_usage =
        request.pointer("/stream_options/include_usage") == Some(&Value::Bool(true));
    sse(move |tx| async move {
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        };
        let mut events = vec![
            ": fake keep-alive\n\n".to_owned(),
            data(&chunk(
                json!({ "role": "assistant", "content": "" }),
                Value::Null,
            )),
        ];
        for (i, piece) in pieces.iter().enumerate() {
            events.push(data(&chunk(json!({ "content": piece }), Value::Null)));
            if stall && i == 0 {
                for e in events.drain(..) {
                    write_split(&tx, &e, e.len() / 2 + 1).await;
                }
                // Nothing more, until the client hangs up.
                tx.closed().await;
                return;
            }
        }
        events.push(data(&chunk(json!({}), json!("stop"))));
        if include_usage {
            events.push(data(&json!({
                "id": id, "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [], "usage": usage,
            })));
        }
        events.push("data: [DONE]\n\n".to_owned());
        for (i, e) in events.iter().enumerate() {
            if i > 1 && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            write_split(&tx, e, e.len() / 2 + 1).await;
        }
    })
}

/// A `text/event-stream` response whose body `produce` writes.
fn sse<F, Fut>(produce: F) -> Response
where
    F: FnOnce(mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(produce(tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|bytes| (Ok::<_, Infallible>(bytes), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

fn data(v: &Value) -> String {
    format!("data: {v}\n\n")
}

/// Writes `text` in pieces of `size` bytes (splitting characters too),
/// pausing between them so that they leave as separate TCP writes.
async fn write_split(tx: &mpsc::Sender<Bytes>, text: &str, size: usize) {
    for piece in text.as_bytes().chunks(size.max(1)) {
        if tx.send(Bytes::copy_from_slice(piece)).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// `text` in chunks of about four characters, the way models stream.
fn split(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(4).map(|c| c.iter().collect()).collect()
}

/// The `Auto` reply: the first passage's title and first line, cited.
fn auto_reply(messages: &[Value]) -> String {
    let user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(|m| m.get("content").and_then(Value::as_str))
        .unwrap_or_default();
    let mut lines = user.lines();
    match lines.find_map(|l| l.strip_prefix("[1] ")) {
        Some(title) => {
            let first = lines.next().unwrap_or_default().trim();
            format!("{title}: {first} [1]")
        }
        None => crate::NO_ANSWER.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_replies_from_the_first_passage() {
        let messages = vec![
            json!({ "role": "system", "content": "rules" }),
            json!({ "role": "user", "content": "Passages:\n\n[1] Returns\nWithin 7 days.\n\nQuestion: how?" }),
        ];
        assert_eq!(auto_reply(&messages), "Returns: Within 7 days. [1]");
        assert_eq!(
            auto_reply(&[json!({ "role": "user", "content": "hi" })]),
            "NO_ANSWER"
        );
        assert_eq!(split("退货需要七天时间"), vec!["退货需要", "七天时间"]);
    }
}
