//! Ratings, the analytics' per-conversation facts, canned responses.

use super::chat::conversation;
use super::PgStore;
use crate::{db, map_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::analytics::{BotAnswerFacts, CannedResponse, ConversationFacts, Rating};
use kefu_domain::chat::Conversation;
use kefu_domain::store::{AnalyticsStore, CannedResponseStore, ConversationStore, OpsGauges};
use kefu_domain::{
    CannedResponseId, ContactId, ConversationId, StoreError, StoreResult, WorkspaceId,
};
use sqlx::postgres::PgRow;
use sqlx::Row;

fn canned(row: &PgRow) -> StoreResult<CannedResponse> {
    Ok(CannedResponse {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        shortcut: row.try_get("shortcut").map_err(db)?,
        title: row.try_get("title").map_err(db)?,
        body: row.try_get("body").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

#[async_trait]
impl AnalyticsStore for PgStore {
    async fn response_times(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> {
        sqlx::query_as(crate::ops::RESPONSE_TIMES)
            .bind(ws.0)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("conversation"))
    }

    async fn ops_gauges(&self, embedding_model: Option<&str>) -> StoreResult<OpsGauges> {
        crate::ops::read(&self.pool, embedding_model).await
    }

    async fn rate_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        contact: ContactId,
        rating: &Rating,
    ) -> StoreResult<Conversation> {
        let row = sqlx::query(
            "UPDATE conversations SET rating_score = $1, rating_comment = $2, rated_at = $3 \
             WHERE id = $4 AND workspace_id = $5 AND contact_id = $6 \
             AND status IN ('resolved', 'closed') RETURNING *",
        )
        .bind(i16::from(rating.score))
        .bind(&rating.comment)
        .bind(rating.rated_at)
        .bind(id.0)
        .bind(ws.0)
        .bind(contact.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(row) => conversation(&row),
            None => {
                let c = self.get_conversation(ws, id).await?;
                if c.contact_id != contact {
                    return Err(StoreError::NotFound("conversation"));
                }
                Err(StoreError::Conflict("conversation_not_resolved"))
            }
        }
    }

    async fn conversation_facts(
        &self,
        ws: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ConversationFacts>> {
        let rows = sqlx::query(crate::ops::CONVERSATION_FACTS)
            .bind(ws.0)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ConversationFacts {
                    id: r.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
                    created_at: r.try_get("created_at").map_err(db)?,
                    assignee_id: r
                        .try_get::<Option<uuid::Uuid>, _>("assignee_id")
                        .map_err(db)?
                        .map(Into::into),
                    team_id: r
                        .try_get::<Option<uuid::Uuid>, _>("team_id")
                        .map_err(db)?
                        .map(Into::into),
                    started_with_bot: r.try_get("started_with_bot").map_err(db)?,
                    human_at: r.try_get("human_at").map_err(db)?,
                    first_response_at: r.try_get("first_response_at").map_err(db)?,
                    resolved_at: r.try_get("resolved_at").map_err(db)?,
                    rating: r
                        .try_get::<Option<i16>, _>("rating_score")
                        .map_err(db)?
                        .and_then(|s| u8::try_from(s).ok()),
                    bot_answers: BotAnswerFacts {
                        last_answer_at: r.try_get("last_answer_at").map_err(db)?,
                        confirmed: r.try_get("confirmed").map_err(db)?,
                        last_answer_unhelpful: r
                            .try_get::<Option<bool>, _>("last_answer_helpful")
                            .map_err(db)?
                            == Some(false),
                        visitor_back_at: r.try_get("visitor_back_at").map_err(db)?,
                        next_conversation_at: r.try_get("next_conversation_at").map_err(db)?,
                    },
                })
            })
            .collect()
    }
}

#[async_trait]
impl CannedResponseStore for PgStore {
    async fn canned_responses(&self, ws: WorkspaceId) -> StoreResult<Vec<CannedResponse>> {
        let rows =
            sqlx::query("SELECT * FROM canned_responses WHERE workspace_id = $1 ORDER BY shortcut")
                .bind(ws.0)
                .fetch_all(&self.pool)
                .await
                .map_err(db)?;
        rows.iter().map(canned).collect()
    }

    async fn canned_response(
        &self,
        ws: WorkspaceId,
        id: CannedResponseId,
    ) -> StoreResult<CannedResponse> {
        let row = sqlx::query("SELECT * FROM canned_responses WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("canned_response"))?;
        canned(&row)
    }

    async fn create_canned_response(&self, c: &CannedResponse) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO canned_responses (id, workspace_id, shortcut, title, body, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(c.id.0)
        .bind(c.workspace_id.0)
        .bind(&c.shortcut)
        .bind(&c.title)
        .bind(&c.body)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "shortcut_taken"))?;
        Ok(())
    }

    async fn update_canned_response(&self, c: &CannedResponse) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE canned_responses SET shortcut = $1, title = $2, body = $3, updated_at = $4 \
             WHERE id = $5 AND workspace_id = $6",
        )
        .bind(&c.shortcut)
        .bind(&c.title)
        .bind(&c.body)
        .bind(c.updated_at)
        .bind(c.id.0)
        .bind(c.workspace_id.0)
        .execute(&self.pool)
        .await
        .map_err(|e| map_err(e, "shortcut_taken"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("canned_response"));
        }
        Ok(())
    }

    async fn delete_canned_response(
        &self,
        ws: WorkspaceId,
        id: CannedResponseId,
    ) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM canned_responses WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("canned_response"));
        }
        Ok(())
    }
}
