//! Changing messages: edits (only the sender, only within the edit window), deletes that
//! leave a tombstone, and reactions.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{
    Backend, TestServer, TestUser, expect_error, expect_field, id_of, json_with, room_with,
};

async fn only_the_sender_edits(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let admin = server.register("admin").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &owner, "private", &[&admin, &bob]).await;
    let res = server
        .patch_as(
            &owner,
            &format!("/rooms/{room}/members/{}", admin.id),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let message = server.send(&bob, &room, "teh typo").await;
    let path = format!("/messages/{}", id_of(&message));
    let res = server
        .patch_as(&bob, &path, json!({"content": " the typo "}))
        .await;
    let edited = json_with(res, StatusCode::OK).await;
    assert_eq!(edited["id"], message["id"]);
    assert_eq!(edited["content"], "the typo");
    assert_eq!(edited["created_at"], message["created_at"]);
    assert!(
        edited["edited_at"]
            .as_str()
            .is_some_and(|t| t >= message["created_at"].as_str().unwrap())
    );
    let page = server
        .get_json(&owner, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(page["items"][0]["content"], "the typo");
    assert!(page["items"][0]["edited_at"].is_string());
    for user in [&owner, &admin] {
        let res = server
            .patch_as(user, &path, json!({"content": "hijack"}))
            .await;
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let too_long = "x".repeat(server.settings.messages.max_content_chars + 1);
    for bad in ["", "   ", too_long.as_str()] {
        let res = server.patch_as(&bob, &path, json!({"content": bad})).await;
        expect_field(res, "content").await;
    }
    let res = server
        .patch_as(
            &bob,
            &format!("/messages/{}", uuid::Uuid::now_v7()),
            json!({"content": "x"}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // A deleted message cannot be edited.
    let res = server.delete_as(&bob, &path).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server
        .patch_as(&bob, &path, json!({"content": "back"}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    server.stop().await;
}

async fn edits_end_with_the_edit_window(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.messages.edit_window_secs = 1).await;
    let alice = server.register("alice").await;
    let room = room_with(&server, &alice, "public", &[]).await;
    let message = server.send(&alice, &room, "quick").await;
    let path = format!("/messages/{}", id_of(&message));
    let res = server
        .patch_as(&alice, &path, json!({"content": "quick edit"}))
        .await;
    json_with(res, StatusCode::OK).await;
    let started = Instant::now();
    loop {
        let res = server
            .patch_as(&alice, &path, json!({"content": "later edit"}))
            .await;
        match res.status() {
            StatusCode::OK => {}
            StatusCode::FORBIDDEN => {
                expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
                break;
            }
            other => panic!("editing: {other}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the edit window never closed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "the window lasted about a second"
    );
    // A fresh message is editable again.
    let fresh = server.send(&alice, &room, "new").await;
    let res = server
        .patch_as(
            &alice,
            &format!("/messages/{}", id_of(&fresh)),
            json!({"content": "newer"}),
        )
        .await;
    json_with(res, StatusCode::OK).await;
    server.stop().await;
}

async fn deletes_leave_a_tombstone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let admin = server.register("admin").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let room = room_with(&server, &owner, "private", &[&admin, &bob, &carol]).await;
    let res = server
        .patch_as(
            &owner,
            &format!("/rooms/{room}/members/{}", admin.id),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let by_bob = server.send(&bob, &room, "bob's words").await;
    let by_carol = server.send(&carol, &room, "carol's words").await;
    let by_admin = server.send(&admin, &room, "admin's words").await;
    let last = server.send(&bob, &room, "still here").await;
    let msg = |m: &Value| format!("/messages/{}", id_of(m));
    // A member may not delete someone else's message.
    let res = server.delete_as(&carol, &msg(&by_bob)).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    // The sender may; an admin may delete a member's; the owner an admin's.
    let res = server
        .put_as(&carol, &format!("{}/reactions/%F0%9F%91%8D", msg(&by_bob)))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for (user, message) in [(&bob, &by_bob), (&admin, &by_carol), (&owner, &by_admin)] {
        let res = server.delete_as(user, &msg(message)).await;
        assert_eq!(
            res.status(),
            StatusCode::NO_CONTENT,
            "{} deletes",
            user.username
        );
    }
    // Deleting again is harmless.
    let res = server.delete_as(&bob, &msg(&by_bob)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Tombstones stay in history, in place, with id and times kept and content emptied.
    let page = server
        .get_json(&carol, &format!("/rooms/{room}/messages"))
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for (item, original) in items.iter().zip([&by_bob, &by_carol, &by_admin]) {
        assert_eq!(item["id"], original["id"]);
        assert_eq!(item["created_at"], original["created_at"]);
        assert_eq!(item["content"], "");
        assert_eq!(item["deleted"], true);
        assert_eq!(item["reactions"], json!([]), "reactions go with the text");
        assert_eq!(item["sender"]["id"], original["sender"]["id"]);
    }
    assert_eq!(items[3]["content"], "still here");
    assert_eq!(items[3]["deleted"], false);
    let tombstone = server.get_json(&owner, &msg(&by_bob)).await;
    assert_eq!(tombstone["deleted"], true);
    assert_eq!(tombstone["content"], "");
    // Reacting to a tombstone: 404.
    let res = server
        .put_as(&carol, &format!("{}/reactions/%F0%9F%91%8D", msg(&by_bob)))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server.delete_as(&bob, &msg(&last)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server
        .delete_as(&bob, &format!("/messages/{}", uuid::Uuid::now_v7()))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    server.stop().await;
}

/// The reactions of a message as `viewer` sees them.
async fn reactions(server: &TestServer, viewer: &TestUser, message: &str) -> Value {
    server
        .get_json(viewer, &format!("/messages/{message}"))
        .await["reactions"]
        .clone()
}

async fn reactions_count_and_know_me(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let outsider = server.register("outsider").await;
    let room = room_with(&server, &alice, "public", &[&bob, &carol]).await;
    let message = id_of(&server.send(&alice, &room, "react to me").await);
    let thumbs = format!("/messages/{message}/reactions/%F0%9F%91%8D");
    let tada = format!("/messages/{message}/reactions/%3Atada%3A");
    for user in [&alice, &bob, &bob] {
        let res = server.put_as(user, &thumbs).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let res = server.put_as(&carol, &tada).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        reactions(&server, &alice, &message).await,
        json!([{"emoji": "👍", "count": 2, "me": true}, {"emoji": ":tada:", "count": 1, "me": false}])
    );
    assert_eq!(
        reactions(&server, &carol, &message).await,
        json!([{"emoji": "👍", "count": 2, "me": false}, {"emoji": ":tada:", "count": 1, "me": true}])
    );
    // Also in history.
    let page = server
        .get_json(&bob, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(
        page["items"][0]["reactions"][0],
        json!({"emoji": "👍", "count": 2, "me": true})
    );
    // Taking back: idempotent.
    for _ in 0..2 {
        let res = server.delete_as(&bob, &thumbs).await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        reactions(&server, &bob, &message).await,
        json!([{"emoji": "👍", "count": 1, "me": false}, {"emoji": ":tada:", "count": 1, "me": false}])
    );
    let res = server.delete_as(&carol, &tada).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.delete_as(&alice, &thumbs).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(reactions(&server, &alice, &message).await, json!([]));
    // Bad emoji, unknown message, non-members.
    let too_long = "x".repeat(65);
    for bad in ["%20", "a%20b", too_long.as_str()] {
        let res = server
            .put_as(&alice, &format!("/messages/{message}/reactions/{bad}"))
            .await;
        expect_field(res, "emoji").await;
    }
    let res = server
        .put_as(
            &alice,
            &format!("/messages/{}/reactions/%F0%9F%91%8D", uuid::Uuid::now_v7()),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server.put_as(&outsider, &thumbs).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    assert_eq!(reactions(&server, &outsider, &message).await, json!([]));
    server.stop().await;
}

backend_tests!(
    only_the_sender_edits,
    edits_end_with_the_edit_window,
    deletes_leave_a_tombstone,
    reactions_count_and_know_me,
);
