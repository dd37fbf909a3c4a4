//! Passages: an article body cut into pieces of about one answer each.
//!
//! Imported documentation has long bodies (a manual section of a few
//! thousand characters, an API table); matching a short question against
//! the whole body lets every common word of a long text count, and
//! answering with "the start of the article" rarely shows the part that
//! answers. So each body is split:
//!
//! 1. at Markdown headings (`#` … `######`): each section keeps its
//!    heading, which is indexed with every passage of the section (the
//!    heading is usually the best summary of what the text answers);
//! 2. inside a section, at blank lines and line ends (a fenced code block
//!    stays one unit), and the units are packed greedily into passages of
//!    at most [`PassageParams::max`] size units;
//! 3. a unit longer than that is cut at sentence ends (`。！？；.!?;`), and a
//!    sentence longer still at the size limit;
//! 4. each passage after the first of a section starts with the last unit
//!    of the one before when that unit is short (≤ [`PassageParams::overlap`]),
//!    so an answer that straddles a cut is found from either side;
//! 5. a trailing passage smaller than [`PassageParams::min`] is merged
//!    into the one before it.
//!
//! **Size units** put both scripts on one scale: a Han character counts 1,
//! a Latin word (letter/digit run) counts 1.6 — so the default maximum of
//! 400 units is about 400 Chinese characters or 250 English words, the
//! sizes commonly used for retrieval passages. The defaults were chosen by
//! measurement across the evaluation sets (`examples/tune --passages`);
//! `docs/benchmarks.md` has the sweep.
//!
//! Each passage has an **anchor**: the GitHub-style slug of its section's
//! heading (`退款规则` → `退款规则`, `Refund rules` → `refund-rules`), with
//! `-2`, `-3` … for the second and later passages of a section, or `p1`,
//! `p2` … for passages before any heading. Anchors are unique within an
//! article and stable as long as the text before them does not change.

use crate::markdown::strip_markdown;
use crate::text::is_cjk;

/// Passage size settings, in size units (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassageParams {
    /// Upper bound of a passage.
    pub max: f32,
    /// A last passage smaller than this is merged into the previous one.
    pub min: f32,
    /// The previous passage's last unit is repeated when at most this big.
    pub overlap: f32,
}

impl Default for PassageParams {
    fn default() -> Self {
        PassageParams {
            max: 400.0,
            min: 60.0,
            overlap: 80.0,
        }
    }
}

/// One passage of an article body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// Unique within the article (see the module docs).
    pub anchor: String,
    /// The heading of the section the passage belongs to, plain text.
    pub heading: Option<String>,
    /// Plain text (Markdown stripped), lines joined by `\n`.
    pub text: String,
}

impl Passage {
    /// The heading (if any) and the text, on separate lines.
    pub fn full_text(&self) -> String {
        match &self.heading {
            Some(h) if self.text.is_empty() => h.clone(),
            Some(h) => format!("{h}\n{}", self.text),
            None => self.text.clone(),
        }
    }
}

/// The size of `text` in size units: Han characters count 1, Latin words
/// 1.6.
pub fn size(text: &str) -> f32 {
    let mut units = 0.0;
    let mut in_word = false;
    for c in text.chars() {
        if is_cjk(c) {
            units += 1.0;
            in_word = false;
        } else if c.is_alphanumeric() {
            if !in_word {
                units += 1.6;
            }
            in_word = true;
        } else {
            in_word = false;
        }
    }
    units
}

/// Splits a Markdown body into passages with the default sizes.
pub fn split(body: &str) -> Vec<Passage> {
    split_with(body, &PassageParams::default())
}

struct Section {
    heading: Option<String>,
    /// Units of Markdown: a line, or a whole fenced code block.
    units: Vec<String>,
}

fn heading_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let hashes = t.bytes().take_while(|&b| b == b'#').count();
    if (1..=6).contains(&hashes) {
        let rest = &t[hashes..];
        if rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t') {
            let h = rest.trim().trim_end_matches('#').trim();
            return (!h.is_empty()).then_some(h);
        }
    }
    None
}

fn sections(body: &str) -> Vec<Section> {
    let mut out = vec![Section {
        heading: None,
        units: Vec::new(),
    }];
    let mut fence: Option<String> = None;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if let Some(code) = fence.as_mut() {
            code.push('\n');
            code.push_str(line);
            if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
                let done = fence.take().unwrap_or_default();
                if let Some(s) = out.last_mut() {
                    s.units.push(done);
                }
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(line.to_string());
            continue;
        }
        if let Some(h) = heading_of(line) {
            out.push(Section {
                heading: Some(strip_markdown(h)),
                units: Vec::new(),
            });
            continue;
        }
        if !trimmed.is_empty() {
            if let Some(s) = out.last_mut() {
                s.units.push(line.to_string());
            }
        }
    }
    if let (Some(code), Some(s)) = (fence, out.last_mut()) {
        s.units.push(code);
    }
    out.retain(|s| s.heading.is_some() || !s.units.is_empty());
    out
}

/// Cuts plain text at sentence ends into pieces of at most `max` units
/// (a sentence longer than that is cut at the limit).
fn cut_long(text: &str, max: f32) -> Vec<String> {
    let mut sentences: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        cur.push(c);
        let end = matches!(c, '。' | '！' | '？' | '；' | '\n')
            || (matches!(c, '.' | '!' | '?' | ';')
                && chars.get(i + 1).is_none_or(|n| n.is_whitespace()));
        if end {
            sentences.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        sentences.push(cur);
    }
    let mut out: Vec<String> = Vec::new();
    let mut piece = String::new();
    for s in sentences {
        if size(&s) > max {
            // A single over-long sentence: cut at the size limit.
            if !piece.trim().is_empty() {
                out.push(std::mem::take(&mut piece));
            }
            let mut chunk = String::new();
            for c in s.chars() {
                chunk.push(c);
                if size(&chunk) >= max && (is_cjk(c) || c.is_whitespace()) {
                    out.push(std::mem::take(&mut chunk));
                }
            }
            if !chunk.trim().is_empty() {
                out.push(chunk);
            }
            continue;
        }
        if !piece.is_empty() && size(&piece) + size(&s) > max {
            out.push(std::mem::take(&mut piece));
        }
        piece.push_str(&s);
    }
    if !piece.trim().is_empty() {
        out.push(piece);
    }
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// GitHub-style heading slug: lower case, letters (any script), digits,
/// `-` and `_` kept, spaces become `-`, everything else dropped.
pub fn slug(heading: &str) -> String {
    let mut s = String::new();
    for c in heading.trim().chars() {
        if c.is_alphanumeric() || c == '-' || c == '_' {
            s.extend(c.to_lowercase());
        } else if c.is_whitespace() && !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

/// Splits a Markdown body into passages (see the module docs).
pub fn split_with(body: &str, p: &PassageParams) -> Vec<Passage> {
    let max = p.max.max(20.0);
    let mut out: Vec<Passage> = Vec::new();
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    let mut unique = |base: String| -> String {
        if used.insert(base.clone()) {
            return base;
        }
        (2..)
            .map(|n| format!("{base}-{n}"))
            .find(|a| used.insert(a.clone()))
            .unwrap_or(base)
    };
    let mut untitled = 0;
    for sec in sections(body) {
        // Plain-text units, long ones cut at sentence ends.
        let mut units: Vec<String> = Vec::new();
        for u in &sec.units {
            let plain = strip_markdown(u);
            if plain.trim().is_empty() {
                continue;
            }
            if size(&plain) > max {
                units.extend(cut_long(&plain, max));
            } else {
                units.push(plain);
            }
        }
        let mut texts: Vec<String> = Vec::new();
        let mut cur: Vec<&str> = Vec::new();
        let mut cur_size = 0.0;
        for u in &units {
            let s = size(u);
            if !cur.is_empty() && cur_size + s > max {
                texts.push(cur.join("\n"));
                let last = *cur.last().unwrap_or(&"");
                let ls = size(last);
                cur.clear();
                cur_size = 0.0;
                if ls <= p.overlap && ls + s <= max {
                    cur.push(last);
                    cur_size = ls;
                }
            }
            cur.push(u);
            cur_size += s;
        }
        if !cur.is_empty() {
            let tail = cur.join("\n");
            if size(&tail) < p.min && !texts.is_empty() {
                // Too small to stand alone: merge into the previous one
                // (skipping a repeated overlap unit).
                let prev = texts.last_mut().expect("not empty");
                for u in cur {
                    if !prev.ends_with(u) {
                        prev.push('\n');
                        prev.push_str(u);
                    }
                }
            } else {
                texts.push(tail);
            }
        }
        if texts.is_empty() {
            // A heading with no text of its own still names the section.
            if sec.heading.is_none() {
                continue;
            }
            texts.push(String::new());
        }
        for (i, text) in texts.into_iter().enumerate() {
            let base = match &sec.heading {
                Some(h) => {
                    let s = slug(h);
                    let s = if s.is_empty() { "section".into() } else { s };
                    if i == 0 {
                        s
                    } else {
                        format!("{s}-{}", i + 1)
                    }
                }
                None => {
                    untitled += 1;
                    format!("p{untitled}")
                }
            };
            out.push(Passage {
                anchor: unique(base),
                heading: sec.heading.clone(),
                text,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_put_both_scripts_on_one_scale() {
        assert_eq!(size("退款规则"), 4.0);
        assert!((size("refund rules apply") - 4.8).abs() < 1e-4);
        assert!((size("Form.Item 的值") - (3.2 + 2.0)).abs() < 1e-4);
    }

    #[test]
    fn short_bodies_are_one_passage() {
        let p = split("退款会在 3 个工作日内原路退回。\n如有疑问请联系客服。");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].anchor, "p1");
        assert!(p[0].text.contains("原路退回") && p[0].text.contains("联系客服"));
        assert!(split("").is_empty());
        assert!(split("\n\n   \n").is_empty());
    }

    #[test]
    fn headings_start_sections_with_slugged_unique_anchors() {
        let body = "intro line\n## 退款规则\n七天无理由退货。\n## Refund rules\nWithin 7 days.\n## Refund rules\nAgain.";
        let p = split(body);
        let anchors: Vec<&str> = p.iter().map(|x| x.anchor.as_str()).collect();
        assert_eq!(
            anchors,
            ["p1", "退款规则", "refund-rules", "refund-rules-2"]
        );
        assert_eq!(p[1].heading.as_deref(), Some("退款规则"));
        assert_eq!(p[1].text, "七天无理由退货。");
    }

    #[test]
    fn long_chinese_sections_are_cut_at_sentences_within_the_limit() {
        let sentence = "退款申请提交后，系统会在一个工作日内审核并通知您结果。";
        let body = format!("## 退款\n{}", sentence.repeat(60));
        let p = split(&body);
        assert!(p.len() >= 3, "{}", p.len());
        for x in &p {
            assert!(size(&x.text) <= 400.0, "{}", size(&x.text));
            assert!(x.text.ends_with('。'), "cut mid-sentence: {}", x.text);
        }
        assert_eq!(p[0].anchor, "退款");
        assert_eq!(p[1].anchor, "退款-2");
        let total: usize = p.iter().map(|x| x.text.matches("退款申请").count()).sum();
        assert!(total >= 60, "text lost: {total}");
    }

    #[test]
    fn long_english_paragraphs_pack_with_overlap() {
        let paras: Vec<String> = (0..30)
            .map(|i| {
                format!("Paragraph {i} explains one step of the refund process in some detail.")
            })
            .collect();
        let p = split(&paras.join("\n\n"));
        assert!(p.len() >= 2);
        for x in &p {
            let words = x.text.split_whitespace().count();
            assert!(words <= 250, "{words} words");
        }
        // The second passage repeats the last paragraph of the first.
        let last_of_first = p[0].text.lines().last().unwrap();
        assert!(p[1].text.starts_with(last_of_first), "{}", p[1].text);
    }

    #[test]
    fn one_enormous_line_is_cut_at_the_limit() {
        let p = split(&"无标点的超长文本".repeat(200));
        assert!(p.len() >= 4);
        assert!(p.iter().all(|x| size(&x.text) <= 401.0));
    }

    #[test]
    fn code_fences_stay_together_and_are_stripped() {
        let body = "Run this:\n\n```sh\ncargo run\ncargo test\n```\nDone.";
        let p = split(body);
        assert_eq!(p.len(), 1);
        assert!(p[0].text.contains("cargo run\ncargo test"), "{}", p[0].text);
        assert!(!p[0].text.contains("```"));
    }

    #[test]
    fn a_small_tail_merges_into_the_previous_passage() {
        let long = "word ".repeat(250);
        let p = split(&format!("{long}\nshort tail."));
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].text.ends_with("short tail."));
    }
}
