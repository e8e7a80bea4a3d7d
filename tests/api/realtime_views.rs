//! Views that go to many readers tell each of them the truth: nothing in a broadcast is built
//! for the person who caused it. An edited message's `reactions[].me` is each receiver's own,
//! on this instance and across instances; `room_updated` carries no one's role, unread count or
//! last message.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::cluster::two_instances;
use crate::common::{Backend, TestServer, TestUser};
use crate::ws_client::{WsClient, room_with};

const THUMBS_UP: &str = "%F0%9F%91%8D";
const PARTY: &str = "%F0%9F%8E%89";

async fn react(server: &TestServer, user: &TestUser, message_id: &str, emoji: &str) {
    let res = server
        .put_as(user, &format!("/messages/{message_id}/reactions/{emoji}"))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

/// `(emoji, count, me)` of each reaction on a message, in order.
fn reactions(message: &Value) -> Vec<(String, i64, bool)> {
    message["reactions"]
        .as_array()
        .unwrap_or_else(|| panic!("reactions in {message}"))
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap().to_string(),
                r["count"].as_i64().unwrap(),
                r["me"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn expected(thumbs_me: bool, party_me: bool) -> Vec<(String, i64, bool)> {
    vec![("👍".into(), 2, thumbs_me), ("🎉".into(), 1, party_me)]
}

/// Bob and Alice react 👍, Carol 🎉, Dave not at all; Alice edits. Each reader's
/// `message_edited` says whether they themselves reacted.
async fn an_edit_tells_each_reader_their_own_reactions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let dave = server.register("dave").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob, &carol, &dave]).await;
    let message = server.send(&alice, &room, "teh plan").await;
    let id = message["id"].as_str().unwrap().to_string();
    react(&server, &bob, &id, THUMBS_UP).await;
    react(&server, &carol, &id, PARTY).await;
    react(&server, &alice, &id, THUMBS_UP).await;

    let mut sockets = Vec::new();
    for user in [&alice, &bob, &carol, &dave] {
        sockets.push(WsClient::connect(&server, user).await);
    }
    let ack = sockets[0]
        .ack(json!({"type": "edit_message", "message_id": id, "content": "the plan"}))
        .await;
    assert_eq!(reactions(&ack["message"]), expected(true, false), "{ack}");

    let truths = [
        ("alice", expected(true, false)),
        ("bob", expected(true, false)),
        ("carol", expected(false, true)),
        ("dave", expected(false, false)),
    ];
    for (ws, (name, truth)) in sockets.iter_mut().zip(truths) {
        let edited = ws.next_of_type("message_edited").await;
        assert_eq!(edited["message"]["content"], "the plan", "{name}: {edited}");
        assert_eq!(reactions(&edited["message"]), truth, "{name}: {edited}");
    }
    // REST agrees with what each one was told.
    let seen = server.get_json(&carol, &format!("/messages/{id}")).await;
    assert_eq!(reactions(&seen), expected(false, true), "{seen}");
    server.stop().await;
}

/// The same across instances: the personal frames travel with the delivery.
async fn an_edit_tells_the_truth_on_every_instance(backend: Backend) {
    let Some((a, b)) = two_instances(backend).await else {
        return;
    };
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = b.register("carol").await;
    let room = room_with(&a, &alice, "private", "Across", &[&bob, &carol]).await;
    let message = a.send(&alice, &room, "teh plan").await;
    let id = message["id"].as_str().unwrap().to_string();
    react(&b, &bob, &id, THUMBS_UP).await;
    react(&a, &alice, &id, THUMBS_UP).await;
    react(&b, &carol, &id, PARTY).await;
    let mut bob_ws = WsClient::connect(&b, &bob).await;
    let mut carol_ws = WsClient::connect(&b, &carol).await;

    let res = a
        .patch_as(
            &alice,
            &format!("/messages/{id}"),
            json!({"content": "the plan"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited = bob_ws.next_of_type("message_edited").await;
    assert_eq!(
        reactions(&edited["message"]),
        expected(true, false),
        "{edited}"
    );
    let edited = carol_ws.next_of_type("message_edited").await;
    assert_eq!(
        reactions(&edited["message"]),
        expected(false, true),
        "{edited}"
    );
    b.stop().await;
    a.stop().await;
}

/// An admin renames the room: members are told the new settings, not the admin's role, unread
/// count or view of the last message (each keeps their own from `GET /rooms/joined`).
async fn room_updated_carries_nothing_of_the_admin(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let message = server.send(&alice, &room, "hello").await;
    react(&server, &alice, message["id"].as_str().unwrap(), THUMBS_UP).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    let res = server
        .patch_as(&alice, &format!("/rooms/{room}"), json!({"name": "Study"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let updated = bob_ws.next_of_type("room_updated").await;
    let view = &updated["room"];
    assert_eq!(view["name"], "Study", "{updated}");
    for field in ["my_role", "unread_count", "last_message"] {
        assert!(view.get(field).is_none(), "{field} in {updated}");
    }
    server.stop().await;
}

backend_tests!(
    an_edit_tells_each_reader_their_own_reactions,
    an_edit_tells_the_truth_on_every_instance,
    room_updated_carries_nothing_of_the_admin,
);
