//! Profiles and accounts, live: a profile change reaches everyone who shares a room with the
//! user (once per socket, however many rooms they share), and a deleted account leaves every
//! room it was in.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, call, json_with};
use crate::ws_client::{QUIET, WsClient, room_with};

/// The `user_updated` frames among `frames`.
fn user_updates(frames: &[Value]) -> Vec<&Value> {
    frames
        .iter()
        .filter(|f| f["type"] == "user_updated")
        .collect()
}

/// Alice and Bob share two rooms, Carol none with Alice. Alice renames herself: Bob's socket
/// and her own get one `user_updated` each; Carol's gets nothing.
async fn a_profile_change_reaches_each_socket_sharing_a_room_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    room_with(&server, &alice, "private", "Den", &[&bob]).await;
    room_with(&server, &alice, "public", "Hall", &[&bob]).await;
    room_with(&server, &bob, "private", "Bob and Carol", &[&carol]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let mut carol_ws = WsClient::connect(&server, &carol).await;

    let res = server
        .patch_as(
            &alice,
            "/users/me",
            json!({"display_name": "Alice Liddell", "status_text": "down the hole"}),
        )
        .await;
    json_with(res, StatusCode::OK).await;

    for (name, ws) in [("bob", &mut bob_ws), ("alice", &mut alice_ws)] {
        let updated = ws.next_of_type("user_updated").await;
        let user = &updated["user"];
        assert_eq!(user["id"], json!(alice.id), "{name}: {updated}");
        assert_eq!(user["display_name"], "Alice Liddell", "{name}: {updated}");
        assert_eq!(user["status_text"], "down the hole", "{name}: {updated}");
        assert_eq!(user["username"], "alice", "{name}: {updated}");
        assert_eq!(user["online"], true, "{name}: {updated}");
        assert!(user.get("email").is_none(), "{name}: no email in {updated}");
        // Two shared rooms, one frame.
        let mut rest = ws.sync().await;
        rest.extend(ws.drain(QUIET).await);
        assert!(
            user_updates(&rest).is_empty(),
            "{name} got user_updated more than once: {rest:?}"
        );
    }
    let frames = carol_ws.expect_no_mention(&alice.id).await;
    assert!(user_updates(&frames).is_empty(), "carol: {frames:?}");
    server.stop().await;
}

/// Dave shares no room with anyone: his own other device still hears his rename.
async fn a_profile_change_reaches_my_other_devices_without_rooms(backend: Backend) {
    let server = TestServer::start(backend).await;
    let dave = server.register("dave").await;
    let mut dave_ws = WsClient::connect(&server, &dave).await;
    let res = server
        .patch_as(&dave, "/users/me", json!({"display_name": "Dave Bowman"}))
        .await;
    json_with(res, StatusCode::OK).await;
    let updated = dave_ws.next_of_type("user_updated").await;
    assert_eq!(updated["user"]["display_name"], "Dave Bowman", "{updated}");
    server.stop().await;
}

/// Alice deletes her account: Bob's socket gets `member_left` for each room they shared, and
/// the rooms' member lists no longer have her.
async fn a_deleted_account_leaves_every_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let den = room_with(&server, &bob, "private", "Den", &[&alice]).await;
    let hall = room_with(&server, &alice, "public", "Hall", &[&bob]).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    let res = call(
        &server,
        Method::DELETE,
        "/users/me",
        Some(&alice),
        Some(&json!({"password": alice.password})),
    )
    .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let mut left = Vec::new();
    for _ in 0..2 {
        let frame = bob_ws
            .next_matching("member_left of alice", |f| {
                f["type"] == "member_left" && f["user_id"] == json!(alice.id)
            })
            .await;
        left.push(frame["room_id"].as_str().unwrap_or_default().to_string());
    }
    left.sort();
    let mut shared = vec![den.clone(), hall.clone()];
    shared.sort();
    assert_eq!(left, shared, "one member_left per shared room");

    for room in [&den, &hall] {
        let members = server
            .get_json(&bob, &format!("/rooms/{room}/members"))
            .await;
        let ids: Vec<&Value> = members["items"]
            .as_array()
            .unwrap_or_else(|| panic!("items in {members}"))
            .iter()
            .map(|m| &m["user"]["id"])
            .collect();
        assert_eq!(ids, vec![&json!(bob.id)], "{room}: {members}");
    }
    // Bob's socket still follows the rooms: life goes on without her.
    let sent = server.send(&bob, &den, "still here").await;
    let new = bob_ws.next_of_type("message_new").await;
    assert_eq!(new["message"]["id"], sent["id"]);
    server.stop().await;
}

backend_tests!(
    a_profile_change_reaches_my_other_devices_without_rooms,
    a_profile_change_reaches_each_socket_sharing_a_room_once,
    a_deleted_account_leaves_every_room,
);
