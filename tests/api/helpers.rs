//! Helpers shared by the auth, sessions, tokens and users tests: requests that recur, token
//! forging with the test secret, and direct reads of the test database.

#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::common::{Backend, TEST_JWT_SECRET, TestServer, TestUser, expect_error};

/// A password that passes every rule (not common, 8+ characters).
pub const STRONG: &str = "Vq7#Lm2!Rt9x";

/// Unix seconds now.
pub fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Asserts a 401 in the API's error shape with `WWW-Authenticate: Bearer`; returns the body.
pub async fn expect_unauthorized(res: Response) -> Value {
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let status = res.status();
    let body = expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    assert_eq!(
        challenge.as_deref(),
        Some("Bearer"),
        "401 ({status}) carries WWW-Authenticate: Bearer"
    );
    body
}

/// Asserts a 422 `validation_failed` whose `fields` names `field`; returns the body.
pub async fn expect_field_error(res: Response, field: &str) -> Value {
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let reason = body["error"]["fields"][field].as_str();
    assert!(
        reason.is_some_and(|r| !r.is_empty()),
        "fields.{field} explains the refusal in {body}"
    );
    body
}

/// Asserts a 429 `rate_limited` with a `Retry-After` of at least one second; returns the wait.
pub async fn expect_rate_limited(res: Response) -> u64 {
    let retry_after = res
        .headers()
        .get("retry-after")
        .expect("429 carries Retry-After")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After is whole seconds");
    assert!(retry_after >= 1, "Retry-After {retry_after} is at least 1");
    expect_error(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    retry_after
}

/// GET with an `Authorization: Bearer` token.
pub async fn get(server: &TestServer, path: &str, token: &str) -> Response {
    server
        .client
        .get(server.api(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// GET /users/me with a raw `Authorization` header value (or none).
pub async fn me_with_header(server: &TestServer, authorization: Option<&str>) -> Response {
    let mut req = server.client.get(server.api("/users/me"));
    if let Some(value) = authorization {
        req = req.header("Authorization", value);
    }
    req.send().await.unwrap()
}

/// Asserts that `token` is accepted as an access token (GET /users/me is 200).
pub async fn assert_access_ok(server: &TestServer, token: &str) {
    let res = get(server, "/users/me", token).await;
    assert_eq!(res.status(), StatusCode::OK, "access token accepted");
}

/// Asserts that `token` is refused as an access token, with the full 401 shape.
pub async fn assert_access_refused(server: &TestServer, token: &str) {
    expect_unauthorized(get(server, "/users/me", token).await).await;
}

/// POST /auth/refresh with the token in the `refresh_token` cookie.
pub async fn refresh_by_cookie(server: &TestServer, token: &str) -> Response {
    server
        .client
        .post(server.api("/auth/refresh"))
        .header("Cookie", format!("refresh_token={token}"))
        .send()
        .await
        .unwrap()
}

/// POST /auth/refresh with the token in a JSON body.
pub async fn refresh_by_body(server: &TestServer, token: &str) -> Response {
    server
        .client
        .post(server.api("/auth/refresh"))
        .json(&json!({"refresh_token": token}))
        .send()
        .await
        .unwrap()
}

/// POST /auth/login by username (or anything the `username` field may carry).
pub async fn login_raw(
    server: &TestServer,
    login: &str,
    password: &str,
    device: Option<&str>,
) -> Response {
    let mut req = server
        .client
        .post(server.api("/auth/login"))
        .json(&json!({"username": login, "password": password}));
    if let Some(device) = device {
        req = req.header("X-Device-ID", device);
    }
    req.send().await.unwrap()
}

/// POST /auth/register with any JSON body.
pub async fn register_raw(server: &TestServer, body: Value) -> Response {
    server
        .client
        .post(server.api("/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Signs `user` in again on another device: a second session.
pub async fn second_session(server: &TestServer, user: &TestUser, device: &str) -> TestUser {
    server
        .login(&user.username, &user.password, Some(device))
        .await
}

/// GET /auth/sessions as `user`, the list.
pub async fn sessions_of(server: &TestServer, user: &TestUser) -> Vec<Value> {
    let res = get(server, "/auth/sessions", &user.access_token).await;
    assert_eq!(res.status(), StatusCode::OK, "GET /auth/sessions");
    res.json::<Value>()
        .await
        .unwrap()
        .as_array()
        .expect("sessions list is an array")
        .clone()
}

/// The claims of a JWT, read without checking the signature.
pub fn jwt_claims(token: &str) -> Value {
    jwt_part(token, 1)
}

/// The header of a JWT, read without checking the signature.
pub fn jwt_header(token: &str) -> Value {
    jwt_part(token, 0)
}

fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// Valid claims for `user`'s session, as the server would issue them; tests then spoil one.
pub fn valid_claims(user: &TestUser) -> Value {
    let real = jwt_claims(&user.access_token);
    let now = now_secs();
    json!({
        "sub": real["sub"],
        "sid": real["sid"],
        "jti": uuid::Uuid::now_v7(),
        "iat": now,
        "exp": now + 600,
        "iss": "chatter",
        "aud": "chatter",
    })
}

/// A JWT over `claims`, signed with `secret` using `alg`.
pub fn forge(claims: &Value, alg: Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode JWT")
}

/// A JWT over `claims` signed with the server's test secret (HS256).
pub fn forge_valid(claims: &Value) -> String {
    forge(claims, Algorithm::HS256, TEST_JWT_SECRET)
}

/// An unsigned token: `{"alg":"none"}`, the claims, an empty signature.
pub fn forge_alg_none(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{header}.{payload}.")
}

/// True when `s` is an RFC 3339 UTC time with milliseconds, e.g. `2025-01-02T03:04:05.678Z`.
pub fn is_rfc3339_millis(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Runs `$body` with `$pool` connected to the test server's database (SqlitePool or PgPool).
macro_rules! with_db {
    ($server:expr, $pool:ident => $body:expr) => {{
        let url = $server.settings.database_url();
        match &$server.backend {
            Backend::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&url).await.expect("open SQLite");
                let out = $body;
                $pool.close().await;
                out
            }
            Backend::Postgres(_) => {
                let $pool = sqlx::PgPool::connect(&url).await.expect("open PostgreSQL");
                let out = $body;
                $pool.close().await;
                out
            }
        }
    }};
}

/// `users.password_hash` of `username`, read straight from the database.
pub async fn stored_password_hash(server: &TestServer, username: &str) -> String {
    let sql = "SELECT password_hash FROM users WHERE username = $1";
    with_db!(server, pool => sqlx::query_scalar::<_, String>(sql)
        .bind(username)
        .fetch_one(&pool)
        .await
        .expect("password_hash"))
}

/// Every `sessions.refresh_hash` in the database.
pub async fn stored_refresh_hashes(server: &TestServer) -> Vec<Vec<u8>> {
    let sql = "SELECT refresh_hash FROM sessions";
    with_db!(server, pool => sqlx::query_scalar::<_, Vec<u8>>(sql)
        .fetch_all(&pool)
        .await
        .expect("refresh_hash"))
}

/// Moves every session's expiry into the past.
pub async fn expire_all_sessions(server: &TestServer) {
    let sql = "UPDATE sessions SET expires_at = $1";
    let past = chrono::Utc::now() - chrono::Duration::days(1);
    with_db!(server, pool => sqlx::query(sql)
        .bind(past)
        .execute(&pool)
        .await
        .expect("expire sessions")
        .rows_affected());
}

/// A fresh UUIDv7 that names nothing on the server.
pub fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub async fn login_ok(server: &TestServer, login: &str, password: &str) {
    let res = login_raw(server, login, password, None).await;
    assert_eq!(res.status(), StatusCode::OK, "login {login}");
}

pub async fn me(server: &TestServer, user: &TestUser) -> Value {
    let res = get(server, "/users/me", &user.access_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

pub async fn patch_me(server: &TestServer, user: &TestUser, body: Value) -> Response {
    server
        .client
        .patch(server.api("/users/me"))
        .bearer_auth(&user.access_token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn put_password(
    server: &TestServer,
    user: &TestUser,
    current: &str,
    new: &str,
) -> Response {
    server
        .client
        .put(server.api("/users/me/password"))
        .bearer_auth(&user.access_token)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .unwrap()
}

pub async fn delete_me(server: &TestServer, user: &TestUser, body: Value) -> Response {
    server
        .client
        .delete(server.api("/users/me"))
        .bearer_auth(&user.access_token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Inserts `count` accounts named `{prefix}{000..}` straight into the database (no password
/// hashing, so large lists are cheap). They cannot sign in.
pub async fn insert_bare_users(server: &TestServer, prefix: &str, count: usize) {
    let sql = "INSERT INTO users (id, username, display_name, password_hash, created_at, updated_at) \
               VALUES ($1, $2, $3, 'not-a-hash', $4, $4)";
    let now = chrono::Utc::now();
    with_db!(server, pool => {
        for i in 0..count {
            let name = format!("{prefix}{i:03}");
            sqlx::query(sql)
                .bind(uuid::Uuid::now_v7())
                .bind(&name)
                .bind(&name)
                .bind(now)
                .execute(&pool)
                .await
                .expect("insert user");
        }
    })
}
