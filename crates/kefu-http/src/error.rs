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
            ServiceError::Unauthorized(code) => {
                let message = match code {
                    "invalid_credentials" => "The e-mail or password is wrong.",
                    "totp_required" => "Enter the code from your authenticator app.",
                    "invalid_totp" => "The authentication code is wrong.",
                    "refresh_token_reused" => "This session was ended because a used refresh token was presented again. Sign in again.",
                    "invalid_identity" => "The visitor's identity signature (HMAC) does not match.",
                    _ => "Missing or invalid credentials.",
                };
                ApiError::new(StatusCode::UNAUTHORIZED, code, message)
            }
            ServiceError::Forbidden(code) => {
                let message = match code {
                    "totp_enrollment_required" => "This workspace requires administrators to enable two-factor authentication.",
                    "sso_mfa_required" => "This workspace requires administrators to sign in with a second factor at the identity provider.",
                    "password_change_required" => "Choose a new password to sign in (an administrator asked for it).",
                    "origin_not_allowed" => "This site may not open the chat widget of this inbox.",
                    _ => "Your role does not allow this.",
                };
                ApiError::new(StatusCode::FORBIDDEN, code, message)
            }
            ServiceError::NotFound(what) => ApiError::new(
                StatusCode::NOT_FOUND,
                format!("{what}_not_found"),
                format!("No such {}.", what.replace('_', " ")),
            ),
            ServiceError::Conflict(code) => {
                let message = match code {
                    "email_taken" => "An account with this e-mail already exists.",
                    "already_member" => "This person is already a member of the workspace.",
                    "last_owner" => "A workspace must keep at least one owner.",
                    "totp_already_enabled" => "Two-factor authentication is already enabled.",
                    "totp_not_enabled" => "Two-factor authentication is not enabled.",
                    "totp_not_enrolled" => "Start enrolment first.",
                    "conversation_closed" => "This conversation is closed.",
                    "invalid_transition" => "The conversation's status does not allow this.",
                    "assignment_conflict" => "Someone else changed this conversation's assignee first. Reload and try again.",
                    "inbox_has_conversations" => "This inbox holds conversations; it cannot be deleted.",
                    "team_name_taken" => "A team with this name already exists.",
                    "conversation_not_resolved" => "Only a resolved conversation can be rated.",
                    "shortcut_taken" => "A canned response with this shortcut already exists.",
                    "enable_totp_first" => {
                        "Enable two-factor authentication on your own account first."
                    }
                    _ => "The request conflicts with the current state.",
                };
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
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
