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
//! ## Fusion (measured on the zh/en tuning sets, see `examples/tune.rs`)
//! The chosen default, [`Fusion::Linear`], is
//! `fused = lex_weight · lex + (1 − lex_weight) · cos`, with the lexical
//! score on its query-independent self-score scale and the cosine as is —
//! both are absolute scales, so the fused score of one article does not
//! depend on which other articles happen to be in the workspace. Reciprocal
//! rank fusion ([`Fusion::Rrf`]) and per-query min–max scaling of the
//! cosine ([`Fusion::LinearMinMax`]) are kept for comparison.

use std::collections::HashMap;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Term};
use uuid::Uuid;

use crate::analyzer::analyze_normalized;
use crate::confidence::{model_for, Features, Model};
use crate::index::KbIndex;
use crate::stats::{slot, ArticleEntry, Part, StatsProvider, WsState, WsStats};
use crate::text::normalize;
use crate::{Hit, KbError, Retrieval, SearchQuery};

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// How lexical and semantic scores are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// `w·lex + (1−w)·cos` on absolute scales (default).
    Linear,
    /// `w·lex + (1−w)·minmax(cos)` with per-query min–max over the workspace.
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
            fusion: Fusion::LinearMinMax,
            lex_weight: 0.5,
            dcover_weight: 1.0,
            second_weight: 0.2,
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

#[derive(Debug, Clone, Copy, Default)]
struct Cand {
    lex: f32,
    rank_lex: f32,
    sem: Option<f32>,
    fused: f32,
}

/// Query tokens with their counts, in first-seen order.
fn counted(tokens: Vec<String>) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = Vec::new();
    for t in tokens {
        match out.iter_mut().find(|(s, _)| *s == t) {
            Some((_, c)) => *c += 1.0,
            None => out.push((t, 1.0)),
        }
    }
    out
}

/// BM25 of a term occurring `tf` times in a field of length `len`.
fn bm25(idf: f32, tf: f32, len: f32, avg: f32) -> f32 {
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg))
}

/// The score the query would get against a question sub-document identical
/// to itself — the query-independent scale of lexical scores.
fn self_score(
    stats: &WsStats,
    words: &[(String, f32)],
    bigrams: &[(String, f32)],
    w: &[f32; 6],
) -> f32 {
    let mut total = 0.0;
    for (toks, bigram) in [(words, false), (bigrams, true)] {
        let s = slot(Part::Question, bigram);
        let len: f32 = toks.iter().map(|(_, c)| c).sum();
        let avg = stats.avg_len(s);
        for (t, c) in toks {
            total += w[s] * c * bm25(stats.idf(t, s), *c, len, avg);
        }
    }
    total
}

/// IDF-weighted share of the query words present in the article.
fn coverage(stats: &WsStats, words: &[(String, f32)], e: &ArticleEntry) -> f32 {
    let s = slot(Part::Question, false);
    let (mut hit, mut all) = (0.0, 0.0);
    for (t, c) in words {
        let idf = stats.idf(t, s) * c;
        all += idf;
        if e.words.contains(t) {
            hit += idf;
        }
    }
    if all > 0.0 {
        hit / all
    } else {
        0.0
    }
}

/// Best share of one sub-document's IDF mass (title or a question) covered
/// by the query words.
fn doc_coverage(stats: &WsStats, words: &[(String, f32)], e: &ArticleEntry) -> f32 {
    let s = slot(Part::Question, false);
    let mut best = 0.0f32;
    for sd in e.subdocs.iter().filter(|sd| sd.part != Part::Body) {
        let uniq: std::collections::HashSet<&String> = sd.tokens.words.iter().collect();
        let (mut hit, mut all) = (0.0, 0.0);
        for t in uniq {
            let idf = stats.idf(t, s);
            all += idf;
            if words.iter().any(|(w, _)| w == t) {
                hit += idf;
            }
        }
        if all > 0.0 {
            best = best.max(hit / all);
        }
    }
    best
}

/// Matched query words weighted by IDF relative to the maximum IDF.
fn matched(stats: &WsStats, words: &[(String, f32)], e: &ArticleEntry) -> f32 {
    let s = slot(Part::Question, false);
    let max = stats.idf("\u{0}", s).max(1e-3);
    words
        .iter()
        .filter(|(t, _)| e.words.contains(t))
        .map(|(t, _)| stats.idf(t, s) / max)
        .sum()
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
        let words = counted(toks.words);
        let bigrams = counted(toks.bigrams);

        let mut cands: HashMap<Uuid, Cand> = HashMap::new();
        let self_sc = self_score(&ws.stats, &words, &bigrams, &p.weights);
        if self_sc > 0.0 {
            for (id, raw) in self.lexical(workspace, ws, &words, &bigrams, p)? {
                let c = cands.entry(id).or_default();
                c.lex = raw / self_sc;
                c.rank_lex = c.lex;
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
        for (id, s) in &sem_all {
            if ws.articles.contains_key(id) {
                cands.entry(*id).or_default().sem = Some(*s);
            }
        }
        if cands.is_empty() {
            return Ok(Detailed::default());
        }
        fuse(&mut cands, p, semantic);
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
            let f = Features {
                lex: c.lex,
                lex_gap: other(c.lex, lex1, lex2),
                cover: coverage(&ws.stats, &words, e),
                dcover: doc_coverage(&ws.stats, &words, e),
                matched: matched(&ws.stats, &words, e),
                semantic,
                sem: c.sem.unwrap_or(0.0),
                sem_gap: c.sem.map_or(-0.5, |s| other(s, sem1, sem2)),
                agree: f32::from(Some(id) == top_lex && Some(id) == top_sem),
            };
            let model = match (semantic, p.lexical_model, p.hybrid_model) {
                (false, Some(m), _) | (true, _, Some(m)) => m,
                _ => *model_for(&f),
            };
            out.retrieval.hits.push(Hit {
                article_id: id,
                external_id: e.doc.external_id.clone(),
                title: e.doc.title.clone(),
                score: c.fused,
                confidence: model.predict(&f),
                snippet: crate::snippet::snippet(e, &norm, &words, &self.opts),
            });
            out.features.push(f);
        }
        out.retrieval.confidence = out.retrieval.hits.first().map_or(0.0, |h| h.confidence);
        Ok(out)
    }

    /// Best raw BM25 score per article (best sub-document).
    fn lexical(
        &self,
        workspace: Uuid,
        ws: &WsState,
        words: &[(String, f32)],
        bigrams: &[(String, f32)],
        p: &SearchParams,
    ) -> Result<Vec<(Uuid, f32)>, KbError> {
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
        let mut best: HashMap<Uuid, (f32, f32)> = HashMap::new();
        let mut cols: HashMap<
            u32,
            (
                tantivy::columnar::Column<u64>,
                tantivy::columnar::Column<u64>,
            ),
        > = HashMap::new();
        for (score, addr) in top {
            if !cols.contains_key(&addr.segment_ord) {
                let ff = searcher.segment_reader(addr.segment_ord).fast_fields();
                cols.insert(addr.segment_ord, (ff.u64("a_hi")?, ff.u64("a_lo")?));
            }
            let (hi, lo) = &cols[&addr.segment_ord];
            let (Some(hi), Some(lo)) = (hi.first(addr.doc_id), lo.first(addr.doc_id)) else {
                continue;
            };
            let id = Uuid::from_u64_pair(hi, lo);
            let e = best.entry(id).or_insert((0.0, 0.0));
            if score > e.0 {
                *e = (score, e.0);
            } else if score > e.1 {
                e.1 = score;
            }
        }
        Ok(best
            .into_iter()
            .map(|(id, (a, b))| (id, a + p.second_weight * b))
            .collect())
    }
}

fn fuse(cands: &mut HashMap<Uuid, Cand>, p: &SearchParams, semantic: bool) {
    let w = p.lex_weight;
    if !semantic {
        cands.values_mut().for_each(|c| c.fused = c.rank_lex);
        return;
    }
    match p.fusion {
        Fusion::Linear => cands
            .values_mut()
            .for_each(|c| c.fused = w * c.rank_lex + (1.0 - w) * c.sem.unwrap_or(0.0)),
        Fusion::SemanticOnly => cands
            .values_mut()
            .for_each(|c| c.fused = c.sem.unwrap_or(-1.0) + 1e-3 * c.rank_lex),
        Fusion::LinearMinMax => {
            let sems = cands.values().filter_map(|c| c.sem);
            let (lo, hi) = sems.fold((f32::MAX, f32::MIN), |(l, h), s| (l.min(s), h.max(s)));
            let span = (hi - lo).max(1e-6);
            cands.values_mut().for_each(|c| {
                c.fused = w * c.rank_lex + (1.0 - w) * c.sem.map_or(0.0, |s| (s - lo) / span)
            });
        }
        Fusion::Rrf => {
            let rank = |key: &dyn Fn(&Cand) -> Option<f32>,
                        cands: &HashMap<Uuid, Cand>|
             -> HashMap<Uuid, usize> {
                let mut v: Vec<(Uuid, f32)> = cands
                    .iter()
                    .filter_map(|(id, c)| {
                        key(c)
                            .filter(|s| *s > 0.0 || c.sem.is_some())
                            .map(|s| (*id, s))
                    })
                    .collect();
                v.sort_by(|a, b| b.1.total_cmp(&a.1));
                v.into_iter()
                    .enumerate()
                    .map(|(i, (id, _))| (id, i))
                    .collect()
            };
            let lr = rank(&|c| (c.rank_lex > 0.0).then_some(c.rank_lex), cands);
            let sr = rank(&|c| c.sem, cands);
            for (id, c) in cands.iter_mut() {
                c.fused = lr.get(id).map_or(0.0, |r| 1.0 / (61.0 + *r as f32))
                    + sr.get(id).map_or(0.0, |r| 1.0 / (61.0 + *r as f32));
            }
        }
    }
}
