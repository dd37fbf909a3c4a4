//! Evaluation of a labelled question set (`kefu kb eval`).
//!
//! Input is JSONL, one [`EvalCase`] a line:
//! `{"question": "怎么退款", "expected_external_id": "refund-howto", "locale": "zh-CN"}`;
//! `expected_external_id: null` marks an off-topic question that the bot
//! should hand off. For each case the caller runs the search and the
//! decision and passes an [`Outcome`]; [`Report::compute`] aggregates:
//!
//! * `hit_at_1`, `hit_at_3`, `mrr` (MRR@10) — over in-scope cases;
//! * `answer_precision` — of all cases the bot *answered* (in-scope and
//!   off-topic), the share whose top hit was the expected article;
//! * `outright` — share of in-scope cases answered outright with the
//!   expected article (what a visitor gets without a human or a choice);
//! * `coverage` — share of in-scope cases answered or given suggestions;
//! * `off_topic_handoff` — share of off-topic cases handed off.
//!
//! A rate with an empty denominator is reported as 0.

use serde::{Deserialize, Serialize};

use crate::Decision;

/// One labelled question.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalCase {
    pub question: String,
    /// `None` = off-topic (should be handed off).
    #[serde(default)]
    pub expected_external_id: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
}

impl EvalCase {
    /// Parses JSONL (blank lines ignored); errors name the 1-based line.
    pub fn parse_jsonl(text: &str) -> Result<Vec<EvalCase>, String> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
            .collect()
    }
}

/// What the bot did with one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// External ids of the ranked hits, best first.
    pub ranked_external_ids: Vec<Option<String>>,
    pub decision: Decision,
}

/// Aggregate metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub cases: usize,
    pub in_scope: usize,
    pub off_topic: usize,
    pub hit_at_1: f64,
    pub hit_at_3: f64,
    pub mrr: f64,
    pub answer_precision: f64,
    /// Share of in-scope cases answered with the expected article.
    #[serde(default)]
    pub outright: f64,
    pub coverage: f64,
    pub off_topic_handoff: f64,
    /// Number of cases answered (in-scope and off-topic).
    pub answered: usize,
}

fn rate(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        n as f64 / d as f64
    }
}

impl Report {
    /// Aggregates `outcomes[i]` for `cases[i]` (extra items on either side
    /// are ignored).
    pub fn compute(cases: &[EvalCase], outcomes: &[Outcome]) -> Report {
        let (mut in_scope, mut off, mut h1, mut h3, mut rr) = (0, 0, 0, 0, 0.0);
        let (mut answered, mut answered_ok, mut covered, mut handed) = (0, 0, 0, 0);
        for (c, o) in cases.iter().zip(outcomes) {
            let rank = c.expected_external_id.as_ref().and_then(|exp| {
                o.ranked_external_ids
                    .iter()
                    .position(|r| r.as_ref() == Some(exp))
            });
            if o.decision == Decision::Answer {
                answered += 1;
                if c.expected_external_id.is_some() && rank == Some(0) {
                    answered_ok += 1;
                }
            }
            match &c.expected_external_id {
                Some(_) => {
                    in_scope += 1;
                    if rank == Some(0) {
                        h1 += 1;
                    }
                    if rank.is_some_and(|r| r < 3) {
                        h3 += 1;
                    }
                    if let Some(r) = rank.filter(|r| *r < 10) {
                        rr += 1.0 / (r + 1) as f64;
                    }
                    if o.decision != Decision::Handoff {
                        covered += 1;
                    }
                }
                None => {
                    off += 1;
                    if o.decision == Decision::Handoff {
                        handed += 1;
                    }
                }
            }
        }
        Report {
            cases: in_scope + off,
            in_scope,
            off_topic: off,
            hit_at_1: rate(h1, in_scope),
            hit_at_3: rate(h3, in_scope),
            mrr: if in_scope == 0 {
                0.0
            } else {
                rr / in_scope as f64
            },
            answer_precision: rate(answered_ok, answered),
            outright: rate(answered_ok, in_scope),
            coverage: rate(covered, in_scope),
            off_topic_handoff: rate(handed, off),
            answered,
        }
    }

    /// A short human-readable table.
    pub fn render_text(&self) -> String {
        format!(
            "cases              {}  (in scope {}, off-topic {})\n\
             hit@1              {:.3}\n\
             hit@3              {:.3}\n\
             MRR@10             {:.3}\n\
             answer precision   {:.3}  ({} answered)\n\
             outright right     {:.3}  (in-scope answered with the expected article)\n\
             coverage           {:.3}  (in-scope answered or suggested)\n\
             off-topic handoff  {:.3}\n",
            self.cases,
            self.in_scope,
            self.off_topic,
            self.hit_at_1,
            self.hit_at_3,
            self.mrr,
            self.answer_precision,
            self.answered,
            self.outright,
            self.coverage,
            self.off_topic_handoff
        )
    }
}
