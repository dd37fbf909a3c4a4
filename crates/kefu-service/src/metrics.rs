//! What the service layer counts for Prometheus (`docs/operations/metrics.md`):
//! messages, queue waits, first responses and resolutions, the bot's
//! decisions, and the calls to the language model, the embeddings endpoint
//! and the reranker; plus the cluster-wide gauges [`Services::sample_gauges`] reads
//! from the database.
//!
//! Labels are fixed enumerations only: never an id, a name or free text.

use crate::Services;
use kefu_domain::chat::SenderKind;
use kefu_domain::kb::{BotDecision, HandoffReason};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SenderLabels {
    pub sender: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    pub decision: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EmbedLabels {
    pub mode: &'static str,
    pub outcome: &'static str,
}

/// What is counted: `prompt`/`completion` tokens, `embedding` jobs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    /// `none` (the general queue) or `team` (a team's queue).
    pub team: &'static str,
}

/// Seconds to hours: waits, first responses, resolutions.
fn human_buckets() -> Histogram {
    Histogram::new(
        [
            5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 14400.0, 86400.0,
        ]
        .into_iter(),
    )
}

/// Milliseconds to a minute: model and embedding calls.
fn call_buckets() -> Histogram {
    Histogram::new(
        [
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
        ]
        .into_iter(),
    )
}

pub struct ServiceMetrics {
    pub messages: Family<SenderLabels, Counter>,
    pub queue_wait: Histogram,
    pub first_response: Histogram,
    pub resolution: Histogram,
    pub bot_decisions: Family<DecisionLabels, Counter>,
    pub llm_duration: Family<OutcomeLabels, Histogram>,
    pub llm_tokens: Family<KindLabels, Counter>,
    pub embed_duration: Family<EmbedLabels, Histogram>,
    pub rerank_duration: Family<OutcomeLabels, Histogram>,
    pub queue_length: Family<QueueLabels, Gauge>,
    pub agents_online: Gauge,
    pub inboxes_open_unstaffed: Gauge,
    pub jobs_pending: Family<KindLabels, Gauge>,
    pub database_up: Gauge,
    pub csat: Histogram,
    pub attachments_uploaded: Counter,
    pub attachment_bytes: Counter,
    pub attachments_refused: Family<KindLabels, Counter>,
    /// What happened by itself: `auto_resolved`, `snooze_woken`,
    /// `away_sent`, `presence_timed_out`.
    pub automation: Family<KindLabels, Counter>,
    /// E-mails by outcome: `queued`, `sent`, `retried`, `failed`.
    pub emails: Family<OutcomeLabels, Counter>,
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        Self {
            messages: Family::default(),
            queue_wait: human_buckets(),
            first_response: human_buckets(),
            resolution: human_buckets(),
            bot_decisions: Family::default(),
            llm_duration: Family::new_with_constructor(call_buckets),
            llm_tokens: Family::default(),
            embed_duration: Family::new_with_constructor(call_buckets),
            rerank_duration: Family::new_with_constructor(call_buckets),
            queue_length: Family::default(),
            agents_online: Gauge::default(),
            inboxes_open_unstaffed: Gauge::default(),
            jobs_pending: Family::default(),
            database_up: Gauge::default(),
            // One bucket per score: the distribution, and sum / count the mean.
            csat: Histogram::new([1.0, 2.0, 3.0, 4.0, 5.0].into_iter()),
            attachments_uploaded: Counter::default(),
            attachment_bytes: Counter::default(),
            attachments_refused: Family::default(),
            automation: Family::default(),
            emails: Family::default(),
        }
    }
}

impl std::fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServiceMetrics")
    }
}

impl ServiceMetrics {
    /// A file stored for a conversation.
    pub fn attachment_uploaded(&self, bytes: u64) {
        self.attachments_uploaded.inc();
        self.attachment_bytes.inc_by(bytes);
    }

    /// An upload refused: `payload_too_large`, `unsupported_media_type` or
    /// `storage_quota_exceeded`.
    pub fn attachment_refused(&self, code: &'static str) {
        self.attachments_refused
            .get_or_create(&KindLabels { kind: code })
            .inc();
    }

    pub fn email(&self, outcome: &'static str) {
        self.emails.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub fn automated(&self, kind: &'static str, n: u64) {
        self.automation
            .get_or_create(&KindLabels { kind })
            .inc_by(n);
    }

    /// Adds every metric to `r` (whose prefix is `kefu`).
    pub fn register(&self, r: &mut Registry) {
        r.register(
            "emails",
            "E-mails by outcome: queued (in the outbox), sent, retried (an attempt failed, another is due), failed (gave up; an admin may retry)",
            self.emails.clone(),
        );
        r.register(
            "automation_actions",
            "What happened by itself, by kind: auto_resolved, snooze_woken, away_sent, presence_timed_out",
            self.automation.clone(),
        );
        r.register(
            "attachments_uploaded",
            "Files stored for conversations by this replica",
            self.attachments_uploaded.clone(),
        );
        r.register(
            "attachment_upload_bytes",
            "Bytes of the files stored for conversations by this replica",
            self.attachment_bytes.clone(),
        );
        r.register(
            "attachments_refused",
            "Uploads refused, by kind: payload_too_large, unsupported_media_type, storage_quota_exceeded (a workspace at its quota)",
            self.attachments_refused.clone(),
        );
        r.register(
            "messages",
            "Messages stored by this replica, by sender (visitor = in; agent, bot, system = out)",
            self.messages.clone(),
        );
        r.register(
            "queue_wait_seconds",
            "Time from entering the queue to being assigned to an agent",
            self.queue_wait.clone(),
        );
        r.register(
            "first_response_seconds",
            "Time from the hand-off to people to the first agent reply",
            self.first_response.clone(),
        );
        r.register(
            "resolution_seconds",
            "Time from a conversation's start to its resolution",
            self.resolution.clone(),
        );
        r.register(
            "bot_decisions",
            "The bot's decisions, by decision and hand-off reason",
            self.bot_decisions.clone(),
        );
        r.register(
            "llm_request_duration_seconds",
            "Calls to the language model, by outcome",
            self.llm_duration.clone(),
        );
        r.register(
            "llm_tokens",
            "Tokens the language model reported, by kind (prompt, completion)",
            self.llm_tokens.clone(),
        );
        r.register(
            "embedding_request_duration_seconds",
            "Calls to the embeddings endpoint, by mode (query, passage) and outcome",
            self.embed_duration.clone(),
        );
        r.register(
            "rerank_request_duration_seconds",
            "Calls to the reranker, by outcome (ok, error, timeout; on error and timeout the search keeps its own order)",
            self.rerank_duration.clone(),
        );
        r.register(
            "queue_length",
            "Conversations waiting for a person, cluster-wide (aggregate with max)",
            self.queue_length.clone(),
        );
        r.register(
            "agents_online",
            "Agents whose status is online, cluster-wide (aggregate with max)",
            self.agents_online.clone(),
        );
        r.register(
            "inboxes_open_unstaffed",
            "Inboxes inside their business hours with no agent online, cluster-wide",
            self.inboxes_open_unstaffed.clone(),
        );
        r.register(
            "csat_score",
            "Visitors' satisfaction ratings (1-5) as they are given; a changed rating counts again",
            self.csat.clone(),
        );
        r.register(
            "database_up",
            "1 when the database answered the last periodic check, 0 when it did not",
            self.database_up.clone(),
        );
        r.register(
            "jobs_pending",
            "Background work waiting, cluster-wide, by kind (embedding)",
            self.jobs_pending.clone(),
        );
    }

    pub(crate) fn message(&self, kind: SenderKind) {
        let sender = match kind {
            SenderKind::Visitor => "visitor",
            SenderKind::Agent => "agent",
            SenderKind::Bot => "bot",
            SenderKind::System => "system",
        };
        self.messages.get_or_create(&SenderLabels { sender }).inc();
    }

    pub(crate) fn bot_decision(&self, decision: BotDecision, reason: Option<HandoffReason>) {
        let decision = match decision {
            BotDecision::Answer => "answer",
            BotDecision::Suggest => "suggest",
            BotDecision::Handoff => "handoff",
        };
        let reason = reason.map_or("none", |r| r.as_str());
        self.bot_decisions
            .get_or_create(&DecisionLabels { decision, reason })
            .inc();
    }

    pub(crate) fn llm_call(&self, outcome: &'static str, took: Duration) {
        self.llm_duration
            .get_or_create(&OutcomeLabels { outcome })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn llm_tokens(&self, prompt: Option<u32>, completion: Option<u32>) {
        for (kind, n) in [("prompt", prompt), ("completion", completion)] {
            if let Some(n) = n {
                self.llm_tokens
                    .get_or_create(&KindLabels { kind })
                    .inc_by(u64::from(n));
            }
        }
    }

    pub(crate) fn embed_call(&self, mode: &'static str, outcome: &'static str, took: Duration) {
        self.embed_duration
            .get_or_create(&EmbedLabels { mode, outcome })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn rerank_call(&self, outcome: &'static str, took: Duration) {
        self.rerank_duration
            .get_or_create(&OutcomeLabels { outcome })
            .observe(took.as_secs_f64());
    }
}

/// Seconds from `from` to `to`, never negative.
pub(crate) fn seconds(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> f64 {
    ((to - from).num_milliseconds().max(0) as f64) / 1000.0
}

impl Services {
    /// Refreshes the cluster-wide gauges from the database (every replica
    /// does; they agree). Called on a timer by `kefu serve`.
    /// `kefu_database_up` is whether the database answers (as `/readyz`
    /// asks it), whatever else fails.
    pub async fn sample_gauges(&self) -> crate::error::ServiceResult<()> {
        let now = self.clock.now();
        let m = &self.metrics;
        m.database_up
            .set(i64::from(self.store.health().await.reachable));
        let g = self
            .store
            .ops_gauges(self.knowledge.embedding_model().as_deref())
            .await?;
        m.queue_length
            .get_or_create(&QueueLabels { team: "none" })
            .set(g.queued_general);
        m.queue_length
            .get_or_create(&QueueLabels { team: "team" })
            .set(g.queued_team);
        m.agents_online.set(g.agents_online);
        let unstaffed = g
            .inboxes
            .iter()
            .filter(|(hours, staffed)| !staffed && hours.as_ref().is_none_or(|h| h.is_open(now)))
            .count();
        m.inboxes_open_unstaffed
            .set(i64::try_from(unstaffed).unwrap_or(i64::MAX));
        m.jobs_pending
            .get_or_create(&KindLabels { kind: "embedding" })
            .set(g.embeddings_pending);
        Ok(())
    }
}
