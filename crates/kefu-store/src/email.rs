//! The e-mail outbox's queries, the same on both engines (`EmailStore`).

pub(crate) const ENQUEUE: &str =
    "INSERT INTO email_outbox (id, workspace_id, kind, to_addr, subject, \
     text_body, html_body, status, attempts, next_attempt_at, last_error, created_at, sent_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Leases due e-mails: the outer condition re-checked under the row lock
/// keeps two replicas from both taking one.
pub(crate) const CLAIM: &str = "UPDATE email_outbox SET next_attempt_at = $2 \
     WHERE status = 'pending' AND next_attempt_at <= $1 AND id IN \
     (SELECT id FROM email_outbox WHERE status = 'pending' AND next_attempt_at <= $1 \
      ORDER BY next_attempt_at LIMIT $3) RETURNING *";

pub(crate) const SENT: &str = "UPDATE email_outbox SET status = 'sent', sent_at = $2, \
     attempts = attempts + 1, text_body = '', html_body = '', last_error = NULL WHERE id = $1";

/// `$3` NULL: no more attempts.
pub(crate) const FAILED: &str =
    "UPDATE email_outbox SET attempts = attempts + 1, last_error = $2, \
     status = CASE WHEN $3 IS NULL THEN 'failed' ELSE 'pending' END, \
     next_attempt_at = COALESCE($3, next_attempt_at) WHERE id = $1";

pub(crate) const LIST: &str = "SELECT * FROM email_outbox WHERE workspace_id = $1 \
     ORDER BY created_at DESC, id DESC LIMIT $2";

pub(crate) const RETRY: &str = "UPDATE email_outbox SET status = 'pending', next_attempt_at = $3 \
     WHERE id = $1 AND workspace_id = $2 AND status = 'failed'";
