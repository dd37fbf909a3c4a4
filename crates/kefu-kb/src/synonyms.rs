//! Per-workspace synonym groups, applied to queries.
//!
//! Chinese customer-service teams keep lists of words their visitors use
//! for the same thing (退货/退款, 发票/开票, 快递/物流). A group is a list of
//! terms; when a query contains every word of one term, the words of the
//! group's other terms are added to the query at [`WEIGHT`] of a typed
//! word, so an article that says 退货 is found by a question about 退款
//! while an article that uses the visitor's own word still ranks first.
//!
//! Expansion happens at query time only: editing the list re-indexes
//! nothing and takes effect on the next question. Terms are analysed like
//! everything else (normalised, segmented, stemmed), so `Refunds` in the
//! list matches "refund" in a question.

use std::collections::HashMap;

use crate::analyzer::analyze;
use crate::AnalyzerOptions;

/// Weight of an added synonym relative to a word the visitor typed.
pub const WEIGHT: f32 = 0.8;

/// Limits, so that a pasted dictionary cannot make every query huge.
pub const MAX_GROUPS: usize = 2_000;
pub const MAX_TERMS_PER_GROUP: usize = 20;

/// One analysed term: its words and its Han bigrams.
#[derive(Debug, Clone)]
struct Term {
    words: Vec<String>,
    bigrams: Vec<String>,
}

/// A workspace's analysed synonym groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct Synonyms {
    groups: Vec<Vec<Term>>,
    /// The groups a word opens: each term's first word → its groups, so a
    /// search looks only at the groups its own words can trigger, not the
    /// whole list.
    by_word: HashMap<String, Vec<usize>>,
}

/// Query tokens added by expansion, with their weights.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Expansion {
    pub words: Vec<(String, f32)>,
    pub bigrams: Vec<(String, f32)>,
}

impl Synonyms {
    pub(crate) fn new(groups: &[Vec<String>], opts: &AnalyzerOptions) -> Synonyms {
        let groups = groups
            .iter()
            .take(MAX_GROUPS)
            .map(|g| {
                g.iter()
                    .take(MAX_TERMS_PER_GROUP)
                    .map(|t| {
                        let tok = analyze(t, opts);
                        Term {
                            words: tok.words,
                            bigrams: tok.bigrams,
                        }
                    })
                    .filter(|t| !t.words.is_empty())
                    .collect::<Vec<_>>()
            })
            .filter(|g: &Vec<Term>| g.len() >= 2)
            .collect::<Vec<_>>();
        let mut by_word: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, g) in groups.iter().enumerate() {
            for t in g {
                let v = by_word.entry(t.words[0].clone()).or_default();
                if v.last() != Some(&i) {
                    v.push(i);
                }
            }
        }
        Synonyms { groups, by_word }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The words (and bigrams) to add to a query whose words are `words`.
    pub(crate) fn expand(&self, words: &[(String, f32)]) -> Expansion {
        let has = |w: &String| words.iter().any(|(q, _)| q == w);
        let mut out = Expansion::default();
        let push = |v: &mut Vec<(String, f32)>, t: &String| {
            if !has(t) && !v.iter().any(|(x, _)| x == t) {
                v.push((t.clone(), WEIGHT));
            }
        };
        let mut candidates: Vec<usize> = words
            .iter()
            .filter_map(|(w, _)| self.by_word.get(w))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for g in candidates.into_iter().map(|i| &self.groups[i]) {
            if !g.iter().any(|t| t.words.iter().all(has)) {
                continue;
            }
            for t in g.iter().filter(|t| !t.words.iter().all(has)) {
                t.words.iter().for_each(|w| push(&mut out.words, w));
                t.bigrams.iter().for_each(|b| push(&mut out.bigrams, b));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(words: &[&str]) -> Vec<(String, f32)> {
        words.iter().map(|w| (w.to_string(), 1.0)).collect()
    }

    #[test]
    fn a_term_in_the_query_brings_its_group() {
        let s = Synonyms::new(
            &[
                vec!["退货".into(), "退款".into()],
                vec!["发票".into(), "开票".into()],
            ],
            &AnalyzerOptions::default(),
        );
        let e = s.expand(&q(&["退款", "多久"]));
        assert_eq!(e.words, vec![("退货".to_string(), WEIGHT)]);
        assert_eq!(e.bigrams, vec![("退货".to_string(), WEIGHT)]);
        assert_eq!(s.expand(&q(&["物流"])), Expansion::default());
    }

    #[test]
    fn english_terms_are_stemmed_and_multiword_terms_need_all_words() {
        let s = Synonyms::new(
            &[vec!["Refunds".into(), "money back".into()]],
            &AnalyzerOptions::default(),
        );
        let e = s.expand(&q(&["refund", "time"]));
        assert_eq!(
            e.words,
            vec![("money".to_string(), WEIGHT), ("back".to_string(), WEIGHT)]
        );
        // Only one word of "money back": no expansion.
        assert!(s.expand(&q(&["money"])).words.is_empty());
        assert_eq!(
            s.expand(&q(&["money", "back"])).words,
            vec![("refund".to_string(), WEIGHT)]
        );
    }

    #[test]
    fn groups_of_one_and_empty_terms_are_ignored() {
        let s = Synonyms::new(
            &[vec!["退款".into()], vec!["".into(), "的".into()]],
            &AnalyzerOptions::default(),
        );
        assert!(s.is_empty());
    }
}
