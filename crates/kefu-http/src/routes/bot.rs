//! The bot: `POST …/bot/ask` (what it would answer, nothing stored), its
//! settings, and agent assist (`GET …/conversations/{id}/suggestions`).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use kefu_domain::kb::{ArticleRef, BotDecision, BotSettings, EvalGate, HandoffReason};
use kefu_domain::ConversationId;
use kefu_service::bot::{BotPreview, BotSettingsPatch, PreviewHit};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ask))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(suggestions))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    pub question: String,
    /// The asker's language (`zh-CN`, `en`): same-language articles rank a
    /// little higher.
    pub locale: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AskResponse {
    /// `answer`, `suggest` or `handoff`.
    pub decision: BotDecision,
    /// Calibrated probability (0–1) that the top article is the right one.
    pub confidence: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    pub citations: Vec<ArticleRef>,
    pub suggestions: Vec<ArticleRef>,
    /// Why the bot hands off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<HandoffReason>,
    /// The ranked articles the decision was made on, best first (at most
    /// the bot's retrieval depth, 10); empty when a hand-off phrase or an
    /// upset visitor handed off before retrieval.
    pub hits: Vec<AskHit>,
}

/// One ranked article with the passage that matched.
#[derive(Debug, Serialize, ToSchema)]
pub struct AskHit {
    pub article_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub title: String,
    /// Ranking score (higher is better; compare within one question).
    pub score: f32,
    /// Calibrated probability (0–1) that this is the article asked for;
    /// the top hit's is the decision's `confidence`.
    pub confidence: f32,
    /// The matching passage's anchor in the article (a heading slug such as
    /// `refund-rules`, or `p2` for the second passage before any heading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// Excerpt of the passage that matched.
    pub snippet: String,
}

impl From<PreviewHit> for AskHit {
    fn from(h: PreviewHit) -> Self {
        Self {
            article_id: h.reference.article_id.0,
            external_id: h.reference.external_id,
            title: h.reference.title,
            score: h.score,
            confidence: h.confidence,
            anchor: h.reference.anchor,
            snippet: h.snippet,
        }
    }
}

impl From<BotPreview> for AskResponse {
    fn from(p: BotPreview) -> Self {
        let a = p.answer;
        Self {
            decision: a.decision,
            confidence: a.confidence,
            answer: a.answer,
            citations: a.citations,
            suggestions: a.suggestions,
            reason: a.reason,
            hits: p.hits.into_iter().map(Into::into).collect(),
        }
    }
}

/// The decision the bot would make in a conversation, with nothing stored.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/bot/ask", tag = "knowledge", request_body = AskRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AskResponse), (status = 422, body = ErrorBody)))]
async fn ask(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<AskRequest>,
) -> ApiResult<Json<AskResponse>> {
    let answer = state
        .services
        .ask_bot(&a, &req.question, req.locale.as_deref())
        .await?;
    Ok(Json(answer.into()))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvalGateDto {
    /// The labelled questions as JSON Lines (`kefu kb eval` format).
    pub questions: String,
    pub min_hit_at_1: f64,
    #[serde(default)]
    pub min_off_topic_handoff: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotSettingsDto {
    pub answer_threshold: f32,
    pub suggest_threshold: f32,
    /// Extra "a person, please" phrases on top of the built-in ones.
    pub handoff_phrases: Vec<String>,
    /// Hand off after this many unhelpful answers in a row (0: never).
    pub max_unhelpful: u32,
    /// When set, imports must pass this evaluation to be published.
    pub eval_gate: Option<EvalGateDto>,
}

impl From<BotSettings> for BotSettingsDto {
    fn from(s: BotSettings) -> Self {
        Self {
            answer_threshold: s.answer_threshold,
            suggest_threshold: s.suggest_threshold,
            handoff_phrases: s.handoff_phrases,
            max_unhelpful: s.max_unhelpful,
            eval_gate: s.eval_gate.map(|g| EvalGateDto {
                questions: g.questions,
                min_hit_at_1: g.min_hit_at_1,
                min_off_topic_handoff: g.min_off_topic_handoff,
            }),
        }
    }
}

/// Changes to the bot's settings; absent fields stay, `eval_gate: null`
/// removes the gate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BotSettingsRequest {
    pub answer_threshold: Option<f32>,
    pub suggest_threshold: Option<f32>,
    pub handoff_phrases: Option<Vec<String>>,
    pub max_unhelpful: Option<u32>,
    #[serde(default, deserialize_with = "super::dto::double_option")]
    #[schema(value_type = Option<EvalGateDto>)]
    pub eval_gate: Option<Option<EvalGateDto>>,
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/bot/settings", tag = "knowledge",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = BotSettingsDto), (status = 404, body = ErrorBody)))]
async fn get_settings(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<BotSettingsDto>> {
    Ok(Json(state.services.bot_settings(&a).await?.into()))
}

/// Thresholds, hand-off phrases, the unhelpful-answer limit and the import
/// gate (owners and admins). Audited.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/bot/settings", tag = "knowledge", request_body = BotSettingsRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = BotSettingsDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_settings(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<BotSettingsRequest>,
) -> ApiResult<Json<BotSettingsDto>> {
    let patch = BotSettingsPatch {
        answer_threshold: req.answer_threshold,
        suggest_threshold: req.suggest_threshold,
        handoff_phrases: req.handoff_phrases,
        max_unhelpful: req.max_unhelpful,
        eval_gate: req.eval_gate.map(|g| {
            g.map(|g| EvalGate {
                questions: g.questions,
                min_hit_at_1: g.min_hit_at_1,
                min_off_topic_handoff: g.min_off_topic_handoff,
            })
        }),
    };
    Ok(Json(
        state.services.update_bot_settings(&a, patch).await?.into(),
    ))
}

/// Agent assist: the best articles for the visitor's latest message.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/conversations/{conversation_id}/suggestions", tag = "knowledge",
    params(("workspace_id" = Uuid, Path), ("conversation_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = super::kb::SearchResult), (status = 404, body = ErrorBody)))]
async fn suggestions(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<super::kb::SearchResult>> {
    let id: ConversationId = parse_id(&id, "conversation")?;
    let hits = state.services.suggestions(&a, id).await?;
    Ok(Json(super::kb::SearchResult {
        hits: hits.into_iter().map(Into::into).collect(),
    }))
}
