//! Knowledge-base articles with their history, article vectors, synonym
//! groups, bot settings and bot turns (PostgreSQL).

use super::{rows, PgStore};
use crate::kb::{json_list, json_text, vectors_from_bytes, vectors_to_bytes};
use crate::{corrupt, db, map_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::kb::*;
use kefu_domain::model::ActorKind;
use kefu_domain::store::KbStore;
use kefu_domain::{ArticleId, ConversationId, MessageId, StoreError, StoreResult, WorkspaceId};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

fn article(row: &PgRow) -> StoreResult<Article> {
    let status: String = row.try_get("status").map_err(db)?;
    Ok(Article {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        external_id: row.try_get("external_id").map_err(db)?,
        content: ArticleContent {
            title: row.try_get("title").map_err(db)?,
            body: row.try_get("body").map_err(db)?,
            questions: json_list(&row.try_get::<String, _>("questions").map_err(db)?)?,
            tags: json_list(&row.try_get::<String, _>("tags").map_err(db)?)?,
            category: row.try_get("category").map_err(db)?,
            locale: row.try_get("locale").map_err(db)?,
            status: status.parse().map_err(|_| corrupt("kb_articles.status"))?,
        },
        version: row.try_get("version").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
        deleted_at: row.try_get("deleted_at").map_err(db)?,
    })
}

fn version(row: &PgRow) -> StoreResult<ArticleVersion> {
    let content: String = row.try_get("content").map_err(db)?;
    let kind: String = row.try_get("author_kind").map_err(db)?;
    Ok(ArticleVersion {
        article_id: row
            .try_get::<uuid::Uuid, _>("article_id")
            .map_err(db)?
            .into(),
        version: row.try_get("version").map_err(db)?,
        external_id: row.try_get("external_id").map_err(db)?,
        content: serde_json::from_str(&content)
            .map_err(|_| corrupt("kb_article_versions.content"))?,
        deleted: row.try_get("deleted").map_err(db)?,
        author_kind: ActorKind::parse(&kind).ok_or_else(|| corrupt("author_kind"))?,
        author_id: row.try_get("author_id").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

fn turn(row: &PgRow) -> StoreResult<BotTurn> {
    let decision: String = row.try_get("decision").map_err(db)?;
    let articles: String = row.try_get("articles").map_err(db)?;
    Ok(BotTurn {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        conversation_id: row
            .try_get::<uuid::Uuid, _>("conversation_id")
            .map_err(db)?
            .into(),
        question_message_id: row
            .try_get::<uuid::Uuid, _>("question_message_id")
            .map_err(db)?
            .into(),
        reply_message_id: row
            .try_get::<Option<uuid::Uuid>, _>("reply_message_id")
            .map_err(db)?
            .map(Into::into),
        question: row.try_get("question").map_err(db)?,
        decision: decision
            .parse()
            .map_err(|_| corrupt("bot_turns.decision"))?,
        confidence: row.try_get::<f32, _>("confidence").map_err(db)?,
        reason: row
            .try_get::<Option<String>, _>("reason")
            .map_err(db)?
            .map(|r| r.parse())
            .transpose()
            .map_err(|_| corrupt("bot_turns.reason"))?,
        articles: serde_json::from_str(&articles).map_err(|_| corrupt("bot_turns.articles"))?,
        helpful: row.try_get("helpful").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

async fn record_version(
    tx: &mut sqlx::Transaction<'static, Postgres>,
    a: &Article,
    deleted: bool,
    author: Author,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO kb_article_versions (article_id, workspace_id, version, external_id, content, \
         deleted, author_kind, author_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.id.0)
    .bind(a.workspace_id.0)
    .bind(a.version)
    .bind(&a.external_id)
    .bind(json_text(&a.content)?)
    .bind(deleted)
    .bind(author.kind.as_str())
    .bind(author.id)
    .bind(at)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(())
}

const LIVE: &str = "SELECT * FROM kb_articles WHERE workspace_id = $1 AND deleted_at IS NULL";

#[async_trait]
impl KbStore for PgStore {
    async fn create_article(
        &self,
        a: &Article,
        author: Author,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO kb_articles (id, workspace_id, external_id, title, body, questions, tags, \
             category, locale, status, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(a.id.0)
        .bind(a.workspace_id.0)
        .bind(&a.external_id)
        .bind(&a.content.title)
        .bind(&a.content.body)
        .bind(json_text(&a.content.questions)?)
        .bind(json_text(&a.content.tags)?)
        .bind(&a.content.category)
        .bind(&a.content.locale)
        .bind(a.content.status.as_str())
        .bind(a.version)
        .bind(a.created_at)
        .bind(a.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "external_id_taken"))?;
        record_version(&mut tx, a, false, author, a.updated_at).await?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_article(&self, ws: WorkspaceId, id: ArticleId) -> StoreResult<Article> {
        let row = sqlx::query(&format!("{LIVE} AND id = $2"))
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("article"))?;
        article(&row)
    }

    async fn find_article_by_external_id(
        &self,
        ws: WorkspaceId,
        external_id: &str,
    ) -> StoreResult<Option<Article>> {
        let row = sqlx::query(&format!("{LIVE} AND external_id = $2"))
            .bind(ws.0)
            .bind(external_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(article).transpose()
    }

    async fn list_articles(&self, ws: WorkspaceId, f: &ArticleFilter) -> StoreResult<Vec<Article>> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT * FROM kb_articles WHERE deleted_at IS NULL AND workspace_id = ",
        );
        q.push_bind(ws.0);
        if let Some(s) = f.status {
            q.push(" AND status = ").push_bind(s.as_str());
        }
        if let Some(after) = f.after {
            q.push(" AND id > ").push_bind(after.0);
        }
        q.push(" ORDER BY id LIMIT ").push_bind(f.limit);
        let found = q.build().fetch_all(&self.pool).await.map_err(db)?;
        found.iter().map(article).collect()
    }

    async fn update_article(
        &self,
        a: &Article,
        author: Author,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "UPDATE kb_articles SET external_id = $1, title = $2, body = $3, questions = $4, \
             tags = $5, category = $6, locale = $7, status = $8, version = $9, updated_at = $10 \
             WHERE id = $11 AND workspace_id = $12 AND deleted_at IS NULL AND version = $9 - 1",
        )
        .bind(&a.external_id)
        .bind(&a.content.title)
        .bind(&a.content.body)
        .bind(json_text(&a.content.questions)?)
        .bind(json_text(&a.content.tags)?)
        .bind(&a.content.category)
        .bind(&a.content.locale)
        .bind(a.content.status.as_str())
        .bind(a.version)
        .bind(a.updated_at)
        .bind(a.id.0)
        .bind(a.workspace_id.0)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "external_id_taken"))?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar(&format!("SELECT version FROM ({LIVE} AND id = $2) AS live"))
                    .bind(a.workspace_id.0)
                    .bind(a.id.0)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            return Err(match exists {
                Some(_) => StoreError::Conflict("version_conflict"),
                None => StoreError::NotFound("article"),
            });
        }
        record_version(&mut tx, a, false, author, a.updated_at).await?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_article(
        &self,
        ws: WorkspaceId,
        id: ArticleId,
        author: Author,
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Article> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(
            "UPDATE kb_articles SET deleted_at = $1, updated_at = $1, version = version + 1 \
             WHERE id = $2 AND workspace_id = $3 AND deleted_at IS NULL RETURNING *",
        )
        .bind(at)
        .bind(id.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("article"))?;
        let a = article(&row)?;
        record_version(&mut tx, &a, true, author, at).await?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(a)
    }

    async fn article_versions(
        &self,
        ws: WorkspaceId,
        id: ArticleId,
    ) -> StoreResult<Vec<ArticleVersion>> {
        let found = sqlx::query(
            "SELECT * FROM kb_article_versions WHERE workspace_id = $1 AND article_id = $2 \
             ORDER BY version",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        if found.is_empty() {
            return Err(StoreError::NotFound("article"));
        }
        found.iter().map(version).collect()
    }

    async fn articles_by_id(
        &self,
        ws: WorkspaceId,
        ids: &[ArticleId],
    ) -> StoreResult<Vec<Article>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q =
            QueryBuilder::<Postgres>::new("SELECT * FROM kb_articles WHERE workspace_id = ");
        q.push_bind(ws.0).push(" AND id IN (");
        let mut sep = q.separated(", ");
        for id in ids {
            sep.push_bind(id.0);
        }
        q.push(")");
        let found = q.build().fetch_all(&self.pool).await.map_err(db)?;
        found.iter().map(article).collect()
    }

    async fn published_articles(&self, ws: WorkspaceId) -> StoreResult<Vec<Article>> {
        let found = sqlx::query(&format!("{LIVE} AND status = 'published' ORDER BY id"))
            .bind(ws.0)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        found.iter().map(article).collect()
    }

    async fn published_versions(&self, ws: WorkspaceId) -> StoreResult<Vec<(ArticleId, i64)>> {
        let rows = sqlx::query(
            "SELECT id, version FROM kb_articles WHERE workspace_id = $1 \
             AND deleted_at IS NULL AND status = 'published'",
        )
        .bind(ws.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok((
                    ArticleId(r.try_get::<uuid::Uuid, _>("id").map_err(db)?),
                    r.try_get("version").map_err(db)?,
                ))
            })
            .collect()
    }

    async fn embedded_count(&self, ws: WorkspaceId, model: &str) -> StoreResult<usize> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM kb_articles a JOIN kb_embeddings e \
             ON e.article_id = a.id AND e.model = $2 AND e.version = a.version \
             WHERE a.workspace_id = $1 AND a.deleted_at IS NULL AND a.status = 'published'",
        )
        .bind(ws.0)
        .bind(model)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    async fn put_embedding(&self, ws: WorkspaceId, e: &ArticleEmbedding) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO kb_embeddings (article_id, workspace_id, model, version, vector) \
             SELECT id, workspace_id, $3, $4, $5 FROM kb_articles WHERE id = $1 AND workspace_id = $2 \
             ON CONFLICT (article_id, model) DO UPDATE SET version = excluded.version, \
             vector = excluded.vector WHERE excluded.version >= kb_embeddings.version",
        )
        .bind(e.article_id.0)
        .bind(ws.0)
        .bind(&e.model)
        .bind(e.version)
        .bind(vectors_to_bytes(&e.vectors))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn embeddings(
        &self,
        ws: WorkspaceId,
        model: &str,
        only: Option<&[ArticleId]>,
    ) -> StoreResult<Vec<ArticleEmbedding>> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT article_id, version, model, vector FROM kb_embeddings WHERE workspace_id = ",
        );
        q.push_bind(ws.0)
            .push(" AND model = ")
            .push_bind(model.to_string());
        if let Some(ids) = only {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            q.push(" AND article_id IN (");
            let mut sep = q.separated(", ");
            for id in ids {
                sep.push_bind(id.0);
            }
            q.push(")");
        }
        let found = q.build().fetch_all(&self.pool).await.map_err(db)?;
        found
            .iter()
            .map(|r| {
                Ok(ArticleEmbedding {
                    article_id: r.try_get::<uuid::Uuid, _>("article_id").map_err(db)?.into(),
                    version: r.try_get("version").map_err(db)?,
                    model: r.try_get("model").map_err(db)?,
                    vectors: vectors_from_bytes(&r.try_get::<Vec<u8>, _>("vector").map_err(db)?)?,
                })
            })
            .collect()
    }

    async fn articles_missing_embedding(
        &self,
        model: &str,
        limit: i64,
    ) -> StoreResult<Vec<Article>> {
        let found = sqlx::query(
            "SELECT a.* FROM kb_articles a LEFT JOIN kb_embeddings e \
             ON e.article_id = a.id AND e.model = $1 \
             WHERE a.deleted_at IS NULL AND a.status = 'published' \
             AND (e.version IS NULL OR e.version < a.version) \
             ORDER BY a.updated_at LIMIT $2",
        )
        .bind(model)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found.iter().map(article).collect()
    }

    async fn kb_synonyms(&self, ws: WorkspaceId) -> StoreResult<Vec<Vec<String>>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT term_groups FROM kb_synonyms WHERE workspace_id = $1")
                .bind(ws.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        text.map_or(Ok(Vec::new()), |t| {
            serde_json::from_str(&t).map_err(|_| corrupt("kb_synonyms.term_groups"))
        })
    }

    async fn put_kb_synonyms(
        &self,
        ws: WorkspaceId,
        groups: &[Vec<String>],
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO kb_synonyms (workspace_id, term_groups, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id) DO UPDATE SET term_groups = excluded.term_groups, \
             updated_at = excluded.updated_at",
        )
        .bind(ws.0)
        .bind(json_text(groups)?)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_bot_settings(&self, ws: WorkspaceId) -> StoreResult<Option<BotSettings>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT settings FROM bot_settings WHERE workspace_id = $1")
                .bind(ws.0)
                .fetch_optional(&self.pool)
                .await
                .map_err(db)?;
        text.map(|t| serde_json::from_str(&t).map_err(|_| corrupt("bot_settings.settings")))
            .transpose()
    }

    async fn put_bot_settings(
        &self,
        ws: WorkspaceId,
        s: &BotSettings,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO bot_settings (workspace_id, settings) VALUES ($1, $2) \
             ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings",
        )
        .bind(ws.0)
        .bind(json_text(s)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn record_bot_turn(&self, t: &BotTurn) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO bot_turns (id, workspace_id, conversation_id, question_message_id, \
             reply_message_id, question, decision, confidence, reason, articles, helpful, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(t.id.0)
        .bind(t.workspace_id.0)
        .bind(t.conversation_id.0)
        .bind(t.question_message_id.0)
        .bind(t.reply_message_id.map(|m| m.0))
        .bind(&t.question)
        .bind(t.decision.as_str())
        .bind(t.confidence)
        .bind(t.reason.map(|r| r.as_str()))
        .bind(json_text(&t.articles)?)
        .bind(t.helpful)
        .bind(t.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "bot_turn_exists"))?;
        tx.commit().await.map_err(db)
    }

    async fn bot_turns(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<BotTurn>> {
        let found = sqlx::query(
            "SELECT * FROM bot_turns WHERE workspace_id = $1 AND conversation_id = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(ws.0)
        .bind(conv.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found.iter().map(turn).collect()
    }

    async fn set_bot_feedback(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        reply: MessageId,
        helpful: bool,
    ) -> StoreResult<BotTurn> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(
            "UPDATE bot_turns SET helpful = $1 WHERE workspace_id = $2 AND conversation_id = $3 \
             AND reply_message_id = $4 RETURNING *",
        )
        .bind(helpful)
        .bind(ws.0)
        .bind(conv.0)
        .bind(reply.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("bot_turn"))?;
        tx.commit().await.map_err(db)?;
        turn(&row)
    }
}
