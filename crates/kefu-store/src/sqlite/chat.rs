//! Inboxes, contacts, conversations and the sequence-numbered message log.

use super::{rows, SqliteStore};
use crate::{corrupt, db, hours_text, map_err, meta_text, offline_text};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::analytics::Rating;
use kefu_domain::audit::AuditRecord;
use kefu_domain::chat::*;
use kefu_domain::store::{ConversationStore, InboxStore};
use kefu_domain::{ContactId, ConversationId, InboxId, StoreError, StoreResult, WorkspaceId};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

pub(super) fn inbox(row: &SqliteRow, sealer: &crate::sealing::Sealer) -> StoreResult<Inbox> {
    let origins: String = row.try_get("allowed_origins").map_err(db)?;
    let id: uuid::Uuid = row.try_get("id").map_err(db)?;
    Ok(Inbox {
        id: id.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        name: row.try_get("name").map_err(db)?,
        channel: row.try_get("channel").map_err(db)?,
        widget_key: row.try_get("widget_key").map_err(db)?,
        identity_secret: sealer.open_identity(
            id,
            &row.try_get::<String, _>("identity_secret").map_err(db)?,
        )?,
        allowed_origins: serde_json::from_str(&origins)
            .map_err(|_| corrupt("inboxes.allowed_origins"))?,
        greeting: row.try_get("greeting").map_err(db)?,
        bot_enabled: row.try_get("bot_enabled").map_err(db)?,
        business_hours: row
            .try_get::<Option<String>, _>("business_hours")
            .map_err(db)?
            .map(|h| serde_json::from_str(&h))
            .transpose()
            .map_err(|_| corrupt("inboxes.business_hours"))?,
        offline_mode: match row
            .try_get::<String, _>("offline_mode")
            .map_err(db)?
            .as_str()
        {
            "form" => OfflineMode::Form,
            _ => OfflineMode::Queue,
        },
        automation: crate::automation_of(row.try_get("automation").map_err(db)?)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

pub(super) fn contact(row: &SqliteRow) -> StoreResult<Contact> {
    Ok(Contact {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        visitor_id: row.try_get("visitor_id").map_err(db)?,
        external_id: row.try_get("external_id").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        email: row.try_get("email").map_err(db)?,
        phone: row.try_get("phone").map_err(db)?,
        attributes: serde_json::from_str(&row.try_get::<String, _>("attributes").map_err(db)?)
            .map_err(|_| corrupt("contacts.attributes"))?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: match row.try_get("updated_at").map_err(db)? {
            Some(at) => at,
            None => row.try_get("created_at").map_err(db)?,
        },
        merged_into: row
            .try_get::<Option<uuid::Uuid>, _>("merged_into")
            .map_err(db)?
            .map(ContactId),
        erased_at: row.try_get("erased_at").map_err(db)?,
        last_visit: crate::visit_of(row.try_get("last_visit").map_err(db)?)?,
        blocked_at: row.try_get("blocked_at").map_err(db)?,
    })
}

/// The contact itself, or the one it was merged into.
async fn survivor(tx: &mut sqlx::Transaction<'_, Sqlite>, found: Contact) -> StoreResult<Contact> {
    let Some(into) = found.merged_into else {
        return Ok(found);
    };
    let row = sqlx::query("SELECT * FROM contacts WHERE id = $1 AND workspace_id = $2")
        .bind(into.0)
        .bind(found.workspace_id.0)
        .fetch_one(&mut **tx)
        .await
        .map_err(db)?;
    contact(&row)
}

pub(super) fn conversation(row: &SqliteRow) -> StoreResult<Conversation> {
    let status: String = row.try_get("status").map_err(db)?;
    Ok(Conversation {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        inbox_id: row.try_get::<uuid::Uuid, _>("inbox_id").map_err(db)?.into(),
        contact_id: row
            .try_get::<uuid::Uuid, _>("contact_id")
            .map_err(db)?
            .into(),
        status: status
            .parse()
            .map_err(|_| corrupt("conversations.status"))?,
        priority: row.try_get("priority").map_err(db)?,
        assignee_id: row
            .try_get::<Option<uuid::Uuid>, _>("assignee_id")
            .map_err(db)?
            .map(Into::into),
        team_id: row
            .try_get::<Option<uuid::Uuid>, _>("team_id")
            .map_err(db)?
            .map(Into::into),
        assignment_reason: row
            .try_get::<Option<String>, _>("assignment_reason")
            .map_err(db)?
            .map(|r| r.parse())
            .transpose()
            .map_err(|_| corrupt("conversations.assignment_reason"))?,
        queued_at: row.try_get("queued_at").map_err(db)?,
        labels: serde_json::from_str(&row.try_get::<String, _>("labels").map_err(db)?)
            .map_err(|_| corrupt("conversations.labels"))?,
        last_seq: row.try_get("last_seq").map_err(db)?,
        rating: match row.try_get::<Option<i64>, _>("rating_score").map_err(db)? {
            Some(score) => Some(Rating {
                score: u8::try_from(score).map_err(|_| corrupt("conversations.rating_score"))?,
                comment: row.try_get("rating_comment").map_err(db)?,
                rated_at: row
                    .try_get::<Option<DateTime<Utc>>, _>("rated_at")
                    .map_err(db)?
                    .ok_or_else(|| corrupt("conversations.rated_at"))?,
            }),
            None => None,
        },
        snoozed_until: row.try_get("snoozed_until").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        updated_at: row.try_get("updated_at").map_err(db)?,
    })
}

pub(super) fn message(row: &SqliteRow) -> StoreResult<Message> {
    let kind: String = row.try_get("sender_kind").map_err(db)?;
    Ok(Message {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        conversation_id: row
            .try_get::<uuid::Uuid, _>("conversation_id")
            .map_err(db)?
            .into(),
        seq: row.try_get("seq").map_err(db)?,
        sender_kind: kind.parse().map_err(|_| corrupt("messages.sender_kind"))?,
        sender_id: row.try_get("sender_id").map_err(db)?,
        sender_name: row.try_get("sender_name").map_err(db)?,
        body: row.try_get("body").map_err(db)?,
        private: row.try_get("private").map_err(db)?,
        client_msg_id: row.try_get("client_msg_id").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
        meta: row
            .try_get::<Option<String>, _>("meta")
            .map_err(db)?
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|_| corrupt("messages.meta"))?,
    })
}

#[async_trait]
impl InboxStore for SqliteStore {
    async fn create_inbox(&self, i: &Inbox, audit: AuditRecord) -> StoreResult<()> {
        let origins = serde_json::to_string(&i.allowed_origins).map_err(StoreError::backend)?;
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO inboxes (id, workspace_id, name, channel, widget_key, identity_secret, \
             allowed_origins, greeting, bot_enabled, business_hours, offline_mode, created_at, automation) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(i.id.0)
        .bind(i.workspace_id.0)
        .bind(&i.name)
        .bind(&i.channel)
        .bind(&i.widget_key)
        .bind(self.sealer.seal_identity(i.id.0, &i.identity_secret))
        .bind(origins)
        .bind(&i.greeting)
        .bind(i.bot_enabled)
        .bind(hours_text(&i.business_hours)?)
        .bind(offline_text(i.offline_mode))
        .bind(i.created_at)
        .bind(crate::automation_text(&i.automation)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "widget_key_taken"))?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_inbox(&self, ws: WorkspaceId, id: InboxId) -> StoreResult<Inbox> {
        let row = sqlx::query("SELECT * FROM inboxes WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("inbox"))?;
        inbox(&row, &self.sealer)
    }

    async fn list_inboxes(&self, ws: WorkspaceId) -> StoreResult<Vec<Inbox>> {
        let found =
            sqlx::query("SELECT * FROM inboxes WHERE workspace_id = $1 ORDER BY created_at")
                .bind(ws.0)
                .fetch_all(&self.reader)
                .await
                .map_err(db)?;
        found.iter().map(|r| inbox(r, &self.sealer)).collect()
    }

    async fn find_inbox_by_widget_key(&self, key: &str) -> StoreResult<Option<Inbox>> {
        let row = sqlx::query("SELECT * FROM inboxes WHERE widget_key = $1")
            .bind(key)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?;
        row.as_ref().map(|r| inbox(r, &self.sealer)).transpose()
    }

    async fn update_inbox(&self, i: &Inbox, audit: AuditRecord) -> StoreResult<()> {
        let origins = serde_json::to_string(&i.allowed_origins).map_err(StoreError::backend)?;
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE inboxes SET name = $1, allowed_origins = $2, greeting = $3, bot_enabled = $4, \
             business_hours = $5, offline_mode = $6, automation = $9 WHERE id = $7 AND workspace_id = $8",
        )
        .bind(&i.name)
        .bind(origins)
        .bind(&i.greeting)
        .bind(i.bot_enabled)
        .bind(hours_text(&i.business_hours)?)
        .bind(offline_text(i.offline_mode))
        .bind(i.id.0)
        .bind(i.workspace_id.0)
        .bind(crate::automation_text(&i.automation)?)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("inbox"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_inbox(
        &self,
        ws: WorkspaceId,
        id: InboxId,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let used: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM conversations WHERE inbox_id = $1 AND workspace_id = $2 LIMIT 1",
        )
        .bind(id.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if used.is_some() {
            self.get_inbox(ws, id).await?;
            return Err(StoreError::Conflict("inbox_has_conversations"));
        }
        let done = sqlx::query("DELETE FROM inboxes WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("inbox"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }
}

/// What [`SqliteStore::insert_message`] did.
enum Inserted {
    New(i64),
    /// The sender's `client_msg_id` was used before: this is the original.
    Duplicate(Box<Message>),
    /// No conversation matched (absent, another workspace's, or failing
    /// the checks).
    NoMatch,
}

impl SqliteStore {
    /// One statement on the single writer connection: the message takes
    /// seq = last_seq + 1 from its conversation, and the trigger
    /// `messages_advance_seq` moves last_seq along within the same
    /// statement (migration 0004), so seqs stay gap-free. With `checked`
    /// the conversation must also be open; with `owner`, that contact's in
    /// that inbox. A client_msg_id the sender already
    /// used breaks the unique index: the statement rolls back, no seq is
    /// consumed, and the original answers.
    async fn insert_message(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        checked: bool,
        owner: Option<(ContactId, InboxId)>,
        m: &NewMessage,
    ) -> StoreResult<Inserted> {
        let stored = sqlx::query_scalar::<_, i64>(
            "INSERT INTO messages (id, workspace_id, conversation_id, seq, sender_kind, sender_id, body, \
             private, client_msg_id, created_at, meta, sender_name) \
             SELECT $1, $2, $3, c.last_seq + 1, $4, $5, $6, $7, $8, $9, $10, $11 FROM conversations c \
             WHERE c.id = $3 AND c.workspace_id = $2 \
             AND (NOT $12 OR c.status <> 'closed') \
             AND ($13 IS NULL OR (c.contact_id = $13 AND c.inbox_id = $14 \
             AND NOT EXISTS (SELECT 1 FROM contacts k WHERE k.id = $13 AND k.blocked_at IS NOT NULL))) \
             RETURNING seq",
        )
        .bind(m.id.0)
        .bind(ws.0)
        .bind(conv.0)
        .bind(m.sender_kind.as_str())
        .bind(m.sender_id)
        .bind(&m.body)
        .bind(m.private)
        .bind(&m.client_msg_id)
        .bind(m.created_at)
        .bind(meta_text(m)?)
        .bind(&m.sender_name)
        .bind(checked)
        .bind(owner.map(|(c, _)| c.0))
        .bind(owner.map(|(_, i)| i.0))
        // `fetch_all`, not `fetch_optional`: the statement must be stepped to
        // its end, or SQLite never runs its WAL auto-checkpoint after it and
        // the log grows until some other commit checkpoints it all at once
        // (a stall of hundreds of milliseconds under load; benchmarks.md).
        .fetch_all(&self.writer)
        .await
        .map(|rows| rows.into_iter().next())
        .map_err(|e| map_err(e, "duplicate_message"));
        match stored {
            Ok(Some(seq)) => Ok(Inserted::New(seq)),
            Ok(None) => Ok(Inserted::NoMatch),
            Err(StoreError::Conflict(_)) if m.client_msg_id.is_some() => {
                let cid = m.client_msg_id.as_deref().unwrap_or_default();
                self.sent_before(ws, m, cid)
                    .await?
                    .map(|m| Inserted::Duplicate(Box::new(m)))
                    .ok_or(StoreError::Conflict("duplicate_message"))
            }
            Err(e) => Err(e),
        }
    }

    /// The message a sender already stored under this `client_msg_id`.
    async fn sent_before(
        &self,
        ws: WorkspaceId,
        m: &NewMessage,
        client_msg_id: &str,
    ) -> StoreResult<Option<Message>> {
        let row = sqlx::query(
            "SELECT * FROM messages WHERE workspace_id = $1 AND sender_kind = $2 \
             AND sender_id IS $3 AND client_msg_id = $4",
        )
        .bind(ws.0)
        .bind(m.sender_kind.as_str())
        .bind(m.sender_id)
        .bind(client_msg_id)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        row.as_ref().map(message).transpose()
    }
}

#[async_trait]
impl ConversationStore for SqliteStore {
    async fn contact_for_visitor(
        &self,
        ws: WorkspaceId,
        visitor_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Contact> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO contacts (id, workspace_id, visitor_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (workspace_id, visitor_id) DO NOTHING",
        )
        .bind(ContactId::new().0)
        .bind(ws.0)
        .bind(visitor_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let row = sqlx::query("SELECT * FROM contacts WHERE workspace_id = $1 AND visitor_id = $2")
            .bind(ws.0)
            .bind(visitor_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        let found = survivor(&mut tx, contact(&row)?).await?;
        tx.commit().await.map_err(db)?;
        Ok(found)
    }

    async fn contact_for_identity(
        &self,
        ws: WorkspaceId,
        external_id: &str,
        visitor_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Contact> {
        let mut tx = self.write_tx().await?;
        let found =
            sqlx::query("SELECT * FROM contacts WHERE workspace_id = $1 AND external_id = $2")
                .bind(ws.0)
                .bind(external_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        let row = match found {
            Some(row) => row,
            None => {
                // The browser's anonymous contact becomes the identified one
                // (keeping its history), unless it is someone else's already.
                let by_visitor = sqlx::query(
                    "SELECT * FROM contacts WHERE workspace_id = $1 AND visitor_id = $2",
                )
                .bind(ws.0)
                .bind(visitor_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
                match by_visitor {
                    Some(row) if contact(&row)?.external_id.is_none() => sqlx::query(
                        "UPDATE contacts SET external_id = $1, updated_at = $2 WHERE id = $3 RETURNING *",
                    )
                    .bind(external_id)
                    .bind(now)
                    .bind(row.try_get::<uuid::Uuid, _>("id").map_err(db)?)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?,
                    taken => sqlx::query(
                        "INSERT INTO contacts (id, workspace_id, visitor_id, external_id, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $5) RETURNING *",
                    )
                    .bind(ContactId::new().0)
                    .bind(ws.0)
                    .bind(match taken {
                        Some(_) => crate::fresh_visitor_id(),
                        None => visitor_id.to_string(),
                    })
                    .bind(external_id)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db)?,
                }
            }
        };
        let found = survivor(&mut tx, contact(&row)?).await?;
        tx.commit().await.map_err(db)?;
        Ok(found)
    }

    async fn get_contact(&self, ws: WorkspaceId, id: ContactId) -> StoreResult<Contact> {
        let row = sqlx::query("SELECT * FROM contacts WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("contact"))?;
        contact(&row)
    }

    async fn update_contact(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        patch: &ContactPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Contact> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT * FROM contacts WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("contact"))?;
        let next = contact(&row)?.patched(patch, now);
        let row = sqlx::query(
            "UPDATE contacts SET name = $1, email = $2, phone = $3, attributes = $4, updated_at = $5 \
             WHERE id = $6 AND workspace_id = $7 RETURNING *",
        )
        .bind(&next.name)
        .bind(&next.email)
        .bind(&next.phone)
        .bind(serde_json::to_string(&next.attributes).map_err(StoreError::backend)?)
        .bind(now)
        .bind(id.0)
        .bind(ws.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let updated = contact(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(updated)
    }

    async fn list_contacts(&self, ws: WorkspaceId, f: &ContactFilter) -> StoreResult<Vec<Contact>> {
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT * FROM contacts WHERE merged_into IS NULL AND workspace_id = ",
        );
        q.push_bind(ws.0);
        if let Some(text) = &f.query {
            // SQLite's LIKE ignores ASCII case (Chinese has none to
            // ignore); the unit separator keeps a match inside one field.
            q.push(
                " AND (coalesce(name, '') || char(31) || coalesce(email, '') || char(31) \
                 || coalesce(phone, '') || char(31) || coalesce(external_id, '')) LIKE ",
            )
            .push_bind(crate::like_pattern(text))
            .push(" ESCAPE '\\'");
        }
        if let Some((key, value)) = &f.attribute {
            let (quoted, raw) = crate::attribute_forms(value);
            q.push(" AND (attributes -> ")
                .push_bind(format!("$.\"{key}\""))
                .push(") IN (")
                .push_bind(quoted)
                .push(", ")
                .push_bind(raw)
                .push(")");
        }
        if let Some((at, id)) = f.before {
            q.push(" AND (created_at < ")
                .push_bind(at)
                .push(" OR (created_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(id.0)
                .push("))");
        }
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(f.limit.max(0));
        let found = q.build().fetch_all(&self.reader).await.map_err(db)?;
        found.iter().map(contact).collect()
    }

    async fn merge_contacts(
        &self,
        ws: WorkspaceId,
        into: ContactId,
        from: ContactId,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Contact> {
        if into == from {
            return Err(StoreError::Conflict("same_contact"));
        }
        let mut tx = self.write_tx().await?;
        // Locked in id order, so two merges of the same pair cannot
        // deadlock.
        let mut ids = [into, from];
        ids.sort_by_key(|c| c.0);
        let mut both = Vec::with_capacity(2);
        for id in ids {
            let row = sqlx::query(
                "SELECT * FROM contacts WHERE id = $1 AND workspace_id = $2 AND merged_into IS NULL",
            )
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("contact"))?;
            both.push(contact(&row)?);
        }
        if both[0].id != into {
            both.swap(0, 1);
        }
        let (survivor, other) = (both.remove(0), both.remove(0));
        let next = survivor.clone().absorbing(&other, now);
        // The external id is unique per workspace: the other gives it up
        // before the survivor takes it.
        if next.external_id != survivor.external_id {
            sqlx::query("UPDATE contacts SET external_id = NULL WHERE id = $1")
                .bind(from.0)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let row = sqlx::query(
            "UPDATE contacts SET name = $1, email = $2, phone = $3, external_id = $4, \
             attributes = $5, updated_at = $6 WHERE id = $7 RETURNING *",
        )
        .bind(&next.name)
        .bind(&next.email)
        .bind(&next.phone)
        .bind(&next.external_id)
        .bind(serde_json::to_string(&next.attributes).map_err(StoreError::backend)?)
        .bind(now)
        .bind(into.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let merged = contact(&row)?;
        sqlx::query(
            "UPDATE read_positions SET reader_id = $1 WHERE reader_id = $2 AND conversation_id IN \
             (SELECT id FROM conversations WHERE workspace_id = $3 AND contact_id = $2)",
        )
        .bind(into.0)
        .bind(from.0)
        .bind(ws.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let moved = sqlx::query(
            "UPDATE conversations SET contact_id = $1 WHERE workspace_id = $2 AND contact_id = $3",
        )
        .bind(into.0)
        .bind(ws.0)
        .bind(from.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        // Contacts merged into `from` earlier now lead to the survivor too.
        sqlx::query(
            "UPDATE contacts SET merged_into = $1, updated_at = $2 \
             WHERE workspace_id = $3 AND (id = $4 OR merged_into = $4)",
        )
        .bind(into.0)
        .bind(now)
        .bind(ws.0)
        .bind(from.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let mut audit = audit;
        audit.details["conversations_moved"] = moved.into();
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(merged)
    }

    async fn erase_contact(
        &self,
        ws: WorkspaceId,
        id: ContactId,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Erased> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "SELECT id FROM contacts WHERE id = $1 AND workspace_id = $2 AND merged_into IS NULL",
        )
        .bind(id.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("contact"))?;
        // The contact and those merged into it (which kept their own
        // copies of the profile) lose every personal field, and their
        // visitor ids: the browser no longer finds this history.
        let retired: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT id FROM contacts WHERE workspace_id = $1 AND (id = $2 OR merged_into = $2)",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        for c in retired {
            sqlx::query(
                "UPDATE contacts SET name = NULL, email = NULL, phone = NULL, external_id = NULL, \
                 attributes = '{}', last_visit = NULL, visitor_id = $1, erased_at = COALESCE(erased_at, $2), \
                 updated_at = $2 WHERE id = $3",
            )
            .bind(crate::fresh_visitor_id())
            .bind(now)
            .bind(c)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        let messages = sqlx::query(
            "UPDATE messages SET body = '', meta = NULL WHERE workspace_id = $1 \
             AND sender_kind = 'visitor' AND (body <> '' OR meta IS NOT NULL) AND conversation_id IN \
             (SELECT id FROM conversations WHERE workspace_id = $1 AND contact_id = $2)",
        )
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        sqlx::query(
            "UPDATE bot_turns SET question = '' WHERE workspace_id = $1 AND conversation_id IN \
             (SELECT id FROM conversations WHERE workspace_id = $1 AND contact_id = $2)",
        )
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let conversations: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM conversations WHERE workspace_id = $1 AND contact_id = $2",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        // Everything the visitor uploaded, sent or not (also as a contact
        // merged into this one).
        let files: Vec<uuid::Uuid> = sqlx::query_scalar(
            "DELETE FROM attachments WHERE workspace_id = $1 AND uploader_kind = 'visitor' \
             AND uploader_id IN (SELECT id FROM contacts WHERE workspace_id = $1 \
             AND (id = $2 OR merged_into = $2)) RETURNING id",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let erased = Erased {
            messages,
            conversations: conversations as u64,
            files: files.into_iter().map(kefu_domain::AttachmentId).collect(),
        };
        let mut audit = audit;
        audit.details["messages"] = erased.messages.into();
        audit.details["conversations"] = erased.conversations.into();
        audit.details["files"] = erased.files.len().into();
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)?;
        Ok(erased)
    }

    async fn contact_history(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>> {
        let found = sqlx::query(
            "SELECT * FROM conversations WHERE workspace_id = $1 AND contact_id = $2 \
             ORDER BY created_at DESC LIMIT $3",
        )
        .bind(ws.0)
        .bind(contact.0)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        found.iter().map(conversation).collect()
    }

    async fn update_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        priority: Option<i32>,
        labels: Option<&[String]>,
        at: DateTime<Utc>,
    ) -> StoreResult<Conversation> {
        let labels = labels
            .map(serde_json::to_string)
            .transpose()
            .map_err(StoreError::backend)?;
        let row = sqlx::query(
            "UPDATE conversations SET priority = COALESCE($1, priority), labels = COALESCE($2, labels), \
             updated_at = $3 WHERE id = $4 AND workspace_id = $5 RETURNING *",
        )
        .bind(priority)
        .bind(labels)
        .bind(at)
        .bind(id.0)
        .bind(ws.0)
        // Stepped to the end (see `append_message`).
        .fetch_all(&self.writer)
        .await
        .map_err(db)?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound("conversation"))?;
        conversation(&row)
    }

    async fn mark_read(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        reader: uuid::Uuid,
        seq: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let mut tx = self.write_tx().await?;
        let last: i64 = sqlx::query_scalar(
            "SELECT last_seq FROM conversations WHERE id = $1 AND workspace_id = $2",
        )
        .bind(conv.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("conversation"))?;
        let stored: i64 = sqlx::query_scalar(
            "INSERT INTO read_positions (workspace_id, conversation_id, reader_id, seq, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (conversation_id, reader_id) DO UPDATE \
             SET seq = MAX(read_positions.seq, excluded.seq), updated_at = excluded.updated_at \
             RETURNING seq",
        )
        .bind(ws.0)
        .bind(conv.0)
        .bind(reader)
        .bind(seq.clamp(0, last))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(stored)
    }

    async fn unread_counts(
        &self,
        ws: WorkspaceId,
        reader: uuid::Uuid,
        conversations: &[ConversationId],
        include_private: bool,
    ) -> StoreResult<std::collections::HashMap<ConversationId, i64>> {
        let mut out = std::collections::HashMap::new();
        if conversations.is_empty() {
            return Ok(out);
        }
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT m.conversation_id, COUNT(*) AS n FROM messages m \
             LEFT JOIN read_positions r ON r.conversation_id = m.conversation_id AND r.reader_id = ",
        );
        q.push_bind(reader)
            .push(" WHERE m.workspace_id = ")
            .push_bind(ws.0)
            .push(" AND m.seq > COALESCE(r.seq, 0) AND m.sender_id IS NOT ")
            .push_bind(reader);
        if !include_private {
            q.push(" AND m.private = 0");
        }
        q.push(" AND m.conversation_id IN (");
        let mut list = q.separated(", ");
        for c in conversations {
            list.push_bind(c.0);
        }
        q.push(") GROUP BY m.conversation_id");
        for row in q.build().fetch_all(&self.reader).await.map_err(db)? {
            let id: uuid::Uuid = row.try_get("conversation_id").map_err(db)?;
            out.insert(ConversationId(id), row.try_get("n").map_err(db)?);
        }
        Ok(out)
    }

    async fn create_conversation(&self, c: &Conversation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO conversations (id, workspace_id, inbox_id, contact_id, status, priority, \
             assignee_id, team_id, queued_at, labels, last_seq, created_at, updated_at, \
             started_with_bot, human_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14)",
        )
        .bind(c.id.0)
        .bind(c.workspace_id.0)
        .bind(c.inbox_id.0)
        .bind(c.contact_id.0)
        .bind(c.status.as_str())
        .bind(c.priority)
        .bind(c.assignee_id.map(|u| u.0))
        .bind(c.team_id.map(|t| t.0))
        .bind(c.queued_at)
        .bind(serde_json::to_string(&c.labels).map_err(StoreError::backend)?)
        .bind(c.created_at)
        .bind(c.updated_at)
        .bind(c.status == ConversationStatus::Bot)
        .bind(
            matches!(
                c.status,
                ConversationStatus::Queued | ConversationStatus::Assigned
            )
            .then_some(c.created_at),
        )
        .execute(&self.writer)
        .await
        .map_err(|e| map_err(e, "conversation_exists"))?;
        Ok(())
    }

    async fn get_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        let row = sqlx::query("SELECT * FROM conversations WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound("conversation"))?;
        conversation(&row)
    }

    async fn list_conversations(
        &self,
        ws: WorkspaceId,
        f: &ConversationFilter,
    ) -> StoreResult<Vec<Conversation>> {
        let mut q =
            QueryBuilder::<Sqlite>::new("SELECT * FROM conversations WHERE workspace_id = ");
        q.push_bind(ws.0);
        if let Some(status) = f.status {
            q.push(" AND status = ").push_bind(status.as_str());
        }
        if let Some(a) = f.assignee {
            q.push(" AND assignee_id = ").push_bind(a.0);
        }
        if let Some(t) = f.team {
            q.push(" AND team_id = ").push_bind(t.0);
        }
        if let Some(l) = &f.label {
            q.push(" AND EXISTS (SELECT 1 FROM json_each(conversations.labels) WHERE value = ")
                .push_bind(l.clone())
                .push(")");
        }
        if let Some(text) = &f.text {
            let p = crate::like_pattern(text);
            q.push(" AND (EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id AND m.body LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\') OR EXISTS (SELECT 1 FROM contacts k WHERE k.id = conversations.contact_id AND (k.name LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\' OR k.email LIKE ")
                .push_bind(p.clone())
                .push(" ESCAPE '\\' OR k.phone LIKE ")
                .push_bind(p)
                .push(" ESCAPE '\\')))");
        }
        match f.snoozed {
            Some(true) => {
                q.push(" AND snoozed_until IS NOT NULL");
            }
            Some(false) => {
                q.push(" AND snoozed_until IS NULL");
            }
            None => {}
        }
        if let Some(me) = f.visible_to_agent {
            q.push(" AND (assignee_id = ")
                .push_bind(me.0)
                .push(
                    " OR (assignee_id IS NULL AND (team_id IS NULL OR team_id IN \
                       (SELECT team_id FROM team_members WHERE user_id = ",
                )
                .push_bind(me.0)
                .push("))))");
        }
        if let Some((at, id)) = f.after {
            q.push(" AND (updated_at < ")
                .push_bind(at)
                .push(" OR (updated_at = ")
                .push_bind(at)
                .push(" AND id < ")
                .push_bind(id.0)
                .push("))");
        }
        q.push(" ORDER BY updated_at DESC, id DESC LIMIT ")
            .push_bind(f.limit.max(0));
        let found = q.build().fetch_all(&self.reader).await.map_err(db)?;
        found.iter().map(conversation).collect()
    }

    async fn transition_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        t: &Transition,
    ) -> StoreResult<Conversation> {
        let mut tx = self.write_tx().await?;
        let updated = apply_transition(&mut tx, ws, id, t).await?;
        tx.commit().await.map_err(db)?;
        Ok(updated)
    }

    async fn contact_conversations(
        &self,
        ws: WorkspaceId,
        inbox: InboxId,
        contact: ContactId,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>> {
        let found = sqlx::query(
            "SELECT * FROM conversations WHERE workspace_id = $1 AND inbox_id = $2 AND contact_id = $3 \
             ORDER BY created_at DESC LIMIT $4",
        )
        .bind(ws.0)
        .bind(inbox.0)
        .bind(contact.0)
        .bind(limit.max(0))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        found.iter().map(conversation).collect()
    }

    async fn open_conversation(
        &self,
        ws: WorkspaceId,
        inbox: InboxId,
        contact: ContactId,
    ) -> StoreResult<Option<Conversation>> {
        let row = sqlx::query(
            "SELECT * FROM conversations WHERE workspace_id = $1 AND inbox_id = $2 AND contact_id = $3 \
             AND status <> 'closed' ORDER BY created_at DESC LIMIT 1",
        )
        .bind(ws.0)
        .bind(inbox.0)
        .bind(contact.0)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.as_ref().map(conversation).transpose()
    }

    async fn append_checked(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        owner: Option<(ContactId, InboxId)>,
        m: &NewMessage,
    ) -> StoreResult<(Appended, Conversation)> {
        // The checks ride in the INSERT's WHERE, on the writer: a close
        // committed before this statement is seen (a read on a snapshot
        // first, then the write, let an append land after a close).
        match self.insert_message(ws, conv, true, owner, m).await? {
            Inserted::New(seq) => {
                let c = self.get_conversation(ws, conv).await?;
                let message = Message::stored(ws, conv, seq, m);
                Ok((Appended::New(message), c))
            }
            Inserted::Duplicate(original) => {
                let c = self.get_conversation(ws, original.conversation_id).await?;
                Ok((Appended::Duplicate(*original), c))
            }
            Inserted::NoMatch => {
                // Nothing matched: say why, as the checks would have.
                let c = self.get_conversation(ws, conv).await?;
                if owner
                    .is_some_and(|(contact, inbox)| c.contact_id != contact || c.inbox_id != inbox)
                {
                    return Err(StoreError::NotFound("conversation"));
                }
                if let Some((contact, _)) = owner {
                    let blocked: Option<Option<DateTime<Utc>>> =
                        sqlx::query_scalar("SELECT blocked_at FROM contacts WHERE id = $1")
                            .bind(contact.0)
                            .fetch_optional(&self.reader)
                            .await
                            .map_err(db)?;
                    if blocked.flatten().is_some() {
                        return Err(StoreError::Rule("visitor_blocked"));
                    }
                }
                Err(StoreError::Conflict("conversation_closed"))
            }
        }
    }

    async fn append_message(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        m: &NewMessage,
    ) -> StoreResult<Appended> {
        match self.insert_message(ws, conv, false, None, m).await? {
            Inserted::New(seq) => Ok(Appended::New(Message::stored(ws, conv, seq, m))),
            Inserted::Duplicate(original) => Ok(Appended::Duplicate(*original)),
            Inserted::NoMatch => Err(StoreError::NotFound("conversation")),
        }
    }

    async fn messages_after(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        after_seq: i64,
        limit: i64,
        include_private: bool,
    ) -> StoreResult<Vec<Message>> {
        // One read transaction: the conversation check and the page come
        // from the same snapshot.
        let mut tx = self.reader.begin().await.map_err(db)?;
        conversation_exists(&mut tx, ws, conv).await?;
        let found = sqlx::query(
            "SELECT * FROM messages WHERE workspace_id = $1 AND conversation_id = $2 AND seq > $3 \
             AND ($4 OR private = FALSE) ORDER BY seq LIMIT $5",
        )
        .bind(ws.0)
        .bind(conv.0)
        .bind(after_seq)
        .bind(include_private)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        found.iter().map(message).collect()
    }

    async fn messages_before(
        &self,
        ws: WorkspaceId,
        conv: ConversationId,
        before_seq: i64,
        limit: i64,
        include_private: bool,
    ) -> StoreResult<Vec<Message>> {
        let mut tx = self.reader.begin().await.map_err(db)?;
        conversation_exists(&mut tx, ws, conv).await?;
        let found = sqlx::query(
            "SELECT * FROM messages WHERE workspace_id = $1 AND conversation_id = $2 AND seq < $3 \
             AND ($4 OR private = FALSE) ORDER BY seq DESC LIMIT $5",
        )
        .bind(ws.0)
        .bind(conv.0)
        .bind(before_seq)
        .bind(include_private)
        .bind(limit.max(0))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut page = found.iter().map(message).collect::<StoreResult<Vec<_>>>()?;
        page.reverse();
        Ok(page)
    }

    async fn last_messages(
        &self,
        ws: WorkspaceId,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<Message>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        // The newest message is the one at the conversation's last_seq.
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT m.* FROM messages m JOIN conversations c \
             ON c.id = m.conversation_id AND m.seq = c.last_seq WHERE c.workspace_id = ",
        );
        q.push_bind(ws.0).push(" AND c.id IN (");
        let mut list = q.separated(", ");
        for c in conversations {
            list.push_bind(c.0);
        }
        q.push(")");
        let found = q.build().fetch_all(&self.reader).await.map_err(db)?;
        found.iter().map(message).collect()
    }

    async fn contacts_by_ids(
        &self,
        ws: WorkspaceId,
        ids: &[ContactId],
    ) -> StoreResult<Vec<Contact>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM contacts WHERE workspace_id = ");
        q.push_bind(ws.0).push(" AND id IN (");
        let mut list = q.separated(", ");
        for c in ids {
            list.push_bind(c.0);
        }
        q.push(")");
        let found = q.build().fetch_all(&self.reader).await.map_err(db)?;
        found.iter().map(contact).collect()
    }
}

/// `NotFound` unless the workspace has this conversation (a page of its
/// messages then comes from the same snapshot).
async fn conversation_exists(
    tx: &mut sqlx::SqliteConnection,
    ws: WorkspaceId,
    conv: ConversationId,
) -> StoreResult<()> {
    let exists: Option<bool> =
        sqlx::query_scalar("SELECT TRUE FROM conversations WHERE id = $1 AND workspace_id = $2")
            .bind(conv.0)
            .bind(ws.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    exists
        .map(|_| ())
        .ok_or(StoreError::NotFound("conversation"))
}

/// Applies a status change inside the caller's write transaction, recording
/// the assignment when the transition has a reason.
pub(super) async fn apply_transition(
    tx: &mut sqlx::SqliteConnection,
    ws: WorkspaceId,
    id: ConversationId,
    t: &Transition,
) -> StoreResult<Conversation> {
    let row = sqlx::query("SELECT * FROM conversations WHERE id = $1 AND workspace_id = $2")
        .bind(id.0)
        .bind(ws.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("conversation"))?;
    let current = conversation(&row)?;
    let next = crate::transitioned(&current, t)?;
    let row = sqlx::query(
        "UPDATE conversations SET status = $1, assignee_id = $2, team_id = $3, queued_at = $4, \
         assignment_reason = $5, updated_at = $6, \
         human_at = COALESCE(human_at, CASE WHEN $1 IN ('queued', 'assigned') THEN $6 END), \
         resolved_at = CASE WHEN $1 = 'resolved' THEN $6 WHEN $1 = 'closed' THEN COALESCE(resolved_at, $6) END \
         WHERE id = $7 AND workspace_id = $8 RETURNING *",
    )
    .bind(next.status.as_str())
    .bind(next.assignee_id.map(|u| u.0))
    .bind(next.team_id.map(|u| u.0))
    .bind(next.queued_at)
    .bind(next.assignment_reason.map(|r| r.as_str()))
    .bind(t.at)
    .bind(id.0)
    .bind(ws.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    if let Some(a) = crate::assignment_record(&current, &next, t) {
        sqlx::query(
            "INSERT INTO assignments (id, workspace_id, conversation_id, assignee_id, team_id, reason, \
             actor_id, waited_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(a.id.0)
        .bind(ws.0)
        .bind(id.0)
        .bind(a.assignee_id.map(|u| u.0))
        .bind(a.team_id.map(|u| u.0))
        .bind(a.reason.as_str())
        .bind(a.actor_id.map(|u| u.0))
        .bind(a.waited_ms)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    conversation(&row)
}
