//! Calibrated confidence and the answer / suggest / handoff decision.
//!
//! Raw BM25 scores mean nothing across queries or workspaces, so the
//! confidence of a hit is a **logistic model over query-independent,
//! bounded features** of that hit ([`Features`]):
//!
//! * `lex_gap` — the hit's normalised lexical score (BM25 ÷ the query's self
//!   score) minus the best *other* article's;
//! * `dcover` — the best share of one stored question's (or the title's)
//!   IDF mass that the query contains: "the visitor asked what this stored
//!   question asks";
//! * `matched` — matched query words, each weighted by IDF ÷ the largest
//!   possible IDF of the workspace (≈ informative words in common);
//! * with a query vector: `sem` (cosine) and `sem_gap` (cosine minus the best
//!   other article's cosine).
//!
//! * `pcover` — the share of the query's IDF mass found in the hit's chosen
//!   passage (or its title);
//! * `rel_gap` — the lexical gap divided by the larger score (scale-free);
//! * `via_question` — whether the best match is a title/question or a
//!   body passage (documentation-shaped knowledge matches through passages).
//!
//! `lex` itself, query-side coverage and lexical/semantic agreement are
//! computed too (they are in [`Features`]) but carry weight 0: fitted, they
//! took zero or negative weights or made the fit generalise worse.
//!
//! Each mode (lexical only, hybrid) has two models of the same features,
//! fitted by L2-regularised logistic regression: "the top hit is the
//! expected article" ([`LEXICAL_MODEL`], [`HYBRID_MODEL`]; the answer
//! decision) and "the expected article is among the top three"
//! ([`LEXICAL_TOP3_MODEL`], [`HYBRID_TOP3_MODEL`]; the suggest decision).
//! Off-topic questions are negatives. They are fitted on four sets
//! (kb-tuning and kb-docs, zh and en), each weighing the same; every figure
//! published for them is leave-one-set-out — the model fitted on three
//! sets, applied to the fourth (`cargo run --release -p kefu-kb --example
//! tune -- --fit`; table in `docs/benchmarks.md`, "The bot on
//! documentation"). The cosine weights are tied to the embedding model's
//! cosine scale (fitted with multilingual-e5-small); another model would
//! want a refit to be fully calibrated.
//!
//! [`decide`] compares the two confidences with per-workspace
//! [`Thresholds`]. Defaults (answer 0.8, suggest 0.4) were read off the
//! held-out confidences of the four sets: answer 0.8 is the lowest with
//! held-out answer precision near 0.9 on three of them, suggest 0.4 the
//! lowest with off-topic handoff ≥ 0.95 on three. Because the thresholds
//! were chosen on those same held-out figures, the decision figures at the
//! defaults are somewhat optimistic for unseen knowledge bases.

use serde::{Deserialize, Serialize};

use crate::Retrieval;

/// Number of model inputs ([`Features::vector`]).
pub const NF: usize = 10;

/// The per-hit inputs of the confidence model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    pub lex: f32,
    pub lex_gap: f32,
    pub cover: f32,
    /// Best share of a sub-document's (title's, a question's) IDF mass that
    /// the query covers — "the query contains what this stored question
    /// is about".
    pub dcover: f32,
    /// Matched query words, each weighted by its IDF relative to the
    /// largest possible IDF in the workspace (≈ number of informative words
    /// in common).
    pub matched: f32,
    /// IDF-weighted share of the query words found in the hit's chosen
    /// passage or its title.
    pub pcover: f32,
    /// The lexical gap relative to the best score: `(lex − best other) /
    /// max(lex, best other)` — scale-free, so it means the same for a
    /// short question match and a long-passage match.
    pub rel_gap: f32,
    /// 1 when the hit's best sub-document is its title or a stored
    /// question, 0 when it is a body passage (documentation-shaped
    /// knowledge matches through passages).
    pub via_question: f32,
    /// Whether a query vector and article vectors took part.
    pub semantic: bool,
    pub sem: f32,
    pub sem_gap: f32,
    /// 1 when this article tops both the lexical and the semantic ranking.
    /// Diagnostic only: as a model input it made the fit worse (see docs).
    pub agree: f32,
}

/// Logistic-regression coefficients: `σ(bias + Σ wᵢ·xᵢ)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub bias: f32,
    /// Weights of [`Features::vector`], in order.
    pub weights: [f32; NF],
}

impl Features {
    /// The feature vector the model weights apply to (clipped to sane ranges
    /// so that an unusual query cannot push the logit arbitrarily far).
    pub fn vector(&self) -> [f32; NF] {
        [
            self.lex.clamp(0.0, 1.5),
            self.lex_gap.clamp(-1.0, 1.0),
            self.cover.clamp(0.0, 1.0),
            self.dcover.clamp(0.0, 1.0),
            self.matched.clamp(0.0, 4.0),
            if self.semantic {
                self.sem.clamp(-1.0, 1.0)
            } else {
                0.0
            },
            if self.semantic {
                self.sem_gap.clamp(-0.5, 0.5)
            } else {
                0.0
            },
            self.pcover.clamp(0.0, 1.0),
            self.rel_gap.clamp(-1.0, 1.0),
            self.via_question.clamp(0.0, 1.0),
        ]
    }
}

impl Model {
    /// The calibrated probability for `f`.
    pub fn predict(&self, f: &Features) -> f32 {
        let x = f.vector();
        let z = self.bias + self.weights.iter().zip(x).map(|(w, v)| w * v).sum::<f32>();
        1.0 / (1.0 + (-z).exp())
    }
}

/// Coefficients for lexical-only retrieval (fitted on the four evaluation
/// sets, each weighing the same; held-out figures in docs/benchmarks.md).
pub const LEXICAL_MODEL: Model = Model {
    bias: -5.87,
    weights: [0.0, 2.69, 0.0, 2.80, 1.08, 0.0, 0.0, 1.47, 0.43, 1.83],
};

/// Coefficients when a query vector is available.
pub const HYBRID_MODEL: Model = Model {
    bias: -6.21,
    weights: [0.0, 1.59, 0.0, 2.13, 1.06, 1.71, 0.89, 1.34, 0.66, 1.49],
};

/// Coefficients of "the article asked for is among the top three" —
/// what a suggestion needs — lexical only.
pub const LEXICAL_TOP3_MODEL: Model = Model {
    bias: -5.52,
    weights: [0.0, 2.50, 0.0, 4.56, 1.27, 0.0, 0.0, 1.04, -0.60, 2.07],
};

/// The same with a query vector.
pub const HYBRID_TOP3_MODEL: Model = Model {
    bias: -6.62,
    weights: [0.0, 1.11, 0.0, 4.17, 1.33, 2.08, 0.53, 1.28, -0.08, 1.86],
};

/// The two models of one retrieval mode.
#[derive(Debug, Clone, Copy)]
pub struct Models {
    /// P(the top hit is the article asked for): the answer decision.
    pub top1: Model,
    /// P(the article asked for is in the top three): the suggest decision.
    pub top3: Model,
}

/// The models used for a hit with these features.
pub fn model_for(f: &Features) -> Models {
    if f.semantic {
        Models {
            top1: HYBRID_MODEL,
            top3: HYBRID_TOP3_MODEL,
        }
    } else {
        Models {
            top1: LEXICAL_MODEL,
            top3: LEXICAL_TOP3_MODEL,
        }
    }
}

/// Per-workspace decision thresholds on the top hit's confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: answer with the top article.
    pub answer: f32,
    /// At or above (and below `answer`): offer the top three as suggestions.
    pub suggest: f32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            answer: 0.8,
            suggest: 0.4,
        }
    }
}

/// What the bot does with a retrieval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Answer,
    Suggest,
    Handoff,
}

/// Answer when the top hit's confidence is ≥ `answer`; else suggest the
/// top three when the confidence that the right article is among them
/// ([`Retrieval::suggest_confidence`]) is ≥ `suggest`; otherwise hand off
/// (also when there is no hit).
pub fn decide(r: &Retrieval, t: &Thresholds) -> Decision {
    if r.hits.is_empty() {
        Decision::Handoff
    } else if r.confidence >= t.answer {
        Decision::Answer
    } else if r.suggest_confidence.max(r.confidence) >= t.suggest {
        Decision::Suggest
    } else {
        Decision::Handoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hit;

    fn retrieval(conf: f32) -> Retrieval {
        Retrieval {
            hits: vec![Hit {
                article_id: uuid::Uuid::nil(),
                external_id: None,
                title: "t".into(),
                score: 1.0,
                confidence: conf,
                snippet: String::new(),
                anchor: None,
                passage: String::new(),
            }],
            confidence: conf,
            suggest_confidence: conf,
        }
    }

    #[test]
    fn thresholds_are_inclusive() {
        let t = Thresholds {
            answer: 0.6,
            suggest: 0.3,
        };
        assert_eq!(decide(&retrieval(0.6), &t), Decision::Answer);
        assert_eq!(decide(&retrieval(0.59), &t), Decision::Suggest);
        assert_eq!(decide(&retrieval(0.3), &t), Decision::Suggest);
        assert_eq!(decide(&retrieval(0.29), &t), Decision::Handoff);
        assert_eq!(decide(&Retrieval::default(), &t), Decision::Handoff);
        let zero = Thresholds {
            answer: 0.0,
            suggest: 0.0,
        };
        assert_eq!(decide(&Retrieval::default(), &zero), Decision::Handoff);
    }

    #[test]
    fn decision_serialises_snake_case() {
        assert_eq!(
            serde_json::to_string(&Decision::Handoff).unwrap(),
            "\"handoff\""
        );
    }

    #[test]
    fn confidence_is_monotone_in_lexical_score() {
        let lo = Features {
            lex: 0.2,
            cover: 0.2,
            ..Default::default()
        };
        let hi = Features {
            lex: 0.9,
            cover: 0.9,
            lex_gap: 0.3,
            ..Default::default()
        };
        assert!(LEXICAL_MODEL.predict(&lo) < LEXICAL_MODEL.predict(&hi));
    }
}
