//! Signing in and out, refreshing, the caller's own account and second
//! factor, accepting invitations, and creating the first owner.

use crate::auth::tokens::{digest, random_secret, AccessClaims};
use crate::auth::totp;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::{normalise_email, Checks};
use crate::{Principal, Services};
use chrono::Duration;
use kefu_domain::audit::AuditRecord;
use kefu_domain::bus::AccessChange;
use kefu_domain::model::*;
use kefu_domain::{RefreshTokenId, Role, SessionId, UserId, WorkspaceId};
use serde::Serialize;

#[derive(Clone)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
    pub totp: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Never prints the credentials.
impl std::fmt::Debug for LoginInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInput")
            .field("ip", &self.ip)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub session_id: SessionId,
}

#[derive(Debug, Clone)]
pub struct Me {
    pub user: User,
    pub workspaces: Vec<WorkspaceMembership>,
}

#[derive(Clone)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
}

impl Services {
    /// Hashes a password with the configured argon2id cost.
    pub async fn hash_password(&self, password: &str) -> ServiceResult<String> {
        self.passwords.hash(password).await
    }

    /// Reserves an attempt against `key` (and the client IP) or refuses.
    pub(crate) async fn throttled(&self, ip: Option<&str>, key: &str) -> ServiceResult<()> {
        self.throttle
            .check(ip, key)
            .await
            .map_err(|r| ServiceError::RateLimited {
                retry_after_secs: r.retry_after.as_secs().max(1),
                reason: r.reason,
            })
    }

    pub async fn login(&self, input: LoginInput) -> ServiceResult<(TokenPair, Me)> {
        let user = self.check_credentials(&input).await?;
        if user.password_change_required {
            return Err(ServiceError::Forbidden("password_change_required"));
        }
        self.signed_in(user, input).await
    }

    /// Signs in with the current password and sets a new one at once: how a
    /// member whose owner or admin required a new password gets back in
    /// (and anyone may change theirs this way). Ends every other session.
    pub async fn login_with_new_password(
        &self,
        input: LoginInput,
        new_password: &str,
    ) -> ServiceResult<(TokenPair, Me)> {
        let user = self.check_credentials(&input).await?;
        let hash = self
            .replacement_hash(&user, &input.password, new_password)
            .await?;
        self.store
            .set_password(user.id, &hash, None, self.clock.now())
            .await?;
        self.access_changed(AccessChange::AllSessionsEnded {
            user_id: user.id,
            keep: None,
        });
        let user = self.store.get_user(user.id).await?;
        self.signed_in(user, input).await
    }

    /// The hash of `new_password` replacing `current` (already checked) on
    /// `user`'s account, once it passes the rules for new passwords
    /// (field `new_password`; `unchanged` when it is the current one).
    async fn replacement_hash(
        &self,
        user: &User,
        current: &str,
        new_password: &str,
    ) -> ServiceResult<String> {
        let mut c = Checks::new();
        c.new_password(
            "new_password",
            new_password,
            self.config.min_password_len,
            &user.email,
            &user.name,
        );
        if new_password == current {
            c.fail("new_password", "unchanged");
        }
        c.finish()?;
        self.hash_password(new_password).await
    }

    async fn signed_in(&self, user: User, input: LoginInput) -> ServiceResult<(TokenPair, Me)> {
        let pair = self
            .start_session(user.id, input.ip, input.user_agent, None)
            .await?;
        let workspaces = self.store.user_workspaces(user.id).await?;
        Ok((pair, Me { user, workspaces }))
    }

    /// Password and (when enabled) second factor, throttled per address and
    /// account.
    async fn check_credentials(&self, input: &LoginInput) -> ServiceResult<User> {
        let email = normalise_email(&input.email);
        self.throttled(input.ip.as_deref(), &email).await?;
        let user = self.store.find_user_by_email(&email).await?;
        let Some(user) = user else {
            // Same work as a wrong password, so timing does not reveal accounts.
            self.passwords.verify_decoy(&input.password).await?;
            self.throttle.failed(&email).await;
            return Err(ServiceError::Unauthorized("invalid_credentials"));
        };
        if !self
            .passwords
            .verify(&input.password, &user.password_hash)
            .await?
        {
            self.throttle.failed(&email).await;
            return Err(ServiceError::Unauthorized("invalid_credentials"));
        }
        if user.totp_enabled {
            let Some(code) = input.totp.as_deref().filter(|c| !c.trim().is_empty()) else {
                return Err(ServiceError::Unauthorized("totp_required"));
            };
            if !self.check_second_factor(&user, code).await? {
                self.throttle.failed(&email).await;
                return Err(ServiceError::Unauthorized("invalid_totp"));
            }
        }
        self.throttle.succeeded(&email).await;
        Ok(user)
    }

    /// "Change my password": needs the current one; ends the user's other
    /// sessions (their sockets close at once). Returns how many ended.
    pub async fn change_password(
        &self,
        principal: &Principal,
        current: &str,
        new_password: &str,
    ) -> ServiceResult<u64> {
        let Principal::User {
            user_id,
            session_id,
            ..
        } = principal
        else {
            return Err(ServiceError::Forbidden("forbidden"));
        };
        let user = self.store.get_user(*user_id).await?;
        let key = format!("password:{}", user.id);
        self.throttled(None, &key).await?;
        if !self.passwords.verify(current, &user.password_hash).await? {
            self.throttle.failed(&key).await;
            return Err(ServiceError::invalid(
                "current_password",
                "invalid_password",
            ));
        }
        self.throttle.succeeded(&key).await;
        let hash = self.replacement_hash(&user, current, new_password).await?;
        let ended = self
            .store
            .set_password(user.id, &hash, Some(*session_id), self.clock.now())
            .await?;
        self.access_changed(AccessChange::AllSessionsEnded {
            user_id: user.id,
            keep: Some(*session_id),
        });
        Ok(ended)
    }

    /// "Sign out everywhere": ends every session of the caller, this one
    /// included. Returns how many ended.
    pub async fn sign_out_everywhere(&self, principal: &Principal) -> ServiceResult<u64> {
        let Principal::User { user_id, .. } = principal else {
            return Err(ServiceError::Forbidden("forbidden"));
        };
        let ended = self
            .store
            .revoke_user_sessions(*user_id, None, self.clock.now())
            .await?;
        self.access_changed(AccessChange::AllSessionsEnded {
            user_id: *user_id,
            keep: None,
        });
        Ok(ended)
    }

    /// A TOTP code not used before, or one of the user's unspent recovery
    /// codes.
    async fn check_second_factor(&self, user: &User, code: &str) -> ServiceResult<bool> {
        let secret = user.totp_secret.as_deref().unwrap_or_default();
        if let Some(step) = totp::matching_step(secret, code, self.clock.now().timestamp()) {
            return Ok(self.store.consume_totp_step(user.id, step).await?);
        }
        let hash = digest(&totp::normalise_recovery_code(code));
        Ok(self
            .store
            .use_recovery_code(user.id, &hash, self.clock.now())
            .await?)
    }

    pub(crate) async fn start_session(
        &self,
        user_id: UserId,
        ip: Option<String>,
        user_agent: Option<String>,
        sso: Option<kefu_domain::sso::SsoBinding>,
    ) -> ServiceResult<TokenPair> {
        let now = self.clock.now();
        let session = Session {
            id: SessionId::new(),
            user_id,
            created_at: now,
            expires_at: now + secs(self.config.session_ttl_secs),
            revoked_at: None,
            ip,
            user_agent: user_agent.map(|ua| ua.chars().take(256).collect()),
            sso,
        };
        let refresh = random_secret("rt");
        let first = NewRefreshToken {
            id: RefreshTokenId::new(),
            token_hash: digest(&refresh),
            created_at: now,
            expires_at: (now + secs(self.config.refresh_token_ttl_secs)).min(session.expires_at),
        };
        self.store.create_session(&session, &first).await?;
        Ok(self.pair(user_id, session.id, refresh))
    }

    fn pair(&self, user_id: UserId, session_id: SessionId, refresh_token: String) -> TokenPair {
        let now = self.clock.now().timestamp();
        let ttl = self.config.access_token_ttl_secs;
        let access_token = self.signer.sign(&AccessClaims {
            sub: user_id,
            sid: session_id,
            iat: now,
            exp: now + ttl as i64,
        });
        TokenPair {
            access_token,
            refresh_token,
            expires_in: ttl,
            session_id,
        }
    }

    /// Rotates a refresh token. A spent token revokes its whole session.
    pub async fn refresh(&self, refresh_token: &str) -> ServiceResult<(TokenPair, Me)> {
        let now = self.clock.now();
        let next_secret = random_secret("rt");
        let next = NewRefreshToken {
            id: RefreshTokenId::new(),
            token_hash: digest(&next_secret),
            created_at: now,
            expires_at: now + secs(self.config.refresh_token_ttl_secs),
        };
        match self
            .store
            .rotate_refresh_token(&digest(refresh_token), &next, now)
            .await?
        {
            RefreshOutcome::Rotated { session } => {
                let user = self.store.get_user(session.user_id).await?;
                let mut workspaces = self.store.user_workspaces(user.id).await?;
                if let Some(b) = session.sso {
                    workspaces.retain(|m| m.workspace.id == b.workspace_id);
                }
                Ok((
                    self.pair(session.user_id, session.id, next_secret),
                    Me { user, workspaces },
                ))
            }
            RefreshOutcome::Reused { session_id } => {
                tracing::warn!(%session_id, "refresh token reused; session revoked");
                match self.store.get_session(session_id).await {
                    Ok(s) => self.access_changed(AccessChange::SessionEnded {
                        user_id: s.user_id,
                        session_id,
                    }),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot tell the revoked session's sockets")
                    }
                }
                Err(ServiceError::Unauthorized("refresh_token_reused"))
            }
            RefreshOutcome::Expired | RefreshOutcome::Unknown => {
                Err(ServiceError::Unauthorized("unauthorized"))
            }
        }
    }

    pub async fn logout(&self, principal: &Principal) -> ServiceResult<()> {
        match principal {
            Principal::User {
                user_id,
                session_id,
                ..
            } => {
                self.store
                    .revoke_session(*session_id, self.clock.now())
                    .await?;
                self.access_changed(AccessChange::SessionEnded {
                    user_id: *user_id,
                    session_id: *session_id,
                });
                Ok(())
            }
            Principal::ApiToken(_) | Principal::System => Err(ServiceError::Forbidden("forbidden")),
        }
    }

    /// Resolves a bearer access token to a principal: valid signature, not
    /// expired, and its session still live (so logout takes effect at once).
    pub async fn authenticate_access_token(&self, token: &str) -> ServiceResult<Principal> {
        Ok(self.authenticate_access_token_until(token).await?.0)
    }

    /// [`Services::authenticate_access_token`], with the token's expiry
    /// (Unix seconds): a socket opened with it ends then.
    pub async fn authenticate_access_token_until(
        &self,
        token: &str,
    ) -> ServiceResult<(Principal, i64)> {
        let now = self.clock.now();
        let claims = self
            .signer
            .verify(token, now.timestamp())
            .ok_or(ServiceError::Unauthorized("unauthorized"))?;
        let session = match self.store.get_session(claims.sid).await {
            Ok(s) => s,
            Err(kefu_domain::StoreError::NotFound(_)) => {
                return Err(ServiceError::Unauthorized("unauthorized"))
            }
            Err(e) => return Err(e.into()),
        };
        if !session.is_active(now) || session.user_id != claims.sub {
            return Err(ServiceError::Unauthorized("unauthorized"));
        }
        Ok((
            Principal::User {
                user_id: claims.sub,
                session_id: claims.sid,
                sso: session.sso,
            },
            claims.exp,
        ))
    }

    /// Resolves a `kefu_pat_…` API token.
    pub async fn authenticate_api_token(&self, token: &str) -> ServiceResult<Principal> {
        let now = self.clock.now();
        match self.store.find_api_token(&digest(token)).await? {
            Some(t) if t.is_active(now) => {
                // Last-used is informative; a failure to record it must not
                // fail the request.
                if t.last_used_at
                    .is_none_or(|l| now - l > Duration::minutes(1))
                {
                    if let Err(e) = self.store.touch_api_token(t.id, now).await {
                        tracing::warn!(error = %e, "could not record API token use");
                    }
                }
                Ok(Principal::ApiToken(Box::new(t)))
            }
            _ => Err(ServiceError::Unauthorized("unauthorized")),
        }
    }

    pub async fn me(&self, principal: &Principal) -> ServiceResult<Me> {
        let user = self.store.get_user(principal.user_id()).await?;
        let mut workspaces = self.store.user_workspaces(user.id).await?;
        match principal {
            Principal::ApiToken(t) => workspaces.retain(|m| m.workspace.id == t.workspace_id),
            Principal::User { sso: Some(b), .. } => {
                workspaces.retain(|m| m.workspace.id == b.workspace_id)
            }
            _ => {}
        }
        Ok(Me { user, workspaces })
    }

    pub async fn totp_enrol(&self, principal: &Principal) -> ServiceResult<TotpEnrolment> {
        let Principal::User { user_id, .. } = principal else {
            return Err(ServiceError::Forbidden("forbidden"));
        };
        let user = self.store.get_user(*user_id).await?;
        let secret = totp::new_secret();
        self.store.set_pending_totp(user.id, &secret).await?;
        Ok(TotpEnrolment {
            otpauth_uri: totp::otpauth_uri(&self.config.totp_issuer, &user.email, &secret),
            secret,
        })
    }

    /// Confirms enrolment with a current code; returns the recovery codes,
    /// shown this once.
    pub async fn totp_confirm(
        &self,
        principal: &Principal,
        code: &str,
    ) -> ServiceResult<Vec<String>> {
        let Principal::User { user_id, .. } = principal else {
            return Err(ServiceError::Forbidden("forbidden"));
        };
        let user = self.store.get_user(*user_id).await?;
        if user.totp_enabled {
            return Err(ServiceError::Conflict("totp_already_enabled"));
        }
        let secret = user
            .totp_secret
            .as_deref()
            .ok_or(ServiceError::Conflict("totp_not_enrolled"))?;
        let key = format!("totp:{}", user.id);
        self.throttled(None, &key).await?;
        let Some(step) = totp::matching_step(secret, code, self.clock.now().timestamp()) else {
            self.throttle.failed(&key).await;
            return Err(ServiceError::invalid("code", "invalid_totp"));
        };
        self.throttle.succeeded(&key).await;
        let codes = totp::new_recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| digest(&totp::normalise_recovery_code(c)))
            .collect();
        self.store.enable_totp(user.id, secret, &hashes).await?;
        // The confirming code is spent like any other.
        self.store.consume_totp_step(user.id, step).await?;
        Ok(codes)
    }

    /// Turns the second factor off; needs a current code or a recovery code.
    pub async fn totp_disable(&self, principal: &Principal, code: &str) -> ServiceResult<()> {
        let Principal::User { user_id, .. } = principal else {
            return Err(ServiceError::Forbidden("forbidden"));
        };
        let user = self.store.get_user(*user_id).await?;
        if !user.totp_enabled {
            return Err(ServiceError::Conflict("totp_not_enabled"));
        }
        let key = format!("totp:{}", user.id);
        self.throttled(None, &key).await?;
        if !self.check_second_factor(&user, code).await? {
            self.throttle.failed(&key).await;
            return Err(ServiceError::invalid("code", "invalid_totp"));
        }
        self.throttle.succeeded(&key).await;
        self.store.disable_totp(user.id).await?;
        // Where admins must use 2FA, this user's admin rights lapse.
        self.access_changed(AccessChange::User { user_id: user.id });
        Ok(())
    }

    /// Accepts an invitation: creates the account (or, for an e-mail that
    /// already has one, checks its password) and joins the workspace.
    pub async fn accept_invitation(
        &self,
        token: &str,
        name: &str,
        password: &str,
        ip: Option<String>,
    ) -> ServiceResult<User> {
        let inv = self
            .store
            .find_invitation(&digest(token))
            .await?
            .filter(|i| i.accepted_at.is_none() && i.expires_at > self.clock.now())
            .ok_or(ServiceError::NotFound("invitation"))?;
        let now = self.clock.now();
        // The inviter must still be allowed to grant this role: an
        // invitation dies with its inviter's removal or demotion.
        let inviter_role = self
            .store
            .member_role(inv.workspace_id, inv.invited_by)
            .await;
        let inviter_ok = inviter_role
            .is_ok_and(|r| r.allows(kefu_domain::Action::InviteMembers) && r.may_manage(inv.role));
        if !inviter_ok {
            return Err(ServiceError::NotFound("invitation"));
        }
        let invitee = match self.store.find_user_by_email(&inv.email).await? {
            Some(existing) => {
                // Whoever holds the invitation may not use it to guess an
                // existing account's password: same throttle as login.
                self.throttled(ip.as_deref(), &existing.email).await?;
                if !self
                    .passwords
                    .verify(password, &existing.password_hash)
                    .await?
                {
                    self.throttle.failed(&existing.email).await;
                    return Err(ServiceError::Unauthorized("invalid_credentials"));
                }
                self.throttle.succeeded(&existing.email).await;
                Invitee::Existing(existing.id)
            }
            None => {
                let mut c = Checks::new();
                let name = c.text("name", name, 100);
                c.new_password(
                    "password",
                    password,
                    self.config.min_password_len,
                    &inv.email,
                    &name,
                );
                c.finish()?;
                Invitee::New(NewUser {
                    id: UserId::new(),
                    email: inv.email.clone(),
                    name,
                    password_hash: self.hash_password(password).await?,
                    created_at: now,
                })
            }
        };
        let user_id = match &invitee {
            Invitee::New(u) => u.id,
            Invitee::Existing(id) => *id,
        };
        let audit = AuditRecord {
            workspace_id: inv.workspace_id,
            actor_kind: ActorKind::User,
            actor_id: Some(user_id.0),
            action: "invitation.accepted".into(),
            target_type: Some("invitation".into()),
            target_id: Some(inv.id.to_string()),
            ip,
            details: serde_json::json!({ "role": inv.role }),
            created_at: now,
        };
        let user_id = self
            .store
            .accept_invitation(inv.id, &invitee, now, audit)
            .await?;
        Ok(self.store.get_user(user_id).await?)
    }

    /// The CLI's `admin create-owner`: a new workspace and its first owner.
    /// An e-mail that already has an account must give that account's password.
    pub async fn create_owner(
        &self,
        email: &str,
        name: &str,
        workspace_name: &str,
        password: &str,
    ) -> ServiceResult<(WorkspaceId, UserId)> {
        let mut c = Checks::new();
        let email = c.email("email", email);
        let name = c.text("name", name, 100);
        let workspace_name = c.text("workspace", workspace_name, 100);
        c.password("password", password, self.config.min_password_len);
        c.finish()?;
        let now = self.clock.now();
        let existing = self.store.find_user_by_email(&email).await?;
        if existing.is_none() {
            let mut c = Checks::new();
            c.new_password(
                "password",
                password,
                self.config.min_password_len,
                &email,
                &name,
            );
            c.finish()?;
        }
        let owner = match existing {
            Some(u) => {
                if !self.passwords.verify(password, &u.password_hash).await? {
                    return Err(ServiceError::Unauthorized("invalid_credentials"));
                }
                Invitee::Existing(u.id)
            }
            None => Invitee::New(NewUser {
                id: UserId::new(),
                email,
                name,
                password_hash: self.hash_password(password).await?,
                created_at: now,
            }),
        };
        let owner_id = match &owner {
            Invitee::New(u) => u.id,
            Invitee::Existing(id) => *id,
        };
        let ws = Workspace {
            id: WorkspaceId::new(),
            name: workspace_name,
            require_admin_totp: false,
            created_at: now,
        };
        let audit = AuditRecord {
            workspace_id: ws.id,
            actor_kind: ActorKind::System,
            actor_id: None,
            action: "workspace.created".into(),
            target_type: Some("user".into()),
            target_id: Some(owner_id.to_string()),
            ip: None,
            details: serde_json::json!({ "via": "cli", "role": Role::Owner }),
            created_at: now,
        };
        self.store.create_workspace(&ws, &owner, audit).await?;
        Ok((ws.id, owner_id))
    }
}

fn secs(s: u64) -> Duration {
    Duration::seconds(
        i64::try_from(s)
            .unwrap_or(i64::MAX / 1000)
            .min(100 * 365 * 24 * 3600),
    )
}
