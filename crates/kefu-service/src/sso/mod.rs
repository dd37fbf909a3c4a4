//! Single sign-on with OpenID Connect (authorization code flow with PKCE),
//! one identity provider per workspace: its settings (this file), the
//! sign-in itself ([`flow`]), the provider's HTTP endpoints ([`provider`]),
//! ID-token checks ([`id_token`]) and the client secret's storage
//! boundary ([`secret`]).

pub mod flow;
pub mod id_token;
pub mod provider;

use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Services};
use kefu_domain::sso::OidcConfig;
use kefu_domain::{Action, Role};
use serde_json::json;

/// What an owner or admin sets. `client_secret: None` keeps the stored one
/// (it must be given the first time).
#[derive(Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub enabled: bool,
    pub jit_domains: Vec<String>,
    pub jit_role: Option<Role>,
}

/// Never prints the secret.
impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Whether `issuer` is a URL we will talk to: https, or http on a loopback
/// address (development and tests); no query or fragment (Discovery §3).
pub fn issuer_ok(issuer: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(issuer) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok && url.query().is_none() && url.fragment().is_none() && url.username().is_empty()
}

/// A plausible DNS domain, lower-cased: labels of letters, digits and
/// hyphens, at least one dot.
fn domain(raw: &str) -> Option<String> {
    let d = raw.trim().trim_start_matches('@').to_lowercase();
    let labels_ok = d.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    (d.contains('.') && d.len() <= 253 && labels_ok).then_some(d)
}

impl Services {
    /// The workspace's provider settings (owner and admin).
    pub async fn oidc_config(&self, access: &Access) -> ServiceResult<OidcConfig> {
        access.require(Action::UpdateWorkspaceSettings)?;
        self.store
            .oidc_config(access.workspace_id)
            .await?
            .ok_or(ServiceError::NotFound("oidc_config"))
    }

    /// Creates or replaces the workspace's provider. When enabled, the
    /// issuer's discovery document must be reachable and name it.
    pub async fn put_oidc_config(
        &self,
        access: &Access,
        s: OidcSettings,
    ) -> ServiceResult<OidcConfig> {
        access.require(Action::UpdateWorkspaceSettings)?;
        let existing = self.store.oidc_config(access.workspace_id).await?;
        let mut c = Checks::new();
        let issuer = s.issuer.trim().to_string();
        if !issuer_ok(&issuer) || issuer.len() > 512 {
            c.fail("issuer", "invalid_url");
        }
        let client_id = c.text("client_id", &s.client_id, 255);
        let sealed = match (&s.client_secret, &existing) {
            (Some(secret), _) if !secret.is_empty() && secret.len() <= 1024 => Some(secret.clone()),
            (Some(_), _) => {
                c.fail("client_secret", "invalid");
                None
            }
            (None, Some(e)) => Some(e.client_secret.clone()),
            (None, None) => {
                c.fail("client_secret", "required");
                None
            }
        };
        let mut scopes = vec!["openid".to_string()];
        for sc in s
            .scopes
            .unwrap_or_else(|| vec!["email".into(), "profile".into()])
        {
            let sc = sc.trim().to_string();
            let ok = !sc.is_empty()
                && sc.len() <= 64
                && sc
                    .chars()
                    .all(|ch| ch.is_ascii_graphic() && ch != '"' && ch != '\\');
            if !ok {
                c.fail("scopes", "invalid");
            } else if !scopes.contains(&sc) {
                scopes.push(sc);
            }
        }
        if !scopes.iter().any(|s| s == "email") {
            // Without it there is no e-mail to match or to join by.
            c.fail("scopes", "email_required");
        }
        let mut jit_domains = Vec::new();
        for d in &s.jit_domains {
            match domain(d) {
                Some(d) if !jit_domains.contains(&d) => jit_domains.push(d),
                Some(_) => {}
                None => c.fail("jit_domains", "invalid_domain"),
            }
        }
        if jit_domains.len() > 50 {
            c.fail("jit_domains", "too_many");
        }
        let jit_role = s.jit_role.unwrap_or(Role::Agent);
        if jit_role == Role::Owner || !access.role.may_manage(jit_role) {
            c.fail("jit_role", "not_allowed");
        }
        c.finish()?;
        if s.enabled {
            if let Err(e) = self.oidc.discover(&issuer).await {
                tracing::warn!(error = %e, "OIDC discovery failed while configuring");
                return Err(ServiceError::invalid("issuer", "discovery_failed"));
            }
        }
        let now = self.clock.now();
        let config = OidcConfig {
            workspace_id: access.workspace_id,
            issuer,
            client_id,
            client_secret: sealed.unwrap_or_default(),
            scopes,
            enabled: s.enabled,
            jit_domains,
            jit_role,
            created_at: existing.as_ref().map_or(now, |e| e.created_at),
            updated_at: now,
        };
        let audit = access.audit(
            "sso.configured",
            Some(("workspace", access.workspace_id.to_string())),
            json!({
                "issuer": config.issuer,
                "client_id": config.client_id,
                "enabled": config.enabled,
                "secret_changed": s.client_secret.is_some(),
                "jit_domains": config.jit_domains,
                "jit_role": config.jit_role,
            }),
            now,
        );
        self.store.put_oidc_config(&config, audit).await?;
        Ok(config)
    }

    /// Removes the workspace's provider; its sign-in links stay, unused.
    pub async fn delete_oidc_config(&self, access: &Access) -> ServiceResult<()> {
        access.require(Action::UpdateWorkspaceSettings)?;
        let audit = access.audit(
            "sso.removed",
            Some(("workspace", access.workspace_id.to_string())),
            json!({}),
            self.clock.now(),
        );
        Ok(self
            .store
            .delete_oidc_config(access.workspace_id, audit)
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_or_loopback() {
        assert!(issuer_ok("https://idp.example.com"));
        assert!(issuer_ok("https://idp.example.com/realms/x"));
        assert!(issuer_ok("http://127.0.0.1:4000"));
        assert!(issuer_ok("http://localhost:4000/"));
        assert!(!issuer_ok("http://idp.example.com"));
        assert!(!issuer_ok("https://idp.example.com/?a=b"));
        assert!(!issuer_ok("https://u:p@idp.example.com"));
        assert!(!issuer_ok("ftp://idp.example.com"));
        assert!(!issuer_ok("not a url"));
    }

    #[test]
    fn domains_are_checked_and_lower_cased() {
        assert_eq!(domain(" @Corp.Example ").as_deref(), Some("corp.example"));
        assert_eq!(domain("a-b.example.cn").as_deref(), Some("a-b.example.cn"));
        assert_eq!(domain("localhost"), None);
        assert_eq!(domain("-bad.example"), None);
        assert_eq!(domain("bad..example"), None);
        assert_eq!(domain("x y.example"), None);
    }
}
