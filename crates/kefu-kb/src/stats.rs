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

use std::collections::{HashMap, HashSet};

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

/// One analysed sub-document.
#[derive(Debug, Clone)]
pub(crate) struct SubDoc {
    pub part: Part,
    /// For a body sub-document: its index in [`ArticleEntry::passages`].
    pub passage: Option<usize>,
    pub tokens: Tokens,
}

/// An indexed article, as held in memory.
#[derive(Debug, Clone)]
pub(crate) struct ArticleEntry {
    pub doc: ArticleDoc,
    /// The body's passages (original case), for snippets and answers.
    pub passages: Vec<Passage>,
    pub subdocs: Vec<SubDoc>,
    /// Every word token of the article (all parts).
    pub words: HashSet<String>,
}

impl ArticleEntry {
    pub(crate) fn analyze(
        doc: ArticleDoc,
        opts: &AnalyzerOptions,
        pp: &PassageParams,
    ) -> ArticleEntry {
        let mut subdocs = vec![SubDoc {
            part: Part::Title,
            passage: None,
            tokens: analyze(&doc.title, opts),
        }];
        for q in doc.questions.iter().filter(|q| !q.trim().is_empty()) {
            subdocs.push(SubDoc {
                part: Part::Question,
                passage: None,
                tokens: analyze(q, opts),
            });
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
            subdocs.push(SubDoc {
                part: Part::Body,
                passage: Some(i),
                tokens: analyze(&text, opts),
            });
        }
        let words = subdocs
            .iter()
            .flat_map(|s| s.tokens.words.iter().cloned())
            .collect();
        ArticleEntry {
            doc,
            passages,
            subdocs,
            words,
        }
    }

    /// The texts that get one embedding vector each, in row order: the
    /// title, each alternative question, then each passage (heading and
    /// text).
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
    pub df: HashMap<String, [u32; 6]>,
}

impl WsStats {
    fn apply(&mut self, e: &ArticleEntry, add: bool) {
        for sd in &e.subdocs {
            self.num_docs = step(self.num_docs, add);
            for (bigram, toks) in [(false, &sd.tokens.words), (true, &sd.tokens.bigrams)] {
                let s = slot(sd.part, bigram);
                self.field_docs[s] = step(self.field_docs[s], add);
                let n = toks.len() as u64;
                self.field_tokens[s] = if add {
                    self.field_tokens[s] + n
                } else {
                    self.field_tokens[s].saturating_sub(n)
                };
                let uniq: HashSet<&String> = toks.iter().collect();
                for t in uniq {
                    let e = self.df.entry(t.clone()).or_insert([0; 6]);
                    e[s] = if add {
                        e[s] + 1
                    } else {
                        e[s].saturating_sub(1)
                    };
                    if !add && e.iter().all(|&c| c == 0) {
                        self.df.remove(t.as_str());
                    }
                }
            }
        }
    }

    /// BM25 inverse document frequency of `token` in the given slot.
    pub(crate) fn idf(&self, token: &str, slot: usize) -> f32 {
        let n = self.num_docs.max(1) as f32;
        let df = self.df.get(token).map_or(0, |d| d[slot]) as f32;
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
        let df = self.stats.df.get(text).map_or(0, |d| d[s]);
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
