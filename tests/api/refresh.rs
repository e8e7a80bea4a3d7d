//! POST /auth/refresh: rotation by cookie or JSON body, reuse detection that revokes the
//! whole session (after a short grace window that keeps concurrent refreshes signed in), and
//! refusals.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, expect_error, refresh_cookie};
use crate::helpers::*;

async fn refresh_by_cookie_rotates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let fay = server.register("fay").await;
    let res = refresh_by_cookie(&server, &fay.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let rotated = refresh_cookie(&res).expect("a rotated refresh cookie");
    assert_ne!(rotated, fay.refresh_token);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["id"], fay.id.as_str());
    let access = body["access_token"].as_str().unwrap();
    assert_ne!(access, fay.access_token);
    assert_eq!(
        jwt_claims(access)["sid"],
        jwt_claims(&fay.access_token)["sid"],
        "same session"
    );
    assert_access_ok(&server, access).await;
    // The rotated token rotates in turn.
    let res = refresh_by_cookie(&server, &rotated).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        sessions_of(&server, &fay).await.len(),
        1,
        "still one session"
    );
    server.stop().await;
}

async fn refresh_by_json_body(backend: Backend) {
    let server = TestServer::start(backend).await;
    let gus = server.register("gus").await;
    let res = refresh_by_body(&server, &gus.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated = refresh_cookie(&res).expect("rotated cookie");
    let body: Value = res.json().await.unwrap();
    assert_access_ok(&server, body["access_token"].as_str().unwrap()).await;
    let res = refresh_by_body(&server, &rotated).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the rotated token works in a body too"
    );
    server.stop().await;
}

async fn refresh_reuse_revokes_the_whole_session(backend: Backend) {
    // No grace window: any second use is a replay after it.
    let server = TestServer::start_with(backend, |s| s.auth.refresh_grace_secs = 0).await;
    let hal = server.register_on_device("hal", Some("one")).await;
    let other = server.login("hal", &hal.password, Some("two")).await;
    let res = refresh_by_cookie(&server, &hal.refresh_token).await;
    assert_eq!(res.status(), StatusCode::OK);
    let new_refresh = refresh_cookie(&res).unwrap();
    let body: Value = res.json().await.unwrap();
    let new_access = body["access_token"].as_str().unwrap().to_string();
    assert_access_ok(&server, &new_access).await;
    // The old token again: refused, and the session it belonged to is gone.
    expect_unauthorized(refresh_by_cookie(&server, &hal.refresh_token).await).await;
    expect_unauthorized(refresh_by_body(&server, &new_refresh).await).await;
    assert_access_refused(&server, &new_access).await;
    assert_access_refused(&server, &hal.access_token).await;
    // Other sessions of the account live on.
    assert_access_ok(&server, &other.access_token).await;
    assert_eq!(sessions_of(&server, &other).await.len(), 1);
    server.stop().await;
}

async fn concurrent_refreshes_all_get_the_same_pair(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ida = server.register("ida").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (client, url, token) = (
            server.client.clone(),
            server.api("/auth/refresh"),
            ida.refresh_token.clone(),
        );
        tasks.spawn(async move {
            let req = client.post(url);
            let req = if i % 2 == 0 {
                req.header("Cookie", format!("refresh_token={token}"))
            } else {
                req.json(&json!({"refresh_token": token}))
            };
            let res = req.send().await.unwrap();
            let status = res.status();
            let cookie = refresh_cookie(&res);
            let body: Value = res.json().await.unwrap();
            (
                status,
                cookie,
                body["access_token"].as_str().map(String::from),
            )
        });
    }
    let answers = tasks.join_all().await;
    // Two tabs (or fifty) refreshing at once all stay signed in, holding one refresh token.
    let statuses: Vec<StatusCode> = answers.iter().map(|a| a.0).collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    let cookies: std::collections::BTreeSet<_> = answers.iter().map(|a| a.1.clone()).collect();
    assert_eq!(
        cookies.len(),
        1,
        "one new refresh token for all: {cookies:?}"
    );
    let new_refresh = cookies
        .into_iter()
        .next()
        .flatten()
        .expect("a refresh cookie");
    for (_, _, access) in &answers {
        assert_access_ok(&server, access.as_deref().unwrap()).await;
    }
    assert_eq!(sessions_of(&server, &ida).await.len(), 1);
    // The new token rotates in turn; after that, the first token is a replay and revokes.
    let res = refresh_by_cookie(&server, &new_refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let newest: Value = res.json().await.unwrap();
    expect_unauthorized(refresh_by_cookie(&server, &ida.refresh_token).await).await;
    assert_access_refused(&server, newest["access_token"].as_str().unwrap()).await;
    server.stop().await;
}

async fn a_replay_within_the_window_cannot_outlive_a_later_rotation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let kay = server.register("kay").await;
    let res = refresh_by_cookie(&server, &kay.refresh_token).await;
    let second = refresh_cookie(&res).unwrap();
    let res = refresh_by_body(&server, &second).await;
    assert_eq!(res.status(), StatusCode::OK);
    let third = refresh_cookie(&res).unwrap();
    // The first token is retired two rotations back: a replay, even within seconds.
    expect_unauthorized(refresh_by_cookie(&server, &kay.refresh_token).await).await;
    expect_unauthorized(refresh_by_cookie(&server, &third).await).await;
    server.stop().await;
}

async fn refresh_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let jan = server.register("jan").await;
    let url = server.api("/auth/refresh");
    expect_unauthorized(server.client.post(&url).send().await.unwrap()).await;
    expect_unauthorized(refresh_by_cookie(&server, "").await).await;
    expect_unauthorized(refresh_by_cookie(&server, "not-a-token").await).await;
    expect_unauthorized(refresh_by_body(&server, &"A".repeat(43)).await).await;
    expect_unauthorized(refresh_by_body(&server, &"A".repeat(5000)).await).await;
    // The access token is not a refresh token.
    expect_unauthorized(refresh_by_body(&server, &jan.access_token).await).await;
    let res = server
        .client
        .post(&url)
        .header("Content-Type", "text/plain")
        .body(format!("{{\"refresh_token\":\"{}\"}}", jan.refresh_token))
        .send()
        .await
        .unwrap();
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = server
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{\"refresh_token\":")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = server
        .client
        .post(&url)
        .json(&json!({"token": "x"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        body.to_string().contains("refresh_token"),
        "names the missing field: {body}"
    );
    // None of that harmed the real token.
    assert_eq!(
        refresh_by_cookie(&server, &jan.refresh_token)
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn expired_refresh_token_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let kai = server.register("kai").await;
    expire_all_sessions(&server).await;
    expect_unauthorized(refresh_by_cookie(&server, &kai.refresh_token).await).await;
    server.stop().await;
}

backend_tests!(
    refresh_by_cookie_rotates,
    refresh_by_json_body,
    refresh_reuse_revokes_the_whole_session,
    concurrent_refreshes_all_get_the_same_pair,
    a_replay_within_the_window_cannot_outlive_a_later_rotation,
    refresh_errors,
    expired_refresh_token_is_refused,
);
