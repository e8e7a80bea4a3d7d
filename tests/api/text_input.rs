//! Control characters (but tab and line breaks) are refused in every text input, wherever it
//! comes in: JSON bodies, WebSocket frames, query strings, paths. NUL used to reach
//! PostgreSQL and come back as a 500.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer, expect_error};
use crate::helpers::*;
use crate::ws_client::WsClient;

async fn a_nul_in_a_login_is_a_field_error(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.register("nia").await;
    for field in ["username", "email"] {
        let res = server
            .client
            .post(server.api("/auth/login"))
            .json(&json!({field: "nia\u{0}", "password": "Whatever-Passw0rd"}))
            .send()
            .await
            .unwrap();
        let body = expect_field_error(res, field).await;
        assert_eq!(
            body["error"]["fields"][field],
            "must not contain control characters"
        );
    }
    // A body the typed parse accepts though it is no `serde_json::Value` (a number out of
    // range in a field nobody reads) is checked all the same.
    let res = server
        .client
        .post(server.api("/auth/login"))
        .header("Content-Type", "application/json")
        .body(r#"{"username":"nia\u0000","password":"Whatever-Passw0rd","pad":1e400}"#)
        .send()
        .await
        .unwrap();
    expect_field_error(res, "body").await;
    let res = register_raw(
        &server,
        json!({"username": "ok_name", "password": STRONG, "display_name": "bell\u{7}"}),
    )
    .await;
    expect_field_error(res, "display_name").await;
    server.stop().await;
}

async fn bodies_name_the_nested_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ann = server.register("ann").await;
    let room = server.create_room(&ann, json!({"name": "Lobby"})).await;
    let room_id = room["id"].as_str().unwrap();
    // Tabs and line breaks are text.
    let kept = server.send(&ann, room_id, "one\ttwo\r\nthree").await;
    assert_eq!(kept["content"], "one\ttwo\r\nthree");
    for content in ["esc \u{1b}[31m", "del \u{7f}", "c1 \u{85}"] {
        let res = server
            .post_as(
                &ann,
                &format!("/rooms/{room_id}/messages"),
                json!({"content": content}),
            )
            .await;
        expect_field_error(res, "content").await;
    }
    let res = server
        .post_as(
            &ann,
            &format!("/rooms/{room_id}/messages"),
            json!({"content": "hi", "client_msg_id": "a\u{0}b"}),
        )
        .await;
    expect_field_error(res, "client_msg_id").await;
    server.stop().await;
}

async fn websocket_frames_refuse_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&bob, json!({"name": "News", "alias": "news"}))
        .await;
    let mut ws = WsClient::connect(&server, &bob).await;
    let reply = ws
        .error(
            json!({"type": "subscribe", "alias": "news\u{0}"}),
            "validation_failed",
        )
        .await;
    assert!(
        reply["message"].as_str().unwrap().contains("alias"),
        "{reply}"
    );
    ws.error(
        json!({"type": "send_message", "room_id": room["id"], "content": "a\u{0}"}),
        "validation_failed",
    )
    .await;
    // The socket stays usable.
    let reply = ws
        .request(json!({"type": "subscribe", "alias": "news"}))
        .await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    server.stop().await;
}

async fn query_strings_and_paths_refuse_them(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cyd = server.register("cyd").await;
    let res = get(&server, "/search/messages?q=a%00b", &cyd.access_token).await;
    expect_field_error(res, "q").await;
    let res = get(&server, "/users?q=%1b", &cyd.access_token).await;
    expect_field_error(res, "q").await;
    // A path parameter that is text (an emoji), not an id.
    let room = server.create_room(&cyd, json!({"name": "Den"})).await;
    let sent = server.send(&cyd, room["id"].as_str().unwrap(), "hi").await;
    let path = format!("/messages/{}/reactions/a%00", sent["id"].as_str().unwrap());
    let res = server
        .client
        .put(server.api(&path))
        .bearer_auth(&cyd.access_token)
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("control"),
        "{body}"
    );
    server.stop().await;
}

backend_tests!(
    a_nul_in_a_login_is_a_field_error,
    bodies_name_the_nested_field,
    websocket_frames_refuse_them,
    query_strings_and_paths_refuse_them,
);
