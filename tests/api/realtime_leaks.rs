//! Privacy of the realtime hub: a socket of someone outside a private room, connected all
//! along, never receives anything of that room while its members chat, type, read, react,
//! edit, delete and call.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer};
use crate::ws_client::{Auth, WsClient, room_with};

/// Asserts that no frame mentions any of `needles`.
fn assert_no_mention(frames: &[Value], needles: &[&str], who: &str) {
    for frame in frames {
        let text = frame.to_string();
        for needle in needles {
            assert!(
                !text.contains(needle),
                "{who} received a frame mentioning {needle}: {frame}"
            );
        }
    }
}

async fn non_member_receives_nothing_of_a_private_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let secret = room_with(&server, &alice, "private", "Secret", &[&bob]).await;
    // Everyone shares a public room, so Eve legitimately gets *some* events (presence, lobby).
    let lobby = room_with(&server, &alice, "public", "Lobby", &[&bob, &eve]).await;

    // Eve is connected all along: plainly, at the room's own URL, and by first frame.
    let mut eve_ws = WsClient::connect(&server, &eve).await;
    let mut eve_room_url = WsClient::connect_at(
        &server,
        &format!("/ws/{secret}"),
        Auth::Query(&eve.access_token),
    )
    .await;
    let refused = eve_room_url.next_frame().await;
    assert_eq!(refused["code"], "not_found", "{refused}");
    let mut eve_frame = WsClient::connect_first_frame(&server, &eve.access_token).await;
    for ws in [&mut eve_ws, &mut eve_room_url, &mut eve_frame] {
        ws.recording = true;
    }

    // Eve's own attempts are all refused, without naming the room.
    let ghost = uuid::Uuid::now_v7();
    for (frame, code) in [
        (json!({"type": "subscribe", "room_id": secret}), "not_found"),
        (
            json!({"type": "subscribe", "room_id": secret, "since": ghost}),
            "not_found",
        ),
        (
            json!({"type": "send_message", "room_id": secret, "content": "hi?"}),
            "not_found",
        ),
        (
            json!({"type": "typing", "room_id": secret, "active": true}),
            "not_found",
        ),
        (
            json!({"type": "read", "room_id": secret, "message_id": ghost}),
            "not_found",
        ),
        (
            json!({"type": "call_join", "room_id": secret, "audio": true}),
            "not_found",
        ),
        (
            json!({"type": "call_media", "room_id": secret, "audio": true}),
            "not_in_call",
        ),
    ] {
        let error = eve_ws.error(frame, code).await;
        assert_no_mention(&[error], &[&secret], "Eve's error");
    }

    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let (alice_conn, bob_conn) = (alice_ws.connection_id(), bob_ws.connection_id());
    alice_ws.recording = true;

    // The members do everything a room can see.
    let ack = alice_ws
        .ack(json!({"type": "send_message", "room_id": secret, "content": "the plan, part one"}))
        .await;
    let first = ack["message"]["id"].as_str().unwrap().to_string();
    bob_ws
        .ack(json!({"type": "read", "room_id": secret, "message_id": first}))
        .await;
    let second = server.send(&bob, &secret, "the plan, part two").await;
    let second = second["id"].as_str().unwrap().to_string();
    bob_ws
        .ack(json!({"type": "typing", "room_id": secret, "active": true}))
        .await;
    let res = server
        .put_as(&bob, &format!("/messages/{first}/reactions/👍"))
        .await;
    assert_eq!(res.status(), reqwest::StatusCode::NO_CONTENT);
    alice_ws
        .ack(json!({"type": "edit_message", "message_id": first, "content": "the plan, revised"}))
        .await;
    bob_ws
        .ack(json!({"type": "delete_message", "message_id": second}))
        .await;
    alice_ws
        .request(json!({"type": "call_join", "room_id": secret, "audio": true, "video": true}))
        .await;
    bob_ws
        .request(json!({"type": "call_join", "room_id": secret, "audio": true}))
        .await;
    alice_ws
        .ack(json!({"type": "call_media", "room_id": secret, "audio": true, "video": false, "screen": true}))
        .await;
    alice_ws
        .ack(json!({"type": "webrtc", "room_id": secret, "to": bob_conn, "action": "offer", "sdp": {"type": "offer", "sdp": "v=0"}}))
        .await;
    bob_ws
        .ack(json!({"type": "webrtc", "room_id": secret, "to": alice_conn, "action": "answer", "sdp": {"type": "answer", "sdp": "v=0"}}))
        .await;
    bob_ws
        .ack(json!({"type": "typing", "room_id": secret, "active": false}))
        .await;
    bob_ws
        .ack(json!({"type": "call_leave", "room_id": secret}))
        .await;
    // Eve cannot reach into the call either.
    let error = eve_ws
        .error(
            json!({"type": "webrtc", "room_id": secret, "to": alice_conn, "action": "offer", "sdp": {"sdp": "x"}}),
            "peer_not_found",
        )
        .await;
    assert_no_mention(&[error], &[&secret], "Eve's error");
    // Something public happens too, so the check below is not vacuous.
    let public = server.send(&alice, &lobby, "hello lobby").await;

    // The members did see it all (so the events were really produced).
    alice_ws
        .wait_logged(
            &[
                "typing",
                "read",
                "reaction",
                "message_edited",
                "message_deleted",
                "call_joined",
                "call_left",
            ],
            |f| f["room_id"] == json!(secret) || f["message"]["room_id"] == json!(secret),
        )
        .await;

    let needles = [secret.as_str(), first.as_str(), second.as_str(), "the plan"];
    for (who, ws) in [
        ("Eve", &mut eve_ws),
        ("Eve at /ws/{room}", &mut eve_room_url),
        ("Eve by first frame", &mut eve_frame),
    ] {
        // Live (a ping round trip), then quiet for a while.
        let mut frames = ws.expect_no_mention(&secret).await;
        frames.append(&mut ws.log);
        assert_no_mention(&frames, &needles, who);
        assert!(
            !frames.iter().any(|f| f["type"] == "webrtc"),
            "{who} got signaling: {frames:?}"
        );
        assert!(
            frames
                .iter()
                .any(|f| f["type"] == "message_new" && f["message"]["id"] == public["id"]),
            "{who} still gets the public room's events: {frames:?}"
        );
    }
    server.stop().await;
}

backend_tests!(non_member_receives_nothing_of_a_private_room);
