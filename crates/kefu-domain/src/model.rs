//! The records the stores keep for workspaces, people, sessions and tokens.
//! Values here are already validated; constructing them is the service's job.

use crate::ids::*;
use crate::role::{Role, Scope};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// When set, owners and admins must have a second factor enabled to use
    /// this workspace.
    pub require_admin_totp: bool,
    pub created_at: DateTime<Utc>,
}

/// Changes to a workspace's settings; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkspacePatch {
    pub name: Option<String>,
    pub require_admin_totp: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Lower-cased, trimmed.
    pub email: String,
    pub name: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    /// Base32 TOTP secret: pending while `totp_enabled` is false.
    pub totp_secret: Option<String>,
    pub totp_enabled: bool,
    /// An owner or admin required a new password: signing in is refused
    /// until the user sets one (`POST /auth/password`).
    pub password_change_required: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub id: UserId,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

/// A workspace the user belongs to, with their role in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceMembership {
    pub workspace: Workspace,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub role: Role,
    /// SHA-256 of the token; the token itself is shown once, to the inviter.
    pub token_hash: String,
    pub invited_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

/// How an accepted invitation resolves to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitee {
    /// No account with the invited e-mail exists: create this one.
    New(NewUser),
    /// The invited e-mail already has an account (its password was checked).
    Existing(UserId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// Absolute end of the session, whatever the refreshes.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// Set when single sign-on opened the session: it is then good for
    /// that workspace only.
    pub sso: Option<crate::sso::SsoBinding>,
}

impl Session {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    pub id: RefreshTokenId,
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was live: it is now spent and `next` took its place.
    Rotated { session: Session },
    /// The token had already been spent (or its session revoked): the whole
    /// session is now revoked, because someone else may hold a copy.
    Reused { session_id: SessionId },
    /// Expired token or session.
    Expired,
    /// No such token.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub token_hash: String,
    /// First characters of the token, safe to show to identify it.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Who did an audited thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    User,
    ApiToken,
    System,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiToken => "api_token",
            ActorKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(ActorKind::User),
            "api_token" => Some(ActorKind::ApiToken),
            "system" => Some(ActorKind::System),
            _ => None,
        }
    }
}
