//! Agents' side of conversations: reading, replying, listing, and
//! status changes (transitions, reopening).

use super::*;

impl Services {
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
    pub async fn agent_send(
        &self,
        access: &Access,
        id: ConversationId,
        body: &str,
        private: bool,
        client_msg_id: &str,
    ) -> ServiceResult<Sent> {
        self.agent_send_with(access, id, body, private, client_msg_id, &[])
            .await
    }

    /// [`Self::agent_send`] with files the member uploaded (the text may
    /// then be empty).
    #[tracing::instrument(name = "chat.agent_send", skip_all)]
    pub async fn agent_send_with(
        &self,
        access: &Access,
        id: ConversationId,
        body: &str,
        private: bool,
        client_msg_id: &str,
        files: &[kefu_domain::AttachmentId],
    ) -> ServiceResult<Sent> {
        access.require(Action::SendMessages)?;
        self.check_message_with(body, client_msg_id, !files.is_empty())?;
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
        let uploader = kefu_domain::attachments::Uploader::Agent(sender);
        let msg = self
            .with_files(access.workspace_id, files, uploader, id, msg)
            .await?;
        let sent = self.append(&conversation, &msg).await?;
        if !sent.duplicate {
            self.claim_files(access.workspace_id, files, uploader, &sent.message)
                .await;
        }
        if !private && !sent.duplicate {
            self.observe_first_response(access.workspace_id, &sent.message)
                .await;
            self.email_reply_later(&sent.message);
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

/// What `GET …/conversations` asks for.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    pub assignee_id: Option<kefu_domain::UserId>,
    pub team_id: Option<kefu_domain::TeamId>,
    pub label: Option<String>,
    /// `true`: only snoozed conversations; `false`: none of them.
    pub snoozed: Option<bool>,
    /// Text in a message or the contact's name, e-mail or phone.
    pub q: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Cursor: `<updated_at as microseconds since the epoch>_<conversation id>`.
fn encode_cursor(c: &Conversation) -> String {
    keyset_cursor(c.updated_at, c.id)
}

/// A page cursor for lists ordered newest first by (time, id): the last
/// item's `<micros>_<id>`.
pub(crate) fn keyset_cursor(
    at: chrono::DateTime<chrono::Utc>,
    id: impl std::fmt::Display,
) -> String {
    format!("{}_{}", at.timestamp_micros(), id)
}

/// The (time, id) a [`keyset_cursor`] names; `None` for anything else.
pub(crate) fn parse_keyset_cursor<I: std::str::FromStr>(
    raw: &str,
) -> Option<(chrono::DateTime<chrono::Utc>, I)> {
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
            Some(c) => Some(
                parse_keyset_cursor(c).ok_or_else(|| ServiceError::invalid("cursor", "invalid"))?,
            ),
            None => None,
        };
        let limit = q.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let me = access.ctx.principal.user_id();
        let filter = ConversationFilter {
            status: q.status,
            assignee: q.assignee_id,
            team: q.team_id,
            label: q.label.filter(|l| !l.trim().is_empty()),
            snoozed: q.snoozed,
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
