//! What happens by itself (docs/architecture.md, "Automation"): every
//! replica runs [`Services::sweep`] each `chat.sweep_interval_secs`.
//!
//! - **Auto-resolve** (per inbox): an assigned conversation whose last
//!   public message is the team's, with no activity for the inbox's delay,
//!   is resolved, and the visitor gets the inbox's message if it has one.
//!   The transition is conditional, so of two replicas sweeping at once one
//!   resolves and the other finds nothing to do.
//! - **Snoozes** end: the conversation wakes and is announced.
//! - **The presence timeout**: each replica marks the members with a live
//!   socket on it as seen; an agent not seen for `chat.presence_timeout_secs`
//!   goes offline (no more assignments) and gets their status back when a
//!   socket opens again.
//! - **Uploads never sent** within `attachments.orphan_ttl_secs` are
//!   deleted, record and file.
//! - **E-mails** whose retry is due are sent.
//! - **The away message** is not swept: it is sent when a visitor's
//!   conversation enters the queue while nobody can answer.

use crate::error::{ServiceError, ServiceResult};
use crate::{Access, Services};
use chrono::{DateTime, Duration, Utc};
use kefu_domain::bus::Event;
use kefu_domain::chat::{
    AutoReply, Conversation, ConversationStatus, InboxAutomation, MessageMeta, SenderKind,
    Transition, PRECHAT_STANDARD,
};
use kefu_domain::routing::AgentStatus;
use kefu_domain::{ConversationId, MessageId, UserId, WorkspaceId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Conversations one sweep resolves or wakes at most (the next sweep
/// takes the rest).
const SWEEP_BATCH: i64 = 500;
/// The longest auto-resolve delay and snooze: 90 days, a year.
const MAX_AUTO_RESOLVE_SECS: u32 = 90 * 86_400;
const MAX_SNOOZE_DAYS: i64 = 366;
const MAX_AUTOMATION_TEXT: usize = 1000;

/// The members with a live socket on this replica, and those whose last
/// socket here closed since the previous sweep (with when).
#[derive(Debug, Default)]
pub struct LiveAgents(Mutex<Live>);

#[derive(Debug, Default)]
struct Live {
    open: HashMap<UserId, usize>,
    closed: HashMap<UserId, DateTime<Utc>>,
}

/// Held by a member's socket; its drop records the close.
pub struct LiveGuard {
    live: Arc<LiveAgents>,
    user: UserId,
    clock: Arc<dyn kefu_domain::Clock>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        let mut l = self.live.0.lock().expect("live agents lock");
        if let Some(n) = l.open.get_mut(&self.user) {
            *n -= 1;
            if *n == 0 {
                l.open.remove(&self.user);
                l.closed.insert(self.user, self.clock.now());
            }
        }
    }
}

impl LiveAgents {
    fn enter(&self, user: UserId) {
        let mut l = self.0.lock().expect("live agents lock");
        *l.open.entry(user).or_insert(0) += 1;
        l.closed.remove(&user);
    }

    /// Who is connected now, and who left since the last call (when).
    fn take(&self) -> (Vec<UserId>, Vec<(UserId, DateTime<Utc>)>) {
        let mut l = self.0.lock().expect("live agents lock");
        let open = l.open.keys().copied().collect();
        let closed = l.closed.drain().collect();
        (open, closed)
    }

    /// Whether the user has a live socket on this replica.
    pub fn is_live(&self, user: UserId) -> bool {
        self.0
            .lock()
            .expect("live agents lock")
            .open
            .contains_key(&user)
    }

    /// Members with a live socket on this replica.
    pub fn count(&self) -> usize {
        self.0.lock().expect("live agents lock").open.len()
    }
}

impl Services {
    /// A member's socket opened: they are seen now, and get back the
    /// status the presence timeout took (which may route them work).
    pub async fn agent_connected(&self, user: UserId) -> LiveGuard {
        self.live.enter(user);
        let guard = LiveGuard {
            live: self.live.clone(),
            user,
            clock: self.clock.clone(),
        };
        if self.chat.presence_timeout_secs > 0 {
            let now = self.clock.now();
            if let Err(e) = self.store.touch_presence(&[user], now).await {
                tracing::warn!(error = %e, "marking an agent as seen failed");
            }
            match self.store.restore_presence(user, now).await {
                Ok(workspaces) => {
                    for ws in workspaces {
                        self.route(ws).await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "restoring an agent's presence failed"),
            }
        }
        guard
    }

    /// One pass of everything that happens by itself; failures are logged
    /// and retried on the next pass.
    pub async fn sweep(&self) {
        if let Err(e) = self.wake_snoozed().await {
            tracing::warn!(error = %e, "waking snoozed conversations failed");
        }
        if let Err(e) = self.auto_resolve().await {
            tracing::warn!(error = %e, "auto-resolve failed");
        }
        if let Err(e) = self.presence_timeout().await {
            tracing::warn!(error = %e, "the presence timeout failed");
        }
        match self.delete_orphan_uploads().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(uploads = n, "deleted uploads never sent"),
            Err(e) => tracing::warn!(error = %e, "deleting uploads never sent failed"),
        }
        // E-mails whose retry is due (new ones go out as they are queued).
        self.deliver_due().await;
    }

    async fn wake_snoozed(&self) -> ServiceResult<()> {
        let woken = self
            .store
            .wake_snoozed(self.clock.now(), SWEEP_BATCH)
            .await?;
        self.metrics.automated("snooze_woken", woken.len() as u64);
        for c in woken {
            self.announce(Event::ConversationUpdated { conversation: c });
        }
        Ok(())
    }

    async fn auto_resolve(&self) -> ServiceResult<()> {
        let now = self.clock.now();
        for inbox in self.store.automated_inboxes().await? {
            let Some(rule) = &inbox.automation.auto_resolve else {
                continue;
            };
            let cutoff = now - Duration::seconds(i64::from(rule.after_secs));
            let stale = self
                .store
                .stale_conversations(inbox.workspace_id, inbox.id, cutoff, SWEEP_BATCH)
                .await?;
            let mut resolved = 0;
            for id in stale {
                match self
                    .resolve_stale(inbox.workspace_id, id, rule.message.as_deref())
                    .await
                {
                    Ok(true) => resolved += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "auto-resolving a conversation failed"),
                }
            }
            if resolved > 0 {
                self.metrics.automated("auto_resolved", resolved);
                // Resolving freed the agents' capacity.
                self.route(inbox.workspace_id).await;
            }
        }
        Ok(())
    }

    /// Resolves one stale conversation unless someone moved it meanwhile;
    /// `false` when they did.
    async fn resolve_stale(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        message: Option<&str>,
    ) -> ServiceResult<bool> {
        use ConversationStatus::*;
        let t = Transition::new(&[Assigned], Resolved, self.clock.now());
        let c = match self.apply_transition(ws, id, t).await {
            Ok(c) => c,
            Err(ServiceError::Conflict(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        if let Some(text) = message {
            let meta = MessageMeta {
                auto_reply: Some(AutoReply::AutoResolve),
                ..MessageMeta::default()
            };
            self.bot_message(
                &c,
                MessageId::new(),
                SenderKind::Bot,
                text.into(),
                false,
                meta,
            )
            .await?;
        }
        Ok(true)
    }

    async fn presence_timeout(&self) -> ServiceResult<()> {
        let timeout = self.chat.presence_timeout_secs;
        if timeout == 0 {
            return Ok(());
        }
        let now = self.clock.now();
        let (open, closed) = self.live.take();
        self.store.touch_presence(&open, now).await?;
        for (user, at) in closed {
            self.store.touch_presence(&[user], at).await?;
        }
        let cutoff = now - Duration::seconds(timeout as i64);
        let expired = self.store.expire_presence(cutoff, now).await?;
        if expired > 0 {
            tracing::info!(agents = expired, "agents without a socket went offline");
            self.metrics.automated("presence_timed_out", expired);
        }
        Ok(())
    }

    /// Puts an assigned conversation aside until `until` (in the future, at
    /// most a year ahead): lists leave it out on request, and the visitor's
    /// next message or the time wakes it.
    pub async fn snooze(
        &self,
        access: &Access,
        id: ConversationId,
        until: DateTime<Utc>,
    ) -> ServiceResult<Conversation> {
        let now = self.clock.now();
        if until <= now {
            return Err(ServiceError::invalid("until", "not_in_future"));
        }
        if until > now + Duration::days(MAX_SNOOZE_DAYS) {
            return Err(ServiceError::invalid("until", "too_far"));
        }
        self.set_snooze(access, id, Some(until)).await
    }

    /// Wakes a snoozed conversation now.
    pub async fn unsnooze(
        &self,
        access: &Access,
        id: ConversationId,
    ) -> ServiceResult<Conversation> {
        self.set_snooze(access, id, None).await
    }

    async fn set_snooze(
        &self,
        access: &Access,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
    ) -> ServiceResult<Conversation> {
        access.require(kefu_domain::Action::SendMessages)?;
        self.conversation(access, id).await?;
        let c = self
            .store
            .snooze_conversation(access.workspace_id, id, until, self.clock.now())
            .await
            .map_err(|e| match e {
                kefu_domain::StoreError::Conflict(_) => {
                    ServiceError::Conflict("invalid_transition")
                }
                other => other.into(),
            })?;
        self.announce(Event::ConversationUpdated {
            conversation: c.clone(),
        });
        Ok(c)
    }

    /// A visitor's message wakes their snoozed conversation.
    pub(crate) async fn wake_on_reply(&self, c: &Conversation) {
        if c.snoozed_until.is_none() {
            return;
        }
        match self
            .store
            .snooze_conversation(c.workspace_id, c.id, None, self.clock.now())
            .await
        {
            Ok(c) => self.announce(Event::ConversationUpdated { conversation: c }),
            Err(e) => tracing::warn!(error = %e, "waking a snoozed conversation failed"),
        }
    }

    /// The inbox's away message, when a visitor's conversation reaches the
    /// queue outside business hours or with nobody online. Its meta carries
    /// the next opening time, which the widget shows in the visitor's
    /// language and zone.
    pub(crate) async fn away_if_unstaffed(&self, c: &Conversation) {
        if let Err(e) = self.send_away(c).await {
            tracing::warn!(error = %e, "sending the away message failed");
        }
    }

    async fn send_away(&self, c: &Conversation) -> ServiceResult<()> {
        let inbox = self.store.get_inbox(c.workspace_id, c.inbox_id).await?;
        let Some(text) = inbox.automation.away_message.clone() else {
            return Ok(());
        };
        let now = self.clock.now();
        let open = inbox.business_hours.as_ref().is_none_or(|h| h.is_open(now));
        let staffed = open
            && self
                .store
                .list_presence(c.workspace_id, self.chat.default_agent_capacity)
                .await?
                .iter()
                .any(|p| p.status == AgentStatus::Online);
        if staffed {
            return Ok(());
        }
        let meta = MessageMeta {
            auto_reply: Some(AutoReply::Away),
            next_open_at: if open {
                None
            } else {
                inbox.business_hours.as_ref().and_then(|h| h.next_open(now))
            },
            ..MessageMeta::default()
        };
        self.bot_message(c, MessageId::new(), SenderKind::Bot, text, false, meta)
            .await?;
        self.metrics.automated("away_sent", 1);
        Ok(())
    }
}

/// Checks an inbox's automation settings; `min_resolve` is
/// `chat.auto_resolve_min_secs`.
pub(crate) fn check_automation(
    c: &mut crate::validate::Checks,
    a: &mut InboxAutomation,
    min_resolve: u32,
) {
    if let Some(r) = &mut a.auto_resolve {
        if r.after_secs < min_resolve || r.after_secs > MAX_AUTO_RESOLVE_SECS {
            c.fail("auto_resolve.after_secs", "out_of_range");
        }
        r.message = match r.message.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(m) => Some(paragraphs(c, "auto_resolve.message", m)),
        };
    }
    a.away_message = match a.away_message.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(m) => Some(paragraphs(c, "away_message", m)),
    };
    if let Some(f) = &mut a.prechat_form {
        if f.fields.is_empty() || f.fields.len() > 10 {
            c.fail("prechat_form.fields", "out_of_range");
        }
        let mut seen: Vec<&str> = Vec::new();
        for field in &mut f.fields {
            field.key = field.key.trim().to_string();
            field.label = match field.label.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(l) => Some(c.text("prechat_form.fields.label", l, 100)),
            };
            if !PRECHAT_STANDARD.contains(&field.key.as_str())
                && !crate::contacts::attribute_key_ok(&field.key)
            {
                c.fail("prechat_form.fields.key", "invalid_key");
            } else if !PRECHAT_STANDARD.contains(&field.key.as_str()) && field.label.is_none() {
                // A custom field has no translated label to fall back on.
                c.fail("prechat_form.fields.label", "required");
            }
        }
        for field in &f.fields {
            if seen.contains(&field.key.as_str()) {
                c.fail("prechat_form.fields.key", "duplicate");
            }
            seen.push(&field.key);
        }
    }
}

/// A text the visitor gets (lines allowed), within the length.
fn paragraphs(c: &mut crate::validate::Checks, field: &str, t: &str) -> String {
    if t.chars().count() > MAX_AUTOMATION_TEXT {
        c.fail(field, "too_long");
    } else if t.chars().any(|ch| ch.is_control() && ch != '\n') {
        c.fail(field, "invalid_characters");
    }
    t.to_string()
}
