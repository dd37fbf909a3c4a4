//! Response shapes shared by several resources.

use chrono::{DateTime, Utc};
use kefu_domain::analytics::Rating;
use kefu_domain::chat::{Contact, Conversation, ConversationStatus, Message, SenderKind};
use kefu_domain::model::{Member, User, WorkspaceMembership};
use kefu_domain::routing::{AgentStatus, Assignment, AssignmentReason, Presence, Team};
use kefu_domain::ConversationId;
use kefu_domain::Role;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub totp_enabled: bool,
}

impl From<&User> for UserDto {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.0,
            email: u.email.clone(),
            name: u.name.clone(),
            totp_enabled: u.totp_enabled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceRoleDto {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
}

impl From<&WorkspaceMembership> for WorkspaceRoleDto {
    fn from(m: &WorkspaceMembership) -> Self {
        Self {
            id: m.workspace.id.0,
            name: m.workspace.name.clone(),
            role: m.role,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// `active` (removed members are not listed).
    pub status: &'static str,
    pub joined_at: DateTime<Utc>,
}

impl From<Member> for MemberDto {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id.0,
            email: m.email,
            name: m.name,
            role: m.role,
            status: "active",
            joined_at: m.joined_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationDto {
    pub id: Uuid,
    pub inbox_id: Uuid,
    pub contact_id: Uuid,
    pub status: ConversationStatus,
    /// Higher is more urgent (the queue serves higher first).
    pub priority: i32,
    pub assignee_id: Option<Uuid>,
    /// The team whose queue it is in; null: the general queue.
    pub team_id: Option<Uuid>,
    /// Why it has its current assignee or queue.
    pub assignment_reason: Option<AssignmentReason>,
    /// When it last entered the queue.
    pub queued_at: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    /// The seq of the newest message; replay with `after_seq`.
    pub last_seq: i64,
    /// Messages from others after the caller's read position (in lists and
    /// detail; absent in socket events, which are not per reader).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    /// The visitor's satisfaction rating, once given.
    pub rating: Option<Rating>,
    /// Snoozed until then (`POST …/snooze`); null when awake.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Lists only: who the visitor is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<ContactSummaryDto>,
    /// Lists only: the newest message (private notes included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_message: Option<Box<MessageDto>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A contact's name and ways to reach them, as a list row shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactSummaryDto {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl From<&Contact> for ContactSummaryDto {
    fn from(c: &Contact) -> Self {
        Self {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
        }
    }
}

impl From<Conversation> for ConversationDto {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.0,
            inbox_id: c.inbox_id.0,
            contact_id: c.contact_id.0,
            status: c.status,
            priority: c.priority,
            assignee_id: c.assignee_id.map(|u| u.0),
            team_id: c.team_id.map(|t| t.0),
            assignment_reason: c.assignment_reason,
            queued_at: c.queued_at,
            labels: c.labels,
            last_seq: c.last_seq,
            unread_count: None,
            rating: c.rating,
            snoozed_until: c.snoozed_until,
            contact: None,
            last_message: None,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl ConversationDto {
    pub fn with_unread(mut self, unread: &std::collections::HashMap<ConversationId, i64>) -> Self {
        self.unread_count = Some(unread.get(&ConversationId(self.id)).copied().unwrap_or(0));
        self
    }
}

/// A conversation as its visitor sees it: no labels, teams or internal
/// reasons.
#[derive(Debug, Serialize, ToSchema)]
pub struct VisitorConversationDto {
    pub id: Uuid,
    pub status: ConversationStatus,
    /// The agent answering, once assigned.
    pub assignee_id: Option<Uuid>,
    pub last_seq: i64,
    /// Messages from others after the visitor's read position (lists only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    /// While queued: the place in the queue and the expected wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueDto>,
    /// The visitor's satisfaction rating, once given.
    pub rating: Option<Rating>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Conversation> for VisitorConversationDto {
    fn from(c: Conversation) -> Self {
        Self {
            id: c.id.0,
            status: c.status,
            assignee_id: c.assignee_id.map(|u| u.0),
            last_seq: c.last_seq,
            unread_count: None,
            queue: None,
            rating: c.rating,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactDto {
    pub id: Uuid,
    pub visitor_id: String,
    /// The site's own user id, for visitors identified by HMAC.
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when this contact was merged into another (the survivor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<Uuid>,
    /// Set when the contact's personal data was erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub erased_at: Option<DateTime<Utc>>,
    /// The visitor's latest visit as their widget reported it: page,
    /// referrer, browser, OS, locale, time zone and the pages viewed.
    pub last_visit: Option<kefu_domain::chat::Visit>,
    /// Set while the contact is blocked (`POST …/block`).
    pub blocked_at: Option<DateTime<Utc>>,
}

impl From<Contact> for ContactDto {
    fn from(c: Contact) -> Self {
        Self {
            id: c.id.0,
            visitor_id: c.visitor_id,
            external_id: c.external_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            attributes: c.attributes,
            created_at: c.created_at,
            updated_at: c.updated_at,
            merged_into: c.merged_into.map(|m| m.0),
            erased_at: c.erased_at,
            last_visit: c.last_visit,
            blocked_at: c.blocked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamDto {
    pub id: Uuid,
    pub name: String,
    pub member_ids: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<Team> for TeamDto {
    fn from(t: Team) -> Self {
        Self {
            id: t.id.0,
            name: t.name,
            member_ids: t.members.into_iter().map(|u| u.0).collect(),
            created_at: t.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentDto {
    pub user_id: Uuid,
    pub status: AgentStatus,
    /// Most conversations assigned at once by the router.
    pub capacity: i32,
    /// Conversations assigned now.
    pub load: i32,
    pub team_ids: Vec<Uuid>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<Presence> for AgentDto {
    fn from(p: Presence) -> Self {
        Self {
            user_id: p.user_id.0,
            status: p.status,
            capacity: p.capacity,
            load: p.load,
            team_ids: p.teams.into_iter().map(|t| t.0).collect(),
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentDto {
    pub assignee_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub reason: AssignmentReason,
    /// Who did it; null for the automatic router.
    pub actor_id: Option<Uuid>,
    /// How long it had waited in the queue, when it left the queue.
    pub waited_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<Assignment> for AssignmentDto {
    fn from(a: Assignment) -> Self {
        Self {
            assignee_id: a.assignee_id.map(|u| u.0),
            team_id: a.team_id.map(|t| t.0),
            reason: a.reason,
            actor_id: a.actor_id.map(|u| u.0),
            waited_ms: a.waited_ms,
            created_at: a.created_at,
        }
    }
}

/// A visitor's place in the queue.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct QueueDto {
    /// 1 for the next to be served.
    pub position: i64,
    /// From the queue's recent pace; null when there is no recent history.
    pub estimated_wait_secs: Option<i64>,
}

impl From<kefu_service::routing::QueueInfo> for QueueDto {
    fn from(q: kefu_service::routing::QueueInfo) -> Self {
        Self {
            position: q.position,
            estimated_wait_secs: q.estimated_wait_secs,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SenderDto {
    #[serde(rename = "type")]
    pub kind: SenderKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// An agent's display name when they sent the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A message as the socket's `message.created` carries it, plus its place
/// in the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageDto {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// Gap-free per conversation, from 1.
    pub seq: i64,
    pub sender: SenderDto,
    pub body: String,
    /// An internal note, never shown to the visitor.
    pub private: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Bot replies: `decision`, `citations` (the articles an answer comes
    /// from), `suggestions` (choices offered), `feedback` (the visitor may
    /// rate it "helpful?"); the inbox's automatic replies: `auto_reply`
    /// (`away`, `auto_resolve`) and `next_open_at` (when an away message's
    /// team is back).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub meta: Option<kefu_domain::chat::MessageMeta>,
}

impl From<Message> for MessageDto {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.0,
            conversation_id: m.conversation_id.0,
            seq: m.seq,
            sender: SenderDto {
                kind: m.sender_kind,
                id: m.sender_id,
                name: m.sender_name,
            },
            body: m.body,
            private: m.private,
            client_msg_id: m.client_msg_id,
            created_at: m.created_at,
            meta: m.meta,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    /// Oldest first; ask again with `after_seq` = the last `seq` for more.
    pub items: Vec<MessageDto>,
}

impl From<Vec<Message>> for MessagePage {
    fn from(messages: Vec<Message>) -> Self {
        Self {
            items: messages.into_iter().map(MessageDto::from).collect(),
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct AfterSeqQuery {
    /// Only messages with a greater seq (default 0: from the start).
    pub after_seq: Option<i64>,
    /// Instead: the newest messages with a smaller seq (scrolling back
    /// through history), still oldest first. Not with `after_seq`.
    pub before_seq: Option<i64>,
    /// 1..=200, default 50.
    pub limit: Option<i64>,
}

impl AfterSeqQuery {
    /// The page asked for; 422 when both ends are given.
    pub fn window(&self) -> Result<kefu_service::chat::Window, crate::error::ApiError> {
        use kefu_service::chat::Window;
        match (self.after_seq, self.before_seq) {
            (Some(_), Some(_)) => Err(kefu_service::error::ServiceError::invalid(
                "before_seq",
                "not_with_after_seq",
            )
            .into()),
            (_, Some(before)) => Ok(Window::Before(before)),
            (after, None) => Ok(Window::After(after.unwrap_or(0))),
        }
    }
}

/// For PATCH bodies: an absent field is `None`, `null` is `Some(None)`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(d).map(Some)
}
