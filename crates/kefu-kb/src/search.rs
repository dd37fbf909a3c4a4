//! Query execution: lexical retrieval, semantic scoring, fusion, confidence.
//!
//! ## Lexical
//! The query is analysed like the documents. Each distinct word becomes one
//! `TermQuery` per word field and each bigram one per bigram field, boosted
//! by the field weight times the token's count in the query; all of them are
//! SHOULD clauses of a `BooleanQuery` that is intersected with the workspace
//! term (MUST). Scoring uses the workspace's own BM25 statistics. The best
//! [`SearchParams::sub_k`] sub-documents are grouped by article; an article
//! scores as its best sub-document, divided by the query's self score.
//!
//! The lexical *ranking* score adds the best question/title coverage
//! ([`SearchParams::dcover_weight`] · `dcover`) and, if set, a share of
//! the second-best sub-document ([`SearchParams::second_weight`], 0 by
//! default).
//!
//! ## Fusion
//! See the crate docs for the measurements. The default,
//! [`Fusion::LinearMinMax`], is `fused = w · lex_rank + (1 − w) · (cos −
//! min) / (max − min)` with `w = 0.5`, the cosine range taken over the
//! whole workspace (so it does not depend on the embedding model's cosine
//! scale) and the lexical side on its query-independent self-score scale.

use std::collections::HashMap;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Term};
use uuid::Uuid;

use crate::analyzer::analyze_normalized;
use crate::confidence::{model_for, Features, Model};
use crate::index::KbIndex;
use crate::scoring::{
    counted, coverage, doc_coverage, fuse, matched, passage_coverage, self_score, Cand,
};
use crate::stats::{slot, Part, StatsProvider, WsState};
use crate::text::normalize;
use crate::{Hit, KbError, Retrieval, SearchQuery};

/// How lexical and semantic scores are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// `w·lex + (1−w)·cos` on absolute scales (best at w = 0.1 on the
    /// tuning sets, but tied to the embedding model's cosine scale).
    Linear,
    /// `w·lex + (1−w)·minmax(cos)`, min–max over the workspace's cosines for
    /// this query (default, w = 0.5).
    LinearMinMax,
    /// Reciprocal rank fusion, `Σ 1/(60 + rank)`.
    Rrf,
    /// Cosine only (lexical scores still feed the confidence features).
    SemanticOnly,
}

/// Tuning knobs; [`SearchParams::default`] is what [`KbIndex::search`] uses.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchParams {
    /// Field boosts, indexed by (title, title bigrams, question, question
    /// bigrams, body, body bigrams).
    pub weights: [f32; 6],
    /// Number of sub-documents fetched from tantivy before grouping.
    pub sub_k: usize,
    /// Number of best-cosine articles added to the candidates.
    pub sem_k: usize,
    pub fusion: Fusion,
    pub lex_weight: f32,
    /// Lexical ranking score = `lex + dcover_weight · dcover` (see
    /// [`Features::dcover`]).
    pub dcover_weight: f32,
    /// An article's lexical score adds this share of its second-best
    /// sub-document's score (evidence from several phrasings).
    pub second_weight: f32,
    /// Multiplier for articles whose language differs from the query locale.
    pub locale_penalty: f32,
    /// Override the confidence models (for fitting); `None` = built-in.
    pub lexical_model: Option<Model>,
    pub hybrid_model: Option<Model>,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams {
            weights: [1.0, 0.3, 1.0, 0.3, 0.6, 0.2],
            sub_k: 200,
            sem_k: 50,
            fusion: Fusion::LinearMinMax,
            lex_weight: 0.5,
            dcover_weight: 1.0,
            second_weight: 0.0,
            locale_penalty: 0.9,
            lexical_model: None,
            hybrid_model: None,
        }
    }
}

/// A retrieval plus each hit's confidence features (for tuning and
/// diagnostics).
#[derive(Debug, Clone, Default)]
pub struct Detailed {
    pub retrieval: Retrieval,
    pub features: Vec<Features>,
}

fn language(locale: &str) -> &str {
    locale.split(['-', '_']).next().unwrap_or(locale)
}

impl KbIndex {
    /// Ranks the workspace's articles for the query (see the crate docs).
    pub fn search(&self, workspace: Uuid, q: &SearchQuery) -> Result<Retrieval, KbError> {
        Ok(self
            .search_with(workspace, q, &SearchParams::default())?
            .retrieval)
    }

    /// [`KbIndex::search`] with explicit parameters, returning features too.
    pub fn search_with(
        &self,
        workspace: Uuid,
        q: &SearchQuery,
        p: &SearchParams,
    ) -> Result<Detailed, KbError> {
        let state = self.state.read().map_err(|_| KbError::Poisoned)?;
        let Some(ws) = state.get(&workspace) else {
            return Ok(Detailed::default());
        };
        let norm = normalize(q.text, &self.opts);
        let toks = analyze_normalized(&norm);
        let mut words = counted(toks.words);
        let mut bigrams = counted(toks.bigrams);
        // The self score is the typed query's: synonyms may add evidence,
        // never raise the bar.
        let self_sc = self_score(&ws.stats, &words, &bigrams, &p.weights);
        if let Some(syn) = self
            .synonyms
            .read()
            .ok()
            .and_then(|all| all.get(&workspace).map(|s| s.expand(&words)))
        {
            words.extend(syn.words);
            bigrams.extend(syn.bigrams);
        }

        let mut cands: HashMap<Uuid, Cand> = HashMap::new();
        if self_sc > 0.0 {
            for (id, lx) in self.lexical(workspace, ws, &words, &bigrams, p)? {
                let c = cands.entry(id).or_default();
                c.lex = lx.score / self_sc;
                c.rank_lex = c.lex;
                c.passage = lx.passage;
                c.via_question = !lx.best_is_passage;
                if p.dcover_weight != 0.0 {
                    if let Some(e) = ws.articles.get(&id) {
                        c.rank_lex += p.dcover_weight * doc_coverage(&ws.stats, &words, e);
                    }
                }
            }
        }
        let sem_all = q
            .vector
            .map(|v| self.vectors.scores(workspace, v))
            .unwrap_or_default();
        let semantic = !sem_all.is_empty();
        // Only the best `sem_k` articles by cosine (and the lexical
        // candidates) are ranked; the range is taken over the workspace.
        let sem_range = sem_all
            .iter()
            .fold((f32::MAX, f32::MIN), |(l, h), (_, s, _)| {
                (l.min(*s), h.max(*s))
            });
        let sem_k = p.sem_k.max(q.limit).max(1);
        let kth = if sem_all.len() > sem_k {
            let mut v: Vec<f32> = sem_all.iter().map(|x| x.1).collect();
            let (_, kth, _) = v.select_nth_unstable_by(sem_k - 1, |a, b| b.total_cmp(a));
            *kth
        } else {
            f32::MIN
        };
        for (id, s, row) in &sem_all {
            let c = if let Some(c) = cands.get_mut(id) {
                c
            } else if *s >= kth && ws.articles.contains_key(id) {
                cands.entry(*id).or_default()
            } else {
                continue;
            };
            c.sem = Some(*s);
            c.sem_passage = ws.articles.get(id).and_then(|e| e.row_passage(*row));
        }
        if cands.is_empty() {
            return Ok(Detailed::default());
        }
        fuse(&mut cands, p, semantic, sem_range);
        if let Some(loc) = q.locale.map(language) {
            for (id, c) in cands.iter_mut() {
                if ws
                    .articles
                    .get(id)
                    .is_some_and(|e| language(&e.doc.locale) != loc)
                {
                    c.fused *= p.locale_penalty;
                }
            }
        }
        let mut ranked: Vec<(Uuid, Cand)> = cands
            .into_iter()
            .filter(|(id, _)| ws.articles.contains_key(id))
            .collect();
        ranked.sort_by(|a, b| b.1.fused.total_cmp(&a.1.fused).then(a.0.cmp(&b.0)));
        let top_lex = ranked
            .iter()
            .max_by(|a, b| a.1.lex.total_cmp(&b.1.lex))
            .map(|c| c.0);
        let top_sem = ranked
            .iter()
            .filter_map(|c| c.1.sem.map(|s| (c.0, s)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|c| c.0);
        let best_two = |f: &dyn Fn(&Cand) -> f32| -> (f32, f32) {
            let mut v: Vec<f32> = ranked.iter().map(|c| f(&c.1)).collect();
            v.sort_by(|a, b| b.total_cmp(a));
            (
                v.first().copied().unwrap_or(0.0),
                v.get(1).copied().unwrap_or(0.0),
            )
        };
        let (lex1, lex2) = best_two(&|c| c.lex);
        let (sem1, sem2) = best_two(&|c| c.sem.unwrap_or(-1.0));
        let other = |v: f32, b1: f32, b2: f32| if v >= b1 { v - b2 } else { v - b1 };

        let limit = q.limit.max(1);
        let mut out = Detailed::default();
        for (id, c) in ranked.into_iter().take(limit) {
            let e = &ws.articles[&id];
            // The passage to answer with: the embedding's choice when there
            // is one (it reads the passage as a whole), else the lexical
            // best, else the start of the body.
            let pi = c.sem_passage.or(c.passage).unwrap_or(0);
            let passage = e.passages.get(pi);
            let f = Features {
                lex: c.lex,
                lex_gap: other(c.lex, lex1, lex2),
                cover: coverage(&ws.stats, &words, e),
                dcover: doc_coverage(&ws.stats, &words, e),
                matched: matched(&ws.stats, &words, e),
                pcover: passage_coverage(&ws.stats, &words, e, pi),
                rel_gap: {
                    let o = if c.lex >= lex1 { lex2 } else { lex1 };
                    (c.lex - o) / c.lex.max(o).max(1e-6)
                },
                via_question: f32::from(u8::from(c.via_question)),
                semantic,
                sem: c.sem.unwrap_or(0.0),
                sem_gap: c.sem.map_or(-0.5, |s| other(s, sem1, sem2)),
                agree: f32::from(Some(id) == top_lex && Some(id) == top_sem),
            };
            let model = match (semantic, p.lexical_model, p.hybrid_model) {
                (false, Some(m), _) | (true, _, Some(m)) => m,
                _ => model_for(&f).top1,
            };
            if out.retrieval.hits.is_empty() {
                out.retrieval.suggest_confidence = model_for(&f).top3.predict(&f);
            }
            out.retrieval.hits.push(Hit {
                article_id: id,
                external_id: e.doc.external_id.clone(),
                title: e.doc.title.clone(),
                score: c.fused,
                confidence: model.predict(&f),
                snippet: passage
                    .map(|ps| crate::snippet::snippet(&ps.text, &words, &self.opts))
                    .unwrap_or_default(),
                anchor: passage.map(|ps| ps.anchor.clone()),
                passage: passage.map(|ps| ps.full_text()).unwrap_or_default(),
            });
            out.features.push(f);
        }
        out.retrieval.confidence = out.retrieval.hits.first().map_or(0.0, |h| h.confidence);
        // Three hits holding the right one are at least as likely as one.
        out.retrieval.suggest_confidence = out
            .retrieval
            .suggest_confidence
            .max(out.retrieval.confidence);
        Ok(out)
    }

    /// Raw BM25 per article: its best sub-document plus a share of its
    /// second best, and its best passage.
    fn lexical(
        &self,
        workspace: Uuid,
        ws: &WsState,
        words: &[(String, f32)],
        bigrams: &[(String, f32)],
        p: &SearchParams,
    ) -> Result<Vec<(Uuid, LexArticle)>, KbError> {
        let f = &self.fields;
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (toks, bigram) in [(words, false), (bigrams, true)] {
            for part in Part::ALL {
                let s = slot(part, bigram);
                if p.weights[s] <= 0.0 {
                    continue;
                }
                for (t, c) in toks {
                    let tq = TermQuery::new(
                        Term::from_field_text(f.text[s], t),
                        IndexRecordOption::WithFreqs,
                    );
                    should.push((
                        Occur::Should,
                        Box::new(BoostQuery::new(Box::new(tq), p.weights[s] * c)),
                    ));
                }
            }
        }
        if should.is_empty() {
            return Ok(Vec::new());
        }
        let ws_filter = TermQuery::new(
            Term::from_field_text(f.ws, &workspace.to_string()),
            IndexRecordOption::Basic,
        );
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(Box::new(ws_filter), 0.0)),
            ),
            (Occur::Must, Box::new(BooleanQuery::new(should))),
        ]);
        let searcher = self.reader.searcher();
        let slot_of = |fl| f.slot_of(fl);
        let provider = StatsProvider {
            stats: &ws.stats,
            slot_of: &slot_of,
        };
        let top: Vec<(f32, DocAddress)> = searcher.search_with_statistics_provider(
            &query,
            &TopDocs::with_limit(p.sub_k.max(1)).order_by_score(),
            &provider,
        )?;
        #[derive(Default)]
        struct Acc {
            first: f32,
            second: f32,
            first_is_passage: bool,
            passage: Option<(usize, f32)>,
        }
        let mut best: HashMap<Uuid, Acc> = HashMap::new();
        type Cols = (
            tantivy::columnar::Column<u64>,
            tantivy::columnar::Column<u64>,
            tantivy::columnar::Column<u64>,
        );
        let mut cols: HashMap<u32, Cols> = HashMap::new();
        for (score, addr) in top {
            let (hi, lo, sub) = match cols.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    let ff = searcher.segment_reader(addr.segment_ord).fast_fields();
                    v.insert((ff.u64("a_hi")?, ff.u64("a_lo")?, ff.u64("sub")?))
                }
            };
            let (Some(hi), Some(lo)) = (hi.first(addr.doc_id), lo.first(addr.doc_id)) else {
                continue;
            };
            let id = Uuid::from_u64_pair(hi, lo);
            let passage = sub
                .first(addr.doc_id)
                .and_then(|i| ws.articles.get(&id)?.subdocs.get(i as usize)?.passage);
            let e = best.entry(id).or_default();
            if score > e.first {
                e.second = e.first;
                e.first = score;
                e.first_is_passage = passage.is_some();
            } else if score > e.second {
                e.second = score;
            }
            if let Some(pi) = passage {
                if e.passage.is_none_or(|(_, s)| score > s) {
                    e.passage = Some((pi, score));
                }
            }
        }
        Ok(best
            .into_iter()
            .map(|(id, a)| {
                (
                    id,
                    LexArticle {
                        score: a.first + p.second_weight * a.second,
                        passage: a.passage.map(|x| x.0),
                        best_is_passage: a.first_is_passage,
                    },
                )
            })
            .collect())
    }
}

/// An article's lexical result.
pub(crate) struct LexArticle {
    pub score: f32,
    /// Its best-scoring passage, if a passage matched at all.
    pub passage: Option<usize>,
    /// Whether its best sub-document is a passage (not the title or a
    /// question).
    pub best_is_passage: bool,
}
