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

    pub fn finish(self) -> ServiceResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::Validation(self.0))
        }
    }
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
