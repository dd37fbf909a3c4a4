//! Row → domain conversions for SQLite, and the audit append that runs inside
//! other write transactions.

use crate::{corrupt, db, scopes_from_text};
use kefu_domain::audit::{entry_hash, AuditEntry, AuditRecord, ChainKey};
use kefu_domain::model::*;
use kefu_domain::{AuditEntryId, Role, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

pub(super) fn role(row: &SqliteRow, col: &str) -> StoreResult<Role> {
    let s: String = row.try_get(col).map_err(db)?;
    s.parse().map_err(|_| corrupt("role"))
}

pub(super) fn workspace(row: &SqliteRow) -> StoreResult<Workspace> {
    Ok(Workspace {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        name: row.try_get("name").map_err(db)?,
        require_admin_totp: row.try_get("require_admin_totp").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

pub(super) fn user(row: &SqliteRow, sealer: &crate::sealing::Sealer) -> StoreResult<User> {
    let id: uuid::Uuid = row.try_get("id").map_err(db)?;
    Ok(User {
        id: id.into(),
        email: row.try_get("email").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        password_hash: row.try_get("password_hash").map_err(db)?,
        totp_secret: sealer.open_totp(id, row.try_get("totp_secret").map_err(db)?)?,
        totp_enabled: row.try_get("totp_enabled").map_err(db)?,
        password_change_required: row.try_get("password_change_required").map_err(db)?,
        created_at: row.try_get("created_at").map_err(db)?,
    })
}

pub(super) fn member(row: &SqliteRow) -> StoreResult<Member> {
    Ok(Member {
        user_id: row.try_get::<uuid::Uuid, _>("user_id").map_err(db)?.into(),
        email: row.try_get("email").map_err(db)?,
        name: row.try_get("name").map_err(db)?,
        role: role(row, "role")?,
        joined_at: row.try_get("created_at").map_err(db)?,
    })
}

pub(super) fn invitation(row: &SqliteRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        email: row.try_get("email").map_err(db)?,
        role: role(row, "role")?,
        token_hash: row.try_get("token_hash").map_err(db)?,
        invited_by: row
            .try_get::<uuid::Uuid, _>("invited_by")
            .map_err(db)?
            .into(),
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        accepted_at: row.try_get("accepted_at").map_err(db)?,
    })
}

pub(super) fn session(row: &SqliteRow) -> StoreResult<Session> {
    Ok(Session {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        user_id: row.try_get::<uuid::Uuid, _>("user_id").map_err(db)?.into(),
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        revoked_at: row.try_get("revoked_at").map_err(db)?,
        ip: row.try_get("ip").map_err(db)?,
        user_agent: row.try_get("user_agent").map_err(db)?,
        sso: row
            .try_get::<Option<uuid::Uuid>, _>("sso_workspace_id")
            .map_err(db)?
            .map(|ws| -> StoreResult<_> {
                Ok(kefu_domain::sso::SsoBinding {
                    workspace_id: ws.into(),
                    mfa: row.try_get("sso_mfa").map_err(db)?,
                })
            })
            .transpose()?,
    })
}

pub(super) fn api_token(row: &SqliteRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        name: row.try_get("name").map_err(db)?,
        token_hash: row.try_get("token_hash").map_err(db)?,
        prefix: row.try_get("prefix").map_err(db)?,
        scopes: scopes_from_text(&row.try_get::<String, _>("scopes").map_err(db)?)?,
        created_by: row
            .try_get::<uuid::Uuid, _>("created_by")
            .map_err(db)?
            .into(),
        created_at: row.try_get("created_at").map_err(db)?,
        expires_at: row.try_get("expires_at").map_err(db)?,
        last_used_at: row.try_get("last_used_at").map_err(db)?,
        revoked_at: row.try_get("revoked_at").map_err(db)?,
    })
}

pub(super) fn audit_entry(row: &SqliteRow) -> StoreResult<AuditEntry> {
    let kind: String = row.try_get("actor_kind").map_err(db)?;
    let details: String = row.try_get("details").map_err(db)?;
    Ok(AuditEntry {
        id: row.try_get::<uuid::Uuid, _>("id").map_err(db)?.into(),
        workspace_id: row
            .try_get::<uuid::Uuid, _>("workspace_id")
            .map_err(db)?
            .into(),
        seq: row.try_get("seq").map_err(db)?,
        actor_kind: ActorKind::parse(&kind).ok_or_else(|| corrupt("audit_log.actor_kind"))?,
        actor_id: row.try_get("actor_id").map_err(db)?,
        action: row.try_get("action").map_err(db)?,
        target_type: row.try_get("target_type").map_err(db)?,
        target_id: row.try_get("target_id").map_err(db)?,
        ip: row.try_get("ip").map_err(db)?,
        details: serde_json::from_str(&details).map_err(|_| corrupt("audit_log.details"))?,
        details_text: details,
        created_at: row.try_get("created_at").map_err(db)?,
        prev_hash: row.try_get("prev_hash").map_err(db)?,
        hash: row.try_get("hash").map_err(db)?,
    })
}

/// Appends an audit entry inside the caller's write transaction. The single
/// writer connection serialises appends, so reading the head and writing the
/// next entry cannot interleave with another append.
pub(super) async fn append_audit(
    tx: &mut Transaction<'_, Sqlite>,
    key: &ChainKey,
    r: AuditRecord,
) -> StoreResult<AuditEntry> {
    let head = sqlx::query("SELECT audit_head_seq, audit_head_hash FROM workspaces WHERE id = $1")
        .bind(r.workspace_id.0)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?
        .ok_or(kefu_domain::StoreError::NotFound("workspace"))?;
    let prev_seq: i64 = head.try_get(0).map_err(db)?;
    let prev_hash: String = head.try_get(1).map_err(db)?;
    let seq = prev_seq + 1;
    let id = AuditEntryId::new();
    let details_text = kefu_domain::audit::canonical_details(&r.details);
    let hash = entry_hash(key, &prev_hash, seq, id, &r, &details_text);
    sqlx::query(
        "INSERT INTO audit_log (id, workspace_id, seq, actor_kind, actor_id, action, target_type, \
         target_id, ip, details, created_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id.0)
    .bind(r.workspace_id.0)
    .bind(seq)
    .bind(r.actor_kind.as_str())
    .bind(r.actor_id)
    .bind(&r.action)
    .bind(&r.target_type)
    .bind(&r.target_id)
    .bind(&r.ip)
    .bind(&details_text)
    .bind(r.created_at)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    sqlx::query("UPDATE workspaces SET audit_head_seq = $1, audit_head_hash = $2 WHERE id = $3")
        .bind(seq)
        .bind(&hash)
        .bind(r.workspace_id.0)
        .execute(&mut **tx)
        .await
        .map_err(db)?;
    Ok(AuditEntry {
        id,
        workspace_id: r.workspace_id,
        seq,
        actor_kind: r.actor_kind,
        actor_id: r.actor_id,
        action: r.action,
        target_type: r.target_type,
        target_id: r.target_id,
        ip: r.ip,
        details: r.details,
        details_text,
        created_at: r.created_at,
        prev_hash,
        hash,
    })
}
