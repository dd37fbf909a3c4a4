//! What a backup holds: every table Kefu keeps, in foreign-key order (a
//! restore inserts in this order), with each column's engine-neutral type.
//!
//! The catalog is the archive's schema. A test compares it with both
//! engines' live schemas after migrating, so a migration that adds a table
//! or a column fails until it is listed here and [`SCHEMA_VERSION`] moves.
//! `_sqlx_migrations` is not data: a restore target runs its own migrations.

use super::{Column, LType, Table};

/// The archive's schema version: bump it whenever [`TABLES`] changes. An
/// archive with a newer version than this binary's is refused; an older one
/// restores (its columns must be a subset of today's, the rest take their
/// defaults).
///
/// 2: `users.password_change_required`.
/// 3: `sealed_keys` (the audit chain's key, sealed); audit chains keyed
///    (HMAC-SHA256); TOTP and identity secrets sealed under the KEK.
/// 4: single sign-on: `oidc_configs`, `oidc_logins`, `oidc_identities`,
///    `sessions.sso_workspace_id` and `sessions.sso_mfa`.
/// 5: `kb_synonyms` (a workspace's synonym groups).
/// 6: `contacts.merged_into` and `contacts.erased_at`.
/// 7: `attachments` (the records; the files themselves are in the blob
///    store, which a backup does not hold: docs/operations/backup.md).
/// 8: `inboxes.automation`, `conversations.snoozed_until`,
///    `contacts.last_visit`, `agent_presence.last_seen_at` and
///    `agent_presence.timed_out_from`; `contacts.blocked_at` and
///    `blocked_ranges`; `email_outbox`.
pub const SCHEMA_VERSION: u32 = 8;

macro_rules! table {
    ($name:literal, [$(($col:ident, $ty:ident)),* $(,)?]) => {
        Table {
            name: $name,
            columns: &[$(Column { name: stringify!($col), ty: LType::$ty }),*],
        }
    };
}

pub static TABLES: &[Table] = &[
    table!(
        "sealed_keys",
        [(name, Text), (sealed, Text), (created_at, Time)]
    ),
    table!(
        "workspaces",
        [
            (id, Uuid),
            (name, Text),
            (require_admin_totp, Bool),
            (audit_head_seq, I64),
            (audit_head_hash, Text),
            (created_at, Time)
        ]
    ),
    table!(
        "users",
        [
            (id, Uuid),
            (email, Text),
            (name, Text),
            (password_hash, Text),
            (totp_secret, Text),
            (totp_enabled, Bool),
            (totp_last_step, I64),
            (created_at, Time),
            (password_change_required, Bool)
        ]
    ),
    table!(
        "memberships",
        [
            (workspace_id, Uuid),
            (user_id, Uuid),
            (role, Text),
            (created_at, Time)
        ]
    ),
    table!(
        "recovery_codes",
        [(user_id, Uuid), (code_hash, Text), (used_at, Time)]
    ),
    table!(
        "invitations",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (email, Text),
            (role, Text),
            (token_hash, Text),
            (invited_by, Uuid),
            (created_at, Time),
            (expires_at, Time),
            (accepted_at, Time),
            (revoked_at, Time)
        ]
    ),
    table!(
        "sessions",
        [
            (id, Uuid),
            (user_id, Uuid),
            (created_at, Time),
            (expires_at, Time),
            (revoked_at, Time),
            (ip, Text),
            (user_agent, Text),
            (sso_workspace_id, Uuid),
            (sso_mfa, Bool)
        ]
    ),
    table!(
        "refresh_tokens",
        [
            (id, Uuid),
            (session_id, Uuid),
            (token_hash, Text),
            (created_at, Time),
            (expires_at, Time),
            (used_at, Time)
        ]
    ),
    table!(
        "api_tokens",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (name, Text),
            (token_hash, Text),
            (prefix, Text),
            (scopes, Text),
            (created_by, Uuid),
            (created_at, Time),
            (expires_at, Time),
            (last_used_at, Time),
            (revoked_at, Time)
        ]
    ),
    table!(
        "audit_log",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (seq, I64),
            (actor_kind, Text),
            (actor_id, Uuid),
            (action, Text),
            (target_type, Text),
            (target_id, Text),
            (ip, Text),
            (details, Text),
            (created_at, Time),
            (prev_hash, Text),
            (hash, Text)
        ]
    ),
    table!(
        "inboxes",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (name, Text),
            (channel, Text),
            (widget_key, Text),
            (identity_secret, Text),
            (allowed_origins, Text),
            (greeting, Text),
            (bot_enabled, Bool),
            (created_at, Time),
            (business_hours, Text),
            (offline_mode, Text),
            (automation, Text)
        ]
    ),
    table!(
        "contacts",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (visitor_id, Text),
            (created_at, Time),
            (external_id, Text),
            (name, Text),
            (email, Text),
            (phone, Text),
            (attributes, Text),
            (updated_at, Time),
            (merged_into, Uuid),
            (erased_at, Time),
            (last_visit, Text),
            (blocked_at, Time)
        ]
    ),
    table!(
        "email_outbox",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (kind, Text),
            (to_addr, Text),
            (subject, Text),
            (text_body, Text),
            (html_body, Text),
            (status, Text),
            (attempts, I32),
            (next_attempt_at, Time),
            (last_error, Text),
            (created_at, Time),
            (sent_at, Time)
        ]
    ),
    table!(
        "blocked_ranges",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (cidr, Text),
            (note, Text),
            (created_at, Time)
        ]
    ),
    table!(
        "teams",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (name, Text),
            (created_at, Time)
        ]
    ),
    table!(
        "team_members",
        [(team_id, Uuid), (workspace_id, Uuid), (user_id, Uuid)]
    ),
    table!(
        "agent_presence",
        [
            (workspace_id, Uuid),
            (user_id, Uuid),
            (status, Text),
            (capacity, I32),
            (updated_at, Time),
            (last_seen_at, Time),
            (timed_out_from, Text)
        ]
    ),
    table!(
        "conversations",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (inbox_id, Uuid),
            (contact_id, Uuid),
            (status, Text),
            (priority, I32),
            (assignee_id, Uuid),
            (last_seq, I64),
            (created_at, Time),
            (updated_at, Time),
            (team_id, Uuid),
            (assignment_reason, Text),
            (queued_at, Time),
            (labels, Text),
            (started_with_bot, Bool),
            (human_at, Time),
            (first_response_at, Time),
            (resolved_at, Time),
            (rating_score, I16),
            (rating_comment, Text),
            (rated_at, Time),
            (snoozed_until, Time)
        ]
    ),
    table!(
        "messages",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (conversation_id, Uuid),
            (seq, I64),
            (sender_kind, Text),
            (sender_id, Uuid),
            (body, Text),
            (private, Bool),
            (client_msg_id, Text),
            (created_at, Time),
            (meta, Text),
            (sender_name, Text)
        ]
    ),
    table!(
        "assignments",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (conversation_id, Uuid),
            (assignee_id, Uuid),
            (team_id, Uuid),
            (reason, Text),
            (actor_id, Uuid),
            (waited_ms, I64),
            (created_at, Time)
        ]
    ),
    table!(
        "attachments",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (uploader_kind, Text),
            (uploader_id, Uuid),
            (conversation_id, Uuid),
            (message_id, Uuid),
            (filename, Text),
            (content_type, Text),
            (bytes, I64),
            (sha256, Text),
            (created_at, Time)
        ]
    ),
    table!(
        "read_positions",
        [
            (workspace_id, Uuid),
            (conversation_id, Uuid),
            (reader_id, Uuid),
            (seq, I64),
            (updated_at, Time)
        ]
    ),
    table!(
        "kb_articles",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (external_id, Text),
            (title, Text),
            (body, Text),
            (questions, Text),
            (tags, Text),
            (category, Text),
            (locale, Text),
            (status, Text),
            (version, I64),
            (created_at, Time),
            (updated_at, Time),
            (deleted_at, Time)
        ]
    ),
    table!(
        "kb_article_versions",
        [
            (article_id, Uuid),
            (workspace_id, Uuid),
            (version, I64),
            (external_id, Text),
            (content, Text),
            (deleted, Bool),
            (author_kind, Text),
            (author_id, Uuid),
            (created_at, Time)
        ]
    ),
    table!(
        "kb_embeddings",
        [
            (article_id, Uuid),
            (workspace_id, Uuid),
            (model, Text),
            (version, I64),
            (vector, Bytes)
        ]
    ),
    table!(
        "kb_synonyms",
        [
            (workspace_id, Uuid),
            (term_groups, Text),
            (updated_at, Time)
        ]
    ),
    table!("bot_settings", [(workspace_id, Uuid), (settings, Text)]),
    table!(
        "bot_turns",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (conversation_id, Uuid),
            (question_message_id, Uuid),
            (reply_message_id, Uuid),
            (question, Text),
            (decision, Text),
            (confidence, F32),
            (reason, Text),
            (articles, Text),
            (helpful, Bool),
            (created_at, Time)
        ]
    ),
    table!(
        "canned_responses",
        [
            (id, Uuid),
            (workspace_id, Uuid),
            (shortcut, Text),
            (title, Text),
            (body, Text),
            (created_at, Time),
            (updated_at, Time)
        ]
    ),
    table!(
        "oidc_configs",
        [
            (workspace_id, Uuid),
            (issuer, Text),
            (client_id, Text),
            (client_secret, Text),
            (scopes, Text),
            (enabled, Bool),
            (jit_domains, Text),
            (jit_role, Text),
            (created_at, Time),
            (updated_at, Time)
        ]
    ),
    table!(
        "oidc_logins",
        [
            (state_hash, Text),
            (workspace_id, Uuid),
            (nonce, Text),
            (code_verifier, Text),
            (created_at, Time),
            (expires_at, Time)
        ]
    ),
    table!(
        "oidc_identities",
        [
            (workspace_id, Uuid),
            (issuer, Text),
            (subject, Text),
            (user_id, Uuid),
            (email, Text),
            (created_at, Time),
            (last_login_at, Time)
        ]
    ),
    table!(
        "backup_runs",
        [
            (slot, Time),
            (holder, Text),
            (started_at, Time),
            (finished_at, Time),
            (ok, Bool),
            (location, Text),
            (bytes, I64),
            (error, Text),
            (restore_tested_at, Time),
            (restore_ok, Bool)
        ]
    ),
];
