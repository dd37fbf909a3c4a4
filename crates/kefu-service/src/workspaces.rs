//! Workspace administration: settings, members, invitations, API tokens and
//! the audit log. Every change here is audited in the same transaction.

use crate::auth::tokens::{digest, random_secret};
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Principal, Services};
use chrono::Duration;
use kefu_domain::audit::{verify_chain, ChainCheck, ChainFault};
use kefu_domain::bus::AccessChange;
use kefu_domain::model::*;
use kefu_domain::store::AuditPage;
use kefu_domain::{Action, ApiTokenId, InvitationId, Role, Scope, UserId, WorkspaceId};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct NewApiTokenInput {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expires_in_days: Option<u32>,
}

impl Services {
    pub async fn workspace(&self, access: &Access) -> ServiceResult<Workspace> {
        access.require(Action::ViewWorkspace)?;
        Ok(self.store.get_workspace(access.workspace_id).await?)
    }

    pub async fn update_workspace(
        &self,
        access: &Access,
        patch: WorkspacePatch,
    ) -> ServiceResult<Workspace> {
        access.require(Action::UpdateWorkspaceSettings)?;
        let mut c = Checks::new();
        let name = patch.name.as_deref().map(|n| c.text("name", n, 100));
        c.finish()?;
        if patch.require_admin_totp == Some(true) {
            // Requiring a factor one does not have would lock the caller out.
            let me = self.store.get_user(access.ctx.principal.user_id()).await?;
            if !me.totp_enabled {
                return Err(ServiceError::Conflict("enable_totp_first"));
            }
        }
        let patch = WorkspacePatch { name, ..patch };
        let details = json!({ "name": patch.name, "require_admin_totp": patch.require_admin_totp });
        let audit = access.audit(
            "workspace.updated",
            Some(("workspace", access.workspace_id.to_string())),
            details,
            self.clock.now(),
        );
        let ws = self
            .store
            .update_workspace(access.workspace_id, &patch, audit)
            .await?;
        if patch.require_admin_totp.is_some() {
            self.access_changed(AccessChange::Workspace {
                workspace_id: access.workspace_id,
            });
        }
        Ok(ws)
    }

    pub async fn members(&self, access: &Access) -> ServiceResult<Vec<Member>> {
        access.require(Action::ViewMembers)?;
        Ok(self.store.list_members(access.workspace_id).await?)
    }

    pub async fn change_member_role(
        &self,
        access: &Access,
        user: UserId,
        role: Role,
    ) -> ServiceResult<Member> {
        access.require(Action::ChangeMemberRoles)?;
        let target = self.store.get_member(access.workspace_id, user).await?;
        if !access.role.may_manage(target.role) || !access.role.may_manage(role) {
            return Err(ServiceError::Forbidden("forbidden"));
        }
        if target.role == role {
            return Ok(target);
        }
        let audit = access.audit(
            "member.role_changed",
            Some(("user", user.to_string())),
            json!({ "from": target.role, "to": role }),
            self.clock.now(),
        );
        let member = self
            .store
            .set_member_role(access.workspace_id, user, role, audit)
            .await?;
        self.access_changed(AccessChange::User { user_id: user });
        Ok(member)
    }

    pub async fn remove_member(&self, access: &Access, user: UserId) -> ServiceResult<()> {
        access.require(Action::RemoveMembers)?;
        let target = self.store.get_member(access.workspace_id, user).await?;
        if !access.role.may_manage(target.role) {
            return Err(ServiceError::Forbidden("forbidden"));
        }
        let audit = access.audit(
            "member.removed",
            Some(("user", user.to_string())),
            json!({ "role": target.role }),
            self.clock.now(),
        );
        self.store
            .remove_member(access.workspace_id, user, audit)
            .await?;
        self.access_changed(AccessChange::User { user_id: user });
        // Their conversations went back to the queue.
        self.route(access.workspace_id).await;
        Ok(())
    }

    /// Requires a member to choose a new password before they sign in again
    /// (owners and admins, over the roles they may manage; not oneself: use
    /// "change my password"). Ends all their sessions at once. Returns how
    /// many ended.
    pub async fn require_password_change(
        &self,
        access: &Access,
        user: UserId,
    ) -> ServiceResult<u64> {
        access.require(Action::ChangeMemberRoles)?;
        let target = self.store.get_member(access.workspace_id, user).await?;
        if !access.role.may_manage(target.role) || user == access.ctx.principal.user_id() {
            return Err(ServiceError::Forbidden("forbidden"));
        }
        let now = self.clock.now();
        let audit = access.audit(
            "member.password_change_required",
            Some(("user", user.to_string())),
            json!({ "role": target.role }),
            now,
        );
        let ended = self.store.require_password_change(user, audit, now).await?;
        self.access_changed(AccessChange::AllSessionsEnded {
            user_id: user,
            keep: None,
        });
        Ok(ended)
    }

    /// Invites an e-mail with a role; returns the invitation and its token,
    /// shown this once.
    pub async fn invite(
        &self,
        access: &Access,
        email: &str,
        role: Role,
    ) -> ServiceResult<(Invitation, String)> {
        self.invite_in(access, email, role, None)
            .await
            .map(|(i, t, _)| (i, t))
    }

    /// [`Services::invite`], and the invitation e-mail in `locale` when
    /// e-mail is set up (its id, to follow it in the outbox).
    pub async fn invite_in(
        &self,
        access: &Access,
        email: &str,
        role: Role,
        locale: Option<&str>,
    ) -> ServiceResult<(Invitation, String, Option<kefu_domain::EmailId>)> {
        access.require(Action::InviteMembers)?;
        let mut c = Checks::new();
        let email = c.email("email", email);
        c.finish()?;
        if !access.role.may_manage(role) {
            return Err(ServiceError::Forbidden("forbidden"));
        }
        let now = self.clock.now();
        let token = random_secret("inv");
        let inv = Invitation {
            id: InvitationId::new(),
            workspace_id: access.workspace_id,
            email,
            role,
            token_hash: digest(&token),
            invited_by: access.ctx.principal.user_id(),
            created_at: now,
            expires_at: now + Duration::seconds(self.config.invitation_ttl_secs as i64),
            accepted_at: None,
        };
        // The e-mail is personal data: the audit entry keeps only its domain.
        let domain = inv.email.split('@').nth(1).unwrap_or_default().to_string();
        let audit = access.audit(
            "invitation.created",
            Some(("invitation", inv.id.to_string())),
            json!({ "role": role, "email_domain": domain }),
            now,
        );
        self.store.create_invitation(&inv, audit).await?;
        // The invitation stands whatever happens to the e-mail (the link is
        // also shown to the inviter).
        let emailed = match self
            .email_invitation(access, &inv.email, &token, locale)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(error = %e, "queueing the invitation e-mail failed");
                None
            }
        };
        Ok((inv, token, emailed))
    }

    pub async fn invitations(&self, access: &Access) -> ServiceResult<Vec<Invitation>> {
        access.require(Action::InviteMembers)?;
        Ok(self
            .store
            .list_invitations(access.workspace_id, self.clock.now())
            .await?)
    }

    pub async fn revoke_invitation(&self, access: &Access, id: InvitationId) -> ServiceResult<()> {
        access.require(Action::InviteMembers)?;
        let audit = access.audit(
            "invitation.revoked",
            Some(("invitation", id.to_string())),
            json!({}),
            self.clock.now(),
        );
        Ok(self
            .store
            .revoke_invitation(access.workspace_id, id, audit)
            .await?)
    }

    pub async fn create_api_token(
        &self,
        access: &Access,
        input: NewApiTokenInput,
    ) -> ServiceResult<(ApiToken, String)> {
        access.require(Action::ManageApiTokens)?;
        let mut c = Checks::new();
        let name = c.text("name", &input.name, 100);
        if input.scopes.is_empty() {
            c.fail("scopes", "required");
        }
        if input.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
            c.fail("expires_in_days", "out_of_range");
        }
        c.finish()?;
        let mut scopes = input.scopes;
        scopes.sort();
        scopes.dedup();
        let now = self.clock.now();
        let mut expires_at = input
            .expires_in_days
            .map(|d| now + Duration::days(d.into()));
        // A token creating a token passes on no more than it holds: a subset
        // of its scopes, expiring no later than itself.
        if let Principal::ApiToken(caller) = &access.ctx.principal {
            if !scopes.iter().all(|s| caller.scopes.contains(s)) {
                return Err(ServiceError::Forbidden("forbidden"));
            }
            if let Some(cap) = caller.expires_at {
                expires_at = Some(expires_at.map_or(cap, |e| e.min(cap)));
            }
        }
        let secret = random_secret("pat");
        let token = ApiToken {
            id: ApiTokenId::new(),
            workspace_id: access.workspace_id,
            name,
            token_hash: digest(&secret),
            prefix: secret.chars().take(13).collect(),
            scopes,
            created_by: access.ctx.principal.user_id(),
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        let audit = access.audit(
            "api_token.created",
            Some(("api_token", token.id.to_string())),
            json!({ "name": token.name, "scopes": token.scopes, "expires_at": token.expires_at }),
            now,
        );
        self.store.create_api_token(&token, audit).await?;
        Ok((token, secret))
    }

    pub async fn api_tokens(&self, access: &Access) -> ServiceResult<Vec<ApiToken>> {
        access.require(Action::ManageApiTokens)?;
        Ok(self.store.list_api_tokens(access.workspace_id).await?)
    }

    pub async fn revoke_api_token(&self, access: &Access, id: ApiTokenId) -> ServiceResult<()> {
        access.require(Action::ManageApiTokens)?;
        let audit = access.audit(
            "api_token.revoked",
            Some(("api_token", id.to_string())),
            json!({}),
            self.clock.now(),
        );
        Ok(self
            .store
            .revoke_api_token(access.workspace_id, id, audit)
            .await?)
    }

    pub async fn audit_log(
        &self,
        access: &Access,
        before_seq: Option<i64>,
        limit: i64,
    ) -> ServiceResult<AuditPage> {
        access.require(Action::ViewAuditLog)?;
        Ok(self
            .store
            .list_audit(access.workspace_id, before_seq, limit.clamp(1, 200))
            .await?)
    }

    /// Checks every workspace's audit chain under the chain key (content,
    /// links and head); returns the faults found, first break first.
    pub async fn verify_audit(&self) -> ServiceResult<Vec<(WorkspaceId, u64, Vec<ChainFault>)>> {
        let check = ChainCheck::Keyed(self.store.audit_chain_key()?);
        let mut out = Vec::new();
        for ws in self.store.list_workspace_ids().await? {
            let (entries, head_seq, head_hash) = self.store.audit_chain(ws).await?;
            let faults = verify_chain(&check, &entries, head_seq, &head_hash);
            out.push((ws, entries.len() as u64, faults));
        }
        Ok(out)
    }
}
