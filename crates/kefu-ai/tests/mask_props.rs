//! `mask_pii` as properties: generated personal data of every documented
//! kind (mainland mobiles with separators and +86, international and
//! landline numbers, e-mail addresses, resident ID numbers with their check
//! character, Luhn-valid bank cards in their printed groupings), embedded in
//! arbitrary Unicode, is replaced by exactly its placeholder and the text
//! around it is untouched; masking is idempotent; text without personal data
//! is returned as it was; nothing panics on any input.

use kefu_ai::mask::mask_pii;
use proptest::prelude::*;
use std::borrow::Cow;

fn digits(n: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(0..10u8, n)
        .prop_map(|d| d.iter().map(|x| (b'0' + x) as char).collect())
}

/// `s` in groups of the given sizes joined by `sep` (sizes must add up).
fn grouped(s: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        out.push(&s[at..at + n]);
        at += n;
    }
    assert_eq!(at, s.len());
    out.join(sep)
}

fn sep() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["", " ", "-"][..])
}

/// A mainland mobile number as people write it.
fn mobile() -> impl Strategy<Value = String> {
    (
        3..10u8,
        digits(9),
        sep(),
        prop::sample::select(&["", "+86", "+86 ", "+86-", "86"][..]),
    )
        .prop_map(|(second, rest, sep, prefix)| {
            let n = format!("1{second}{rest}");
            let body = if sep.is_empty() {
                n
            } else {
                grouped(&n, &[3, 4, 4], sep)
            };
            // "86" glued only to an ungrouped number (13 digits in one run).
            let prefix = if prefix == "86" && !sep.is_empty() {
                ""
            } else {
                prefix
            };
            format!("{prefix}{body}")
        })
}

/// `+`, a country code and a national number: 8–15 digits, groups of 2+.
fn international() -> impl Strategy<Value = String> {
    (1..4usize, 7..12usize, sep())
        .prop_flat_map(|(cc, rest, sep)| (digits(cc), digits(rest), Just(sep)))
        .prop_map(|(cc, rest, sep)| {
            let cc = format!("{}{}", (b'1' + cc.as_bytes()[0] % 9) as char, &cc[1..]);
            let rest = if sep.is_empty() {
                rest
            } else {
                let half = rest.len() / 2;
                grouped(&rest, &[half, rest.len() - half], sep)
            };
            format!("+{cc}{sep}{rest}")
        })
}

/// `0` + 2–3 digits, a dash, 7–8 digits.
fn landline() -> impl Strategy<Value = String> {
    (2..4usize, 7..9usize)
        .prop_flat_map(|(a, n)| (digits(a), digits(n)))
        .prop_map(|(area, number)| format!("0{area}-{number}"))
}

fn email() -> impl Strategy<Value = String> {
    (
        "[a-z0-9]([a-z0-9._%+-]{0,12}[a-z0-9])?",
        proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..3),
        "[a-z]{2,6}",
        any::<bool>(),
    )
        .prop_map(|(local, labels, tld, upper)| {
            let e = format!("{local}@{}.{tld}", labels.join("."));
            if upper {
                e.to_uppercase()
            } else {
                e
            }
        })
}

/// The GB 11643 check character of 17 digits.
fn id_check(first17: &str) -> char {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize] as char
}

fn resident_id() -> impl Strategy<Value = String> {
    (1..10u8, digits(16), any::<bool>()).prop_map(|(first, rest, lower_x)| {
        let first17 = format!("{first}{rest}");
        let check = id_check(&first17);
        let check = if lower_x {
            check.to_ascii_lowercase()
        } else {
            check
        };
        format!("{first17}{check}")
    })
}

fn luhn_digit(payload: &str) -> char {
    // The check digit makes the whole number's Luhn sum divisible by 10.
    let sum: u32 = payload
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, c)| {
            let v = u32::from(c - b'0');
            if k % 2 == 0 {
                let d = v * 2;
                if d > 9 {
                    d - 9
                } else {
                    d
                }
            } else {
                v
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// A Luhn-valid card with an issuer prefix, printed in one piece, in fours
/// or (15 digits) 4-6-5.
fn card() -> impl Strategy<Value = String> {
    let issuers = prop::sample::select(
        &[
            ("4", 16),
            ("51", 16),
            ("55", 16),
            ("62", 16),
            ("62", 19),
            ("37", 15),
            ("6011", 16),
            ("2221", 16),
            ("2720", 16),
            ("35", 16),
        ][..],
    );
    (issuers, sep())
        .prop_flat_map(|((prefix, len), sep)| {
            (
                Just(prefix),
                digits(len - prefix.len() - 1),
                Just(len),
                Just(sep),
            )
        })
        .prop_map(|(prefix, middle, len, sep)| {
            let payload = format!("{prefix}{middle}");
            let n = format!("{payload}{}", luhn_digit(&payload));
            let sizes: Vec<usize> = match (len, sep) {
                (_, "") => vec![len],
                (15, _) => vec![4, 6, 5],
                (19, _) => vec![4, 4, 4, 4, 3],
                _ => vec![4, 4, 4, 4],
            };
            grouped(&n, &sizes, sep)
        })
}

/// Personal data and its placeholder.
fn pii() -> impl Strategy<Value = (String, &'static str)> {
    prop_oneof![
        mobile().prop_map(|s| (s, "[phone]")),
        international().prop_map(|s| (s, "[phone]")),
        landline().prop_map(|s| (s, "[phone]")),
        email().prop_map(|s| (s, "[email]")),
        resident_id().prop_map(|s| (s, "[id]")),
        card().prop_map(|s| (s, "[card]")),
    ]
}

/// Text around personal data: any Unicode (CJK, RTL overrides, emoji,
/// controls, line breaks, quotes, backslashes) except what the rules read
/// as part of a number or an address: ASCII letters and digits, and
/// `@ . _ % + -`.
fn context() -> impl Strategy<Value = String> {
    let c = any::<char>().prop_map(|c| {
        if c.is_ascii_alphanumeric() || "@._%+-".contains(c) {
            '·'
        } else {
            c
        }
    });
    let common = prop::sample::select(
        &[
            ' ', '，', '。', '：', '\n', '\t', '"', '\\', '(', ')', '电', '话', '\u{202e}',
            '\u{200b}', '😀', '/', '<', '>',
        ][..],
    );
    proptest::collection::vec(prop_oneof![c, common], 0..12).prop_map(|cs| cs.into_iter().collect())
}

/// Digits, separators, letters, `@`, dots and other Unicode: text that
/// keeps the scanner busy (for idempotence and panics).
fn numberish() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[0-9]{1,19}",
            2 => prop::sample::select(&[" ", "-", "+", "@", ".", "X", "x", "_", "a", "长", "\n", "\\n", "[", "]"][..]).prop_map(str::to_string),
            1 => any::<String>(),
            1 => pii().prop_map(|(p, _)| p),
        ],
        0..20,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn embedded_personal_data_is_replaced_and_nothing_else(
        first in context(),
        items in proptest::collection::vec((pii(), context()), 1..5),
    ) {
        // Two items need something between them that is not a space:
        // `138… 4111…` is one run of digit groups, read longest first.
        let mut text = first.clone();
        let mut expected = first;
        let n = items.len();
        for (i, ((p, placeholder), after)) in items.into_iter().enumerate() {
            // A backslash right before would make an escape of `\n…` (the
            // rules read text as logs write it); a space keeps them apart.
            if text.ends_with('\\') {
                text.push(' ');
                expected.push(' ');
            }
            let after = if i + 1 < n && after.trim_matches(' ').is_empty() { format!("{after}，") } else { after };
            text.push_str(&p);
            text.push_str(&after);
            expected.push_str(placeholder);
            expected.push_str(&after);
        }
        let masked = mask_pii(&text);
        prop_assert_eq!(masked.as_ref(), expected.as_str(), "input {:?}", text);
    }

    #[test]
    fn masking_is_idempotent(s in prop_oneof![numberish(), any::<String>()]) {
        let once = mask_pii(&s).into_owned();
        let twice = mask_pii(&once);
        prop_assert_eq!(twice.as_ref(), once.as_str(), "input {:?}", s);
    }

    #[test]
    fn text_without_personal_data_is_returned_as_it_was(
        parts in proptest::collection::vec(
            prop_oneof![
                "[0-9]{1,6}",
                any::<String>().prop_map(|s| s.replace(|c: char| c.is_ascii_digit() || c == '@', "")),
            ],
            0..12,
        ),
    ) {
        // Runs of at most six digits, kept apart by something that is not
        // a space, a dash or a plus: no rule can match.
        let s = parts.join("，");
        prop_assert!(matches!(mask_pii(&s), Cow::Borrowed(_)), "{:?} -> {:?}", s, mask_pii(&s));
    }

    #[test]
    fn any_text_at_all_masks_without_panicking(s in any::<String>()) {
        let out = mask_pii(&s);
        // Placeholders only ever replace ASCII: all non-ASCII text survives.
        let kept: String = s.chars().filter(|c| !c.is_ascii()).collect();
        let got: String = out.chars().filter(|c| !c.is_ascii()).collect();
        prop_assert_eq!(got, kept);
    }
}
