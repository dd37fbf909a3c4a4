//! `…/analytics/summary` (supervisors and up) and `…/canned-responses`
//! (everyone reads; supervisors and up write).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, ApiQuery, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use kefu_domain::analytics::{CannedResponse, DurationStats};
use kefu_domain::CannedResponseId;
use kefu_service::analytics::{GroupStats, Summary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(list_canned, create_canned))
        .routes(routes!(get_canned, update_canned, delete_canned))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// First day (`YYYY-MM-DD`, local to `time_zone`); default six days
    /// before `to`.
    pub from: Option<String>,
    /// Last day, inclusive; default today.
    pub to: Option<String>,
    /// An IANA zone such as `Asia/Shanghai`; default `UTC`.
    pub time_zone: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayCount {
    pub date: NaiveDate,
    pub count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VolumeDto {
    pub total: usize,
    /// Every day of the range, zeros included.
    pub by_day: Vec<DayCount>,
    /// Conversations started in each local hour, 0–23.
    pub by_hour: Vec<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BotDto {
    /// Conversations that began with the bot.
    pub conversations: usize,
    /// … that never reached a person.
    pub contained: usize,
    pub handed_off: usize,
    pub containment_rate: Option<f64>,
    pub handoff_rate: Option<f64>,
    /// Verified automated resolution (`confirmed` + `silent`): the bot
    /// answered, no person was needed, and the visitor either said an
    /// answer helped or did not come back within the window.
    pub resolved: usize,
    /// … of which the visitor marked an answer "helpful: yes".
    pub confirmed: usize,
    /// … of which the window passed after the bot's last answer without the
    /// visitor writing again or starting another conversation.
    pub silent: usize,
    /// Not decided yet: less than the window since the bot's last answer
    /// (or the start, while it has not answered), no confirmation.
    pub pending: usize,
    /// `resolved / (conversations − pending)`.
    pub resolution_rate: Option<f64>,
    /// The window: `[analytics] resolution_window_hours`.
    pub resolution_window_hours: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CsatDto {
    pub count: usize,
    pub average: Option<f64>,
    /// Counts of the scores 1, 2, 3, 4, 5.
    pub distribution: Vec<usize>,
}

/// One agent's or team's figures.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupFigures {
    pub name: String,
    pub conversations: usize,
    pub first_response_median_secs: Option<f64>,
    pub resolution_median_secs: Option<f64>,
    pub csat_average: Option<f64>,
    pub csat_count: usize,
}

impl<Id> From<&GroupStats<Id>> for GroupFigures {
    fn from(g: &GroupStats<Id>) -> Self {
        Self {
            name: g.name.clone(),
            conversations: g.conversations,
            first_response_median_secs: g.first_response_median_secs,
            resolution_median_secs: g.resolution_median_secs,
            csat_average: g.csat_average,
            csat_count: g.csat_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentStatsDto {
    pub user_id: Uuid,
    #[serde(flatten)]
    pub figures: GroupFigures,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamStatsDto {
    pub team_id: Uuid,
    #[serde(flatten)]
    pub figures: GroupFigures,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryDto {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub time_zone: String,
    pub conversations: VolumeDto,
    /// From reaching people (queue or agent) to the first agent reply.
    pub first_response_secs: DurationStats,
    /// From the first message to the resolution.
    pub resolution_secs: DurationStats,
    pub bot: BotDto,
    pub csat: CsatDto,
    /// By the conversations' current agent.
    pub agents: Vec<AgentStatsDto>,
    pub teams: Vec<TeamStatsDto>,
}

fn day(field: &str, raw: Option<&str>) -> ApiResult<Option<NaiveDate>> {
    raw.map(|s| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
            ApiError::from(kefu_service::error::ServiceError::invalid(
                field,
                "invalid_date",
            ))
        })
    })
    .transpose()
}

impl From<Summary> for SummaryDto {
    fn from(s: Summary) -> Self {
        Self {
            from: s.from,
            to: s.to,
            time_zone: s.time_zone.name().to_string(),
            conversations: VolumeDto {
                total: s.total,
                by_day: s
                    .by_day
                    .iter()
                    .map(|(date, count)| DayCount {
                        date: *date,
                        count: *count,
                    })
                    .collect(),
                by_hour: s.by_hour.to_vec(),
            },
            first_response_secs: s.first_response,
            resolution_secs: s.resolution,
            bot: BotDto {
                conversations: s.bot.conversations,
                contained: s.bot.contained,
                handed_off: s.bot.handed_off,
                containment_rate: s.bot.containment_rate,
                handoff_rate: s.bot.handoff_rate,
                resolved: s.bot.resolved,
                confirmed: s.bot.confirmed,
                silent: s.bot.silent,
                pending: s.bot.pending,
                resolution_rate: s.bot.resolution_rate,
                resolution_window_hours: s.bot.resolution_window_hours,
            },
            csat: CsatDto {
                count: s.csat.count,
                average: s.csat.average,
                distribution: s.csat.distribution.to_vec(),
            },
            agents: s
                .agents
                .iter()
                .map(|g| AgentStatsDto {
                    user_id: g.id.0,
                    figures: g.into(),
                })
                .collect(),
            teams: s
                .teams
                .iter()
                .map(|g| TeamStatsDto {
                    team_id: g.id.0,
                    figures: g.into(),
                })
                .collect(),
        }
    }
}

/// Conversation volume, first response and resolution times, bot
/// containment and verified resolution, CSAT, per agent and per team, for the conversations started
/// in a date range (at most 366 days).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/analytics/summary", tag = "analytics",
    params(("workspace_id" = Uuid, Path), SummaryQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SummaryDto), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn summary(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiQuery(q): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<SummaryDto>> {
    let tz: chrono_tz::Tz = match q.time_zone.as_deref() {
        None | Some("") => chrono_tz::Tz::UTC,
        Some(name) => name.parse().map_err(|_| {
            ApiError::from(kefu_service::error::ServiceError::invalid(
                "time_zone",
                "unknown_time_zone",
            ))
        })?,
    };
    let from = day("from", q.from.as_deref())?;
    let to = day("to", q.to.as_deref())?;
    let s = state.services.analytics_summary(&a, from, to, tz).await?;
    Ok(Json(s.into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedResponseDto {
    pub id: Uuid,
    /// Typed after `/` in the composer.
    pub shortcut: String,
    pub title: Option<String>,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<CannedResponse> for CannedResponseDto {
    fn from(c: CannedResponse) -> Self {
        Self {
            id: c.id.0,
            shortcut: c.shortcut,
            title: c.title,
            body: c.body,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedResponseList {
    pub items: Vec<CannedResponseDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedResponseRequest {
    /// 1–40 letters, digits, `-` or `_`; unique in the workspace.
    pub shortcut: String,
    pub title: Option<String>,
    /// At most 5,000 characters.
    pub body: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedResponsePatch {
    pub shortcut: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
}

/// Every canned response of the workspace, by shortcut.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/canned-responses", tag = "conversations",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CannedResponseList)))]
async fn list_canned(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<CannedResponseList>> {
    let items = state.services.canned_responses(&a).await?;
    Ok(Json(CannedResponseList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Creates a canned response (owners, admins, supervisors).
#[utoipa::path(post, path = "/workspaces/{workspace_id}/canned-responses", tag = "conversations",
    request_body = CannedResponseRequest, params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = CannedResponseDto), (status = 403, body = ErrorBody),
        (status = 409, description = "`shortcut_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_canned(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<CannedResponseRequest>,
) -> ApiResult<(StatusCode, Json<CannedResponseDto>)> {
    let c = state
        .services
        .create_canned_response(&a, &req.shortcut, req.title.as_deref(), &req.body)
        .await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/canned-responses/{canned_id}", tag = "conversations",
    params(("workspace_id" = Uuid, Path), ("canned_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CannedResponseDto), (status = 404, body = ErrorBody)))]
async fn get_canned(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<CannedResponseDto>> {
    let id: CannedResponseId = parse_id(&id, "canned_response")?;
    Ok(Json(state.services.canned_response(&a, id).await?.into()))
}

/// Changes a canned response's shortcut, title (empty clears) or body.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/canned-responses/{canned_id}", tag = "conversations",
    request_body = CannedResponsePatch, params(("workspace_id" = Uuid, Path), ("canned_id" = Uuid, Path)),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = CannedResponseDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`shortcut_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_canned(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<CannedResponsePatch>,
) -> ApiResult<Json<CannedResponseDto>> {
    let id: CannedResponseId = parse_id(&id, "canned_response")?;
    let c = state
        .services
        .update_canned_response(
            &a,
            id,
            req.shortcut.as_deref(),
            req.title.as_deref(),
            req.body.as_deref(),
        )
        .await?;
    Ok(Json(c.into()))
}

#[utoipa::path(delete, path = "/workspaces/{workspace_id}/canned-responses/{canned_id}", tag = "conversations",
    params(("workspace_id" = Uuid, Path), ("canned_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_canned(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: CannedResponseId = parse_id(&id, "canned_response")?;
    state.services.delete_canned_response(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
