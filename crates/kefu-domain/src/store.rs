//! The storage ports. One trait per aggregate, bundled as [`Store`]; the
//! SQLite and PostgreSQL adapters implement every one, and a single contract
//! suite checks that both behave the same.
//!
//! Rules every implementation keeps:
//! - every workspace-scoped method filters by the given workspace, so a row
//!   of another workspace is reported as `NotFound`;
//! - a method that takes an [`AuditRecord`] appends it in the *same*
//!   transaction as the change, so a change is never without its audit entry
//!   and an audit entry never without its change.

use crate::analytics::{CannedResponse, ConversationFacts, Rating};
use crate::attachments::{Attachment, Uploader};
use crate::audit::{AuditEntry, AuditRecord};
use crate::chat::*;
use crate::error::StoreResult;
use crate::ids::*;
use crate::kb::*;
use crate::model::*;
use crate::role::Role;
use crate::routing::{AgentStatus, Assignment, Presence, Team};
use crate::sso::{OidcConfig, OidcLogin, SsoSignIn};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
pub trait WorkspaceStore: Send + Sync {
    /// Creates a workspace whose first owner is `owner` (a new account or an
    /// existing one), with the workspace's first audit entry.
    async fn create_workspace(
        &self,
        workspace: &Workspace,
        owner: &Invitee,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn get_workspace(&self, id: WorkspaceId) -> StoreResult<Workspace>;
    async fn list_workspace_ids(&self) -> StoreResult<Vec<WorkspaceId>>;
    async fn update_workspace(
        &self,
        id: WorkspaceId,
        patch: &WorkspacePatch,
        audit: AuditRecord,
    ) -> StoreResult<Workspace>;
}

#[async_trait]
pub trait MemberStore: Send + Sync {
    /// The user's role in the workspace, or `NotFound` when not a member.
    async fn member_role(&self, workspace: WorkspaceId, user: UserId) -> StoreResult<Role>;
    async fn list_members(&self, workspace: WorkspaceId) -> StoreResult<Vec<Member>>;
    async fn get_member(&self, workspace: WorkspaceId, user: UserId) -> StoreResult<Member>;
    async fn user_workspaces(&self, user: UserId) -> StoreResult<Vec<WorkspaceMembership>>;
    /// Changes a role. Refuses (`Rule("last_owner")`) to leave the workspace
    /// without an owner.
    async fn set_member_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: Role,
        audit: AuditRecord,
    ) -> StoreResult<Member>;
    /// Removes a member and revokes the API tokens they created in this
    /// workspace. Refuses to remove the last owner.
    async fn remove_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Stores a new, not yet confirmed TOTP secret (replacing a pending one).
    /// `Conflict("totp_already_enabled")` when a factor is already active.
    async fn set_pending_totp(&self, user: UserId, secret: &str) -> StoreResult<()>;
    /// Turns the pending secret on — only if it is still `secret`, the one
    /// the confirming code was checked against — and replaces the recovery
    /// codes.
    async fn enable_totp(
        &self,
        user: UserId,
        secret: &str,
        recovery_code_hashes: &[String],
    ) -> StoreResult<()>;
    /// Turns the second factor off and drops secret and recovery codes.
    async fn disable_totp(&self, user: UserId) -> StoreResult<()>;
    /// Records that the TOTP code of time step `step` was used; `false` when
    /// that step (or a later one) was already used — a replayed code.
    async fn consume_totp_step(&self, user: UserId, step: i64) -> StoreResult<bool>;
    /// Spends a recovery code; `false` when it is unknown or already spent.
    async fn use_recovery_code(
        &self,
        user: UserId,
        code_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    async fn count_recovery_codes(&self, user: UserId) -> StoreResult<i64>;
    /// Replaces the password hash, clears a required change, and ends every
    /// live session of the user but `keep`, in one transaction; returns the
    /// sessions ended.
    async fn set_password(
        &self,
        user: UserId,
        password_hash: &str,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// Requires a new password before the user signs in again and ends all
    /// their sessions, audited in the workspace that asked; returns the
    /// sessions ended.
    async fn require_password_change(
        &self,
        user: UserId,
        audit: AuditRecord,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// `Conflict("already_member")` when the e-mail already belongs to a member.
    async fn create_invitation(
        &self,
        invitation: &Invitation,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Pending (not accepted, not expired) invitations.
    async fn list_invitations(
        &self,
        workspace: WorkspaceId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Invitation>>;
    async fn find_invitation(&self, token_hash: &str) -> StoreResult<Option<Invitation>>;
    async fn revoke_invitation(
        &self,
        workspace: WorkspaceId,
        id: InvitationId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Marks the invitation accepted, creates the account when needed and adds
    /// the membership — all or nothing. `NotFound("invitation")` when the
    /// token was already used or has expired by `now`.
    async fn accept_invitation(
        &self,
        id: InvitationId,
        invitee: &Invitee,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<UserId>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, session: &Session, first: &NewRefreshToken) -> StoreResult<()>;
    async fn get_session(&self, id: SessionId) -> StoreResult<Session>;
    /// Spends the refresh token with this hash and, when it was live, stores
    /// `next` in the same session — atomically, so two concurrent refreshes
    /// with one token cannot both succeed.
    async fn rotate_refresh_token(
        &self,
        token_hash: &str,
        next: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> StoreResult<RefreshOutcome>;
    async fn revoke_session(&self, id: SessionId, now: DateTime<Utc>) -> StoreResult<()>;
    /// Ends every live session of the user but `keep` (sign out
    /// everywhere); returns how many.
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
}

#[async_trait]
pub trait ApiTokenStore: Send + Sync {
    async fn create_api_token(&self, token: &ApiToken, audit: AuditRecord) -> StoreResult<()>;
    async fn list_api_tokens(&self, workspace: WorkspaceId) -> StoreResult<Vec<ApiToken>>;
    async fn find_api_token(&self, token_hash: &str) -> StoreResult<Option<ApiToken>>;
    async fn revoke_api_token(
        &self,
        workspace: WorkspaceId,
        id: ApiTokenId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn touch_api_token(&self, id: ApiTokenId, now: DateTime<Utc>) -> StoreResult<()>;
}

/// A page of a workspace's audit log, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_before_seq: Option<i64>,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one entry on its own (for actions with no other change).
    async fn append_audit(&self, audit: AuditRecord) -> StoreResult<AuditEntry>;
    async fn list_audit(
        &self,
        workspace: WorkspaceId,
        before_seq: Option<i64>,
        limit: i64,
    ) -> StoreResult<AuditPage>;
    /// Every entry of the workspace in `seq` order, and the recorded head
    /// `(seq, hash)`.
    async fn audit_chain(
        &self,
        workspace: WorkspaceId,
    ) -> StoreResult<(Vec<AuditEntry>, i64, String)>;
    /// The chain key entries are hashed under, opened with the store's
    /// key-encryption key (available after [`Store::migrate`]).
    fn audit_chain_key(&self) -> StoreResult<crate::audit::ChainKey>;
    /// Every workspace's head `(id, seq, hash)`, for publishing.
    async fn audit_heads(&self) -> StoreResult<Vec<(WorkspaceId, i64, String)>>;
}

/// What [`SecretStore::reseal_secrets`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResealReport {
    /// Plaintext left by a version before sealing, now sealed.
    pub sealed_plaintext: u64,
    /// Sealed under a previous key, now under the primary one.
    pub rewrapped: u64,
    /// Already under the primary key.
    pub current: u64,
    /// Changed by someone else meanwhile (left for the next pass).
    pub skipped: u64,
}

/// Secrets kept sealed under the key-encryption key (kefu_domain::secrets).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Re-seals every stored secret under the keyring's primary key (TOTP
    /// secrets, identity secrets, sealed keys). With `legacy_only`, only
    /// plaintext left by older versions.
    async fn reseal_secrets(&self, legacy_only: bool) -> StoreResult<ResealReport>;
    /// How many stored secrets each key id seals (`plaintext` for those in
    /// clear).
    async fn secret_key_usage(&self) -> StoreResult<Vec<(String, u64)>>;
}

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// `Conflict("widget_key_taken")` if the key exists (never in practice:
    /// keys are random).
    async fn create_inbox(&self, inbox: &Inbox, audit: AuditRecord) -> StoreResult<()>;
    async fn get_inbox(&self, workspace: WorkspaceId, id: InboxId) -> StoreResult<Inbox>;
    async fn list_inboxes(&self, workspace: WorkspaceId) -> StoreResult<Vec<Inbox>>;
    /// The inbox a widget key opens, in whichever workspace it is.
    async fn find_inbox_by_widget_key(&self, widget_key: &str) -> StoreResult<Option<Inbox>>;
    /// Replaces the inbox's editable fields (name, origins, greeting, bot,
    /// hours, offline mode) with `inbox`'s.
    async fn update_inbox(&self, inbox: &Inbox, audit: AuditRecord) -> StoreResult<()>;
    /// `Conflict("inbox_has_conversations")` while conversations exist:
    /// nothing a visitor sent is deleted with an inbox.
    async fn delete_inbox(
        &self,
        workspace: WorkspaceId,
        id: InboxId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// The workspace's contact for a browser's visitor id, created on first
    /// sight (concurrent first sights yield one contact).
    async fn contact_for_visitor(
        &self,
        workspace: WorkspaceId,
        visitor_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Contact>;
    /// The contact of an identified visitor (the site's own user id),
    /// created on first sight; a contact found by external id keeps it, and
    /// the browser's `visitor_id` is recorded only for a new contact.
    async fn contact_for_identity(
        &self,
        workspace: WorkspaceId,
        external_id: &str,
        visitor_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Contact>;
    async fn get_contact(&self, workspace: WorkspaceId, id: ContactId) -> StoreResult<Contact>;
    async fn update_contact(
        &self,
        workspace: WorkspaceId,
        id: ContactId,
        patch: &ContactPatch,
        now: DateTime<Utc>,
    ) -> StoreResult<Contact>;
    /// The workspace's contacts, merged ones left out, newest first.
    async fn list_contacts(
        &self,
        workspace: WorkspaceId,
        filter: &ContactFilter,
    ) -> StoreResult<Vec<Contact>>;
    /// Merges `from` into `into` in one transaction: `from`'s conversations
    /// (and the visitor's read positions) move to `into`, `into`'s empty
    /// name, e-mail, phone and external id are filled from `from`, its
    /// attributes gain `from`'s missing keys, and `from` is marked merged
    /// (kept, so its visitor id and external id lead to `into`). Messages
    /// keep their sender. `NotFound` unless both are this workspace's and
    /// not merged already; `Conflict("same_contact")` when they are one.
    async fn merge_contacts(
        &self,
        workspace: WorkspaceId,
        into: ContactId,
        from: ContactId,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Contact>;
    /// Erases a contact's personal data in one transaction: name, e-mail,
    /// phone, external id and attributes; a fresh visitor id (the browser
    /// no longer finds this history); the bodies of the visitor's messages
    /// and the bot's copies of their questions. Conversations, their seqs
    /// and everyone else's messages stay. The audit entry is written by
    /// `audit` (its details get the counts). Erasing twice is harmless.
    async fn erase_contact(
        &self,
        workspace: WorkspaceId,
        id: ContactId,
        now: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Erased>;
    /// The contact's conversations in every inbox, newest first.
    async fn contact_history(
        &self,
        workspace: WorkspaceId,
        contact: ContactId,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>>;
    async fn create_conversation(&self, conversation: &Conversation) -> StoreResult<()>;
    /// Sets priority and/or labels.
    async fn update_conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
        priority: Option<i32>,
        labels: Option<&[String]>,
        at: DateTime<Utc>,
    ) -> StoreResult<Conversation>;
    /// Moves the reader's read position forward to `seq` (never back, never
    /// past the last message); returns the position now stored.
    async fn mark_read(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        reader: uuid::Uuid,
        seq: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<i64>;
    /// Messages after the reader's read position that others sent, per
    /// conversation (private notes count only when `include_private`).
    async fn unread_counts(
        &self,
        workspace: WorkspaceId,
        reader: uuid::Uuid,
        conversations: &[ConversationId],
        include_private: bool,
    ) -> StoreResult<std::collections::HashMap<ConversationId, i64>>;
    async fn get_conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<Conversation>;
    async fn list_conversations(
        &self,
        workspace: WorkspaceId,
        filter: &ConversationFilter,
    ) -> StoreResult<Vec<Conversation>>;
    /// Applies a status change atomically; `Conflict("invalid_transition")`
    /// when the conversation is not in one of `transition.from`.
    async fn transition_conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
        transition: &Transition,
    ) -> StoreResult<Conversation>;
    /// The contact's conversations in the inbox, newest first.
    async fn contact_conversations(
        &self,
        workspace: WorkspaceId,
        inbox: InboxId,
        contact: ContactId,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>>;
    /// The contact's newest conversation in the inbox that is not closed.
    async fn open_conversation(
        &self,
        workspace: WorkspaceId,
        inbox: InboxId,
        contact: ContactId,
    ) -> StoreResult<Option<Conversation>>;
    /// Appends like [`ConversationStore::append_message`], to a conversation
    /// that is not closed and (when `owner` is given) belongs to that
    /// contact in that inbox, and returns the conversation as the append
    /// left it — in one round trip where the backend allows. A conversation
    /// that is absent or someone else's is `NotFound("conversation")`; a
    /// closed one `Conflict("conversation_closed")`.
    async fn append_checked(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        owner: Option<(ContactId, InboxId)>,
        message: &NewMessage,
    ) -> StoreResult<(Appended, Conversation)>;
    /// Appends a message with the conversation's next seq, in one
    /// transaction; a `client_msg_id` the sender already used stores nothing
    /// and returns the original.
    async fn append_message(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        message: &NewMessage,
    ) -> StoreResult<Appended>;
    /// Messages with `seq > after_seq`, oldest first, at most `limit`;
    /// private notes only when `include_private`.
    async fn messages_after(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        after_seq: i64,
        limit: i64,
        include_private: bool,
    ) -> StoreResult<Vec<Message>>;
    /// The `limit` newest messages with `seq < before_seq`, oldest first
    /// (scrolling back through history); private notes only when
    /// `include_private`.
    async fn messages_before(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        before_seq: i64,
        limit: i64,
        include_private: bool,
    ) -> StoreResult<Vec<Message>>;
    /// The newest message of each of these conversations (any that has one).
    async fn last_messages(
        &self,
        workspace: WorkspaceId,
        conversations: &[ConversationId],
    ) -> StoreResult<Vec<Message>>;
    /// These contacts of the workspace (unknown ids are left out).
    async fn contacts_by_ids(
        &self,
        workspace: WorkspaceId,
        ids: &[ContactId],
    ) -> StoreResult<Vec<Contact>>;
}

/// Teams, presence and the queue (DESIGN.md §5).
#[async_trait]
pub trait RoutingStore: Send + Sync {
    /// `Conflict("team_name_taken")`; `Rule("not_a_member")` when a member
    /// id is not in the workspace.
    async fn create_team(&self, team: &Team, audit: AuditRecord) -> StoreResult<()>;
    async fn get_team(&self, workspace: WorkspaceId, id: TeamId) -> StoreResult<Team>;
    async fn list_teams(&self, workspace: WorkspaceId) -> StoreResult<Vec<Team>>;
    /// Replaces name and members with `team`'s (same errors as create).
    async fn update_team(&self, team: &Team, audit: AuditRecord) -> StoreResult<()>;
    /// Its queued conversations move to the general queue.
    async fn delete_team(
        &self,
        workspace: WorkspaceId,
        id: TeamId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn member_teams(&self, workspace: WorkspaceId, user: UserId) -> StoreResult<Vec<TeamId>>;
    /// Sets a member's status and (when given) capacity; a member never set
    /// before starts from `default_capacity`.
    async fn set_presence(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        status: AgentStatus,
        capacity: Option<i32>,
        default_capacity: i32,
        now: DateTime<Utc>,
    ) -> StoreResult<Presence>;
    /// Every member's presence (offline with `default_capacity` when never
    /// set), load and teams.
    async fn list_presence(
        &self,
        workspace: WorkspaceId,
        default_capacity: i32,
    ) -> StoreResult<Vec<Presence>>;
    /// Under the workspace's routing lock: reads the queue and the online
    /// agents, applies [`crate::routing::plan`] and records each assignment.
    /// Returns the conversations assigned. Safe to run on every replica at
    /// once: each conversation is assigned once.
    async fn route_queue(
        &self,
        workspace: WorkspaceId,
        now: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<Conversation>>;
    /// A queued conversation's place in its queue; `None` when not queued.
    async fn queue_standing(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
        window_secs: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<QueueStanding>>;
    /// The conversation's assignment history, oldest first.
    async fn assignments(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<Vec<Assignment>>;
    /// Workspaces with someone waiting (for the periodic router).
    async fn workspaces_with_queue(&self) -> StoreResult<Vec<WorkspaceId>>;
}

/// The knowledge base and the bot's records (DESIGN.md §4).
#[async_trait]
pub trait KbStore: Send + Sync {
    /// Stores a new article (its `version` is 1) and its first history
    /// entry. `Conflict("external_id_taken")`.
    async fn create_article(
        &self,
        article: &Article,
        author: Author,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// A live (not deleted) article.
    async fn get_article(&self, workspace: WorkspaceId, id: ArticleId) -> StoreResult<Article>;
    async fn find_article_by_external_id(
        &self,
        workspace: WorkspaceId,
        external_id: &str,
    ) -> StoreResult<Option<Article>>;
    /// Live articles in id order, after `filter.after`, at most `filter.limit`.
    async fn list_articles(
        &self,
        workspace: WorkspaceId,
        filter: &ArticleFilter,
    ) -> StoreResult<Vec<Article>>;
    /// Replaces the article's external id and content with `article`'s,
    /// whose `version` must be the stored version + 1, and records the
    /// version. `Conflict("version_conflict")` when someone changed it in
    /// between; `Conflict("external_id_taken")`.
    async fn update_article(
        &self,
        article: &Article,
        author: Author,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Soft delete: the article leaves listings and search; its history stays.
    async fn delete_article(
        &self,
        workspace: WorkspaceId,
        id: ArticleId,
        author: Author,
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<Article>;
    /// The article's history, oldest first (deleted articles included).
    async fn article_versions(
        &self,
        workspace: WorkspaceId,
        id: ArticleId,
    ) -> StoreResult<Vec<ArticleVersion>>;
    /// Articles with these ids as they are now, deleted ones included (for
    /// refreshing a search index).
    async fn articles_by_id(
        &self,
        workspace: WorkspaceId,
        ids: &[ArticleId],
    ) -> StoreResult<Vec<Article>>;
    /// Every live, published article of the workspace.
    async fn published_articles(&self, workspace: WorkspaceId) -> StoreResult<Vec<Article>>;
    /// The id and version of every live, published article (no content:
    /// for status checks).
    async fn published_versions(
        &self,
        workspace: WorkspaceId,
    ) -> StoreResult<Vec<(ArticleId, i64)>>;
    /// How many live, published articles have a vector for `model` at their
    /// current version.
    async fn embedded_count(&self, workspace: WorkspaceId, model: &str) -> StoreResult<usize>;
    /// Stores (or replaces) an article's vector for `model`.
    async fn put_embedding(
        &self,
        workspace: WorkspaceId,
        embedding: &ArticleEmbedding,
    ) -> StoreResult<()>;
    /// The workspace's vectors for `model` (any version: compare with the
    /// article's), of the articles in `only` when given.
    async fn embeddings(
        &self,
        workspace: WorkspaceId,
        model: &str,
        only: Option<&[ArticleId]>,
    ) -> StoreResult<Vec<ArticleEmbedding>>;
    /// Live published articles (of any workspace) with no vector for
    /// `model` at their current version, oldest change first.
    async fn articles_missing_embedding(
        &self,
        model: &str,
        limit: i64,
    ) -> StoreResult<Vec<Article>>;
    /// The workspace's synonym groups as last saved (empty when none were).
    async fn kb_synonyms(&self, workspace: WorkspaceId) -> StoreResult<Vec<Vec<String>>>;
    /// Replaces the workspace's synonym groups (validated by the caller).
    async fn put_kb_synonyms(
        &self,
        workspace: WorkspaceId,
        groups: &[Vec<String>],
        at: DateTime<Utc>,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn get_bot_settings(&self, workspace: WorkspaceId) -> StoreResult<Option<BotSettings>>;
    async fn put_bot_settings(
        &self,
        workspace: WorkspaceId,
        settings: &BotSettings,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn record_bot_turn(&self, turn: &BotTurn) -> StoreResult<()>;
    /// The conversation's bot turns, newest first.
    async fn bot_turns(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        limit: i64,
    ) -> StoreResult<Vec<BotTurn>>;
    /// Records the visitor's "helpful?" answer on the turn whose reply is
    /// `reply`; `NotFound("bot_turn")`.
    async fn set_bot_feedback(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        reply: MessageId,
        helpful: bool,
    ) -> StoreResult<BotTurn>;
}

/// A conversation as the workspace export reads it: the record, and the
/// times the analytics keep beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedConversation {
    pub conversation: Conversation,
    /// The first public message of an agent.
    pub first_response_at: Option<DateTime<Utc>>,
    /// The latest resolution (`None` while open, and after a reopen).
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Reading a whole workspace out, page by page, for the owner's export.
/// Every method is one keyset range read in id order (ids are UUIDv7, so
/// that is creation order) over an index, so an export of any size holds
/// one page in memory and no transaction stays open between pages. Rows
/// created after the cursor has passed them are not seen; none is seen
/// twice.
#[async_trait]
pub trait ExportStore: Send + Sync {
    /// The workspace's contacts with an id above `after` (all when `None`),
    /// in id order, at most `limit`.
    async fn export_contacts(
        &self,
        workspace: WorkspaceId,
        after: Option<ContactId>,
        limit: i64,
    ) -> StoreResult<Vec<Contact>>;
    /// The workspace's conversations with an id above `after`, in id
    /// order, at most `limit`.
    async fn export_conversations(
        &self,
        workspace: WorkspaceId,
        after: Option<ConversationId>,
        limit: i64,
    ) -> StoreResult<Vec<ExportedConversation>>;
    /// The messages of these conversations (of this workspace; others'
    /// ids find nothing), private notes included, in (conversation id,
    /// seq) order, after the `(conversation, seq)` cursor, at most `limit`.
    /// A read may look at every message of the listed conversations, so
    /// callers list a bounded batch; one long conversation is read with
    /// [`ConversationStore::messages_after`], a range of its own.
    async fn export_messages(
        &self,
        workspace: WorkspaceId,
        conversations: &[ConversationId],
        after: Option<(ConversationId, i64)>,
        limit: i64,
    ) -> StoreResult<Vec<Message>>;
}

/// Cluster-wide figures for the operations gauges (`kefu_queue_length`, …),
/// across every workspace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpsGauges {
    /// Queued conversations without a team, and with one.
    pub queued_general: i64,
    pub queued_team: i64,
    /// Agents (distinct users) whose status is online.
    pub agents_online: i64,
    /// Every inbox: its business hours, and whether its workspace has an
    /// agent online.
    pub inboxes: Vec<(Option<crate::chat::BusinessHours>, bool)>,
    /// Published articles without a current vector of the model (0 when
    /// no model is given).
    pub embeddings_pending: i64,
}

/// A connection pool's occupancy (SQLite: reader and writer pools summed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections, busy or idle.
    pub open: u32,
    pub idle: u32,
    /// The most it may open.
    pub max: u32,
}

impl PoolStats {
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// Health as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreHealth {
    pub reachable: bool,
    pub migrations_applied: bool,
    /// The audit chain key is open (the key-encryption key fits).
    pub keys_ready: bool,
    pub detail: Option<String>,
}

#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    /// The operations gauges now (a few aggregate reads; called on a timer).
    async fn ops_gauges(&self, embedding_model: Option<&str>) -> StoreResult<OpsGauges>;
    /// When the conversation went to people (`human_at`) and when an agent
    /// first answered there (`first_response_at`); `NotFound` if none.
    async fn response_times(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)>;
    /// Stores the visitor's rating of their conversation, replacing an
    /// earlier one. `NotFound` unless the conversation is this contact's;
    /// `Conflict("conversation_not_resolved")` unless it is resolved or
    /// closed.
    async fn rate_conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
        contact: ContactId,
        rating: &Rating,
    ) -> StoreResult<Conversation>;
    /// The facts of the conversations created in `[from, to)`, with what
    /// their bot answers led to ([`crate::analytics::BotAnswerFacts`]; the
    /// contact's later conversations are looked for beyond `to`).
    async fn conversation_facts(
        &self,
        workspace: WorkspaceId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ConversationFacts>>;
}

#[async_trait]
pub trait CannedResponseStore: Send + Sync {
    /// Every canned response of the workspace, by shortcut.
    async fn canned_responses(&self, workspace: WorkspaceId) -> StoreResult<Vec<CannedResponse>>;
    async fn canned_response(
        &self,
        workspace: WorkspaceId,
        id: CannedResponseId,
    ) -> StoreResult<CannedResponse>;
    /// `Conflict("shortcut_taken")` when the shortcut is in use.
    async fn create_canned_response(&self, canned: &CannedResponse) -> StoreResult<()>;
    /// Replaces shortcut, title, body and `updated_at`; `NotFound`,
    /// `Conflict("shortcut_taken")`.
    async fn update_canned_response(&self, canned: &CannedResponse) -> StoreResult<()>;
    async fn delete_canned_response(
        &self,
        workspace: WorkspaceId,
        id: CannedResponseId,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait SsoStore: Send + Sync {
    async fn oidc_config(&self, workspace: WorkspaceId) -> StoreResult<Option<OidcConfig>>;
    /// Creates or replaces the workspace's provider, with its audit entry.
    async fn put_oidc_config(&self, config: &OidcConfig, audit: AuditRecord) -> StoreResult<()>;
    /// `NotFound("oidc_config")` when there is none.
    async fn delete_oidc_config(
        &self,
        workspace: WorkspaceId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Stores a sign-in under way (and drops those that expired).
    async fn create_oidc_login(&self, login: &OidcLogin) -> StoreResult<()>;
    /// Spends the sign-in with this state digest: returns it once, and only
    /// while it has not expired by `now`; never again.
    async fn take_oidc_login(
        &self,
        state_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<OidcLogin>>;
    /// The user the workspace's provider linked to (issuer, subject).
    async fn find_oidc_identity(
        &self,
        workspace: WorkspaceId,
        issuer: &str,
        subject: &str,
    ) -> StoreResult<Option<UserId>>;
    /// Writes a successful sign-in (see [`SsoSignIn`]) in one transaction.
    /// `Conflict("email_taken")` when a new account's e-mail exists.
    async fn record_sso_sign_in(&self, sign_in: &SsoSignIn) -> StoreResult<()>;
}

/// Uploaded files' records (the bytes are in a blob store).
#[async_trait]
pub trait AttachmentStore: Send + Sync {
    async fn create_attachment(&self, attachment: &Attachment) -> StoreResult<()>;
    /// `NotFound("attachment")` unless it is this workspace's.
    async fn get_attachment(
        &self,
        workspace: WorkspaceId,
        id: AttachmentId,
    ) -> StoreResult<Attachment>;
    /// Attaches the uploader's files to a message of `conversation`, all or
    /// none: `NotFound("attachment")` if any id is missing, someone else's,
    /// or already attached elsewhere. Attaching again to the same
    /// conversation (a resent message) succeeds. In the order of `ids`.
    async fn claim_attachments(
        &self,
        workspace: WorkspaceId,
        ids: &[AttachmentId],
        uploader: Uploader,
        conversation: ConversationId,
        message: MessageId,
    ) -> StoreResult<Vec<Attachment>>;
    /// Bytes the workspace's attachments take (its storage quota's use).
    async fn attachment_bytes(&self, workspace: WorkspaceId) -> StoreResult<i64>;
    /// Deletes the records of uploads never sent, made before `before`
    /// (any workspace); returns what went, so the files can follow.
    async fn take_orphan_attachments(
        &self,
        before: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<(WorkspaceId, AttachmentId)>>;
}

/// What runs by itself: auto-resolve, snoozes waking, the presence
/// timeout (the sweeper's queries, across workspaces), and the visitor's
/// visit.
#[async_trait]
pub trait AutomationStore: Send + Sync {
    /// Every inbox with automation settings, in any workspace.
    async fn automated_inboxes(&self) -> StoreResult<Vec<Inbox>>;
    /// The inbox's assigned conversations waiting on the visitor since
    /// before `cutoff`: not snoozed, no activity since `cutoff`, and the
    /// last public message an agent's or the bot's.
    async fn stale_conversations(
        &self,
        workspace: WorkspaceId,
        inbox: InboxId,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<ConversationId>>;
    /// Snoozes an assigned conversation until `Some(t)`, or wakes any
    /// (`None`); snoozing another status is `Conflict("invalid_transition")`.
    async fn snooze_conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
        until: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> StoreResult<Conversation>;
    /// Wakes conversations whose snooze ended by `at` (any workspace).
    async fn wake_snoozed(&self, at: DateTime<Utc>, limit: i64) -> StoreResult<Vec<Conversation>>;
    /// These users had a live socket at `at` (never moves the time back).
    async fn touch_presence(&self, users: &[UserId], at: DateTime<Utc>) -> StoreResult<()>;
    /// Gives the user back the statuses the presence timeout took; returns
    /// the workspaces where it did.
    async fn restore_presence(
        &self,
        user: UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<WorkspaceId>>;
    /// Agents online or away whose sockets were last seen before `cutoff`,
    /// and whose status is older than that, go offline; returns how many.
    async fn expire_presence(&self, cutoff: DateTime<Utc>, at: DateTime<Utc>) -> StoreResult<u64>;
    /// Blocks (`Some(at)`) or unblocks (`None`) a contact, with its audit
    /// entry.
    async fn set_contact_blocked(
        &self,
        workspace: WorkspaceId,
        contact: ContactId,
        at: Option<DateTime<Utc>>,
        audit: AuditRecord,
    ) -> StoreResult<Contact>;
    async fn blocked_ranges(&self, workspace: WorkspaceId) -> StoreResult<Vec<BlockedRange>>;
    /// `Conflict("range_exists")` for a range already listed.
    async fn add_blocked_range(&self, range: &BlockedRange, audit: AuditRecord) -> StoreResult<()>;
    async fn remove_blocked_range(
        &self,
        workspace: WorkspaceId,
        id: BlockedRangeId,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// When any of the user's sockets was last seen (any workspace).
    async fn last_seen(&self, user: UserId) -> StoreResult<Option<DateTime<Utc>>>;
    /// Records the visitor's latest visit on their contact.
    async fn record_visit(
        &self,
        workspace: WorkspaceId,
        contact: ContactId,
        visit: &Visit,
    ) -> StoreResult<()>;
}

/// The e-mail outbox.
#[async_trait]
pub trait EmailStore: Send + Sync {
    async fn enqueue_email(&self, email: &crate::email::OutboxEmail) -> StoreResult<()>;
    /// Takes up to `limit` pending e-mails due by `now` for this sender:
    /// each is leased until `lease_until` (another replica skips it until
    /// then, or for good once it is marked).
    async fn claim_emails(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<crate::email::OutboxEmail>>;
    /// Sent: the bodies are emptied (they may hold a one-time link).
    async fn email_sent(&self, id: EmailId, at: DateTime<Utc>) -> StoreResult<()>;
    /// An attempt failed: the next one at `retry_at`, or none (`failed`).
    async fn email_failed(
        &self,
        id: EmailId,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> StoreResult<()>;
    /// The workspace's e-mails, newest first.
    async fn list_emails(
        &self,
        workspace: WorkspaceId,
        limit: i64,
    ) -> StoreResult<Vec<crate::email::OutboxEmail>>;
    /// A failed e-mail of the workspace back to pending, due `at`.
    async fn retry_email(
        &self,
        workspace: WorkspaceId,
        id: EmailId,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait Store:
    WorkspaceStore
    + MemberStore
    + UserStore
    + InvitationStore
    + SessionStore
    + ApiTokenStore
    + AuditStore
    + InboxStore
    + ConversationStore
    + RoutingStore
    + KbStore
    + AnalyticsStore
    + CannedResponseStore
    + ExportStore
    + SecretStore
    + SsoStore
    + AttachmentStore
    + AutomationStore
    + EmailStore
{
    /// `sqlite` or `postgres`.
    fn backend_name(&self) -> &'static str;
    async fn health(&self) -> StoreHealth;
    /// The connection pool now (for metrics).
    fn pool_stats(&self) -> PoolStats;
    /// Applies pending migrations; returns how many ran. Nothing sealed is
    /// read or written: `kefu migrate` runs it without the key-encryption key.
    async fn migrate_schema(&self) -> StoreResult<usize>;
    /// [`Store::migrate_schema`], then [`Store::prepare`].
    async fn migrate(&self) -> StoreResult<usize> {
        let applied = self.migrate_schema().await?;
        self.prepare().await?;
        Ok(applied)
    }
    /// Loads the audit chain key (opened with the key-encryption key),
    /// creating it, and re-sealing the chains written before it existed,
    /// on first use. Nothing can be audited before.
    async fn prepare(&self) -> StoreResult<()>;
}
