//! Single sign-on with OpenID Connect: a workspace's identity provider, the
//! sign-ins under way, and the identities its provider vouched for.

use crate::audit::AuditRecord;
use crate::ids::{UserId, WorkspaceId};
use crate::model::NewUser;
use crate::role::Role;
use chrono::{DateTime, Utc};

/// A workspace's OpenID provider. `client_secret` is what
/// `kefu_service::sso::secret::seal` made of the secret: the store keeps it
/// as it is and never sees the plain text.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcConfig {
    pub workspace_id: WorkspaceId,
    /// Exactly as the provider's discovery document spells it.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Always includes `openid`.
    pub scopes: Vec<String>,
    pub enabled: bool,
    /// Lower-case domains whose verified e-mail addresses may join the
    /// workspace on their first sign-in; empty: nobody joins that way.
    pub jit_domains: Vec<String>,
    /// The role such a member gets; never `owner`.
    pub jit_role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Never prints the (sealed) secret.
impl std::fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcConfig")
            .field("workspace_id", &self.workspace_id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A sign-in under way, between the redirect to the provider and its
/// callback. Found by the SHA-256 of `state`; spent once.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcLogin {
    pub state_hash: String,
    pub workspace_id: WorkspaceId,
    pub nonce: String,
    pub code_verifier: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for OidcLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcLogin")
            .field("workspace_id", &self.workspace_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a successful single sign-on writes, all in one transaction: the
/// account when it is new, the membership when the user joins just in
/// time, the (issuer, subject) link, and the audit entries.
#[derive(Debug, Clone)]
pub struct SsoSignIn {
    pub workspace_id: WorkspaceId,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub user_id: UserId,
    pub new_user: Option<NewUser>,
    pub join_as: Option<Role>,
    pub now: DateTime<Utc>,
    pub audit: Vec<AuditRecord>,
}

/// Marks a session opened by single sign-on: it is good for this workspace
/// only, and `mfa` says whether the provider reported a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsoBinding {
    pub workspace_id: WorkspaceId,
    pub mfa: bool,
}
