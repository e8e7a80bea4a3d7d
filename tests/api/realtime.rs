//! The WebSocket hub, connection level: the three ways to authenticate, refusals (bad token,
//! foreign Origin, auth timeout), the welcome, frame limits, bad frames and app-level ping.
//! Frame semantics are in realtime_frames.rs, calls in realtime_calls.rs, privacy in
//! realtime_leaks.rs, replay and slow consumers in realtime_recovery.rs, and socket lifecycle
//! (revocation, presence, membership) in realtime_lifecycle.rs.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser};
use crate::ws_client::{Auth, WsClient, open, room_with};

/// Asserts the welcome names `user` and this session, and lists `rooms`.
fn check_welcome(welcome: &Value, user: &TestUser, rooms: &[&str]) {
    assert_eq!(welcome["type"], "welcome");
    assert!(
        welcome["connection_id"]
            .as_str()
            .is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()),
        "connection_id is a UUID in {welcome}"
    );
    assert_eq!(welcome["user"]["id"], json!(user.id), "{welcome}");
    assert_eq!(welcome["user"]["username"], json!(user.username));
    assert!(
        welcome["session_id"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "session_id in {welcome}"
    );
    assert_eq!(welcome["heartbeat_secs"], 30, "{welcome}");
    let listed: Vec<&str> = welcome["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("rooms is a list in {welcome}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for room in rooms {
        assert!(
            listed.contains(room),
            "welcome lists room {room}: {listed:?}"
        );
    }
    assert_eq!(
        listed.len(),
        rooms.len(),
        "only the user's rooms: {listed:?}"
    );
}

/// Each way to authenticate gets the same welcome and a live, subscribed socket.
async fn authenticates_by_header_query_and_first_frame(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;

    let mut by_header = WsClient::connect(&server, &bob).await;
    let mut by_query = WsClient::connect_query(&server, &bob.access_token).await;
    let mut by_frame = WsClient::connect_first_frame(&server, &bob.access_token).await;
    let mut ids = Vec::new();
    for ws in [&by_header, &by_query, &by_frame] {
        check_welcome(&ws.welcome, &bob, &[room.as_str()]);
        ids.push(ws.connection_id());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every socket has its own connection_id");

    // All three are subscribed to Bob's rooms from the start.
    let sent = server.send(&alice, &room, "hello, all of you").await;
    for ws in [&mut by_header, &mut by_query, &mut by_frame] {
        let frame = ws.next_of_type("message_new").await;
        assert_eq!(frame["message"]["id"], sent["id"]);
        assert_eq!(frame["message"]["content"], "hello, all of you");
        assert_eq!(frame["message"]["room_id"], json!(room));
    }
    server.stop().await;
}

/// `error unauthorized`, then close 4001.
async fn expect_refused(ws: &mut WsClient) {
    let error = ws.next_of_type("error").await;
    assert_eq!(error["code"], "unauthorized", "{error}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(ws.expect_close().await, 4001);
}

async fn bad_tokens_get_error_then_close_4001(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let forged = format!("{}x", alice.access_token);

    for auth in [Auth::Header(&forged), Auth::Query("not-a-jwt")] {
        let ws = open(&server, "/ws", auth, &[]).await.expect("upgrade");
        let mut ws = WsClient::from_raw(ws);
        expect_refused(&mut ws).await;
    }

    // First frame: a bad token, then a first frame that is not auth at all.
    for first in [
        json!({"type": "auth", "token": forged}),
        json!({"type": "ping"}),
    ] {
        let ws = open(&server, "/ws", Auth::None, &[])
            .await
            .expect("upgrade");
        let mut ws = WsClient::from_raw(ws);
        assert_eq!(ws.next_frame().await["type"], "auth_required");
        ws.send_json(&first).await;
        expect_refused(&mut ws).await;
    }

    // A signed-out session's token is refused too.
    let res = server.post_as(&alice, "/auth/logout", json!({})).await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let ws = open(&server, "/ws", Auth::Header(&alice.access_token), &[])
        .await
        .expect("upgrade");
    expect_refused(&mut WsClient::from_raw(ws)).await;
    server.stop().await;
}

async fn foreign_origin_upgrade_gets_403(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let token = alice.access_token.as_str();

    let refused = open(
        &server,
        "/ws",
        Auth::Header(token),
        &[("origin", "https://evil.example")],
    )
    .await;
    match refused {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 403),
        Err(other) => panic!("expected HTTP 403, got {other}"),
        Ok(_) => panic!("a foreign Origin was upgraded"),
    }
    // Also for the room form of the URL and for ?token=.
    let room = room_with(&server, &alice, "public", "Lobby", &[]).await;
    let refused = open(
        &server,
        &format!("/ws/{room}"),
        Auth::Query(token),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert!(
        matches!(&refused, Err(tungstenite::Error::Http(res)) if res.status().as_u16() == 403),
        "room URL with a foreign Origin: {:?}",
        refused.err()
    );

    // The server's own public origin and configured origins are fine.
    let public = server.settings.server.public_url.clone();
    let mut origins = vec![public];
    origins.extend(server.settings.server.allowed_origins.iter().cloned());
    for origin in &origins {
        let ws = open(&server, "/ws", Auth::Header(token), &[("origin", origin)])
            .await
            .unwrap_or_else(|e| panic!("origin {origin} refused: {e}"));
        let mut ws = WsClient::from_raw(ws);
        assert_eq!(ws.next_frame().await["type"], "welcome");
    }
    server.stop().await;
}

/// No auth frame within 10 s: error, then 4001. This test waits the real 10 s.
async fn auth_timeout_closes_4001(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ws = open(&server, "/ws", Auth::None, &[])
        .await
        .expect("upgrade");
    let mut ws = WsClient::from_raw(ws);
    let started = Instant::now();
    assert_eq!(ws.next_frame().await["type"], "auth_required");
    let error = ws
        .next_of_type_within("error", Duration::from_secs(15))
        .await;
    assert_eq!(error["code"], "unauthorized", "{error}");
    assert_eq!(ws.expect_close().await, 4001);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9),
        "closed after {waited:?}, before the 10 s allowed"
    );
    server.stop().await;
}

/// `/ws/{room_id}` subscribes to that room too (public rooms: also for non-members); a room
/// the caller may not see gets `error not_found` and the socket lives on.
async fn room_url_subscribes_to_the_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let lobby = room_with(&server, &alice, "public", "Lobby", &[]).await;
    let secret = room_with(&server, &alice, "private", "Secret", &[]).await;

    let mut viewer = WsClient::connect_at(
        &server,
        &format!("/ws/{lobby}"),
        Auth::Header(&bob.access_token),
    )
    .await;
    check_welcome(&viewer.welcome, &bob, &[]);
    let sent = server.send(&alice, &lobby, "welcome, visitors").await;
    let frame = viewer.next_of_type("message_new").await;
    assert_eq!(frame["message"]["id"], sent["id"]);

    let mut snoop = WsClient::connect_at(
        &server,
        &format!("/ws/{secret}"),
        Auth::Query(&bob.access_token),
    )
    .await;
    let error = snoop.next_frame().await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["code"], "not_found", "{error}");
    server.send(&alice, &secret, "nobody else hears this").await;
    snoop.expect_no_mention(&secret).await;
    server.stop().await;
}

/// Over 64 KiB: close 1009. Just under: handled normally.
async fn oversized_frame_closes_1009(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let mut ws = WsClient::connect(&server, &alice).await;

    let padding = "p".repeat(60 * 1024);
    let pong = ws
        .request(json!({"type": "ping", "padding": padding}))
        .await;
    assert_eq!(pong["type"], "pong", "a 60 KiB frame is fine: {pong}");

    let padding = "p".repeat(64 * 1024 + 1);
    ws.send_json(&json!({"type": "ping", "ref": "big", "padding": padding}))
        .await;
    assert_eq!(ws.expect_close().await, 1009);
    server.stop().await;
}

/// Unknown or malformed frames get `error bad_frame` (echoing `ref` when it can be read) and
/// the socket lives on.
async fn bad_frames_get_bad_frame_and_socket_lives(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let mut ws = WsClient::connect(&server, &alice).await;

    for text in ["not json at all", "[1, 2, 3]", "{\"no_type\": true}", "42"] {
        ws.send_text(text).await;
        let error = ws.next_frame().await;
        assert_eq!(error["type"], "error", "{text} → {error}");
        assert_eq!(error["code"], "bad_frame", "{text} → {error}");
    }
    for frame in [
        json!({"type": "launch_rockets"}),
        json!({"type": "send_message"}),
        json!({"type": "subscribe", "room_id": "not-a-uuid"}),
        json!({"type": "typing", "room_id": uuid::Uuid::now_v7(), "active": "yes"}),
        json!({"type": "webrtc", "room_id": uuid::Uuid::now_v7(), "to": uuid::Uuid::now_v7(), "action": "hack"}),
        json!({"type": "auth", "token": alice.access_token}),
    ] {
        let error = ws.error(frame, "bad_frame").await;
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    ws.send_raw(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send binary");
    let error = ws.next_frame().await;
    assert_eq!(error["code"], "bad_frame", "binary → {error}");

    // Still alive and well.
    let pong = ws.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    server.stop().await;
}

async fn ping_gets_pong_with_ref(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let mut ws = WsClient::connect_first_frame(&server, &alice.access_token).await;
    ws.send_json(&json!({"type": "ping", "ref": 17})).await;
    assert_eq!(ws.next_frame().await, json!({"type": "pong", "ref": 17}));
    ws.send_json(&json!({"type": "ping", "ref": {"nested": ["x"]}}))
        .await;
    assert_eq!(
        ws.next_frame().await,
        json!({"type": "pong", "ref": {"nested": ["x"]}})
    );
    ws.send_json(&json!({"type": "ping"})).await;
    assert_eq!(ws.next_frame().await, json!({"type": "pong"}));
    server.stop().await;
}

backend_tests!(
    authenticates_by_header_query_and_first_frame,
    bad_tokens_get_error_then_close_4001,
    foreign_origin_upgrade_gets_403,
    auth_timeout_closes_4001,
    room_url_subscribes_to_the_room,
    oversized_frame_closes_1009,
    bad_frames_get_bad_frame_and_socket_lives,
    ping_gets_pong_with_ref,
);
