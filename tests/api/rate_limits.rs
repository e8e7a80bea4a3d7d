//! Rate limits at their edges: auth requests per IP, failed logins per account and per
//! (account, address), REST requests per user. Each answer over a limit is 429 with Retry-After.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer};
use crate::helpers::*;
use crate::ws_client::WsClient;

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

/// Logs in as if from `address` (the test server trusts X-Forwarded-For).
async fn login_from(server: &TestServer, address: &str, login: &str, password: &str) -> Response {
    server
        .client
        .post(server.api("/auth/login"))
        .header("X-Forwarded-For", address)
        .json(&json!({"username": login, "password": password}))
        .send()
        .await
        .unwrap()
}

/// A server whose account limit is `limit` failures an hour, addresses told apart by
/// X-Forwarded-For, and each address's delay after `delay_after` failures.
async fn throttled_server(backend: Backend, limit: u32, delay_after: u32) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.rate_limit.failed_logins_per_hour = limit;
        s.rate_limit.login_delay_after_failures = delay_after;
        s.server.trust_proxy_headers = true;
    })
    .await
}

async fn a_stranger_cannot_lock_the_owner_out(backend: Backend) {
    let server = throttled_server(backend, 3, 100).await;
    let res = register_raw(
        &server,
        json!({"username": "ned", "password": STRONG, "email": "ned@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let ned: Value = res.json().await.unwrap();
    let other = server.register("olga").await;
    // Three failures from three addresses, by username and by email: one account, one budget.
    for (address, login) in [
        ("10.0.0.1", "ned"),
        ("10.0.0.2", "NED"),
        ("10.0.0.3", "ned@example.com"),
    ] {
        expect_unauthorized(login_from(&server, address, login, "Wrong-Password-1").await).await;
    }
    // Past the limit a wrong password is 429, from anywhere, until the hour is over…
    let wait =
        expect_rate_limited(login_from(&server, "10.0.0.4", "ned", "Wrong-Password-2").await).await;
    assert!(wait > 60, "throttled for the rest of the hour, not {wait}s");
    // …and so is any attempt from an address with failures, even with the right password…
    expect_rate_limited(login_from(&server, "10.0.0.1", "ned", STRONG).await).await;
    expect_rate_limited(login_from(&server, "10.0.0.4", "ned@example.com", STRONG).await).await;
    // …but the owner, from an address without failures, signs in.
    let res = login_from(&server, "192.0.2.7", "ned", STRONG).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the right password from a clean address"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["id"], ned["user"]["id"]);
    // Other accounts are not affected.
    expect_unauthorized(login_from(&server, "10.0.0.1", "olga", "Wrong-Password-3").await).await;
    assert_eq!(
        login_from(&server, "10.0.0.4", "olga", &other.password)
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn an_address_waits_longer_after_each_failure(backend: Backend) {
    let server = throttled_server(backend, 1000, 1).await;
    let pat = server.register("pat").await;
    expect_unauthorized(login_from(&server, "10.0.0.1", "pat", "Wrong-Password-1").await).await;
    // One free failure, then 1 s before the next attempt from there, right password or not.
    let wait =
        expect_rate_limited(login_from(&server, "10.0.0.1", "pat", &pat.password).await).await;
    assert_eq!(wait, 1);
    // The address is the entry the proxy appended, not one the client wrote before it.
    expect_rate_limited(login_from(&server, "203.0.113.9, 10.0.0.1", "pat", &pat.password).await)
        .await;
    // Other addresses are not held, and neither is the signed-in owner's session.
    expect_unauthorized(login_from(&server, "10.0.0.2", "pat", "Wrong-Password-2").await).await;
    assert_access_ok(&server, &pat.access_token).await;
    // The delay doubles with each failure: the timer is the point of this test.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    expect_unauthorized(login_from(&server, "10.0.0.1", "pat", "Wrong-Password-3").await).await;
    let wait =
        expect_rate_limited(login_from(&server, "10.0.0.1", "pat", &pat.password).await).await;
    assert_eq!(wait, 2);
    // A success from a clean address clears nothing of another address's delay…
    assert_eq!(
        login_from(&server, "10.0.0.3", "pat", &pat.password)
            .await
            .status(),
        StatusCode::OK
    );
    expect_rate_limited(login_from(&server, "10.0.0.1", "pat", &pat.password).await).await;
    // …but a success clears the delay of its own address.
    let res = login_from(&server, "10.0.0.2", "pat", &pat.password).await;
    assert_eq!(res.status(), StatusCode::OK);
    expect_unauthorized(login_from(&server, "10.0.0.2", "pat", "Wrong-Password-4").await).await;
    server.stop().await;
}

async fn below_the_limit_nothing_is_throttled(backend: Backend) {
    let server = throttled_server(backend, 3, 100).await;
    let pat = server.register("pat").await;
    for _ in 0..2 {
        expect_unauthorized(login_raw(&server, "pat", "Wrong-Password-1", None).await).await;
    }
    login_ok(&server, "pat", &pat.password).await;
    expect_unauthorized(login_raw(&server, "pat", "Wrong-Password-2", None).await).await;
    server.stop().await;
}

async fn the_owner_is_told_when_sign_in_is_throttled(backend: Backend) {
    let server = throttled_server(backend, 3, 100).await;
    let ivy = server.register("ivy").await;
    let mut ws = WsClient::connect(&server, &ivy).await;
    let notices = get(&server, "/auth/security-notices", &ivy.access_token).await;
    assert_eq!(notices.status(), StatusCode::OK);
    assert_eq!(notices.json::<Value>().await.unwrap()["items"], json!([]));
    for address in ["10.0.0.1", "10.0.0.2"] {
        expect_unauthorized(login_from(&server, address, "ivy", "Wrong-Password-1").await).await;
    }
    ws.expect_nothing("security_notice before the limit").await;
    expect_unauthorized(login_from(&server, "10.0.0.3", "ivy", "Wrong-Password-1").await).await;
    let notice = ws.next_of_type("security_notice").await;
    assert_eq!(notice["kind"], "login_throttled");
    assert_eq!(notice["failed_logins"], 3);
    let until = notice["throttled_until"].as_str().expect("throttled_until");
    let until = chrono::DateTime::parse_from_rfc3339(until).expect("an RFC 3339 time");
    let left = until
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!(
        (3500..=3600).contains(&left),
        "the window ends in an hour, not {left}s"
    );
    // Told once per window; the sessions view keeps counting.
    expect_rate_limited(login_from(&server, "10.0.0.4", "ivy", "Wrong-Password-1").await).await;
    ws.expect_nothing("a second security_notice").await;
    let notices: Value = get(&server, "/auth/security-notices", &ivy.access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        notices["items"].as_array().map(Vec::len),
        Some(1),
        "{notices}"
    );
    assert_eq!(notices["items"][0]["kind"], "login_throttled");
    assert_eq!(notices["items"][0]["failed_logins"], 4);
    server.stop().await;
}

async fn the_owner_is_never_refused_by_the_account_limit(backend: Backend) {
    let server = throttled_server(backend, 3, 100).await;
    let jay = server.register("jay").await;
    // Wrong current passwords count as failures: past the limit, strangers get 429…
    for _ in 0..3 {
        expect_field_error(
            put_password(&server, &jay, "Guessing-Wrong-1", "Brand-New-Passw0rd").await,
            "current_password",
        )
        .await;
    }
    expect_rate_limited(login_from(&server, "10.0.0.9", "jay", "Wrong-Password-1").await).await;
    // …while the owner's own password change and deletion still work.
    expect_field_error(
        put_password(&server, &jay, "Guessing-Wrong-2", "Brand-New-Passw0rd").await,
        "current_password",
    )
    .await;
    let res = put_password(&server, &jay, &jay.password, "Brand-New-Passw0rd").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = delete_me(&server, &jay, json!({"password": "Brand-New-Passw0rd"})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    server.stop().await;
}

async fn a_guessing_session_is_delayed_on_password_checks(backend: Backend) {
    let server = throttled_server(backend, 1000, 2).await;
    let kit = server.register("kit").await;
    for _ in 0..2 {
        expect_field_error(
            delete_me(&server, &kit, json!({"password": "Guessing-Wrong-1"})).await,
            "password",
        )
        .await;
    }
    let wait = expect_rate_limited(
        put_password(&server, &kit, "Guessing-Wrong-2", "Brand-New-Passw0rd").await,
    )
    .await;
    assert_eq!(wait, 1);
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
    a_stranger_cannot_lock_the_owner_out,
    an_address_waits_longer_after_each_failure,
    below_the_limit_nothing_is_throttled,
    the_owner_is_told_when_sign_in_is_throttled,
    the_owner_is_never_refused_by_the_account_limit,
    a_guessing_session_is_delayed_on_password_checks,
    rest_rate_limit_at_the_edge,
);
