//! Shared by the chat suites: a client configuration for the fake, three
//! passages, and `ask`, which collects the streamed deltas.
#![allow(dead_code)]

use kefu_ai::fake::FakeOpenAi;
use kefu_ai::{AiError, ChatClient, LlmAnswer, LlmConfig, Passage};

pub fn config(fake: &FakeOpenAi) -> LlmConfig {
    fake.llm_config()
}

pub fn passages() -> Vec<Passage> {
    vec![
        Passage {
            title: "Returns".into(),
            text: "Items can be returned within 7 days.".into(),
        },
        Passage {
            title: "Refunds".into(),
            text: "Refunds go back to the original card.".into(),
        },
        Passage {
            title: "Shipping".into(),
            text: "Shipping is free above 99 yuan.".into(),
        },
    ]
}

/// Answers `question` from [`passages`], collecting the deltas.
pub async fn ask(
    client: &ChatClient,
    question: &str,
    locale: &str,
) -> (Result<LlmAnswer, AiError>, Vec<String>) {
    let mut deltas = Vec::new();
    let mut on_delta = |d: &str| deltas.push(d.to_owned());
    let result = client
        .answer(question, &passages(), locale, &mut on_delta)
        .await;
    (result, deltas)
}
