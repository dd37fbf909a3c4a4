//! Input rules shared by the use cases. Each failure names the field and a
//! reason code, collected into one 422 `validation_failed`.

use crate::error::{ServiceError, ServiceResult};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct Checks(BTreeMap<String, String>);

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, field: &str, reason: &str) {
        self.0
            .entry(field.to_string())
            .or_insert_with(|| reason.to_string());
    }

    /// A trimmed e-mail, lower-cased, or a recorded failure.
    pub fn email(&mut self, field: &str, raw: &str) -> String {
        let e = normalise_email(raw);
        if !is_plausible_email(&e) {
            self.fail(field, "invalid_email");
        }
        e
    }

    /// A trimmed display name of 1..=max characters, no control characters.
    pub fn text(&mut self, field: &str, raw: &str, max_chars: usize) -> String {
        let t = raw.trim().to_string();
        if t.is_empty() {
            self.fail(field, "required");
        } else if t.chars().count() > max_chars {
            self.fail(field, "too_long");
        } else if t.chars().any(char::is_control) {
            self.fail(field, "invalid_characters");
        }
        t
    }

    pub fn password(&mut self, field: &str, raw: &str, min_len: usize) {
        let n = raw.chars().count();
        if n < min_len {
            self.fail(field, "too_short");
        } else if raw.len() > 1024 {
            // argon2 cost does not depend on length, but bodies this big are abuse.
            self.fail(field, "too_long");
        }
    }

    /// A new password (issue 14, finding 8: `aaaaaaaaaa`, `password12` and
    /// ten spaces used to pass): at least `min_len` characters, not one of
    /// the 10,000 commonest (`data/common-passwords.txt`), not the user's
    /// own e-mail or name with a little added, not one character repeated.
    /// Reasons: `too_short`, `too_long`, `too_simple`, `too_common`,
    /// `too_similar`.
    pub fn new_password(
        &mut self,
        field: &str,
        raw: &str,
        min_len: usize,
        email: &str,
        name: &str,
    ) {
        self.password(field, raw, min_len);
        if self.0.contains_key(field) {
            return;
        }
        let lower = raw.to_lowercase();
        let distinct: std::collections::HashSet<char> = lower.chars().collect();
        if raw.trim().is_empty() || distinct.len() <= 2 {
            self.fail(field, "too_simple");
        } else if is_common_password(&lower) {
            self.fail(field, "too_common");
        } else if resembles(&lower, email, name) {
            self.fail(field, "too_similar");
        }
    }

    pub fn finish(self) -> ServiceResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(self.0))
        }
    }
}

/// Whether JSON text holds an escaped NUL (`\u0000`, the only way JSON can
/// carry one: a raw NUL byte is not valid JSON). No engine stores NUL in
/// text (PostgreSQL refuses it, SQLite cuts strings at it in places), so
/// it is refused the same way everywhere, before anything is stored.
pub fn has_nul_escape(json: &[u8]) -> bool {
    let needle = b"u0000";
    let mut i = 0;
    while let Some(pos) = json[i..].windows(needle.len()).position(|w| w == needle) {
        let at = i + pos;
        // Escaped when preceded by an odd number of backslashes.
        let slashes = json[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if slashes % 2 == 1 {
            return true;
        }
        i = at + 1;
    }
    false
}

/// Whether a (lower-cased) password is on the bundled list of common ones,
/// as is or with digits or punctuation added at the end (`password123!`).
pub fn is_common_password(lower: &str) -> bool {
    static LIST: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    let list = LIST.get_or_init(|| {
        include_str!("../data/common-passwords.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    });
    let stem = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c.is_ascii_punctuation());
    list.contains(lower) || (stem.len() >= 6 && list.contains(stem))
}

/// Whether the password is mostly the user's e-mail (or its local part) or
/// name: it contains one of them (4+ characters), or one of them contains it.
fn resembles(lower: &str, email: &str, name: &str) -> bool {
    let email = email.trim().to_lowercase();
    let local = email.split('@').next().unwrap_or("").to_string();
    let name = name.trim().to_lowercase();
    let squashed: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    [email, local, name, squashed]
        .iter()
        .filter(|p| p.chars().count() >= 4)
        .any(|p| lower.contains(p.as_str()) || p.contains(lower))
}

pub fn normalise_email(raw: &str) -> String {
    raw.trim().to_lowercase()
}

/// Deliberately loose: one `@`, non-empty local part, a dotted domain, no
/// spaces, at most 254 bytes. Delivery is what really proves an address.
pub fn is_plausible_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_plausible_email("li.lei@example.com"));
        assert!(is_plausible_email("张三@例子.中国"));
        for bad in [
            "", "a", "a@b", "@b.c", "a@@b.c", "a b@c.d", "a@.com", "a@b.com.",
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
        assert_eq!(normalise_email("  Li@Example.COM "), "li@example.com");
    }

    #[test]
    fn nul_escapes_are_found_and_escaped_backslashes_are_not() {
        assert!(has_nul_escape(br#"{"a":"x\u0000"}"#));
        assert!(has_nul_escape(br#"["\\\u0000"]"#), "backslash, then NUL");
        assert!(!has_nul_escape(br#"{"a":"\\u0000"}"#), "the text \\u0000");
        assert!(has_nul_escape(br#"{"a":"u0000 \u00001"}"#), "NUL, then 1");
        assert!(!has_nul_escape("你好 u0000".as_bytes()));
    }

    #[test]
    fn weak_new_passwords_are_refused_with_a_reason() {
        let check = |pw: &str| {
            let mut c = Checks::new();
            c.new_password("password", pw, 10, "li.lei@example.com", "Li Lei");
            match c.finish() {
                Ok(()) => "ok".to_string(),
                Err(ServiceError::Validation(m)) => m["password"].clone(),
                Err(e) => panic!("{e}"),
            }
        };
        // What the probe got accepted.
        assert_eq!(check("aaaaaaaaaa"), "too_simple");
        assert_eq!(check("password12"), "too_common");
        assert_eq!(check("          "), "too_simple");
        assert_eq!(check("ababababab"), "too_simple");
        assert_eq!(check("short"), "too_short");
        assert_eq!(check("qwertyuiop"), "too_common");
        assert_eq!(check("woaini1314520"), "too_common");
        assert_eq!(check("Password123!"), "too_common");
        assert_eq!(check("li.lei@example.com"), "too_similar");
        assert_eq!(check("lilei2026!!"), "too_similar");
        assert_eq!(check("li.lei-secret"), "too_similar");
        // Strong ones, Chinese included, pass.
        assert_eq!(check("correct horse battery staple"), "ok");
        assert_eq!(check("我家的猫叫小橘子，三岁了"), "ok");
        assert_eq!(check("t7#Vq!m2Lp9z"), "ok");
    }

    #[test]
    fn collects_every_failure() {
        let mut c = Checks::new();
        c.email("email", "nope");
        c.text("name", "   ", 10);
        c.password("password", "short", 10);
        let ServiceError::Validation(m) = c.finish().unwrap_err() else {
            panic!()
        };
        assert_eq!(m["email"], "invalid_email");
        assert_eq!(m["name"], "required");
        assert_eq!(m["password"], "too_short");
        let mut c = Checks::new();
        assert_eq!(c.text("name", " 客服小王 ", 10), "客服小王");
        assert!(c.finish().is_ok());
    }
}
