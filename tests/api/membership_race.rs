//! A member removed or banned while sending: every send that starts after the removal was
//! acknowledged is refused, over WebSocket and REST, on the instance that removed them and on
//! another one; what was acknowledged is stored and nothing else; and the access checks kept
//! in memory (a typing frame here) refuse the removed member as soon as the removal is heard.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

use chatter::auth::AuthUser;
use chatter::error::ApiError;
use chatter::service::access::{Role, RoomAccess};
use chatter::service::{members, rooms};
use uuid::Uuid;

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, redis_url};
use crate::ws_client::{WsClient, room_with};

#[derive(Debug, Clone, Copy)]
enum Removal {
    Remove,
    Ban,
}

fn raised(settings: &mut chatter::Settings) {
    settings.rate_limit.rest_per_minute = 100_000;
    settings.rate_limit.ws_messages_per_sec = 100_000;
    settings.rate_limit.ws_messages_burst = 100_000;
}

async fn remove(server: &TestServer, admin: &TestUser, room: &str, user: &TestUser, how: Removal) {
    let res = match how {
        Removal::Remove => {
            server
                .delete_as(admin, &format!("/rooms/{room}/members/{}", user.id))
                .await
        }
        Removal::Ban => {
            server
                .post_as(
                    admin,
                    &format!("/rooms/{room}/bans"),
                    json!({"user_id": user.id}),
                )
                .await
        }
    };
    let status = res.status();
    assert!(
        status.is_success(),
        "{how:?}: {status} {}",
        res.text().await.unwrap_or_default()
    );
}

/// Every message of the room, oldest first, as `alice` (still a member) reads it.
async fn all_contents(server: &TestServer, alice: &TestUser, room: &str) -> Vec<String> {
    let mut contents = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            Some(id) => format!("/rooms/{room}/messages?limit=100&before={id}"),
            None => format!("/rooms/{room}/messages?limit=100"),
        };
        let page = server.get_json(alice, &path).await;
        let items = page["items"].as_array().unwrap();
        for item in items.iter().rev() {
            contents.push(item["content"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(id) => before = Some(id.to_string()),
            None => break,
        }
    }
    contents.reverse();
    contents
}

/// Sends until 5 sends of each kind started after the acknowledgement; checks every answer.
async fn race(
    at: &TestServer,
    alice: &TestUser,
    bob_server: &TestServer,
    bob: &TestUser,
    how: Removal,
) {
    let room = room_with(at, alice, "private", "den", &[bob]).await;
    let mut bob_ws = WsClient::connect(bob_server, bob).await;
    // The checks in memory know bob as a member now: a stale entry would let him through.
    bob_ws
        .ack(json!({"type": "typing", "room_id": room, "active": true}))
        .await;
    let (acknowledged, heard) = watch::channel(false);
    // Sends in flight when the removal is acknowledged, at most: the rest wait for it.
    const EARLY: usize = 200;
    const LATE: usize = 5;

    let rest = async {
        let mut answers = Vec::new();
        let mut late_ones = 0;
        let mut heard = heard.clone();
        for n in 0.. {
            if n == EARLY {
                heard.wait_for(|done| *done).await.unwrap();
            }
            let late = *heard.borrow();
            let res = bob_server
                .post_as(
                    bob,
                    &format!("/rooms/{room}/messages"),
                    json!({"content": format!("rest {n}")}),
                )
                .await;
            answers.push((n, late, res.status()));
            late_ones += usize::from(late);
            if late_ones == LATE {
                break;
            }
        }
        answers
    };
    let websocket = async {
        let mut sent = Vec::new();
        let mut late_ones = 0;
        let mut heard = heard.clone();
        for n in 0.. {
            if n == EARLY {
                heard.wait_for(|done| *done).await.unwrap();
            }
            let late = *heard.borrow();
            bob_ws
                .send_json(&json!({
                    "type": "send_message", "ref": n, "room_id": room,
                    "content": format!("ws {n}"),
                }))
                .await;
            sent.push(late);
            late_ones += usize::from(late);
            if late_ones == LATE {
                break;
            }
            // Let the removal and the REST sends move on between frames.
            tokio::task::yield_now().await;
        }
        sent
    };
    let removal = async {
        remove(at, alice, &room, bob, how).await;
        acknowledged.send_replace(true);
    };
    let (rest, sent, ()) = tokio::join!(rest, websocket, removal);
    assert_eq!(
        rest.iter().filter(|(_, late, _)| *late).count(),
        LATE,
        "{how:?}: the REST sends never overlapped the removal"
    );
    assert_eq!(
        sent.iter().filter(|late| **late).count(),
        LATE,
        "{how:?}: the WebSocket sends never overlapped the removal"
    );

    let mut stored_by_bob = Vec::new();
    for (n, late, status) in &rest {
        match *status {
            StatusCode::CREATED => {
                assert!(!late, "{how:?}: REST send {n} accepted after the removal");
                stored_by_bob.push(format!("rest {n}"));
            }
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => {}
            other => panic!("{how:?}: REST send {n} answered {other}"),
        }
    }

    // Every frame gets its answer; the removal itself reaches bob's socket too.
    let mut answers: Vec<Option<Value>> = vec![None; sent.len()];
    let mut removal_seen = false;
    while answers.iter().any(Option::is_none) || !removal_seen {
        let frame = bob_ws.next_frame().await;
        match frame["type"].as_str() {
            Some("ack" | "error") if frame["ref"].is_u64() => {
                let n = frame["ref"].as_u64().unwrap() as usize;
                answers[n] = Some(frame);
            }
            Some("member_left") if frame["user_id"] == json!(bob.id) => removal_seen = true,
            Some("banned") => removal_seen = true,
            _ => {}
        }
    }
    for (n, (late, answer)) in sent.iter().zip(answers).enumerate() {
        let answer = answer.unwrap();
        if answer["type"] == "ack" {
            assert!(
                !late,
                "{how:?}: WebSocket send {n} acknowledged after the removal"
            );
            stored_by_bob.push(format!("ws {n}"));
        } else {
            assert!(
                matches!(answer["code"].as_str(), Some("not_found" | "forbidden")),
                "{how:?}: WebSocket send {n}: {answer}"
            );
        }
    }

    // What was acknowledged is stored, and nothing else of bob's.
    let mut stored = all_contents(at, alice, &room).await;
    stored.sort();
    stored_by_bob.sort();
    assert_eq!(stored, stored_by_bob, "{how:?}");

    // The socket heard of the removal: its instance's checks refuse bob from now on.
    let refused = bob_ws
        .request(json!({"type": "typing", "room_id": room, "active": true}))
        .await;
    assert_eq!(refused["type"], "error", "{how:?}: typing after removal");
    assert_eq!(refused["code"], "not_found", "{how:?}");
    bob_ws.close().await;
}

async fn sends_racing_a_removal_are_refused_once_it_is_acknowledged(backend: Backend) {
    let server = TestServer::start_with(backend, raised).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    for how in [Removal::Remove, Removal::Ban] {
        race(&server, &alice, &server, &bob, how).await;
    }
    server.stop().await;
}

async fn sends_racing_a_removal_on_another_instance_are_refused(backend: Backend) {
    let Some(redis) = redis_url() else {
        eprintln!("TEST_REDIS_URL is not set: cluster test skipped");
        return;
    };
    let a = TestServer::start_clustered(backend, &redis, raised).await;
    let b = a.sibling().await;
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    for how in [Removal::Remove, Removal::Ban] {
        race(&a, &alice, &b, &bob, how).await;
    }
    b.stop().await;
    a.stop().await;
}

/// The user as the service layer sees a signed-in caller (the session is not looked at).
fn caller(user: &TestUser) -> AuthUser {
    AuthUser {
        user_id: user.id.parse().unwrap(),
        session_id: Uuid::now_v7(),
    }
}

/// On the instance that changed a membership, the checks in memory know it the moment the
/// change returns, not once the fan-out gets to it: on this single-threaded runtime the
/// fan-out cannot run before the test yields, so only the forgetting done while publishing
/// can make these checks right.
#[tokio::test(flavor = "current_thread")]
async fn the_checks_know_a_change_before_it_returns() {
    let server = TestServer::start(Backend::Sqlite).await;
    let state = &server.state;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "public", "hall", &[&bob]).await;
    let room_id: Uuid = room.parse().unwrap();
    let bob_id = caller(&bob).user_id;
    let role_of_bob = async || {
        RoomAccess::load(state, &caller(&bob), room_id)
            .await
            .map(|access| access.role())
    };
    assert_eq!(role_of_bob().await.unwrap(), Some(Role::Member));

    members::change_role(state, &caller(&alice), room_id, bob_id, "admin")
        .await
        .unwrap();
    assert_eq!(role_of_bob().await.unwrap(), Some(Role::Admin));

    members::remove(state, &caller(&alice), room_id, bob_id)
        .await
        .unwrap();
    assert_eq!(
        role_of_bob().await.unwrap(),
        None,
        "a viewer of a public room"
    );

    rooms::join(state, &caller(&bob), room_id).await.unwrap();
    assert_eq!(role_of_bob().await.unwrap(), Some(Role::Member));

    members::ban(state, &caller(&alice), room_id, bob_id, None, None)
        .await
        .unwrap();
    assert!(matches!(role_of_bob().await, Err(ApiError::Forbidden(_))));

    members::unban(state, &caller(&alice), room_id, bob_id)
        .await
        .unwrap();
    assert_eq!(role_of_bob().await.unwrap(), None);

    rooms::delete(state, &caller(&alice), room_id)
        .await
        .unwrap();
    assert!(matches!(role_of_bob().await, Err(ApiError::NotFound(_))));
    server.stop().await;
}

backend_tests!(
    sends_racing_a_removal_are_refused_once_it_is_acknowledged,
    sends_racing_a_removal_on_another_instance_are_refused,
);
