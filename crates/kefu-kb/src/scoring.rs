//! Scoring helpers for [`crate::search`]: BM25 arithmetic for the query's
//! self score, the coverage features of the confidence model, and the
//! lexical/semantic fusion.
//!
//! All lexical quantities are on query-independent scales: the raw BM25 of
//! an article is divided by the query's *self score* (what the query would
//! score against a stored question identical to itself), and the coverage
//! features are shares of IDF mass in [0, 1] — so they mean the same in a
//! workspace of 20 articles and in one of 20,000.

use std::collections::HashMap;

use uuid::Uuid;

use crate::search::{Fusion, SearchParams};
use crate::stats::{slot, term_key, ArticleEntry, Part, WsStats};

const K1: f32 = 1.2;
const B: f32 = 0.75;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cand {
    pub lex: f32,
    pub rank_lex: f32,
    pub sem: Option<f32>,
    pub fused: f32,
    /// Best lexical passage, and the passage of the best vector row.
    pub passage: Option<usize>,
    pub sem_passage: Option<usize>,
    /// The best lexical sub-document is the title or a question.
    pub via_question: bool,
}

/// Query tokens with their counts, in first-seen order.
pub(crate) fn counted(tokens: Vec<String>) -> Vec<(String, f32)> {
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
pub(crate) fn bm25(idf: f32, tf: f32, len: f32, avg: f32) -> f32 {
    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg))
}

/// The score the query would get against a question sub-document identical
/// to itself — the query-independent scale of lexical scores.
pub(crate) fn self_score(
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
pub(crate) fn coverage(stats: &WsStats, words: &[(String, f32)], e: &ArticleEntry) -> f32 {
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
pub(crate) fn doc_coverage(stats: &WsStats, words: &[(String, f32)], e: &ArticleEntry) -> f32 {
    let s = slot(Part::Question, false);
    let mut best = 0.0f32;
    let asked: Vec<u64> = words.iter().map(|(w, _)| term_key(w)).collect();
    for sd in e.subdocs.iter().filter(|sd| sd.part != Part::Body) {
        let (mut hit, mut all) = (0.0, 0.0);
        for &k in sd.words.keys() {
            let idf = stats.idf_key(k, s);
            all += idf;
            if asked.contains(&k) {
                hit += idf;
            }
        }
        if all > 0.0 {
            best = best.max(hit / all);
        }
    }
    best
}

/// IDF-weighted share of the query words found in one passage (with its
/// heading) or in the title — "this passage is about what was asked".
pub(crate) fn passage_coverage(
    stats: &WsStats,
    words: &[(String, f32)],
    e: &ArticleEntry,
    passage: usize,
) -> f32 {
    let s = slot(Part::Question, false);
    let sub = e.subdocs.iter().find(|sd| sd.passage == Some(passage));
    let title = e.subdocs.first().filter(|sd| sd.part == Part::Title);
    let (mut hit, mut all) = (0.0, 0.0);
    for (t, c) in words {
        let idf = stats.idf(t, s) * c;
        all += idf;
        let found = |sd: Option<&crate::stats::SubDoc>| sd.is_some_and(|sd| sd.words.contains(t));
        if found(sub) || found(title) {
            hit += idf;
        }
    }
    if all > 0.0 {
        hit / all
    } else {
        0.0
    }
}

/// Matched query words weighted by IDF relative to the maximum IDF.
pub(crate) fn matched(stats: &WsStats, words: &[(String, f32)], e: &ArticleEntry) -> f32 {
    let s = slot(Part::Question, false);
    let max = stats.idf("\u{0}", s).max(1e-3);
    words
        .iter()
        .filter(|(t, _)| e.words.contains(t))
        .map(|(t, _)| stats.idf(t, s) / max)
        .sum()
}

pub(crate) fn fuse(
    cands: &mut HashMap<Uuid, Cand>,
    p: &SearchParams,
    semantic: bool,
    (lo, hi): (f32, f32),
) {
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
