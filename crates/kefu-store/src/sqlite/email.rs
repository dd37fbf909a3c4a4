//! The e-mail outbox (SQLite).

use super::SqliteStore;
use crate::{corrupt, db, email as sql};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::email::OutboxEmail;
use kefu_domain::store::EmailStore;
use kefu_domain::{EmailId, StoreError, StoreResult, WorkspaceId};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

fn email(r: &SqliteRow) -> StoreResult<OutboxEmail> {
    Ok(OutboxEmail {
        id: EmailId(r.try_get("id").map_err(db)?),
        workspace_id: r
            .try_get::<Option<uuid::Uuid>, _>("workspace_id")
            .map_err(db)?
            .map(WorkspaceId),
        kind: r.try_get("kind").map_err(db)?,
        to: r.try_get("to_addr").map_err(db)?,
        subject: r.try_get("subject").map_err(db)?,
        text: r.try_get("text_body").map_err(db)?,
        html: r.try_get("html_body").map_err(db)?,
        status: r
            .try_get::<String, _>("status")
            .map_err(db)?
            .parse()
            .map_err(|_| corrupt("email_outbox.status"))?,
        attempts: r.try_get("attempts").map_err(db)?,
        next_attempt_at: r.try_get("next_attempt_at").map_err(db)?,
        last_error: r.try_get("last_error").map_err(db)?,
        created_at: r.try_get("created_at").map_err(db)?,
        sent_at: r.try_get("sent_at").map_err(db)?,
    })
}

#[async_trait]
impl EmailStore for SqliteStore {
    async fn enqueue_email(&self, e: &OutboxEmail) -> StoreResult<()> {
        sqlx::query(sql::ENQUEUE)
            .bind(e.id.0)
            .bind(e.workspace_id.map(|w| w.0))
            .bind(&e.kind)
            .bind(&e.to)
            .bind(&e.subject)
            .bind(&e.text)
            .bind(&e.html)
            .bind(e.status.as_str())
            .bind(e.attempts)
            .bind(e.next_attempt_at)
            .bind(&e.last_error)
            .bind(e.created_at)
            .bind(e.sent_at)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<OutboxEmail>> {
        let found = sqlx::query(sql::CLAIM)
            .bind(now)
            .bind(lease_until)
            .bind(limit)
            .fetch_all(&self.writer)
            .await
            .map_err(db)?;
        found.iter().map(email).collect()
    }

    async fn email_sent(&self, id: EmailId, at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(sql::SENT)
            .bind(id.0)
            .bind(at)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()> {
        sqlx::query(sql::FAILED)
            .bind(id.0)
            .bind(error)
            .bind(retry_at)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_emails(&self, ws: WorkspaceId, limit: i64) -> StoreResult<Vec<OutboxEmail>> {
        let found = sqlx::query(sql::LIST)
            .bind(ws.0)
            .bind(limit)
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        found.iter().map(email).collect()
    }

    async fn retry_email(
        &self,
        ws: WorkspaceId,
        id: EmailId,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let done = sqlx::query(sql::RETRY)
            .bind(id.0)
            .bind(ws.0)
            .bind(at)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("email"));
        }
        Ok(())
    }
}
