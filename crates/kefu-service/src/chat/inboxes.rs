//! Inboxes (admin): create, edit, delete, list; the origin allow-list.

use super::*;

#[derive(Debug, Clone)]
pub struct NewInboxInput {
    pub name: String,
    pub channel: String,
    pub allowed_origins: Vec<String>,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
    pub business_hours: Option<BusinessHours>,
    pub offline_mode: OfflineMode,
    pub automation: InboxAutomation,
}

/// A change to an inbox: `Some` sets a field (`Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct InboxPatch {
    pub name: Option<String>,
    pub allowed_origins: Option<Vec<String>>,
    pub greeting: Option<Option<String>>,
    pub bot_enabled: Option<bool>,
    pub business_hours: Option<Option<BusinessHours>>,
    pub offline_mode: Option<OfflineMode>,
    pub auto_resolve: Option<Option<AutoResolve>>,
    pub away_message: Option<Option<String>>,
    pub prechat_form: Option<Option<PrechatForm>>,
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

/// The inbox's origin allow-list, for session creation and the socket alike.
/// Browsers always send `Origin` on the widget's cross-site requests, so a
/// page on a site that is not listed gets nothing; a request without the
/// header passes (a non-browser client can forge it anyway: the list
/// protects against embedding, not against scripts). An empty list allows
/// any site.
pub fn check_origin(inbox: &Inbox, origin: Option<&str>) -> ServiceResult<()> {
    let Some(origin) = origin else {
        return Ok(());
    };
    let allowed = inbox.allowed_origins.is_empty()
        || normalise_origin(origin).is_some_and(|o| inbox.allowed_origins.contains(&o));
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::Forbidden("origin_not_allowed"))
    }
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
        let origins = origins(&mut c, &input.allowed_origins);
        let greeting = input
            .greeting
            .as_deref()
            .map(|g| c.text("greeting", g, 500));
        hours(&mut c, input.business_hours.as_ref());
        let mut automation = input.automation;
        crate::automation::check_automation(
            &mut c,
            &mut automation,
            self.chat.auto_resolve_min_secs,
        );
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
            business_hours: input.business_hours,
            offline_mode: input.offline_mode,
            automation,
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

    pub async fn update_inbox(
        &self,
        access: &Access,
        id: InboxId,
        patch: InboxPatch,
    ) -> ServiceResult<Inbox> {
        access.require(Action::ManageInboxes)?;
        let mut inbox = self.store.get_inbox(access.workspace_id, id).await?;
        let mut c = Checks::new();
        if let Some(n) = &patch.name {
            inbox.name = c.text("name", n, 100);
        }
        if let Some(o) = &patch.allowed_origins {
            inbox.allowed_origins = origins(&mut c, o);
        }
        if let Some(g) = &patch.greeting {
            inbox.greeting = g.as_deref().map(|g| c.text("greeting", g, 500));
        }
        if let Some(h) = patch.business_hours {
            hours(&mut c, h.as_ref());
            inbox.business_hours = h;
        }
        if let Some(r) = patch.auto_resolve {
            inbox.automation.auto_resolve = r;
        }
        if let Some(m) = patch.away_message {
            inbox.automation.away_message = m;
        }
        if let Some(f) = patch.prechat_form {
            inbox.automation.prechat_form = f;
        }
        crate::automation::check_automation(
            &mut c,
            &mut inbox.automation,
            self.chat.auto_resolve_min_secs,
        );
        c.finish()?;
        if let Some(b) = patch.bot_enabled {
            inbox.bot_enabled = b;
        }
        if let Some(m) = patch.offline_mode {
            inbox.offline_mode = m;
        }
        let audit = access.audit(
            "inbox.updated",
            Some(("inbox", inbox.id.to_string())),
            json!({ "name": inbox.name, "allowed_origins": inbox.allowed_origins, "bot_enabled": inbox.bot_enabled,
                    "business_hours": inbox.business_hours, "offline_mode": inbox.offline_mode,
                    "automation": inbox.automation }),
            self.clock.now(),
        );
        self.store.update_inbox(&inbox, audit).await?;
        Ok(inbox)
    }

    /// Refused (409 `inbox_has_conversations`) while it holds conversations.
    pub async fn delete_inbox(&self, access: &Access, id: InboxId) -> ServiceResult<()> {
        access.require(Action::ManageInboxes)?;
        let inbox = self.store.get_inbox(access.workspace_id, id).await?;
        let audit = access.audit(
            "inbox.deleted",
            Some(("inbox", inbox.id.to_string())),
            json!({ "name": inbox.name }),
            self.clock.now(),
        );
        Ok(self
            .store
            .delete_inbox(access.workspace_id, id, audit)
            .await?)
    }

    pub async fn inboxes(&self, access: &Access) -> ServiceResult<Vec<Inbox>> {
        access.require(Action::ViewInboxes)?;
        Ok(self.store.list_inboxes(access.workspace_id).await?)
    }

    pub async fn inbox(&self, access: &Access, id: InboxId) -> ServiceResult<Inbox> {
        access.require(Action::ViewInboxes)?;
        Ok(self.store.get_inbox(access.workspace_id, id).await?)
    }
}

fn origins(c: &mut Checks, raw: &[String]) -> Vec<String> {
    let mut origins = Vec::new();
    for o in raw {
        match normalise_origin(o) {
            Some(o) if !origins.contains(&o) => origins.push(o),
            Some(_) => {}
            None => c.fail("allowed_origins", "invalid_origin"),
        }
    }
    if origins.len() > MAX_ORIGINS {
        c.fail("allowed_origins", "too_many");
    }
    origins
}

fn hours(c: &mut Checks, h: Option<&BusinessHours>) {
    if let Some(Err(reason)) = h.map(BusinessHours::validate) {
        c.fail("business_hours", reason);
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
}
