//! # kefu-kb — knowledge-base retrieval for the Kefu bot
//!
//! A pure library (no database, no HTTP): the service layer feeds it the
//! published articles of each workspace and asks it, per visitor message,
//! *which article answers this, and how sure are we?*
//!
//! ## Pipeline
//!
//! 1. **Normalise** ([`text::normalize`]): full-width → half-width, case
//!    folding, optional traditional → simplified Chinese.
//! 2. **Analyse** (`analyzer`): jieba search-mode words plus Han character
//!    bigrams (fallback for unknown words) for Chinese; Snowball stems for
//!    English; function words dropped.
//! 3. **Lexical retrieval** (tantivy): every article is indexed as several
//!    sub-documents — its title, *each* alternative question, and its body
//!    (Markdown stripped, tags appended) — in one index shared by all
//!    workspaces. A query is a `BooleanQuery` of `TermQuery` SHOULD clauses
//!    over word and bigram fields with per-field boosts (question > title >
//!    body; bigrams below words), and a MUST clause on the workspace
//!    (tenant isolation). BM25 statistics (document frequencies, average
//!    lengths) are **per workspace**, so one tenant's content never changes
//!    another's scores. An article scores as its best sub-document.
//! 4. **Lexical normalisation**: the best sub-document score is divided by
//!    the query's *self score* — the BM25 score the query would get against
//!    a question identical to itself — which puts lexical scores on a
//!    query-independent 0‥~1 scale.
//! 5. **Semantic retrieval** (optional): exact cosine over the workspace's
//!    in-memory, L2-normalised article vectors (one or several per
//!    article; an article scores as its best vector).
//! 6. **Fusion**: see [`search`] for the combination that was chosen and the
//!    alternatives that were measured.
//! 7. **Confidence** ([`confidence`]): a logistic model over query-independent
//!    features (normalised score, gap to the runner-up, IDF-weighted query
//!    coverage, cosine and its gap, lexical/semantic agreement), fitted to
//!    predict "the top hit is the right article", so 0.8 means the same thing
//!    in every workspace.
//! 8. **Decision** ([`decide`]): answer ≥ `answer` threshold, suggest the top
//!    three ≥ `suggest` threshold, hand off otherwise; explicit handoff
//!    requests and strong negative sentiment are caught before retrieval by
//!    [`triggers::detect`].
//!
//! [`eval`] computes hit@k, MRR, answer precision, coverage and correct
//! off-topic handoff for a labelled question set (`kefu kb eval`).
#![forbid(unsafe_code)]

pub mod analyzer;
pub mod confidence;
pub mod eval;
mod index;
pub mod markdown;
mod scoring;
pub mod search;
mod snippet;
mod stats;
pub mod text;
pub mod triggers;
mod vectors;

pub use confidence::{decide, Decision, Thresholds};
pub use index::KbIndex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How text is normalised before analysis. Part of the index fingerprint:
/// reopening an on-disk index with different options rebuilds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnalyzerOptions {
    /// Map traditional Chinese characters to simplified ones (default on).
    pub fold_traditional: bool,
}

impl Default for AnalyzerOptions {
    fn default() -> Self {
        AnalyzerOptions {
            fold_traditional: true,
        }
    }
}

/// One published article to index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleDoc {
    pub workspace_id: Uuid,
    pub article_id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    /// Alternative phrasings of the question the article answers.
    pub questions: Vec<String>,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    /// "zh-CN", "en", …
    pub locale: String,
    pub version: i64,
}

/// A retrieval request.
#[derive(Debug, Clone, Copy)]
pub struct SearchQuery<'a> {
    pub text: &'a str,
    /// The visitor's locale, if known: articles in another language are
    /// slightly demoted (never filtered out).
    pub locale: Option<&'a str>,
    /// The query's embedding (same model as the article vectors).
    pub vector: Option<&'a [f32]>,
    /// Maximum number of hits (0 is treated as 1).
    pub limit: usize,
}

impl<'a> SearchQuery<'a> {
    /// A lexical-only query for `text` returning up to 5 hits.
    pub fn text(text: &'a str) -> Self {
        SearchQuery {
            text,
            locale: None,
            vector: None,
            limit: 5,
        }
    }
}

/// The ranked hits for a query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Retrieval {
    pub hits: Vec<Hit>,
    /// Calibrated confidence of `hits[0]`; 0 when there are no hits.
    pub confidence: f32,
}

/// One ranked article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub article_id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    /// Fused ranking score (higher is better; comparable within one query).
    pub score: f32,
    /// Calibrated probability that this hit is the article asked for.
    pub confidence: f32,
    /// Short plain-text excerpt of the body around matched terms (≤ ~160 chars).
    pub snippet: String,
}

/// Errors of the knowledge-base index.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored article could not be decoded: {0}")]
    Corrupt(String),
    #[error("index lock poisoned")]
    Poisoned,
}
