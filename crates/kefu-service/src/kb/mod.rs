//! The knowledge base (DESIGN.md §4): articles and their history
//! ([`articles`]), JSON Lines import and export ([`import`]), evaluation
//! ([`eval`]), the workspace's synonym groups ([`synonyms`]), and this
//! module's runtime that keeps the search index true to the database.
//!
//! The database is the truth; the index (tantivy, per replica, on disk when
//! there is a data directory) and the in-memory vectors are derived from it:
//! - a change made here is applied to this replica's index before the call
//!   returns (the caller's next search sees it) and announced on the bus;
//! - every replica refreshes the announced articles (or synonym groups)
//!   from the database ([`Services::refresh_articles`]), so each keeps its
//!   own index fresh;
//! - at start, [`Services::reconcile_knowledge`] compares every workspace's
//!   published articles with what the index holds and repairs the
//!   difference (the index survived a crash half-written, or is new);
//! - vectors are computed by a background worker ([`Services::run_embedder`])
//!   and stored in the database, so a replica loads them instead of asking
//!   the model again.

pub mod articles;
pub mod eval;
pub mod import;
pub mod synonyms;

use crate::config::KbConfig;
use crate::error::{ServiceError, ServiceResult};
use crate::Services;
use kefu_ai::{ChatClient, EmbedMode, EmbeddingsClient, RerankClient};
use kefu_domain::bus::{Event, Topic};
use kefu_domain::kb::{Article, ArticleRef};
use kefu_domain::{ArticleId, WorkspaceId};
use kefu_kb::{AnalyzerOptions, ArticleDoc, KbIndex};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The search side of the knowledge base: the index, and the optional
/// model endpoints.
pub struct Knowledge {
    pub index: KbIndex,
    pub embedder: Option<EmbeddingsClient>,
    pub llm: Option<ChatClient>,
    /// Reorders the best hits of each search (see [`Knowledge::with_reranker`]).
    pub reranker: Option<RerankClient>,
    pub config: KbConfig,
    /// Wakes the embedding worker after a change.
    kick: Notify,
}

impl std::fmt::Debug for Knowledge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Knowledge")
            .field("embeddings", &self.embedder.is_some())
            .field("llm", &self.llm.is_some())
            .field("rerank", &self.reranker.is_some())
            .finish()
    }
}

impl Knowledge {
    /// `index_dir`: where the index lives (`None`: in memory, rebuilt at
    /// every start).
    pub fn open(
        index_dir: Option<&std::path::Path>,
        config: KbConfig,
        embedder: Option<EmbeddingsClient>,
        llm: Option<ChatClient>,
    ) -> ServiceResult<Self> {
        let opts = AnalyzerOptions {
            fold_traditional: config.fold_traditional,
        };
        let index = KbIndex::open(index_dir, opts).map_err(internal)?;
        Ok(Self {
            index,
            embedder,
            llm,
            reranker: None,
            config,
            kick: Notify::new(),
        })
    }

    /// With a reranker: every search sends its best `top_k` hits to it and
    /// takes its order (keeping its own when the reranker fails).
    pub fn with_reranker(mut self, reranker: Option<RerankClient>) -> Self {
        self.reranker = reranker;
        self
    }

    /// An in-memory index with no model endpoints.
    pub fn in_memory(config: KbConfig) -> Self {
        Self::open(None, config, None, None).expect("an in-memory index always opens")
    }

    /// The key stored vectors are filed under: the passage model and the
    /// index's vector layout ([`kefu_kb::VECTOR_LAYOUT`]), so vectors
    /// computed for another layout are recomputed rather than misread.
    pub fn embedding_model(&self) -> Option<String> {
        self.embedder.as_ref().map(|e| {
            format!(
                "{}#{}",
                e.model_for(EmbedMode::Passage),
                kefu_kb::VECTOR_LAYOUT
            )
        })
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// The index's view of an article.
pub(crate) fn doc(a: &Article) -> ArticleDoc {
    ArticleDoc {
        workspace_id: a.workspace_id.0,
        article_id: a.id.0,
        external_id: a.external_id.clone(),
        title: a.content.title.clone(),
        questions: a.content.questions.clone(),
        body: a.content.body.clone(),
        tags: a.content.tags.clone(),
        locale: a.content.locale.clone(),
        version: a.version,
    }
}

/// The article (and passage) a search hit stands for.
pub(crate) fn article_ref(h: &kefu_kb::Hit) -> ArticleRef {
    ArticleRef {
        article_id: ArticleId(h.article_id),
        external_id: h.external_id.clone(),
        title: h.title.clone(),
        anchor: h.anchor.clone(),
    }
}

impl Services {
    /// Brings this replica's index up to date for these articles, from the
    /// database: searchable ones are (re)indexed, the rest removed.
    pub async fn refresh_articles(&self, ws: WorkspaceId, ids: &[ArticleId]) -> ServiceResult<()> {
        let kb = &self.knowledge;
        let found = self.store.articles_by_id(ws, ids).await?;
        let indexed = kb.index.versions(ws.0);
        let mut upsert = Vec::new();
        let mut remove: Vec<uuid::Uuid> = ids.iter().map(|i| i.0).collect();
        for a in &found {
            if a.is_searchable() {
                remove.retain(|r| *r != a.id.0);
                if indexed.get(&a.id.0) != Some(&a.version) {
                    upsert.push(doc(a));
                }
            }
        }
        if !upsert.is_empty() {
            kb.index.upsert(&upsert).map_err(internal)?;
        }
        let remove: Vec<_> = remove
            .into_iter()
            .filter(|r| indexed.contains_key(r))
            .collect();
        if !remove.is_empty() {
            kb.index.remove(ws.0, &remove).map_err(internal)?;
        }
        for a in &found {
            if !a.is_searchable() {
                kb.index.remove_vector(ws.0, a.id.0);
            }
        }
        if let Some(model) = kb.embedding_model().as_deref() {
            let live: HashMap<_, _> = found
                .iter()
                .filter(|a| a.is_searchable())
                .map(|a| (a.id, a.version))
                .collect();
            for e in self.store.embeddings(ws, model, Some(ids)).await? {
                match live.get(&e.article_id) {
                    Some(v) if *v == e.version => {
                        kb.index.set_vectors(ws.0, e.article_id.0, e.vectors)
                    }
                    _ => kb.index.remove_vector(ws.0, e.article_id.0),
                }
            }
            kb.kick.notify_one();
        }
        Ok(())
    }

    /// After a change committed here: index it now, tell the other replicas.
    pub(crate) async fn knowledge_changed(&self, ws: WorkspaceId, ids: Vec<ArticleId>) {
        if let Err(e) = self.refresh_articles(ws, &ids).await {
            tracing::error!(workspace = %ws, error = %e, "could not index changed articles");
        }
        self.bus.publish(
            &Topic::Knowledge,
            Arc::new(Event::KnowledgeChanged {
                workspace_id: ws,
                articles: ids,
                synonyms: false,
            }),
        );
    }

    /// Makes the index hold exactly the workspace's published articles at
    /// their current versions (and their current vectors) and its synonym
    /// groups; returns how many articles were (re)indexed.
    pub async fn reconcile_workspace(&self, ws: WorkspaceId) -> ServiceResult<usize> {
        let kb = &self.knowledge;
        self.refresh_synonyms(ws).await?;
        let published = self.store.published_articles(ws).await?;
        let indexed = kb.index.versions(ws.0);
        let stale: Vec<ArticleDoc> = published
            .iter()
            .filter(|a| indexed.get(&a.id.0) != Some(&a.version))
            .map(doc)
            .collect();
        for chunk in stale.chunks(500) {
            kb.index.upsert(chunk).map_err(internal)?;
        }
        let live: HashMap<_, _> = published.iter().map(|a| (a.id.0, a.version)).collect();
        let gone: Vec<_> = indexed
            .keys()
            .filter(|id| !live.contains_key(id))
            .copied()
            .collect();
        if !gone.is_empty() {
            kb.index.remove(ws.0, &gone).map_err(internal)?;
        }
        if let Some(model) = kb.embedding_model().as_deref() {
            for e in self.store.embeddings(ws, model, None).await? {
                if live.get(&e.article_id.0) == Some(&e.version) {
                    kb.index.set_vectors(ws.0, e.article_id.0, e.vectors);
                }
            }
            kb.kick.notify_one();
        }
        Ok(stale.len())
    }

    /// [`Self::reconcile_workspace`] for every workspace (at start and by
    /// `kefu kb reindex`).
    pub async fn reconcile_knowledge(&self) -> ServiceResult<usize> {
        let mut n = 0;
        for ws in self.store.list_workspace_ids().await? {
            n += self.reconcile_workspace(ws).await?;
        }
        Ok(n)
    }

    /// Follows other replicas' knowledge changes until cancelled.
    pub async fn follow_knowledge(&self, cancel: CancellationToken) {
        let mut rx = self.bus.subscribe(&Topic::Knowledge);
        let mut resyncs = self.bus.resyncs();
        let mut resyncing = true;
        loop {
            let ev = tokio::select! {
                _ = cancel.cancelled() => return,
                ev = rx.recv() => ev,
                // The bus lost events (an outage of the shared bus): the
                // same repair as after a lag.
                changed = resyncs.changed(), if resyncing => match changed {
                    Ok(()) => Err(tokio::sync::broadcast::error::RecvError::Lagged(0)),
                    Err(_) => {
                        resyncing = false;
                        continue;
                    }
                },
            };
            match ev {
                Ok(ev) => {
                    if let Event::KnowledgeChanged {
                        workspace_id,
                        articles,
                        synonyms,
                    } = &*ev
                    {
                        if !articles.is_empty() {
                            if let Err(e) = self.refresh_articles(*workspace_id, articles).await {
                                tracing::warn!(error = %e, "could not refresh changed articles");
                            }
                        }
                        if *synonyms {
                            if let Err(e) = self.refresh_synonyms(*workspace_id).await {
                                tracing::warn!(error = %e, "could not refresh synonym groups");
                            }
                        }
                    }
                }
                // Missed some: repair everything from the database.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    if let Err(e) = self.reconcile_knowledge().await {
                        tracing::warn!(error = %e, "could not reconcile the knowledge index");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Computes missing article vectors until cancelled: wakes on changes
    /// and every minute; backs off (doubling, up to five minutes) while the
    /// endpoint fails. Returns at once when no endpoint is configured.
    pub async fn run_embedder(&self, cancel: CancellationToken) {
        let kb = &self.knowledge;
        let model = kb.embedding_model();
        let (Some(embedder), Some(model)) = (&kb.embedder, model.as_deref()) else {
            return;
        };
        let first = Duration::from_secs(kb.config.embed_retry_secs.max(1));
        let mut backoff = first;
        loop {
            match self.embed_pass(embedder, model).await {
                Ok(0) => {
                    backoff = first;
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = kb.kick.notified() => {}
                        _ = tokio::time::sleep(Duration::from_secs(60)) => {}
                    }
                }
                Ok(_) if cancel.is_cancelled() => return,
                Ok(_) => backoff = first,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = backoff.as_secs(), "embedding articles failed");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(300));
                }
            }
        }
    }

    /// One batch of missing vectors; returns how many articles got theirs.
    async fn embed_pass(&self, embedder: &EmbeddingsClient, model: &str) -> ServiceResult<usize> {
        let batch = self
            .store
            .articles_missing_embedding(model, self.knowledge.config.embed_batch.max(1) as i64)
            .await?;
        let mut changed: HashMap<WorkspaceId, Vec<ArticleId>> = HashMap::new();
        let mut outcome = Ok(batch.len());
        for a in &batch {
            let started = std::time::Instant::now();
            let result = tracing::Instrument::instrument(
                embedder.embed(
                    &self.knowledge.index.vector_texts(&doc(a)),
                    EmbedMode::Passage,
                ),
                tracing::info_span!("embeddings.passage"),
            )
            .await;
            let status = match &result {
                Ok(_) => "ok",
                Err(kefu_ai::AiError::Timeout) => "timeout",
                Err(_) => "error",
            };
            self.metrics
                .embed_call("passage", status, started.elapsed());
            let vectors = match result {
                Ok(v) => v,
                Err(e) => {
                    outcome = Err(internal(e));
                    break;
                }
            };
            let e = kefu_domain::kb::ArticleEmbedding {
                article_id: a.id,
                version: a.version,
                model: model.to_string(),
                vectors,
            };
            if let Err(e) = self.store.put_embedding(a.workspace_id, &e).await {
                outcome = Err(e.into());
                break;
            }
            changed.entry(a.workspace_id).or_default().push(a.id);
        }
        // Announce what was stored, even when the batch stopped half-way.
        for (ws, ids) in changed {
            self.knowledge_changed(ws, ids).await;
        }
        outcome
    }
}
