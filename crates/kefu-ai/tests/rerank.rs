//! `RerankClient` against the fake server over real HTTP: the Cohere/Jina
//! request and response, TEI's, the masked query, the API key, error
//! bodies, timeouts, malformed bodies and configuration errors.

use kefu_ai::fake::{fake_rerank_score, FakeOpenAi, RerankBehaviour};
use kefu_ai::{AiError, RerankApi, RerankClient, RerankConfig};
use secrecy::SecretString;
use std::time::{Duration, Instant};

fn docs(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn order(ranked: &[kefu_ai::Ranked]) -> Vec<usize> {
    ranked.iter().map(|r| r.index).collect()
}

const QUESTION: &str = "how do I return an item";

fn documents() -> Vec<String> {
    docs(&[
        "Shipping\nShipping is free above 99 yuan.",
        "Returns\nHow do I return an item? Within 7 days.",
        "Refunds\nAn item you return is refunded to the card.",
    ])
}

#[tokio::test]
async fn documents_are_scored_best_first() {
    let fake = FakeOpenAi::start().await;
    let client = RerankClient::new(fake.rerank_config()).unwrap();
    let ranked = client.rerank(QUESTION, &documents()).await.unwrap();
    assert_eq!(order(&ranked), vec![1, 2, 0]);
    for r in &ranked {
        let want = fake_rerank_score(QUESTION, &documents()[r.index]);
        assert!((r.score - want).abs() < 1e-6, "{r:?} vs {want}");
    }
    let sent = fake.rerank_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/rerank");
    assert_eq!(sent[0].model(), Some("fake-rerank"));
    assert_eq!(sent[0].query(), Some(QUESTION));
    assert_eq!(sent[0].documents(), documents());
    assert_eq!(sent[0].body["top_n"], 3);
    assert!(sent[0].body.get("texts").is_none(), "{}", sent[0].body);
    assert!(sent[0].authorization.is_none());

    // The favoured document first, whatever the overlap says.
    fake.set_rerank(RerankBehaviour::Favour("Shipping is free".into()));
    let ranked = client.rerank(QUESTION, &documents()).await.unwrap();
    assert_eq!(order(&ranked), vec![0, 1, 2]);
    assert_eq!(ranked[0].score, 1.0);

    assert!(client.rerank(QUESTION, &[]).await.unwrap().is_empty());
    assert_eq!(
        fake.rerank_requests().len(),
        2,
        "no request for no documents"
    );
}

/// Hugging Face TEI: `{query, texts, truncate}` to the server's root, a bare
/// `[{index, score}]` back.
#[tokio::test]
async fn the_tei_shape_is_spoken_too() {
    let fake = FakeOpenAi::start().await;
    let client = RerankClient::new(RerankConfig {
        url: fake.base_url.trim_end_matches("/v1").to_string(),
        model: String::new(),
        api: RerankApi::Tei,
        ..RerankConfig::default()
    })
    .unwrap();
    let ranked = client.rerank(QUESTION, &documents()).await.unwrap();
    assert_eq!(order(&ranked), vec![1, 2, 0]);
    let sent = fake.rerank_requests();
    assert_eq!(sent[0].path, "/rerank");
    assert_eq!(sent[0].body["truncate"], true);
    assert_eq!(sent[0].documents(), documents());
    assert!(sent[0].body.get("documents").is_none(), "{}", sent[0].body);
}

/// The question is a visitor's: personal data in it is masked before it
/// leaves; the documents (the team's own articles) go as they are, cut to
/// `max_document_chars`.
#[tokio::test]
async fn the_query_is_masked_and_documents_are_cut() {
    let fake = FakeOpenAi::start().await;
    let client = RerankClient::new(RerankConfig {
        max_document_chars: 17,
        ..fake.rerank_config()
    })
    .unwrap();
    let question = "我的手机13812345678，邮箱 li.lei@example.com，怎么退款";
    let hotline = "客服热线 13800138000，工作日 9–18 点。".to_string();
    client
        .rerank(question, &[hotline.clone(), "退款\n原路退回".into()])
        .await
        .unwrap();
    let sent = &fake.rerank_requests()[0];
    assert_eq!(
        sent.query(),
        Some("我的手机[phone]，邮箱 [email]，怎么退款")
    );
    let cut: String = hotline.chars().take(17).collect();
    assert_eq!(sent.documents(), vec![cut.as_str(), "退款\n原路退回"]);
    assert!(
        sent.documents()[0].contains("13800138000"),
        "documents (the team's own text) go unmasked"
    );
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token() {
    let fake = FakeOpenAi::start().await;
    fake.require_api_key(Some("jina_test"));
    let keyed = RerankClient::new(RerankConfig {
        api_key: Some(SecretString::from("jina_test")),
        ..fake.rerank_config()
    })
    .unwrap();
    keyed.rerank(QUESTION, &documents()).await.unwrap();
    assert_eq!(
        fake.rerank_requests()[0].authorization.as_deref(),
        Some("Bearer jina_test")
    );
    let keyless = RerankClient::new(fake.rerank_config()).unwrap();
    match keyless.rerank(QUESTION, &documents()).await {
        Err(AiError::Http { status: 401, .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_error_status_is_an_http_error_and_not_retried() {
    let fake = FakeOpenAi::start().await;
    fake.set_rerank(RerankBehaviour::Error {
        status: 503,
        message: "reranker loading".into(),
    });
    let client = RerankClient::new(fake.rerank_config()).unwrap();
    match client.rerank(QUESTION, &documents()).await {
        Err(e @ AiError::Http { status: 503, .. }) => {
            assert!(e.to_string().contains("reranker loading"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fake.rerank_requests().len(),
        1,
        "inside a visitor's wait: no retries"
    );
}

#[tokio::test]
async fn a_slow_reranker_times_out() {
    let fake = FakeOpenAi::start().await;
    fake.set_rerank(RerankBehaviour::Delay(Duration::from_secs(3)));
    let client = RerankClient::new(RerankConfig {
        timeout_ms: 200,
        ..fake.rerank_config()
    })
    .unwrap();
    let started = Instant::now();
    let result = client.rerank(QUESTION, &documents()).await;
    assert!(matches!(result, Err(AiError::Timeout)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn malformed_bodies_are_protocol_errors() {
    let fake = FakeOpenAi::start().await;
    let client = RerankClient::new(fake.rerank_config()).unwrap();
    for body in [
        "<html>gateway</html>",
        r#"{"results":[]}"#,
        r#"{"results":[{"index":7,"relevance_score":0.9}]}"#,
        r#"{"results":[{"index":0,"relevance_score":0.9},{"index":0,"relevance_score":0.1}]}"#,
        r#"{"object":"list","data":[{"index":0,"embedding":[0.1]}]}"#,
    ] {
        fake.set_rerank(RerankBehaviour::Raw(body.into()));
        let result = client.rerank(QUESTION, &documents()).await;
        assert!(
            matches!(result, Err(AiError::Protocol(_))),
            "{body}: {result:?}"
        );
    }
    // Fewer scores than documents (a server's own top_n) are fine.
    fake.set_rerank(RerankBehaviour::Raw(
        r#"[{"index":2,"score":0.7},{"index":0,"score":0.9}]"#.into(),
    ));
    let ranked = client.rerank(QUESTION, &documents()).await.unwrap();
    assert_eq!(order(&ranked), vec![0, 2]);
}

#[test]
fn unusable_settings_are_config_errors() {
    let good = RerankConfig {
        model: "bge-reranker-v2-m3".into(),
        ..RerankConfig::default()
    };
    assert!(RerankClient::new(good.clone()).is_ok());
    assert!(
        RerankClient::new(RerankConfig {
            model: String::new(),
            api: RerankApi::Tei,
            ..good.clone()
        })
        .is_ok(),
        "TEI serves one model and needs no name"
    );
    for bad in [
        RerankConfig {
            model: " ".into(),
            ..good.clone()
        },
        RerankConfig {
            url: "127.0.0.1:8000".into(),
            ..good.clone()
        },
        RerankConfig {
            top_k: 1,
            ..good.clone()
        },
        RerankConfig {
            timeout_ms: 0,
            ..good.clone()
        },
        RerankConfig {
            max_document_chars: 0,
            ..good.clone()
        },
    ] {
        assert!(
            matches!(RerankClient::new(bad.clone()), Err(AiError::Config(_))),
            "{bad:?}"
        );
    }
}
