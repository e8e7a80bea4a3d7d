//! What happens to open sockets when the world changes: a session is revoked, a user comes
//! online or goes offline, a user is added to or banned from a room.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer};
use crate::ws_client::{Auth, Event, WsClient, open, room_with};

/// `session_revoked {reason}` and then close 4003, within a second.
pub async fn expect_revoked(ws: &mut WsClient) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let revoked = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ws.next_event(left).await {
            Some(Event::Frame(frame)) if frame["type"] == "session_revoked" => break frame,
            Some(Event::Frame(_)) => continue,
            Some(other) => {
                panic!("the socket ended ({other:?}) without a session_revoked frame first")
            }
            None => panic!("no session_revoked within 1 s"),
        }
    };
    assert!(
        revoked["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{revoked}"
    );
    let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(1);
    assert_eq!(ws.expect_close_within(left).await, 4003);
}

async fn logout_closes_that_sessions_sockets_4003(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let laptop = server
        .login(&alice.username, &alice.password, Some("laptop"))
        .await;
    let room = room_with(&server, &alice, "private", "Notes", &[]).await;

    // Two sockets of the first session (header and query), one of the other.
    let mut first_a = WsClient::connect(&server, &alice).await;
    let mut first_b = WsClient::connect_query(&server, &alice.access_token).await;
    let mut other = WsClient::connect(&server, &laptop).await;
    assert_ne!(first_a.welcome["session_id"], other.welcome["session_id"]);
    assert_eq!(first_a.welcome["session_id"], first_b.welcome["session_id"]);

    let res = server.post_as(&alice, "/auth/logout", json!({})).await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    let revoked_at = Instant::now();
    for ws in [&mut first_a, &mut first_b] {
        expect_revoked(ws).await;
    }
    let took = revoked_at.elapsed();
    assert!(
        took <= Duration::from_secs(1),
        "sockets closed after {took:?}"
    );

    // The other session's socket lives on and still gets the room's events.
    let pong = other.request(json!({"type": "ping"})).await;
    assert_eq!(pong["type"], "pong");
    let frames = other.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "session_revoked"),
        "the other session was told it is revoked: {frames:?}"
    );
    let sent = server.send(&laptop, &room, "still here").await;
    assert_eq!(
        other.next_of_type("message_new").await["message"]["id"],
        sent["id"]
    );

    // The revoked token cannot open a new socket.
    let ws = open(&server, "/ws", Auth::Header(&alice.access_token), &[])
        .await
        .expect("upgrade");
    let mut ws = WsClient::from_raw(ws);
    assert_eq!(ws.next_of_type("error").await["code"], "unauthorized");
    assert_eq!(ws.expect_close().await, 4001);

    // Revoking the other session from a third one closes it the same way.
    let phone = server
        .login(&alice.username, &alice.password, Some("phone"))
        .await;
    let session_id = other.welcome["session_id"].as_str().unwrap().to_string();
    let res = server
        .delete_as(&phone, &format!("/auth/sessions/{session_id}"))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    expect_revoked(&mut other).await;
    server.stop().await;
}

async fn presence_online_and_offline_after_grace(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let stranger = server.register("stranger").await;
    room_with(&server, &bob, "private", "Shared", &[&alice]).await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let mut stranger_ws = WsClient::connect(&server, &stranger).await;

    let alice_ws = WsClient::connect(&server, &alice).await;
    let online = bob_ws.next_of_type("presence").await;
    assert_eq!(online["user_id"], json!(alice.id), "{online}");
    assert_eq!(online["status"], "online", "{online}");
    let profile = server.get_json(&bob, &format!("/users/{}", alice.id)).await;
    assert_eq!(profile["online"], true, "{profile}");

    // A second socket and a blip (one of two closes) are no news.
    let second = WsClient::connect(&server, &alice).await;
    alice_ws.close().await;
    let frames = bob_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "presence"),
        "presence changed while Alice still had a socket: {frames:?}"
    );

    // The last socket closes: offline, but only after the grace period.
    second.close().await;
    let closed_at = Instant::now();
    let offline = bob_ws
        .next_of_type_within("presence", Duration::from_secs(10))
        .await;
    let waited = closed_at.elapsed();
    assert_eq!(offline["user_id"], json!(alice.id), "{offline}");
    assert_eq!(offline["status"], "offline", "{offline}");
    assert!(
        offline["last_seen_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "last_seen_at in {offline}"
    );
    assert!(
        waited >= Duration::from_secs(4),
        "offline came {waited:?} after the close, before the 5 s grace"
    );
    let profile = server.get_json(&bob, &format!("/users/{}", alice.id)).await;
    assert_eq!(profile["online"], false, "{profile}");
    assert!(profile["last_seen_at"].is_string(), "{profile}");

    // Someone who shares no room with Alice heard nothing about her.
    let frames = stranger_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "presence"),
        "presence leaked to a stranger: {frames:?}"
    );
    server.stop().await;
}

/// A reconnect within the grace period (a page reload) announces no offline.
async fn quick_reconnect_is_not_offline(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    room_with(&server, &bob, "private", "Shared", &[&alice]).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    let alice_ws = WsClient::connect(&server, &alice).await;
    assert_eq!(bob_ws.next_of_type("presence").await["status"], "online");
    alice_ws.close().await;
    let reloaded = WsClient::connect(&server, &alice).await;
    // Past the grace period of the first close, and a bit.
    let frames = bob_ws.drain(Duration::from_secs(7)).await;
    assert!(
        !frames
            .iter()
            .any(|f| f["type"] == "presence" && f["status"] == "offline"),
        "a reload was announced as offline: {frames:?}"
    );
    drop(reloaded);
    server.stop().await;
}

/// SPEC §4: presence goes to users who share a room as members. Someone viewing a public
/// room is neither told about its members nor announced to them.
async fn presence_reaches_members_not_viewers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let vic = server.register("vic").await;
    let wes = server.register("wes").await;
    let lobby = room_with(&server, &alice, "public", "Lobby", &[&bob]).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    // Two viewers open the lobby (one at connect, one by subscribing): nobody is told.
    let mut vic_ws = WsClient::connect_at(
        &server,
        &format!("/ws/{lobby}"),
        Auth::Header(&vic.access_token),
    )
    .await;
    let mut wes_ws = WsClient::connect(&server, &wes).await;
    let reply = wes_ws
        .request(json!({"type": "subscribe", "room_id": lobby}))
        .await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    let frames = bob_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "presence"),
        "a viewer was announced to the room's members: {frames:?}"
    );

    // A member comes online: the other member is told, the viewers are not.
    let alice_ws = WsClient::connect(&server, &alice).await;
    let online = bob_ws.next_of_type("presence").await;
    assert_eq!(
        (online["user_id"].as_str(), online["status"].as_str()),
        (Some(alice.id.as_str()), Some("online"))
    );
    for viewer in [&mut vic_ws, &mut wes_ws] {
        let frames = viewer.sync().await;
        assert!(
            !frames.iter().any(|f| f["type"] == "presence"),
            "a viewer got a member's presence: {frames:?}"
        );
    }

    // A member and a viewer go offline: after the grace period, the member's going is news to
    // the other member only, and the viewer's to nobody.
    alice_ws.close().await;
    wes_ws.close().await;
    let offline = bob_ws
        .next_of_type_within("presence", Duration::from_secs(10))
        .await;
    assert_eq!(
        (offline["user_id"].as_str(), offline["status"].as_str()),
        (Some(alice.id.as_str()), Some("offline"))
    );
    let frames = bob_ws.drain(Duration::from_secs(1)).await;
    assert!(
        !frames.iter().any(|f| f["type"] == "presence"),
        "a viewer's going offline was announced: {frames:?}"
    );
    let frames = vic_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "presence"),
        "a viewer got a member's offline: {frames:?}"
    );
    server.stop().await;
}

async fn added_member_gets_events_banned_member_stops(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Den", &[&carol]).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let mut carol_ws = WsClient::connect(&server, &carol).await;

    server.send(&alice, &room, "before bob").await;
    bob_ws.expect_no_mention(&room).await;

    // Added while connected: the open socket follows the room from now on.
    let res = server
        .post_as(
            &alice,
            &format!("/rooms/{room}/members"),
            json!({"user_ids": [bob.id]}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let joined = bob_ws.next_of_type("member_joined").await;
    assert_eq!(joined["room_id"], json!(room));
    assert_eq!(joined["user"]["id"], json!(bob.id));
    let sent = server.send(&alice, &room, "hi bob").await;
    let frame = bob_ws.next_of_type("message_new").await;
    assert_eq!(frame["message"]["id"], sent["id"]);
    bob_ws
        .ack(json!({"type": "typing", "room_id": room, "active": true}))
        .await;
    assert_eq!(
        carol_ws.next_of_type("typing").await["user_id"],
        json!(bob.id)
    );

    // Banned: told at once, and nothing of the room after that.
    bob_ws
        .request(json!({"type": "call_join", "room_id": room, "audio": true}))
        .await;
    let bob_conn = bob_ws.connection_id();
    let res = server
        .post_as(
            &alice,
            &format!("/rooms/{room}/bans"),
            json!({"user_id": bob.id, "reason": "spam"}),
        )
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let banned = bob_ws
        .next_of_type_within("banned", Duration::from_secs(1))
        .await;
    assert_eq!(banned["room_id"], json!(room), "{banned}");
    assert_eq!(banned["reason"], "spam", "{banned}");
    let left = carol_ws
        .next_matching("call_left for bob", |f| {
            f["type"] == "call_left" && f["connection_id"] == json!(bob_conn)
        })
        .await;
    assert_eq!(left["room_id"], json!(room));
    let gone = carol_ws.next_of_type("member_left").await;
    assert_eq!(gone["user_id"], json!(bob.id));

    let after = server.send(&alice, &room, "bob is gone").await;
    let after_id = after["id"].as_str().unwrap().to_string();
    carol_ws
        .ack(json!({"type": "typing", "room_id": room, "active": true}))
        .await;
    let frames = bob_ws.expect_no_mention(&after_id).await;
    assert!(
        !frames
            .iter()
            .any(|f| f["type"] == "typing" || f["type"] == "message_new"),
        "a banned user still gets the room: {frames:?}"
    );
    bob_ws
        .error(json!({"type": "subscribe", "room_id": room}), "not_found")
        .await;
    bob_ws
        .error(
            json!({"type": "send_message", "room_id": room, "content": "let me back"}),
            "not_found",
        )
        .await;
    server.stop().await;
}

backend_tests!(
    logout_closes_that_sessions_sockets_4003,
    presence_online_and_offline_after_grace,
    quick_reconnect_is_not_offline,
    presence_reaches_members_not_viewers,
    added_member_gets_events_banned_member_stops,
);
