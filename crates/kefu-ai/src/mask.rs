//! Personal-data masking for text that leaves the process (prompts) or is
//! written down (logs): a hand-written scanner, no regex engine.
//!
//! Replaced, each with a placeholder:
//!
//! | what | rule | placeholder |
//! |---|---|---|
//! | e-mail address | `local@domain.tld`, ASCII | `[email]` |
//! | mainland mobile | `1[3-9]` + 9 digits, optionally `86`/`+86` first | `[phone]` |
//! | international number | `+` and 8–15 digits | `[phone]` |
//! | mainland landline | `0` + 2–3 digits, `-`, 7–8 digits | `[phone]` |
//! | resident ID number | 17 digits + digit or `X`, valid check digit | `[id]` |
//! | bank card | 13–19 digits, Luhn-valid, card-like first digits | `[card]` |
//!
//! Digits may be grouped by single spaces or dashes (`138 1234 5678`,
//! `4111-1111-1111-1111`), in groups of 3 or more digits (cards as they
//! are printed), so that rows of small numbers never add up to one. A number glued to letters (`SO13812345678`,
//! `order_4111…`) is a reference, not personal data, and stays; so do
//! numbers that fail the checks (an 18-digit order number with a wrong
//! check digit, a 16-digit one that fails Luhn). A backslash escape
//! (`\n`, `\t`, `\u0001`, `\\n`: logs write strings escaped, sometimes
//! twice) separates like a space. Known gaps: full-width
//! digits, non-ASCII e-mail addresses, parentheses in phone numbers.

use std::borrow::Cow;

/// `s` with personal data replaced by placeholders; borrowed when there
/// was none.
pub fn mask_pii(s: &str) -> Cow<'_, str> {
    let spans = find(s);
    if spans.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for (start, end, kind) in spans {
        out.push_str(&s[at..start]);
        out.push_str(kind.placeholder());
        at = end;
    }
    out.push_str(&s[at..]);
    Cow::Owned(out)
}

/// What a masked span was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Email,
    Phone,
    Id,
    Card,
}

impl Kind {
    fn placeholder(self) -> &'static str {
        match self {
            Kind::Email => "[email]",
            Kind::Phone => "[phone]",
            Kind::Id => "[id]",
            Kind::Card => "[card]",
        }
    }
}

/// The longest number masked (a 19-digit card).
const MAX_DIGITS: usize = 19;

/// Byte spans to replace, in order, not overlapping. Everything matched is
/// ASCII, so scanning bytes never splits a character: bytes of non-ASCII
/// characters are all >= 0x80 and match nothing here.
fn find(s: &str) -> Vec<(usize, usize, Kind)> {
    let b = s.as_bytes();
    let mut spans: Vec<(usize, usize, Kind)> = Vec::new();
    // Where the text after the last backslash escape starts: logs write
    // strings escaped (JSON, or Rust's `Debug`), and `\n13812345678` is a
    // line break and a number, not a reference glued to an `n`.
    let mut boundary = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            // A run of backslashes and the escape it ends in, if any: `\n`,
            // or `\\n` (a `Debug` escape inside JSON, as `field = ?value`
            // writes it). Reading a literal backslash and `n` the same way
            // only masks more.
            let run = b[i..].iter().take_while(|&&c| c == b'\\').count();
            let last = i + run - 1;
            i = escape_len(b, last).map_or(last + 1, |len| last + len);
            boundary = i;
            continue;
        }
        if b[i] == b'@' {
            // An address's local part never reaches back into an escape
            // or into the address before it.
            let floor = match spans.iter().rev().find(|sp| sp.2 == Kind::Email) {
                Some(&(_, e, _)) => boundary.max(e),
                None => boundary,
            };
            if let Some((start, end)) = email_at(b, i, floor) {
                // The local part may hold digits already taken as a number
                // (never an address: see `floor`): the address wins them,
                // and what came before it in that number is read again on
                // its own (`+86 138 1234 5678` before `0000@…` stays a
                // phone).
                while let Some(&(s, e, _)) = spans.last() {
                    if e <= start {
                        break;
                    }
                    spans.pop();
                    if s < start {
                        number_run(&b[..start], s, true, &mut spans);
                        break;
                    }
                }
                spans.push((start, end, Kind::Email));
                i = end;
                continue;
            }
        }
        let starts_number =
            b[i].is_ascii_digit() || (b[i] == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts_number {
            // Right after an escape or a masked span a number stands free
            // (so that masking twice masks nothing more).
            let free = i == boundary || spans.last().is_some_and(|&(_, e, _)| e == i);
            i = number_run(b, i, free, &mut spans);
            continue;
        }
        i += 1;
    }
    spans
}

/// The length of the backslash escape at `i`, if it is one: `\n`, `\t`,
/// `\"` and the like (2), `\u` and four hex digits (6, JSON), `\u{…}`
/// (`Debug`) or `\x` and two (4: the plain format's escaped controls).
fn escape_len(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i + 1)? {
        b'n' | b'r' | b't' | b'b' | b'f' | b'"' | b'\'' | b'/' => Some(2),
        b'u' if b.get(i + 2) == Some(&b'{') => {
            let hex = b[i + 3..]
                .iter()
                .take_while(|c| c.is_ascii_hexdigit())
                .count();
            (hex > 0 && hex <= 6 && b.get(i + 3 + hex) == Some(&b'}')).then_some(hex + 4)
        }
        b'u' => {
            let hex = b.get(i + 2..i + 6)?;
            hex.iter().all(u8::is_ascii_hexdigit).then_some(6)
        }
        b'x' => {
            let hex = b.get(i + 2..i + 4)?;
            hex.iter().all(u8::is_ascii_hexdigit).then_some(4)
        }
        _ => None,
    }
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The e-mail address around the `@` at `at`, as a byte span starting no
/// earlier than `floor` (the end of an escape).
fn email_at(b: &[u8], at: usize, floor: usize) -> Option<(usize, usize)> {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let mut start = at;
    while start > floor && local(b[start - 1]) {
        start -= 1;
    }
    while start < at && !b[start].is_ascii_alphanumeric() {
        start += 1;
    }
    if start == at || !b.get(at + 1).is_some_and(u8::is_ascii_alphanumeric) {
        return None;
    }
    // The longest host that ends in a top-level domain of 2+ letters at the
    // end of a label: `wang@example.cn-13812345678` is an address and a
    // number (reading the host to the last `-` or digit missed both).
    let (mut dot, mut tld_like, mut label_len) = (false, true, 0);
    let mut end = None;
    let mut j = at + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'-') {
        if b[j] == b'.' {
            (dot, tld_like, label_len) = (true, true, 0);
        } else {
            tld_like &= b[j].is_ascii_alphabetic();
            label_len += 1;
        }
        j += 1;
        let label_ends = !b.get(j).is_some_and(u8::is_ascii_alphanumeric);
        if dot && tld_like && label_len >= 2 && label_ends {
            end = Some(j);
        }
    }
    end.map(|end| (start, end))
}

/// One group of digits in a run: its byte span and what separated it from
/// the group before (`b' '`, `b'-'`, or 0 for the first).
struct Group {
    start: usize,
    end: usize,
    sep: u8,
}

/// Reads the run of digit groups starting at `i` (a digit, or `+` and a
/// digit; `free`: nothing glued before it), pushes the spans in it that
/// are personal data, and returns where the run ends.
fn number_run(b: &[u8], i: usize, free: bool, spans: &mut Vec<(usize, usize, Kind)>) -> usize {
    let plus = b[i] == b'+';
    let mut groups = Vec::new();
    let mut j = if plus { i + 1 } else { i };
    let mut sep = 0;
    loop {
        let start = j;
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        groups.push(Group { start, end: j, sep });
        match (b.get(j), b.get(j + 1)) {
            (Some(&s @ (b' ' | b'-')), Some(d)) if d.is_ascii_digit() => {
                sep = s;
                j += 1;
            }
            _ => break,
        }
    }
    // A trailing X belongs to an ID number, unless letters follow.
    let has_x =
        matches!(b.get(j), Some(b'X' | b'x')) && !b.get(j + 1).copied().is_some_and(is_word);
    let end = if has_x { j + 1 } else { j };
    // After `3.` digits are a fraction, but a `+` starts a number anew.
    let fraction = !plus && i >= 2 && b[i - 1] == b'.' && b[i - 2].is_ascii_digit();
    let free_before = free || i == 0 || !(is_word(b[i - 1]) || fraction);
    let free_after = match b.get(end) {
        None => true,
        Some(&c) => !(is_word(c) || (c == b'.' && b.get(end + 1).is_some_and(u8::is_ascii_digit))),
    };
    let last = groups.len() - 1;
    // Longest match first, from each group on; a run splits only at spaces
    // (`138-1234-5678` is one number, `2024 13812345678` may be two).
    let mut s = 0;
    while s <= last {
        if (s == 0 && !free_before) || (s > 0 && groups[s].sep != b' ') {
            s += 1;
            continue;
        }
        // Nothing is longer than 19 digits: bounds the work on long runs
        // (tables of numbers) to linear.
        let mut digits = 0;
        let reach = (s..=last)
            .take_while(|&e| {
                digits += groups[e].end - groups[e].start;
                digits <= MAX_DIGITS
            })
            .last();
        let Some(reach) = reach else {
            s += 1;
            continue;
        };
        let found = (s..=reach).rev().find_map(|e| {
            if e == last && !free_after {
                return None;
            }
            if e < last && groups[e + 1].sep != b' ' {
                return None;
            }
            classify(b, &groups[s..=e], plus && s == 0, has_x && e == last).map(|k| (e, k))
        });
        match found {
            Some((e, kind)) => {
                let start = if s == 0 { i } else { groups[s].start };
                let stop = if e == last { end } else { groups[e].end };
                spans.push((start, stop, kind));
                s = e + 1;
            }
            None => s += 1,
        }
    }
    end
}

/// What these digit groups are, if personal data. Grouped digits must
/// look grouped on purpose: no group under 3 digits (after a `+`, under
/// 2), and cards in their printed groupings — so that a table of small
/// numbers (`3 4 5 6 7 …`) is not read as one long number.
fn classify(b: &[u8], groups: &[Group], plus: bool, x: bool) -> Option<Kind> {
    let lens: Vec<usize> = groups.iter().map(|g| g.end - g.start).collect();
    let digits: Vec<u8> = groups
        .iter()
        .flat_map(|g| &b[g.start..g.end])
        .copied()
        .collect();
    let n = digits.len();
    if plus {
        let grouped = lens[1..].iter().all(|&l| l >= 2);
        return (grouped && !x && (8..=15).contains(&n)).then_some(Kind::Phone);
    }
    if lens.len() > 1 && lens.iter().any(|&l| l < 3) {
        return None;
    }
    if x {
        return (n == 17 && id_check(&digits, b'X')).then_some(Kind::Id);
    }
    if (n == 11 && mobile(&digits))
        || (n == 13 && digits.starts_with(b"86") && mobile(&digits[2..]))
    {
        return Some(Kind::Phone);
    }
    if landline(b, groups) {
        return Some(Kind::Phone);
    }
    if n == 18 && id_check(&digits[..17], digits[17]) {
        return Some(Kind::Id);
    }
    if (13..=19).contains(&n) && card_grouping(&lens) && card_prefix(&digits) && luhn(&digits) {
        return Some(Kind::Card);
    }
    None
}

/// How card numbers are printed: in one piece, in fours (the last group
/// shorter, for 13- and 19-digit cards), or 4-6-5 / 4-6-4 (Amex, Diners).
fn card_grouping(lens: &[usize]) -> bool {
    match lens {
        [_] | [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|&l| l == 4) && (1..=4).contains(last),
        [] => false,
    }
}

fn mobile(d: &[u8]) -> bool {
    d.len() == 11 && d[0] == b'1' && (b'3'..=b'9').contains(&d[1])
}

/// `010-12345678`, `0755-1234567`: area code, dash, subscriber number.
fn landline(b: &[u8], groups: &[Group]) -> bool {
    let [area, number] = groups else { return false };
    let area_len = area.end - area.start;
    let number_len = number.end - number.start;
    number.sep == b'-'
        && b[area.start] == b'0'
        && (3..=4).contains(&area_len)
        && (7..=8).contains(&number_len)
}

/// The GB 11643 check character of a resident ID number.
fn id_check(first17: &[u8], check: u8) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECKS: &[u8; 11] = b"10X98765432";
    if first17.len() != 17 || first17[0] == b'0' {
        return false;
    }
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(&d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECKS[(sum % 11) as usize] == check.to_ascii_uppercase()
}

/// Issuer prefixes cards actually use: 3 (Amex, JCB, Diners), 4 (Visa),
/// 5 (Mastercard, some domestic debit), 6 (UnionPay 62, Discover), 9 (old
/// domestic 95xx/96xx cards) and Mastercard's 2221–2720. Keeps date-led
/// order numbers (`2024…`) and other references out.
fn card_prefix(d: &[u8]) -> bool {
    match d[0] {
        b'3'..=b'6' | b'9' => true,
        b'2' => {
            let p = d[..4]
                .iter()
                .fold(0u32, |acc, &c| acc * 10 + u32::from(c - b'0'));
            (2221..=2720).contains(&p)
        }
        _ => false,
    }
}

fn luhn(d: &[u8]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(k, &c)| {
            let v = u32::from(c - b'0');
            if k % 2 == 1 {
                if v * 2 > 9 {
                    v * 2 - 9
                } else {
                    v * 2
                }
            } else {
                v
            }
        })
        .sum();
    sum % 10 == 0
}
