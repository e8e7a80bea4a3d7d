//! `AuthUser`: the caller, proven by a valid access token of a live session.

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl AuthUser {
    /// Checks an access token: signature, claims, and that its session is still live.
    pub async fn from_token(state: &AppState, token: &str) -> Result<AuthUser, ApiError> {
        let claims = state
            .tokens
            .verify_access(token)
            .ok_or(ApiError::Unauthorized(
                "the access token is invalid or expired",
            ))?;
        if !state
            .sessions
            .is_live(&state.store, claims.sid, claims.sub)
            .await?
        {
            return Err(ApiError::Unauthorized(
                "the session has ended; sign in again",
            ));
        }
        Ok(AuthUser {
            user_id: claims.sub,
            session_id: claims.sid,
        })
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(*user);
        }
        let token =
            bearer_token(parts).ok_or(ApiError::Unauthorized("an access token is required"))?;
        let user = AuthUser::from_token(state, token).await?;
        tracing::Span::current().record("user.id", tracing::field::display(user.user_id));
        state
            .limiter
            .check_rest(user.user_id)
            .await
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
        parts.extensions.insert(user);
        Ok(user)
    }
}
