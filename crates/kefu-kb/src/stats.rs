//! Per-workspace in-memory state: the analysed articles and the BM25
//! statistics of each workspace.
//!
//! tantivy's own BM25 statistics are index-wide; because one index holds every
//! workspace, a large tenant would shift every other tenant's document
//! frequencies and therefore its scores and confidences. Searches instead use
//! [`WsStats`] through tantivy's `Bm25StatisticsProvider` hook, so each
//! workspace is scored as if it were alone in the index. The same state keeps
//! each article's analysed token sets (for query-coverage features) and its
//! plain-text body (for snippets).

use std::collections::HashMap;

use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::Field;
use tantivy::Term;

use crate::analyzer::{analyze, Tokens};
use crate::passages::{split_with, Passage, PassageParams};
use crate::{AnalyzerOptions, ArticleDoc};

/// The three kinds of sub-document an article is split into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Title = 0,
    Question = 1,
    Body = 2,
}

impl Part {
    pub(crate) const ALL: [Part; 3] = [Part::Title, Part::Question, Part::Body];
}

/// A term as the in-memory state keeps it: a 64-bit hash of its text.
///
/// Keeping every token of every passage as its own `String` cost about
/// 1.4 GiB per 10,000 documentation-length articles; a key is 8 bytes and
/// kept once per sub-document. Two distinct terms of one workspace share a
/// key with a probability of about n²/2⁶⁵ (3·10⁻⁸ for a million distinct
/// terms), and the cost of one such collision is a slightly wrong document
/// frequency. The keys live only in memory, so the hash need not be stable
/// across builds.
pub(crate) fn term_key(term: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    term.hash(&mut h);
    h.finish()
}

/// The distinct terms of a token stream, as sorted keys.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TermSet(Box<[u64]>);

impl TermSet {
    pub(crate) fn of<'a>(tokens: impl IntoIterator<Item = &'a String>) -> TermSet {
        Self::from_keys(tokens.into_iter().map(|t| term_key(t)).collect())
    }

    fn from_keys(mut keys: Vec<u64>) -> TermSet {
        keys.sort_unstable();
        keys.dedup();
        TermSet(keys.into_boxed_slice())
    }

    pub(crate) fn contains(&self, term: &str) -> bool {
        self.contains_key(term_key(term))
    }

    pub(crate) fn contains_key(&self, key: u64) -> bool {
        self.0.binary_search(&key).is_ok()
    }

    pub(crate) fn keys(&self) -> &[u64] {
        &self.0
    }
}

/// One analysed sub-document, as kept after indexing: its distinct terms
/// and token counts (for the statistics and the coverage features), not
/// the token streams themselves (those go to tantivy only).
#[derive(Debug, Clone)]
pub(crate) struct SubDoc {
    pub part: Part,
    /// For a body sub-document: its index in [`ArticleEntry::passages`].
    pub passage: Option<usize>,
    pub words: TermSet,
    pub bigrams: TermSet,
    /// Token counts (repeats included) of the word and the bigram field.
    pub lens: [u32; 2],
}

impl SubDoc {
    fn new(part: Part, passage: Option<usize>, tokens: &Tokens) -> SubDoc {
        let len = |v: &Vec<String>| u32::try_from(v.len()).unwrap_or(u32::MAX);
        SubDoc {
            part,
            passage,
            words: TermSet::of(&tokens.words),
            bigrams: TermSet::of(&tokens.bigrams),
            lens: [len(&tokens.words), len(&tokens.bigrams)],
        }
    }
}

/// An indexed article, as held in memory.
#[derive(Debug, Clone)]
pub(crate) struct ArticleEntry {
    /// The article's metadata. After indexing, `body` is emptied: the
    /// passages hold its text, and the tantivy store keeps the whole doc.
    pub doc: ArticleDoc,
    /// The body's passages (original case), for snippets and answers.
    pub passages: Vec<Passage>,
    pub subdocs: Vec<SubDoc>,
    /// Every word of the article (all parts).
    pub words: TermSet,
}

impl ArticleEntry {
    /// The article analysed for the in-memory state, its body dropped.
    pub(crate) fn analyze(
        doc: ArticleDoc,
        opts: &AnalyzerOptions,
        pp: &PassageParams,
    ) -> ArticleEntry {
        let (mut e, _) = Self::analyze_with_tokens(doc, opts, pp);
        e.doc.body = String::new();
        e
    }

    /// The entry (body kept) and each sub-document's token streams, in
    /// the order of [`ArticleEntry::subdocs`], for the tantivy documents.
    pub(crate) fn analyze_with_tokens(
        doc: ArticleDoc,
        opts: &AnalyzerOptions,
        pp: &PassageParams,
    ) -> (ArticleEntry, Vec<Tokens>) {
        let mut tokens = vec![analyze(&doc.title, opts)];
        let mut subdocs = vec![SubDoc::new(Part::Title, None, &tokens[0])];
        for q in doc.questions.iter().filter(|q| !q.trim().is_empty()) {
            let t = analyze(q, opts);
            subdocs.push(SubDoc::new(Part::Question, None, &t));
            tokens.push(t);
        }
        let mut passages = split_with(&doc.body, pp);
        if passages.is_empty() && !doc.tags.is_empty() {
            passages.push(Passage {
                anchor: "p1".into(),
                heading: None,
                text: String::new(),
            });
        }
        for (i, p) in passages.iter().enumerate() {
            // Each passage is indexed with its section heading, and the
            // article's tags go with every passage.
            let mut text = p.full_text();
            for t in &doc.tags {
                text.push('\n');
                text.push_str(t);
            }
            let t = analyze(&text, opts);
            subdocs.push(SubDoc::new(Part::Body, Some(i), &t));
            tokens.push(t);
        }
        let words = TermSet::from_keys(
            subdocs
                .iter()
                .flat_map(|s| s.words.keys().iter().copied())
                .collect(),
        );
        let e = ArticleEntry {
            doc,
            passages,
            subdocs,
            words,
        };
        (e, tokens)
    }

    /// The passage a vector row (of [`vector_texts`]) belongs to.
    pub(crate) fn row_passage(&self, row: usize) -> Option<usize> {
        let questions = self
            .subdocs
            .iter()
            .filter(|s| s.part == Part::Question)
            .count();
        row.checked_sub(1 + questions)
            .filter(|&i| i < self.passages.len())
    }
}

/// The texts of an article that get one vector each (see
/// [`crate::KbIndex::vector_texts`]).
pub(crate) fn vector_texts(doc: &ArticleDoc, passages: &[Passage]) -> Vec<String> {
    let mut out = vec![doc.title.clone()];
    out.extend(
        doc.questions
            .iter()
            .filter(|q| !q.trim().is_empty())
            .cloned(),
    );
    out.extend(passages.iter().map(Passage::full_text));
    out
}

/// Index of a (part, words|bigrams) field in the stats arrays.
pub(crate) fn slot(part: Part, bigram: bool) -> usize {
    part as usize * 2 + usize::from(bigram)
}

/// BM25 statistics of one workspace.
#[derive(Debug, Default, Clone)]
pub(crate) struct WsStats {
    pub num_docs: u64,
    pub field_tokens: [u64; 6],
    pub field_docs: [u64; 6],
    /// Document frequencies per slot, by [`term_key`].
    pub df: HashMap<u64, [u32; 6]>,
}

impl WsStats {
    fn apply(&mut self, e: &ArticleEntry, add: bool) {
        for sd in &e.subdocs {
            self.num_docs = step(self.num_docs, add);
            for (bigram, (set, len)) in [
                (false, (&sd.words, sd.lens[0])),
                (true, (&sd.bigrams, sd.lens[1])),
            ] {
                let s = slot(sd.part, bigram);
                self.field_docs[s] = step(self.field_docs[s], add);
                let n = u64::from(len);
                self.field_tokens[s] = if add {
                    self.field_tokens[s] + n
                } else {
                    self.field_tokens[s].saturating_sub(n)
                };
                for &k in set.keys() {
                    let e = self.df.entry(k).or_insert([0; 6]);
                    e[s] = if add {
                        e[s] + 1
                    } else {
                        e[s].saturating_sub(1)
                    };
                    if !add && e.iter().all(|&c| c == 0) {
                        self.df.remove(&k);
                    }
                }
            }
        }
    }

    /// BM25 inverse document frequency of `token` in the given slot.
    pub(crate) fn idf(&self, token: &str, slot: usize) -> f32 {
        self.idf_key(term_key(token), slot)
    }

    /// [`WsStats::idf`] of a term given by its key.
    pub(crate) fn idf_key(&self, key: u64, slot: usize) -> f32 {
        let n = self.num_docs.max(1) as f32;
        let df = self.df.get(&key).map_or(0, |d| d[slot]) as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    /// Average token count of the slot's field over the sub-documents that
    /// have that field.
    pub(crate) fn avg_len(&self, slot: usize) -> f32 {
        if self.field_docs[slot] == 0 {
            1.0
        } else {
            (self.field_tokens[slot] as f32 / self.field_docs[slot] as f32).max(1.0)
        }
    }
}

fn step(v: u64, add: bool) -> u64 {
    if add {
        v + 1
    } else {
        v.saturating_sub(1)
    }
}

/// Everything indexed for one workspace.
#[derive(Debug, Default, Clone)]
pub(crate) struct WsState {
    pub stats: WsStats,
    pub articles: HashMap<uuid::Uuid, ArticleEntry>,
}

impl WsState {
    pub(crate) fn insert(&mut self, e: ArticleEntry) {
        self.remove(e.doc.article_id);
        self.stats.apply(&e, true);
        self.articles.insert(e.doc.article_id, e);
    }

    pub(crate) fn remove(&mut self, article: uuid::Uuid) {
        if let Some(old) = self.articles.remove(&article) {
            self.stats.apply(&old, false);
        }
    }
}

/// Adapts [`WsStats`] to tantivy's BM25 statistics hook. `slots` maps a
/// tantivy field to its stats slot.
pub(crate) struct StatsProvider<'a> {
    pub stats: &'a WsStats,
    pub slot_of: &'a dyn Fn(Field) -> Option<usize>,
}

impl Bm25StatisticsProvider for StatsProvider<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        // tantivy divides by total_num_docs to get the average length; scale
        // so that the average is over the sub-documents having this field.
        let n = self.stats.num_docs.max(1);
        Ok(match (self.slot_of)(field) {
            Some(s) => (self.stats.avg_len(s) * n as f32).round() as u64,
            None => n,
        })
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.stats.num_docs.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let Some(s) = (self.slot_of)(term.field()) else {
            return Ok(0);
        };
        let value = term.value();
        let Some(text) = value.as_str() else {
            return Ok(0);
        };
        let df = self.stats.df.get(&term_key(text)).map_or(0, |d| d[s]);
        Ok(u64::from(df).min(self.stats.num_docs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_rows_map_to_passages_after_title_and_questions() {
        let doc = ArticleDoc {
            workspace_id: uuid::Uuid::nil(),
            article_id: uuid::Uuid::nil(),
            external_id: None,
            title: "退款".into(),
            questions: vec!["怎么退款".into(), "  ".into(), "退款多久到账".into()],
            body: "## 规则\n七天无理由。\n## 到账\n三个工作日。".into(),
            tags: vec![],
            locale: "zh-CN".into(),
            version: 1,
        };
        let e = ArticleEntry::analyze(doc, &AnalyzerOptions::default(), &PassageParams::default());
        let rows = vector_texts(&e.doc, &e.passages);
        // Title, two non-blank questions, two passages with their headings.
        assert_eq!(rows.len(), 5, "{rows:?}");
        assert_eq!(rows[3], "规则\n七天无理由。");
        assert_eq!(e.row_passage(0), None);
        assert_eq!(e.row_passage(2), None);
        assert_eq!(e.row_passage(3), Some(0));
        assert_eq!(e.row_passage(4), Some(1));
        assert_eq!(e.row_passage(5), None);
    }
}
