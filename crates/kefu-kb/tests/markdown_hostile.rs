//! The Markdown stripper ([`strip_markdown`]) against hostile input: the
//! corpus shared with the browser renderers' test
//! (tests/corpus/markdown-hostile.json; tests/browser/markdown.test.mjs)
//! and property-generated input on top.
//!
//! The stripper makes plain text (for the index and for snippets, which
//! every client shows as text, never as HTML), so its safety rules are the
//! text-level ones: it never crashes or overflows the stack, its time is
//! bounded, it invents no text (every character out was in, bar the spaces
//! and line breaks it joins with), HTML tags are dropped, and link and
//! image targets (a `javascript:` URL among them) never reach the text.

use kefu_kb::markdown::strip_markdown;
use proptest::prelude::*;
use serde::Deserialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Corpus {
    inputs: Vec<String>,
    generated: Vec<Generated>,
}

#[derive(Deserialize)]
struct Generated {
    name: String,
    #[serde(default)]
    head: String,
    unit: String,
    times: usize,
    tail: String,
}

/// Every corpus input, named for failure messages.
fn corpus() -> Vec<(String, String)> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/corpus/markdown-hostile.json"
    );
    let c: Corpus = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut all: Vec<(String, String)> = c
        .inputs
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("inputs[{i}]"), s))
        .collect();
    all.extend(c.generated.into_iter().map(|g| {
        let text = format!("{}{}{}", g.head, g.unit.repeat(g.times), g.tail);
        (g.name, text)
    }));
    all
}

/// Slowest acceptable strip of one input of at most 50,000 characters (a
/// debug build on a busy machine; a release build is ~20× faster).
const MAX_TIME: Duration = Duration::from_secs(2);

/// The text-level rules every output keeps.
fn check(what: &str, md: &str) -> String {
    let t0 = Instant::now();
    let out = strip_markdown(md);
    let took = t0.elapsed();
    assert!(took < MAX_TIME, "{what}: {took:?}");
    let allowed: HashSet<char> = md.chars().chain([' ', '\n']).collect();
    if let Some(c) = out.chars().find(|c| !allowed.contains(c)) {
        panic!("{what}: invented {c:?}");
    }
    assert!(
        out.chars().count() <= md.chars().count(),
        "{what}: longer than its input"
    );
    for line in out.lines() {
        assert_eq!(line, line.trim(), "{what}: untrimmed line");
        assert!(!line.is_empty(), "{what}: empty line");
    }
    out
}

#[test]
fn the_shared_corpus_strips_safely_and_in_bounded_time() {
    for (what, md) in corpus() {
        let out = check(&what, &md);
        // A tag written as a tag (not escaped) never survives as one.
        if !md.contains('\\') && !md.contains("](") && !md.contains('`') {
            let lower = out.to_lowercase();
            assert!(!lower.contains("<script"), "{what}: {out:?}");
            assert!(!lower.contains("<img"), "{what}: {out:?}");
        }
    }
}

#[test]
fn deep_nesting_runs_on_a_small_stack() {
    // Tokio's blocking threads and the test harness give 2 MiB; indexing
    // runs there. Half of that must do for the deepest corpus input.
    let deep: Vec<String> = corpus()
        .into_iter()
        .filter(|(what, _)| what.contains("nested") || what.contains("open"))
        .map(|(_, md)| md)
        .collect();
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for md in deep {
                strip_markdown(&md);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

/// Link and image targets a hostile author might try.
const TARGETS: &[&str] = &[
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "java&#x09;script:alert(1)",
    "&#106;avascript:alert(1)",
    "https://ok.example/\"onmouseover=\"alert(1)",
];

/// Tags with event handlers and dangerous URLs.
const TAGS: &[&str] = &[
    "<script>",
    "</script>",
    "<SCRIPT SRC=//evil.example/x.js>",
    "<img src=x onerror=alert(1)>",
    "<svg/onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">",
    "<iframe src=\"data:text/html,x\">",
    "<!-- comment -->",
];

/// Plain words: no Markdown syntax of their own.
fn words() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9一-龥 ]{1,30}".prop_map(|s| s.trim().to_string())
}

/// Arbitrary text built from Markdown's syntax characters and hostile
/// pieces, so that most of it is syntax rather than noise.
fn markdownish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            3 => prop::sample::select(&[
                "[", "]", "(", ")", "](", "![", "**", "__", "*", "_", "`", "```", "~~~", "<", ">",
                "> ", "- ", "1. ", "# ", "\\", "\n", "\r\n", "\r", "|", "---", "&#", ";", "\"",
                "javascript:", "https://", "长", "\u{202e}", "\u{200b}", "\0", "e\u{301}",
            ][..])
            .prop_map(str::to_string),
            1 => prop::sample::select(TARGETS).prop_map(str::to_string),
            1 => prop::sample::select(TAGS).prop_map(str::to_string),
            2 => any::<String>(),
        ],
        0..60,
    )
    .prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_markdownish_text_keeps_the_rules(md in markdownish()) {
        check("generated", &md);
    }

    #[test]
    fn link_and_image_targets_never_reach_the_text(
        before in words(),
        label in words(),
        after in words(),
        target in prop::sample::select(TARGETS),
        image in any::<bool>(),
    ) {
        let bang = if image { "!" } else { "" };
        let md = format!("{before} {bang}[{label}]({target}) {after}");
        let out = check("link", &md);
        let expected = format!("{before} {label} {after}");
        // A target ends at its first `)` (no nesting), so the last `)` of
        // `alert(1)` stays behind as text; nothing else of it does.
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        prop_assert_eq!(squash(&out.replace(')', "")), squash(&expected));
    }

    #[test]
    fn html_tags_are_dropped(
        before in words(),
        tag in prop::sample::select(TAGS),
        after in words(),
    ) {
        let out = check("tag", &format!("{before}{tag}{after}"));
        prop_assert!(!out.contains('<'), "{}", out);
        prop_assert!(!out.to_lowercase().contains("onerror"), "{}", out);
    }
}
