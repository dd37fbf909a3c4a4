//! What supervisors measure: the visitor's satisfaction rating of a
//! conversation, the per-conversation facts the analytics summary is built
//! from, and the summary's arithmetic (medians, percentiles, rates), kept
//! here so both stores and the service share one definition.

use crate::ids::{CannedResponseId, ConversationId, TeamId, UserId, WorkspaceId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The visitor's satisfaction rating (CSAT) of a resolved conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rating {
    /// 1 (very unsatisfied) … 5 (very satisfied).
    pub score: u8,
    pub comment: Option<String>,
    pub rated_at: DateTime<Utc>,
}

/// One conversation as the analytics see it. The times are kept as they
/// happen (see the stores' `conversations` columns), so a summary is one
/// scan of the conversations created in its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationFacts {
    pub id: ConversationId,
    pub created_at: DateTime<Utc>,
    /// Its agent now (the one who resolved it, once resolved).
    pub assignee_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// It began with the bot.
    pub started_with_bot: bool,
    /// When it first reached people (the queue or an agent); `None`: never.
    pub human_at: Option<DateTime<Utc>>,
    /// The first public message of an agent.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The latest resolution (`None` while open).
    pub resolved_at: Option<DateTime<Utc>>,
    pub rating: Option<u8>,
    /// What the bot's answers led to (all empty when the bot never
    /// answered).
    pub bot_answers: BotAnswerFacts,
}

/// A conversation's bot answers and what the visitor did after them: the
/// facts behind [`ConversationFacts::bot_outcome`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotAnswerFacts {
    /// The bot's last outright answer (decision `answer`); `None`: it never
    /// answered outright.
    pub last_answer_at: Option<DateTime<Utc>>,
    /// The visitor marked one of the answers "helpful: yes".
    pub confirmed: bool,
    /// The visitor marked the last answer "helpful: no".
    pub last_answer_unhelpful: bool,
    /// The visitor's first message in this conversation after the last
    /// answer.
    pub visitor_back_at: Option<DateTime<Utc>>,
    /// The first conversation the same contact started (in any inbox of the
    /// workspace) after the last answer.
    pub next_conversation_at: Option<DateTime<Utc>>,
}

/// What became of a bot conversation (see `docs/api.md`, Analytics):
/// verified automated resolution as Intercom and Zendesk count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BotOutcome {
    /// Resolved: the visitor said an answer helped, and no person was needed.
    Confirmed,
    /// Resolved: the bot answered, no person was needed, and the visitor
    /// did not come back within the window after the last answer.
    Silent,
    /// Not decided yet: the window has not passed.
    Pending,
    /// Not resolved by the bot: it reached a person, the bot never
    /// answered, or the visitor came back within the window.
    Unresolved,
}

impl BotOutcome {
    pub fn resolved(self) -> bool {
        matches!(self, Self::Confirmed | Self::Silent)
    }
}

impl ConversationFacts {
    /// From reaching people to the first agent reply.
    pub fn first_response_secs(&self) -> Option<f64> {
        let from = self.human_at?;
        let to = self.first_response_at?;
        Some(((to - from).num_milliseconds().max(0)) as f64 / 1000.0)
    }

    /// From the visitor's first message to the resolution.
    pub fn resolution_secs(&self) -> Option<f64> {
        let to = self.resolved_at?;
        Some(((to - self.created_at).num_milliseconds().max(0)) as f64 / 1000.0)
    }

    /// A bot conversation that never needed a person.
    pub fn contained(&self) -> bool {
        self.started_with_bot && self.human_at.is_none()
    }

    /// Whether the bot resolved it, as of `now`, with `window` as the time
    /// the visitor has to come back; `None` unless it began with the bot.
    ///
    /// Reaching a person (for any reason) means unresolved. Otherwise a
    /// "helpful: yes" confirms it. Without one, the window runs from the
    /// bot's last answer (from the start while there is none): the visitor
    /// came back if, within it, they wrote again in the conversation,
    /// started another one, or marked the last answer unhelpful; if they did
    /// not and the window has passed, the bot's answer is taken to have
    /// resolved it (silent); until then it is pending.
    pub fn bot_outcome(&self, window: chrono::Duration, now: DateTime<Utc>) -> Option<BotOutcome> {
        if !self.started_with_bot {
            return None;
        }
        if self.human_at.is_some() {
            return Some(BotOutcome::Unresolved);
        }
        let b = &self.bot_answers;
        let Some(answer) = b.last_answer_at else {
            return Some(if now < self.created_at + window {
                BotOutcome::Pending
            } else {
                BotOutcome::Unresolved
            });
        };
        if b.confirmed {
            return Some(BotOutcome::Confirmed);
        }
        let deadline = answer + window;
        let within = |t: Option<DateTime<Utc>>| t.is_some_and(|t| t <= deadline);
        if b.last_answer_unhelpful || within(b.visitor_back_at) || within(b.next_conversation_at) {
            return Some(BotOutcome::Unresolved);
        }
        Some(if now < deadline {
            BotOutcome::Pending
        } else {
            BotOutcome::Silent
        })
    }
}

/// Count, median and 90th percentile (nearest rank) of durations in
/// seconds; `None` figures when there are no samples.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DurationStats {
    pub count: usize,
    pub median: Option<f64>,
    pub p90: Option<f64>,
}

impl DurationStats {
    pub fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            count: samples.len(),
            median: percentile(&samples, 50.0),
            p90: percentile(&samples, 90.0),
        }
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at
/// least `p` percent of the samples at or below it.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `part / whole`, `None` for an empty whole.
pub fn rate(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// A saved reply agents insert with `/shortcut`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CannedResponse {
    pub id: CannedResponseId,
    pub workspace_id: WorkspaceId,
    /// Unique in the workspace; letters, digits, `-` and `_`.
    pub shortcut: String,
    pub title: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = DurationStats::of(vec![5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!((s.count, s.median, s.p90), (5, Some(3.0), Some(5.0)));
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(DurationStats::of(ten).p90, Some(9.0));
        assert_eq!(DurationStats::of(vec![]).median, None);
        assert_eq!(rate(1, 4), Some(0.25));
        assert_eq!(rate(0, 0), None);
    }

    #[test]
    fn response_times_count_from_reaching_people() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mins = |m: i64| t0 + chrono::Duration::minutes(m);
        let f = ConversationFacts {
            id: ConversationId::new(),
            created_at: t0,
            assignee_id: None,
            team_id: None,
            started_with_bot: true,
            human_at: Some(mins(2)),
            first_response_at: Some(mins(5)),
            resolved_at: Some(mins(30)),
            rating: None,
            bot_answers: BotAnswerFacts::default(),
        };
        assert_eq!(f.first_response_secs(), Some(180.0));
        assert_eq!(f.resolution_secs(), Some(1800.0));
        assert!(!f.contained());
        let bot_only = ConversationFacts {
            human_at: None,
            first_response_at: None,
            ..f
        };
        assert!(bot_only.contained());
        assert_eq!(bot_only.first_response_secs(), None);
    }

    #[test]
    fn bot_outcomes_follow_the_verified_resolution_rules() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let hours = |h: i64| t0 + chrono::Duration::hours(h);
        let day = chrono::Duration::hours(24);
        let answered = ConversationFacts {
            id: ConversationId::new(),
            created_at: t0,
            assignee_id: None,
            team_id: None,
            started_with_bot: true,
            human_at: None,
            first_response_at: None,
            resolved_at: None,
            rating: None,
            bot_answers: BotAnswerFacts {
                last_answer_at: Some(hours(1)),
                ..BotAnswerFacts::default()
            },
        };
        let with = |f: &dyn Fn(&mut ConversationFacts)| {
            let mut c = answered.clone();
            f(&mut c);
            c
        };
        use BotOutcome::*;
        let cases: Vec<(&str, ConversationFacts, DateTime<Utc>, Option<BotOutcome>)> = vec![
            (
                "within the window",
                answered.clone(),
                hours(24),
                Some(Pending),
            ),
            (
                "the window just passed",
                answered.clone(),
                hours(25),
                Some(Silent),
            ),
            (
                "confirmed at once",
                with(&|c| c.bot_answers.confirmed = true),
                hours(2),
                Some(Confirmed),
            ),
            (
                "a person was needed, helpful or not",
                with(&|c| {
                    c.bot_answers.confirmed = true;
                    c.human_at = Some(hours(3));
                }),
                hours(30),
                Some(Unresolved),
            ),
            (
                "wrote again within the window",
                with(&|c| c.bot_answers.visitor_back_at = Some(hours(20))),
                hours(30),
                Some(Unresolved),
            ),
            (
                "wrote again only after the window",
                with(&|c| c.bot_answers.visitor_back_at = Some(hours(26))),
                hours(30),
                Some(Silent),
            ),
            (
                "a new conversation within the window",
                with(&|c| c.bot_answers.next_conversation_at = Some(hours(2))),
                hours(3),
                Some(Unresolved),
            ),
            (
                "a new conversation days later",
                with(&|c| c.bot_answers.next_conversation_at = Some(hours(72))),
                hours(80),
                Some(Silent),
            ),
            (
                "the last answer did not help",
                with(&|c| c.bot_answers.last_answer_unhelpful = true),
                hours(30),
                Some(Unresolved),
            ),
            (
                "never answered, still early",
                with(&|c| c.bot_answers = BotAnswerFacts::default()),
                hours(5),
                Some(Pending),
            ),
            (
                "never answered",
                with(&|c| c.bot_answers = BotAnswerFacts::default()),
                hours(24),
                Some(Unresolved),
            ),
            (
                "not a bot conversation",
                with(&|c| c.started_with_bot = false),
                hours(30),
                None,
            ),
        ];
        for (what, facts, now, want) in cases {
            assert_eq!(facts.bot_outcome(day, now), want, "{what}");
        }
        assert!(Confirmed.resolved() && Silent.resolved());
        assert!(!Pending.resolved() && !Unresolved.resolved());
    }
}
