//! The sign-in: [`Services::sso_start`] sends the browser to the provider
//! with a fresh state, nonce and PKCE challenge, kept in the database (any
//! replica can take the callback; each is spent once);
//! [`Services::sso_callback`] trades the code for an ID token, checks it,
//! finds or creates the user and opens a session bound to the workspace.
//!
//! Who the user is, in this order: the (issuer, subject) this workspace's
//! provider linked before; else the account with the token's e-mail, only
//! when the provider says it is verified; else a new account, when the
//! verified e-mail's domain may join just in time. Someone who is not yet a
//! member joins only that way too; otherwise the sign-in is refused.

use super::id_token::{self, Expected};
use crate::accounts::{Me, TokenPair};
use crate::auth::tokens::digest;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::normalise_email;
use crate::Services;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::Duration;
use kefu_domain::audit::AuditRecord;
use kefu_domain::model::{ActorKind, NewUser};
use kefu_domain::sso::{OidcConfig, OidcLogin, SsoBinding, SsoSignIn};
use kefu_domain::{StoreError, UserId, WorkspaceId};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

/// How long the provider may take to send the browser back.
const LOGIN_TTL_MINUTES: i64 = 10;

/// What the provider sent back to the callback, and where from.
#[derive(Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's `error` (the user declined, …).
    pub error: Option<String>,
    /// RFC 9207 `iss`, when the provider sends it: must be the issuer.
    pub iss: Option<String>,
    /// Exactly the `redirect_uri` the start sent.
    pub redirect_uri: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

fn random() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    B64.encode(b)
}

fn refused(code: &'static str) -> ServiceError {
    ServiceError::Sso(code)
}

fn provider_failed(e: impl std::fmt::Display) -> ServiceError {
    tracing::warn!(error = %e, "identity provider failed");
    refused("sso_provider_error")
}

impl Services {
    async fn enabled_oidc(&self, ws: WorkspaceId) -> ServiceResult<OidcConfig> {
        match self.store.oidc_config(ws).await? {
            Some(c) if c.enabled => Ok(c),
            _ => Err(refused("sso_not_configured")),
        }
    }

    /// The provider's authorization URL for a new sign-in to `workspace`.
    pub async fn sso_start(&self, ws: WorkspaceId, redirect_uri: &str) -> ServiceResult<String> {
        let config = self.enabled_oidc(ws).await?;
        let discovery = self
            .oidc
            .discover(&config.issuer)
            .await
            .map_err(provider_failed)?;
        let (state, nonce, verifier) = (random(), random(), random());
        let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
        let now = self.clock.now();
        self.store
            .create_oidc_login(&OidcLogin {
                state_hash: digest(&state),
                workspace_id: ws,
                nonce: nonce.clone(),
                code_verifier: verifier,
                created_at: now,
                expires_at: now + Duration::minutes(LOGIN_TTL_MINUTES),
            })
            .await?;
        let mut url =
            reqwest::Url::parse(&discovery.authorization_endpoint).map_err(provider_failed)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &config.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Finishes a sign-in: a session bound to the workspace, like a
    /// password login's otherwise.
    pub async fn sso_callback(&self, cb: Callback) -> ServiceResult<(TokenPair, Me)> {
        let now = self.clock.now();
        let state = cb.state.as_deref().unwrap_or_default();
        // Spent here, whatever follows: a state never serves twice.
        let login = if state.is_empty() {
            None
        } else {
            self.store.take_oidc_login(&digest(state), now).await?
        };
        let login = login.ok_or(refused("sso_state_invalid"))?;
        if let Some(e) = &cb.error {
            tracing::info!(error = %e.chars().take(64).collect::<String>(), "provider refused the sign-in");
            return Err(refused("sso_denied"));
        }
        let code = cb.code.as_deref().filter(|c| !c.is_empty());
        let code = code.ok_or(refused("sso_state_invalid"))?;
        let config = self.enabled_oidc(login.workspace_id).await?;
        if cb.iss.as_deref().is_some_and(|i| i != config.issuer) {
            return Err(refused("sso_issuer_mismatch"));
        }
        let discovery = self
            .oidc
            .discover(&config.issuer)
            .await
            .map_err(provider_failed)?;
        let client_secret = config.client_secret.clone();
        let tokens = self
            .oidc
            .exchange_code(
                &discovery,
                &config.client_id,
                &client_secret,
                code,
                &cb.redirect_uri,
                &login.code_verifier,
            )
            .await
            .map_err(provider_failed)?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or(refused("sso_token_invalid"))?;
        let kid = id_token::key_id(id_token).map_err(|e| refused(e.code()))?;
        let keys = self
            .oidc
            .keys(&config.issuer, &discovery, kid.as_deref())
            .await
            .map_err(provider_failed)?;
        let want = Expected {
            issuer: &config.issuer,
            client_id: &config.client_id,
            nonce: &login.nonce,
            now: now.timestamp(),
        };
        let mut claims = id_token::verify(id_token, &keys, want).map_err(|e| {
            tracing::warn!(reason = ?e, "ID token refused");
            refused(e.code())
        })?;
        if claims.email.is_none() {
            if let Some(at) = tokens.access_token.as_deref() {
                let info = self
                    .oidc
                    .userinfo(&discovery, at)
                    .await
                    .map_err(provider_failed)?;
                // Core §5.3.2: userinfo about someone else is not used.
                if info.sub != claims.sub {
                    return Err(refused("sso_token_invalid"));
                }
                claims.email = info.email;
                claims.email_verified = matches!(
                    info.email_verified,
                    Some(serde_json::Value::Bool(true))
                ) || matches!(&info.email_verified, Some(serde_json::Value::String(s)) if s == "true");
                claims.name = claims.name.or(info.name);
            }
        }
        let ws = login.workspace_id;
        let email = claims
            .email
            .as_deref()
            .map(normalise_email)
            .filter(|e| crate::validate::is_plausible_email(e));
        let verified_email = email.clone().filter(|_| claims.email_verified);
        let linked = self
            .store
            .find_oidc_identity(ws, &claims.iss, &claims.sub)
            .await?;
        let existing = match (linked, &verified_email) {
            (Some(id), _) => Some(self.store.get_user(id).await?),
            (None, Some(e)) => self.store.find_user_by_email(e).await?,
            (None, None) => return Err(refused("sso_email_unverified")),
        };
        let is_member = match &existing {
            Some(u) => match self.store.member_role(ws, u.id).await {
                Ok(_) => true,
                Err(StoreError::NotFound(_)) => false,
                Err(e) => return Err(e.into()),
            },
            None => false,
        };
        let join_as = if is_member {
            None
        } else {
            let Some(e) = &verified_email else {
                return Err(refused("sso_email_unverified"));
            };
            let domain = e.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            if config.jit_domains.is_empty() {
                return Err(refused("sso_not_a_member"));
            }
            if !config.jit_domains.iter().any(|d| d == domain) {
                return Err(refused("sso_domain_not_allowed"));
            }
            Some(config.jit_role)
        };
        let new_user = match &existing {
            Some(_) => None,
            None => {
                let email = verified_email.clone().unwrap_or_default();
                let name = claims
                    .name
                    .as_deref()
                    .map(|n| n.trim().chars().take(100).collect::<String>())
                    .filter(|n| !n.is_empty())
                    .unwrap_or_else(|| email.split('@').next().unwrap_or("").to_string());
                Some(NewUser {
                    id: UserId::new(),
                    email,
                    name,
                    // Nobody knows this password: the account signs in
                    // through the provider until someone sets one.
                    password_hash: self.hash_password(&random()).await?,
                    created_at: now,
                })
            }
        };
        let user_id = existing
            .as_ref()
            .map(|u| u.id)
            .or(new_user.as_ref().map(|u| u.id))
            .expect("one of the two");
        let mfa = claims.multi_factor();
        let record = |action: &str, details: serde_json::Value| AuditRecord {
            workspace_id: ws,
            actor_kind: ActorKind::User,
            actor_id: Some(user_id.0),
            action: action.into(),
            target_type: Some("user".into()),
            target_id: Some(user_id.to_string()),
            ip: cb.ip.clone(),
            details,
            created_at: now,
        };
        let mut audit = Vec::new();
        if let Some(role) = join_as {
            audit.push(record(
                "member.joined_via_sso",
                json!({ "role": role, "new_account": new_user.is_some(), "issuer": claims.iss }),
            ));
        }
        audit.push(record(
            "sso.login",
            json!({ "issuer": claims.iss, "mfa": mfa }),
        ));
        self.store
            .record_sso_sign_in(&SsoSignIn {
                workspace_id: ws,
                issuer: claims.iss.clone(),
                subject: claims.sub.clone(),
                email: email.clone(),
                user_id,
                new_user,
                join_as,
                now,
                audit,
            })
            .await
            .map_err(|e| match e {
                // A password account with this e-mail appeared meanwhile.
                StoreError::Conflict(_) => refused("sso_account_conflict"),
                other => other.into(),
            })?;
        let binding = SsoBinding {
            workspace_id: ws,
            mfa,
        };
        let pair = self
            .start_session(user_id, cb.ip, cb.user_agent, Some(binding))
            .await?;
        let user = self.store.get_user(user_id).await?;
        let mut workspaces = self.store.user_workspaces(user_id).await?;
        workspaces.retain(|m| m.workspace.id == ws);
        Ok((pair, Me { user, workspaces }))
    }
}
