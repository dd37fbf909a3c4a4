//! Markdown → plain text, for indexing article bodies and cutting snippets.
//!
//! This is a deliberately small, line-oriented stripper (no dependency): it
//! drops fenced-code fences, heading/quote/list markers, emphasis and code
//! backticks, HTML tags, table pipes and rules, and keeps link and image
//! *text* while dropping their targets. The output is meant for matching and
//! for human-readable excerpts, not for faithful rendering.

/// Strips Markdown syntax and returns plain text; paragraphs are joined by
/// single newlines and runs of spaces collapse to one.
pub fn strip_markdown(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    for raw in md.lines() {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            continue;
        }
        if is_rule(line) {
            continue;
        }
        let line = strip_line_prefix(line);
        let inline = strip_inline(line);
        let inline = inline.trim();
        if inline.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(inline);
    }
    out
}

/// A thematic break or a table separator row (`---`, `***`, `|---|:--:|`).
fn is_rule(line: &str) -> bool {
    line.len() >= 3
        && line
            .chars()
            .all(|c| matches!(c, '-' | '*' | '_' | '=' | '|' | ':' | ' '))
}

fn strip_line_prefix(mut line: &str) -> &str {
    loop {
        let before = line;
        line = line.trim_start_matches('#').trim_start();
        line = line.trim_start_matches('>').trim_start();
        for marker in ["- [ ] ", "- [x] ", "- ", "* ", "+ "] {
            if let Some(rest) = line.strip_prefix(marker) {
                line = rest;
            }
        }
        // Ordered list markers: "12. " or "3) ".
        let digits = line.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && digits < 4 {
            let rest = &line[digits..];
            if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
                line = r;
            }
        }
        if line == before {
            return line;
        }
    }
}

fn strip_inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let brackets = Next::table(&chars, ']');
    let parens = Next::table(&chars, ')');
    let angles = Next::table(&chars, '>');
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '!' if chars.get(i + 1) == Some(&'[') => i += 1,
            '[' => {
                // [text](target) → text ; [text][ref] → text
                if let Some(close) = brackets.from(i + 1) {
                    let text: String = chars[i + 1..close].iter().collect();
                    out.push_str(&strip_inline(&text));
                    i = close + 1;
                    if chars.get(i) == Some(&'(') {
                        i = parens.from(i).map_or(chars.len(), |e| e + 1);
                    } else if chars.get(i) == Some(&'[') {
                        i = brackets.from(i).map_or(chars.len(), |e| e + 1);
                    }
                } else {
                    out.push(c);
                    i += 1;
                }
            }
            '<' => {
                // HTML tag or autolink: drop the tag, keep an autolink's URL.
                match angles.from(i + 1) {
                    Some(close) => {
                        let inner: String = chars[i + 1..close].iter().collect();
                        if inner.starts_with("http") || inner.contains('@') {
                            out.push_str(&inner);
                        } else {
                            out.push(' ');
                        }
                        i = close + 1;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            '*' | '`' | '~' => i += 1,
            '_' if is_emphasis_underscore(&chars, i) => i += 1,
            '|' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
                i += 1;
                while chars.get(i) == Some(&' ') {
                    i += 1;
                }
            }
            '\\' if i + 1 < chars.len() => {
                out.push(chars[i + 1]);
                i += 2;
            }
            _ => {
                if !(c == ' ' && out.ends_with(' ')) {
                    out.push(c);
                }
                i += 1;
            }
        }
    }
    out
}

/// Where the next occurrence of one character is, from every position of
/// a line: each look-up is O(1), so a line of thousands of unclosed `[` or
/// `<` strips in linear time (scanning ahead from each was quadratic:
/// seconds for a 50,000-character article).
struct Next(Vec<usize>);

impl Next {
    fn table(chars: &[char], needle: char) -> Self {
        let mut next = vec![usize::MAX; chars.len() + 1];
        for i in (0..chars.len()).rev() {
            next[i] = if chars[i] == needle { i } else { next[i + 1] };
        }
        Next(next)
    }

    /// The first occurrence at or after `from`.
    fn from(&self, from: usize) -> Option<usize> {
        let at = self.0[from.min(self.0.len() - 1)];
        (at != usize::MAX).then_some(at)
    }
}

/// `_` is emphasis unless it sits between two word characters (snake_case).
fn is_emphasis_underscore(chars: &[char], i: usize) -> bool {
    let before = i.checked_sub(1).map(|j| chars[j].is_alphanumeric());
    let after = chars.get(i + 1).map(|c| c.is_alphanumeric());
    !(before == Some(true) && after == Some(true))
}

#[cfg(test)]
mod tests {
    use super::strip_markdown;

    #[test]
    fn strips_common_syntax() {
        let md = "# 退款说明\n\n**注意**：请在 [订单页](https://x.example/o) 点击 `申请退款`。\n\n- 第一步\n- 第二步\n\n```\ncode\n```\n> 引用 _强调_\n\n| a | b |\n|---|---|\n| 1 | 2 |";
        let plain = strip_markdown(md);
        assert_eq!(
            plain,
            "退款说明\n注意：请在 订单页 点击 申请退款。\n第一步\n第二步\ncode\n引用 强调\na b\n1 2"
        );
    }

    #[test]
    fn keeps_snake_case_and_image_alt() {
        assert_eq!(
            strip_markdown("use order_id ![alt text](a.png)"),
            "use order_id alt text"
        );
        assert_eq!(strip_markdown("1. one\n2) two"), "one\ntwo");
    }
}
