//! What "test the bot" (`POST …/bot/ask`) shows besides the decision: the
//! ranked articles it was made on, with their passages.

use super::BotAnswer;
use kefu_domain::kb::ArticleRef;
use kefu_kb::Retrieval;

/// The bot's decision on a question and the hits behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct BotPreview {
    pub answer: BotAnswer,
    /// The ranked articles the decision was made on, best first (the bot's
    /// own retrieval depth); empty when a hand-off phrase or an upset
    /// visitor handed off before retrieval.
    pub hits: Vec<PreviewHit>,
}

/// One ranked article, as the bot saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreviewHit {
    pub reference: ArticleRef,
    /// Fused ranking score (compare within one question).
    pub score: f32,
    /// Calibrated probability that this is the article asked for.
    pub confidence: f32,
    /// Excerpt of the matching passage (whose anchor is the reference's).
    pub snippet: String,
}

pub(super) fn hits_of(r: Retrieval) -> Vec<PreviewHit> {
    r.hits
        .into_iter()
        .map(|h| PreviewHit {
            reference: crate::kb::article_ref(&h),
            score: h.score,
            confidence: h.confidence,
            snippet: h.snippet,
        })
        .collect()
}
