//! Snippets: a short plain-text excerpt of a passage around the first
//! place where a query word occurs (the longest matched word wins ties), at
//! most [`MAX_CHARS`] characters plus ellipses. Without any match, the start
//! of the passage is used.

use crate::text::normalize;
use crate::AnalyzerOptions;

/// Maximum characters of body text in a snippet (ellipses excluded).
pub const MAX_CHARS: usize = 150;
/// Characters of context kept before the matched word.
const LEAD: usize = 30;

pub(crate) fn snippet(text: &str, words: &[(String, f32)], opts: &AnalyzerOptions) -> String {
    let plain: Vec<char> = text.chars().collect();
    if plain.is_empty() {
        return String::new();
    }
    let norm: Vec<char> = normalize(text, opts).chars().collect();
    // Normalisation maps characters one to one except for rare case
    // expansions; when lengths differ, fall back to the start of the body.
    let pos = if norm.len() == plain.len() {
        let hay: String = norm.iter().collect();
        let mut best: Option<(usize, usize)> = None; // (char position, word length)
        for (w, _) in words {
            if let Some(byte) = hay.find(w.as_str()) {
                let cpos = hay[..byte].chars().count();
                let wl = w.chars().count();
                let better = match best {
                    None => true,
                    Some((p, l)) => cpos < p || (cpos == p && wl > l),
                };
                if better {
                    best = Some((cpos, wl));
                }
            }
        }
        best.map_or(0, |(p, _)| p)
    } else {
        0
    };
    let mut start = pos.saturating_sub(LEAD);
    if plain.len() <= MAX_CHARS {
        start = 0;
    } else if start + MAX_CHARS > plain.len() {
        start = plain.len() - MAX_CHARS;
    }
    let end = (start + MAX_CHARS).min(plain.len());
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let mut last_space = false;
    for &c in &plain[start..end] {
        let c = if c.is_whitespace() { ' ' } else { c };
        if !(c == ' ' && last_space) {
            out.push(c);
        }
        last_space = c == ' ';
    }
    if end < plain.len() {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::strip_markdown;

    fn entry(body: &str) -> String {
        strip_markdown(body)
    }

    #[test]
    fn short_bodies_are_whole_and_markdown_free() {
        let e = entry("**Refunds** take *3 days*.");
        assert_eq!(
            snippet(&e, &[("refund".into(), 1.0)], &AnalyzerOptions::default()),
            "Refunds take 3 days."
        );
    }

    #[test]
    fn long_bodies_are_cut_around_the_match() {
        let body = format!(
            "{} The refund arrives within five days. {}",
            "intro ".repeat(60),
            "outro ".repeat(60)
        );
        let e = entry(&body);
        let s = snippet(&e, &[("refund".into(), 1.0)], &AnalyzerOptions::default());
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("refund arrives"), "{s}");
        assert!(s.chars().count() <= MAX_CHARS + 2);
    }
}
