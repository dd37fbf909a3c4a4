//! `ChatClient` when things go wrong, over real HTTP against the fake:
//! error bodies, the first-token and total time limits, malformed event
//! streams; and what its logs carry (numbers, never text).

mod support;

use kefu_ai::fake::{ChatBehaviour, FakeOpenAi};
use kefu_ai::{AiError, ChatClient, LlmConfig};
use std::time::{Duration, Instant};
use support::{ask, config};

#[tokio::test]
async fn error_bodies_become_http_errors() {
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::Error {
        status: 429,
        message: "Rate limit reached for requests".into(),
    });
    let (result, deltas) = ask(&ChatClient::new(config(&fake)).unwrap(), "?", "en").await;
    match result {
        Err(AiError::Http {
            status: 429,
            message,
        }) => assert_eq!(message, "Rate limit reached for requests"),
        other => panic!("{other:?}"),
    }
    assert!(deltas.is_empty());
}

#[tokio::test]
async fn the_first_token_must_come_in_time() {
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::Delay(
        Duration::from_secs(3),
        "late [1]".into(),
    ));
    let client = ChatClient::new(LlmConfig {
        first_token_timeout_ms: 200,
        ..config(&fake)
    })
    .unwrap();
    let started = Instant::now();
    let (result, deltas) = ask(&client, "?", "en").await;
    assert!(matches!(result, Err(AiError::Timeout)), "{result:?}");
    assert!(deltas.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_stream_that_stalls_after_the_first_token_times_out() {
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::StallAfterFirstToken(
        "Returns take 7 days [1].".into(),
    ));
    let client = ChatClient::new(LlmConfig {
        timeout_ms: 500,
        first_token_timeout_ms: 400,
        ..config(&fake)
    })
    .unwrap();
    let started = Instant::now();
    let (result, deltas) = ask(&client, "?", "en").await;
    assert!(matches!(result, Err(AiError::Timeout)), "{result:?}");
    assert_eq!(deltas, vec!["Retu"]);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn the_whole_answer_must_come_in_time() {
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::Slow(
        Duration::from_millis(100),
        "a slow answer that goes on and on [1]".into(),
    ));
    let client = ChatClient::new(LlmConfig {
        timeout_ms: 450,
        ..config(&fake)
    })
    .unwrap();
    let (result, deltas) = ask(&client, "?", "en").await;
    assert!(matches!(result, Err(AiError::Timeout)), "{result:?}");
    assert!(
        !deltas.is_empty() && deltas.concat().len() < 30,
        "{deltas:?}"
    );
}

#[tokio::test]
async fn raw_event_streams() {
    let fake = FakeOpenAi::start().await;
    let client = ChatClient::new(config(&fake)).unwrap();
    let chunk = |s: &str| {
        format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"{s}"}},"finish_reason":null}}]}}"#)
    };
    // CRLF, comments, no usage, no [DONE] but a finish reason.
    fake.set_chat(ChatBehaviour::RawSse(format!(
        ": hello\r\n\r\ndata: {}\r\n\r\ndata: {}\r\n\r\ndata: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\r\n\r\n",
        chunk("退货"),
        chunk("需7天[1]")
    )));
    let (answer, deltas) = ask(&client, "?", "zh").await;
    let answer = answer.unwrap();
    assert_eq!(
        (answer.text.as_str(), deltas.concat().as_str()),
        ("退货需7天[1]", "退货需7天[1]")
    );
    assert_eq!(
        (answer.prompt_tokens, answer.cited.clone()),
        (None, vec![0])
    );

    for (raw, what) in [
        ("data: {not json}\n\n".to_owned(), "bad JSON"),
        (format!("data: {}\n\n", chunk("cut off")), "no end"),
        (
            "data: {\"error\":{\"message\":\"overloaded\"}}\n\n".to_owned(),
            "error event",
        ),
    ] {
        fake.set_chat(ChatBehaviour::RawSse(raw));
        let (result, _) = ask(&client, "?", "en").await;
        assert!(
            matches!(result, Err(AiError::Protocol(_))),
            "{what}: {result:?}"
        );
    }
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_carry_numbers_not_text() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::Reply("Secret reply text [1].".into()));
    let (answer, _) = ask(
        &ChatClient::new(config(&fake)).unwrap(),
        "secret question 13812345678",
        "en",
    )
    .await;
    let answer = answer.unwrap();
    fake.set_chat(ChatBehaviour::Error {
        status: 500,
        message: "boom for 13812345678".into(),
    });
    assert!(ask(&ChatClient::new(config(&fake)).unwrap(), "?", "en")
        .await
        .0
        .is_err());
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        text.contains("llm answer") && text.contains("model=\"fake-chat\""),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "completion_tokens={}",
            answer.completion_tokens.unwrap()
        )),
        "{text}"
    );
    assert!(text.contains("latency_ms="), "{text}");
    for secret in [
        "Secret reply",
        "secret question",
        "13812345678",
        "Items can be returned",
    ] {
        assert!(!text.contains(secret), "{secret} logged: {text}");
    }
}
