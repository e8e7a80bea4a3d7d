//! Catching up and keeping up: `subscribe {since}` replays what a client missed, exactly once
//! and in order; a consumer that stops reading is closed (4009) without slowing anyone else.
//!
//! Long (~600 lines) on purpose: independent tests of one guarantee, sharing the helpers that
//! read a socket until a frame and check order and uniqueness.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};

use chatter::events::DomainEvent;
use chatter::realtime::delivery::{self, Delivery};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser};
use crate::ws_client::{Auth, Event, WsClient, open, room_with};

/// Posts `n` messages one after the other (so their order is known); returns their ids.
async fn post_many(server: &TestServer, user: &TestUser, room: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let sent = server.send(user, room, &format!("missed #{i}")).await;
        ids.push(sent["id"].as_str().unwrap().to_string());
    }
    ids
}

/// Waits until `witness` (a socket in the room) got message `id`: the fan-out, which handles
/// events in order, is then done with it and everything before it, so a socket opened now gets
/// none of them live (they can only come in a replay).
async fn fanned_out(witness: &mut WsClient, id: &str) {
    witness
        .next_matching("the last message posted", |f| {
            f["type"] == "message_new" && f["message"]["id"] == id
        })
        .await;
}

/// Asserts that no `message_new` is queued for `ws` (a ping round trip flushes what the server
/// queued before it).
async fn no_more_messages(ws: &mut WsClient) {
    let after = ws.sync().await;
    assert!(
        !after.iter().any(|f| f["type"] == "message_new"),
        "{after:?}"
    );
}

/// Reads frames until `subscribed`; returns the replayed message ids and the `subscribed` frame.
async fn read_replay(ws: &mut WsClient) -> (Vec<String>, Value) {
    let mut replayed = Vec::new();
    loop {
        let frame = ws.next_frame().await;
        match frame["type"].as_str() {
            Some("message_new") => {
                replayed.push(frame["message"]["id"].as_str().unwrap().to_string())
            }
            Some("subscribed") => return (replayed, frame),
            _ => {}
        }
    }
}

async fn reconnect_with_since_replays_missed_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let mut witness = WsClient::connect(&server, &alice).await;
    let seen = server.send(&alice, &room, "the last one bob sees").await;
    let frame = bob_ws.next_of_type("message_new").await;
    assert_eq!(frame["message"]["id"], seen["id"]);
    bob_ws.close().await;

    let missed = post_many(&server, &alice, &room, 100).await;
    fanned_out(&mut witness, &missed[99]).await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    bob_ws
        .send_json(
            &json!({"type": "subscribe", "room_id": room, "since": seen["id"], "ref": "catch-up"}),
        )
        .await;
    let (replayed, subscribed) = read_replay(&mut bob_ws).await;
    assert_eq!(replayed.len(), 100, "exactly the missed messages");
    assert_eq!(replayed, missed, "in order, no duplicates, no gaps");
    assert_eq!(
        subscribed,
        json!({"type": "subscribed", "room_id": room, "replayed": 100, "has_more": false, "ref": "catch-up"})
    );
    let after = bob_ws.sync().await;
    assert!(
        !after.iter().any(|f| f["type"] == "message_new"),
        "nothing more after the replay: {after:?}"
    );

    // Live messages flow on afterwards, once each.
    let live = server.send(&alice, &room, "back to normal").await;
    assert_eq!(
        bob_ws.next_of_type("message_new").await["message"]["id"],
        live["id"]
    );
    no_more_messages(&mut bob_ws).await;

    // Up to date already: nothing to replay.
    let reply = bob_ws
        .request(json!({"type": "subscribe", "room_id": room, "since": live["id"]}))
        .await;
    assert_eq!(reply["type"], "subscribed");
    assert_eq!(reply["replayed"], 0);
    assert_eq!(reply["has_more"], false);
    server.stop().await;
}

/// More than one replay's worth missed: the first 100, then `has_more` sends the client to REST.
async fn long_gap_replays_100_and_says_has_more(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let mut witness = WsClient::connect(&server, &alice).await;
    let seen = server.send(&alice, &room, "seen").await;
    let missed = post_many(&server, &alice, &room, 130).await;
    fanned_out(&mut witness, &missed[129]).await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    bob_ws
        .send_json(&json!({"type": "subscribe", "room_id": room, "since": seen["id"]}))
        .await;
    let (replayed, subscribed) = read_replay(&mut bob_ws).await;
    assert_eq!(replayed, missed[..100].to_vec());
    assert_eq!(subscribed["replayed"], 100, "{subscribed}");
    assert_eq!(subscribed["has_more"], true, "{subscribed}");
    let rest = server
        .get_json(
            &bob,
            &format!("/rooms/{room}/messages?after={}&limit=100", replayed[99]),
        )
        .await;
    let rest: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, missed[100..].to_vec(), "REST has the remainder");
    server.stop().await;
}

/// Messages posted while a replay is under way arrive once each, after the replayed ones.
async fn replay_with_live_traffic_has_no_duplicates(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let seen = server.send(&alice, &room, "seen").await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    bob_ws
        .ack(json!({"type": "unsubscribe", "room_id": room}))
        .await;
    let mut all = post_many(&server, &alice, &room, 60).await;

    let live = {
        let client = server.client.clone();
        let url = server.api(&format!("/rooms/{room}/messages"));
        let token = alice.access_token.clone();
        tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..40 {
                let res = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"content": format!("live #{i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), reqwest::StatusCode::CREATED);
                let body: Value = res.json().await.unwrap();
                ids.push(body["id"].as_str().unwrap().to_string());
            }
            ids
        })
    };
    bob_ws
        .send_json(&json!({"type": "subscribe", "room_id": room, "since": seen["id"]}))
        .await;
    all.extend(live.await.unwrap());

    let expected: HashSet<&String> = all.iter().collect();
    let mut got: Vec<String> = Vec::new();
    let mut subscribed = false;
    while !subscribed || !expected.iter().all(|id| got.contains(id)) {
        let frame = bob_ws.next_frame().await;
        match frame["type"].as_str() {
            Some("message_new") => got.push(frame["message"]["id"].as_str().unwrap().to_string()),
            Some("subscribed") => subscribed = true,
            _ => {}
        }
    }
    got.extend(
        bob_ws
            .sync()
            .await
            .into_iter()
            .filter(|f| f["type"] == "message_new")
            .map(|f| f["message"]["id"].as_str().unwrap().to_string()),
    );
    assert_eq!(got, all, "every message once, in order");
    server.stop().await;
}

/// The race behind a replay, made certain: a message is committed before the history read, so
/// it is replayed, and then its live event arrives after all: late from the local fan-out, and
/// late over the cluster bus. The socket must not see it twice.
async fn a_late_live_copy_of_a_replayed_message_is_dropped(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let seen = server.send(&alice, &room, "seen").await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    bob_ws
        .ack(json!({"type": "unsubscribe", "room_id": room}))
        .await;
    let missed = server.send(&alice, &room, "missed").await;
    // The event of that message, as the writer published it, to publish again after the replay.
    let stored = server
        .state
        .store
        .message(missed["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap()
        .expect("the message is stored");
    let missed_seq = stored.seq;
    let late_event = DomainEvent::MessageCreated {
        room_id: stored.room_id,
        seq: stored.seq,
        message: std::sync::Arc::new(
            chatter::views::messages::message_view(&server.state, None, stored)
                .await
                .unwrap(),
        ),
    };

    bob_ws
        .send_json(&json!({"type": "subscribe", "room_id": room, "since": seen["id"]}))
        .await;
    let (replayed, subscribed) = read_replay(&mut bob_ws).await;
    assert_eq!(replayed, [missed["id"].as_str().unwrap()]);
    assert_eq!(subscribed["replayed"], 1);

    let dropped_before = metric(&server, "ws_duplicate_messages_dropped_total").await;
    // Late from this instance's fan-out …
    server.state.events.publish(late_event).await;
    // … and late from another instance: the very delivery the cluster bus carries.
    let from_the_bus: Delivery = serde_json::from_value(json!({
        "op": "to_room",
        "room_id": room,
        "seq": missed_seq,
        "frame": json!({"type": "message_new", "message": &missed}).to_string(),
        "except": null,
    }))
    .unwrap();
    delivery::route(&server.state, &from_the_bus);

    // The fan-out handles events in order: once the next message is here, the late one was
    // delivered or dropped.
    let next = server.send(&alice, &room, "next").await;
    let mut got = Vec::new();
    loop {
        let frame = bob_ws.next_of_type("message_new").await;
        got.push(frame["message"]["id"].as_str().unwrap().to_string());
        if frame["message"]["id"] == next["id"] {
            break;
        }
    }
    assert_eq!(
        got,
        [next["id"].as_str().unwrap()],
        "the replayed message came again"
    );
    let dropped = metric(&server, "ws_duplicate_messages_dropped_total").await - dropped_before;
    assert!(dropped >= 2.0, "both late copies counted: {dropped}");

    // The socket has both now: asking again from `seen` sends neither a second time (REST
    // serves history again).
    let reply = bob_ws
        .request(json!({"type": "subscribe", "room_id": room, "since": seen["id"]}))
        .await;
    assert_eq!(reply["replayed"], 0, "{reply}");
    no_more_messages(&mut bob_ws).await;
    server.stop().await;
}

/// The usual reconnect: the new socket follows its rooms from `welcome` on, so live messages
/// can reach it before the client asks to catch up. The replay fills the gap before them
/// without sending them again.
async fn a_replay_skips_what_already_arrived_live(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", "Den", &[&bob]).await;
    let mut alice_ws = WsClient::connect(&server, &alice).await;
    let seen = server.send(&alice, &room, "seen").await;
    let missed = post_many(&server, &alice, &room, 3).await;
    fanned_out(&mut alice_ws, &missed[2]).await;

    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let early = server.send(&alice, &room, "before bob asks").await;
    assert_eq!(
        bob_ws.next_of_type("message_new").await["message"]["id"],
        early["id"]
    );
    bob_ws
        .send_json(&json!({"type": "subscribe", "room_id": room, "since": seen["id"]}))
        .await;
    let (replayed, subscribed) = read_replay(&mut bob_ws).await;
    assert_eq!(replayed, missed, "the gap, and not the live message again");
    assert_eq!(subscribed["replayed"], 3, "{subscribed}");

    let next = server.send(&alice, &room, "next").await;
    assert_eq!(
        bob_ws.next_of_type("message_new").await["message"]["id"],
        next["id"]
    );
    no_more_messages(&mut bob_ws).await;
    server.stop().await;
}

/// `since` is where the socket stands in the room, so it must be a message of that room: an id
/// from the future would silence the room, one from another room means nothing here.
async fn since_must_be_a_message_of_the_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let room = room_with(&server, &alice, "private", "Den", &[]).await;
    let other = room_with(&server, &alice, "private", "Elsewhere", &[]).await;
    let elsewhere = server.send(&alice, &other, "elsewhere").await;
    let seen = server.send(&alice, &room, "seen").await;

    let mut ws = WsClient::connect(&server, &alice).await;
    let mut witness = WsClient::connect(&server, &alice).await;
    ws.ack(json!({"type": "unsubscribe", "room_id": room}))
        .await;
    let future = uuid::Uuid::max();
    for since in [json!(future), elsewhere["id"].clone()] {
        let refused = ws
            .error(
                json!({"type": "subscribe", "room_id": room, "since": since}),
                "validation_failed",
            )
            .await;
        assert!(
            refused["message"].as_str().unwrap().contains("since"),
            "{refused}"
        );
    }
    // Refused means not subscribed: once another socket has the next message, the fan-out
    // is past it, and it did not come here.
    let unheard = server.send(&alice, &room, "unheard").await;
    witness
        .next_matching("the unheard message", |f| {
            f["type"] == "message_new" && f["message"]["id"] == unheard["id"]
        })
        .await;
    no_more_messages(&mut ws).await;

    // A real one works, and live messages keep coming after it.
    let reply = ws
        .request(json!({"type": "subscribe", "room_id": room, "since": seen["id"]}))
        .await;
    assert_eq!(reply["replayed"], 1, "{reply}");
    let live = server.send(&alice, &room, "heard").await;
    assert_eq!(
        ws.next_of_type("message_new").await["message"]["id"],
        live["id"]
    );
    server.stop().await;
}

/// Several senders at once: every reader gets every message once, all in the same order, and
/// that order is the id order (the order of the room's history).
async fn concurrent_posts_arrive_in_id_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Busy", &[&bob, &carol]).await;
    let mut readers = [
        WsClient::connect(&server, &bob).await,
        WsClient::connect(&server, &carol).await,
    ];
    const N: usize = 200;
    let posts = futures::stream::iter(0..N)
        .map(|i| {
            let sender = [&alice, &bob, &carol][i % 3];
            let (server, room) = (&server, &room);
            async move { server.send(sender, room, &format!("busy #{i}")).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<Value>>()
        .await;
    let mut sorted: Vec<String> = posts
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect();
    sorted.sort();
    for reader in &mut readers {
        let mut got = Vec::new();
        while got.len() < N {
            let frame = reader.next_of_type("message_new").await;
            got.push(frame["message"]["id"].as_str().unwrap().to_string());
        }
        let misplaced: Vec<(usize, &String, &String)> = got
            .iter()
            .zip(&sorted)
            .enumerate()
            .filter(|(_, (g, s))| g != s)
            .map(|(i, (g, s))| (i, g, s))
            .collect();
        assert!(
            misplaced.is_empty(),
            "live order differs from the id order at {} of {N} positions; first (index, got, expected): {:?}",
            misplaced.len(),
            &misplaced[..misplaced.len().min(3)]
        );
    }
    server.stop().await;
}

/// The value of a Prometheus counter on /metrics (0 when not yet reported).
async fn metric(server: &TestServer, name: &str) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let key = key.split('{').next()?;
            (key == name).then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// Metrics are process-wide: the slow-consumer tests of both backends take turns, so each
/// sees its own increment.
static SLOW_CONSUMER_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Messages flooded into the room; with ~12 KB frames this is far more than the 256-frame
/// queue plus what the kernel buffers for a socket nobody reads (about 80 such frames here).
const FLOOD: usize = 1000;

async fn slow_consumer_is_closed_4009_without_slowing_others(backend: Backend) {
    let _turn = SLOW_CONSUMER_TURN.lock().await;
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &alice, "private", "Firehose", &[&bob, &carol]).await;

    let mut fast = WsClient::connect(&server, &bob).await;
    // Carol's socket: read up to a pong (subscribed and live), then never again until the end.
    let raw = open(&server, "/ws", Auth::Header(&carol.access_token), &[])
        .await
        .expect("upgrade");
    let mut slow = WsClient::from_raw(raw);
    assert_eq!(slow.next_frame().await["type"], "welcome");
    slow.sync().await;
    let before = metric(&server, "ws_slow_consumer_closes_total").await;

    // The fast reader counts every message_new.
    let fast_reader = tokio::spawn(async move {
        let mut ids = HashSet::new();
        let mut duplicates = 0;
        while ids.len() < FLOOD {
            match fast.next_event(Duration::from_secs(60)).await {
                Some(Event::Frame(frame)) if frame["type"] == "message_new" => {
                    let id = frame["message"]["id"].as_str().unwrap().to_string();
                    if !ids.insert(id) {
                        duplicates += 1;
                    }
                }
                Some(Event::Frame(_)) => {}
                other => panic!(
                    "the fast client stopped after {} messages: {other:?}",
                    ids.len()
                ),
            }
        }
        (ids, duplicates, fast)
    });

    // The flood: big multi-byte messages (3,900 chars, ~11.7 KB), several in flight at once.
    let content = "字".repeat(3900);
    let flood = {
        let client = server.client.clone();
        let url = server.api(&format!("/rooms/{room}/messages"));
        let token = alice.access_token.clone();
        tokio::spawn(async move {
            futures::stream::iter(0..FLOOD)
                .map(|i| {
                    let (client, url, token) = (client.clone(), url.clone(), token.clone());
                    let content = format!("{i} {content}");
                    async move {
                        let res = client
                            .post(&url)
                            .bearer_auth(&token)
                            .json(&json!({"content": content}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status(), reqwest::StatusCode::CREATED);
                        let body: Value = res.json().await.unwrap();
                        body["id"].as_str().unwrap().to_string()
                    }
                })
                .buffer_unordered(8)
                .collect::<HashSet<String>>()
                .await
        })
    };

    // As soon as the server gives up on Carol, she starts reading: what was buffered, then the
    // close frame (the server allows a few seconds for it to get out).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    while metric(&server, "ws_slow_consumer_closes_total").await <= before && !flood.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "neither a slow-consumer close nor the end of the flood"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut slow_got = 0;
    let ending = loop {
        match slow.next_event(Duration::from_secs(30)).await {
            Some(Event::Frame(frame)) if frame["type"] == "message_new" => slow_got += 1,
            Some(Event::Frame(_)) => {}
            Some(end) => break end,
            None => panic!("the slow socket was neither closed nor fed ({slow_got} messages)"),
        }
    };

    let posted = flood.await.unwrap();
    assert_eq!(posted.len(), FLOOD);
    let (fast_ids, duplicates, fast) = tokio::time::timeout(Duration::from_secs(120), fast_reader)
        .await
        .expect("the fast client got every message in time")
        .unwrap();
    assert_eq!(duplicates, 0, "the fast client got duplicates");
    assert_eq!(fast_ids, posted, "the fast client got every message");

    let after = metric(&server, "ws_slow_consumer_closes_total").await;
    eprintln!("slow consumer: {slow_got} of {FLOOD} messages, then {ending:?}");
    assert!(slow_got < FLOOD, "the slow client was never cut off");
    match ending {
        Event::Closed(Some(code)) => assert_eq!(code, 4009, "close code"),
        Event::Gone(_) => assert!(
            after > before,
            "the connection is gone, but not as too slow"
        ),
        other => panic!("unexpected end of the slow socket: {other:?}"),
    }
    assert!(after > before, "ws_slow_consumer_closes_total went up");

    // The fast client is still fine, and the server forgot the slow socket.
    let mut fast = fast;
    fast.sync().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let stats = server.get_json(&alice, "/stats").await;
        if stats["connections"] == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow socket is still registered: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}

backend_tests!(
    reconnect_with_since_replays_missed_messages,
    long_gap_replays_100_and_says_has_more,
    replay_with_live_traffic_has_no_duplicates,
    a_late_live_copy_of_a_replayed_message_is_dropped,
    a_replay_skips_what_already_arrived_live,
    since_must_be_a_message_of_the_room,
    concurrent_posts_arrive_in_id_order,
    slow_consumer_is_closed_4009_without_slowing_others,
);
