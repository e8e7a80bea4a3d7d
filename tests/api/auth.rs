//! POST /auth/register and /auth/login: responses, validation edges, conflicts and
//! credential checks.

use std::time::Instant;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error};
use crate::helpers::*;

async fn register_returns_user_tokens_and_cookie(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(&server, json!({"username": "alice", "password": STRONG})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let user = TestUser::from_response(res, "alice", STRONG).await;
    let body = &user.body;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["username"], "alice");
    assert_eq!(
        body["user"]["display_name"], "alice",
        "defaults to the username"
    );
    assert_eq!(body["user"]["email"], Value::Null);
    assert_eq!(body["user"]["status_text"], "");
    assert_eq!(body["user"]["avatar_url"], Value::Null);
    assert!(body["user"].get("password_hash").is_none(), "{body}");
    let id = uuid::Uuid::parse_str(&user.id).expect("user id is a UUID");
    assert_eq!(id.get_version_num(), 7, "user ids are UUIDv7");
    for key in ["created_at", "updated_at"] {
        let t = body["user"][key].as_str().unwrap();
        assert!(is_rfc3339_millis(t), "{key} = {t}");
    }
    // The access token: HS256 with every claim the contract lists.
    assert_eq!(jwt_header(&user.access_token)["alg"], "HS256");
    let claims = jwt_claims(&user.access_token);
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["iss"], "chatter");
    assert_eq!(claims["aud"], "chatter");
    assert!(
        claims["sid"].is_string() && claims["jti"].is_string(),
        "{claims}"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 900, "15 minutes by default");
    assert!((iat - now_secs()).abs() < 60, "iat is now");
    // The refresh token: at least 256 bits of base64url.
    assert!(user.refresh_token.len() >= 43, "{}", user.refresh_token);
    assert_access_ok(&server, &user.access_token).await;
    server.stop().await;
}

async fn register_with_email_and_display_name(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "bob", "password": STRONG, "email": "Bob@Example.com",
               "display_name": "  Bob the Builder "}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email"], "Bob@Example.com");
    assert_eq!(body["user"]["display_name"], "Bob the Builder", "trimmed");
    server.stop().await;
}

async fn register_username_length_edges(backend: Backend) {
    let server = TestServer::start(backend).await;
    for bad in [
        "ab".to_string(),
        "a".repeat(33),
        "has space".into(),
        "semi;colon".into(),
        "émile".into(),
    ] {
        let res = register_raw(&server, json!({"username": bad, "password": STRONG})).await;
        expect_field_error(res, "username").await;
    }
    for good in ["abc".to_string(), "b".repeat(32), "a.b-c_D9".into()] {
        let res = register_raw(&server, json!({"username": good, "password": STRONG})).await;
        assert_eq!(
            res.status(),
            StatusCode::CREATED,
            "{good:?} is a valid username"
        );
    }
    server.stop().await;
}

async fn register_password_length_edges(backend: Backend) {
    let server = TestServer::start(backend).await;
    let seven = "Xk3#pq9";
    let eight = "Xk3#pq9z";
    let max = "Zq".repeat(64);
    let too_long = format!("{max}Z");
    // Length is counted in characters, not bytes: 128 two-byte characters are fine.
    let wide = "é".repeat(128);
    for (name, password, ok) in [
        ("user7", seven, false),
        ("user8", eight, true),
        ("user128", max.as_str(), true),
        ("user129", too_long.as_str(), false),
        ("userwide", wide.as_str(), true),
    ] {
        let res = register_raw(&server, json!({"username": name, "password": password})).await;
        if ok {
            assert_eq!(
                res.status(),
                StatusCode::CREATED,
                "{} chars",
                password.chars().count()
            );
            // The password really is the one stored: it signs in.
            login_ok(&server, name, password).await;
        } else {
            expect_field_error(res, "password").await;
        }
    }
    server.stop().await;
}

async fn register_refuses_common_and_username_passwords(backend: Backend) {
    let server = TestServer::start(backend).await;
    for password in ["password123", "PassWord123", "qwertyuiop"] {
        let res = register_raw(&server, json!({"username": "carol", "password": password})).await;
        expect_field_error(res, "password").await;
    }
    let res = register_raw(
        &server,
        json!({"username": "CarolSmith", "password": "carolsmith"}),
    )
    .await;
    expect_field_error(res, "password").await;
    server.stop().await;
}

async fn register_reports_every_invalid_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "x", "password": "short", "email": "not-an-email", "display_name": "   "}),
    )
    .await;
    let body = expect_field_error(res, "username").await;
    let fields = body["error"]["fields"].as_object().unwrap();
    for key in ["username", "password", "email", "display_name"] {
        assert!(fields.contains_key(key), "fields.{key} in {body}");
    }
    // Nothing was created.
    let res = register_raw(&server, json!({"username": "x", "password": STRONG})).await;
    expect_field_error(res, "username").await;
    server.stop().await;
}

async fn register_conflicts_are_case_insensitive(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "Dave", "password": STRONG, "email": "dave@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = register_raw(&server, json!({"username": "dAVE", "password": STRONG})).await;
    expect_error(res, StatusCode::CONFLICT, "username_taken").await;
    let res = register_raw(
        &server,
        json!({"username": "dave2", "password": STRONG, "email": "DAVE@example.COM"}),
    )
    .await;
    expect_error(res, StatusCode::CONFLICT, "email_taken").await;
    server.stop().await;
}

async fn register_malformed_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let url = server.api("/auth/register");
    let res = server
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    let res = server
        .client
        .post(&url)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = register_raw(&server, json!({"username": "erin"})).await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        body["error"]["fields"]
            .as_object()
            .is_some_and(|f| !f.is_empty()),
        "{body}"
    );
    assert!(
        body.to_string().contains("password"),
        "names the missing field: {body}"
    );
    let res = register_raw(&server, json!({"username": 42, "password": STRONG})).await;
    expect_field_error(res, "username").await;
    let res = server
        .client
        .post(&url)
        .json(&json!({"username": "erin", "password": STRONG}))
        .header("X-Device-ID", "has space")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    server.stop().await;
}

async fn login_by_username_or_email_any_case(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "Frank", "password": STRONG, "email": "Frank@Example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["user"]["id"].clone();
    for login in [
        "Frank",
        "frank",
        "FRANK",
        "frank@example.com",
        "FRANK@EXAMPLE.COM",
    ] {
        let res = login_raw(&server, login, STRONG, None).await;
        assert_eq!(res.status(), StatusCode::OK, "login as {login}");
        let user = TestUser::from_response(res, "Frank", STRONG).await;
        assert_eq!(user.body["user"]["id"], id);
        assert_eq!(user.body["token_type"], "Bearer");
        assert_access_ok(&server, &user.access_token).await;
    }
    let res = server
        .client
        .post(server.api("/auth/login"))
        .json(&json!({"email": "fRaNk@example.com", "password": STRONG}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "login with the email field");
    server.stop().await;
}

async fn login_by_non_ascii_email(backend: Backend) {
    let server = TestServer::start(backend).await;
    let email = "Öztürk@Example.com";
    let res = register_raw(
        &server,
        json!({"username": "ozturk", "password": STRONG, "email": email}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // The exact address the account was registered with must sign in.
    let res = server
        .client
        .post(server.api("/auth/login"))
        .json(&json!({"email": email, "password": STRONG}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "login with the registered email {email}"
    );
    server.stop().await;
}

async fn login_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.register("gina").await;
    let url = server.api("/auth/login");
    let res = server
        .client
        .post(&url)
        .json(&json!({"password": STRONG}))
        .send()
        .await
        .unwrap();
    expect_field_error(res, "username").await;
    let res = server
        .client
        .post(&url)
        .json(&json!({"username": "  ", "password": STRONG}))
        .send()
        .await
        .unwrap();
    expect_field_error(res, "username").await;
    let res = server
        .client
        .post(&url)
        .json(&json!({"username": "gina"}))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body.to_string().contains("password"), "{body}");
    let res = server
        .client
        .post(&url)
        .header("Content-Type", "application/json")
        .body("[")
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    expect_unauthorized(login_raw(&server, "gina", "", None).await).await;
    server.stop().await;
}

async fn unknown_user_and_wrong_password_look_the_same(backend: Backend) {
    let server = TestServer::start(backend).await;
    let hank = server.register("hank").await;
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    let mut bodies = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let res = login_raw(&server, "hank", "Not-His-Password-1", None).await;
        wrong.push(start.elapsed());
        bodies.push(expect_unauthorized(res).await);
        let start = Instant::now();
        let res = login_raw(&server, "nobody-here", "Not-His-Password-1", None).await;
        unknown.push(start.elapsed());
        bodies.push(expect_unauthorized(res).await);
    }
    assert!(
        bodies.windows(2).all(|w| w[0] == w[1]),
        "identical bodies: {bodies:?}"
    );
    // An unknown user must cost a password verification too. Fastest of five each; an unknown
    // user answered without argon2 would be an order of magnitude faster.
    let (w, u) = (wrong.iter().min().unwrap(), unknown.iter().min().unwrap());
    assert!(*u * 4 >= *w, "unknown user {u:?} vs wrong password {w:?}");
    login_ok(&server, "hank", &hank.password).await;
    server.stop().await;
}

async fn non_ascii_email_is_unique_case_insensitively(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "ozzy", "password": STRONG, "email": "Öztürk@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = register_raw(
        &server,
        json!({"username": "ozzy2", "password": STRONG, "email": "öztürk@example.com"}),
    )
    .await;
    expect_error(res, StatusCode::CONFLICT, "email_taken").await;
    server.stop().await;
}

async fn concurrent_registrations_of_one_name(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (client, url) = (server.client.clone(), server.api("/auth/register"));
        let name = if i % 2 == 0 { "racer" } else { "RACER" };
        tasks.spawn(async move {
            let res = client
                .post(url)
                .json(&json!({"username": name, "password": STRONG}))
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body)
        });
    }
    let results = tasks.join_all().await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "exactly one account: {results:?}");
    for (status, body) in &results {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"]["code"], "username_taken", "{body}");
        }
    }
    server.stop().await;
}

backend_tests!(
    register_returns_user_tokens_and_cookie,
    register_with_email_and_display_name,
    register_username_length_edges,
    register_password_length_edges,
    register_refuses_common_and_username_passwords,
    register_reports_every_invalid_field,
    register_conflicts_are_case_insensitive,
    register_malformed_requests,
    login_by_username_or_email_any_case,
    login_by_non_ascii_email,
    login_errors,
    unknown_user_and_wrong_password_look_the_same,
    non_ascii_email_is_unique_case_insensitively,
    concurrent_registrations_of_one_name,
);
