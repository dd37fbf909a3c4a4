//! `kefu kb eval` and `POST …/kb/eval`: run a labelled question set through
//! the bot's decision (without writing answers) and report hit@1, hit@3,
//! MRR, answer precision, coverage and off-topic hand-off, and the same
//! figures at every threshold (the curve the console draws).

use crate::context::Access;
use crate::error::{ServiceError, ServiceResult};
use crate::Services;
use kefu_domain::kb::{BotDecision, BotSettings};
use kefu_domain::{Action, WorkspaceId};
use kefu_kb::eval::{EvalCase, Outcome, Report};
use kefu_kb::{Decision, KbIndex, Thresholds};

/// Most questions one evaluation may run.
pub const MAX_EVAL_CASES: usize = 20_000;

impl Services {
    pub async fn evaluate(&self, access: &Access, cases: &[EvalCase]) -> ServiceResult<Report> {
        access.require(Action::ManageKnowledge)?;
        check_cases(cases)?;
        let settings = self.bot_settings_of(access.workspace_id).await?;
        self.evaluate_in(&self.knowledge.index, access.workspace_id, cases, &settings)
            .await
    }

    /// Runs `cases` against `index` with `settings`' thresholds; the report
    /// carries the threshold curve from each case's top confidence.
    pub(crate) async fn evaluate_in(
        &self,
        index: &KbIndex,
        ws: WorkspaceId,
        cases: &[EvalCase],
        settings: &BotSettings,
    ) -> ServiceResult<Report> {
        let mut outcomes = Vec::with_capacity(cases.len());
        let mut confidences = Vec::with_capacity(cases.len());
        for case in cases {
            let (answer, r) = self
                .think_in(index, ws, &case.question, case.locale.as_deref(), settings)
                .await?;
            // No hit (or a trigger before retrieval): handed off at any
            // threshold.
            confidences.push(
                (!r.hits.is_empty()).then_some(kefu_kb::eval::CaseConfidence {
                    answer: r.confidence,
                    suggest: r.suggest_confidence,
                }),
            );
            outcomes.push(Outcome {
                ranked_external_ids: r.hits.iter().map(|h| h.external_id.clone()).collect(),
                decision: match answer.decision {
                    BotDecision::Answer => Decision::Answer,
                    BotDecision::Suggest => Decision::Suggest,
                    BotDecision::Handoff => Decision::Handoff,
                },
            });
        }
        let thresholds = Thresholds {
            answer: settings.answer_threshold,
            suggest: settings.suggest_threshold,
        };
        Ok(Report::compute_with_curve(
            cases,
            &outcomes,
            &confidences,
            thresholds,
        ))
    }
}

pub(crate) fn check_cases(cases: &[EvalCase]) -> ServiceResult<()> {
    if cases.is_empty() {
        return Err(ServiceError::invalid("questions", "required"));
    }
    if cases.len() > MAX_EVAL_CASES {
        return Err(ServiceError::invalid("questions", "too_many"));
    }
    if cases.iter().any(|c| c.question.trim().is_empty()) {
        return Err(ServiceError::invalid("questions", "blank_question"));
    }
    Ok(())
}
