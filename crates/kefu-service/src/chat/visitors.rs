//! The widget's visitors: sessions (tokens, identity), their messages
//! and conversations.

use super::*;

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
    /// The contact's visit as recorded so far (the session's page joins it).
    pub last_visit: Option<Visit>,
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
    /// Opens a widget session: checks the widget key and the page's origin,
    /// finds (or creates) the visitor's contact, and signs a visitor token.
    pub async fn widget_session(
        &self,
        widget_key: &str,
        visitor_id: Option<&str>,
        origin: Option<&str>,
        identity: Option<&Identity>,
        ip: Option<&str>,
    ) -> ServiceResult<WidgetSession> {
        let inbox = self
            .store
            .find_inbox_by_widget_key(widget_key.trim())
            .await?
            .ok_or(ServiceError::NotFound("inbox"))?;
        check_origin(&inbox, origin)?;
        self.check_visitor_ip(inbox.workspace_id, ip).await?;
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
        if contact.blocked_at.is_some() {
            return Err(ServiceError::Forbidden("visitor_blocked"));
        }
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
            last_visit: contact.last_visit,
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

    /// The visitor's own conversation, or 404 — whoever else's it is.
    pub async fn visitor_conversation(
        &self,
        v: &Visitor,
        id: ConversationId,
    ) -> ServiceResult<Conversation> {
        let c = self.store.get_conversation(v.workspace_id, id).await?;
        if c.contact_id != v.contact_id || c.inbox_id != v.inbox_id {
            self.not_merged_away(v).await?;
            return Err(ServiceError::NotFound("conversation"));
        }
        Ok(c)
    }

    /// Whether the visitor's token still speaks for a live contact: 401 once
    /// merged into another (a new session finds the survivor), 403
    /// `visitor_blocked` once blocked. Open sockets ask it when their
    /// contact changes.
    pub async fn visitor_still_valid(&self, v: &Visitor) -> ServiceResult<()> {
        let c = self.store.get_contact(v.workspace_id, v.contact_id).await?;
        if c.merged_into.is_some() {
            return Err(ServiceError::Unauthorized("unauthorized"));
        }
        if c.blocked_at.is_some() {
            return Err(ServiceError::Forbidden("visitor_blocked"));
        }
        Ok(())
    }

    /// A token issued before its contact was merged into another speaks
    /// for a contact that no longer holds conversations: 401, so the widget
    /// opens a new session (which finds the survivor) and tries again.
    /// Asked only on the paths a merge changes (a conversation that is no
    /// longer the visitor's, a new conversation), never on the common one.
    async fn not_merged_away(&self, v: &Visitor) -> ServiceResult<()> {
        let c = self.store.get_contact(v.workspace_id, v.contact_id).await?;
        if c.merged_into.is_some() {
            return Err(ServiceError::Unauthorized("unauthorized"));
        }
        Ok(())
    }

    /// A visitor's message: into the given conversation, or their open one,
    /// or a new one (waiting for the bot, or in the queue when the inbox's
    /// bot is off).
    pub async fn visitor_send(
        &self,
        v: &Visitor,
        conversation_id: Option<ConversationId>,
        client_msg_id: &str,
        body: &str,
    ) -> ServiceResult<Sent> {
        self.visitor_send_with(v, conversation_id, client_msg_id, body, &[])
            .await
    }

    /// [`Self::visitor_send`] with files the visitor uploaded (the text may
    /// then be empty).
    #[tracing::instrument(name = "chat.visitor_send", skip_all)]
    pub async fn visitor_send_with(
        &self,
        v: &Visitor,
        conversation_id: Option<ConversationId>,
        client_msg_id: &str,
        body: &str,
        files: &[kefu_domain::AttachmentId],
    ) -> ServiceResult<Sent> {
        self.check_message_with(body, client_msg_id, !files.is_empty())?;
        let uploader = kefu_domain::attachments::Uploader::Visitor(v.contact_id);
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
                let msg = self
                    .with_files(v.workspace_id, files, uploader, id, msg)
                    .await?;
                let (appended, c) = match self
                    .store
                    .append_checked(v.workspace_id, id, Some((v.contact_id, v.inbox_id)), &msg)
                    .await
                {
                    Err(kefu_domain::StoreError::NotFound(what)) => {
                        self.not_merged_away(v).await?;
                        return Err(ServiceError::NotFound(what));
                    }
                    Err(kefu_domain::StoreError::Rule("visitor_blocked")) => {
                        return Err(ServiceError::Forbidden("visitor_blocked"));
                    }
                    other => other?,
                };
                let sent = self.appended(&c, appended);
                (c, sent)
            }
            None => {
                // Without a conversation the append does not check the
                // sender: a blocked contact is refused here.
                self.visitor_not_blocked(v).await?;
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
                let msg = self
                    .with_files(v.workspace_id, files, uploader, c.id, msg)
                    .await?;
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
        if !sent.duplicate {
            self.claim_files(v.workspace_id, files, uploader, &sent.message)
                .await;
        }
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
        if !sent.duplicate {
            self.wake_on_reply(&conversation).await;
        }
        if entered_queue {
            self.route(v.workspace_id).await;
            self.away_if_unstaffed(&conversation).await;
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
        self.not_merged_away(v).await?;
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
            snoozed_until: None,
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
