//! The JSON error envelope `{"code","message","details"?}` and the table that
//! maps each failure to a status and a stable snake_case code.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kefu_service::ServiceError;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable snake_case code.
    pub code: String,
    /// Human-readable text (English; clients translate by `code`).
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            details: None,
            retry_after_secs: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource.")
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Missing or invalid credentials.",
        )
    }

    pub fn rate_limited(retry_after_secs: u64, reason: &str) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests; retry later.",
        )
        .with_details(serde_json::json!({ "reason": reason, "retry_after": retry_after_secs }));
        e.retry_after_secs = Some(retry_after_secs);
        e
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on our side.",
        )
    }

    /// The envelope for a bare status (used when axum or a layer answered
    /// without a body).
    pub fn from_status(status: StatusCode) -> Self {
        let (code, message) = match status {
            StatusCode::NOT_FOUND => ("not_found", "No such route or resource."),
            StatusCode::METHOD_NOT_ALLOWED => {
                ("method_not_allowed", "This method is not allowed here.")
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                ("payload_too_large", "The request body is too large.")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "Send a JSON body with Content-Type: application/json.",
            ),
            StatusCode::REQUEST_TIMEOUT => ("timeout", "The request took too long."),
            StatusCode::UNAUTHORIZED => ("unauthorized", "Missing or invalid credentials."),
            StatusCode::FORBIDDEN => ("forbidden", "You may not do this."),
            StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "Too many requests; retry later."),
            StatusCode::UNPROCESSABLE_ENTITY => ("validation_failed", "The request is not valid."),
            s if s.is_client_error() => ("bad_request", "The request is not valid."),
            _ => ("internal", "Something went wrong on our side."),
        };
        Self::new(status, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code,
            message: self.message,
            details: self.details,
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        res
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Unauthorized(code) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                code,
                message(UNAUTHORIZED, code, "Missing or invalid credentials."),
            ),
            ServiceError::Forbidden(code) => ApiError::new(
                StatusCode::FORBIDDEN,
                code,
                message(FORBIDDEN, code, "Your role does not allow this."),
            ),
            ServiceError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{what}_not_found"),
                format!("No such {}.", what.replace('_', " ")),
            ),
            ServiceError::Conflict(code) => ApiError::new(
                StatusCode::CONFLICT,
                code,
                message(
                    CONFLICT,
                    code,
                    "The request conflicts with the current state.",
                ),
            ),
            ServiceError::TooLarge(code) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                code,
                message(OTHER, code, "The request body is too large."),
            ),
            ServiceError::UnsupportedMediaType(code) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                code,
                message(OTHER, code, "This type of file is not accepted."),
            ),
            ServiceError::Gone(code) => ApiError::new(
                StatusCode::GONE,
                code,
                message(OTHER, code, "This is no longer available."),
            ),
            ServiceError::Validation(fields) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Some fields are not valid.",
            )
            .with_details(serde_json::json!({ "fields": fields })),
            ServiceError::Refused {
                code,
                message,
                details,
            } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message).with_details(details)
            }
            ServiceError::RateLimited {
                retry_after_secs,
                reason,
            } => ApiError::rate_limited(retry_after_secs, reason),
            ServiceError::Sso(code) => sso_error(code),
            ServiceError::Internal(cause) => {
                // Logged once here, inside the request span; never sent out.
                tracing::error!(error = %cause, "internal error");
                ApiError::internal()
            }
        }
    }
}

/// The English message of each code the service layer answers with, by
/// status (clients translate by code). A code missing here would fall back
/// to its status's generic message: `every_code_in_use_has_a_message`
/// checks the sources against these tables, and that docs/api.md lists
/// them.
/// 410, 413 and 415 answers.
const OTHER: &[(&str, &str)] = &[
    (
        "payload_too_large",
        "The file is larger than this server accepts.",
    ),
    (
        "storage_quota_exceeded",
        "This workspace's storage for files is full.",
    ),
    (
        "unsupported_media_type",
        "This type of file is not accepted. Send an image, a PDF, a text or an Office document.",
    ),
    (
        "link_expired",
        "This download link has expired. Open the conversation again for a new one.",
    ),
];

const UNAUTHORIZED: &[(&str, &str)] = &[
    ("unauthorized", "Missing or invalid credentials."),
    ("invalid_credentials", "The e-mail or password is wrong."),
    (
        "totp_required",
        "Enter the code from your authenticator app.",
    ),
    ("invalid_totp", "The authentication code is wrong."),
    (
        "refresh_token_reused",
        "This session was ended because a used refresh token was presented again. Sign in again.",
    ),
    (
        "invalid_identity",
        "The visitor's identity signature (HMAC) does not match.",
    ),
    (
        "invalid_reset_token",
        "This password reset link is wrong, expired or used already. Ask for a new one.",
    ),
];

const FORBIDDEN: &[(&str, &str)] = &[
    ("forbidden", "Your role does not allow this."),
    ("totp_enrollment_required", "This workspace requires administrators to enable two-factor authentication."),
    ("sso_mfa_required", "This workspace requires administrators to sign in with a second factor at the identity provider."),
    ("password_change_required", "Choose a new password to sign in (an administrator asked for it)."),
    ("origin_not_allowed", "This site may not open the chat widget of this inbox."),
    ("visitor_blocked", "This chat is not available to you."),
];

const CONFLICT: &[(&str, &str)] = &[
    ("email_taken", "An account with this e-mail already exists."),
    (
        "already_member",
        "This person is already a member of the workspace.",
    ),
    ("last_owner", "A workspace must keep at least one owner."),
    (
        "totp_already_enabled",
        "Two-factor authentication is already enabled.",
    ),
    (
        "totp_not_enabled",
        "Two-factor authentication is not enabled.",
    ),
    ("totp_not_enrolled", "Start enrolment first."),
    (
        "enable_totp_first",
        "Enable two-factor authentication on your own account first.",
    ),
    ("conversation_closed", "This conversation is closed."),
    (
        "invalid_transition",
        "The conversation's status does not allow this.",
    ),
    (
        "assignment_conflict",
        "Someone else changed this conversation's assignee first. Reload and try again.",
    ),
    (
        "inbox_has_conversations",
        "This inbox holds conversations; it cannot be deleted.",
    ),
    ("team_name_taken", "A team with this name already exists."),
    ("same_contact", "A contact cannot be merged into itself."),
    (
        "contact_merged",
        "This contact was merged into another; edit that one instead.",
    ),
    (
        "conversation_not_resolved",
        "Only a resolved conversation can be rated.",
    ),
    (
        "shortcut_taken",
        "A canned response with this shortcut already exists.",
    ),
    ("version_conflict", "Someone saved this article after the version you edited. Reload it and apply your changes again."),
    ("external_id_taken", "Another article of this workspace already has this external id."),
    ("widget_key_taken", "This widget key is already used by another inbox."),
    ("range_exists", "This address range is already blocked."),
    // The store's refusal of a blocked contact's message (the service
    // answers it as 403 with the same code).
    ("visitor_blocked", "This chat is not available to you."),
    ("email_not_configured", "This server does not send e-mail (no SMTP relay is set up)."),
    ("duplicate_message", "This client_msg_id was already used for another message."),
    ("not_a_member", "Only members of this workspace can be added."),
    ("bot_turn_exists", "This bot answer was already recorded."),
    // Identifier collisions: a retried create whose first attempt landed.
    ("conversation_exists", "This conversation already exists."),
    ("invitation_exists", "This invitation already exists."),
    ("workspace_exists", "This workspace already exists."),
    ("token_exists", "This API token already exists."),
    ("state_taken", "This sign-in was already started. Start again."),
];

/// `code`'s message in `table`, or the status's generic one.
fn message(table: &[(&str, &'static str)], code: &str, generic: &'static str) -> &'static str {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(generic, |(_, m)| m)
}

/// A refused or failed single sign-on: its status and message by code.
fn sso_error(code: &'static str) -> ApiError {
    let (status, message) = match code {
        "sso_not_configured" => (StatusCode::NOT_FOUND, "Single sign-on is not set up for this workspace."),
        "sso_state_invalid" => (StatusCode::BAD_REQUEST, "This sign-in link expired or was already used. Start again."),
        "sso_denied" => (StatusCode::FORBIDDEN, "The identity provider did not sign you in."),
        "sso_provider_error" => (StatusCode::BAD_GATEWAY, "The identity provider could not be reached or gave an unusable answer."),
        "sso_email_unverified" => (StatusCode::FORBIDDEN, "The identity provider did not confirm your e-mail address."),
        "sso_not_a_member" => (StatusCode::FORBIDDEN, "You are not a member of this workspace. Ask an administrator for an invitation."),
        "sso_domain_not_allowed" => (StatusCode::FORBIDDEN, "Your e-mail domain may not join this workspace."),
        "sso_account_conflict" => (StatusCode::CONFLICT, "An account with this e-mail was created meanwhile. Try again."),
        "sso_mfa_required" => (StatusCode::FORBIDDEN, "This workspace requires administrators to sign in with a second factor at the identity provider."),
        _ => (StatusCode::UNAUTHORIZED, "The identity provider's answer could not be verified."),
    };
    ApiError::new(status, code, message)
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The string literal codes after each `marker` in `text`.
    fn codes_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
        text.match_indices(marker)
            .filter_map(|(i, _)| {
                let rest = &text[i + marker.len()..];
                let end = rest.find('"')?;
                let code = &rest[..end];
                code.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
                    .then_some(code)
            })
            .collect()
    }

    #[test]
    fn every_code_in_use_has_a_message() {
        let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for krate in ["kefu-service", "kefu-store", "kefu-http"] {
            sources(&crates.join(krate).join("src"), &mut files);
        }
        assert!(files.len() > 50, "the sources were found: {}", files.len());
        let mut missing = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            // Test modules may use codes of their own (only the `tests`
            // module is cut: `#[cfg(test)] mod helper;` lines come earlier).
            let text = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            let checks: [(&str, &[(&str, &str)]); 9] = [
                ("Unauthorized(\"", UNAUTHORIZED),
                ("Forbidden(\"", FORBIDDEN),
                ("Conflict(\"", CONFLICT),
                // Store refusals reach clients as conflicts.
                ("Rule(\"", CONFLICT),
                ("map_err(e, \"", CONFLICT),
                ("conflict_on(\"", CONFLICT),
                ("TooLarge(\"", OTHER),
                ("UnsupportedMediaType(\"", OTHER),
                ("Gone(\"", OTHER),
            ];
            for (marker, table) in checks {
                for code in codes_after(text, marker) {
                    if !table.iter().any(|(c, _)| *c == code) {
                        missing.push(format!("{marker}{code}\" in {}", f.display()));
                    }
                }
            }
        }
        missing.sort();
        missing.dedup();
        assert!(
            missing.is_empty(),
            "codes without a message:\n{}",
            missing.join("\n")
        );
    }

    #[test]
    fn docs_api_lists_every_code() {
        let doc = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md"),
        )
        .unwrap();
        let mut missing: Vec<&str> = [UNAUTHORIZED, FORBIDDEN, CONFLICT, OTHER]
            .iter()
            .flat_map(|t| t.iter().map(|(c, _)| *c))
            .filter(|c| !doc.contains(&format!("`{c}`")))
            .collect();
        missing.sort();
        assert!(missing.is_empty(), "docs/api.md does not list {missing:?}");
    }

    #[test]
    fn a_known_code_gets_its_message_and_an_unknown_one_the_generic() {
        let e = ApiError::from(ServiceError::Conflict("version_conflict"));
        assert_eq!(
            (e.status, e.code.as_str()),
            (StatusCode::CONFLICT, "version_conflict")
        );
        assert!(e.message.contains("saved"), "{}", e.message);
        let e = ApiError::from(ServiceError::Conflict("something_new"));
        assert_eq!(e.message, "The request conflicts with the current state.");
    }
}
