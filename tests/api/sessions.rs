//! Device sessions: X-Device-ID, one session per device, listing, logout and revoking
//! sessions. A revoked session's tokens must be refused on the very next request.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error};
use crate::helpers::*;

async fn device_id_generated_and_echoed_when_absent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ana = server.register("ana").await;
    assert!(
        !ana.device_id.is_empty(),
        "a generated X-Device-ID is echoed"
    );
    let sessions = sessions_of(&server, &ana).await;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["device_id"], ana.device_id.as_str());
    // Each login without the header is a new device, so a new session.
    let again = server.login("ana", &ana.password, None).await;
    assert!(!again.device_id.is_empty());
    assert_ne!(again.device_id, ana.device_id, "a fresh id per login");
    assert_eq!(sessions_of(&server, &ana).await.len(), 2);
    // A given device id is echoed as is.
    let phone = server
        .login("ana", &ana.password, Some("phone:Pixel-8_a.1"))
        .await;
    assert_eq!(phone.device_id, "phone:Pixel-8_a.1");
    server.stop().await;
}

async fn invalid_device_id_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ben = server.register("ben").await;
    for bad in [
        "has space".to_string(),
        "x".repeat(129),
        "semi;colon".into(),
        String::new(),
    ] {
        let res = login_raw(&server, "ben", &ben.password, Some(&bad)).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let long = "x".repeat(128);
    let res = login_raw(&server, "ben", &ben.password, Some(&long)).await;
    assert_eq!(res.status(), StatusCode::OK, "128 characters are fine");
    server.stop().await;
}

async fn same_device_login_replaces_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = server.register_on_device("cat", Some("laptop")).await;
    assert_eq!(first.device_id, "laptop");
    assert_access_ok(&server, &first.access_token).await;
    let second = server.login("cat", &first.password, Some("laptop")).await;
    // The earlier session is gone: its access and refresh tokens are refused at once.
    assert_access_refused(&server, &first.access_token).await;
    expect_unauthorized(refresh_by_cookie(&server, &first.refresh_token).await).await;
    assert_access_ok(&server, &second.access_token).await;
    let sessions = sessions_of(&server, &second).await;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0]["device_id"], "laptop");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[0]["id"], jwt_claims(&second.access_token)["sid"]);
    // Another device is another session, and only the caller's is current.
    let tablet = server.login("cat", &first.password, Some("tablet")).await;
    let sessions = sessions_of(&server, &tablet).await;
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{sessions:?}");
    assert_eq!(current[0]["device_id"], "tablet");
    assert_access_ok(&server, &second.access_token).await;
    server.stop().await;
}

async fn sessions_list_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = server
        .client
        .post(server.api("/auth/register"))
        .header("User-Agent", "ChatterTest/1.0 (integration)")
        .header("X-Device-ID", "desk")
        .json(&json!({"username": "dan", "password": STRONG}))
        .send()
        .await
        .unwrap();
    let dan = TestUser::from_response(res, "dan", STRONG).await;
    let sessions = sessions_of(&server, &dan).await;
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    let keys: HashSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    let expected: HashSet<&str> = [
        "id",
        "device_id",
        "user_agent",
        "ip",
        "created_at",
        "last_seen_at",
        "expires_at",
        "current",
    ]
    .into();
    assert_eq!(keys, expected, "{s}");
    assert_eq!(s["device_id"], "desk");
    assert_eq!(s["user_agent"], "ChatterTest/1.0 (integration)");
    assert_eq!(s["ip"], "127.0.0.1");
    assert_eq!(s["current"], true);
    for key in ["created_at", "last_seen_at", "expires_at"] {
        assert!(is_rfc3339_millis(s[key].as_str().unwrap()), "{key} in {s}");
    }
    let at = |k: &str| chrono::DateTime::parse_from_rfc3339(s[k].as_str().unwrap()).unwrap();
    let lifetime = at("expires_at") - at("created_at");
    assert!(
        (lifetime.num_seconds() - 30 * 86_400).abs() < 60,
        "30 days: {lifetime}"
    );
    // Another user's sessions never show.
    let eve = server.register("eve").await;
    assert_eq!(sessions_of(&server, &eve).await.len(), 1);
    expect_unauthorized(me_with_header(&server, None).await).await;
    let res = server
        .client
        .get(server.api("/auth/sessions"))
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    server.stop().await;
}

async fn logout_ends_the_session_at_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let lou = server.register_on_device("lou", Some("a")).await;
    let other = server.login("lou", &lou.password, Some("b")).await;
    assert_access_ok(&server, &lou.access_token).await;
    let res = server
        .client
        .post(server.api("/auth/logout"))
        .bearer_auth(&lou.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .find(|v| v.starts_with("refresh_token="))
        .expect("logout clears the refresh cookie");
    assert!(cleared.starts_with("refresh_token=;"), "{cleared}");
    assert!(
        cleared.contains("max-age=0") && cleared.contains("path=/api/v1/auth"),
        "{cleared}"
    );
    assert_access_refused(&server, &lou.access_token).await;
    expect_unauthorized(refresh_by_cookie(&server, &lou.refresh_token).await).await;
    // Logging out twice: the token is already dead.
    let res = server
        .client
        .post(server.api("/auth/logout"))
        .bearer_auth(&lou.access_token)
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    expect_unauthorized(
        server
            .client
            .post(server.api("/auth/logout"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    // Only that session ended.
    assert_access_ok(&server, &other.access_token).await;
    assert_eq!(sessions_of(&server, &other).await.len(), 1);
    server.stop().await;
}

async fn delete_session(server: &TestServer, user: &TestUser, id: &str) -> reqwest::Response {
    server
        .client
        .delete(server.api(&format!("/auth/sessions/{id}")))
        .bearer_auth(&user.access_token)
        .send()
        .await
        .unwrap()
}

async fn revoke_one_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let me = server.register_on_device("max", Some("desk")).await;
    let phone = second_session(&server, &me, "phone").await;
    let stranger = server.register("nora").await;
    let phone_sid = jwt_claims(&phone.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_access_ok(&server, &phone.access_token).await;
    // Someone else's session is not found, and survives the attempt.
    let stranger_sid = jwt_claims(&stranger.access_token)["sid"]
        .as_str()
        .unwrap()
        .to_string();
    expect_error(
        delete_session(&server, &me, &stranger_sid).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_access_ok(&server, &stranger.access_token).await;
    expect_error(
        delete_session(&server, &me, &unknown_id()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        delete_session(&server, &me, "not-a-uuid").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let res = server
        .client
        .delete(server.api(&format!("/auth/sessions/{phone_sid}")))
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    // My own other session: gone at once, access and refresh.
    let res = delete_session(&server, &me, &phone_sid).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_access_refused(&server, &phone.access_token).await;
    expect_unauthorized(refresh_by_cookie(&server, &phone.refresh_token).await).await;
    expect_error(
        delete_session(&server, &me, &phone_sid).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_access_ok(&server, &me.access_token).await;
    let left = sessions_of(&server, &me).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["device_id"], "desk");
    // Revoking the current session by id works like logout.
    let own = left[0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        delete_session(&server, &me, &own).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_access_refused(&server, &me.access_token).await;
    expect_unauthorized(refresh_by_cookie(&server, &me.refresh_token).await).await;
    server.stop().await;
}

async fn revoke_all_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let me = server.register_on_device("ola", Some("d1")).await;
    let d2 = second_session(&server, &me, "d2").await;
    let d3 = second_session(&server, &me, "d3").await;
    let stranger = server.register("pia").await;
    let res = server
        .client
        .delete(server.api("/auth/sessions"))
        .bearer_auth(&d2.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_access_refused(&server, &me.access_token).await;
    assert_access_refused(&server, &d3.access_token).await;
    expect_unauthorized(refresh_by_cookie(&server, &d3.refresh_token).await).await;
    assert_access_ok(&server, &d2.access_token).await;
    assert_eq!(
        refresh_by_cookie(&server, &d2.refresh_token).await.status(),
        StatusCode::OK
    );
    let left = sessions_of(&server, &d2).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["current"], true);
    assert_access_ok(&server, &stranger.access_token).await;
    // With nothing left to revoke it is still a success.
    let res = server
        .client
        .delete(server.api("/auth/sessions"))
        .bearer_auth(&d2.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    expect_unauthorized(
        server
            .client
            .delete(server.api("/auth/sessions"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    server.stop().await;
}

async fn concurrent_logins_on_one_device(backend: Backend) {
    let server = TestServer::start(backend).await;
    let vic = server.register_on_device("vic", Some("shared")).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (client, url, password) = (
            server.client.clone(),
            server.api("/auth/login"),
            vic.password.clone(),
        );
        tasks.spawn(async move {
            let res = client
                .post(url)
                .header("X-Device-ID", "shared")
                .json(&json!({"username": "vic", "password": password}))
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        });
    }
    let results = tasks.join_all().await;
    // Each login replaces the one before: all succeed, none is a server error.
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    // One session per user and device remains, and exactly one of the tokens is live.
    let mut live = Vec::new();
    for (_, body) in &results {
        let token = body["access_token"].as_str().unwrap();
        if get(&server, "/users/me", token).await.status() == StatusCode::OK {
            live.push(token.to_string());
        }
    }
    assert_eq!(live.len(), 1, "one live session on the device");
    let res = get(&server, "/auth/sessions", &live[0]).await;
    let sessions: Vec<Value> = res.json().await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    server.stop().await;
}

backend_tests!(
    device_id_generated_and_echoed_when_absent,
    invalid_device_id_is_refused,
    same_device_login_replaces_the_session,
    sessions_list_shape,
    logout_ends_the_session_at_once,
    revoke_one_session,
    revoke_all_other_sessions,
    concurrent_logins_on_one_device,
);
