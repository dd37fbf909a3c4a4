//! The analyzer: normalised text → index/query tokens.
//!
//! Text is first [`normalize`]d (full-width, case, optional traditional →
//! simplified), then cut into runs:
//!
//! * **Han runs** are segmented with jieba in *search mode* (`cut_for_search`
//!   with the HMM on, so `中华人民共和国` also yields `中华`, `人民` …). As a
//!   fallback for words jieba's dictionary does not know (product names,
//!   slang, segmentation disagreements between a question and an article),
//!   every run also yields its overlapping character **bigrams**, which go to
//!   separate, lower-weighted fields.
//! * **Letter/digit runs** are English-stemmed (Snowball, `refunds`,
//!   `refunding` → `refund`); digits stay as they are.
//!
//! Very common function words (English and Chinese) are dropped from the word
//! stream: they carry no topic and, left in, make unrelated questions look
//! similar. The same function is used for documents and queries, and the
//! analyzer's [`FINGERPRINT`] is recorded with an on-disk index so a change
//! of analyzer rebuilds it.

use std::sync::LazyLock;

use jieba_rs::Jieba;
use rust_stemmers::{Algorithm, Stemmer};

use crate::text::{is_cjk, normalize};
use crate::AnalyzerOptions;

/// Changes whenever tokenisation changes in a way that invalidates an index.
pub const FINGERPRINT: &str =
    "kefu-kb-analyzer-4;jieba-0.11-search-hmm;bigram;word-pairs;snowball-en;stop-3";

static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);
static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Forces the (≈100 ms) jieba dictionary load now rather than on first use.
pub fn warm_up() {
    LazyLock::force(&JIEBA);
    LazyLock::force(&STEMMER);
}

/// Tokens of one piece of text.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Tokens {
    /// jieba words and stemmed English words (stop words removed), in order.
    pub words: Vec<String>,
    /// Overlapping Han character bigrams (and lone Han characters), and
    /// pairs of adjacent Latin words (`"version number"`, stop words
    /// skipped): the proximity evidence, in the lower-weighted fields.
    pub bigrams: Vec<String>,
}

/// Normalises and tokenises `text`.
pub fn analyze(text: &str, opts: &AnalyzerOptions) -> Tokens {
    analyze_normalized(&normalize(text, opts))
}

/// Tokenises text that has already been through [`normalize`].
pub fn analyze_normalized(norm: &str) -> Tokens {
    let mut toks = Tokens::default();
    let mut run = String::new();
    let mut run_is_cjk = false;
    // The previous Latin word, for word pairs; cleared at a clause end.
    let mut prev: Option<String> = None;
    for c in norm.chars() {
        let cjk = is_cjk(c);
        let word = cjk || c.is_alphanumeric() || (c == '\'' && !run.is_empty() && !run_is_cjk);
        if !word || (cjk != run_is_cjk && !run.is_empty()) {
            flush(&mut run, run_is_cjk, &mut toks, &mut prev);
        }
        if word {
            run_is_cjk = cjk;
            run.push(c);
        } else if matches!(c, '\n' | ',' | ';' | ':' | '!' | '?' | '(' | ')') {
            // A clause ends: no word pair across it. (The text is
            // normalised, so full-width ，；：！？ and 、 arrive as these. A
            // full stop, `.` or 。, is deliberately not a boundary: the
            // figures were measured with pairs running across it, and
            // changing that needs a new FINGERPRINT and a new measurement.)
            prev = None;
        }
    }
    flush(&mut run, run_is_cjk, &mut toks, &mut prev);
    toks
}

fn flush(run: &mut String, cjk: bool, toks: &mut Tokens, prev: &mut Option<String>) {
    if run.is_empty() {
        return;
    }
    if cjk {
        *prev = None;
        for t in JIEBA.cut_for_search(run, true) {
            if !ZH_STOP.contains(&t.word) {
                toks.words.push(t.word.to_string());
            }
        }
        let chars: Vec<char> = run.chars().collect();
        if chars.len() == 1 {
            toks.bigrams.push(run.clone());
        }
        for w in chars.windows(2) {
            toks.bigrams.push(w.iter().collect());
        }
    } else {
        let word = run.trim_end_matches('\'');
        let word = word.strip_suffix("'s").unwrap_or(word);
        if !word.is_empty() && !EN_STOP.contains(&word) {
            let stem = STEMMER.stem(word).into_owned();
            if let Some(p) = prev.replace(stem.clone()) {
                toks.bigrams.push(format!("{p} {stem}"));
            }
            toks.words.push(stem);
        }
    }
    run.clear();
}

/// English function words (a short, conventional list: articles, pronouns,
/// auxiliaries, prepositions, conjunctions).
const EN_STOP: &[&str] = &[
    "a",
    "an",
    "the",
    "and",
    "or",
    "but",
    "if",
    "of",
    "to",
    "in",
    "on",
    "at",
    "by",
    "for",
    "with",
    "from",
    "as",
    "into",
    "about",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "am",
    "do",
    "does",
    "did",
    "doing",
    "have",
    "has",
    "had",
    "having",
    "i",
    "me",
    "my",
    "we",
    "our",
    "us",
    "you",
    "your",
    "he",
    "him",
    "his",
    "she",
    "her",
    "it",
    "its",
    "they",
    "them",
    "their",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "so",
    "than",
    "too",
    "very",
    "just",
    "also",
    "can",
    "could",
    "would",
    "should",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "please",
    "thank",
    "thanks",
    "ok",
    "okay",
    "yes",
    "no",
    "not",
    "any",
    "some",
    "all",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "why",
    "then",
    "s",
    "t",
    "d",
    "ll",
    "re",
    "ve",
    "m",
    "n't",
    "don't",
    "i'm",
    "it's",
    "that's",
    "what's",
    "let",
    "know",
    "tell",
    "need",
    "want",
    "like",
    "get",
    "got",
    "great",
    "good",
    "sure",
    "well",
    "oh",
    "hi",
    "hello",
    "how",
    "when",
    "where",
    "whether",
    "way",
    "possible",
    "anyone",
    "someone",
    "something",
    "ever",
    "else",
    "really",
];

/// Chinese function words and conversational fillers.
const ZH_STOP: &[&str] = &[
    "的",
    "了",
    "吗",
    "呢",
    "啊",
    "吧",
    "呀",
    "么",
    "哦",
    "嗯",
    "哈",
    "嘛",
    "啦",
    "哪",
    "是",
    "我",
    "你",
    "您",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "他们",
    "这",
    "那",
    "这个",
    "那个",
    "就",
    "都",
    "也",
    "还",
    "又",
    "和",
    "与",
    "及",
    "或",
    "在",
    "请",
    "请问",
    "一下",
    "帮",
    "帮我",
    "能",
    "能不能",
    "可以",
    "可不可以",
    "想",
    "想要",
    "要",
    "知道",
    "告诉",
    "好",
    "好的",
    "嗯嗯",
    "谢谢",
    "麻烦",
    "给",
    "吧",
    "下",
    "个",
    "些",
    "一些",
    "有点",
    "什么",
    "怎么",
    "怎样",
    "如何",
    "为什么",
    "有没有",
    "没有",
    "不",
    "是不是",
    "对",
    "行",
    "那么",
    "这么",
    "然后",
    "所以",
    "但是",
    "不过",
    "因为",
    "如果",
    "问",
    "说",
    "查",
    "查一下",
    "看",
    "看看",
    "为何",
    "是否",
    "能否",
    "哪些",
    "哪个",
    "怎么办",
    "怎么样",
    "时候",
    "应该",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Tokens {
        analyze(s, &AnalyzerOptions::default())
    }

    #[test]
    fn chinese_search_mode_and_bigrams() {
        let t = a("怎么退款");
        assert!(t.words.contains(&"退款".to_string()), "{t:?}");
        assert!(!t.words.contains(&"怎么".to_string()));
        assert_eq!(t.bigrams, vec!["怎么", "么退", "退款"]);
    }

    #[test]
    fn english_stemming_and_stop_words() {
        let t = a("Refunds, REFUNDING and the refund's status");
        assert_eq!(t.words, vec!["refund", "refund", "refund", "status"]);
        // Adjacent words pair up (stop words skipped); a comma ends a clause.
        assert_eq!(t.bigrams, vec!["refund refund", "refund status"]);
        assert_eq!(a("beta test, version").bigrams, vec!["beta test"]);
    }

    #[test]
    fn mixed_script_splits_runs() {
        let t = a("ＶＩＰ会员");
        assert_eq!(t.words[0], "vip");
        assert!(t.words.contains(&"会员".to_string()));
    }
}
