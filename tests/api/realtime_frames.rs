//! WebSocket chat frames, each with its happy path and its refusal: subscribe (by id and by
//! alias), unsubscribe, send_message, edit_message, delete_message, typing and read.

use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer};
use crate::ws_client::{WsClient, room_with};

async fn subscribe_by_room_id_and_alias(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let lobby = server
        .create_room(&alice, json!({"name": "Lobby", "alias": "lobby"}))
        .await;
    let lobby_id = lobby["id"].as_str().unwrap().to_string();
    let news = server
        .create_room(&alice, json!({"name": "News", "alias": "news"}))
        .await;
    let news_id = news["id"].as_str().unwrap().to_string();
    let secret = room_with(&server, &alice, "private", "Secret", &[]).await;

    // Bob is in none of them; public rooms may still be followed.
    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let reply = bob_ws
        .request(json!({"type": "subscribe", "room_id": lobby_id}))
        .await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    assert_eq!(reply["room_id"], json!(lobby_id));
    assert_eq!(reply["replayed"], 0);
    assert_eq!(reply["has_more"], false);

    let reply = bob_ws
        .request(json!({"type": "subscribe", "alias": "NEWS"}))
        .await;
    assert_eq!(reply["type"], "subscribed", "by alias: {reply}");
    assert_eq!(reply["room_id"], json!(news_id));

    let first = server.send(&alice, &lobby_id, "in the lobby").await;
    let second = server.send(&alice, &news_id, "in the news").await;
    let frame = bob_ws.next_of_type("message_new").await;
    assert_eq!(frame["message"]["id"], first["id"]);
    let frame = bob_ws.next_of_type("message_new").await;
    assert_eq!(frame["message"]["id"], second["id"]);

    // Refusals: a private room Bob is not in, unknown ids and aliases, nothing to name a room.
    bob_ws
        .error(json!({"type": "subscribe", "room_id": secret}), "not_found")
        .await;
    bob_ws
        .error(
            json!({"type": "subscribe", "room_id": uuid::Uuid::now_v7()}),
            "not_found",
        )
        .await;
    bob_ws
        .error(
            json!({"type": "subscribe", "alias": "nowhere"}),
            "not_found",
        )
        .await;
    bob_ws
        .error(json!({"type": "subscribe"}), "validation_failed")
        .await;
    server.send(&alice, &secret, "not for bob").await;
    bob_ws.expect_no_mention(&secret).await;
    server.stop().await;
}

async fn unsubscribe_stops_live_events(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let other = room_with(&server, &alice, "private", "Other", &[&bob]).await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let ack = bob_ws
        .ack(json!({"type": "unsubscribe", "room_id": room}))
        .await;
    assert_eq!(ack["room_id"], json!(room), "{ack}");

    server.send(&alice, &room, "you stopped listening").await;
    let still = server.send(&alice, &other, "but not here").await;
    let frame = bob_ws.next_of_type("message_new").await;
    assert_eq!(
        frame["message"]["id"], still["id"],
        "the first message Bob gets is from the room he still follows"
    );
    bob_ws.expect_no_mention(&room).await;

    // Subscribing again brings the room back.
    let reply = bob_ws
        .request(json!({"type": "subscribe", "room_id": room}))
        .await;
    assert_eq!(reply["type"], "subscribed");
    let back = server.send(&alice, &room, "welcome back").await;
    assert_eq!(
        bob_ws.next_of_type("message_new").await["message"]["id"],
        back["id"]
    );

    // A malformed unsubscribe is a bad frame.
    bob_ws
        .error(json!({"type": "unsubscribe"}), "bad_frame")
        .await;
    server.stop().await;
}

async fn send_message_acks_and_fans_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    let ack = alice_ws
        .ack(json!({"type": "send_message", "room_id": room, "content": "  hi bob  ", "client_msg_id": "c-1"}))
        .await;
    assert!(ack["ref"].is_string(), "the ack echoes ref: {ack}");
    let message = &ack["message"];
    assert_eq!(message["content"], "hi bob", "content is trimmed: {ack}");
    assert_eq!(message["room_id"], json!(room));
    assert_eq!(message["sender"]["id"], json!(alice.id));
    assert_eq!(message["deleted"], false);
    // One ack per send: the writer's, and no second one from the request's task.
    let after = alice_ws.sync().await;
    assert!(
        !after.iter().any(|f| f["type"] == "ack"),
        "a send is acknowledged once: {after:?}"
    );

    let frame = bob_ws.next_of_type("message_new").await;
    assert_eq!(frame["message"]["id"], message["id"]);
    assert_eq!(frame["message"]["content"], "hi bob");
    assert_eq!(frame["message"]["sender"]["username"], "alice");

    // Persisted before the ack: REST sees it.
    let got = server
        .get_json(
            &bob,
            &format!("/messages/{}", message["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(got["content"], "hi bob");

    // A retry with the same client_msg_id returns the original, and nobody sees it twice.
    let again = alice_ws
        .ack(json!({"type": "send_message", "room_id": room, "content": "hi bob", "client_msg_id": "c-1"}))
        .await;
    assert_eq!(again["message"]["id"], message["id"]);
    let after = alice_ws.sync().await;
    assert!(
        !after.iter().any(|f| f["type"] == "ack"),
        "a retry is acknowledged once: {after:?}"
    );
    let frames = bob_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "message_new"),
        "a retry is not a new message: {frames:?}"
    );

    // A reply to an existing message.
    let reply = alice_ws
        .ack(json!({"type": "send_message", "room_id": room, "content": "and again", "reply_to_id": message["id"]}))
        .await;
    assert_eq!(reply["message"]["reply_to"]["id"], message["id"]);

    // Validation errors carry the ref and field.
    let error = alice_ws
        .error(
            json!({"type": "send_message", "room_id": room, "content": "   "}),
            "validation_failed",
        )
        .await;
    assert!(error["ref"].is_string(), "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("content"),
        "{error}"
    );
    let long = "x".repeat(4001);
    alice_ws
        .error(
            json!({"type": "send_message", "room_id": room, "content": long}),
            "validation_failed",
        )
        .await;
    alice_ws
        .error(
            json!({"type": "send_message", "room_id": room, "content": "x", "reply_to_id": uuid::Uuid::now_v7()}),
            "validation_failed",
        )
        .await;
    // Not a member of the private room: it does not exist for Carol.
    let mut carol_ws = WsClient::connect(&server, &carol).await;
    carol_ws
        .error(
            json!({"type": "send_message", "room_id": room, "content": "let me in"}),
            "not_found",
        )
        .await;
    let frames = bob_ws.sync().await;
    assert!(
        frames
            .iter()
            .all(|f| f["type"] != "message_new" || f["message"]["id"] == reply["message"]["id"]),
        "refused messages are not delivered: {frames:?}"
    );
    server.stop().await;
}

async fn edit_and_delete_message(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    let sent = server.send(&alice, &room, "frist").await;
    let id = sent["id"].as_str().unwrap().to_string();
    bob_ws.next_of_type("message_new").await;

    let ack = alice_ws
        .ack(json!({"type": "edit_message", "message_id": id, "content": "first"}))
        .await;
    assert_eq!(ack["message"]["id"], json!(id));
    assert_eq!(ack["message"]["content"], "first");
    assert!(ack["message"]["edited_at"].is_string(), "{ack}");
    let edited = bob_ws.next_of_type("message_edited").await;
    assert_eq!(edited["message"]["id"], json!(id));
    assert_eq!(edited["message"]["content"], "first");

    // Only the sender edits; bad content and unknown messages are refused.
    bob_ws
        .error(
            json!({"type": "edit_message", "message_id": id, "content": "mine now"}),
            "forbidden",
        )
        .await;
    alice_ws
        .error(
            json!({"type": "edit_message", "message_id": id, "content": ""}),
            "validation_failed",
        )
        .await;
    alice_ws
        .error(
            json!({"type": "edit_message", "message_id": uuid::Uuid::now_v7(), "content": "x"}),
            "not_found",
        )
        .await;
    // A plain member may not delete someone else's message.
    bob_ws
        .error(
            json!({"type": "delete_message", "message_id": id}),
            "forbidden",
        )
        .await;

    let ack = alice_ws
        .ack(json!({"type": "delete_message", "message_id": id}))
        .await;
    assert_eq!(ack["message_id"], json!(id));
    let deleted = bob_ws.next_of_type("message_deleted").await;
    assert_eq!(deleted["room_id"], json!(room));
    assert_eq!(deleted["message_id"], json!(id));
    let got = server.get_json(&bob, &format!("/messages/{id}")).await;
    assert_eq!(got["deleted"], true);
    assert_eq!(got["content"], "");

    // A deleted message cannot be edited.
    alice_ws
        .error(
            json!({"type": "edit_message", "message_id": id, "content": "undead"}),
            "not_found",
        )
        .await;
    // The room owner may delete Bob's message.
    let bobs = server.send(&bob, &room, "oops").await;
    alice_ws
        .ack(json!({"type": "delete_message", "message_id": bobs["id"]}))
        .await;
    let deleted = bob_ws.next_of_type("message_deleted").await;
    assert_eq!(deleted["message_id"], bobs["id"]);
    server.stop().await;
}

async fn typing_reaches_others_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let lobby = room_with(&server, &alice, "public", "Lobby", &[]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    alice_ws
        .ack(json!({"type": "typing", "room_id": room, "active": true}))
        .await;
    let typing = bob_ws.next_of_type("typing").await;
    assert_eq!(
        typing,
        json!({"type": "typing", "room_id": room, "user_id": alice.id, "active": true})
    );
    alice_ws
        .ack(json!({"type": "typing", "room_id": room, "active": false}))
        .await;
    let typing = bob_ws.next_of_type("typing").await;
    assert_eq!(typing["active"], false, "{typing}");
    assert_eq!(typing["user_id"], json!(alice.id));
    // The typist does not hear herself.
    let own = alice_ws.sync().await;
    assert!(
        !own.iter().any(|f| f["type"] == "typing"),
        "the typist got her own typing: {own:?}"
    );

    // Non-members: a private room does not exist for them; a public one needs joining first.
    let mut carol_ws = WsClient::connect(&server, &carol).await;
    carol_ws
        .error(
            json!({"type": "typing", "room_id": room, "active": true}),
            "not_found",
        )
        .await;
    carol_ws
        .error(
            json!({"type": "typing", "room_id": lobby, "active": true}),
            "forbidden",
        )
        .await;
    let frames = bob_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "typing"),
        "refused typing was delivered: {frames:?}"
    );
    server.stop().await;
}

async fn read_cursor_event(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let elsewhere = room_with(&server, &alice, "private", "Elsewhere", &[]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;

    let sent = server.send(&alice, &room, "read me").await;
    let foreign = server.send(&alice, &elsewhere, "not in this room").await;
    let ack = bob_ws
        .ack(json!({"type": "read", "room_id": room, "message_id": sent["id"]}))
        .await;
    assert_eq!(ack["room_id"], json!(room));
    let read = alice_ws.next_of_type("read").await;
    assert_eq!(
        read,
        json!({"type": "read", "room_id": room, "user_id": bob.id, "message_id": sent["id"]})
    );
    let members = server
        .get_json(&alice, &format!("/rooms/{room}/members"))
        .await;
    let bobs = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == json!(bob.id))
        .expect("bob is listed");
    assert_eq!(bobs["read_up_to"], sent["id"]);

    // A message of another room, and a room Carol is not in, are refused.
    bob_ws
        .error(
            json!({"type": "read", "room_id": room, "message_id": foreign["id"]}),
            "validation_failed",
        )
        .await;
    let mut carol_ws = WsClient::connect(&server, &carol).await;
    carol_ws
        .error(
            json!({"type": "read", "room_id": room, "message_id": sent["id"]}),
            "not_found",
        )
        .await;
    let frames = alice_ws.sync().await;
    assert!(
        !frames.iter().any(|f| f["type"] == "read"),
        "refused reads were announced: {frames:?}"
    );
    server.stop().await;
}

backend_tests!(
    subscribe_by_room_id_and_alias,
    unsubscribe_stops_live_events,
    send_message_acks_and_fans_out,
    edit_and_delete_message,
    typing_reaches_others_only,
    read_cursor_event,
);
