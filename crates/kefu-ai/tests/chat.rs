//! `ChatClient` against the fake server over real HTTP: streamed deltas,
//! citations, usage, the request sent (prompt, masking of personal data),
//! refusals, non-streaming servers and settings.

mod support;

use kefu_ai::fake::{ChatBehaviour, FakeOpenAi};
use kefu_ai::{AiError, ChatClient, LlmConfig, Passage};
use secrecy::SecretString;
use support::{ask, config};

#[tokio::test]
async fn deltas_stream_in_order_with_citations_and_usage() {
    let fake = FakeOpenAi::start().await;
    let reply = "You can return items within 7 days [1]. Refunds go back to the card [2][1].";
    fake.set_chat(ChatBehaviour::Reply(reply.into()));
    let client = ChatClient::new(config(&fake)).unwrap();
    let (answer, deltas) = ask(&client, "How do returns work?", "en").await;
    let answer = answer.unwrap();
    assert!(deltas.len() > 5, "{deltas:?}");
    assert_eq!(deltas.concat(), reply);
    assert_eq!(answer.text, reply);
    assert_eq!(answer.cited, vec![0, 1]);
    assert!(!answer.refused);
    let sent = fake.chat_requests();
    let prompt_chars: usize = sent[0]
        .message_texts()
        .iter()
        .map(|t| t.chars().count())
        .sum();
    assert_eq!(answer.prompt_tokens, Some(prompt_chars as u32));
    assert_eq!(answer.completion_tokens, Some(deltas.len() as u32));
    assert!(answer.latency_ms < 5_000);
}

#[tokio::test]
async fn the_request_is_a_streamed_chat_completion() {
    let fake = FakeOpenAi::start().await;
    let cfg = LlmConfig {
        api_key: Some(SecretString::from("sk-chat")),
        max_tokens: 300,
        temperature: 0.5,
        ..config(&fake)
    };
    fake.require_api_key(Some("sk-chat"));
    let client = ChatClient::new(cfg).unwrap();
    let (answer, _) = ask(&client, "退货要多久？", "zh-CN").await;
    // The default behaviour answers from the first passage.
    assert_eq!(
        answer.unwrap().text,
        "Returns: Items can be returned within 7 days. [1]"
    );
    let sent = &fake.chat_requests()[0];
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-chat"));
    let b = &sent.body;
    assert_eq!(
        (b["model"].as_str(), b["stream"].as_bool()),
        (Some("fake-chat"), Some(true))
    );
    assert_eq!(b["stream_options"]["include_usage"], true);
    assert_eq!(
        (b["max_tokens"].as_u64(), b["temperature"].as_f64()),
        (Some(300), Some(0.5))
    );
    assert_eq!(b["messages"][0]["role"], "system");
    assert_eq!(b["messages"][1]["role"], "user");
    let texts = sent.message_texts();
    assert!(
        texts[0].contains("NO_ANSWER") && texts[0].contains("资料"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with("资料：\n\n[1] Returns\n"),
        "{}",
        texts[1]
    );
    assert!(
        texts[1].contains("[3] Shipping\n") && texts[1].ends_with("问题： 退货要多久？"),
        "{}",
        texts[1]
    );

    ask(&client, "How long?", "en-GB").await.0.unwrap();
    let texts = fake.chat_requests()[1]
        .message_texts()
        .iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>();
    assert!(
        texts[0].contains("ONLY the numbered passages"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].starts_with("Passages:\n\n[1] Returns\n")
            && texts[1].ends_with("Question: How long?")
    );
}

#[tokio::test]
async fn personal_data_is_masked_before_sending() {
    let fake = FakeOpenAi::start().await;
    let client = ChatClient::new(config(&fake)).unwrap();
    let mut on_delta = |_: &str| {};
    let passages = vec![Passage {
        title: "Contact zs@example.com".into(),
        text: "Call 13812345678 or use card 4111 1111 1111 1111.".into(),
    }];
    client
        .answer(
            "我的手机13912345678，身份证11010519491231002X",
            &passages,
            "zh",
            &mut on_delta,
        )
        .await
        .unwrap();
    let user = fake.chat_requests()[0].message_texts()[1].to_owned();
    for secret in [
        "zs@example.com",
        "13812345678",
        "4111",
        "13912345678",
        "11010519491231002X",
    ] {
        assert!(!user.contains(secret), "{secret} was sent: {user}");
    }
    for placeholder in ["[email]", "[phone]", "[card]", "[id]"] {
        assert!(user.contains(placeholder), "{placeholder} missing: {user}");
    }
}

#[tokio::test]
async fn long_passages_are_cut() {
    let fake = FakeOpenAi::start().await;
    let client = ChatClient::new(LlmConfig {
        max_passage_chars: 10,
        ..config(&fake)
    })
    .unwrap();
    let passages = vec![Passage {
        title: "T".into(),
        text: "0123456789abcdef".into(),
    }];
    client
        .answer("q", &passages, "en", &mut |_: &str| {})
        .await
        .unwrap();
    assert!(fake.chat_requests()[0].message_texts()[1].contains("[1] T\n0123456789…\n"));
}

#[tokio::test]
async fn markers_outside_the_passages_are_dropped() {
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::Reply(
        "Free above 99 yuan [3]. Also [7] and [1, 9].".into(),
    ));
    let (answer, _) = ask(&ChatClient::new(config(&fake)).unwrap(), "shipping?", "en").await;
    let answer = answer.unwrap();
    assert_eq!(answer.cited, vec![2, 0]);
    assert_eq!(answer.text, "Free above 99 yuan [3]. Also and [1].");
}

#[tokio::test]
async fn refusals_are_detected_and_held_back() {
    let fake = FakeOpenAi::start().await;
    let client = ChatClient::new(config(&fake)).unwrap();
    fake.set_chat(ChatBehaviour::Refuse);
    let (answer, deltas) = ask(&client, "What is the CEO's name?", "en").await;
    let answer = answer.unwrap();
    assert!(answer.refused && answer.cited.is_empty(), "{answer:?}");
    assert!(deltas.is_empty(), "{deltas:?}");

    fake.set_chat(ChatBehaviour::Pieces(vec![
        "\n".into(),
        "NO".into(),
        "_ANSWER".into(),
    ]));
    let (answer, deltas) = ask(&client, "?", "en").await;
    assert!(answer.unwrap().refused && deltas.is_empty(), "{deltas:?}");

    fake.set_chat(ChatBehaviour::Reply("抱歉，我不知道。".into()));
    assert!(ask(&client, "？", "zh").await.0.unwrap().refused);

    fake.set_chat(ChatBehaviour::Reply(
        "I don't know the hours, but returns take 7 days [1].".into(),
    ));
    assert!(!ask(&client, "?", "en").await.0.unwrap().refused);

    let requests = fake.chat_requests().len();
    let answer = client
        .answer("?", &[], "en", &mut |_: &str| {})
        .await
        .unwrap();
    assert!(answer.refused);
    assert_eq!(
        fake.chat_requests().len(),
        requests,
        "no passages, no request"
    );
}

#[tokio::test]
async fn a_server_that_does_not_stream_still_works() {
    let fake = FakeOpenAi::start().await;
    fake.set_chat(ChatBehaviour::IgnoreStream(
        "Free above 99 yuan [3].".into(),
    ));
    let (answer, deltas) = ask(&ChatClient::new(config(&fake)).unwrap(), "?", "en").await;
    let answer = answer.unwrap();
    assert_eq!(
        (answer.text.as_str(), answer.cited.clone()),
        ("Free above 99 yuan [3].", vec![2])
    );
    assert_eq!(deltas.concat(), "Free above 99 yuan [3].");
    assert!(answer.completion_tokens.is_some());
}

#[test]
fn unusable_settings_are_config_errors() {
    let good = LlmConfig {
        model: "m".into(),
        ..LlmConfig::default()
    };
    assert!(ChatClient::new(good.clone()).is_ok());
    for bad in [
        LlmConfig {
            model: " ".into(),
            ..good.clone()
        },
        LlmConfig {
            url: "not a url".into(),
            ..good.clone()
        },
        LlmConfig {
            timeout_ms: 0,
            ..good.clone()
        },
        LlmConfig {
            first_token_timeout_ms: 0,
            ..good.clone()
        },
        LlmConfig {
            temperature: 3.0,
            ..good.clone()
        },
    ] {
        assert!(
            matches!(ChatClient::new(bad.clone()), Err(AiError::Config(_))),
            "{bad:?}"
        );
    }
}
