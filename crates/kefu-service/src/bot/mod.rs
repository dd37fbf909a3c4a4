//! The bot (DESIGN.md §4): `normalise → triggers → retrieve → decide →
//! answer, suggest or hand off`, for `POST …/bot/ask` (nothing stored) and
//! for visitors' messages in conversations the bot holds.
//!
//! In a conversation the bot's reply goes through the normal message path
//! (seq, acknowledgement, bus), with its citations or choices as structured
//! `meta`. Each turn is stored first: the row is unique per visitor
//! message, so when two replicas see the same message only one answers.

use crate::context::Access;
use crate::error::{ServiceError, ServiceResult};
use crate::kb::internal;
use crate::Services;
use kefu_ai::{EmbedMode, Passage};
use kefu_domain::bus::{About, Event};
use kefu_domain::chat::*;
use kefu_domain::kb::*;
use kefu_domain::routing::AssignmentReason;
use kefu_domain::{Action, ArticleId, BotTurnId, MessageId, WorkspaceId};
use kefu_kb::{triggers, KbIndex, Retrieval, SearchQuery, Thresholds};
use serde::Deserialize;
use std::time::Duration;

mod preview;
mod rerank;
mod visitor;

pub use preview::{BotPreview, PreviewHit};

/// What the bot would do with a question.
#[derive(Debug, Clone, PartialEq)]
pub struct BotAnswer {
    pub decision: BotDecision,
    pub confidence: f32,
    pub answer: Option<String>,
    pub citations: Vec<ArticleRef>,
    pub suggestions: Vec<ArticleRef>,
    pub reason: Option<HandoffReason>,
}

/// A workspace's bot settings as an admin writes them (all optional).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BotSettingsPatch {
    pub answer_threshold: Option<f32>,
    pub suggest_threshold: Option<f32>,
    pub handoff_phrases: Option<Vec<String>>,
    pub max_unhelpful: Option<u32>,
    /// `null` removes the gate.
    #[serde(default, with = "double_option")]
    pub eval_gate: Option<Option<EvalGate>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Whether the text is mostly Chinese (the bot answers in the visitor's
/// language).
pub(crate) fn chinese(text: &str) -> bool {
    text.chars().any(kefu_kb::text::is_cjk)
}

impl Services {
    /// The workspace's bot settings, or the defaults.
    pub async fn bot_settings_of(&self, ws: WorkspaceId) -> ServiceResult<BotSettings> {
        Ok(self
            .store
            .get_bot_settings(ws)
            .await?
            .unwrap_or_else(|| self.default_bot_settings()))
    }

    fn default_bot_settings(&self) -> BotSettings {
        let t = Thresholds::default();
        BotSettings {
            answer_threshold: t.answer,
            suggest_threshold: t.suggest,
            handoff_phrases: Vec::new(),
            max_unhelpful: self.knowledge.config.max_unhelpful,
            eval_gate: None,
        }
    }

    /// Owners and admins only, as documented (the evaluation gate holds the
    /// team's test questions); agents see the bot's decisions, not its
    /// tuning.
    pub async fn bot_settings(&self, access: &Access) -> ServiceResult<BotSettings> {
        access.require(Action::UpdateWorkspaceSettings)?;
        self.bot_settings_of(access.workspace_id).await
    }

    pub async fn update_bot_settings(
        &self,
        access: &Access,
        patch: BotSettingsPatch,
    ) -> ServiceResult<BotSettings> {
        access.require(Action::UpdateWorkspaceSettings)?;
        let mut s = self.bot_settings_of(access.workspace_id).await?;
        let mut c = crate::validate::Checks::new();
        if let Some(a) = patch.answer_threshold {
            s.answer_threshold = a;
        }
        if let Some(a) = patch.suggest_threshold {
            s.suggest_threshold = a;
        }
        for (field, v) in [
            ("answer_threshold", s.answer_threshold),
            ("suggest_threshold", s.suggest_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                c.fail(field, "out_of_range");
            }
        }
        if s.suggest_threshold > s.answer_threshold {
            c.fail("suggest_threshold", "above_answer_threshold");
        }
        if let Some(p) = &patch.handoff_phrases {
            if p.len() > 100 {
                c.fail("handoff_phrases", "too_many");
            }
            s.handoff_phrases = p.iter().map(|p| c.text("handoff_phrases", p, 50)).collect();
        }
        if let Some(n) = patch.max_unhelpful {
            if n > 20 {
                c.fail("max_unhelpful", "out_of_range");
            }
            s.max_unhelpful = n;
        }
        if let Some(g) = patch.eval_gate {
            if let Some(g) = &g {
                match kefu_kb::eval::EvalCase::parse_jsonl(&g.questions) {
                    Ok(cases) if !cases.is_empty() => {}
                    _ => c.fail("eval_gate.questions", "invalid"),
                }
                if !(0.0..=1.0).contains(&g.min_hit_at_1)
                    || !(0.0..=1.0).contains(&g.min_off_topic_handoff)
                {
                    c.fail("eval_gate", "out_of_range");
                }
            }
            s.eval_gate = g;
        }
        c.finish()?;
        let audit = access.audit(
            "bot.settings_updated",
            None,
            serde_json::json!({ "answer_threshold": s.answer_threshold,
                "suggest_threshold": s.suggest_threshold, "handoff_phrases": s.handoff_phrases,
                "max_unhelpful": s.max_unhelpful, "eval_gate": s.eval_gate.is_some() }),
            self.clock.now(),
        );
        self.store
            .put_bot_settings(access.workspace_id, &s, audit)
            .await?;
        Ok(s)
    }

    /// Ranked articles for a question: lexical, plus semantic when an
    /// embeddings endpoint is configured and answers in time (otherwise
    /// lexical alone — a slow model never blocks the bot), reordered by
    /// the reranker when one is configured and answers in time.
    pub(crate) async fn retrieve(
        &self,
        ws: WorkspaceId,
        question: &str,
        locale: Option<&str>,
        limit: usize,
    ) -> ServiceResult<Retrieval> {
        self.retrieve_in(&self.knowledge.index, ws, question, locale, limit)
            .await
    }

    /// [`Self::retrieve`] in a given index (a candidate one, for the
    /// import gate).
    pub(crate) async fn retrieve_in(
        &self,
        index: &KbIndex,
        ws: WorkspaceId,
        question: &str,
        locale: Option<&str>,
        limit: usize,
    ) -> ServiceResult<Retrieval> {
        let kb = &self.knowledge;
        // What leaves for a model endpoint (embeddings, reranker) is the
        // question with its personal data masked; the search in this
        // process reads it as asked.
        let masked = kefu_ai::mask::mask_pii(question);
        let mut vector = None;
        if let Some(embedder) = &kb.embedder {
            if index.vector_count(ws.0) > 0 {
                let wait = Duration::from_millis(kb.config.query_embed_timeout_ms);
                let q = [masked.to_string()];
                let started = std::time::Instant::now();
                let result = tracing::Instrument::instrument(
                    tokio::time::timeout(wait, embedder.embed(&q, EmbedMode::Query)),
                    tracing::info_span!("embeddings.query"),
                )
                .await;
                let outcome = match &result {
                    Ok(Ok(_)) => "ok",
                    Ok(Err(kefu_ai::AiError::Timeout)) | Err(_) => "timeout",
                    Ok(Err(_)) => "error",
                };
                self.metrics.embed_call("query", outcome, started.elapsed());
                match result {
                    Ok(Ok(mut v)) if !v.is_empty() => vector = Some(v.swap_remove(0)),
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "query embedding failed; lexical only")
                    }
                    Err(_) => tracing::warn!("query embedding timed out; lexical only"),
                }
            }
        }
        // The reranker sees its `top_k` however few hits the caller wants.
        let fetch = kb.reranker.as_ref().map_or(limit, |r| limit.max(r.top_k()));
        let q = SearchQuery {
            text: question,
            locale,
            vector: vector.as_deref(),
            limit: fetch,
        };
        let mut r = index.search(ws.0, &q).map_err(internal)?;
        self.rerank_retrieval(&masked, &mut r).await;
        r.hits.truncate(limit.max(1));
        Ok(r)
    }

    /// The decision without an answer text: triggers, retrieval, thresholds.
    pub(crate) async fn think(
        &self,
        ws: WorkspaceId,
        question: &str,
        locale: Option<&str>,
        settings: &BotSettings,
    ) -> ServiceResult<(BotAnswer, Retrieval)> {
        self.think_in(&self.knowledge.index, ws, question, locale, settings)
            .await
    }

    /// [`Self::think`] against a given index.
    pub(crate) async fn think_in(
        &self,
        index: &KbIndex,
        ws: WorkspaceId,
        question: &str,
        locale: Option<&str>,
        settings: &BotSettings,
    ) -> ServiceResult<(BotAnswer, Retrieval)> {
        let mut out = BotAnswer {
            decision: BotDecision::Handoff,
            confidence: 0.0,
            answer: None,
            citations: Vec::new(),
            suggestions: Vec::new(),
            reason: None,
        };
        if let Some(t) = triggers::detect(question, &settings.handoff_phrases) {
            out.reason = Some(match t {
                triggers::Trigger::ExplicitRequest => HandoffReason::ExplicitRequest,
                triggers::Trigger::NegativeSentiment => HandoffReason::NegativeSentiment,
            });
            return Ok((out, Retrieval::default()));
        }
        let r = self.retrieve_in(index, ws, question, locale, 10).await?;
        out.confidence = r.confidence;
        let t = Thresholds {
            answer: settings.answer_threshold,
            suggest: settings.suggest_threshold,
        };
        let refs = |n: usize| -> Vec<ArticleRef> {
            r.hits.iter().take(n).map(crate::kb::article_ref).collect()
        };
        match kefu_kb::decide(&r, &t) {
            kefu_kb::Decision::Answer => {
                out.decision = BotDecision::Answer;
                out.citations = refs(1);
            }
            kefu_kb::Decision::Suggest => {
                out.decision = BotDecision::Suggest;
                out.suggestions = refs(3);
            }
            kefu_kb::Decision::Handoff => out.reason = Some(HandoffReason::LowConfidence),
        }
        Ok((out, r))
    }

    /// Writes the answer: from the language model when one is configured
    /// (streaming each piece to `on_delta`), else the cited article itself.
    /// A model that cannot answer turns the decision into a hand-off; a
    /// model that fails or times out falls back to the article.
    pub(crate) async fn compose(
        &self,
        ws: WorkspaceId,
        question: &str,
        answer: &mut BotAnswer,
        r: &Retrieval,
        on_delta: &mut (dyn FnMut(&str) + Send),
    ) -> ServiceResult<()> {
        if answer.decision != BotDecision::Answer {
            return Ok(());
        }
        let top = &answer.citations[0];
        let article = self.store.get_article(ws, top.article_id).await?;
        // The passage each hit matched with (its article's head when the
        // hit carries none), so the answer is written from the part that
        // answers, not from the start of a long article.
        let passage_of = |a: &Article| -> String {
            r.hits
                .iter()
                .find(|h| h.article_id == a.id.0 && !h.passage.is_empty())
                .map(|h| h.passage.clone())
                .unwrap_or_else(|| kefu_kb::markdown::strip_markdown(&a.content.body))
        };
        if let Some(llm) = &self.knowledge.llm {
            let mut sources = vec![article.clone()];
            for h in r
                .hits
                .iter()
                .skip(1)
                .take(self.knowledge.config.llm_passages.saturating_sub(1))
            {
                if let Ok(a) = self.store.get_article(ws, ArticleId(h.article_id)).await {
                    sources.push(a);
                }
            }
            let passages: Vec<Passage> = sources
                .iter()
                .map(|a| Passage {
                    title: a.content.title.clone(),
                    text: passage_of(a),
                })
                .collect();
            let locale = if chinese(question) { "zh-CN" } else { "en" };
            let started = std::time::Instant::now();
            let result = tracing::Instrument::instrument(
                llm.answer(question, &passages, locale, on_delta),
                tracing::info_span!("llm.chat", passages = passages.len()),
            )
            .await;
            let outcome = match &result {
                Ok(a) if a.refused => "refused",
                Ok(_) => "ok",
                Err(kefu_ai::AiError::Timeout) => "timeout",
                Err(_) => "error",
            };
            self.metrics.llm_call(outcome, started.elapsed());
            if let Ok(a) = &result {
                self.metrics
                    .llm_tokens(a.prompt_tokens, a.completion_tokens);
            }
            match result {
                Ok(a) if a.refused => {
                    answer.decision = BotDecision::Handoff;
                    answer.reason = Some(HandoffReason::ModelCannotAnswer);
                    answer.citations.clear();
                    return Ok(());
                }
                Ok(a) => {
                    let cited: Vec<ArticleRef> = a
                        .cited
                        .iter()
                        .filter_map(|i| sources.get(*i))
                        .map(|a| {
                            let mut rf = a.reference();
                            rf.anchor = r
                                .hits
                                .iter()
                                .find(|h| h.article_id == a.id.0)
                                .and_then(|h| h.anchor.clone());
                            rf
                        })
                        .collect();
                    if !cited.is_empty() {
                        answer.citations = cited;
                    }
                    answer.answer = Some(a.text);
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "language model failed; answering with the article");
                }
            }
        }
        let max = self.chat.max_message_chars;
        // An article short enough to be one passage is answered whole, in
        // its own Markdown (even when it has headings); a longer one with
        // the passage that matched.
        let mut body = if self.knowledge.index.fits_one_passage(&article.content.body) {
            article.content.body.clone()
        } else {
            passage_of(&article)
        };
        if body.chars().count() > max {
            body = body.chars().take(max.saturating_sub(1)).collect::<String>() + "…";
        }
        answer.answer = Some(body);
        Ok(())
    }

    /// `POST …/bot/ask`: what the bot would answer, and the hits it decided
    /// on, with nothing stored.
    #[tracing::instrument(name = "bot.ask", skip_all)]
    pub async fn ask_bot(
        &self,
        access: &Access,
        question: &str,
        locale: Option<&str>,
    ) -> ServiceResult<BotPreview> {
        access.require(Action::ViewKnowledge)?;
        let question = question.trim();
        if question.is_empty() {
            return Err(ServiceError::invalid("question", "required"));
        }
        if question.chars().count() > self.chat.max_message_chars {
            return Err(ServiceError::invalid("question", "too_long"));
        }
        let ws = access.workspace_id;
        let settings = self.bot_settings_of(ws).await?;
        let (mut answer, r) = self.think(ws, question, locale, &settings).await?;
        self.compose(ws, question, &mut answer, &r, &mut |_| {})
            .await?;
        // A preview ("test the bot"): not one of the bot's decisions.
        Ok(BotPreview {
            answer,
            hits: preview::hits_of(r),
        })
    }

    /// Agent assist: the best articles for the visitor's latest message.
    pub async fn suggestions(
        &self,
        access: &Access,
        id: kefu_domain::ConversationId,
    ) -> ServiceResult<Vec<crate::kb::articles::SearchHit>> {
        access.require(Action::ViewKnowledge)?;
        let c = self.conversation(access, id).await?;
        let recent = self
            .store
            .messages_after(access.workspace_id, id, (c.last_seq - 50).max(0), 50, false)
            .await?;
        let Some(last) = recent
            .iter()
            .rev()
            .find(|m| m.sender_kind == SenderKind::Visitor)
        else {
            return Ok(Vec::new());
        };
        self.search_articles(access, &last.body, 3).await
    }

    /// The bot's turn after a visitor's message in a conversation it holds.
    /// Runs in the background; failures are logged (the visitor's message
    /// is stored either way, and an agent can pick the conversation up).
    pub(crate) async fn bot_reply(&self, conversation: Conversation, question: Message) {
        if let Err(e) = self.try_bot_reply(&conversation, &question).await {
            tracing::error!(conversation = %conversation.id, error = %e, "bot reply failed");
        }
    }

    #[tracing::instrument(name = "bot.reply", skip_all, fields(conversation_id = %c.id))]
    async fn try_bot_reply(&self, c: &Conversation, q: &Message) -> ServiceResult<()> {
        let ws = c.workspace_id;
        let inbox = self.store.get_inbox(ws, c.inbox_id).await?;
        if !inbox.bot_enabled || c.status != ConversationStatus::Bot {
            return Ok(());
        }
        // A workspace with no published knowledge has no bot to speak of:
        // it stays silent (as before the knowledge base existed).
        if self.knowledge.index.article_count(ws.0) == 0 {
            return Ok(());
        }
        let settings = self.bot_settings_of(ws).await?;
        let history = self.store.bot_turns(ws, c.id, 20).await?;
        let (mut answer, r) = self.think(ws, &q.body, None, &settings).await?;
        if answer.decision != BotDecision::Handoff
            && settings.max_unhelpful > 0
            && unhelpful_streak(&history) >= settings.max_unhelpful
        {
            answer.decision = BotDecision::Handoff;
            answer.reason = Some(HandoffReason::UnhelpfulAnswers);
            answer.citations.clear();
            answer.suggestions.clear();
        }
        let reply_id = MessageId::new();
        let about = About {
            workspace_id: ws,
            conversation_id: c.id,
            contact_id: c.contact_id,
            assignee: c.assignee_id,
            team: c.team_id,
        };
        let mut on_delta = |d: &str| {
            self.announce(Event::BotDraft {
                about: about.clone(),
                message_id: reply_id,
                delta: d.to_string(),
            })
        };
        self.compose(ws, &q.body, &mut answer, &r, &mut on_delta)
            .await?;
        let turn = BotTurn {
            id: BotTurnId::new(),
            workspace_id: ws,
            conversation_id: c.id,
            question_message_id: q.id,
            reply_message_id: Some(reply_id),
            question: q.body.clone(),
            decision: answer.decision,
            confidence: answer.confidence,
            reason: answer.reason,
            articles: [answer.citations.clone(), answer.suggestions.clone()].concat(),
            helpful: None,
            created_at: self.clock.now(),
        };
        // The claim: another replica answering the same message loses here.
        match self.store.record_bot_turn(&turn).await {
            Err(kefu_domain::StoreError::Conflict(_)) => return Ok(()),
            r => r?,
        }
        self.metrics.bot_decision(answer.decision, answer.reason);
        let zh = chinese(&q.body);
        let (body, meta) = match answer.decision {
            BotDecision::Answer => (
                answer.answer.clone().unwrap_or_default(),
                MessageMeta {
                    decision: Some(BotDecision::Answer),
                    citations: answer.citations.clone(),
                    feedback: true,
                    ..MessageMeta::default()
                },
            ),
            BotDecision::Suggest => (
                suggest_text(zh, &answer.suggestions),
                MessageMeta {
                    decision: Some(BotDecision::Suggest),
                    suggestions: answer.suggestions.clone(),
                    ..MessageMeta::default()
                },
            ),
            BotDecision::Handoff => {
                let reason = answer.reason.unwrap_or(HandoffReason::LowConfidence);
                self.hand_to_people(c, reason, zh, reply_id).await?;
                return Ok(());
            }
        };
        self.bot_message(c, reply_id, SenderKind::Bot, body, false, meta)
            .await?;
        Ok(())
    }

    pub(crate) async fn bot_message(
        &self,
        c: &Conversation,
        id: MessageId,
        kind: SenderKind,
        body: String,
        private: bool,
        meta: MessageMeta,
    ) -> ServiceResult<()> {
        let m = NewMessage {
            id,
            sender_kind: kind,
            sender_id: None,
            sender_name: None,
            body,
            private,
            client_msg_id: None,
            created_at: self.clock.now(),
            meta: Some(meta),
        };
        let (appended, conv) = self
            .store
            .append_checked(c.workspace_id, c.id, None, &m)
            .await?;
        self.appended(&conv, appended);
        Ok(())
    }

    /// Moves a bot conversation to the queue with a summary note for the
    /// agent: why, what the visitor asked, which articles they were shown.
    pub(crate) async fn hand_to_people(
        &self,
        c: &Conversation,
        reason: HandoffReason,
        zh: bool,
        goodbye: MessageId,
    ) -> ServiceResult<Conversation> {
        // The visitor is told (the reason is for agents, not for them).
        let meta = MessageMeta {
            decision: Some(BotDecision::Handoff),
            ..MessageMeta::default()
        };
        self.bot_message(
            c,
            goodbye,
            SenderKind::Bot,
            handoff_text(zh).into(),
            false,
            meta,
        )
        .await?;
        let turns = self.store.bot_turns(c.workspace_id, c.id, 20).await?;
        let summary = handoff_summary(zh, reason, &turns);
        let meta = MessageMeta {
            handoff_reason: Some(reason),
            ..MessageMeta::default()
        };
        self.bot_message(c, MessageId::new(), SenderKind::System, summary, true, meta)
            .await?;
        let t = Transition {
            reason: Some(AssignmentReason::Queued),
            ..Transition::new(
                &[ConversationStatus::Bot],
                ConversationStatus::Queued,
                self.clock.now(),
            )
        };
        let updated = self.apply_transition(c.workspace_id, c.id, t).await?;
        self.route(c.workspace_id).await;
        self.away_if_unstaffed(&updated).await;
        Ok(updated)
    }
}

fn suggest_text(zh: bool, s: &[ArticleRef]) -> String {
    let mut out = if zh {
        "您是不是想问：".to_string()
    } else {
        "Did you mean:".to_string()
    };
    for (i, a) in s.iter().enumerate() {
        out.push_str(&format!("\n{}. {}", i + 1, a.title));
    }
    out
}

fn handoff_text(zh: bool) -> &'static str {
    if zh {
        "正在为您转接人工客服，请稍候。"
    } else {
        "Let me connect you with a person. Please wait a moment."
    }
}

/// The private note an agent sees when a conversation reaches them.
pub(crate) fn handoff_summary(zh: bool, reason: HandoffReason, turns: &[BotTurn]) -> String {
    let why = match (zh, reason) {
        (true, HandoffReason::LowConfidence) => "知识库中没有足够匹配的答案",
        (true, HandoffReason::ExplicitRequest) => "访客要求人工服务",
        (true, HandoffReason::NegativeSentiment) => "访客情绪激动或有投诉",
        (true, HandoffReason::UnhelpfulAnswers) => "连续多次回答未能解决问题",
        (true, HandoffReason::ModelCannotAnswer) => "模型无法根据知识库回答",
        (true, HandoffReason::VisitorRequest) => "访客点击了“转人工”",
        (false, HandoffReason::LowConfidence) => "no good match in the knowledge base",
        (false, HandoffReason::ExplicitRequest) => "the visitor asked for a person",
        (false, HandoffReason::NegativeSentiment) => "complaint or strong negative words",
        (false, HandoffReason::UnhelpfulAnswers) => "several answers in a row did not help",
        (false, HandoffReason::ModelCannotAnswer) => {
            "the model could not answer from the knowledge base"
        }
        (false, HandoffReason::VisitorRequest) => "the visitor pressed \"talk to a person\"",
    };
    let mut out = if zh {
        format!("机器人转人工：{why}。")
    } else {
        format!("Handed over by the bot: {why}.")
    };
    let asked: Vec<&BotTurn> = turns.iter().rev().collect();
    if !asked.is_empty() {
        out.push_str(if zh {
            "\n访客的问题："
        } else {
            "\nThe visitor asked:"
        });
        for t in asked.iter().take(10) {
            let q: String = t.question.chars().take(200).collect();
            out.push_str(&format!("\n- {q}"));
        }
        let mut shown: Vec<&ArticleRef> = Vec::new();
        for a in asked.iter().flat_map(|t| &t.articles) {
            if !shown.iter().any(|s| s.article_id == a.article_id) {
                shown.push(a);
            }
        }
        if !shown.is_empty() {
            out.push_str(if zh {
                "\n已展示的文章："
            } else {
                "\nArticles shown:"
            });
            for a in shown.iter().take(10) {
                out.push_str(&format!("\n- {}", a.title));
            }
        }
    }
    out
}
