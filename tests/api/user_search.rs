//! GET /users?q= (prefix search, pagination) and GET /users/{id} (public profiles).

use std::collections::HashSet;

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error};
use crate::helpers::*;

async fn search(server: &TestServer, user: &TestUser, query: &str) -> Response {
    get(server, &format!("/users?{query}"), &user.access_token).await
}

async fn search_ok(server: &TestServer, user: &TestUser, query: &str) -> Value {
    let res = search(server, user, query).await;
    assert_eq!(res.status(), StatusCode::OK, "GET /users?{query}");
    res.json().await.unwrap()
}

fn usernames(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

async fn register_named(server: &TestServer, username: &str, display_name: &str) {
    let res = register_raw(
        server,
        json!({"username": username, "password": STRONG,
        "display_name": display_name, "email": format!("{username}@example.com")}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
}

async fn search_by_username_or_display_name_prefix(backend: Backend) {
    let server = TestServer::start(backend).await;
    let me = server.register("zed").await;
    register_named(&server, "alba", "Zara").await;
    register_named(&server, "Albert", "Bert").await;
    register_named(&server, "bob", "Alfie Bob").await;
    register_named(&server, "carl", "Carl").await;
    register_named(&server, "a_b", "Underscore").await;
    let page = search_ok(&server, &me, "q=al").await;
    assert_eq!(
        usernames(&page),
        ["alba", "Albert", "bob"],
        "ordered by username"
    );
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=AL").await),
        ["alba", "Albert", "bob"]
    );
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=%20alb%20").await),
        ["alba", "Albert"],
        "trimmed"
    );
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=z").await),
        ["alba", "zed"]
    );
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=arl").await),
        Vec::<String>::new(),
        "prefix only"
    );
    // LIKE wildcards are literal.
    assert_eq!(usernames(&search_ok(&server, &me, "q=a_").await), ["a_b"]);
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=%25").await),
        Vec::<String>::new()
    );
    assert_eq!(
        search_ok(&server, &me, "q=").await["items"]
            .as_array()
            .unwrap()
            .len(),
        6,
        "empty q lists all"
    );
    // Items are public profiles: no email.
    let item = &page["items"][0];
    let keys: HashSet<&str> = item
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "username",
        "display_name",
        "avatar_url",
        "status_text",
        "online",
        "last_seen_at",
    ]
    .into();
    assert_eq!(keys, expected, "{item}");
    assert!(
        !page.to_string().contains("@example.com"),
        "no emails in search results"
    );
    expect_error(
        search(&server, &me, &format!("q={}", "a".repeat(65))).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    expect_unauthorized(
        server
            .client
            .get(server.api("/users?q=al"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    server.stop().await;
}

async fn search_matches_non_ascii_display_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    let me = server.register("viewer").await;
    register_named(&server, "emile", "Émile Zola").await;
    register_named(&server, "zoe", "Zoë").await;
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=Zo%C3%AB").await),
        ["zoe"],
        "q=Zoë"
    );
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=%C3%89mile").await),
        ["emile"],
        "q=Émile"
    );
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=%C3%A9mile").await),
        ["emile"],
        "q=émile"
    );
    server.stop().await;
}

async fn search_pagination(backend: Backend) {
    let server = TestServer::start(backend).await;
    let me = server.register("viewer").await;
    for name in ["pam", "paul", "Pearl", "pete", "pia"] {
        register_named(&server, name, "Someone").await;
    }
    let mut seen = Vec::new();
    let mut query = "q=p&limit=2".to_string();
    let mut pages = 0;
    loop {
        let page = search_ok(&server, &me, &query).await;
        let names = usernames(&page);
        assert!(names.len() <= 2, "{page}");
        seen.extend(names);
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("q=p&limit=2&cursor={cursor}"),
            None => break,
        }
        assert!(pages < 10, "pagination ends");
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        ["pam", "paul", "Pearl", "pete", "pia"],
        "every match once, in order"
    );
    // A page that is exactly full says so only if more follow.
    let page = search_ok(&server, &me, "q=p&limit=5").await;
    assert_eq!(usernames(&page).len(), 5);
    assert_eq!(page["next_cursor"], Value::Null);
    assert_eq!(
        usernames(&search_ok(&server, &me, "q=p&limit=100").await).len(),
        5
    );
    assert_eq!(
        usernames(&search_ok(&server, &me, "limit=1").await).len(),
        1
    );
    for bad in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "cursor=!!!",
    ] {
        expect_error(
            search(&server, &me, &format!("q=p&{bad}")).await,
            StatusCode::BAD_REQUEST,
            "bad_request",
        )
        .await;
    }
    server.stop().await;
}

async fn get_user_public_profile(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "quinn", "password": STRONG,
        "email": "quinn@example.com", "display_name": "Quinn Q"}),
    )
    .await;
    let quinn = TestUser::from_response(res, "quinn", STRONG).await;
    let viewer = server.register("rae").await;
    patch_me(&server, &quinn, json!({"status_text": "busy"})).await;
    let res = get(
        &server,
        &format!("/users/{}", quinn.id),
        &viewer.access_token,
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let keys: HashSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "username",
        "display_name",
        "avatar_url",
        "status_text",
        "online",
        "last_seen_at",
    ]
    .into();
    assert_eq!(keys, expected, "{body}");
    assert_eq!(body["id"], quinn.id.as_str());
    assert_eq!(body["username"], "quinn");
    assert_eq!(body["display_name"], "Quinn Q");
    assert_eq!(body["status_text"], "busy");
    assert_eq!(body["online"], false, "no socket open");
    expect_error(
        get(
            &server,
            &format!("/users/{}", unknown_id()),
            &viewer.access_token,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get(&server, "/users/not-a-uuid", &viewer.access_token).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let res = server
        .client
        .get(server.api(&format!("/users/{}", quinn.id)))
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    server.stop().await;
}

async fn search_default_and_largest_pages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let me = server.register("viewer").await;
    insert_bare_users(&server, "bulk", 120).await;
    let page = search_ok(&server, &me, "q=bulk").await;
    assert_eq!(usernames(&page).len(), 50, "50 by default");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("more follow")
        .to_string();
    let page = search_ok(&server, &me, &format!("q=bulk&limit=100&cursor={cursor}")).await;
    assert_eq!(usernames(&page).len(), 70, "the rest");
    assert_eq!(usernames(&page)[0], "bulk050");
    assert_eq!(page["next_cursor"], Value::Null);
    let page = search_ok(&server, &me, "q=bulk&limit=100").await;
    assert_eq!(usernames(&page).len(), 100, "100 at most");
    assert!(page["next_cursor"].is_string());
    server.stop().await;
}

backend_tests!(
    search_by_username_or_display_name_prefix,
    search_matches_non_ascii_display_names,
    search_pagination,
    search_default_and_largest_pages,
    get_user_public_profile,
);
