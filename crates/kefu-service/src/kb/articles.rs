//! Article use cases: create, read, list, replace, delete, history, search.
//! Every change is audit-logged with the article's new version and reaches
//! the search index before the call returns.

use crate::config::KbConfig;
use crate::context::Access;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::Services;
use kefu_domain::kb::*;
use kefu_domain::{Action, ArticleId};
use serde::Deserialize;
use serde_json::json;

/// An article as a client writes it (`POST` and `PUT`, and one import line).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ArticleInput {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub questions: Vec<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub status: Option<ArticleStatus>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    /// `PUT` only: the version the writer read; a newer stored version is
    /// 409 `version_conflict` (absent: last writer wins).
    #[serde(default)]
    pub version: Option<i64>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ArticlePage {
    pub items: Vec<Article>,
    pub next_cursor: Option<ArticleId>,
}

/// A search hit with the article's identity.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub reference: ArticleRef,
    pub score: f32,
    /// Excerpt of the matching passage (whose anchor is the reference's).
    pub snippet: String,
}

/// Validates a client's article against the knowledge base's limits;
/// `external_id` and content as stored. (Pure: the import checks its
/// lines with it before touching the store.)
pub(crate) fn check_article(
    cfg: &KbConfig,
    input: &ArticleInput,
) -> ServiceResult<(Option<String>, ArticleContent)> {
    let mut c = Checks::new();
    let content = article_content(cfg, &mut c, input);
    let external_id = input
        .external_id
        .as_deref()
        .map(|e| c.text("external_id", e, 200));
    c.finish()?;
    Ok((external_id, content))
}

fn article_content(cfg: &KbConfig, c: &mut Checks, input: &ArticleInput) -> ArticleContent {
    let title = c.text("title", &input.title, 200);
    let body = input.body.trim().to_string();
    if body.is_empty() {
        c.fail("body", "required");
    } else if body.chars().count() > cfg.max_body_chars {
        c.fail("body", "too_long");
    }
    let mut questions: Vec<String> = Vec::new();
    for q in &input.questions {
        let q = c.text("questions", q, 500);
        if !q.is_empty() && !questions.contains(&q) {
            questions.push(q);
        }
    }
    if questions.len() > cfg.max_questions {
        c.fail("questions", "too_many");
    }
    let mut tags: Vec<String> = Vec::new();
    for t in &input.tags {
        let t = c.text("tags", t, 50);
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > 20 {
        c.fail("tags", "too_many");
    }
    let category = input
        .category
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| c.text("category", s, 100));
    let locale = match input.locale.as_deref() {
        Some(l) if is_locale(l) => l.to_string(),
        Some(_) => {
            c.fail("locale", "invalid");
            String::new()
        }
        // Unsaid: Chinese when the text has Chinese in it.
        None if format!("{title}{body}").chars().any(kefu_kb::text::is_cjk) => "zh-CN".to_string(),
        None => "en".to_string(),
    };
    ArticleContent {
        title,
        body,
        questions,
        tags,
        category,
        locale,
        status: input.status.unwrap_or(ArticleStatus::Published),
    }
}

impl Services {
    /// Validates a client's article; `external_id` and content as stored.
    pub(crate) fn check_article(
        &self,
        input: &ArticleInput,
    ) -> ServiceResult<(Option<String>, ArticleContent)> {
        check_article(&self.knowledge.config, input)
    }

    fn author(access: &Access) -> Author {
        let (kind, id) = access.ctx.principal.actor();
        Author { kind, id: Some(id) }
    }

    pub async fn create_article(
        &self,
        access: &Access,
        input: ArticleInput,
    ) -> ServiceResult<Article> {
        access.require(Action::ManageKnowledge)?;
        let (external_id, content) = self.check_article(&input)?;
        let a = self.store_new_article(access, external_id, content).await?;
        self.knowledge_changed(access.workspace_id, vec![a.id])
            .await;
        Ok(a)
    }

    /// Stores a validated new article (no index update: callers batch them).
    pub(crate) async fn store_new_article(
        &self,
        access: &Access,
        external_id: Option<String>,
        content: ArticleContent,
    ) -> ServiceResult<Article> {
        let now = self.clock.now();
        let a = Article {
            id: ArticleId::new(),
            workspace_id: access.workspace_id,
            external_id,
            content,
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        let audit = access.audit(
            "kb.article_created",
            Some(("article", a.id.to_string())),
            json!({ "title": a.content.title, "external_id": a.external_id,
                    "status": a.content.status, "version": a.version }),
            now,
        );
        self.store
            .create_article(&a, Self::author(access), audit)
            .await?;
        Ok(a)
    }

    pub async fn article(&self, access: &Access, id: ArticleId) -> ServiceResult<Article> {
        access.require(Action::ViewKnowledge)?;
        Ok(self.store.get_article(access.workspace_id, id).await?)
    }

    /// A published article for the visitor's widget (the bot's citations
    /// link to it). Drafts, deleted articles and other workspaces' articles
    /// are "not found" alike.
    pub async fn visitor_article(
        &self,
        v: &crate::chat::Visitor,
        id: ArticleId,
    ) -> ServiceResult<Article> {
        match self.store.get_article(v.workspace_id, id).await {
            Ok(a) if a.is_searchable() => Ok(a),
            Ok(_) | Err(kefu_domain::StoreError::NotFound(_)) => {
                Err(ServiceError::NotFound("article"))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn articles(
        &self,
        access: &Access,
        status: Option<ArticleStatus>,
        after: Option<ArticleId>,
        limit: i64,
    ) -> ServiceResult<ArticlePage> {
        access.require(Action::ViewKnowledge)?;
        let limit = limit.clamp(1, 200);
        let filter = ArticleFilter {
            status,
            after,
            limit: limit + 1,
        };
        let mut items = self
            .store
            .list_articles(access.workspace_id, &filter)
            .await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|a| a.id)
        } else {
            None
        };
        Ok(ArticlePage { items, next_cursor })
    }

    pub async fn update_article(
        &self,
        access: &Access,
        id: ArticleId,
        input: ArticleInput,
    ) -> ServiceResult<Article> {
        access.require(Action::ManageKnowledge)?;
        let (external_id, content) = self.check_article(&input)?;
        let current = self.store.get_article(access.workspace_id, id).await?;
        if input.version.is_some_and(|v| v != current.version) {
            return Err(ServiceError::Conflict("version_conflict"));
        }
        let a = self
            .store_article_update(access, current, external_id, content)
            .await?;
        self.knowledge_changed(access.workspace_id, vec![a.id])
            .await;
        Ok(a)
    }

    /// Stores a validated new version of `current` (no index update).
    pub(crate) async fn store_article_update(
        &self,
        access: &Access,
        current: Article,
        external_id: Option<String>,
        content: ArticleContent,
    ) -> ServiceResult<Article> {
        let now = self.clock.now();
        let a = Article {
            external_id,
            content,
            version: current.version + 1,
            updated_at: now,
            ..current
        };
        let audit = access.audit(
            "kb.article_updated",
            Some(("article", a.id.to_string())),
            json!({ "title": a.content.title, "external_id": a.external_id,
                    "status": a.content.status, "version": a.version }),
            now,
        );
        self.store
            .update_article(&a, Self::author(access), audit)
            .await?;
        Ok(a)
    }

    pub async fn delete_article(&self, access: &Access, id: ArticleId) -> ServiceResult<()> {
        access.require(Action::ManageKnowledge)?;
        let now = self.clock.now();
        let current = self.store.get_article(access.workspace_id, id).await?;
        let audit = access.audit(
            "kb.article_deleted",
            Some(("article", id.to_string())),
            json!({ "title": current.content.title, "external_id": current.external_id,
                    "version": current.version + 1 }),
            now,
        );
        self.store
            .delete_article(access.workspace_id, id, Self::author(access), now, audit)
            .await?;
        self.knowledge_changed(access.workspace_id, vec![id]).await;
        Ok(())
    }

    pub async fn article_history(
        &self,
        access: &Access,
        id: ArticleId,
    ) -> ServiceResult<Vec<ArticleVersion>> {
        access.require(Action::ViewKnowledge)?;
        Ok(self.store.article_versions(access.workspace_id, id).await?)
    }

    /// Published articles matching `q`, best first (lexical, plus semantic
    /// when embeddings are configured).
    #[tracing::instrument(name = "kb.search", skip_all)]
    pub async fn search_articles(
        &self,
        access: &Access,
        q: &str,
        limit: usize,
    ) -> ServiceResult<Vec<SearchHit>> {
        access.require(Action::ViewKnowledge)?;
        let q = q.trim();
        if q.is_empty() {
            return Err(ServiceError::invalid("q", "required"));
        }
        if q.chars().count() > 500 {
            return Err(ServiceError::invalid("q", "too_long"));
        }
        let r = self
            .retrieve(access.workspace_id, q, None, limit.clamp(1, 50))
            .await?;
        Ok(r.hits
            .into_iter()
            .map(|h| SearchHit {
                reference: super::article_ref(&h),
                score: h.score,
                snippet: h.snippet,
            })
            .collect())
    }

    /// `{articles, indexed, embedded, pending}` of the workspace.
    pub async fn kb_status(&self, access: &Access) -> ServiceResult<KbStatus> {
        access.require(Action::ViewKnowledge)?;
        let ws = access.workspace_id;
        // Ids and versions only: this is polled, it must stay cheap.
        let published = self.store.published_versions(ws).await?;
        let indexed_versions = self.knowledge.index.versions(ws.0);
        let indexed = published
            .iter()
            .filter(|(id, version)| indexed_versions.get(&id.0) == Some(version))
            .count();
        let embedded = match self.knowledge.embedding_model() {
            Some(model) => self.store.embedded_count(ws, &model).await?,
            None => 0,
        };
        let articles = published.len();
        let mut pending = articles - indexed;
        if self.knowledge.embedder.is_some() {
            pending += articles - embedded.min(articles);
        }
        Ok(KbStatus {
            articles,
            indexed,
            embedded,
            pending,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KbStatus {
    pub articles: usize,
    pub indexed: usize,
    pub embedded: usize,
    pub pending: usize,
}

/// `zh`, `zh-CN`, `en-US`, `zh-Hant-TW`: letters in dash-separated parts.
fn is_locale(l: &str) -> bool {
    let parts: Vec<&str> = l.split('-').collect();
    l.len() <= 16
        && (2..=3).contains(&parts[0].len())
        && parts[0].chars().all(|c| c.is_ascii_alphabetic())
        && parts[1..]
            .iter()
            .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn locales() {
        for ok in ["zh", "zh-CN", "en", "en-US", "zh-Hant-TW"] {
            assert!(super::is_locale(ok), "{ok}");
        }
        for bad in ["", "z", "chinese", "zh_CN", "zh-", "en-US-!"] {
            assert!(!super::is_locale(bad), "{bad}");
        }
    }
}
