//! The optional reranker step of retrieval (`[rerank]`): the best `top_k`
//! hits of a search go to a cross-encoder with the (masked) question, and
//! come back in its order. A reranker that fails or is slow changes
//! nothing: the search's own order stands, the failure is counted in
//! `kefu_rerank_request_duration_seconds{outcome}` and logged without the
//! question.

use crate::Services;
use kefu_ai::{AiError, Ranked};
use kefu_kb::{Hit, Retrieval};

impl Services {
    /// Reorders `r.hits` by the reranker when one is configured and there
    /// are two hits or more; `r.confidence` becomes the new top hit's own.
    /// `r.suggest_confidence` stays the search's (it is computed from
    /// features the hits do not carry; the decision takes the larger of
    /// the two). `question` is the masked question (the client masks it
    /// again, as every model client does, and scrubs it from error text).
    pub(crate) async fn rerank_retrieval(&self, question: &str, r: &mut Retrieval) {
        let Some(reranker) = &self.knowledge.reranker else {
            return;
        };
        if r.hits.len() < 2 {
            return;
        }
        let k = reranker.top_k().min(r.hits.len());
        let documents: Vec<String> = r.hits[..k].iter().map(document).collect();
        let started = std::time::Instant::now();
        let result = tracing::Instrument::instrument(
            reranker.rerank(question, &documents),
            tracing::info_span!("rerank", documents = k),
        )
        .await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AiError::Timeout) => "timeout",
            Err(_) => "error",
        };
        self.metrics.rerank_call(outcome, started.elapsed());
        match result {
            Ok(ranked) => {
                reorder(&mut r.hits, &ranked);
                r.confidence = r.hits.first().map_or(0.0, |h| h.confidence);
            }
            Err(e) => {
                // A server's error text may quote its input: the question
                // (masked already) is cut out of it.
                let error = e.to_string().replace(question, "[question]");
                let error = kefu_ai::mask::mask_pii(&error);
                tracing::warn!(outcome, error = %error, "reranker failed; keeping the search order");
            }
        }
    }
}

/// What the reranker reads of a hit: its title, then its passage.
fn document(h: &Hit) -> String {
    format!("{}\n{}", h.title, h.passage)
}

/// `hits` with those the reranker scored first, in its order (`ranked` is
/// best first, its indices into `hits`); the others keep their order after
/// them.
fn reorder(hits: &mut Vec<Hit>, ranked: &[Ranked]) {
    let mut slots: Vec<Option<Hit>> = std::mem::take(hits).into_iter().map(Some).collect();
    for r in ranked {
        if let Some(h) = slots.get_mut(r.index).and_then(Option::take) {
            hits.push(h);
        }
    }
    hits.extend(slots.into_iter().flatten());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(title: &str, confidence: f32) -> Hit {
        Hit {
            article_id: uuid::Uuid::now_v7(),
            external_id: None,
            title: title.into(),
            score: 1.0,
            confidence,
            snippet: String::new(),
            anchor: None,
            passage: format!("{title} passage"),
        }
    }

    fn titles(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.title.as_str()).collect()
    }

    fn ranked(order: &[usize]) -> Vec<Ranked> {
        order
            .iter()
            .enumerate()
            .map(|(i, &index)| Ranked {
                index,
                score: 1.0 - i as f32 / 10.0,
            })
            .collect()
    }

    #[test]
    fn scored_hits_first_in_the_rerankers_order_the_rest_after() {
        let mut hits = vec![hit("a", 0.9), hit("b", 0.5), hit("c", 0.4), hit("d", 0.1)];
        // Only the first three were sent (top_k = 3), and the reranker
        // returned two of them (a top_n).
        reorder(&mut hits, &ranked(&[2, 0]));
        assert_eq!(titles(&hits), vec!["c", "a", "b", "d"]);
        let mut hits = vec![hit("a", 0.9), hit("b", 0.5)];
        reorder(&mut hits, &ranked(&[1, 0]));
        assert_eq!(titles(&hits), vec!["b", "a"]);
        reorder(&mut hits, &[]);
        assert_eq!(titles(&hits), vec!["b", "a"]);
    }

    #[test]
    fn the_document_is_title_then_passage() {
        assert_eq!(document(&hit("退款", 0.5)), "退款\n退款 passage");
    }
}
