//! Teams, agent presence and the queue (PostgreSQL). A transaction-scoped
//! advisory lock per workspace is the routing lock, so replicas routing at
//! once take turns; each assignment also locks its conversation row.

use super::chat::apply_transition;
use super::{rows, PgStore};
use crate::{corrupt, db, map_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kefu_domain::audit::AuditRecord;
use kefu_domain::chat::{Conversation, ConversationStatus, QueueStanding, Transition};
use kefu_domain::routing::*;
use kefu_domain::store::{ConversationStore, RoutingStore};
use kefu_domain::{ConversationId, StoreError, StoreResult, TeamId, UserId, WorkspaceId};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;

async fn team_members(
    conn: &mut PgConnection,
    ws: WorkspaceId,
) -> StoreResult<HashMap<TeamId, Vec<UserId>>> {
    let found = sqlx::query(
        "SELECT team_id, user_id FROM team_members WHERE workspace_id = $1 ORDER BY user_id",
    )
    .bind(ws.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut out: HashMap<TeamId, Vec<UserId>> = HashMap::new();
    for row in found {
        let t: uuid::Uuid = row.try_get("team_id").map_err(db)?;
        let u: uuid::Uuid = row.try_get("user_id").map_err(db)?;
        out.entry(TeamId(t)).or_default().push(UserId(u));
    }
    Ok(out)
}

/// Replaces a team's members; every one must belong to the workspace.
async fn set_members(conn: &mut PgConnection, team: &Team) -> StoreResult<()> {
    sqlx::query("DELETE FROM team_members WHERE team_id = $1")
        .bind(team.id.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    for u in &team.members {
        let member: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(team.workspace_id.0)
        .bind(u.0)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db)?;
        if member.is_none() {
            return Err(StoreError::Rule("not_a_member"));
        }
        sqlx::query(
            "INSERT INTO team_members (team_id, workspace_id, user_id) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(team.id.0)
        .bind(team.workspace_id.0)
        .bind(u.0)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    }
    Ok(())
}

const PRESENCE_SELECT: &str = "SELECT m.user_id, p.status, p.capacity, p.updated_at, \
     (SELECT COUNT(*) FROM conversations c WHERE c.workspace_id = m.workspace_id \
      AND c.assignee_id = m.user_id AND c.status = 'assigned') AS load \
     FROM memberships m LEFT JOIN agent_presence p \
     ON p.workspace_id = m.workspace_id AND p.user_id = m.user_id WHERE m.workspace_id = $1";

async fn presence(
    conn: &mut PgConnection,
    ws: WorkspaceId,
    only: Option<UserId>,
    default_capacity: i32,
) -> StoreResult<Vec<Presence>> {
    let teams = team_members(conn, ws).await?;
    let sql = match only {
        Some(_) => format!("{PRESENCE_SELECT} AND m.user_id = $2"),
        None => format!("{PRESENCE_SELECT} ORDER BY m.created_at"),
    };
    let mut q = sqlx::query(&sql).bind(ws.0);
    if let Some(u) = only {
        q = q.bind(u.0);
    }
    let found = q.fetch_all(&mut *conn).await.map_err(db)?;
    found
        .iter()
        .map(|row| {
            let user = UserId(row.try_get("user_id").map_err(db)?);
            let status: Option<String> = row.try_get("status").map_err(db)?;
            Ok(Presence {
                user_id: user,
                status: match status {
                    Some(s) => s.parse().map_err(|_| corrupt("agent_presence.status"))?,
                    None => AgentStatus::Offline,
                },
                capacity: row
                    .try_get::<Option<i32>, _>("capacity")
                    .map_err(db)?
                    .unwrap_or(default_capacity),
                load: row.try_get::<i64, _>("load").map_err(db)? as i32,
                teams: teams
                    .iter()
                    .filter(|(_, m)| m.contains(&user))
                    .map(|(t, _)| *t)
                    .collect(),
                updated_at: row.try_get("updated_at").map_err(db)?,
            })
        })
        .collect()
}

async fn snapshot(conn: &mut PgConnection, ws: WorkspaceId, limit: i64) -> StoreResult<Snapshot> {
    let queue = sqlx::query(
        "SELECT id, contact_id, team_id, priority, COALESCE(queued_at, updated_at) AS queued_at \
         FROM conversations WHERE workspace_id = $1 AND status = 'queued' AND assignee_id IS NULL \
         ORDER BY priority DESC, queued_at, id LIMIT $2",
    )
    .bind(ws.0)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(|row| {
        Ok(Waiting {
            conversation: ConversationId(row.try_get("id").map_err(db)?),
            contact: kefu_domain::ContactId(row.try_get("contact_id").map_err(db)?),
            team: row
                .try_get::<Option<uuid::Uuid>, _>("team_id")
                .map_err(db)?
                .map(TeamId),
            priority: row.try_get("priority").map_err(db)?,
            queued_at: row.try_get("queued_at").map_err(db)?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    if queue.is_empty() {
        return Ok(Snapshot::default());
    }
    let agents = presence(conn, ws, None, 0)
        .await?
        .into_iter()
        .filter(|p| p.status == AgentStatus::Online)
        .map(|p| Candidate {
            user: p.user_id,
            teams: p.teams,
            capacity: p.capacity,
            load: p.load,
        })
        .collect();
    let mut last_agent = HashMap::new();
    let found = sqlx::query(
        "SELECT contact_id, assignee_id FROM (SELECT contact_id, assignee_id, ROW_NUMBER() OVER \
         (PARTITION BY contact_id ORDER BY updated_at DESC) AS rn FROM conversations \
         WHERE workspace_id = $1 AND assignee_id IS NOT NULL AND contact_id IN \
         (SELECT contact_id FROM conversations WHERE workspace_id = $1 AND status = 'queued')) \
         AS latest WHERE rn = 1",
    )
    .bind(ws.0)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    for row in found {
        last_agent.insert(
            kefu_domain::ContactId(row.try_get("contact_id").map_err(db)?),
            UserId(row.try_get("assignee_id").map_err(db)?),
        );
    }
    Ok(Snapshot {
        queue,
        agents,
        last_agent,
    })
}

#[async_trait]
impl RoutingStore for PgStore {
    async fn create_team(&self, team: &Team, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO teams (id, workspace_id, name, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(team.id.0)
        .bind(team.workspace_id.0)
        .bind(&team.name)
        .bind(team.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "team_name_taken"))?;
        set_members(&mut tx, team).await?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn get_team(&self, ws: WorkspaceId, id: TeamId) -> StoreResult<Team> {
        self.list_teams(ws)
            .await?
            .into_iter()
            .find(|t| t.id == id)
            .ok_or(StoreError::NotFound("team"))
    }

    async fn list_teams(&self, ws: WorkspaceId) -> StoreResult<Vec<Team>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let mut members = team_members(&mut conn, ws).await?;
        let found = sqlx::query("SELECT * FROM teams WHERE workspace_id = $1 ORDER BY name")
            .bind(ws.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
        found
            .iter()
            .map(|row| {
                let id = TeamId(row.try_get("id").map_err(db)?);
                Ok(Team {
                    id,
                    workspace_id: ws,
                    name: row.try_get("name").map_err(db)?,
                    members: members.remove(&id).unwrap_or_default(),
                    created_at: row.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn update_team(&self, team: &Team, audit: AuditRecord) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query("UPDATE teams SET name = $1 WHERE id = $2 AND workspace_id = $3")
            .bind(&team.name)
            .bind(team.id.0)
            .bind(team.workspace_id.0)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "team_name_taken"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("team"));
        }
        set_members(&mut tx, team).await?;
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_team(
        &self,
        ws: WorkspaceId,
        id: TeamId,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // ON DELETE SET NULL moves its conversations to the general queue.
        let done = sqlx::query("DELETE FROM teams WHERE id = $1 AND workspace_id = $2")
            .bind(id.0)
            .bind(ws.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("team"));
        }
        rows::append_audit(&mut tx, &self.sealer.chain()?, audit).await?;
        tx.commit().await.map_err(db)
    }

    async fn member_teams(&self, ws: WorkspaceId, user: UserId) -> StoreResult<Vec<TeamId>> {
        let found: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT team_id FROM team_members WHERE workspace_id = $1 AND user_id = $2",
        )
        .bind(ws.0)
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(found.into_iter().map(TeamId).collect())
    }

    async fn set_presence(
        &self,
        ws: WorkspaceId,
        user: UserId,
        status: AgentStatus,
        capacity: Option<i32>,
        default_capacity: i32,
        now: DateTime<Utc>,
    ) -> StoreResult<Presence> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(
            "INSERT INTO agent_presence (workspace_id, user_id, status, capacity, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, user_id) DO UPDATE \
             SET status = excluded.status, capacity = COALESCE($6, agent_presence.capacity), \
             updated_at = excluded.updated_at, timed_out_from = NULL",
        )
        .bind(ws.0)
        .bind(user.0)
        .bind(status.as_str())
        .bind(capacity.unwrap_or(default_capacity))
        .bind(now)
        .bind(capacity)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let found = presence(&mut tx, ws, Some(user), default_capacity)
            .await?
            .pop()
            .ok_or(StoreError::NotFound("member"))?;
        tx.commit().await.map_err(db)?;
        Ok(found)
    }

    async fn list_presence(
        &self,
        ws: WorkspaceId,
        default_capacity: i32,
    ) -> StoreResult<Vec<Presence>> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        presence(&mut conn, ws, None, default_capacity).await
    }

    async fn route_queue(
        &self,
        ws: WorkspaceId,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('kefu.route.' || $1::text, 0))")
            .bind(ws.0)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let snap = snapshot(&mut tx, ws, limit).await?;
        let mut assigned = Vec::new();
        for p in plan(&snap) {
            let t = Transition {
                assignee: Some(Some(p.assignee)),
                reason: Some(p.reason),
                ..Transition::new(
                    &[ConversationStatus::Queued],
                    ConversationStatus::Assigned,
                    now,
                )
            };
            assigned.push(apply_transition(&mut tx, ws, p.conversation, &t).await?);
        }
        tx.commit().await.map_err(db)?;
        Ok(assigned)
    }

    async fn queue_standing(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        window_secs: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<QueueStanding>> {
        let c = self.get_conversation(ws, id).await?;
        if c.status != ConversationStatus::Queued {
            return Ok(None);
        }
        let queued_at = c.queued_at.unwrap_or(c.updated_at);
        let mut conn = self.pool.acquire().await.map_err(db)?;
        let ahead: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM conversations WHERE workspace_id = $1 AND status = 'queued' \
             AND team_id IS NOT DISTINCT FROM $2 AND id <> $3 AND (priority > $4 OR (priority = $4 AND \
             (COALESCE(queued_at, updated_at) < $5 OR (COALESCE(queued_at, updated_at) = $5 AND id < $3))))",
        )
        .bind(ws.0)
        .bind(c.team_id.map(|t| t.0))
        .bind(id.0)
        .bind(c.priority)
        .bind(queued_at)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let recent: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM assignments WHERE workspace_id = $1 AND team_id IS NOT DISTINCT FROM $2 \
             AND waited_ms IS NOT NULL AND created_at > $3",
        )
        .bind(ws.0)
        .bind(c.team_id.map(|t| t.0))
        .bind(now - chrono::Duration::seconds(window_secs))
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        Ok(Some(QueueStanding {
            position: ahead + 1,
            recent_assignments: recent,
            window_secs,
        }))
    }

    async fn assignments(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<Vec<Assignment>> {
        let found = sqlx::query(
            "SELECT * FROM assignments WHERE workspace_id = $1 AND conversation_id = $2 \
             ORDER BY created_at, id",
        )
        .bind(ws.0)
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        found
            .iter()
            .map(|row| {
                Ok(Assignment {
                    id: kefu_domain::AssignmentId(row.try_get("id").map_err(db)?),
                    conversation_id: id,
                    assignee_id: row
                        .try_get::<Option<uuid::Uuid>, _>("assignee_id")
                        .map_err(db)?
                        .map(UserId),
                    team_id: row
                        .try_get::<Option<uuid::Uuid>, _>("team_id")
                        .map_err(db)?
                        .map(TeamId),
                    reason: row
                        .try_get::<String, _>("reason")
                        .map_err(db)?
                        .parse()
                        .map_err(|_| corrupt("assignments.reason"))?,
                    actor_id: row
                        .try_get::<Option<uuid::Uuid>, _>("actor_id")
                        .map_err(db)?
                        .map(UserId),
                    waited_ms: row.try_get("waited_ms").map_err(db)?,
                    created_at: row.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn workspaces_with_queue(&self) -> StoreResult<Vec<WorkspaceId>> {
        let found: Vec<uuid::Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT workspace_id FROM conversations WHERE status = 'queued'",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(found.into_iter().map(WorkspaceId).collect())
    }
}
