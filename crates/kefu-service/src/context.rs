//! Who is calling, from where, and what they may do in a workspace.

use crate::error::{ServiceError, ServiceResult};
use crate::Services;
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::{ActorKind, ApiToken};
use kefu_domain::sso::SsoBinding;
use kefu_domain::{Action, Role, SessionId, UserId, WorkspaceId};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person, through an access token or the console's cookie.
    User {
        user_id: UserId,
        session_id: SessionId,
        /// Set when single sign-on opened the session: it is good for that
        /// workspace only.
        sso: Option<SsoBinding>,
    },
    /// An integration, through a workspace API token.
    ApiToken(Box<ApiToken>),
    /// The operator at the command line (`kefu kb import` …): acts as the
    /// workspace's owner, audited as `system`.
    System,
}

impl Principal {
    pub fn actor(&self) -> (ActorKind, uuid::Uuid) {
        match self {
            Principal::User { user_id, .. } => (ActorKind::User, user_id.0),
            Principal::ApiToken(t) => (ActorKind::ApiToken, t.id.0),
            Principal::System => (ActorKind::System, uuid::Uuid::nil()),
        }
    }

    /// The person a request acts for (a token acts for its creator).
    pub fn user_id(&self) -> UserId {
        match self {
            Principal::User { user_id, .. } => *user_id,
            Principal::ApiToken(t) => t.created_by,
            Principal::System => UserId(uuid::Uuid::nil()),
        }
    }
}

/// The request context a use case records in the audit log.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub principal: Principal,
    pub ip: Option<String>,
}

/// Proof that the caller may act in a workspace, with the role that decided it.
#[derive(Debug, Clone)]
pub struct Access {
    pub workspace_id: WorkspaceId,
    pub role: Role,
    pub ctx: Ctx,
}

impl Access {
    /// Checks one action against the permission table (and, for API tokens,
    /// the token's scopes). Refusal is 403 `forbidden`.
    pub fn require(&self, action: Action) -> ServiceResult<()> {
        let scoped = match &self.ctx.principal {
            Principal::User { .. } | Principal::System => true,
            Principal::ApiToken(t) => t.scopes.contains(&action.scope()),
        };
        if scoped && self.role.allows(action) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden("forbidden"))
        }
    }

    pub fn audit(
        &self,
        action: &str,
        target: Option<(&str, String)>,
        details: serde_json::Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> AuditRecord {
        let (actor_kind, actor_id) = self.ctx.principal.actor();
        AuditRecord {
            workspace_id: self.workspace_id,
            actor_kind,
            actor_id: (actor_kind != ActorKind::System).then_some(actor_id),
            action: action.to_string(),
            target_type: target.as_ref().map(|(t, _)| t.to_string()),
            target_id: target.map(|(_, id)| id),
            ip: self.ctx.ip.clone(),
            details,
            created_at: now,
        }
    }
}

impl Services {
    /// The command line's access to a workspace (as its owner); 404 when
    /// the workspace does not exist.
    pub async fn system_access(&self, workspace_id: WorkspaceId) -> ServiceResult<Access> {
        self.store.get_workspace(workspace_id).await?;
        Ok(Access {
            workspace_id,
            role: Role::Owner,
            ctx: Ctx {
                principal: Principal::System,
                ip: None,
            },
        })
    }

    /// Resolves the caller's access to a workspace. Not being a member, and
    /// a token of another workspace, both answer 404 — a workspace one cannot
    /// see does not exist.
    pub async fn access(&self, ctx: Ctx, workspace_id: WorkspaceId) -> ServiceResult<Access> {
        let user_id = ctx.principal.user_id();
        match &ctx.principal {
            Principal::ApiToken(t) if t.workspace_id != workspace_id => {
                return Err(ServiceError::NotFound("workspace"));
            }
            // A workspace's provider vouches for that workspace only.
            Principal::User { sso: Some(b), .. } if b.workspace_id != workspace_id => {
                return Err(ServiceError::NotFound("workspace"));
            }
            _ => {}
        }
        let role = self
            .store
            .member_role(workspace_id, user_id)
            .await
            .map_err(|e| match e {
                kefu_domain::StoreError::NotFound(_) => ServiceError::NotFound("workspace"),
                other => other.into(),
            })?;
        if let Principal::User { sso, .. } = &ctx.principal {
            if role.is_admin_level() {
                let ws = self.store.get_workspace(workspace_id).await?;
                if ws.require_admin_totp {
                    // A password session: the account has a second factor
                    // (sign-in asked for it). A single sign-on session: the
                    // provider reported one (`amr`); Kefu's own is not
                    // asked then, so it does not count.
                    match sso {
                        Some(b) if !b.mfa => {
                            return Err(ServiceError::Forbidden("sso_mfa_required"))
                        }
                        Some(_) => {}
                        None if !self.store.get_user(user_id).await?.totp_enabled => {
                            return Err(ServiceError::Forbidden("totp_enrollment_required"))
                        }
                        None => {}
                    }
                }
            }
        }
        Ok(Access {
            workspace_id,
            role,
            ctx,
        })
    }
}
