//! Calls over the WebSocket: call_join / call_media / call_leave and WebRTC signaling relayed
//! only between two connections that are both in the room's call.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer};
use crate::ws_client::{WsClient, room_with};

/// The participant entry for `connection_id` in a `call_participants` list.
fn participant<'a>(list: &'a Value, connection_id: &str) -> &'a Value {
    list["participants"]
        .as_array()
        .unwrap_or_else(|| panic!("participants is a list in {list}"))
        .iter()
        .find(|p| p["connection_id"] == json!(connection_id))
        .unwrap_or_else(|| panic!("{connection_id} is not listed in {list}"))
}

async fn call_join_media_leave(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Call room", &[&bob]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let (alice_conn, bob_conn) = (alice_ws.connection_id(), bob_ws.connection_id());

    // Alice starts the call: nobody else there yet.
    let reply = alice_ws
        .request(json!({"type": "call_join", "room_id": room, "audio": true, "video": false}))
        .await;
    assert_eq!(reply["type"], "call_participants", "{reply}");
    assert_eq!(reply["room_id"], json!(room));
    assert_eq!(reply["participants"], json!([]), "{reply}");
    let joined = bob_ws.next_of_type("call_joined").await;
    assert_eq!(joined["room_id"], json!(room));
    assert_eq!(joined["participant"]["connection_id"], json!(alice_conn));
    assert_eq!(joined["participant"]["user"]["id"], json!(alice.id));
    assert_eq!(joined["participant"]["audio"], true);
    assert_eq!(joined["participant"]["video"], false);

    // Bob joins: he is told Alice is there; Alice learns Bob joined.
    let reply = bob_ws
        .request(json!({"type": "call_join", "room_id": room, "audio": true, "video": true}))
        .await;
    assert_eq!(reply["type"], "call_participants", "{reply}");
    assert_eq!(
        reply["participants"].as_array().unwrap().len(),
        1,
        "{reply}"
    );
    let a = participant(&reply, &alice_conn);
    assert_eq!(a["user"]["id"], json!(alice.id));
    assert_eq!(
        (&a["audio"], &a["video"], &a["screen"]),
        (&json!(true), &json!(false), &json!(false))
    );
    let joined = alice_ws.next_of_type("call_joined").await;
    assert_eq!(joined["participant"]["connection_id"], json!(bob_conn));
    assert_eq!(joined["participant"]["video"], true);

    // Media changes reach the others.
    bob_ws
        .ack(json!({"type": "call_media", "room_id": room, "audio": false, "video": true, "screen": true}))
        .await;
    let media = alice_ws.next_of_type("call_media").await;
    assert_eq!(media["room_id"], json!(room));
    assert_eq!(media["connection_id"], json!(bob_conn));
    assert_eq!(media["user_id"], json!(bob.id));
    assert_eq!(
        (&media["audio"], &media["video"], &media["screen"]),
        (&json!(false), &json!(true), &json!(true))
    );

    // A third socket of Bob's joining late sees both with their current media.
    let mut bob_tablet = WsClient::connect(&server, &bob).await;
    let reply = bob_tablet
        .request(json!({"type": "call_join", "room_id": room}))
        .await;
    assert_eq!(
        reply["participants"].as_array().unwrap().len(),
        2,
        "{reply}"
    );
    assert_eq!(participant(&reply, &bob_conn)["screen"], true);
    let tablet_conn = bob_tablet.connection_id();
    bob_tablet
        .ack(json!({"type": "call_leave", "room_id": room}))
        .await;
    for ws in [&mut alice_ws, &mut bob_ws] {
        let left = ws
            .next_matching("call_left for the tablet", |f| {
                f["type"] == "call_left" && f["connection_id"] == json!(tablet_conn)
            })
            .await;
        assert_eq!(left["room_id"], json!(room));
    }

    // Refusals: media outside a call, joining a room one may not see.
    let other = room_with(&server, &alice, "private", "Other", &[]).await;
    alice_ws
        .error(
            json!({"type": "call_media", "room_id": other, "audio": true}),
            "not_in_call",
        )
        .await;
    let mut carol_ws = WsClient::connect(&server, &carol).await;
    carol_ws
        .error(
            json!({"type": "call_join", "room_id": room, "audio": true}),
            "not_found",
        )
        .await;
    carol_ws
        .error(
            json!({"type": "call_media", "room_id": room, "audio": true}),
            "not_in_call",
        )
        .await;

    // Alice leaves: Bob gets call_left.
    alice_ws
        .ack(json!({"type": "call_leave", "room_id": room}))
        .await;
    let left = bob_ws.next_of_type("call_left").await;
    assert_eq!(
        left,
        json!({"type": "call_left", "room_id": room, "connection_id": alice_conn})
    );
    alice_ws
        .error(
            json!({"type": "call_media", "room_id": room, "video": true}),
            "not_in_call",
        )
        .await;

    // A socket that closes leaves its calls.
    alice_ws
        .request(json!({"type": "call_join", "room_id": room}))
        .await;
    let joined = bob_ws.next_of_type("call_joined").await;
    assert_eq!(joined["participant"]["connection_id"], json!(alice_conn));
    alice_ws.close().await;
    let left = bob_ws.next_of_type("call_left").await;
    assert_eq!(left["connection_id"], json!(alice_conn));
    let reply = bob_tablet
        .request(json!({"type": "call_join", "room_id": room}))
        .await;
    let listed: Vec<&Value> = reply["participants"].as_array().unwrap().iter().collect();
    assert_eq!(listed.len(), 1, "only Bob's first socket remains: {reply}");
    assert_eq!(listed[0]["connection_id"], json!(bob_conn));
    server.stop().await;
}

async fn webrtc_signaling_is_relayed_to_the_addressee_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Call room", &[&bob, &carol]).await;
    let mut a = WsClient::connect(&server, &alice).await;
    let mut b = WsClient::connect(&server, &bob).await;
    let mut c = WsClient::connect(&server, &carol).await;
    let (a_conn, b_conn, c_conn) = (a.connection_id(), b.connection_id(), c.connection_id());

    a.request(json!({"type": "call_join", "room_id": room, "audio": true}))
        .await;
    b.request(json!({"type": "call_join", "room_id": room, "audio": true}))
        .await;

    // Offer, with a spoofed `from` and `from_user`: the server's own values win.
    let sdp = json!({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"});
    a.ack(json!({
        "type": "webrtc", "room_id": room, "to": b_conn, "action": "offer", "sdp": sdp,
        "from": c_conn, "from_user": {"id": carol.id, "username": "carol"},
    }))
    .await;
    let offer = b.next_of_type("webrtc").await;
    assert_eq!(offer["room_id"], json!(room));
    assert_eq!(offer["action"], "offer");
    assert_eq!(offer["sdp"], sdp);
    assert_eq!(
        offer["from"],
        json!(a_conn),
        "the server sets from: {offer}"
    );
    assert_eq!(offer["from_user"]["id"], json!(alice.id), "{offer}");
    assert_eq!(offer["from_user"]["username"], "alice");

    let answer_sdp = json!({"type": "answer", "sdp": "v=0\r\n"});
    b.ack(json!({"type": "webrtc", "room_id": room, "to": a_conn, "action": "answer", "sdp": answer_sdp}))
        .await;
    let answer = a.next_of_type("webrtc").await;
    assert_eq!(answer["action"], "answer");
    assert_eq!(answer["sdp"], answer_sdp);
    assert_eq!(answer["from"], json!(b_conn));
    assert_eq!(answer["from_user"]["id"], json!(bob.id));

    let candidate = json!({"candidate": "candidate:1 1 UDP 2122252543 10.0.0.2 54321 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    a.ack(json!({"type": "webrtc", "room_id": room, "to": b_conn, "action": "ice", "candidate": candidate}))
        .await;
    let ice = b.next_of_type("webrtc").await;
    assert_eq!(ice["action"], "ice");
    assert_eq!(ice["candidate"], candidate);
    assert_eq!(ice["from"], json!(a_conn));

    // Carol is a member and connected, but not in the call: she cannot reach Bob, nor be reached.
    c.error(
        json!({"type": "webrtc", "room_id": room, "to": b_conn, "action": "offer", "sdp": sdp}),
        "peer_not_found",
    )
    .await;
    a.error(
        json!({"type": "webrtc", "room_id": room, "to": c_conn, "action": "offer", "sdp": sdp}),
        "peer_not_found",
    )
    .await;
    // Unknown connection, and the right peer but another room's call.
    let other = room_with(&server, &alice, "private", "Other", &[&bob]).await;
    a.error(
        json!({"type": "webrtc", "room_id": room, "to": uuid::Uuid::now_v7(), "action": "ice", "candidate": candidate}),
        "peer_not_found",
    )
    .await;
    a.error(
        json!({"type": "webrtc", "room_id": other, "to": b_conn, "action": "offer", "sdp": sdp}),
        "peer_not_found",
    )
    .await;

    // Bye reaches Bob; nothing reached Carol, and Bob got nothing from Carol.
    a.ack(json!({"type": "webrtc", "room_id": room, "to": b_conn, "action": "bye"}))
        .await;
    let bye = b.next_of_type("webrtc").await;
    assert_eq!(bye["action"], "bye");
    assert_eq!(bye["from"], json!(a_conn));
    let carols = c.sync().await;
    assert!(
        !carols.iter().any(|f| f["type"] == "webrtc"),
        "signaling leaked to Carol: {carols:?}"
    );
    let bobs = b.sync().await;
    assert!(
        !bobs.iter().any(|f| f["type"] == "webrtc"),
        "Bob got unexpected signaling: {bobs:?}"
    );

    // After Bob leaves the call, Alice cannot reach him any more.
    b.ack(json!({"type": "call_leave", "room_id": room})).await;
    a.error(
        json!({"type": "webrtc", "room_id": room, "to": b_conn, "action": "ice", "candidate": candidate}),
        "peer_not_found",
    )
    .await;
    server.stop().await;
}

backend_tests!(
    call_join_media_leave,
    webrtc_signaling_is_relayed_to_the_addressee_only,
);
