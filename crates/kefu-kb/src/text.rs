//! Text normalisation shared by indexing, querying and trigger detection.
//!
//! [`normalize`] folds full-width ASCII forms to half-width (`ＶＩＰ` → `vip`,
//! the ideographic space → a space), lower-cases (Unicode case folding via
//! `char::to_lowercase`) and, when [`AnalyzerOptions::fold_traditional`] is on,
//! maps traditional Chinese characters to simplified ones (`退貨` → `退货`)
//! with the character table of the `fast2s` crate. Folding happens before
//! segmentation, so the index and the queries always agree.

use crate::AnalyzerOptions;

/// Folds one character from full-width to half-width (ASCII) where a
/// half-width form exists; other characters are returned unchanged.
pub fn to_half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        // Common CJK punctuation that has an obvious ASCII twin.
        '。' => '.',
        '、' => ',',
        _ => c,
    }
}

/// Normalises text for matching: full-width → half-width, case folding and
/// (optionally) traditional → simplified Chinese.
pub fn normalize(s: &str, opts: &AnalyzerOptions) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = to_half_width(c);
        if c.is_uppercase() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    if opts.fold_traditional && out.chars().any(is_cjk) {
        out = fast2s::convert(&out);
    }
    out
}

/// True for CJK unified ideographs (including extension A and compatibility
/// ideographs, and the supplementary planes used by rare characters).
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FA1F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> AnalyzerOptions {
        AnalyzerOptions::default()
    }

    #[test]
    fn full_width_and_case() {
        assert_eq!(normalize("ＶＩＰ会员", &opts()), "vip会员");
        assert_eq!(
            normalize("Ｈｅｌｌｏ　Ｗｏｒｌｄ！", &opts()),
            "hello world!"
        );
        assert_eq!(normalize("ÉCOLE", &opts()), "école");
    }

    #[test]
    fn traditional_folding_is_optional() {
        assert_eq!(normalize("退貨與轉人工", &opts()), "退货与转人工");
        let keep = AnalyzerOptions {
            fold_traditional: false,
        };
        assert_eq!(normalize("退貨", &keep), "退貨");
    }

    #[test]
    fn punctuation_and_digits() {
        assert_eq!(normalize("１２３，ＡＢＣ。", &opts()), "123,abc.");
        assert_eq!(normalize("订单号：Ａ－１", &opts()), "订单号:a-1");
        assert_eq!(normalize("", &opts()), "");
    }

    #[test]
    fn half_width_is_identity_elsewhere() {
        for c in ['a', '退', '？', '\n', 'é'] {
            let expect = if c == '？' { '?' } else { c };
            assert_eq!(to_half_width(c), expect);
        }
    }

    #[test]
    fn cjk_ranges() {
        assert!(is_cjk('退'));
        assert!(!is_cjk('a'));
        assert!(!is_cjk('，'));
    }
}
