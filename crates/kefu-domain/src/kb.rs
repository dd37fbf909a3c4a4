//! The knowledge base and the bot's records (DESIGN.md §4): articles with
//! their version history, the bot's per-workspace settings, and each bot
//! turn (what was asked, retrieved and decided) so that hand-offs carry a
//! summary and "N unhelpful answers in a row" can be counted.

use crate::chat::text_enum;
use crate::ids::{ArticleId, BotTurnId, ConversationId, MessageId, WorkspaceId};
use crate::model::ActorKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArticleStatus {
    Draft,
    Published,
}

/// An article as it is now. Deleted articles are kept (soft delete) with
/// `deleted_at` set, so their history and old citations stay resolvable.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: ArticleId,
    pub workspace_id: WorkspaceId,
    pub external_id: Option<String>,
    pub content: ArticleContent,
    /// 1 for a new article, +1 on every change (edit, publish, delete).
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// The editable part of an article: what a version snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleContent {
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Other ways visitors ask the same question.
    #[serde(default)]
    pub questions: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// BCP 47, for example `zh-CN` or `en`.
    pub locale: String,
    pub status: ArticleStatus,
}

impl Article {
    pub fn is_searchable(&self) -> bool {
        self.deleted_at.is_none() && self.content.status == ArticleStatus::Published
    }

    pub fn reference(&self) -> ArticleRef {
        ArticleRef {
            article_id: self.id,
            external_id: self.external_id.clone(),
            title: self.content.title.clone(),
            anchor: None,
        }
    }
}

/// One entry of an article's history: the content after a change, who made
/// it and when.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleVersion {
    pub article_id: ArticleId,
    pub version: i64,
    pub external_id: Option<String>,
    pub content: ArticleContent,
    /// The change was a deletion.
    pub deleted: bool,
    pub author_kind: ActorKind,
    pub author_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Who changed an article (stored on its version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Author {
    pub kind: ActorKind,
    pub id: Option<uuid::Uuid>,
}

/// Which articles a listing returns, oldest first (by id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArticleFilter {
    pub status: Option<ArticleStatus>,
    pub after: Option<ArticleId>,
    pub limit: i64,
}

/// How a bot reply or a search hit points at an article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArticleRef {
    pub article_id: ArticleId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub title: String,
    /// The passage of the article meant (its anchor, e.g. `refund-rules`
    /// or `p2`); `None` for the article as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

/// An article's vectors from the configured embedding model (one per
/// passage: title, each question, body), valid for the article `version`
/// they were computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleEmbedding {
    pub article_id: ArticleId,
    pub version: i64,
    pub model: String,
    pub vectors: Vec<Vec<f32>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotDecision {
    Answer,
    Suggest,
    Handoff,
}

/// Why the bot handed a conversation to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// Nothing in the knowledge base matched well enough.
    LowConfidence,
    /// The visitor asked for a person ("转人工", "human" …).
    ExplicitRequest,
    /// Complaint or strong negative words ("投诉", "refund now" …).
    NegativeSentiment,
    /// Too many answers in a row did not help.
    UnhelpfulAnswers,
    /// The language model said the passages do not answer the question.
    ModelCannotAnswer,
    /// The visitor pressed "talk to a person".
    VisitorRequest,
}

text_enum!(ArticleStatus { Draft => "draft", Published => "published" });
text_enum!(BotDecision { Answer => "answer", Suggest => "suggest", Handoff => "handoff" });
text_enum!(HandoffReason {
    LowConfidence => "low_confidence",
    ExplicitRequest => "explicit_request",
    NegativeSentiment => "negative_sentiment",
    UnhelpfulAnswers => "unhelpful_answers",
    ModelCannotAnswer => "model_cannot_answer",
    VisitorRequest => "visitor_request",
});

/// A workspace's bot: when to answer, suggest or hand off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotSettings {
    /// Confidence at or above which the bot answers.
    pub answer_threshold: f32,
    /// Confidence at or above which (and below `answer_threshold`) it offers
    /// choices; below, it hands off.
    pub suggest_threshold: f32,
    /// Extra phrases that mean "a person, please", on top of the built-in ones.
    #[serde(default)]
    pub handoff_phrases: Vec<String>,
    /// Hand off after this many unhelpful answers in a row (0 = never).
    pub max_unhelpful: u32,
    /// When set, an import must pass this evaluation before it is published.
    #[serde(default)]
    pub eval_gate: Option<EvalGate>,
}

/// The regression gate on knowledge imports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalGate {
    /// The labelled questions, as JSON Lines (`kefu kb eval` format).
    pub questions: String,
    /// Minimum hit@1 over in-scope questions.
    pub min_hit_at_1: f64,
    /// Minimum share of off-topic questions handed off.
    #[serde(default)]
    pub min_off_topic_handoff: f64,
}

/// One bot turn, stored when the bot replied in a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct BotTurn {
    pub id: BotTurnId,
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    /// The visitor's message the bot answered.
    pub question_message_id: MessageId,
    /// The bot's reply.
    pub reply_message_id: Option<MessageId>,
    pub question: String,
    pub decision: BotDecision,
    pub confidence: f32,
    pub reason: Option<HandoffReason>,
    /// What the visitor was shown: the cited article or the suggestions.
    pub articles: Vec<ArticleRef>,
    /// The visitor's "helpful?" answer, when given.
    pub helpful: Option<bool>,
    pub created_at: DateTime<Utc>,
}

impl BotTurn {
    /// Whether this turn failed the visitor: marked unhelpful, or the bot
    /// could only offer choices.
    pub fn unhelpful(&self) -> bool {
        match self.helpful {
            Some(h) => !h,
            None => self.decision == BotDecision::Suggest,
        }
    }
}

/// How many of the latest turns (newest first) failed the visitor in a row.
pub fn unhelpful_streak(turns_newest_first: &[BotTurn]) -> u32 {
    turns_newest_first
        .iter()
        .take_while(|t| t.unhelpful())
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(decision: BotDecision, helpful: Option<bool>) -> BotTurn {
        BotTurn {
            id: BotTurnId::new(),
            workspace_id: WorkspaceId::new(),
            conversation_id: ConversationId::new(),
            question_message_id: MessageId::new(),
            reply_message_id: None,
            question: "q".into(),
            decision,
            confidence: 0.5,
            reason: None,
            articles: vec![],
            helpful,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn streak_counts_unhelpful_turns_until_a_helpful_one() {
        use BotDecision::*;
        let turns = [
            turn(Answer, Some(false)),
            turn(Suggest, None),
            turn(Answer, None),
            turn(Answer, Some(false)),
        ];
        assert_eq!(unhelpful_streak(&turns), 2);
        assert_eq!(unhelpful_streak(&turns[2..]), 0);
        assert_eq!(unhelpful_streak(&[turn(Suggest, Some(true))]), 0);
        assert_eq!(unhelpful_streak(&[]), 0);
    }

    #[test]
    fn names_round_trip() {
        for r in [
            HandoffReason::LowConfidence,
            HandoffReason::ExplicitRequest,
            HandoffReason::NegativeSentiment,
            HandoffReason::UnhelpfulAnswers,
            HandoffReason::ModelCannotAnswer,
            HandoffReason::VisitorRequest,
        ] {
            assert_eq!(r.as_str().parse::<HandoffReason>().unwrap(), r);
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(
            "draft".parse::<ArticleStatus>().unwrap(),
            ArticleStatus::Draft
        );
    }
}
