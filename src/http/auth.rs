//! `/auth`: register, login, refresh (rotating, reuse-detecting), logout and device sessions.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ErrorBody;
use super::extract::{ClientIp, DEVICE_ID_HEADER, DeviceId, Json, UserAgent, parse_json};
use crate::auth::AuthUser;
use crate::auth::login_throttle;
use crate::auth::passwords::password_problem;
use crate::auth::tokens::{hash_refresh_token, new_refresh_token};
use crate::domain::{DisplayName, Email, Username};
use crate::error::{ApiError, ApiResult, FieldErrors};
use crate::events::RevokeReason;
use crate::rate_limit::limited_address;
use crate::state::AppState;
use crate::store::sessions::{NewSession, Refresh};
use crate::store::users::{NewUser, User};
use crate::time::{self, Timestamp};
use crate::views::Me;

pub const REFRESH_COOKIE: &str = "refresh_token";
const COOKIE_PATH: &str = "/api/v1/auth";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    /// 3–32 of `[A-Za-z0-9_.-]`, unique case-insensitively.
    pub username: String,
    /// 8–128 characters, not one of the 10,000 most common passwords.
    pub password: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Username or email; either field may carry either.
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// For clients without cookies; browsers send the `refresh_token` cookie instead.
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub user: Me,
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

async fn check_ip_limit(state: &AppState, ip: ClientIp) -> ApiResult<()> {
    state
        .limiter
        .check_auth(limited_address(ip.0))
        .await
        .map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// Create an account and sign in on this device.
#[utoipa::path(post, path = "/auth/register", tag = "auth", request_body = RegisterRequest,
    params(("X-Device-ID" = Option<String>, Header, description = "this device's id; generated and echoed when absent")),
    responses((status = 201, body = TokenResponse, description = "signed in; sets the refresh_token cookie"),
              (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    device: DeviceId,
    agent: UserAgent,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Response> {
    check_ip_limit(&state, ip).await?;
    let mut errors = FieldErrors::new();
    let username = Username::parse(&body.username)
        .map_err(|why| errors.insert("username".into(), why.into()))
        .ok();
    if let Some(why) = password_problem(&body.password, &body.username) {
        errors.insert("password".into(), why.into());
    }
    let email = match body.email.as_deref() {
        Some(raw) => Email::parse(raw)
            .map_err(|why| errors.insert("email".into(), why.into()))
            .ok(),
        None => None,
    };
    let display_name = match body.display_name.as_deref() {
        Some(raw) => DisplayName::parse(raw)
            .map_err(|why| errors.insert("display_name".into(), why.into()))
            .ok(),
        None => None,
    };
    let Some(username) = username.filter(|_| errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let hash = state.passwords.hash(body.password).await?;
    let display_name = display_name.unwrap_or_else(|| DisplayName::from(&username));
    let user = state
        .store
        .create_user(NewUser {
            username: &username,
            email: email.as_ref(),
            display_name: &display_name,
            password_hash: &hash,
        })
        .await?;
    tracing::info!(user_id = %user.id, "account registered");
    start_session(&state, user, device, agent, ip, StatusCode::CREATED).await
}

/// Sign in with username (or email) and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    params(("X-Device-ID" = Option<String>, Header, description = "this device's id; generated and echoed when absent")),
    responses((status = 200, body = TokenResponse, description = "signed in; sets the refresh_token cookie"),
              (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    device: DeviceId,
    agent: UserAgent,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Response> {
    check_ip_limit(&state, ip).await?;
    let Some(login) = body
        .username
        .as_deref()
        .or(body.email.as_deref())
        .map(str::trim)
        .filter(|l| !l.is_empty())
    else {
        return Err(ApiError::validation(
            "username",
            "username or email is required",
        ));
    };
    if login.len() > 254 || body.password.len() > 1024 {
        return Err(ApiError::Unauthorized("wrong username or password"));
    }
    let found = state.store.credentials_by_login(login).await?;
    let owner = found.as_ref().map(|(user, _)| user.id);
    let account = login_throttle::account_key(owner, login);
    login_throttle::check_login(&state, &account, ip.0).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // Unknown user and wrong password take the same path and the same time: one argon2 verify.
    let valid = state.passwords.verify(body.password, hash).await?;
    match user {
        Some(user) if valid => {
            login_throttle::succeeded(&state, &account, ip.0).await;
            start_session(&state, user, device, agent, ip, StatusCode::OK).await
        }
        _ => match login_throttle::count_failure(&state, &account, owner, ip.0).await {
            Some(retry_after) => Err(ApiError::RateLimited { retry_after }),
            None => Err(ApiError::Unauthorized("wrong username or password")),
        },
    }
}

/// Issues an access token and a refresh token for a new session on this device.
async fn start_session(
    state: &AppState,
    user: User,
    device: DeviceId,
    agent: UserAgent,
    ip: ClientIp,
    status: StatusCode,
) -> ApiResult<Response> {
    let refresh_token = new_refresh_token();
    let (session, replaced) = state
        .store
        .create_session(NewSession {
            user_id: user.id,
            device_id: &device.id,
            user_agent: &agent.0,
            ip: &ip.0.to_string(),
            refresh_hash: &hash_refresh_token(&refresh_token),
            expires_at: refresh_expiry(state),
        })
        .await?;
    if let Some(old) = replaced {
        state
            .sessions_revoked(user.id, vec![old], RevokeReason::ReplacedOnDevice)
            .await;
    }
    token_response(
        state,
        user,
        session.id,
        &refresh_token,
        Some(&device.id),
        status,
    )
}

fn refresh_expiry(state: &AppState) -> Timestamp {
    time::now() + chrono::Duration::seconds(state.settings.auth.refresh_ttl_secs as i64)
}

fn token_response(
    state: &AppState,
    user: User,
    session_id: Uuid,
    refresh_token: &str,
    device_id: Option<&str>,
    status: StatusCode,
) -> ApiResult<Response> {
    let access_token = state.tokens.issue_access(user.id, session_id)?;
    let body = TokenResponse {
        user: Me::new(state, user),
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.access_ttl.as_secs(),
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::SET_COOKIE, refresh_cookie(state, refresh_token)?);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(device_id) = device_id.and_then(|d| HeaderValue::from_str(d).ok()) {
        headers.insert(DEVICE_ID_HEADER, device_id);
    }
    Ok(response)
}

fn refresh_cookie(state: &AppState, token: &str) -> ApiResult<HeaderValue> {
    let cookie = Cookie::build((REFRESH_COOKIE, token.to_string()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(COOKIE_PATH)
        .secure(state.settings.cookies_secure())
        .max_age(cookie::time::Duration::seconds(
            state.settings.auth.refresh_ttl_secs as i64,
        ))
        .build();
    HeaderValue::from_str(&cookie.to_string()).map_err(|e| ApiError::Internal(e.into()))
}

fn clear_refresh_cookie(state: &AppState) -> HeaderValue {
    let cookie = Cookie::build((REFRESH_COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(COOKIE_PATH)
        .secure(state.settings.cookies_secure())
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&cookie.to_string())
        .unwrap_or(HeaderValue::from_static("refresh_token=; Max-Age=0"))
}

/// Trade a refresh token for a new access token and a new refresh token. The old refresh
/// token stops working; presenting it again revokes the whole session, except within a short
/// grace window after its rotation (`auth.refresh_grace_secs`), when it gets the same new pair.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body(content = Option<RefreshRequest>,
        description = "optional: the refresh_token cookie is used when there is no body"),
    responses((status = 200, body = TokenResponse, description = "rotated; sets a new refresh_token cookie"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    ip: ClientIp,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    check_ip_limit(&state, ip).await?;
    let presented = if body.iter().all(u8::is_ascii_whitespace) {
        jar.get(REFRESH_COOKIE).map(|c| c.value().to_string())
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        Some(parse_json::<RefreshRequest>(&body)?.refresh_token)
    };
    let Some(presented) = presented.filter(|t| !t.is_empty() && t.len() <= 256) else {
        return Err(ApiError::Unauthorized("a refresh token is required"));
    };
    let new_token = state.tokens.next_refresh_token(&presented);
    let grace = chrono::Duration::seconds(state.settings.auth.refresh_grace_secs as i64);
    let outcome = state
        .store
        .rotate_refresh_token(
            &hash_refresh_token(&presented),
            &hash_refresh_token(&new_token),
            refresh_expiry(&state),
            grace,
        )
        .await?;
    match outcome {
        Refresh::Rotated {
            session_id,
            user_id,
        } => {
            let user = state
                .store
                .user_by_id(user_id)
                .await?
                .ok_or(ApiError::Unauthorized("the account no longer exists"))?;
            token_response(&state, user, session_id, &new_token, None, StatusCode::OK)
        }
        Refresh::Reused {
            session_id,
            user_id,
        } => {
            tracing::warn!(%session_id, %user_id, "a rotated refresh token was presented again; session revoked");
            state
                .sessions_revoked(user_id, vec![session_id], RevokeReason::RefreshTokenReused)
                .await;
            Err(ApiError::Unauthorized(
                "the refresh token was already used; the session has been revoked",
            ))
        }
        Refresh::Invalid => Err(ApiError::Unauthorized(
            "the refresh token is invalid or expired",
        )),
    }
}

/// Sign out this session: its tokens stop working at once.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "signed out; clears the refresh_token cookie"), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    if state
        .store
        .revoke_session(auth.user_id, auth.session_id)
        .await?
    {
        state
            .sessions_revoked(auth.user_id, vec![auth.session_id], RevokeReason::Logout)
            .await;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_refresh_cookie(&state))],
    )
        .into_response())
}
