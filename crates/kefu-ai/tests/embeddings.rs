//! `EmbeddingsClient` against the fake server over real HTTP: order,
//! normalisation, batching, `input_type`, model selection, the API key,
//! error bodies, retries, timeouts and configuration errors.

use kefu_ai::fake::{fake_embedding, EmbedBehaviour, FakeOpenAi, FAKE_DIMENSIONS};
use kefu_ai::{AiError, EmbedMode, EmbeddingsClient, EmbeddingsConfig};
use secrecy::SecretString;
use std::time::{Duration, Instant};

fn config(fake: &FakeOpenAi) -> EmbeddingsConfig {
    fake.embeddings_config()
}

fn texts(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn unit(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
}

#[tokio::test]
async fn vectors_come_in_input_order_and_unit_length() {
    let fake = FakeOpenAi::start().await;
    let client = EmbeddingsClient::new(config(&fake)).unwrap();
    let input = texts(&["how do I return an item", "退货流程", "shipping costs"]);
    let vectors = client.embed(&input, EmbedMode::Passage).await.unwrap();
    assert_eq!(vectors.len(), 3);
    for (v, text) in vectors.iter().zip(&input) {
        assert_eq!(v.len(), FAKE_DIMENSIONS);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
        assert!(
            close(v, &unit(fake_embedding("fake-embed", text))),
            "{text}"
        );
    }
    let sent = fake.embedding_requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].inputs(),
        vec!["how do I return an item", "退货流程", "shipping costs"]
    );
    assert!(sent[0].authorization.is_none());
}

#[tokio::test]
async fn texts_are_sent_in_batches() {
    let fake = FakeOpenAi::start().await;
    let client = EmbeddingsClient::new(EmbeddingsConfig {
        batch_size: 2,
        ..config(&fake)
    })
    .unwrap();
    let input = texts(&["a one", "b two", "c three", "d four", "e five"]);
    let vectors = client.embed(&input, EmbedMode::Passage).await.unwrap();
    let sizes: Vec<usize> = fake
        .embedding_requests()
        .iter()
        .map(|r| r.inputs().len())
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    for (v, text) in vectors.iter().zip(&input) {
        assert!(
            close(v, &unit(fake_embedding("fake-embed", text))),
            "{text}"
        );
    }
    assert!(client
        .embed(&[], EmbedMode::Query)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        fake.embedding_requests().len(),
        3,
        "no request for no texts"
    );
}

#[tokio::test]
async fn input_type_and_models_follow_the_mode() {
    let fake = FakeOpenAi::start().await;
    let cfg = EmbeddingsConfig {
        query_model: Some("fake-query".into()),
        passage_model: Some("fake-passage".into()),
        ..config(&fake)
    };
    let client = EmbeddingsClient::new(cfg).unwrap();
    assert_eq!(client.model_for(EmbedMode::Query), "fake-query");
    assert_eq!(client.model_for(EmbedMode::Passage), "fake-passage");
    let q = client
        .embed(&texts(&["x"]), EmbedMode::Query)
        .await
        .unwrap();
    client
        .embed(&texts(&["x"]), EmbedMode::Passage)
        .await
        .unwrap();
    assert!(close(&q[0], &unit(fake_embedding("fake-query", "x"))));
    let sent = fake.embedding_requests();
    assert_eq!(sent[0].model(), Some("fake-query"));
    assert_eq!(sent[0].body["input_type"], "query");
    assert_eq!(sent[1].model(), Some("fake-passage"));
    assert_eq!(sent[1].body["input_type"], "passage");

    let plain = EmbeddingsClient::new(EmbeddingsConfig {
        send_input_type: false,
        ..config(&fake)
    })
    .unwrap();
    assert_eq!(plain.model_for(EmbedMode::Query), "fake-embed");
    plain.embed(&texts(&["x"]), EmbedMode::Query).await.unwrap();
    let last = fake.embedding_requests().pop().unwrap();
    assert_eq!(last.model(), Some("fake-embed"));
    assert!(last.body.get("input_type").is_none(), "{}", last.body);
}

#[tokio::test]
async fn the_api_key_is_sent_as_a_bearer_token() {
    let fake = FakeOpenAi::start().await;
    fake.require_api_key(Some("sk-test"));
    let keyed = EmbeddingsConfig {
        api_key: Some(SecretString::from("sk-test")),
        ..config(&fake)
    };
    EmbeddingsClient::new(keyed)
        .unwrap()
        .embed(&texts(&["x"]), EmbedMode::Query)
        .await
        .unwrap();
    assert_eq!(
        fake.embedding_requests()[0].authorization.as_deref(),
        Some("Bearer sk-test")
    );

    let keyless = EmbeddingsClient::new(config(&fake)).unwrap();
    match keyless.embed(&texts(&["x"]), EmbedMode::Query).await {
        Err(AiError::Http {
            status: 401,
            message,
        }) => assert_eq!(message, "Incorrect API key provided."),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn error_bodies_become_http_errors() {
    let fake = FakeOpenAi::start().await;
    fake.set_embeddings(EmbedBehaviour::Error {
        status: 404,
        message: "The model `x` does not exist".into(),
    });
    let client = EmbeddingsClient::new(config(&fake)).unwrap();
    match client.embed(&texts(&["x"]), EmbedMode::Query).await {
        Err(e @ AiError::Http { status: 404, .. }) => {
            assert!(
                e.to_string().contains("The model `x` does not exist"),
                "{e}"
            );
            assert!(!e.is_transient());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.embedding_requests().len(), 1, "a 404 is not retried");
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let fake = FakeOpenAi::start().await;
    fake.set_embeddings(EmbedBehaviour::FailTimes(2));
    let client = EmbeddingsClient::new(config(&fake)).unwrap();
    assert_eq!(
        client
            .embed(&texts(&["x"]), EmbedMode::Query)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(fake.embedding_requests().len(), 3);

    fake.clear_requests();
    fake.set_embeddings(EmbedBehaviour::FailTimes(2));
    let once = EmbeddingsClient::new(EmbeddingsConfig {
        retries: 1,
        ..config(&fake)
    })
    .unwrap();
    match once.embed(&texts(&["x"]), EmbedMode::Query).await {
        Err(e @ AiError::Http { status: 503, .. }) => assert!(e.is_transient()),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.embedding_requests().len(), 2);
}

#[tokio::test]
async fn a_slow_endpoint_times_out_without_retries() {
    let fake = FakeOpenAi::start().await;
    fake.set_embeddings(EmbedBehaviour::Delay(Duration::from_secs(3)));
    let client = EmbeddingsClient::new(EmbeddingsConfig {
        timeout_ms: 200,
        ..config(&fake)
    })
    .unwrap();
    let started = Instant::now();
    let result = client.embed(&texts(&["x"]), EmbedMode::Query).await;
    assert!(matches!(result, Err(AiError::Timeout)), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.embedding_requests().len(), 1);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cfg = EmbeddingsConfig {
        url: format!("http://127.0.0.1:{port}/v1"),
        model: "m".into(),
        retries: 0,
        ..EmbeddingsConfig::default()
    };
    let result = EmbeddingsClient::new(cfg)
        .unwrap()
        .embed(&texts(&["x"]), EmbedMode::Query)
        .await;
    assert!(matches!(result, Err(AiError::Transport(_))), "{result:?}");
}

#[test]
fn unusable_settings_are_config_errors() {
    let good = EmbeddingsConfig {
        model: "m".into(),
        ..EmbeddingsConfig::default()
    };
    assert!(EmbeddingsClient::new(good.clone()).is_ok());
    for bad in [
        EmbeddingsConfig {
            model: String::new(),
            ..good.clone()
        },
        EmbeddingsConfig {
            url: "localhost:8000".into(),
            ..good.clone()
        },
        EmbeddingsConfig {
            url: "ftp://h/v1".into(),
            ..good.clone()
        },
        EmbeddingsConfig {
            batch_size: 0,
            ..good.clone()
        },
        EmbeddingsConfig {
            timeout_ms: 0,
            ..good.clone()
        },
        EmbeddingsConfig {
            query_model: Some(" ".into()),
            ..good.clone()
        },
    ] {
        assert!(
            matches!(EmbeddingsClient::new(bad.clone()), Err(AiError::Config(_))),
            "{bad:?}"
        );
    }
}

/// Hosted endpoints are HTTPS: the client speaks TLS to an `https://` URL
/// (a listener that records the first bytes sees a TLS handshake record,
/// not plain HTTP), and a server that does not finish the handshake is a
/// transport error, not a configuration one.
#[tokio::test]
async fn https_endpoints_get_a_tls_handshake() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let first = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 3];
        sock.read_exact(&mut head).await.unwrap();
        head
    });
    let client = EmbeddingsClient::new(EmbeddingsConfig {
        url: format!("https://127.0.0.1:{port}/v1"),
        model: "m".into(),
        timeout_ms: 2_000,
        retries: 0,
        ..EmbeddingsConfig::default()
    })
    .unwrap();
    let err = client
        .embed(&texts(&["hello"]), EmbedMode::Query)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AiError::Transport(_) | AiError::Timeout),
        "{err:?}"
    );
    // 0x16: a TLS handshake record; 0x03: TLS major version.
    let head = first.await.unwrap();
    assert_eq!(&head[..2], &[0x16, 0x03], "{head:?}");
}
