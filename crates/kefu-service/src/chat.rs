//! Live chat use cases: inboxes (admin), and the widget's visitor sessions.

use crate::auth::tokens::{random_secret, VisitorClaims};
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Services};
use kefu_domain::chat::Inbox;
use kefu_domain::{Action, ContactId, InboxId, WorkspaceId};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct NewInboxInput {
    pub name: String,
    pub channel: String,
    pub allowed_origins: Vec<String>,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
}

/// A visitor authenticated by a widget token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Visitor {
    pub workspace_id: WorkspaceId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
}

#[derive(Debug, Clone)]
pub struct WidgetSession {
    pub visitor_token: String,
    pub visitor_id: String,
    pub contact_id: ContactId,
    pub expires_in: u64,
}

/// Most origins one inbox may list.
const MAX_ORIGINS: usize = 50;

/// `https://shop.example.cn[:port]`, lower-cased; no path, query or userinfo.
pub fn normalise_origin(raw: &str) -> Option<String> {
    let o = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))?;
    let valid = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    valid.then_some(o)
}

/// A visitor id we issued: `v_` and 22+ URL-safe characters. Anything else
/// (guessable ids like `1`) is replaced, since the id unlocks the history.
fn is_issued_visitor_id(id: &str) -> bool {
    id.len() >= 24
        && id.len() <= 64
        && id.starts_with("v_")
        && id[2..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Services {
    pub async fn create_inbox(
        &self,
        access: &Access,
        input: NewInboxInput,
    ) -> ServiceResult<Inbox> {
        access.require(Action::ManageInboxes)?;
        let mut c = Checks::new();
        let name = c.text("name", &input.name, 100);
        if input.channel != "web" {
            c.fail("channel", "unsupported");
        }
        let mut origins = Vec::new();
        for o in &input.allowed_origins {
            match normalise_origin(o) {
                Some(o) if !origins.contains(&o) => origins.push(o),
                Some(_) => {}
                None => c.fail("allowed_origins", "invalid_origin"),
            }
        }
        if origins.len() > MAX_ORIGINS {
            c.fail("allowed_origins", "too_many");
        }
        let greeting = input
            .greeting
            .as_deref()
            .map(|g| c.text("greeting", g, 500));
        c.finish()?;
        let now = self.clock.now();
        let inbox = Inbox {
            id: InboxId::new(),
            workspace_id: access.workspace_id,
            name,
            channel: input.channel,
            widget_key: random_secret("wk"),
            identity_secret: random_secret("ids"),
            allowed_origins: origins,
            greeting,
            bot_enabled: input.bot_enabled,
            created_at: now,
        };
        let audit = access.audit(
            "inbox.created",
            Some(("inbox", inbox.id.to_string())),
            json!({ "name": inbox.name, "allowed_origins": inbox.allowed_origins, "bot_enabled": inbox.bot_enabled }),
            now,
        );
        self.store.create_inbox(&inbox, audit).await?;
        Ok(inbox)
    }

    pub async fn inboxes(&self, access: &Access) -> ServiceResult<Vec<Inbox>> {
        access.require(Action::ViewInboxes)?;
        Ok(self.store.list_inboxes(access.workspace_id).await?)
    }

    pub async fn inbox(&self, access: &Access, id: InboxId) -> ServiceResult<Inbox> {
        access.require(Action::ViewInboxes)?;
        Ok(self.store.get_inbox(access.workspace_id, id).await?)
    }

    /// Opens a widget session: checks the widget key and the page's origin,
    /// finds (or creates) the visitor's contact, and signs a visitor token.
    pub async fn widget_session(
        &self,
        widget_key: &str,
        visitor_id: Option<&str>,
        origin: Option<&str>,
    ) -> ServiceResult<WidgetSession> {
        let inbox = self
            .store
            .find_inbox_by_widget_key(widget_key.trim())
            .await?
            .ok_or(ServiceError::NotFound("inbox"))?;
        // Browsers always send Origin on the widget's cross-site POST; a
        // page on a site that is not listed gets no session. (A non-browser
        // client can forge the header: the list protects against embedding,
        // not against scripts.)
        if let Some(origin) = origin {
            let allowed = inbox.allowed_origins.is_empty()
                || normalise_origin(origin).is_some_and(|o| inbox.allowed_origins.contains(&o));
            if !allowed {
                return Err(ServiceError::Forbidden("origin_not_allowed"));
            }
        }
        let visitor_id = match visitor_id.filter(|v| is_issued_visitor_id(v)) {
            Some(v) => v.to_string(),
            None => format!("v_{}", &random_secret("x")[7..29]),
        };
        let now = self.clock.now();
        let contact = self
            .store
            .contact_for_visitor(inbox.workspace_id, &visitor_id, now)
            .await?;
        let ttl = self.chat.visitor_token_ttl_secs;
        let visitor_token = self.signer.sign_visitor(&VisitorClaims {
            ws: inbox.workspace_id,
            inbox: inbox.id,
            contact: contact.id,
            iat: now.timestamp(),
            exp: now.timestamp() + ttl as i64,
        });
        Ok(WidgetSession {
            visitor_token,
            visitor_id,
            contact_id: contact.id,
            expires_in: ttl,
        })
    }

    /// Resolves a visitor token.
    pub fn authenticate_visitor(&self, token: &str) -> ServiceResult<Visitor> {
        let claims = self
            .signer
            .verify_visitor(token, self.clock.now().timestamp())
            .ok_or(ServiceError::Unauthorized("unauthorized"))?;
        Ok(Visitor {
            workspace_id: claims.ws,
            inbox_id: claims.inbox,
            contact_id: claims.contact,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            normalise_origin("https://Shop.Example.cn/").as_deref(),
            Some("https://shop.example.cn")
        );
        assert_eq!(
            normalise_origin("http://localhost:3000").as_deref(),
            Some("http://localhost:3000")
        );
        for bad in [
            "shop.example.cn",
            "ftp://x",
            "https://",
            "https://x/path",
            "https://u@x",
            "javascript:alert(1)",
        ] {
            assert_eq!(normalise_origin(bad), None, "{bad}");
        }
    }

    #[test]
    fn visitor_ids() {
        assert!(is_issued_visitor_id("v_AbCdEfGhIjKlMnOpQrStUv"));
        for bad in [
            "1",
            "v_short",
            "x_AbCdEfGhIjKlMnOpQrStUv",
            "v_AbCdEfGhIjKlMnOpQrSt!v",
        ] {
            assert!(!is_issued_visitor_id(bad), "{bad}");
        }
    }
}
