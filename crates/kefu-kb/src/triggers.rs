//! Handoff triggers, checked on the visitor's message before retrieval.
//!
//! * [`Trigger::ExplicitRequest`]: the visitor asks for a person ("转人工",
//!   "人工客服", "真人", "human", "real person", "talk to someone", …) or
//!   uses one of the workspace's extra phrases.
//! * [`Trigger::NegativeSentiment`]: complaints, insults and urgent refund
//!   demands ("投诉", "骗子", "马上退款", "scam", "refund now", …).
//!
//! Text is normalised first ([`normalize`]: full-width, case, traditional →
//! simplified), so "轉人工" and "ＨＵＭＡＮ" match too. Latin-script phrases
//! match on word boundaries ("agent" matches "an agent please" and "agents",
//! not "agenda" or "reagent"); Han phrases match as substrings, except after
//! a negation such as "不用" / "不需要" ("不需要人工" is not a request).

use serde::{Deserialize, Serialize};

use crate::text::normalize;
use crate::AnalyzerOptions;

/// Why a message goes straight to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    ExplicitRequest,
    NegativeSentiment,
}

const EXPLICIT: &[&str] = &[
    "转人工",
    "人工客服",
    "人工服务",
    "人工坐席",
    "人工",
    "找客服",
    "真人",
    "客服人员",
    "接人工",
    "活人",
    "找人工",
    "human",
    "humans",
    "agent",
    "agents",
    "live agent",
    "real person",
    "real human",
    "talk to someone",
    "speak to someone",
    "speak with someone",
    "talk to somebody",
    "talk to a person",
    "speak to a person",
    "representative",
];

/// "人工" inside these words is not a request for a person.
const EXPLICIT_EXCEPTIONS: &[&str] = &["人工智能", "人工费", "人工成本", "人工湖", "人工合成"];

const NEGATIVE: &[&str] = &[
    "投诉",
    "骗子",
    "骗人",
    "诈骗",
    "欺诈",
    "垃圾",
    "马上退款",
    "立刻退款",
    "立即退款",
    "赶紧退款",
    "退钱",
    "还钱",
    "举报",
    "差评",
    "坑人",
    "坑爹",
    "黑店",
    "太差",
    "气死",
    "无语",
    "恶心",
    "消协",
    "12315",
    "曝光",
    "起诉",
    "律师",
    "滚蛋",
    "去死",
    "什么破",
    "垃圾服务",
    "scam",
    "scammer",
    "scammers",
    "fraud",
    "ridiculous",
    "refund now",
    "refund immediately",
    "money back now",
    "terrible",
    "awful",
    "worst",
    "useless",
    "unacceptable",
    "disgusting",
    "pathetic",
    "ripoff",
    "rip off",
    "rip-off",
    "complaint",
    "complain",
    "sue",
    "lawyer",
    "fed up",
    "wtf",
    "angry",
    "furious",
];

const NEGATIONS: &[&str] = &["不用", "不要", "不需要", "无需", "别", "不找", "不是"];

/// Returns the trigger in `text`, if any. `extra_phrases` (workspace
/// configuration) count as explicit requests. Explicit requests win over
/// negative sentiment.
pub fn detect(text: &str, extra_phrases: &[String]) -> Option<Trigger> {
    let opts = AnalyzerOptions::default();
    let mut norm = normalize(text, &opts);
    for x in EXPLICIT_EXCEPTIONS {
        norm = norm.replace(x, " ");
    }
    let words = latin_words(&norm);
    let hit = |p: &str| matches(&norm, &words, &normalize(p, &opts));
    let explicit = EXPLICIT.iter().any(|p| hit(p))
        || extra_phrases
            .iter()
            .any(|p| !p.trim().is_empty() && hit(p.trim()));
    if explicit {
        return Some(Trigger::ExplicitRequest);
    }
    if NEGATIVE.iter().any(|p| hit(p)) {
        return Some(Trigger::NegativeSentiment);
    }
    None
}

fn latin_words(norm: &str) -> Vec<&str> {
    norm.split(|c: char| !(c.is_ascii_alphanumeric() || c == '\'' || c == '-'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect()
}

fn matches(norm: &str, words: &[&str], phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    if phrase.chars().all(|c| c.is_ascii() && c != ' ')
        && !phrase.contains(' ')
        && phrase.chars().any(|c| c.is_ascii_alphabetic())
    {
        // Single Latin word: whole-word match.
        return words.contains(&phrase);
    }
    if phrase.is_ascii() {
        let p: Vec<&str> = latin_words(phrase);
        return !p.is_empty() && words.windows(p.len()).any(|w| w == p.as_slice());
    }
    // Han (or mixed) phrase: substring, unless negated right before it.
    let mut from = 0;
    while let Some(i) = norm[from..].find(phrase) {
        let at = from + i;
        let before: String = norm[..at]
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !NEGATIONS
            .iter()
            .any(|n| before.ends_with(n) || before.contains(n))
        {
            return true;
        }
        from = at + phrase.len();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_requests() {
        for t in [
            "转人工",
            "我要人工客服！",
            "轉人工",
            "能找客服吗",
            "让真人来",
            "I want a HUMAN",
            "Can I talk to an agent?",
            "real person please",
            "let me talk to someone",
            "representative",
            "ＡＧＥＮＴ",
        ] {
            assert_eq!(detect(t, &[]), Some(Trigger::ExplicitRequest), "{t}");
        }
    }

    #[test]
    fn not_requests() {
        for t in [
            "what is on the agenda",
            "reagent prices",
            "人工智能是什么",
            "不需要人工，谢谢",
            "how do refunds work",
            "退款要多久",
            "humanity",
        ] {
            assert_eq!(detect(t, &[]), None, "{t}");
        }
    }

    #[test]
    fn negative_sentiment() {
        for t in [
            "我要投诉",
            "你们是骗子",
            "垃圾服务",
            "马上退款！",
            "this is a scam",
            "Ridiculous.",
            "refund NOW",
            "骗子！！",
        ] {
            assert_eq!(detect(t, &[]), Some(Trigger::NegativeSentiment), "{t}");
        }
        assert_eq!(detect("scampi recipe", &[]), None);
        assert_eq!(detect("投诉人工", &[]), Some(Trigger::ExplicitRequest));
    }

    #[test]
    fn extra_phrases() {
        let extra = vec!["找店长".to_string(), "escalate".to_string()];
        assert_eq!(detect("我要找店長", &extra), Some(Trigger::ExplicitRequest));
        assert_eq!(
            detect("please ESCALATE this", &extra),
            Some(Trigger::ExplicitRequest)
        );
        assert_eq!(detect("escalator broken", &extra), None);
        assert_eq!(detect("anything", &["  ".to_string()]), None);
    }
}
