//! The one API error type and its JSON shape: `{"error":{"code","message","fields"?}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub type ApiResult<T> = Result<T, ApiError>;

/// Field name → why it was refused, for 422 responses.
pub type FieldErrors = BTreeMap<String, String>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(FieldErrors),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("the method is not allowed on this resource")]
    MethodNotAllowed,
    /// `code` names the conflict precisely, e.g. `username_taken`.
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("too many requests; retry after {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    #[error("{0}")]
    Unavailable(String),
    /// Anything unexpected: logged in full, answered with a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorBody<'a>,
}

/// What an error tells a client, the same over HTTP (`{"error": body}`) and the WebSocket
/// (`{"type": "error", ref?, ...body}`): `code`, `message` and, for 422, `fields`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub code: &'a str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<&'a FieldErrors>,
}

impl<'a> ErrorBody<'a> {
    pub fn new(code: &'a str, message: impl Into<String>) -> ErrorBody<'a> {
        ErrorBody {
            code,
            message: message.into(),
            fields: None,
        }
    }
}

impl ApiError {
    pub fn validation(field: &str, why: impl Into<String>) -> ApiError {
        ApiError::Validation(FieldErrors::from([(field.to_string(), why.into())]))
    }

    /// The one rendering of an error for clients. An internal error is logged here, in full,
    /// and answered with a generic message.
    pub fn body(&self) -> ErrorBody<'_> {
        let message = match self {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "request failed");
                "something went wrong on our side".to_string()
            }
            ApiError::Validation(fields) if fields.len() == 1 => fields
                .iter()
                .map(|(field, why)| format!("{field}: {why}"))
                .collect(),
            ApiError::Validation(_) => "some fields are invalid".to_string(),
            other => other.to_string(),
        };
        ErrorBody {
            code: self.code(),
            message,
            fields: match self {
                ApiError::Validation(fields) => Some(fields),
                _ => None,
            },
        }
    }

    /// How long a rate-limited client should wait.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Validation(_) => "validation_failed",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// Builds an error response by hand, for layers that answer before any handler runs.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = Body {
        error: ErrorBody::new(code, message),
    };
    (status, axum::Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body { error: self.body() };
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after } => {
                // Round up: a client that waits exactly Retry-After must get through.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> ApiError {
        match err {
            sqlx::Error::PoolTimedOut => {
                ApiError::Unavailable("the database is busy; try again".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> ApiError {
        use crate::store::StoreError;
        match err {
            StoreError::UsernameTaken => ApiError::Conflict {
                code: "username_taken",
                message: "that username is already taken",
            },
            StoreError::EmailTaken => ApiError::Conflict {
                code: "email_taken",
                message: "that email address is already registered",
            },
            StoreError::AliasTaken => ApiError::Conflict {
                code: "alias_taken",
                message: "that alias already names another room",
            },
            StoreError::DmExists => ApiError::Conflict {
                code: "conflict",
                message: "that direct-message room already exists",
            },
            StoreError::UnknownUser => {
                ApiError::validation("user_ids", "names a user that does not exist")
            }
            StoreError::Database(err) => err.into(),
        }
    }
}
