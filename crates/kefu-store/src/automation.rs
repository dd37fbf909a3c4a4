//! The automation queries, the same on both engines (`AutomationStore`).

/// Inboxes with any automation, in every workspace (the sweeper's list).
pub(crate) const AUTOMATED_INBOXES: &str =
    "SELECT * FROM inboxes WHERE automation IS NOT NULL ORDER BY created_at";

/// Conversations waiting on the visitor: assigned (auto-resolve leaves
/// the bot's alone), not snoozed, quiet since `$3` (every message moves
/// `updated_at`), and the last public message is not the visitor's (a
/// private note or a system note does not answer them).
pub(crate) const STALE_CONVERSATIONS: &str = "SELECT c.id FROM conversations c \
     WHERE c.workspace_id = $1 AND c.inbox_id = $2 AND c.status = 'assigned' \
     AND c.snoozed_until IS NULL AND c.updated_at < $3 \
     AND (SELECT m.sender_kind FROM messages m WHERE m.conversation_id = c.id \
          AND NOT m.private AND m.sender_kind <> 'system' ORDER BY m.seq DESC LIMIT 1) \
         IN ('agent', 'bot') \
     ORDER BY c.updated_at LIMIT $4";

/// Snoozes (`$1` a time: assigned conversations only) or wakes (`$1` NULL).
pub(crate) const SNOOZE: &str = "UPDATE conversations SET snoozed_until = $1, updated_at = $2 \
     WHERE id = $3 AND workspace_id = $4 AND ($1 IS NULL OR status = 'assigned') RETURNING *";

/// Wakes snoozes that ended; the outer condition keeps two replicas from
/// both waking (and announcing) the same conversation.
pub(crate) const WAKE: &str = "UPDATE conversations SET snoozed_until = NULL, updated_at = $1 \
     WHERE snoozed_until IS NOT NULL AND snoozed_until <= $1 AND id IN \
     (SELECT id FROM conversations WHERE snoozed_until IS NOT NULL AND snoozed_until <= $1 LIMIT $2) \
     RETURNING *";

pub(crate) const TOUCH: &str = "UPDATE agent_presence SET last_seen_at = $1 \
     WHERE user_id = $2 AND (last_seen_at IS NULL OR last_seen_at < $1)";

pub(crate) const RESTORE: &str = "UPDATE agent_presence SET status = timed_out_from, \
     timed_out_from = NULL, last_seen_at = $1, updated_at = $1 \
     WHERE user_id = $2 AND timed_out_from IS NOT NULL RETURNING workspace_id";

pub(crate) const EXPIRE: &str = "UPDATE agent_presence SET timed_out_from = status, \
     status = 'offline', updated_at = $1 \
     WHERE status <> 'offline' AND last_seen_at IS NOT NULL AND last_seen_at < $2 \
     AND updated_at < $2";

pub(crate) const RECORD_VISIT: &str =
    "UPDATE contacts SET last_visit = $1 WHERE id = $2 AND workspace_id = $3";
