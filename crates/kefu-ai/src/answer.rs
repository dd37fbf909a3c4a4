//! The answer protocol between Kefu and the model, independent of HTTP:
//! the prompt (numbered passages, personal data masked), `[n]` citations
//! mapped back to passages, refusal detection, and the gate that keeps a
//! `NO_ANSWER` from reaching the customer while the text streams in.

use crate::mask::mask_pii;
use serde::{Deserialize, Serialize};

/// What the model replies, exactly, when the passages do not answer.
pub const NO_ANSWER: &str = "NO_ANSWER";

/// A knowledge-base passage given to the model; numbered `[1]`, `[2]` …
/// in the prompt, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passage {
    pub title: String,
    pub text: String,
}

const SYSTEM_EN: &str = "You are a customer-service assistant. Answer the customer's question \
using ONLY the numbered passages in the message. Do not use any other knowledge and do not \
make anything up. After each statement cite the passage it comes from by its number in square \
brackets, e.g. [1] or [2][3]. Be concise: a few sentences, in the language of the question. \
If the passages do not answer the question, reply exactly NO_ANSWER and nothing else. \
Placeholders such as [phone], [email], [id] and [card] stand for hidden personal data; \
never try to restore them.";

const SYSTEM_ZH: &str = "你是客服助手。只能根据消息中编号的资料回答客户的问题，\
不要使用资料以外的任何知识，也不要编造。每句话后用方括号标注所依据资料的编号，例如 [1] 或 [2][3]。\
回答要简洁，几句话即可，使用提问所用的语言。\
如果资料不能回答这个问题，只回复 NO_ANSWER，不要输出任何其他内容。\
[phone]、[email]、[id]、[card] 等占位符表示已隐藏的个人信息，不要尝试还原。";

/// The system prompt: Chinese for `zh…` locales, English otherwise.
pub(crate) fn system_prompt(locale: &str) -> &'static str {
    if is_zh(locale) {
        SYSTEM_ZH
    } else {
        SYSTEM_EN
    }
}

fn is_zh(locale: &str) -> bool {
    locale
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case("zh"))
}

/// The user message: the numbered passages, then the question; personal
/// data masked, each passage's text cut to `max_chars` characters.
pub(crate) fn user_message(
    question: &str,
    passages: &[Passage],
    locale: &str,
    max_chars: usize,
) -> String {
    let (head, ask) = if is_zh(locale) {
        ("资料：", "问题：")
    } else {
        ("Passages:", "Question:")
    };
    let mut out = format!("{head}\n\n");
    for (i, p) in passages.iter().enumerate() {
        let title = mask_pii(p.title.trim());
        let text = mask_pii(p.text.trim());
        out.push_str(&format!(
            "[{}] {}\n{}\n\n",
            i + 1,
            title,
            cut(&text, max_chars)
        ));
    }
    out.push_str(&format!("{ask} {}", mask_pii(question.trim())));
    out
}

/// The first `max` characters of `s`, with `…` when something was cut.
fn cut(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", s[..at].trim_end()),
        None => s.to_owned(),
    }
}

/// The citations in `text`: `[n]`, `[n, m]` and the full-width `【n】`,
/// mapped to 0-based passage indexes (deduplicated, in order of first use).
/// Returns the text with markers outside `1..=passages` removed, too.
pub(crate) fn citations(text: &str, passages: usize) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut cited = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(['[', '【']) {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        let close_char = if after.starts_with('[') { ']' } else { '】' };
        let open_len = after.chars().next().map_or(1, char::len_utf8);
        let Some(marker) = parse_marker(&after[open_len..], close_char) else {
            out.push_str(&after[..open_len]);
            rest = &after[open_len..];
            continue;
        };
        let (numbers, len) = marker;
        let valid: Vec<usize> = numbers
            .iter()
            .copied()
            .filter(|&n| (1..=passages).contains(&n))
            .collect();
        for n in &valid {
            if !cited.contains(&(n - 1)) {
                cited.push(n - 1);
            }
        }
        let whole = &after[..open_len + len];
        if valid.len() == numbers.len() {
            out.push_str(whole);
        } else if !valid.is_empty() {
            let list: Vec<String> = valid.iter().map(ToString::to_string).collect();
            out.push_str(&format!(
                "{}{}{}",
                &after[..open_len],
                list.join(", "),
                close_char
            ));
        } else if out.ends_with(' ') {
            out.pop();
        }
        rest = &after[open_len + len..];
    }
    out.push_str(rest);
    (out, cited)
}

/// `1]`, `2, 3]`, `1，2】` after the opening bracket: the numbers and the
/// byte length up to and including the closing bracket.
fn parse_marker(s: &str, close: char) -> Option<(Vec<usize>, usize)> {
    let end = s.find(close)?;
    let inner = &s[..end];
    if inner.is_empty() || inner.len() > 40 {
        return None;
    }
    let mut numbers = Vec::new();
    for part in inner.split([',', '，', '、']) {
        let part = part.trim();
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        numbers.push(part.parse().ok()?);
    }
    Some((numbers, end + close.len_utf8()))
}

/// Marks a model may wrap its reply in (`**NO_ANSWER**`, `"NO_ANSWER"`).
fn strip_marks(s: &str) -> &str {
    s.trim_start()
        .trim_start_matches(['*', '`', '"', '\'', '“', '「'])
}

fn starts_with_no_answer(s: &str) -> bool {
    s.get(..NO_ANSWER.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(NO_ANSWER))
}

/// A prefix of `NO_ANSWER`, still undecided.
fn could_become_no_answer(s: &str) -> bool {
    s.len() < NO_ANSWER.len()
        && NO_ANSWER
            .get(..s.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(s))
}

const REFUSALS: &[&str] = &[
    "i don't know",
    "i do not know",
    "i'm not sure",
    "i am not sure",
    "i cannot answer",
    "i can't answer",
    "unable to answer",
    "cannot be answered",
    "no relevant information",
    "not enough information",
    "do not contain",
    "don't contain",
    "does not contain",
    "doesn't contain",
    "not mentioned",
    "无法回答",
    "不知道",
    "无法确定",
    "没有相关信息",
    "没有相关内容",
    "没有提到",
    "没有提及",
    "未提及",
    "未提到",
    "没有找到",
    "不能回答",
];

/// A refusal: `NO_ANSWER` (however wrapped), an empty reply, or an
/// "I don't know" / "无法回答" form with no citation.
pub(crate) fn is_refusal(text: &str, cited: &[usize]) -> bool {
    let t = strip_marks(text).trim();
    if t.is_empty() || starts_with_no_answer(t) {
        return true;
    }
    if !cited.is_empty() {
        return false;
    }
    let lower = t.to_lowercase().replace('’', "'");
    lower.contains(&NO_ANSWER.to_lowercase()) || REFUSALS.iter().any(|r| lower.contains(r))
}

/// Holds back the start of the streamed text until it is clear that it is
/// not `NO_ANSWER`, then lets everything through; a refusal never reaches
/// the callback. Leading whitespace is dropped.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    pending: String,
    state: GateState,
}

#[derive(Debug, Default, PartialEq, Eq)]
enum GateState {
    #[default]
    Undecided,
    Answer,
    Refusal,
}

impl Gate {
    pub(crate) fn push(&mut self, piece: &str, out: &mut (dyn FnMut(&str) + Send)) {
        match self.state {
            GateState::Answer => out(piece),
            GateState::Refusal => {}
            GateState::Undecided => {
                self.pending.push_str(piece);
                let t = strip_marks(&self.pending);
                if starts_with_no_answer(t) {
                    self.state = GateState::Refusal;
                } else if !could_become_no_answer(t) {
                    self.state = GateState::Answer;
                    out(self.pending.trim_start());
                    self.pending.clear();
                }
            }
        }
    }

    /// End of stream: lets out what was held back, unless it is a refusal
    /// or nothing but whitespace and marks.
    pub(crate) fn finish(&mut self, out: &mut (dyn FnMut(&str) + Send)) {
        if self.state == GateState::Undecided && !strip_marks(&self.pending).trim().is_empty() {
            out(self.pending.trim_start());
        }
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_map_to_passages() {
        let (text, cited) = citations(
            "Returns take 7 days [2]. Refunds go back to the card [1][2].",
            3,
        );
        assert_eq!(cited, vec![1, 0]);
        assert_eq!(
            text,
            "Returns take 7 days [2]. Refunds go back to the card [1][2]."
        );
        let (_, cited) = citations("见【3】和[1, 2]，另见[3，1]", 3);
        assert_eq!(cited, vec![2, 0, 1]);
    }

    #[test]
    fn markers_outside_the_list_are_dropped() {
        let (text, cited) = citations("Yes [4]. No [0] [2, 7]. Array[i] and [x] stay [].", 2);
        assert_eq!(cited, vec![1]);
        assert_eq!(text, "Yes. No [2]. Array[i] and [x] stay [].");
        let (text, cited) = citations("没有资料[9]。", 1);
        assert_eq!((text.as_str(), cited.len()), ("没有资料。", 0));
    }

    #[test]
    fn refusals() {
        for t in [
            "NO_ANSWER",
            "  NO_ANSWER.",
            "**NO_ANSWER**",
            "no_answer",
            "",
            "I don't know.",
            "Sorry, I don’t know the answer.",
            "The passages do not contain this.",
            "抱歉，我不知道。",
            "资料中没有相关信息，无法回答。",
            "抱歉。NO_ANSWER",
        ] {
            assert!(is_refusal(t, &[]), "{t:?}");
        }
        assert!(!is_refusal("Refunds take 7 days [1].", &[0]));
        assert!(!is_refusal(
            "I don't know the exact date, but returns take 7 days [1].",
            &[0]
        ));
        assert!(!is_refusal("您好，退货需在7天内申请。", &[]));
        assert!(is_refusal("NO_ANSWER [1]", &[0]));
    }

    #[test]
    fn the_prompt_numbers_masks_and_cuts() {
        let passages = vec![
            Passage {
                title: "Returns".into(),
                text: "Call 13812345678 to return.".into(),
            },
            Passage {
                title: "Long".into(),
                text: "一二三四五六七八九十".into(),
            },
        ];
        let msg = user_message(
            "My card 4111111111111111 was charged",
            &passages,
            "en-US",
            5,
        );
        assert_eq!(
            msg,
            "Passages:\n\n[1] Returns\nCall…\n\n[2] Long\n一二三四五…\n\nQuestion: My card [card] was charged"
        );
        let msg = user_message("电话13812345678", &passages, "zh-CN", 1500);
        assert!(msg.starts_with("资料："), "{msg}");
        assert!(
            msg.contains("Call [phone] to return.") && msg.ends_with("问题： 电话[phone]"),
            "{msg}"
        );
        assert!(system_prompt("zh-Hans").contains("NO_ANSWER"));
        assert!(system_prompt("en").contains("ONLY"));
        assert_ne!(system_prompt("zh"), system_prompt("fr"));
    }

    fn gated(pieces: &[&str]) -> String {
        let mut seen = String::new();
        let mut out = |s: &str| seen.push_str(s);
        let mut gate = Gate::default();
        for p in pieces {
            gate.push(p, &mut out);
        }
        gate.finish(&mut out);
        seen
    }

    #[test]
    fn the_gate_holds_back_refusals_only() {
        assert_eq!(gated(&["NO", "_ANS", "WER"]), "");
        assert_eq!(gated(&[" ", "**NO_", "ANSWER**"]), "");
        assert_eq!(gated(&["\n", "Re", "turns [1]."]), "Returns [1].");
        assert_eq!(gated(&["N", "o problem [1]"]), "No problem [1]");
        assert_eq!(gated(&["NO"]), "NO");
        assert_eq!(gated(&["  "]), "");
        assert_eq!(gated(&["退货", "需7天[1]"]), "退货需7天[1]");
    }
}
