//! Rate limits at their edges: auth requests per IP, failed logins per account, REST
//! requests per user. Each answer over a limit is 429 with Retry-After.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer};
use crate::helpers::*;

async fn auth_rate_limit_per_ip_at_the_edge(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit.auth_per_minute = 3).await;
    let moe = server.register("moe").await;
    login_ok(&server, "moe", &moe.password).await;
    expect_unauthorized(login_raw(&server, "moe", "Wrong-Password-9", None).await).await;
    let wait = expect_rate_limited(
        register_raw(&server, json!({"username": "nia", "password": STRONG})).await,
    )
    .await;
    assert!(wait <= 60, "a slot frees within the minute, not {wait}s");
    expect_rate_limited(login_raw(&server, "moe", &moe.password, None).await).await;
    // Refused registrations create nothing; authenticated routes are not the auth limit's.
    assert_access_ok(&server, &moe.access_token).await;
    server.stop().await;
}

async fn failed_logins_lock_the_account_at_the_edge(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit.failed_logins_per_hour = 3).await;
    let res = register_raw(
        &server,
        json!({"username": "ned", "password": STRONG, "email": "ned@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let other = server.register("olga").await;
    // Three failures, by username and by email: the same account, one budget.
    expect_unauthorized(login_raw(&server, "ned", "Wrong-Password-1", None).await).await;
    expect_unauthorized(login_raw(&server, "NED", "Wrong-Password-2", None).await).await;
    expect_unauthorized(login_raw(&server, "ned@example.com", "Wrong-Password-3", None).await)
        .await;
    let wait = expect_rate_limited(login_raw(&server, "ned", STRONG, None).await).await;
    assert!(wait > 60, "locked for the rest of the hour, not {wait}s");
    expect_rate_limited(login_raw(&server, "ned@example.com", STRONG, None).await).await;
    // Other accounts are not affected.
    login_ok(&server, "olga", &other.password).await;
    server.stop().await;
}

async fn two_failures_below_the_limit_still_sign_in(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit.failed_logins_per_hour = 3).await;
    let pat = server.register("pat").await;
    for _ in 0..2 {
        expect_unauthorized(login_raw(&server, "pat", "Wrong-Password-1", None).await).await;
    }
    login_ok(&server, "pat", &pat.password).await;
    // A success does not lift a lockout early, but below the limit nothing is locked.
    expect_unauthorized(login_raw(&server, "pat", "Wrong-Password-2", None).await).await;
    server.stop().await;
}

async fn wrong_current_password_counts_as_failed_login(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit.failed_logins_per_hour = 3).await;
    let jay = server.register("jay").await;
    for _ in 0..3 {
        expect_field_error(
            put_password(&server, &jay, "Guessing-Wrong-1", "Brand-New-Passw0rd").await,
            "current_password",
        )
        .await;
    }
    expect_rate_limited(put_password(&server, &jay, &jay.password, "Brand-New-Passw0rd").await)
        .await;
    expect_rate_limited(delete_me(&server, &jay, json!({"password": jay.password})).await).await;
    server.stop().await;
}

async fn rest_rate_limit_at_the_edge(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.rate_limit.rest_per_minute = 5).await;
    let sam = server.register("sam").await;
    let tom = server.register("tom").await;
    for i in 1..=5 {
        let res = get(&server, "/users/me", &sam.access_token).await;
        assert_eq!(res.status(), StatusCode::OK, "request {i} of 5");
    }
    let wait = expect_rate_limited(get(&server, "/users/me", &sam.access_token).await).await;
    assert!(wait <= 60, "a slot frees within the minute, not {wait}s");
    expect_rate_limited(get(&server, "/auth/sessions", &sam.access_token).await).await;
    // The limit is per user.
    assert_access_ok(&server, &tom.access_token).await;
    server.stop().await;
}

backend_tests!(
    auth_rate_limit_per_ip_at_the_edge,
    failed_logins_lock_the_account_at_the_edge,
    two_failures_below_the_limit_still_sign_in,
    wrong_current_password_counts_as_failed_login,
    rest_rate_limit_at_the_edge,
);
