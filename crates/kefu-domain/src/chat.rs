//! Live chat records: inboxes, contacts, conversations and their messages.
//!
//! A conversation is a log: every message gets `seq = last + 1`, gap-free
//! from 1, assigned in the transaction that stores it. Clients that miss an
//! event replay from the log (`seq > n`), so the database is the truth and
//! the event bus only a doorbell (DESIGN.md §3).

use crate::ids::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    pub id: InboxId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    /// `web` for now.
    pub channel: String,
    /// Public key the widget presents; identifies the inbox.
    pub widget_key: String,
    /// Secret for HMAC identity verification of the site's own users.
    pub identity_secret: String,
    /// Origins allowed to embed the widget; empty allows any.
    pub allowed_origins: Vec<String>,
    pub greeting: Option<String>,
    pub bot_enabled: bool,
    /// When agents answer; `None` means always.
    pub business_hours: Option<BusinessHours>,
    /// What the widget offers when no agent can answer.
    pub offline_mode: OfflineMode,
    /// What the inbox does by itself: auto-resolve, the away message, the
    /// pre-chat form.
    pub automation: InboxAutomation,
    pub created_at: DateTime<Utc>,
}

/// What an inbox does without anyone at the keyboard; each part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxAutomation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_resolve: Option<AutoResolve>,
    /// Sent to a visitor whose conversation reaches the queue outside
    /// business hours or with nobody online (with the next opening time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub away_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prechat_form: Option<PrechatForm>,
}

impl InboxAutomation {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Resolve a conversation that waits on the visitor (the last public
/// message is the agent's or the bot's) after this long without activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AutoResolve {
    /// Seconds without a visitor reply (the console offers minutes to days).
    pub after_secs: u32,
    /// Sent to the visitor when it fires; none: resolve quietly.
    #[serde(default)]
    pub message: Option<String>,
}

/// Questions the widget asks before the first message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrechatForm {
    /// `always`, or only when no agent can answer now (`offline`).
    pub when: PrechatWhen,
    /// 1 to 10 fields, in the order shown.
    pub fields: Vec<PrechatField>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrechatWhen {
    Always,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PrechatField {
    /// `name`, `email` or `phone` (the contact's own fields), or a custom
    /// attribute's key (letters, digits, `_`, `-`, `.`), which then needs a
    /// label.
    pub key: String,
    /// What the widget shows; the standard fields have translated labels.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub required: bool,
}

/// The contact's standard fields a pre-chat form may ask for.
pub const PRECHAT_STANDARD: [&str; 3] = ["name", "email", "phone"];

/// What the widget does outside business hours or with nobody online: keep
/// the visitor in the queue, or offer a form (an e-mail and a message, which
/// still arrive as a conversation: nothing is lost either way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OfflineMode {
    #[default]
    Queue,
    Form,
}

/// Opening hours in a time zone: `09:00`–`18:00` on the listed ISO weekdays
/// (1 = Monday … 7 = Sunday). A day may appear more than once (split shifts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BusinessHours {
    /// An IANA zone such as `Asia/Shanghai`.
    pub time_zone: String,
    pub intervals: Vec<OpenInterval>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpenInterval {
    /// ISO weekdays, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// `HH:MM`, local time.
    pub open: String,
    /// `HH:MM`, local time, after `open` (`24:00` for midnight).
    pub close: String,
}

impl BusinessHours {
    /// Checks the zone, the days and the times; the error names the problem.
    pub fn validate(&self) -> Result<(), &'static str> {
        self.time_zone
            .parse::<chrono_tz::Tz>()
            .map_err(|_| "unknown_time_zone")?;
        if self.intervals.len() > 50 {
            return Err("too_many_intervals");
        }
        for i in &self.intervals {
            if i.days.is_empty() || i.days.iter().any(|d| !(1..=7).contains(d)) {
                return Err("invalid_days");
            }
            let (Some(open), Some(close)) = (minutes(&i.open), minutes(&i.close)) else {
                return Err("invalid_time");
            };
            if open >= close {
                return Err("close_before_open");
            }
        }
        Ok(())
    }

    /// Whether `at` falls inside the hours (in the zone's local time).
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.open_at(at)
    }

    /// When the hours next open after `at` (`at` itself when open now);
    /// `None` when no interval is valid. Local times that a clock change
    /// skips take the instant after the gap.
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        use chrono::{Datelike, Duration, TimeZone};
        if self.open_at(at) {
            return Some(at);
        }
        let tz = self.time_zone.parse::<chrono_tz::Tz>().ok()?;
        let today = at.with_timezone(&tz).date_naive();
        (0..=7)
            .flat_map(|d| {
                let day = today + Duration::days(d);
                let iso = day.weekday().number_from_monday() as u8;
                self.intervals
                    .iter()
                    .filter(move |i| i.days.contains(&iso))
                    .filter_map(move |i| {
                        let m = minutes(&i.open)?;
                        let local = day.and_hms_opt(m / 60, m % 60, 0)?;
                        match tz.from_local_datetime(&local) {
                            chrono::LocalResult::Single(t) => Some(t),
                            chrono::LocalResult::Ambiguous(t, _) => Some(t),
                            // In a spring-forward gap: the first instant after it.
                            chrono::LocalResult::None => tz
                                .from_local_datetime(&(local + Duration::hours(1)))
                                .earliest(),
                        }
                    })
            })
            .map(|t| t.with_timezone(&Utc))
            .filter(|t| *t > at)
            .min()
    }

    fn open_at(&self, at: DateTime<Utc>) -> bool {
        use chrono::{Datelike, Timelike};
        let Ok(tz) = self.time_zone.parse::<chrono_tz::Tz>() else {
            return true;
        };
        let local = at.with_timezone(&tz);
        let day = local.weekday().number_from_monday() as u8;
        let now = local.hour() * 60 + local.minute();
        self.intervals.iter().any(|i| {
            i.days.contains(&day)
                && matches!((minutes(&i.open), minutes(&i.close)), (Some(o), Some(c)) if o <= now && now < c)
        })
    }
}

/// `HH:MM` → minutes after midnight; `24:00` allowed as an end.
fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub id: ContactId,
    pub workspace_id: WorkspaceId,
    /// Opaque id the visitor's browser keeps, so it finds its history again.
    pub visitor_id: String,
    /// The site's own user id, for visitors identified by HMAC.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Free-form key → value (string, number or boolean) pairs.
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set once merged into another contact: the row stays so that this
    /// browser's visitor id and the site's external id find the survivor.
    pub merged_into: Option<ContactId>,
    /// When the contact's personal data was erased (on request, under PIPL
    /// or GDPR).
    pub erased_at: Option<DateTime<Utc>>,
    /// The visitor's latest visit, as their widget reported it.
    pub last_visit: Option<Visit>,
    /// Set while the contact is blocked: their widget is refused.
    pub blocked_at: Option<DateTime<Utc>>,
}

/// An address range (CIDR, or one address) a workspace refuses visitors
/// from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedRange {
    pub id: BlockedRangeId,
    pub workspace_id: WorkspaceId,
    /// Normalised: `203.0.113.0/24`, `2001:db8::/32`.
    pub cidr: String,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A parsed CIDR range: `10.0.0.0/8`, `2001:db8::/32`, or one address
/// (`/32` or `/128`). IPv4-mapped IPv6 addresses match IPv4 ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: std::net::IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn parse(raw: &str) -> Option<Self> {
        use std::net::IpAddr;
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => p.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        if prefix > max {
            return None;
        }
        // The network address: host bits cleared.
        let net = match addr {
            IpAddr::V4(a) => {
                let bits = u32::from(a) & mask32(prefix);
                IpAddr::V4(bits.into())
            }
            IpAddr::V6(a) => {
                let bits = u128::from(a) & mask128(prefix);
                IpAddr::V6(bits.into())
            }
        };
        Some(Self { net, prefix })
    }

    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => u32::from(a) & mask32(self.prefix) == u32::from(n),
            (IpAddr::V6(n), IpAddr::V6(a)) => u128::from(a) & mask128(self.prefix) == u128::from(n),
            _ => false,
        }
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

/// Where the visitor is: what their widget reports with each session and
/// page view (visitor-supplied: context for agents, never trusted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Visit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// From the browser's User-Agent: `Chrome 120`, `WeChat 8.0`, ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    /// `Windows`, `macOS`, `iOS`, `Android`, `HarmonyOS`, `Linux`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The browser's language (`zh-CN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// An IANA zone (`Asia/Shanghai`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Pages viewed in this visit, oldest first (the newest few).
    #[serde(default)]
    pub pages: Vec<PageView>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PageView {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub at: DateTime<Utc>,
}

/// How contacts are listed: newest first, optionally matching a text.
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// A case-insensitive substring of the name, e-mail, phone or external id.
    pub query: Option<String>,
    /// Only contacts with this attribute set to this value (compared as text).
    pub attribute: Option<(String, String)>,
    /// Only contacts older than this one (the previous page's last).
    pub before: Option<(DateTime<Utc>, ContactId)>,
    pub limit: i64,
}

/// What erasing a contact removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Erased {
    /// Visitor messages whose bodies (and files) were removed.
    pub messages: u64,
    /// Conversations those messages were in (they stay, with their seqs).
    pub conversations: u64,
    /// The files the visitor uploaded: their records are gone, and the
    /// caller deletes their bytes from the blob store.
    pub files: Vec<crate::ids::AttachmentId>,
}

impl Contact {
    /// This contact after `other` is merged into it: its own name, e-mail,
    /// phone and external id win, the empty ones are filled from `other`,
    /// and `other`'s attribute keys it lacks are added.
    pub fn absorbing(mut self, other: &Contact, now: DateTime<Utc>) -> Contact {
        fn fill(mine: &mut Option<String>, theirs: &Option<String>) {
            if mine.as_deref().is_none_or(str::is_empty) {
                mine.clone_from(theirs);
            }
        }
        fill(&mut self.name, &other.name);
        fill(&mut self.email, &other.email);
        fill(&mut self.phone, &other.phone);
        fill(&mut self.external_id, &other.external_id);
        for (k, v) in &other.attributes {
            self.attributes
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        self.updated_at = now;
        self
    }

    /// This contact with `patch` applied: fields set or cleared, attributes
    /// merged key by key (`null` removes a key).
    pub fn patched(mut self, patch: &ContactPatch, now: DateTime<Utc>) -> Contact {
        if let Some(v) = &patch.name {
            self.name = v.clone();
        }
        if let Some(v) = &patch.email {
            self.email = v.clone();
        }
        if let Some(v) = &patch.phone {
            self.phone = v.clone();
        }
        if let Some(attrs) = &patch.attributes {
            for (k, v) in attrs {
                if v.is_null() {
                    self.attributes.remove(k);
                } else {
                    self.attributes.insert(k.clone(), v.clone());
                }
            }
        }
        self.updated_at = now;
        self
    }
}

/// A change to a contact's profile: `Some` sets a field (`Some(None)` clears
/// it); attributes merge key by key, a `null` value removing the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactPatch {
    pub name: Option<Option<String>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `bot → queued → assigned → resolved` (a visitor message reopens it);
/// `closed` is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Bot,
    Queued,
    Assigned,
    Resolved,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderKind {
    Visitor,
    Agent,
    Bot,
    System,
}

macro_rules! text_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
        }
        impl std::str::FromStr for $t {
            type Err = crate::role::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($s => Ok(Self::$v),)* _ => Err(crate::role::UnknownName) }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(ConversationStatus { Bot => "bot", Queued => "queued", Assigned => "assigned", Resolved => "resolved", Closed => "closed" });
text_enum!(SenderKind { Visitor => "visitor", Agent => "agent", Bot => "bot", System => "system" });

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub inbox_id: InboxId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    /// Higher is more urgent.
    pub priority: i32,
    pub assignee_id: Option<UserId>,
    /// The team whose queue it is in (`None`: the general queue).
    pub team_id: Option<TeamId>,
    /// Why it has its current assignee or queue (the latest assignment).
    pub assignment_reason: Option<crate::routing::AssignmentReason>,
    /// When it last entered the queue (the queue's FIFO order).
    pub queued_at: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    /// The seq of the newest message (0 before the first).
    pub last_seq: i64,
    /// The visitor's satisfaction rating, once given.
    pub rating: Option<crate::analytics::Rating>,
    /// Put aside until then: lists leave it out on request, a visitor's
    /// message or the time wakes it.
    pub snoozed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    /// Gap-free per conversation, from 1.
    pub seq: i64,
    pub sender_kind: SenderKind,
    /// The contact (visitor) or user (agent); none for bot and system.
    pub sender_id: Option<uuid::Uuid>,
    /// The agent's display name when they sent it (shown to the visitor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    pub body: String,
    /// Internal note: never shown to the visitor.
    pub private: bool,
    /// The sender's idempotency key: unique per sender.
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Structured extras of a bot reply (citations, choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<MessageMeta>,
}

impl Message {
    /// The stored form of `m`, appended at `seq`.
    pub fn stored(
        workspace_id: WorkspaceId,
        conversation_id: ConversationId,
        seq: i64,
        m: &NewMessage,
    ) -> Self {
        Message {
            id: m.id,
            workspace_id,
            conversation_id,
            seq,
            sender_kind: m.sender_kind,
            sender_id: m.sender_id,
            sender_name: m.sender_name.clone(),
            body: m.body.clone(),
            private: m.private,
            client_msg_id: m.client_msg_id.clone(),
            created_at: m.created_at,
            meta: m.meta.clone(),
        }
    }
}

/// What a bot reply carries besides its text: the articles it cites, the
/// choices it offers, and whether the visitor may rate it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<crate::kb::BotDecision>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub citations: Vec<crate::kb::ArticleRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suggestions: Vec<crate::kb::ArticleRef>,
    /// The visitor may answer "helpful?" for this reply.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub feedback: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_reason: Option<crate::kb::HandoffReason>,
    /// Files sent with the message (a copy of what they were at send time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<crate::attachments::AttachmentRef>,
    /// Sent by the inbox's automation, not by a person or the bot's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_reply: Option<AutoReply>,
    /// An away message's expected reply time: when business hours open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_open_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoReply {
    Away,
    AutoResolve,
}

/// Which conversations a listing returns, newest activity first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub assignee: Option<UserId>,
    pub team: Option<TeamId>,
    pub label: Option<String>,
    /// Text in a message, or in the contact's name, e-mail or phone.
    pub text: Option<String>,
    /// `Some(true)`: only snoozed ones; `Some(false)`: none of them.
    pub snoozed: Option<bool>,
    /// Only conversations this agent may see: assigned to them, or
    /// unassigned in the general queue or one of their teams' queues.
    pub visible_to_agent: Option<UserId>,
    /// Continue after this `(updated_at, id)` (the last item of a page).
    pub after: Option<(DateTime<Utc>, ConversationId)>,
    pub limit: i64,
}

/// A status change, applied only if the conversation is in one of `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: &'static [ConversationStatus],
    pub to: ConversationStatus,
    /// `Some(x)` sets the assignee to `x`; `None` leaves it.
    pub assignee: Option<Option<UserId>>,
    /// `Some(x)` moves it to team `x`'s queue; `None` leaves it.
    pub team: Option<Option<TeamId>>,
    /// Recorded in the assignment history when set.
    pub reason: Option<crate::routing::AssignmentReason>,
    /// Who made the change (`None`: the system).
    pub actor: Option<UserId>,
    /// Applies only if the assignee is still this (`Some(None)`: still
    /// unassigned) — optimistic concurrency for people assigning at once;
    /// otherwise `Conflict("assignment_conflict")`.
    pub expect_assignee: Option<Option<UserId>>,
    pub at: DateTime<Utc>,
}

impl Transition {
    pub fn new(
        from: &'static [ConversationStatus],
        to: ConversationStatus,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            from,
            to,
            assignee: None,
            team: None,
            reason: None,
            actor: None,
            expect_assignee: None,
            at,
        }
    }
}

/// Where a conversation is in its queue, as the visitor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStanding {
    /// 1 for the next to be served.
    pub position: i64,
    /// Conversations taken from this queue in the recent window (for the
    /// estimate), and the window's length.
    pub recent_assignments: i64,
    pub window_secs: i64,
}

/// A message to append; the store assigns `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: MessageId,
    pub sender_kind: SenderKind,
    pub sender_id: Option<uuid::Uuid>,
    /// The agent's display name when they sent it (shown to the visitor).
    pub sender_name: Option<String>,
    pub body: String,
    pub private: bool,
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub meta: Option<MessageMeta>,
}

/// What appending did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Appended {
    /// Stored now, with the next seq.
    New(Message),
    /// The sender already sent this `client_msg_id`: nothing was stored; here
    /// is the original (same id, same seq), to acknowledge again.
    Duplicate(Message),
}

impl Appended {
    pub fn message(&self) -> &Message {
        match self {
            Appended::New(m) | Appended::Duplicate(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in ["bot", "queued", "assigned", "resolved", "closed"] {
            assert_eq!(s.parse::<ConversationStatus>().unwrap().as_str(), s);
        }
        for s in ["visitor", "agent", "bot", "system"] {
            assert_eq!(s.parse::<SenderKind>().unwrap().as_str(), s);
            assert_eq!(
                serde_json::to_value(s.parse::<SenderKind>().unwrap()).unwrap(),
                s
            );
        }
        assert!("open".parse::<ConversationStatus>().is_err());
    }

    fn contact(name: Option<&str>, email: Option<&str>, attrs: serde_json::Value) -> Contact {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        Contact {
            id: ContactId::new(),
            workspace_id: WorkspaceId::new(),
            visitor_id: "v_x".into(),
            external_id: None,
            name: name.map(Into::into),
            email: email.map(Into::into),
            phone: None,
            attributes: attrs.as_object().unwrap().clone(),
            created_at: at,
            updated_at: at,
            merged_into: None,
            erased_at: None,
            last_visit: None,
            blocked_at: None,
        }
    }

    #[test]
    fn ip_ranges() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let r = IpRange::parse("203.0.113.77/24").unwrap();
        assert_eq!(r.to_string(), "203.0.113.0/24");
        assert!(r.contains(ip("203.0.113.1")));
        assert!(r.contains(ip("::ffff:203.0.113.200")), "IPv4-mapped");
        assert!(!r.contains(ip("203.0.114.1")));
        assert!(!r.contains(ip("2001:db8::1")));
        let one = IpRange::parse("198.51.100.7").unwrap();
        assert_eq!(one.to_string(), "198.51.100.7/32");
        assert!(one.contains(ip("198.51.100.7")) && !one.contains(ip("198.51.100.8")));
        let v6 = IpRange::parse("2001:db8:abcd::/48").unwrap();
        assert!(v6.contains(ip("2001:db8:abcd:12::1")));
        assert!(!v6.contains(ip("2001:db8:abce::1")));
        assert!(IpRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in [
            "",
            "10.0.0.0/33",
            "10.0.0/8",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/-1",
            "x/8",
            "10.0.0.0/8/8",
        ] {
            assert_eq!(IpRange::parse(bad), None, "{bad}");
        }
    }

    fn hours(zone: &str, days: &[u8], open: &str, close: &str) -> BusinessHours {
        BusinessHours {
            time_zone: zone.into(),
            intervals: vec![OpenInterval {
                days: days.to_vec(),
                open: open.into(),
                close: close.into(),
            }],
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn next_open_is_the_next_interval_start_in_the_zone() {
        // Monday to Friday, 09:00–18:00 in Shanghai (UTC+8).
        let h = hours("Asia/Shanghai", &[1, 2, 3, 4, 5], "09:00", "18:00");
        // Monday 20:00 local → Tuesday 09:00 local = 01:00 UTC.
        assert_eq!(
            h.next_open(utc("2026-12-07T12:00:00Z")),
            Some(utc("2026-12-08T01:00:00Z"))
        );
        // Monday 07:00 local → the same morning.
        assert_eq!(
            h.next_open(utc("2026-12-06T23:00:00Z")),
            Some(utc("2026-12-07T01:00:00Z"))
        );
        // Friday 19:00 local → Monday 09:00.
        assert_eq!(
            h.next_open(utc("2026-12-11T11:00:00Z")),
            Some(utc("2026-12-14T01:00:00Z"))
        );
        // Open now → now.
        let now = utc("2026-12-07T03:00:00Z");
        assert_eq!(h.next_open(now), Some(now));
        // No valid interval → none.
        assert_eq!(
            hours("Asia/Shanghai", &[], "09:00", "18:00").next_open(now),
            None
        );
    }

    #[test]
    fn next_open_across_a_clock_change() {
        // New York springs forward on 2026-03-08 at 02:00: an opening at
        // 02:30 that day does not exist and moves to 03:30 EDT (07:30 UTC).
        let h = hours("America/New_York", &[7], "02:30", "04:00");
        assert_eq!(
            h.next_open(utc("2026-03-08T00:00:00Z")),
            Some(utc("2026-03-08T07:30:00Z"))
        );
    }

    #[test]
    fn a_merge_keeps_the_survivors_fields_and_fills_the_gaps() {
        let into = contact(Some("王芳"), Some(""), serde_json::json!({"plan": "pro"}));
        let mut from = contact(
            Some("Fang"),
            Some("fang@example.com"),
            serde_json::json!({"plan": "free", "city": "杭州"}),
        );
        from.phone = Some("+86 138".into());
        from.external_id = Some("u-7".into());
        let now = into.created_at + chrono::Duration::seconds(5);
        let merged = into.clone().absorbing(&from, now);
        assert_eq!(merged.id, into.id);
        assert_eq!(merged.name.as_deref(), Some("王芳"));
        assert_eq!(merged.email.as_deref(), Some("fang@example.com"));
        assert_eq!(merged.phone.as_deref(), Some("+86 138"));
        assert_eq!(merged.external_id.as_deref(), Some("u-7"));
        assert_eq!(
            serde_json::Value::Object(merged.attributes),
            serde_json::json!({"plan": "pro", "city": "杭州"})
        );
        assert_eq!(merged.updated_at, now);
    }
}
