//! The one boundary through which an identity provider's client secret is
//! stored and read back: [`seal`] before it goes to the store, [`open`]
//! when the token endpoint needs it. Nothing else touches the stored form.
//!
//! Today the sealed form is the secret behind a version tag (`v0:`), so
//! encryption at rest (a key-encryption key, issue 14) can be wired in here
//! alone: a new tag for the encrypted form, and `open` keeps reading `v0:`
//! until every secret has been sealed again.

use crate::error::{ServiceError, ServiceResult};

const PLAIN: &str = "v0:";

/// The stored form of `secret`.
pub fn seal(secret: &str) -> String {
    format!("{PLAIN}{secret}")
}

/// The secret inside a stored form that [`seal`] made.
pub fn open(sealed: &str) -> ServiceResult<String> {
    sealed
        .strip_prefix(PLAIN)
        .map(str::to_string)
        .ok_or_else(|| ServiceError::Internal("unreadable sealed client secret".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_again() {
        let s = seal("s3cr3t:with:colons");
        assert_eq!(open(&s).unwrap(), "s3cr3t:with:colons");
        assert!(open("garbage").is_err());
    }
}
