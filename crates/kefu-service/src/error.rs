//! The service layer's error: what went wrong, in terms the HTTP layer maps
//! to a status and a machine-readable code.

use kefu_domain::StoreError;
use std::collections::BTreeMap;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ServiceError {
    /// 401: no or bad credentials. The payload is the code
    /// (`unauthorized`, `invalid_credentials`, `totp_required`, `invalid_totp`,
    /// `refresh_token_reused`).
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403 with a code (`forbidden`, `totp_enrollment_required`, …).
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 404: `<what>_not_found`.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 409 with a code.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// 413 with a code (`payload_too_large`, `storage_quota_exceeded`).
    #[error("too large: {0}")]
    TooLarge(&'static str),
    /// 415 with a code: a file of a type not accepted.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(&'static str),
    /// 410 with a code: a link past its time (`link_expired`).
    #[error("gone: {0}")]
    Gone(&'static str),
    /// 422: field → reason code.
    #[error("validation failed")]
    Validation(BTreeMap<String, String>),
    /// 422 with its own code and a message that names what is wrong (an
    /// item of a list, say); `details` says it for machines.
    #[error("refused: {code}")]
    Refused {
        code: &'static str,
        message: String,
        details: serde_json::Value,
    },
    /// 429: retry after this many seconds.
    #[error("rate limited")]
    RateLimited {
        retry_after_secs: u64,
        reason: &'static str,
    },
    /// A single sign-on was refused or failed, with its code
    /// (`sso_state_invalid`, `sso_email_unverified`, `sso_provider_error`, …).
    #[error("single sign-on: {0}")]
    Sso(&'static str),
    /// 500: logged with its cause, never shown to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// A 500 with its cause (logged, never shown).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ServiceError::Internal(cause.to_string())
    }

    pub fn invalid(field: &str, reason: &str) -> Self {
        let mut m = BTreeMap::new();
        m.insert(field.to_string(), reason.to_string());
        ServiceError::Validation(m)
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(code) => ServiceError::Conflict(code),
            StoreError::Rule(code) => ServiceError::Conflict(code),
            StoreError::Backend(e) => ServiceError::Internal(error_chain(&*e)),
        }
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
