//! Live chat use cases: inboxes (admin), and the widget's visitor sessions.

use crate::auth::tokens::{random_secret, VisitorClaims};
use crate::context::Principal;
use crate::error::{ServiceError, ServiceResult};
use crate::validate::Checks;
use crate::{Access, Services};
use kefu_domain::bus::{Event, Topic};
use kefu_domain::chat::*;
use kefu_domain::routing::AssignmentReason;
use kefu_domain::{Action, ContactId, ConversationId, InboxId, MessageId, WorkspaceId};
use serde_json::json;

#[derive(Debug, Clone)]
pub struct NewInboxInput {
    pub name: String,
    pub channel: String,
    pub allowed_origins: Vec<String>,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
    pub business_hours: Option<BusinessHours>,
    pub offline_mode: OfflineMode,
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
}

/// A site's claim that the visitor is its user `external_id`, signed with
/// the inbox's identity secret: `hmac` = hex(HMAC-SHA256(secret, external_id)).
#[derive(Debug, Clone)]
pub struct Identity {
    pub external_id: String,
    pub hmac: String,
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
    pub inbox: Inbox,
    /// Inside business hours, with at least one agent online.
    pub agents_available: bool,
}

/// A message as stored, and whether it was a resend.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// The sender had sent this `client_msg_id` before: nothing new stored.
    pub duplicate: bool,
}

/// Default and largest page of messages or conversations.
pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 200;

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
        let origins = origins(&mut c, &input.allowed_origins);
        let greeting = input
            .greeting
            .as_deref()
            .map(|g| c.text("greeting", g, 500));
        hours(&mut c, input.business_hours.as_ref());
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
                    "business_hours": inbox.business_hours, "offline_mode": inbox.offline_mode }),
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

    /// Opens a widget session: checks the widget key and the page's origin,
    /// finds (or creates) the visitor's contact, and signs a visitor token.
    pub async fn widget_session(
        &self,
        widget_key: &str,
        visitor_id: Option<&str>,
        origin: Option<&str>,
        identity: Option<&Identity>,
    ) -> ServiceResult<WidgetSession> {
        let inbox = self
            .store
            .find_inbox_by_widget_key(widget_key.trim())
            .await?
            .ok_or(ServiceError::NotFound("inbox"))?;
        check_origin(&inbox, origin)?;
        let visitor_id = match visitor_id.filter(|v| is_issued_visitor_id(v)) {
            Some(v) => v.to_string(),
            None => format!("v_{}", &random_secret("x")[7..29]),
        };
        let now = self.clock.now();
        let contact = match identity {
            Some(id) => {
                verify_identity(&inbox, id)?;
                self.store
                    .contact_for_identity(inbox.workspace_id, &id.external_id, &visitor_id, now)
                    .await?
            }
            None => {
                let c = self
                    .store
                    .contact_for_visitor(inbox.workspace_id, &visitor_id, now)
                    .await?;
                if c.external_id.is_some() {
                    // An identified contact's history needs a valid HMAC in
                    // every new session: its visitor_id alone (the same on
                    // every device the user signed in on) starts afresh.
                    let fresh = format!("v_{}", &random_secret("x")[7..29]);
                    self.store
                        .contact_for_visitor(inbox.workspace_id, &fresh, now)
                        .await?
                } else {
                    c
                }
            }
        };
        let ttl = self.chat.visitor_token_ttl_secs;
        let visitor_token = self.signer.sign_visitor(&VisitorClaims {
            ws: inbox.workspace_id,
            inbox: inbox.id,
            contact: contact.id,
            iat: now.timestamp(),
            exp: now.timestamp() + ttl as i64,
        });
        let open = inbox.business_hours.as_ref().is_none_or(|h| h.is_open(now));
        let agents_available = open
            && self
                .store
                .list_presence(inbox.workspace_id, self.chat.default_agent_capacity)
                .await?
                .iter()
                .any(|p| p.status == kefu_domain::routing::AgentStatus::Online);
        Ok(WidgetSession {
            visitor_token,
            visitor_id: contact.visitor_id,
            contact_id: contact.id,
            expires_in: ttl,
            inbox,
            agents_available,
        })
    }

    /// Resolves a visitor token.
    pub fn authenticate_visitor(&self, token: &str) -> ServiceResult<Visitor> {
        Ok(self.authenticate_visitor_until(token)?.0)
    }

    /// [`Services::authenticate_visitor`], with the token's expiry (Unix
    /// seconds).
    pub fn authenticate_visitor_until(&self, token: &str) -> ServiceResult<(Visitor, i64)> {
        let claims = self
            .signer
            .verify_visitor(token, self.clock.now().timestamp())
            .ok_or(ServiceError::Unauthorized("unauthorized"))?;
        Ok((
            Visitor {
                workspace_id: claims.ws,
                inbox_id: claims.inbox,
                contact_id: claims.contact,
            },
            claims.exp,
        ))
    }
}

impl Services {
    /// Body within the configured length, not blank; a usable idempotency key.
    fn check_message(&self, body: &str, client_msg_id: &str) -> ServiceResult<()> {
        let mut c = Checks::new();
        if body.trim().is_empty() {
            c.fail("body", "required");
        } else if body.chars().count() > self.chat.max_message_chars {
            c.fail("body", "too_long");
        } else if body.contains('\0') {
            // No engine stores NUL in text (PostgreSQL refuses it).
            c.fail("body", "invalid_character");
        }
        let id = client_msg_id;
        if id.is_empty() || id.len() > 64 || id.chars().any(|ch| ch.is_control()) {
            c.fail("client_msg_id", "invalid");
        }
        c.finish()
    }

    fn new_message(
        &self,
        sender_kind: SenderKind,
        sender_id: uuid::Uuid,
        body: &str,
        private: bool,
        client_msg_id: Option<&str>,
    ) -> NewMessage {
        NewMessage {
            id: MessageId::new(),
            sender_kind,
            sender_id: Some(sender_id),
            sender_name: None,
            body: body.to_string(),
            private,
            client_msg_id: client_msg_id.map(str::to_string),
            created_at: self.clock.now(),
            meta: None,
        }
    }

    /// What an append means to the caller; a new message is announced.
    pub(crate) fn appended(&self, conversation: &Conversation, appended: Appended) -> Sent {
        let duplicate = matches!(appended, Appended::Duplicate(_));
        let message = match appended {
            Appended::New(m) | Appended::Duplicate(m) => m,
        };
        if !duplicate {
            self.metrics.message(message.sender_kind);
            self.announce(Event::MessageCreated {
                message: message.clone(),
                contact: conversation.contact_id,
                assignee: conversation.assignee_id,
                team: conversation.team_id,
            });
        }
        Sent { message, duplicate }
    }

    async fn append(&self, conversation: &Conversation, msg: &NewMessage) -> ServiceResult<Sent> {
        // The status is checked in the append's own statement: checking the
        // conversation read before it let a message land in a conversation
        // closed in between. The event names the conversation as the
        // append left it (its assignee now, not at the earlier read).
        let (appended, after) = self
            .store
            .append_checked(conversation.workspace_id, conversation.id, None, msg)
            .await?;
        Ok(self.appended(&after, appended))
    }

    /// Rings the doorbell after a commit: to the workspace's agents and to
    /// the contact's widget sockets.
    pub(crate) fn announce(&self, event: Event) {
        let (ws, contact) = (event.workspace(), event.contact());
        let event = std::sync::Arc::new(event);
        if let Some(ws) = ws {
            self.bus.publish(&Topic::Workspace(ws), event.clone());
        }
        if let Some(contact) = contact {
            self.bus.publish(&Topic::Contact(contact), event);
        }
    }

    /// The visitor's own conversation, or 404 — whoever else's it is.
    pub async fn visitor_conversation(
        &self,
        v: &Visitor,
        id: ConversationId,
    ) -> ServiceResult<Conversation> {
        let c = self.store.get_conversation(v.workspace_id, id).await?;
        if c.contact_id != v.contact_id || c.inbox_id != v.inbox_id {
            return Err(ServiceError::NotFound("conversation"));
        }
        Ok(c)
    }

    /// A visitor's message: into the given conversation, or their open one,
    /// or a new one (waiting for the bot, or in the queue when the inbox's
    /// bot is off).
    #[tracing::instrument(name = "chat.visitor_send", skip_all)]
    pub async fn visitor_send(
        &self,
        v: &Visitor,
        conversation_id: Option<ConversationId>,
        client_msg_id: &str,
        body: &str,
    ) -> ServiceResult<Sent> {
        self.check_message(body, client_msg_id)?;
        // Set when this send puts a conversation into the queue: it may be
        // assigned at once.
        let mut entered_queue = false;
        let (conversation, sent) = match conversation_id {
            // The common case, a client that knows its conversation: the
            // ownership and status checks and the append are one store call.
            Some(id) => {
                let msg = self.new_message(
                    SenderKind::Visitor,
                    v.contact_id.0,
                    body,
                    false,
                    Some(client_msg_id),
                );
                let (appended, c) = self
                    .store
                    .append_checked(v.workspace_id, id, Some((v.contact_id, v.inbox_id)), &msg)
                    .await?;
                let sent = self.appended(&c, appended);
                (c, sent)
            }
            None => {
                let c = match self
                    .store
                    .open_conversation(v.workspace_id, v.inbox_id, v.contact_id)
                    .await?
                {
                    Some(c) => c,
                    None => {
                        let c = self.new_conversation(v).await?;
                        entered_queue = c.status == ConversationStatus::Queued;
                        c
                    }
                };
                let msg = self.new_message(
                    SenderKind::Visitor,
                    v.contact_id.0,
                    body,
                    false,
                    Some(client_msg_id),
                );
                match self.append(&c, &msg).await {
                    // Closed between the lookup and the append: the
                    // message starts a new conversation, as it would have
                    // a moment later.
                    Err(ServiceError::Conflict("conversation_closed")) => {
                        let fresh = self.new_conversation(v).await?;
                        entered_queue = fresh.status == ConversationStatus::Queued;
                        let sent = self.append(&fresh, &msg).await?;
                        (fresh, sent)
                    }
                    sent => (c, sent?),
                }
            }
        };
        // A visitor writing into a resolved conversation reopens it.
        if !sent.duplicate && conversation.status == ConversationStatus::Resolved {
            let t = reopening(conversation.assignee_id.is_some(), self.clock.now());
            match self
                .store
                .transition_conversation(v.workspace_id, conversation.id, &t)
                .await
            {
                Ok(c) => {
                    entered_queue = c.status == ConversationStatus::Queued;
                    self.announce(Event::ConversationUpdated { conversation: c });
                }
                // Reopened concurrently by someone else: nothing to do.
                Err(kefu_domain::StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if entered_queue {
            self.route(v.workspace_id).await;
        }
        // The bot answers in the background: the visitor has their ack now.
        // Tracked, so that a shutdown waits for the answer (within its
        // grace period) instead of dropping it mid-reply.
        if !sent.duplicate && conversation.status == ConversationStatus::Bot {
            let (me, c, m) = (self.clone(), conversation.clone(), sent.message.clone());
            self.background
                .spawn(async move { me.bot_reply(c, m).await });
        }
        Ok(sent)
    }

    /// A visitor's new conversation: with the bot, or in the queue when the
    /// inbox's bot is off.
    async fn new_conversation(&self, v: &Visitor) -> ServiceResult<Conversation> {
        let inbox = self.store.get_inbox(v.workspace_id, v.inbox_id).await?;
        let now = self.clock.now();
        let queued = !inbox.bot_enabled;
        let c = Conversation {
            id: ConversationId::new(),
            workspace_id: v.workspace_id,
            inbox_id: v.inbox_id,
            contact_id: v.contact_id,
            status: if queued {
                ConversationStatus::Queued
            } else {
                ConversationStatus::Bot
            },
            priority: 0,
            assignee_id: None,
            team_id: None,
            assignment_reason: queued.then_some(AssignmentReason::Queued),
            queued_at: queued.then_some(now),
            labels: Vec::new(),
            last_seq: 0,
            rating: None,
            created_at: now,
            updated_at: now,
        };
        self.store.create_conversation(&c).await?;
        Ok(c)
    }

    pub async fn visitor_conversations(&self, v: &Visitor) -> ServiceResult<Vec<Conversation>> {
        Ok(self
            .store
            .contact_conversations(v.workspace_id, v.inbox_id, v.contact_id, MAX_PAGE)
            .await?)
    }

    /// The visitor's messages after `after_seq` — never private notes.
    pub async fn visitor_messages(
        &self,
        v: &Visitor,
        id: ConversationId,
        window: Window,
        limit: i64,
    ) -> ServiceResult<Vec<Message>> {
        self.visitor_conversation(v, id).await?;
        self.page(v.workspace_id, id, window, limit, false).await
    }

    /// One page of a conversation's log, oldest first.
    async fn page(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        window: Window,
        limit: i64,
        include_private: bool,
    ) -> ServiceResult<Vec<Message>> {
        let limit = limit.clamp(1, MAX_PAGE);
        Ok(match window {
            Window::After(seq) => {
                self.store
                    .messages_after(ws, id, seq, limit, include_private)
                    .await?
            }
            Window::Before(seq) => {
                self.store
                    .messages_before(ws, id, seq, limit, include_private)
                    .await?
            }
        })
    }

    /// A conversation the member may see; others are 404, as if absent.
    pub async fn conversation(
        &self,
        access: &Access,
        id: ConversationId,
    ) -> ServiceResult<Conversation> {
        access.require(Action::ViewConversations)?;
        let c = self.store.get_conversation(access.workspace_id, id).await?;
        let me = access.ctx.principal.user_id();
        let teams = match (access.role, c.assignee_id, c.team_id) {
            (kefu_domain::Role::Agent, None, Some(_)) => {
                self.store.member_teams(access.workspace_id, me).await?
            }
            _ => Vec::new(),
        };
        if !access
            .role
            .sees_conversation(me, c.assignee_id, c.team_id, &teams)
        {
            return Err(ServiceError::NotFound("conversation"));
        }
        Ok(c)
    }

    pub async fn conversation_messages(
        &self,
        access: &Access,
        id: ConversationId,
        window: Window,
        limit: i64,
    ) -> ServiceResult<Vec<Message>> {
        self.conversation(access, id).await?;
        self.page(access.workspace_id, id, window, limit, true)
            .await
    }

    /// An agent's reply or private note.
    #[tracing::instrument(name = "chat.agent_send", skip_all)]
    pub async fn agent_send(
        &self,
        access: &Access,
        id: ConversationId,
        body: &str,
        private: bool,
        client_msg_id: &str,
    ) -> ServiceResult<Sent> {
        access.require(Action::SendMessages)?;
        self.check_message(body, client_msg_id)?;
        let conversation = self.conversation(access, id).await?;
        let sender = access.ctx.principal.user_id();
        // The name visitors see: the person's, at the time (an API token
        // or the command line sends unnamed).
        let sender_name = match &access.ctx.principal {
            Principal::User { user_id, .. } => Some(self.store.get_user(*user_id).await?.name),
            _ => None,
        };
        let msg = NewMessage {
            sender_name,
            ..self.new_message(
                SenderKind::Agent,
                sender.0,
                body,
                private,
                Some(client_msg_id),
            )
        };
        let sent = self.append(&conversation, &msg).await?;
        if !private && !sent.duplicate {
            self.observe_first_response(access.workspace_id, &sent.message)
                .await;
        }
        Ok(sent)
    }

    /// Times the first agent reply after the hand-off to people (one more
    /// read per public agent message; the database decides which is first).
    async fn observe_first_response(&self, ws: WorkspaceId, m: &Message) {
        match self.store.response_times(ws, m.conversation_id).await {
            // This message set it (PostgreSQL keeps microseconds).
            Ok((human_at, Some(first)))
                if first.timestamp_micros() == m.created_at.timestamp_micros() =>
            {
                let from = human_at.unwrap_or(first);
                self.metrics
                    .first_response
                    .observe(crate::metrics::seconds(from, first));
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading response times failed"),
        }
    }
}

/// Which page of a conversation's log: after a seq (catching up, from the
/// start with 0) or the newest before one (scrolling back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    After(i64),
    Before(i64),
}

/// What `GET …/conversations` asks for.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<kefu_domain::UserId>,
    pub team_id: Option<kefu_domain::TeamId>,
    pub label: Option<String>,
    /// Text in a message or the contact's name, e-mail or phone.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Cursor: `<updated_at as microseconds since the epoch>_<conversation id>`.
fn encode_cursor(c: &Conversation) -> String {
    format!("{}_{}", c.updated_at.timestamp_micros(), c.id)
}

fn decode_cursor(raw: &str) -> Option<(chrono::DateTime<chrono::Utc>, ConversationId)> {
    let (micros, id) = raw.split_once('_')?;
    let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some((at, id.parse().ok()?))
}

impl Services {
    /// The conversations the member may see, newest activity first.
    pub async fn list_conversations(
        &self,
        access: &Access,
        q: ConversationQuery,
    ) -> ServiceResult<(Vec<Conversation>, Option<String>)> {
        access.require(Action::ViewConversations)?;
        let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => {
                Some(decode_cursor(c).ok_or_else(|| ServiceError::invalid("cursor", "invalid"))?)
            }
            None => None,
        };
        let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let me = access.ctx.principal.user_id();
        let filter = ConversationFilter {
            status: q.status,
            assignee: q.assignee_id,
            team: q.team_id,
            label: q.label.filter(|l| !l.trim().is_empty()),
            text: q
                .q
                .map(|t| t.trim().chars().take(100).collect::<String>())
                .filter(|t| !t.is_empty()),
            visible_to_agent: (access.role == kefu_domain::Role::Agent).then_some(me),
            after,
            limit: limit + 1,
        };
        let mut items = self
            .store
            .list_conversations(access.workspace_id, &filter)
            .await?;
        let next = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(encode_cursor)
        } else {
            None
        };
        Ok((items, next))
    }

    pub(crate) async fn transition(
        &self,
        access: &Access,
        id: ConversationId,
        t: Transition,
    ) -> ServiceResult<Conversation> {
        access.require(Action::SendMessages)?;
        self.conversation(access, id).await?;
        self.commit_transition(access, id, t).await
    }

    /// Applies a transition the caller has already authorised, and
    /// announces it.
    pub(crate) async fn commit_transition(
        &self,
        access: &Access,
        id: ConversationId,
        t: Transition,
    ) -> ServiceResult<Conversation> {
        self.apply_transition(access.workspace_id, id, t).await
    }

    /// Applies a transition its caller has authorised (a member, or the
    /// bot handing off) and announces it.
    pub(crate) async fn apply_transition(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        t: Transition,
    ) -> ServiceResult<Conversation> {
        let updated = self
            .store
            .transition_conversation(ws, id, &t)
            .await
            .map_err(|e| match e {
                kefu_domain::StoreError::Conflict("assignment_conflict") => {
                    ServiceError::Conflict("assignment_conflict")
                }
                kefu_domain::StoreError::Conflict(_) => {
                    ServiceError::Conflict("invalid_transition")
                }
                other => other.into(),
            })?;
        if t.to == ConversationStatus::Resolved {
            self.metrics
                .resolution
                .observe(crate::metrics::seconds(updated.created_at, t.at));
        }
        self.announce(Event::ConversationUpdated {
            conversation: updated.clone(),
        });
        Ok(updated)
    }
}

impl Services {
    /// Priority (-100..=100) and labels (trimmed, deduplicated, at most 20
    /// of 1–50 characters), by anyone who may see the conversation.
    pub async fn update_conversation(
        &self,
        access: &Access,
        id: ConversationId,
        priority: Option<i32>,
        labels: Option<Vec<String>>,
    ) -> ServiceResult<Conversation> {
        access.require(Action::SendMessages)?;
        let mut c = Checks::new();
        if priority.is_some_and(|p| !(-100..=100).contains(&p)) {
            c.fail("priority", "out_of_range");
        }
        let labels = labels.map(|raw| {
            let mut out: Vec<String> = Vec::new();
            for l in raw {
                let l = l.trim().to_string();
                if l.is_empty() || l.chars().count() > 50 || l.chars().any(char::is_control) {
                    c.fail("labels", "invalid_label");
                } else if !out.contains(&l) {
                    out.push(l);
                }
            }
            if out.len() > 20 {
                c.fail("labels", "too_many");
            }
            out
        });
        c.finish()?;
        self.conversation(access, id).await?;
        let updated = self
            .store
            .update_conversation(
                access.workspace_id,
                id,
                priority,
                labels.as_deref(),
                self.clock.now(),
            )
            .await?;
        self.announce(Event::ConversationUpdated {
            conversation: updated.clone(),
        });
        Ok(updated)
    }
}

/// Resolved → assigned (when it has an agent) or queued.
pub(crate) fn reopening(has_assignee: bool, at: chrono::DateTime<chrono::Utc>) -> Transition {
    use ConversationStatus::*;
    let to = if has_assignee { Assigned } else { Queued };
    Transition {
        reason: (!has_assignee).then_some(AssignmentReason::Queued),
        ..Transition::new(&[Resolved], to, at)
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

/// Constant-time check of the site's HMAC; a wrong or malformed one is 401
/// `invalid_identity`.
fn verify_identity(inbox: &Inbox, id: &Identity) -> ServiceResult<()> {
    use hmac::Mac;
    let bad = || ServiceError::Unauthorized("invalid_identity");
    if id.external_id.is_empty() || id.external_id.len() > 200 {
        return Err(ServiceError::invalid("identity.external_id", "invalid"));
    }
    let given = data_encoding::HEXLOWER_PERMISSIVE
        .decode(id.hmac.trim().as_bytes())
        .map_err(|_| bad())?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(inbox.identity_secret.as_bytes())
        .map_err(|_| bad())?;
    mac.update(id.external_id.as_bytes());
    mac.verify_slice(&given).map_err(|_| bad())
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
