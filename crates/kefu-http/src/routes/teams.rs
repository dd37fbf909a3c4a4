//! Routing resources: `…/teams` (CRUD, admins) and `…/agents` (members'
//! status, capacity, load and teams; `PUT …/agents/{user_id}/status`).

use super::dto::{AgentDto, TeamDto};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kefu_domain::routing::AgentStatus;
use kefu_domain::{TeamId, UserId};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_team, list_teams))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(list_agents))
        .routes(routes!(set_status))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    pub name: String,
    /// Members of the workspace.
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamPatchRequest {
    pub name: Option<String>,
    /// Replaces the members.
    pub member_ids: Option<Vec<Uuid>>,
}

fn users(ids: &[Uuid]) -> Vec<UserId> {
    ids.iter().copied().map(UserId).collect()
}

/// Creates a team with its own queue (owners and admins). Audited.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/teams", tag = "routing", request_body = TeamRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = TeamDto), (status = 403, body = ErrorBody),
        (status = 409, description = "`team_name_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_team(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<TeamRequest>,
) -> ApiResult<(StatusCode, Json<TeamDto>)> {
    let team = state
        .services
        .create_team(&a, &req.name, &users(&req.member_ids))
        .await?;
    Ok((StatusCode::CREATED, Json(team.into())))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/teams", tag = "routing",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [TeamDto])))]
async fn list_teams(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<Vec<TeamDto>>> {
    let teams = state.services.teams(&a).await?;
    Ok(Json(teams.into_iter().map(TeamDto::from).collect()))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/teams/{team_id}", tag = "routing",
    params(("workspace_id" = Uuid, Path), ("team_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TeamDto), (status = 404, body = ErrorBody)))]
async fn get_team(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<TeamDto>> {
    let id: TeamId = parse_id(&id, "team")?;
    Ok(Json(state.services.team(&a, id).await?.into()))
}

/// Renames a team and/or replaces its members. Audited.
#[utoipa::path(patch, path = "/workspaces/{workspace_id}/teams/{team_id}", tag = "routing", request_body = TeamPatchRequest,
    params(("workspace_id" = Uuid, Path), ("team_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = TeamDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_team(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<TeamPatchRequest>,
) -> ApiResult<Json<TeamDto>> {
    let id: TeamId = parse_id(&id, "team")?;
    let members = req.member_ids.as_deref().map(users);
    let team = state
        .services
        .update_team(&a, id, req.name.as_deref(), members.as_deref())
        .await?;
    Ok(Json(team.into()))
}

/// Deletes a team; its waiting conversations move to the general queue.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/teams/{team_id}", tag = "routing",
    params(("workspace_id" = Uuid, Path), ("team_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_team(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: TeamId = parse_id(&id, "team")?;
    state.services.delete_team(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every member's status, capacity, current load and teams.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/agents", tag = "routing",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [AgentDto])))]
async fn list_agents(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<Vec<AgentDto>>> {
    let found = state.services.agents(&a).await?;
    Ok(Json(found.into_iter().map(AgentDto::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    pub status: AgentStatus,
    /// Concurrent conversations (0..=100); absent keeps the current one.
    pub capacity: Option<i32>,
}

/// Sets a member's status (`online` takes conversations from the queue at
/// once) and capacity: your own, or anyone's for supervisors and above.
/// `me` stands for the caller's own id.
#[utoipa::path(put, path = "/workspaces/{workspace_id}/agents/{user_id}/status", tag = "routing", request_body = StatusRequest,
    params(("workspace_id" = Uuid, Path), ("user_id" = String, Path, description = "A member id, or `me`")),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = AgentDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_status(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, user)): Path<(String, String)>,
    ApiJson(req): ApiJson<StatusRequest>,
) -> ApiResult<Json<AgentDto>> {
    let user: UserId = if user == "me" {
        a.ctx.principal.user_id()
    } else {
        parse_id(&user, "member")?
    };
    let p = state
        .services
        .set_presence(&a, user, req.status, req.capacity)
        .await?;
    Ok(Json(p.into()))
}
