//! The knowledge base: articles (`…/kb/articles`), their history, JSON
//! Lines import and export, index status, search, evaluation and the
//! workspace's synonym groups.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{parse_id, ApiJson, WorkspaceAccess};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use kefu_domain::kb::{Article, ArticleStatus, ArticleVersion};
use kefu_domain::ArticleId;
use kefu_service::kb::articles::ArticleInput;
use kefu_service::kb::import::ImportReport;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_article, list_articles))
        .routes(routes!(get_article, replace_article, delete_article))
        .routes(routes!(article_versions))
        .routes(routes!(import))
        .routes(routes!(export))
        .routes(routes!(status))
        .routes(routes!(search))
        .routes(routes!(evaluate))
        .routes(routes!(get_synonyms, put_synonyms))
}

/// An article as written (`POST`, `PUT`, and one line of an import).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleRequest {
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Other ways visitors ask this question.
    #[serde(default)]
    pub questions: Vec<String>,
    /// `zh-CN`, `en`, …; absent: guessed from the text.
    pub locale: Option<String>,
    /// `published` (default) or `draft`.
    pub status: Option<ArticleStatus>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub category: Option<String>,
    /// Your own id for the article, unique in the workspace; imports
    /// update the article that has it.
    pub external_id: Option<String>,
    /// `PUT` only: the version you edited; if someone saved a newer one,
    /// 409 `version_conflict`.
    pub version: Option<i64>,
}

impl From<ArticleRequest> for ArticleInput {
    fn from(r: ArticleRequest) -> Self {
        ArticleInput {
            title: r.title,
            body: r.body,
            questions: r.questions,
            locale: r.locale,
            status: r.status,
            tags: r.tags,
            category: r.category,
            external_id: r.external_id,
            version: r.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleDto {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub title: String,
    pub body: String,
    pub questions: Vec<String>,
    pub locale: String,
    pub status: ArticleStatus,
    pub tags: Vec<String>,
    pub category: Option<String>,
    /// 1 when created, +1 on every change.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Article> for ArticleDto {
    fn from(a: Article) -> Self {
        Self {
            id: a.id.0,
            external_id: a.external_id,
            title: a.content.title,
            body: a.content.body,
            questions: a.content.questions,
            locale: a.content.locale,
            status: a.content.status,
            tags: a.content.tags,
            category: a.content.category,
            version: a.version,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticlePageDto {
    pub items: Vec<ArticleDto>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ArticleListQuery {
    pub cursor: Option<String>,
    /// 1–200, default 50.
    pub limit: Option<i64>,
    /// `draft` or `published`.
    pub status: Option<ArticleStatus>,
}

/// Creates an article (supervisors and above). Audited; searchable when
/// the call returns if published.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/kb/articles", tag = "knowledge", request_body = ArticleRequest,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ArticleDto), (status = 403, body = ErrorBody),
        (status = 409, description = "`external_id_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_article(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<ArticleRequest>,
) -> ApiResult<(StatusCode, Json<ArticleDto>)> {
    let article = state.services.create_article(&a, req.into()).await?;
    Ok((StatusCode::CREATED, Json(article.into())))
}

/// Live articles (drafts included), oldest first.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/articles", tag = "knowledge",
    params(("workspace_id" = Uuid, Path), ArticleListQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ArticlePageDto), (status = 404, body = ErrorBody)))]
async fn list_articles(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Query(q): Query<ArticleListQuery>,
) -> ApiResult<Json<ArticlePageDto>> {
    let after: Option<ArticleId> = q
        .cursor
        .as_deref()
        .map(|c| parse_id(c, "cursor"))
        .transpose()?;
    let page = state
        .services
        .articles(&a, q.status, after, q.limit.unwrap_or(50))
        .await?;
    Ok(Json(ArticlePageDto {
        items: page.items.into_iter().map(Into::into).collect(),
        next_cursor: page.next_cursor.map(|c| c.0),
    }))
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/articles/{article_id}", tag = "knowledge",
    params(("workspace_id" = Uuid, Path), ("article_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ArticleDto), (status = 404, body = ErrorBody)))]
async fn get_article(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ArticleDto>> {
    let id: ArticleId = parse_id(&id, "article")?;
    Ok(Json(state.services.article(&a, id).await?.into()))
}

/// Replaces an article's content (a new version). Audited.
#[utoipa::path(put, path = "/workspaces/{workspace_id}/kb/articles/{article_id}", tag = "knowledge", request_body = ArticleRequest,
    params(("workspace_id" = Uuid, Path), ("article_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ArticleDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`version_conflict` or `external_id_taken`", body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn replace_article(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<ArticleRequest>,
) -> ApiResult<Json<ArticleDto>> {
    let id: ArticleId = parse_id(&id, "article")?;
    Ok(Json(
        state
            .services
            .update_article(&a, id, req.into())
            .await?
            .into(),
    ))
}

/// Deletes an article (it leaves search at once; its history is kept). Audited.
#[utoipa::path(delete, path = "/workspaces/{workspace_id}/kb/articles/{article_id}", tag = "knowledge",
    params(("workspace_id" = Uuid, Path), ("article_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_article(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id: ArticleId = parse_id(&id, "article")?;
    state.services.delete_article(&a, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleVersionDto {
    pub version: i64,
    pub title: String,
    pub body: String,
    pub questions: Vec<String>,
    pub status: ArticleStatus,
    pub external_id: Option<String>,
    /// This change deleted the article.
    pub deleted: bool,
    /// `user`, `api_token` or `system`.
    pub author_kind: String,
    pub author_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<ArticleVersion> for ArticleVersionDto {
    fn from(v: ArticleVersion) -> Self {
        Self {
            version: v.version,
            title: v.content.title,
            body: v.content.body,
            questions: v.content.questions,
            status: v.content.status,
            external_id: v.external_id,
            deleted: v.deleted,
            author_kind: v.author_kind.as_str().to_string(),
            author_id: v.author_id,
            created_at: v.created_at,
        }
    }
}

/// The article's history, oldest first, with author and time of each change.
#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/articles/{article_id}/versions", tag = "knowledge",
    params(("workspace_id" = Uuid, Path), ("article_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = [ArticleVersionDto]), (status = 404, body = ErrorBody)))]
async fn article_versions(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<Vec<ArticleVersionDto>>> {
    let id: ArticleId = parse_id(&id, "article")?;
    let history = state.services.article_history(&a, id).await?;
    Ok(Json(history.into_iter().map(Into::into).collect()))
}

/// Imports JSON Lines (`application/x-ndjson`, one article a line, as in
/// `POST …/kb/articles`); a line whose `external_id` exists updates that
/// article. The body is processed as a stream, up to `kb.import_max_bytes`
/// (default 64 MiB). 200 with per-line failures; 422 `eval_gate_failed`
/// (nothing imported) when the workspace's evaluation gate refuses it.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/kb/import", tag = "knowledge",
    request_body(content = String, content_type = "application/x-ndjson"),
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "`{imported, created, updated, unchanged, failed:[{line, code, message}]}`"),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, description = "`eval_gate_failed`", body = ErrorBody)))]
async fn import(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<ImportReport>> {
    let limit = state.services.knowledge.config.import_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let over = Arc::new(AtomicBool::new(false));
    let flag = over.clone();
    let mut seen = 0usize;
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len();
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(std::io::Error::other("body over the import limit"));
        }
        Ok(chunk)
    });
    let reader = tokio::io::BufReader::new(tokio_util::io::StreamReader::new(stream));
    // Its own task: a client that hangs up (or the request timeout) does
    // not cut an import off between storing articles and indexing them.
    let services = state.services.clone();
    let report =
        tokio::spawn(async move { services.import_articles(&a, reader, &mut |_| {}).await })
            .await
            .map_err(|_| ApiError::internal())?;
    if over.load(Ordering::Relaxed) {
        return Err(too_large(limit));
    }
    let report = report?;
    if report.gate.as_ref().is_some_and(|g| !g.passed) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "eval_gate_failed",
            "The import does not pass the workspace's evaluation gate; nothing was imported.",
        )
        .with_details(serde_json::to_value(&report).unwrap_or_default()));
    }
    Ok(Json(report))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("An import may hold at most {limit} bytes."),
    )
}

/// Every live article as JSON Lines (the import format, plus `id`).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/export", tag = "knowledge",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, content_type = "application/x-ndjson", body = String), (status = 404, body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<impl IntoResponse> {
    let mut out = Vec::new();
    state
        .services
        .export_articles(&a, &mut out, &mut |_| {})
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KbStatusDto {
    /// Published, live articles.
    pub articles: usize,
    /// Of those, searchable at their current version on this replica.
    pub indexed: usize,
    /// Of those, with vectors for the configured embedding model.
    pub embedded: usize,
    /// Work left: 0 once every published article is searchable (and
    /// embedded, when embeddings are configured).
    pub pending: usize,
}

#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/status", tag = "knowledge",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = KbStatusDto), (status = 404, body = ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<KbStatusDto>> {
    let s = state.services.kb_status(&a).await?;
    Ok(Json(KbStatusDto {
        articles: s.articles,
        indexed: s.indexed,
        embedded: s.embedded,
        pending: s.pending,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchParams {
    pub q: String,
    /// 1–50, default 10.
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchHitDto {
    pub article_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    pub title: String,
    /// Ranking score (higher is better; compare within one search).
    pub score: f32,
    /// Excerpt of the passage that matched.
    pub snippet: String,
    /// That passage's anchor in the article (a heading slug such as
    /// `refund-rules`, or `p2` for the second passage before any heading).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
}

impl From<kefu_service::kb::articles::SearchHit> for SearchHitDto {
    fn from(h: kefu_service::kb::articles::SearchHit) -> Self {
        Self {
            article_id: h.reference.article_id.0,
            external_id: h.reference.external_id,
            title: h.reference.title,
            score: h.score,
            snippet: h.snippet,
            anchor: h.reference.anchor,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub hits: Vec<SearchHitDto>,
}

/// Searches published articles (Chinese segmented, English stemmed, plus
/// semantic similarity when embeddings are configured).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/search", tag = "knowledge",
    params(("workspace_id" = Uuid, Path), SearchParams), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SearchResult), (status = 422, body = ErrorBody)))]
async fn search(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    Query(p): Query<SearchParams>,
) -> ApiResult<Json<SearchResult>> {
    let hits = state
        .services
        .search_articles(&a, &p.q, p.limit.unwrap_or(10))
        .await?;
    Ok(Json(SearchResult {
        hits: hits.into_iter().map(Into::into).collect(),
    }))
}

/// Runs a labelled question set (JSON Lines `{question,
/// expected_external_id | null, locale?}`) through the bot's decision and
/// reports hit@1, hit@3, MRR, answer precision, outright answers, coverage
/// and off-topic hand-off at the workspace's `thresholds`, plus the
/// 21-point threshold `curve` (0.00–1.00). Nothing is stored.
#[utoipa::path(post, path = "/workspaces/{workspace_id}/kb/eval", tag = "knowledge",
    request_body(content = String, content_type = "application/x-ndjson"),
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The report"), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn evaluate(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    body: String,
) -> ApiResult<Json<kefu_kb::eval::Report>> {
    let cases = kefu_kb::eval::EvalCase::parse_jsonl(&body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "A line is not a question.",
        )
        .with_details(serde_json::json!({ "fields": { "body": e } }))
    })?;
    Ok(Json(state.services.evaluate(&a, &cases).await?))
}

/// A workspace's synonym groups.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SynonymsDto {
    /// Each group lists terms visitors use for the same thing, e.g.
    /// `[["退货", "退款"], ["发票", "开票"]]`: a question with one term also
    /// finds articles that use another (a little below its own words).
    pub groups: Vec<Vec<String>>,
}

/// The workspace's synonym groups (anyone who may read the knowledge base).
#[utoipa::path(get, path = "/workspaces/{workspace_id}/kb/synonyms", tag = "knowledge",
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SynonymsDto), (status = 404, body = ErrorBody)))]
async fn get_synonyms(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
) -> ApiResult<Json<SynonymsDto>> {
    let groups = state.services.kb_synonyms(&a).await?;
    Ok(Json(SynonymsDto { groups }))
}

/// Replaces the workspace's synonym groups (supervisors and above); answers
/// them as stored: terms trimmed, empty terms and groups dropped, a term
/// repeated in its group kept once. Search on every replica uses them from
/// the next question. Audited. Refusals (422) name the group at fault
/// (`details.index`, from 0; `details: {count, limit}` for too many
/// groups): `synonym_group_too_small` (fewer than two
/// terms), `synonym_group_too_large` (`kb.max_synonym_terms`),
/// `synonym_term_too_long` (`kb.max_synonym_chars`), `synonym_term_invalid`
/// (a control character or a separator `/` `,` `，` `、`),
/// `synonym_term_unsearchable` (only function words or punctuation, which
/// the search drops), and
/// `synonym_groups_too_many` (`kb.max_synonym_groups`).
#[utoipa::path(put, path = "/workspaces/{workspace_id}/kb/synonyms", tag = "knowledge", request_body = SynonymsDto,
    params(("workspace_id" = Uuid, Path)), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = SynonymsDto), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`synonym_group_too_small`, `synonym_group_too_large`, `synonym_term_too_long`, `synonym_term_invalid`, `synonym_term_unsearchable`, `synonym_groups_too_many`", body = ErrorBody)))]
async fn put_synonyms(
    State(state): State<AppState>,
    WorkspaceAccess(a): WorkspaceAccess,
    ApiJson(req): ApiJson<SynonymsDto>,
) -> ApiResult<Json<SynonymsDto>> {
    let groups = state.services.put_kb_synonyms(&a, &req.groups).await?;
    Ok(Json(SynonymsDto { groups }))
}
