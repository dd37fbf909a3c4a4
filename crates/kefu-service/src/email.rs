//! Outgoing e-mail (docs/operations/email.md): every message goes to the
//! durable outbox first (`email_outbox`), and is sent from there over SMTP
//! (STARTTLS or TLS, with AUTH) by whichever replica claims it: at once
//! after it is queued, and on every sweep after a failure, with exponential
//! back-off up to `email.max_attempts`. A message that still fails is kept as
//! `failed`, visible to the workspace's admins, who may retry it. Bodies are
//! emptied once sent: they may carry a one-time link.
//!
//! Templates are in zh-CN and en, as multipart text and HTML.

use crate::error::ServiceResult;
use crate::{Access, Services};
use chrono::Duration;
use kefu_domain::email::{EmailStatus, OutboxEmail};
use kefu_domain::{Action, EmailId, WorkspaceId};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// `[email]`: the SMTP relay and the outbox's retry policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailConfig {
    /// `smtp://user:password@host:587?tls=required` (STARTTLS),
    /// `smtps://user:password@host:465` (TLS from the start), or
    /// `smtp://host:25` (plain: only for a relay on the same host);
    /// unset: e-mails wait in the outbox, unsent.
    #[serde(serialize_with = "ser_secret", deserialize_with = "de_secret")]
    pub smtp_url: Option<SecretString>,
    /// The sender: `Kefu <noreply@example.com>`.
    pub from: String,
    /// Extra certificate authority for the relay (a private one), PEM;
    /// usually given as `tls_ca_file` (a path). The system's roots are
    /// trusted anyway.
    pub tls_ca: Option<String>,
    /// Attempts before an e-mail is `failed`.
    pub max_attempts: u32,
    /// The wait before the first retry, in seconds; it doubles each time
    /// (at most an hour).
    pub retry_base_secs: u64,
    /// Seconds one SMTP exchange may take.
    pub timeout_secs: u64,
    /// The language of e-mails to people whose language is not known.
    pub default_locale: String,
    /// An agent's reply the visitor has not read this many seconds later
    /// goes to the visitor's e-mail (when the contact has one); 0 never.
    pub reply_delay_secs: u64,
    /// E-mail an agent a conversation assigned to them while no console of
    /// theirs is open.
    pub notify_assignments: bool,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            from: "Kefu <noreply@localhost>".into(),
            tls_ca: None,
            max_attempts: 8,
            retry_base_secs: 30,
            timeout_secs: 30,
            default_locale: "zh-CN".into(),
            reply_delay_secs: 120,
            notify_assignments: true,
        }
    }
}

fn ser_secret<S: serde::Serializer>(v: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_some("[redacted]"),
        None => s.serialize_none(),
    }
}

fn de_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(Option::<String>::deserialize(d)?
        .filter(|v| !v.is_empty())
        .map(SecretString::from))
}

/// The SMTP client of [`EmailConfig`], once built.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mailer(from {})", self.from)
    }
}

impl Mailer {
    /// The client for `cfg`; `None` without an `smtp_url`. A bad URL, sender
    /// or CA file is an error naming it.
    pub fn new(cfg: &EmailConfig) -> Result<Option<Self>, String> {
        let Some(raw) = &cfg.smtp_url else {
            return Ok(None);
        };
        let raw = raw.expose_secret();
        let parsed = url::Url::parse(raw).map_err(|e| format!("email.smtp_url: {e}"))?;
        let host = parsed
            .host_str()
            .ok_or("email.smtp_url: no host")?
            .to_string();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(raw)
            .map_err(|e| format!("email.smtp_url: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(
                cfg.timeout_secs.max(1),
            )));
        let tls = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        let encrypted = parsed.scheme() == "smtps" || tls.is_some();
        if let (Some(pem), true) = (&cfg.tls_ca, encrypted) {
            let cert =
                Certificate::from_pem(pem.as_bytes()).map_err(|e| format!("email.tls_ca: {e}"))?;
            let params = TlsParameters::builder(host)
                .add_root_certificate(cert)
                .build()
                .map_err(|e| format!("email.tls_ca: {e}"))?;
            builder = builder.tls(match (parsed.scheme(), tls.as_deref()) {
                ("smtps", _) => Tls::Wrapper(params),
                (_, Some("opportunistic")) => Tls::Opportunistic(params),
                _ => Tls::Required(params),
            });
        }
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| format!("email.from {:?}: {e}", cfg.from))?;
        Ok(Some(Self {
            transport: builder.build(),
            from,
        }))
    }

    async fn send(&self, e: &OutboxEmail) -> Result<(), String> {
        let to: Mailbox = e.to.parse().map_err(|err| format!("recipient: {err}"))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(e.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                e.text.clone(),
                e.html.clone(),
            ))
            .map_err(|err| err.to_string())?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| err.to_string())
    }
}

/// How long a password-reset link works.
const RESET_TTL_SECS: i64 = 3600;
/// E-mails one sender takes at a time.
const BATCH: i64 = 20;
/// How long a claimed e-mail is left to its sender before another replica
/// may try it (a sender that died mid-way).
const LEASE_SECS: i64 = 300;

/// An e-mail to queue: its kind, recipient and rendered content.
pub struct Outgoing {
    pub workspace_id: Option<WorkspaceId>,
    pub kind: &'static str,
    pub to: String,
    pub content: Rendered,
}

/// A rendered template.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Services {
    /// Queues an e-mail and starts sending it now (in the background): the
    /// outbox row is the promise, whatever happens to this attempt.
    pub async fn queue_email(&self, out: Outgoing) -> ServiceResult<EmailId> {
        let now = self.clock.now();
        let e = OutboxEmail {
            id: EmailId::new(),
            workspace_id: out.workspace_id,
            kind: out.kind.to_string(),
            to: out.to,
            subject: out.content.subject,
            text: out.content.text,
            html: out.content.html,
            status: EmailStatus::Pending,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            created_at: now,
            sent_at: None,
        };
        self.store.enqueue_email(&e).await?;
        self.metrics.email("queued");
        if self.mailer.is_some() {
            let me = self.clone();
            self.background.spawn(async move { me.deliver_due().await });
        }
        Ok(e.id)
    }

    /// Sends what is due (the sweeper calls it; so does every queueing).
    pub async fn deliver_due(&self) {
        let Some(mailer) = self.mailer.as_deref() else {
            return;
        };
        let now = self.clock.now();
        let due = match self
            .store
            .claim_emails(now, now + Duration::seconds(LEASE_SECS), BATCH)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "claiming e-mails failed");
                return;
            }
        };
        for e in due {
            let result = mailer.send(&e).await;
            let at = self.clock.now();
            let stored = match result {
                Ok(()) => {
                    self.metrics.email("sent");
                    self.store.email_sent(e.id, at).await
                }
                Err(err) => {
                    let attempts = e.attempts + 1;
                    let retry = (attempts < self.email.max_attempts as i32)
                        .then(|| at + backoff(self.email.retry_base_secs, attempts));
                    // The recipient is personal data: the log has the id.
                    tracing::warn!(email_id = %e.id, kind = %e.kind, attempts, error = %err,
                        gave_up = retry.is_none(), "sending an e-mail failed");
                    self.metrics
                        .email(if retry.is_some() { "retried" } else { "failed" });
                    self.store.email_failed(e.id, &err, retry).await
                }
            };
            if let Err(err) = stored {
                tracing::warn!(error = %err, "recording an e-mail's outcome failed");
            }
        }
    }

    /// The workspace's e-mails, newest first (owners and admins): who, what
    /// and how it went; never the bodies.
    pub async fn outbox(&self, access: &Access, limit: i64) -> ServiceResult<Vec<OutboxEmail>> {
        access.require(Action::InviteMembers)?;
        Ok(self
            .store
            .list_emails(access.workspace_id, limit.clamp(1, 200))
            .await?)
    }

    /// A failed e-mail back in the queue.
    pub async fn retry_email(&self, access: &Access, id: EmailId) -> ServiceResult<()> {
        access.require(Action::InviteMembers)?;
        self.store
            .retry_email(access.workspace_id, id, self.clock.now())
            .await?;
        if self.mailer.is_some() {
            let me = self.clone();
            self.background.spawn(async move { me.deliver_due().await });
        }
        Ok(())
    }

    /// A link into the console, absolute when `http.public_url` is set.
    pub(crate) fn console_link(&self, fragment: &str) -> String {
        format!("{}/{fragment}", self.public_url.trim_end_matches('/'))
    }

    /// `zh-CN` or `en` for a requested locale (else the default).
    pub(crate) fn email_locale(&self, asked: Option<&str>) -> Locale {
        let of = |l: &str| {
            let l = l.to_ascii_lowercase();
            if l.starts_with("zh") {
                Some(Locale::Zh)
            } else if l.starts_with("en") {
                Some(Locale::En)
            } else {
                None
            }
        };
        asked
            .and_then(of)
            .or_else(|| of(&self.email.default_locale))
            .unwrap_or(Locale::Zh)
    }
}

/// `base · 2^(attempt-1)`, at most an hour.
fn backoff(base_secs: u64, attempt: i32) -> Duration {
    let factor = 1u64 << (attempt.clamp(1, 16) - 1);
    Duration::seconds(base_secs.saturating_mul(factor).min(3600) as i64)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    Zh,
    En,
}

/// Text for HTML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A plain message laid out as text and as simple HTML: paragraphs, then
/// an optional button link.
pub fn render(subject: String, paragraphs: &[String], link: Option<(&str, &str)>) -> Rendered {
    let mut text = paragraphs.join("\n\n");
    let mut html = String::from(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.6;color:#1f2937\">",
    );
    for p in paragraphs {
        html.push_str("<p>");
        html.push_str(&escape(p).replace('\n', "<br>"));
        html.push_str("</p>");
    }
    if let Some((label, url)) = link {
        text.push_str(&format!("\n\n{label}: {url}"));
        html.push_str(&format!(
            "<p><a href=\"{}\" style=\"display:inline-block;padding:8px 16px;background:#4f46e5;color:#fff;border-radius:6px;text-decoration:none\">{}</a></p><p style=\"color:#6b7280;font-size:12px\">{}</p>",
            escape(url),
            escape(label),
            escape(url)
        ));
    }
    html.push_str("</body></html>");
    Rendered {
        subject,
        text,
        html,
    }
}

// ------------------------------------------------------------ the e-mails

impl Services {
    /// The invitation e-mail, when e-mail is set up: the accept link.
    pub(crate) async fn email_invitation(
        &self,
        access: &Access,
        to: &str,
        token: &str,
        locale: Option<&str>,
    ) -> ServiceResult<Option<EmailId>> {
        if self.mailer.is_none() {
            return Ok(None);
        }
        let ws = self.store.get_workspace(access.workspace_id).await?;
        let inviter = match &access.ctx.principal {
            crate::Principal::User { user_id, .. } => {
                Some(self.store.get_user(*user_id).await?.name)
            }
            _ => None,
        };
        let link = self.console_link(&format!("#/accept?token={token}"));
        let days = self.config.invitation_ttl_secs / 86_400;
        let who = inviter.unwrap_or_else(|| ws.name.clone());
        let content = match self.email_locale(locale) {
            Locale::Zh => render(
                format!("{who} 邀请您加入 {}（Kefu 客服）", ws.name),
                &[
                    "您好，".into(),
                    format!("{who} 邀请您加入 Kefu 客服工作区“{}”。点击下面的链接设置姓名和密码即可加入。", ws.name),
                    format!("链接 {days} 天内有效，仅可使用一次。如果您不认识对方，请忽略这封邮件。"),
                ],
                Some(("接受邀请", &link)),
            ),
            Locale::En => render(
                format!("{who} invited you to {} on Kefu", ws.name),
                &[
                    "Hello,".into(),
                    format!("{who} invited you to join the Kefu workspace “{}”. Follow the link to choose your name and password.", ws.name),
                    format!("The link works once, for {days} days. If you do not know the sender, ignore this e-mail."),
                ],
                Some(("Accept the invitation", &link)),
            ),
        };
        self.queue_email(Outgoing {
            workspace_id: Some(access.workspace_id),
            kind: "invitation",
            to: to.to_string(),
            content,
        })
        .await
        .map(Some)
    }

    /// "Forgot my password": when the address is an account's (and e-mail
    /// is set up), a reset link goes to it. The answer is the same either
    /// way, so the form does not tell who has an account.
    pub async fn request_password_reset(
        &self,
        email: &str,
        locale: Option<&str>,
        ip: Option<&str>,
    ) -> ServiceResult<()> {
        let email = email.trim().to_lowercase();
        // Throttled like sign-ins, per address and per client: nobody
        // floods an inbox with reset e-mails.
        let key = format!("reset:{email}");
        self.throttled(ip, &key).await?;
        self.throttle.failed(&key).await;
        let Some(user) = self.store.find_user_by_email(&email).await? else {
            return Ok(());
        };
        if self.mailer.is_none() {
            tracing::warn!(
                "a password reset was asked for, but e-mail is not set up ([email] smtp_url)"
            );
            return Ok(());
        }
        let ttl = RESET_TTL_SECS;
        let token = self.signer.sign_reset(&crate::auth::tokens::ResetClaims {
            user: user.id,
            pw: password_fingerprint(&user.password_hash),
            exp: self.clock.now().timestamp() + ttl,
        });
        let link = self.console_link(&format!("#/reset?token={token}"));
        let minutes = ttl / 60;
        let content = match self.email_locale(locale) {
            Locale::Zh => render(
                "重设您的 Kefu 密码".into(),
                &[
                    format!("{}，您好：", user.name),
                    format!("我们收到了重设密码的请求。点击下面的链接设置新密码，链接 {minutes} 分钟内有效，仅可使用一次。"),
                    "如果不是您本人操作，请忽略这封邮件，您的密码不会改变。".into(),
                ],
                Some(("设置新密码", &link)),
            ),
            Locale::En => render(
                "Reset your Kefu password".into(),
                &[
                    format!("Hello {},", user.name),
                    format!("Someone asked to reset your password. Follow the link to choose a new one; it works once, for {minutes} minutes."),
                    "If it was not you, ignore this e-mail: your password stays as it is.".into(),
                ],
                Some(("Choose a new password", &link)),
            ),
        };
        self.queue_email(Outgoing {
            workspace_id: None,
            kind: "password_reset",
            to: user.email.clone(),
            content,
        })
        .await?;
        Ok(())
    }

    /// Sets a new password with a reset link's token: 401
    /// `invalid_reset_token` for a wrong, expired or used one. Every
    /// session of the account ends.
    pub async fn reset_password(&self, token: &str, new_password: &str) -> ServiceResult<()> {
        let bad = || crate::error::ServiceError::Unauthorized("invalid_reset_token");
        let claims = self
            .signer
            .verify_reset(token.trim(), self.clock.now().timestamp())
            .ok_or_else(bad)?;
        let user = self.store.get_user(claims.user).await.map_err(|_| bad())?;
        if password_fingerprint(&user.password_hash) != claims.pw {
            return Err(bad());
        }
        let mut c = crate::validate::Checks::new();
        c.new_password(
            "new_password",
            new_password,
            self.config.min_password_len,
            &user.email,
            &user.name,
        );
        c.finish()?;
        let hash = self.hash_password(new_password).await?;
        self.store
            .set_password(user.id, &hash, None, self.clock.now())
            .await?;
        self.access_changed(kefu_domain::bus::AccessChange::AllSessionsEnded {
            user_id: user.id,
            keep: None,
        });
        Ok(())
    }
}

/// Which password a reset token was issued for (not the hash itself).
fn password_fingerprint(hash: &str) -> String {
    use sha2::Digest;
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(hash.as_bytes())[..8])
}

// ------------------------------------------------ conversations by e-mail

use kefu_domain::chat::{Conversation, Message, SenderKind};

/// Messages a transcript holds at most (the newest).
const TRANSCRIPT_MAX: i64 = 1000;

impl Services {
    /// E-mails the visitor their conversation (public messages only), to
    /// `email` or the contact's own address (a given address is kept on
    /// the contact when it has none). Throttled per conversation.
    pub async fn visitor_transcript(
        &self,
        v: &crate::chat::Visitor,
        id: kefu_domain::ConversationId,
        email: Option<&str>,
        locale: Option<&str>,
    ) -> ServiceResult<EmailId> {
        let c = self.visitor_conversation(v, id).await?;
        let contact = self.store.get_contact(v.workspace_id, v.contact_id).await?;
        let to = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => {
                if contact.email.is_none() {
                    self.visitor_update_contact(v, None, Some(e.to_string()), None, None)
                        .await?;
                } else {
                    let mut checks = crate::validate::Checks::new();
                    checks.email("email", e);
                    checks.finish()?;
                }
                e.to_string()
            }
            None => contact
                .email
                .clone()
                .ok_or_else(|| crate::error::ServiceError::invalid("email", "required"))?,
        };
        if self.mailer.is_none() {
            return Err(crate::error::ServiceError::Conflict("email_not_configured"));
        }
        let key = format!("transcript:{id}");
        self.throttled(None, &key).await?;
        self.throttle.failed(&key).await;
        let mut log: Vec<Message> = Vec::new();
        let mut after = (c.last_seq - TRANSCRIPT_MAX * 2).max(0);
        loop {
            let page = self
                .store
                .messages_after(v.workspace_id, id, after, crate::chat::MAX_PAGE, false)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            log.extend(page);
        }
        let skip = log.len().saturating_sub(TRANSCRIPT_MAX as usize);
        let inbox = self.store.get_inbox(v.workspace_id, c.inbox_id).await?;
        let loc = self.email_locale(locale);
        let content = transcript(loc, &inbox.name, &log[skip..]);
        self.queue_email(Outgoing {
            workspace_id: Some(v.workspace_id),
            kind: "transcript",
            to,
            content,
        })
        .await
    }

    /// After an agent's public reply: if the visitor has not read it
    /// `email.reply_delay_secs` later and their contact has an e-mail, the
    /// replies since their last message go there (one e-mail for a run of
    /// replies: only the newest reply's check sends).
    pub(crate) fn email_reply_later(&self, m: &Message) {
        if self.mailer.is_none() || self.email.reply_delay_secs == 0 {
            return;
        }
        let (me, m) = (self.clone(), m.clone());
        let delay = std::time::Duration::from_secs(self.email.reply_delay_secs);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(e) = me.email_unread_reply(&m).await {
                tracing::warn!(error = %e, "e-mailing an unread reply failed");
            }
        });
    }

    async fn email_unread_reply(&self, m: &Message) -> ServiceResult<()> {
        let ws = m.workspace_id;
        let c = self.store.get_conversation(ws, m.conversation_id).await?;
        let contact = self.store.get_contact(ws, c.contact_id).await?;
        let Some(to) = contact.email.clone() else {
            return Ok(());
        };
        let unread = self
            .store
            .unread_counts(ws, c.contact_id.0, &[c.id], false)
            .await?;
        if unread.get(&c.id).copied().unwrap_or(0) == 0 {
            return Ok(());
        }
        let recent = self
            .store
            .messages_before(ws, c.id, c.last_seq + 1, 50, false)
            .await?;
        // A later reply's own check sends the run.
        let newest_reply = recent
            .iter()
            .rev()
            .find(|x| x.sender_kind == SenderKind::Agent);
        if newest_reply.map(|x| x.id) != Some(m.id) {
            return Ok(());
        }
        let since = recent
            .iter()
            .rev()
            .find(|x| x.sender_kind == SenderKind::Visitor)
            .map(|x| x.seq)
            .unwrap_or(0);
        let replies: Vec<Message> = recent
            .into_iter()
            .filter(|x| x.seq > since && x.sender_kind == SenderKind::Agent)
            .collect();
        let inbox = self.store.get_inbox(ws, c.inbox_id).await?;
        let content = reply_email(self.email_locale(None), &inbox.name, &replies);
        self.queue_email(Outgoing {
            workspace_id: Some(ws),
            kind: "reply",
            to,
            content,
        })
        .await?;
        Ok(())
    }

    /// A conversation assigned to an agent with no console open (no socket
    /// seen lately): they hear it by e-mail.
    pub(crate) fn email_assignment(&self, c: &Conversation, actor: Option<kefu_domain::UserId>) {
        let Some(agent) = c.assignee_id else { return };
        if self.mailer.is_none() || !self.email.notify_assignments || actor == Some(agent) {
            return;
        }
        let (me, c) = (self.clone(), c.clone());
        tokio::spawn(async move {
            if let Err(e) = me.email_assignment_now(&c, agent).await {
                tracing::warn!(error = %e, "e-mailing an assignment failed");
            }
        });
    }

    async fn email_assignment_now(
        &self,
        c: &Conversation,
        agent: kefu_domain::UserId,
    ) -> ServiceResult<()> {
        if self.live.is_live(agent) {
            return Ok(());
        }
        let recently =
            self.clock.now() - Duration::seconds(2 * self.chat.sweep_interval_secs as i64 + 5);
        if self
            .store
            .last_seen(agent)
            .await?
            .is_some_and(|t| t > recently)
        {
            return Ok(());
        }
        let user = self.store.get_user(agent).await?;
        let contact = self.store.get_contact(c.workspace_id, c.contact_id).await?;
        let who = contact
            .name
            .clone()
            .or(contact.email.clone())
            .unwrap_or_default();
        let link = self.console_link(&format!("#/inbox/{}", c.id));
        let content = match self.email_locale(None) {
            Locale::Zh => render(
                format!(
                    "新会话已分配给您{}",
                    if who.is_empty() {
                        String::new()
                    } else {
                        format!("：{who}")
                    }
                ),
                &[
                    format!("{}，您好：", user.name),
                    "有一个会话分配给了您，访客正在等待回复。".into(),
                ],
                Some(("打开会话", &link)),
            ),
            Locale::En => render(
                format!(
                    "A conversation was assigned to you{}",
                    if who.is_empty() {
                        String::new()
                    } else {
                        format!(": {who}")
                    }
                ),
                &[
                    format!("Hello {},", user.name),
                    "A conversation was assigned to you, and the visitor is waiting for a reply."
                        .into(),
                ],
                Some(("Open the conversation", &link)),
            ),
        };
        self.queue_email(Outgoing {
            workspace_id: Some(c.workspace_id),
            kind: "assignment",
            to: user.email,
            content,
        })
        .await?;
        Ok(())
    }
}

fn sender_label(loc: Locale, m: &Message) -> String {
    match m.sender_kind {
        SenderKind::Visitor => match loc {
            Locale::Zh => "您".into(),
            Locale::En => "You".into(),
        },
        SenderKind::Agent => m.sender_name.clone().unwrap_or_else(|| match loc {
            Locale::Zh => "客服".into(),
            Locale::En => "Agent".into(),
        }),
        SenderKind::Bot => match loc {
            Locale::Zh => "智能助手".into(),
            Locale::En => "Assistant".into(),
        },
        SenderKind::System => String::new(),
    }
}

/// One message as a transcript line (files by name).
fn line(loc: Locale, m: &Message) -> String {
    let files: Vec<&str> = m
        .meta
        .as_ref()
        .map(|x| x.attachments.iter().map(|a| a.filename.as_str()).collect())
        .unwrap_or_default();
    let mut body = m.body.clone();
    for f in files {
        body.push_str(&format!("\n[{f}]"));
    }
    format!(
        "[{}] {}: {}",
        m.created_at.format("%Y-%m-%d %H:%M UTC"),
        sender_label(loc, m),
        body
    )
}

fn transcript(loc: Locale, inbox: &str, log: &[Message]) -> Rendered {
    let lines: Vec<String> = log
        .iter()
        .filter(|m| m.sender_kind != SenderKind::System)
        .map(|m| line(loc, m))
        .collect();
    let (subject, intro) = match loc {
        Locale::Zh => (
            format!("您与{inbox}的会话记录"),
            format!("以下是您与{inbox}的会话记录："),
        ),
        Locale::En => (
            format!("Your conversation with {inbox}"),
            format!("Here is your conversation with {inbox}:"),
        ),
    };
    let mut paragraphs = vec![intro];
    paragraphs.extend(lines);
    render(subject, &paragraphs, None)
}

fn reply_email(loc: Locale, inbox: &str, replies: &[Message]) -> Rendered {
    let (subject, intro, outro) = match loc {
        Locale::Zh => (
            format!("{inbox}回复了您的留言"),
            format!("{inbox}回复了您："),
            "如需继续沟通，请回到网站打开在线客服。".to_string(),
        ),
        Locale::En => (
            format!("{inbox} replied to your message"),
            format!("{inbox} replied:"),
            "To continue, open the chat on the website again.".to_string(),
        ),
    };
    let mut paragraphs = vec![intro];
    paragraphs.extend(replies.iter().map(|m| line(loc, m)));
    paragraphs.push(outro);
    render(subject, &paragraphs, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(30, 1), Duration::seconds(30));
        assert_eq!(backoff(30, 2), Duration::seconds(60));
        assert_eq!(backoff(30, 5), Duration::seconds(480));
        assert_eq!(backoff(30, 12), Duration::seconds(3600));
    }

    #[test]
    fn html_is_escaped() {
        let r = render(
            "s".into(),
            &["<script>alert(1)</script> & \"x\"".into()],
            Some(("Go", "https://x/?a=1&b=2")),
        );
        assert!(r
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
        assert!(r.html.contains("href=\"https://x/?a=1&amp;b=2\""));
        assert!(r.text.ends_with("Go: https://x/?a=1&b=2"));
    }
}
