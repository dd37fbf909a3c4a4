//! [`AiError`], and turning reqwest failures and OpenAI-style error bodies
//! into it.

use serde_json::Value;

/// Why a call to an AI endpoint failed.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    /// The configured time ran out (connecting, waiting for the first
    /// token, or in total).
    #[error("AI endpoint timed out")]
    Timeout,
    /// The endpoint answered with a non-2xx status; `message` comes from
    /// the error body (`{"error":{"message",…}}` and common variants).
    #[error("AI endpoint answered {status}: {message}")]
    Http { status: u16, message: String },
    /// The endpoint answered 2xx with something that is not the protocol.
    #[error("AI endpoint protocol error: {0}")]
    Protocol(String),
    /// The connection failed or broke.
    #[error("AI endpoint unreachable: {0}")]
    Transport(String),
    /// The settings are unusable.
    #[error("AI configuration: {0}")]
    Config(String),
}

impl AiError {
    /// Worth retrying later: timeouts, transport failures, 429 and 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            AiError::Timeout | AiError::Transport(_) => true,
            AiError::Http { status, .. } => *status == 429 || *status >= 500,
            AiError::Protocol(_) | AiError::Config(_) => false,
        }
    }

    /// From a non-2xx response's status and body.
    pub(crate) fn from_status(status: u16, body: &[u8]) -> Self {
        AiError::Http {
            status,
            message: error_message(body),
        }
    }
}

impl From<reqwest::Error> for AiError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            AiError::Timeout
        } else if e.is_decode() {
            AiError::Protocol(e.to_string())
        } else if e.is_builder() {
            AiError::Config(e.to_string())
        } else {
            // Include the source chain: reqwest's own text is just
            // "error sending request".
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            AiError::Transport(text)
        }
    }
}

/// The message of an error body: OpenAI's `{"error":{"message"}}`, or the
/// `{"error":"…"}`, `{"message":"…"}` and `{"detail":"…"}` that other
/// compatible servers send, or else the start of the raw body.
fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let candidates = [
            v.pointer("/error/message"),
            v.get("error"),
            v.get("message"),
            v.get("detail"),
            v.pointer("/detail/0/msg"),
        ];
        for c in candidates.into_iter().flatten() {
            if let Some(s) = c.as_str().filter(|s| !s.is_empty()) {
                return truncate(s);
            }
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        truncate(text)
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 500;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        match AiError::from_status(400, body.as_bytes()) {
            AiError::Http {
                status: 400,
                message,
            } => message,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_bodies() {
        let openai = r#"{"error":{"message":"model not found","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#;
        assert_eq!(message(openai), "model not found");
        assert_eq!(
            message(r#"{"error":"Input too long","error_type":"Validation"}"#),
            "Input too long"
        );
        assert_eq!(message(r#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(message(r#"{"object":"error","message":"bad"}"#), "bad");
        assert_eq!(message("Bad Gateway\n"), "Bad Gateway");
        assert_eq!(message(""), "(empty body)");
        assert_eq!(message(&"x".repeat(600)).chars().count(), 501);
    }

    #[test]
    fn transient_errors() {
        assert!(AiError::Timeout.is_transient());
        assert!(AiError::from_status(503, b"").is_transient());
        assert!(AiError::from_status(429, b"").is_transient());
        assert!(!AiError::from_status(401, b"").is_transient());
        assert!(!AiError::Config("x".into()).is_transient());
    }
}
