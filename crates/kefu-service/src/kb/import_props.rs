//! Property tests of the import's line reader ([`read_line`]): soups of
//! valid articles, blank lines, bytes that are not UTF-8, NUL, broken JSON,
//! articles that fail the checks and huge lines, split the way the import
//! splits its stream. Every valid line becomes an article, every bad line
//! exactly one failure with its own line number and the right code, blank
//! lines neither, and nothing panics.

use super::{read_line, LineRead};
use crate::config::KbConfig;
use proptest::prelude::*;
use serde_json::json;
use std::io::BufRead;

/// What a generated line is, and so what reading it must give.
#[derive(Debug, Clone)]
enum Kind {
    Valid,
    Blank,
    /// Not UTF-8 from this byte offset on.
    NotUtf8(usize),
    Nul,
    BrokenJson,
    Invalid,
}

/// Text an article field accepts: no control characters, not blank.
fn field_text(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        any::<char>().prop_map(|c| if c.is_control() { ' ' } else { c }),
        0..max,
    )
    .prop_map(|cs| format!("x{}", cs.into_iter().collect::<String>()))
}

/// A valid article line (its JSON text, one line).
fn article() -> impl Strategy<Value = String> {
    (
        field_text(40),
        // Bodies may hold controls (escaped by JSON), not NUL.
        proptest::collection::vec(
            any::<char>().prop_map(|c| if c == '\0' { ' ' } else { c }),
            0..200,
        ),
        proptest::option::of(field_text(20)),
        prop_oneof![Just(None), Just(Some("en")), Just(Some("zh-CN"))],
    )
        .prop_map(|(title, body, external_id, locale)| {
            let body = format!("b{}", body.into_iter().collect::<String>());
            let mut v = json!({"title": title, "body": body});
            if let Some(e) = external_id {
                v["external_id"] = json!(e);
            }
            if let Some(l) = locale {
                v["locale"] = json!(l);
            }
            v.to_string()
        })
}

/// Byte sequences that are never valid UTF-8.
const NOT_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xfe\xff",
    b"\x80",
    b"\xc0\x80",
    b"\xe4\xb8",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xf0\x9f\x98",
];

/// One line of a soup: its bytes (without the line break) and what it is.
fn line() -> impl Strategy<Value = (Vec<u8>, Kind)> {
    prop_oneof![
        4 => article().prop_map(|a| (a.into_bytes(), Kind::Valid)),
        1 => prop_oneof![Just(""), Just(" "), Just("\t \t"), Just("\r"), Just("\u{3000}")]
            .prop_map(|s| (s.as_bytes().to_vec(), Kind::Blank)),
        2 => (article(), any::<prop::sample::Index>(), prop::sample::select(NOT_UTF8)).prop_map(
            |(a, at, bad)| {
                // Inserted at a character boundary: the text before it is valid.
                let bounds: Vec<usize> = (0..=a.len()).filter(|&i| a.is_char_boundary(i)).collect();
                let at = bounds[at.index(bounds.len())];
                let mut b = a.as_bytes()[..at].to_vec();
                b.extend_from_slice(bad);
                b.extend_from_slice(&a.as_bytes()[at..]);
                (b, Kind::NotUtf8(at))
            }
        ),
        1 => (field_text(10), prop_oneof![Just("title"), Just("body"), Just("key")]).prop_map(
            |(t, field)| {
                let v = match field {
                    "title" => json!({"title": format!("{t}\0"), "body": "b"}),
                    "body" => json!({"title": "t", "body": format!("a\0{t}")}),
                    _ => json!({"ti\0tle": t, "body": "b"}),
                };
                (v.to_string().into_bytes(), Kind::Nul)
            }
        ),
        2 => prop_oneof![
            // A strict prefix of an object is never a whole JSON value.
            (article(), any::<prop::sample::Index>()).prop_map(|(a, at)| {
                let bounds: Vec<usize> = (1..a.len()).filter(|&i| a.is_char_boundary(i)).collect();
                a[..bounds[at.index(bounds.len())]].to_string()
            }),
            Just("[1,2]".to_string()),
            Just("\"just a string\"".to_string()),
            Just(r#"{"title": 5, "body": "b"}"#.to_string()),
            Just(r#"{"title": "t", "body": "b"} trailing"#.to_string()),
            Just("{\"title\": \"t\", \"body\": \"b\"".to_string()),
            // Text that starts like no JSON value (and holds no NUL escape).
            "[^\n{\\[\"0-9tfn\\s-][^\n]{0,40}".prop_filter("nul escape", |t| !t.contains("u0000")),
        ]
        .prop_map(|t| (t.into_bytes(), Kind::BrokenJson)),
        2 => prop_oneof![
            Just(json!({"body": "no title"})),
            Just(json!({"title": "no body"})),
            Just(json!({"title": "t", "body": "   "})),
            Just(json!({"title": "t\u{7}", "body": "a control in the title"})),
            Just(json!({"title": "t", "body": "b", "locale": "klingon"})),
            Just(json!({"title": "t", "body": "b", "tags": (0..21).map(|i| format!("tag{i}")).collect::<Vec<_>>()})),
            Just(json!({"title": "t".repeat(201), "body": "b"})),
            // A huge line: one character over the body limit.
            Just(json!({"title": "huge", "body": "长".repeat(KbConfig::default().max_body_chars + 1)})),
        ]
        .prop_map(|v| (v.to_string().into_bytes(), Kind::Invalid)),
    ]
}

/// A soup of lines joined as a file would be: `\n` or `\r\n` breaks, the
/// last one maybe without.
fn soup() -> impl Strategy<Value = (Vec<u8>, Vec<Kind>)> {
    (
        proptest::collection::vec((line(), any::<bool>()), 1..30),
        any::<bool>(),
    )
        .prop_map(|(lines, final_break)| {
            let n = lines.len();
            let mut bytes = Vec::new();
            let mut kinds = Vec::new();
            for (i, ((b, kind), crlf)) in lines.into_iter().enumerate() {
                bytes.extend_from_slice(&b);
                let last = i + 1 == n;
                if crlf && !matches!(kind, Kind::Blank | Kind::NotUtf8(_)) {
                    bytes.push(b'\r');
                }
                if !last || final_break {
                    bytes.push(b'\n');
                }
                // An empty last line without a break is no line at all.
                if !(last && !final_break && b.is_empty()) {
                    kinds.push(kind);
                }
            }
            (bytes, kinds)
        })
}

/// The lines as the import reads them (`read_until(b'\n')`).
fn split(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let mut raw = Vec::new();
        if bytes.read_until(b'\n', &mut raw).unwrap() == 0 {
            return out;
        }
        out.push(raw);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_line_is_imported_or_reported_with_its_number((bytes, kinds) in soup()) {
        let cfg = KbConfig::default();
        let raws = split(&bytes);
        prop_assert_eq!(raws.len(), kinds.len(), "lines read");
        let (mut articles, mut failures, mut blanks) = (0, 0, 0);
        for (i, (raw, kind)) in raws.iter().zip(&kinds).enumerate() {
            let no = i + 1;
            match (read_line(&cfg, no, raw), kind) {
                (LineRead::Article(l), Kind::Valid) => {
                    prop_assert_eq!(l.no, no);
                    articles += 1;
                }
                (LineRead::Blank, Kind::Blank) => blanks += 1,
                (LineRead::Failed(f), _) => {
                    prop_assert_eq!(f.line, no, "{:?}", f);
                    let expected = match kind {
                        Kind::NotUtf8(at) => {
                            prop_assert_eq!(&f.message, &format!("not UTF-8 text (byte {})", at + 1));
                            "not_utf8"
                        }
                        Kind::Nul | Kind::Invalid => "validation_failed",
                        Kind::BrokenJson => "invalid_json",
                        Kind::Valid | Kind::Blank => {
                            return Err(TestCaseError::fail(format!("line {no} ({kind:?}) failed: {f:?}")))
                        }
                    };
                    prop_assert_eq!(f.code.as_str(), expected, "line {}: {:?}", no, f);
                    failures += 1;
                }
                (LineRead::Article(_), k) => {
                    return Err(TestCaseError::fail(format!("line {no} ({k:?}) was accepted")))
                }
                (LineRead::Blank, k) => {
                    return Err(TestCaseError::fail(format!("line {no} ({k:?}) read as blank")))
                }
            }
        }
        prop_assert_eq!(articles + failures + blanks, kinds.len());
    }

    /// Any bytes at all: one outcome a line, numbered, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let cfg = KbConfig::default();
        for (i, raw) in split(&bytes).iter().enumerate() {
            if let LineRead::Failed(f) = read_line(&cfg, i + 1, raw) {
                prop_assert_eq!(f.line, i + 1);
            }
        }
    }
}

#[test]
fn a_body_of_exactly_the_limit_is_imported() {
    let cfg = KbConfig::default();
    let line = json!({"title": "t", "body": "长".repeat(cfg.max_body_chars)}).to_string();
    assert!(matches!(
        read_line(&cfg, 7, line.as_bytes()),
        LineRead::Article(l) if l.no == 7
    ));
}

/// serde reads a struct from an array of its fields in order; an import
/// line must be an object (the fuzzer found the same in socket frames).
#[test]
fn an_array_of_the_fields_is_not_an_article() {
    let cfg = KbConfig::default();
    let line = json!(["refund", "How to get a refund", "Open your orders…"]).to_string();
    match read_line(&cfg, 3, line.as_bytes()) {
        LineRead::Failed(f) => {
            assert_eq!((f.line, f.code.as_str()), (3, "invalid_json"), "{f:?}");
        }
        LineRead::Article(l) => panic!("an array was read as article {}", l.no()),
        LineRead::Blank => panic!("an array was read as a blank line"),
    }
}
