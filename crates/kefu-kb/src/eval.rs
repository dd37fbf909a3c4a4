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
//!
//! ## The threshold curve
//!
//! Given also each case's two confidences ([`CaseConfidence`]: the top
//! hit's, and the suggest confidence, never below it), [`curve`]
//! recomputes the decision-dependent figures at the thresholds 0.00, 0.05, …, 1.00
//! ([`CURVE_POINTS`] points) — the trade-off an admin picks a threshold
//! from. Each point `t` reads two ways, and both are exact (not an
//! approximation), because the suggest threshold is never above the answer
//! threshold:
//!
//! * **as the suggest threshold** — `coverage` and `off_topic_handoff`:
//!   whether the bot hands off depends only on the suggest threshold (a
//!   case is handed off when its suggest confidence is below it), whatever
//!   the answer threshold;
//! * **as the answer threshold** — `answer_precision`, `outright` and
//!   `answered`: whether the bot answers outright depends only on the
//!   answer threshold and the top hit's confidence. (So the share answered
//!   outright at `t` is at most the `coverage` at `t`, equal when the two
//!   confidences agree.)
//!
//! So at the workspace's thresholds (when they are multiples of 0.05) the
//! curve gives back the report: `coverage` and `off_topic_handoff` at the
//! suggest threshold, `answer_precision`, `outright` and `answered` at the
//! answer threshold. A case handed off before retrieval (a hand-off phrase,
//! an angry visitor) or without any hit has no confidence and is handed
//! off at every threshold.

use serde::{Deserialize, Serialize};

use crate::{Decision, Thresholds};

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
    /// The figures at every threshold (see [the module](self)); empty
    /// when the confidences were not given.
    #[serde(default)]
    pub curve: Vec<CurvePoint>,
    /// The thresholds the decisions above were made with, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<Thresholds>,
}

/// Number of points of the threshold curve: 0.00, 0.05, …, 1.00.
pub const CURVE_POINTS: usize = 21;

/// The figures at one threshold `t` ([`curve`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f32,
    /// With suggest threshold `t`: share of in-scope cases answered or
    /// suggested (suggest confidence ≥ `t`).
    pub coverage: f64,
    /// With suggest threshold `t`: share of off-topic cases handed off
    /// (suggest confidence < `t`, or no hit).
    pub off_topic_handoff: f64,
    /// With answer threshold `t`: of all cases answered, the share whose
    /// top hit was the expected article.
    pub answer_precision: f64,
    /// With answer threshold `t`: share of in-scope cases answered with the
    /// expected article.
    pub outright: f64,
    /// With answer threshold `t`: cases answered (in-scope and off-topic).
    pub answered: usize,
}

/// The `i`-th threshold of the curve, `i / 20` (so 0.6 is exactly the
/// `f32` an admin's 0.6 is).
pub fn curve_threshold(i: usize) -> f32 {
    i as f32 / (CURVE_POINTS - 1) as f32
}

/// A case's two confidences: that its top hit is right (the answer
/// decision) and that the right article is among the top three (the
/// suggest decision; [`crate::Retrieval::suggest_confidence`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaseConfidence {
    pub answer: f32,
    pub suggest: f32,
}

/// The threshold curve of `cases` from each case's top hit (`outcomes[i]`)
/// and that hit's confidence (`confidences[i]`; `None` when the case was
/// handed off before retrieval or had no hit). Extra items on any side are
/// ignored. See [the module](self) for how to read it.
pub fn curve(
    cases: &[EvalCase],
    outcomes: &[Outcome],
    confidences: &[Option<CaseConfidence>],
) -> Vec<CurvePoint> {
    // (in scope?, top hit right?, confidences) once; then a pass per point.
    let scored: Vec<(bool, bool, Option<CaseConfidence>)> = cases
        .iter()
        .zip(outcomes)
        .zip(confidences)
        .map(|((c, o), conf)| {
            let right = c.expected_external_id.is_some()
                && o.ranked_external_ids.first().and_then(|r| r.as_ref())
                    == c.expected_external_id.as_ref();
            (c.expected_external_id.is_some(), right, *conf)
        })
        .collect();
    let in_scope = scored.iter().filter(|s| s.0).count();
    let off = scored.len() - in_scope;
    (0..CURVE_POINTS)
        .map(|i| {
            let t = curve_threshold(i);
            let (mut above_in, mut above_off, mut right, mut answered) = (0, 0, 0, 0);
            for &(scope, ok, conf) in &scored {
                let Some(c) = conf else { continue };
                // Covered (answered or suggested) at suggest threshold t.
                if c.suggest.max(c.answer) >= t {
                    if scope {
                        above_in += 1;
                    } else {
                        above_off += 1;
                    }
                }
                // Answered outright at answer threshold t.
                if c.answer >= t {
                    answered += 1;
                    if ok {
                        right += 1;
                    }
                }
            }
            CurvePoint {
                threshold: t,
                coverage: rate(above_in, in_scope),
                off_topic_handoff: rate(off - above_off, off),
                answer_precision: rate(right, answered),
                outright: rate(right, in_scope),
                answered,
            }
        })
        .collect()
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
            curve: Vec::new(),
            thresholds: None,
        }
    }

    /// [`Report::compute`] with its [`curve`] and the `thresholds` the
    /// decisions were made with.
    pub fn compute_with_curve(
        cases: &[EvalCase],
        outcomes: &[Outcome],
        confidences: &[Option<CaseConfidence>],
        thresholds: Thresholds,
    ) -> Report {
        Report {
            curve: curve(cases, outcomes, confidences),
            thresholds: Some(thresholds),
            ..Report::compute(cases, outcomes)
        }
    }

    /// A short human-readable table, then the thresholds and the curve
    /// when known.
    pub fn render_text(&self) -> String {
        let mut out = format!(
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
        );
        if let Some(t) = self.thresholds {
            out += &format!(
                "thresholds         answer {:.2}, suggest {:.2}\n",
                t.answer, t.suggest
            );
        }
        if !self.curve.is_empty() {
            out += "\nthreshold  as suggest threshold:      as answer threshold:\n                    \x20          coverage  off-topic handoff  outright  precision  answered\n";
            for p in &self.curve {
                out += &format!(
                    "{:>9.2}  {:>8.3}  {:>17.3}  {:>8.3}  {:>9.3}  {:>8}\n",
                    p.threshold,
                    p.coverage,
                    p.off_topic_handoff,
                    p.outright,
                    p.answer_precision,
                    p.answered
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(exp: Option<&str>) -> EvalCase {
        EvalCase {
            question: "q".into(),
            expected_external_id: exp.map(String::from),
            locale: None,
        }
    }

    fn top(id: Option<&str>, t: &Thresholds, conf: Option<f32>) -> Outcome {
        Outcome {
            ranked_external_ids: id.map(|i| Some(i.to_string())).into_iter().collect(),
            decision: match conf {
                Some(c) if c >= t.answer => Decision::Answer,
                Some(c) if c >= t.suggest => Decision::Suggest,
                _ => Decision::Handoff,
            },
        }
    }

    /// Six cases, worked out by hand:
    ///
    /// | case | expected | top hit | confidence |
    /// |---|---|---|---|
    /// | q1 | a | a (right) | 0.9 |
    /// | q2 | b | a (wrong) | 0.5 |
    /// | q3 | c | c (right) | 0.3 |
    /// | q4 | d | — (a hand-off phrase) | none |
    /// | o1 | off-topic | a | 0.1 |
    /// | o2 | off-topic | b | 0.55 |
    fn fixture(t: &Thresholds) -> (Vec<EvalCase>, Vec<Outcome>, Vec<Option<CaseConfidence>>) {
        let rows = [
            (Some("a"), Some("a"), Some(0.9)),
            (Some("b"), Some("a"), Some(0.5)),
            (Some("c"), Some("c"), Some(0.3)),
            (Some("d"), None, None),
            (None, Some("a"), Some(0.1)),
            (None, Some("b"), Some(0.55)),
        ];
        let cases = rows.iter().map(|r| case(r.0)).collect();
        let outcomes = rows.iter().map(|r| top(r.1, t, r.2)).collect();
        let conf = rows
            .iter()
            .map(|r| {
                r.2.map(|c| CaseConfidence {
                    answer: c,
                    suggest: c,
                })
            })
            .collect();
        (cases, outcomes, conf)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn the_curve_by_hand() {
        let (cases, outcomes, conf) = fixture(&Thresholds {
            answer: 0.6,
            suggest: 0.2,
        });
        let c = curve(&cases, &outcomes, &conf);
        assert_eq!(c.len(), CURVE_POINTS);
        assert_eq!(c[0].threshold, 0.0);
        assert_eq!(c[1].threshold, 0.05);
        assert_eq!(c[12].threshold, 0.6);
        assert_eq!(c[20].threshold, 1.0);
        // (coverage, off-topic handoff, outright, precision, answered)
        let at = |i: usize| {
            let p = c[i];
            (
                p.coverage,
                p.off_topic_handoff,
                p.outright,
                p.answer_precision,
                p.answered,
            )
        };
        let expect = [
            // 0.00: everything with a confidence clears it; q4 never does.
            (0, (3.0 / 4.0, 0.0, 2.0 / 4.0, 2.0 / 5.0, 5)),
            // 0.15: o1 (0.1) drops out.
            (3, (3.0 / 4.0, 1.0 / 2.0, 2.0 / 4.0, 2.0 / 4.0, 4)),
            // 0.30 is inclusive: q3 (0.3) still clears it.
            (6, (3.0 / 4.0, 1.0 / 2.0, 2.0 / 4.0, 2.0 / 4.0, 4)),
            // 0.35: q3 drops out.
            (7, (2.0 / 4.0, 1.0 / 2.0, 1.0 / 4.0, 1.0 / 3.0, 3)),
            // 0.55: q2 (0.5) out, o2 (0.55) still in.
            (11, (1.0 / 4.0, 1.0 / 2.0, 1.0 / 4.0, 1.0 / 2.0, 2)),
            // 0.60: only q1.
            (12, (1.0 / 4.0, 1.0, 1.0 / 4.0, 1.0, 1)),
            // 0.95: nothing; precision of no answer is 0.
            (19, (0.0, 1.0, 0.0, 0.0, 0)),
            (20, (0.0, 1.0, 0.0, 0.0, 0)),
        ];
        for (i, (cov, off, outright, prec, answered)) in expect {
            let got = at(i);
            assert!(
                close(got.0, cov)
                    && close(got.1, off)
                    && close(got.2, outright)
                    && close(got.3, prec)
                    && got.4 == answered,
                "threshold {}: {got:?}",
                c[i].threshold
            );
        }
        // Moving a threshold up never covers more nor hands off less.
        for w in c.windows(2) {
            assert!(w[1].coverage <= w[0].coverage);
            assert!(w[1].off_topic_handoff >= w[0].off_topic_handoff);
            assert!(w[1].answered <= w[0].answered);
        }
    }

    #[test]
    fn the_curve_gives_back_the_report_at_the_thresholds() {
        for (answer, suggest) in [(0.6, 0.2), (0.5, 0.3), (0.95, 0.0), (0.35, 0.35)] {
            let t = Thresholds { answer, suggest };
            let (cases, outcomes, conf) = fixture(&t);
            let r = Report::compute_with_curve(&cases, &outcomes, &conf, t);
            assert_eq!(r.thresholds, Some(t));
            let s = r.curve.iter().find(|p| p.threshold == suggest).unwrap();
            let a = r.curve.iter().find(|p| p.threshold == answer).unwrap();
            assert!(close(s.coverage, r.coverage), "{t:?}: {s:?} vs {r:?}");
            assert!(close(s.off_topic_handoff, r.off_topic_handoff), "{t:?}");
            assert!(close(a.answer_precision, r.answer_precision), "{t:?}");
            assert!(close(a.outright, r.outright), "{t:?}");
            assert_eq!(a.answered, r.answered, "{t:?}");
        }
    }

    #[test]
    fn no_cases_no_rates_and_the_text_shows_the_curve() {
        let c = curve(&[], &[], &[]);
        assert_eq!(c.len(), CURVE_POINTS);
        assert!(c.iter().all(|p| p.coverage == 0.0 && p.answered == 0));
        let t = Thresholds {
            answer: 0.6,
            suggest: 0.2,
        };
        let (cases, outcomes, conf) = fixture(&t);
        let text = Report::compute_with_curve(&cases, &outcomes, &conf, t).render_text();
        assert!(
            text.contains("thresholds         answer 0.60, suggest 0.20"),
            "{text}"
        );
        assert!(
            text.contains(
                "     0.60     0.250              1.000     0.250      1.000         1\n"
            ),
            "{text}"
        );
        // Without confidences (the old call) there is no curve to print.
        assert!(!Report::compute(&cases, &outcomes)
            .render_text()
            .contains("threshold "));
    }
}
