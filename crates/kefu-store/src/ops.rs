//! SQL and row handling of the operations gauges, the same on both engines.

use crate::db;
use kefu_domain::chat::BusinessHours;
use kefu_domain::store::OpsGauges;
use kefu_domain::StoreResult;

pub(crate) const QUEUED: &str =
    "SELECT COALESCE(SUM(CASE WHEN team_id IS NULL THEN 1 ELSE 0 END), 0), \
     COALESCE(SUM(CASE WHEN team_id IS NULL THEN 0 ELSE 1 END), 0) \
     FROM conversations WHERE status = 'queued'";
pub(crate) const AGENTS_ONLINE: &str =
    "SELECT COUNT(DISTINCT user_id) FROM agent_presence WHERE status = 'online'";
pub(crate) const INBOXES: &str = "SELECT i.business_hours, EXISTS (SELECT 1 FROM agent_presence p \
     WHERE p.workspace_id = i.workspace_id AND p.status = 'online') AS staffed \
     FROM inboxes i";
pub(crate) const EMBEDDINGS_PENDING: &str =
    "SELECT COUNT(*) FROM kb_articles a LEFT JOIN kb_embeddings e \
     ON e.article_id = a.id AND e.model = $1 \
     WHERE a.deleted_at IS NULL AND a.status = 'published' \
     AND (e.version IS NULL OR e.version < a.version)";
/// The analytics' per-conversation facts of the conversations created in
/// `[$2, $3)`, with what the bot's answers led to: its last outright answer
/// (`a`, and `r` the message that carried it), whether any answer was
/// marked helpful, the visitor's first message after the last answer (by
/// sequence number, so the visitor's own question is never "after"), and
/// the contact's first conversation started after it. Every lookup is by an
/// index: turns by conversation, messages by (conversation, seq),
/// conversations by (workspace, contact).
pub(crate) const CONVERSATION_FACTS: &str = "SELECT c.id, c.created_at, c.assignee_id, c.team_id, \
     c.started_with_bot, c.human_at, c.first_response_at, c.resolved_at, c.rating_score, \
     a.created_at AS last_answer_at, a.helpful AS last_answer_helpful, \
     EXISTS (SELECT 1 FROM bot_turns h WHERE h.conversation_id = c.id \
       AND h.decision = 'answer' AND h.helpful = TRUE) AS confirmed, \
     (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = c.id \
       AND m.sender_kind = 'visitor' AND m.seq > r.seq) AS visitor_back_at, \
     (SELECT MIN(o.created_at) FROM conversations o WHERE o.workspace_id = c.workspace_id \
       AND o.contact_id = c.contact_id AND o.id <> c.id AND o.created_at > a.created_at) \
       AS next_conversation_at \
     FROM conversations c \
     LEFT JOIN bot_turns a ON a.id = (SELECT t.id FROM bot_turns t WHERE t.conversation_id = c.id \
       AND t.decision = 'answer' ORDER BY t.created_at DESC, t.id DESC LIMIT 1) \
     LEFT JOIN messages r ON r.id = a.reply_message_id \
     WHERE c.workspace_id = $1 AND c.created_at >= $2 AND c.created_at < $3 \
     ORDER BY c.created_at";
pub(crate) const RESPONSE_TIMES: &str = "SELECT human_at, first_response_at FROM conversations \
     WHERE workspace_id = $1 AND id = $2";

/// The gauges, read with the queries above (the same on both engines).
pub(crate) async fn read<DB>(
    pool: &sqlx::Pool<DB>,
    embedding_model: Option<&str>,
) -> StoreResult<OpsGauges>
where
    DB: sqlx::Database,
    for<'a> &'a sqlx::Pool<DB>: sqlx::Executor<'a, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    (i64, i64): for<'r> sqlx::FromRow<'r, DB::Row>,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    (Option<String>, bool): for<'r> sqlx::FromRow<'r, DB::Row>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let queued = sqlx::query_as(QUEUED).fetch_one(pool).await.map_err(db)?;
    let (agents,): (i64,) = sqlx::query_as(AGENTS_ONLINE)
        .fetch_one(pool)
        .await
        .map_err(db)?;
    let inboxes = sqlx::query_as(INBOXES).fetch_all(pool).await.map_err(db)?;
    let pending = match embedding_model {
        None => 0,
        Some(model) => {
            let (n,): (i64,) = sqlx::query_as(EMBEDDINGS_PENDING)
                .bind(model)
                .fetch_one(pool)
                .await
                .map_err(db)?;
            n
        }
    };
    gauges(queued, agents, inboxes, pending)
}

/// The gauges from the rows of the queries above.
fn gauges(
    (queued_general, queued_team): (i64, i64),
    agents_online: i64,
    inboxes: Vec<(Option<String>, bool)>,
    embeddings_pending: i64,
) -> StoreResult<OpsGauges> {
    // One unreadable row must not blind every gauge: it is skipped, and said.
    let inboxes = inboxes
        .into_iter()
        .filter_map(|(hours, staffed)| {
            match hours.map(|h| serde_json::from_str::<BusinessHours>(&h)).transpose() {
                Ok(hours) => Some((hours, staffed)),
                Err(e) => {
                    tracing::warn!(error = %e, "an inbox's business hours are unreadable; left out of the gauges");
                    None
                }
            }
        })
        .collect();
    Ok(OpsGauges {
        queued_general,
        queued_team,
        agents_online,
        inboxes,
        embeddings_pending,
    })
}
