//! Read cursors and unread counts, and full-text search.

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::common::{
    Backend, TestServer, TestUser, contents, expect_error, expect_field, id_of, json_with,
    room_with,
};

async fn unread(server: &TestServer, user: &TestUser, room: &str) -> i64 {
    server.get_json(user, &format!("/rooms/{room}")).await["unread_count"]
        .as_i64()
        .unwrap()
}

async fn read_cursor_never_moves_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let outsider = server.register("outsider").await;
    let room = room_with(&server, &alice, "public", &[&bob]).await;
    let other_room = room_with(&server, &alice, "public", &[&bob]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id_of(&server.send(&alice, &room, &format!("m{i}")).await));
    }
    assert_eq!(unread(&server, &bob, &room).await, 5);
    assert_eq!(unread(&server, &alice, &room).await, 0);
    let read = format!("/rooms/{room}/read");
    let res = server
        .post_as(&bob, &read, json!({"message_id": ids[2]}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&server, &bob, &room).await, 2);
    // Backwards: accepted, but the cursor stays.
    let res = server
        .post_as(&bob, &read, json!({"message_id": ids[0]}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&server, &bob, &room).await, 2);
    let members = server
        .get_json(&alice, &format!("/rooms/{room}/members"))
        .await;
    let bobs = members["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user"]["id"] == bob.id.as_str())
        .unwrap();
    assert_eq!(bobs["read_up_to"], ids[2].as_str());
    // The joined list agrees.
    let joined = server.get_json(&bob, "/rooms/joined").await;
    let listed = joined["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == room.as_str())
        .unwrap();
    assert_eq!(listed["unread_count"], 2);
    let res = server
        .post_as(&bob, &read, json!({"message_id": ids[4]}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(unread(&server, &bob, &room).await, 0);
    // Bob writing keeps him read; alice then has one unread.
    server.send(&bob, &room, "reply").await;
    assert_eq!(unread(&server, &bob, &room).await, 0);
    assert_eq!(unread(&server, &alice, &room).await, 1);
    // Messages of another room, unknown ids, and non-members.
    let elsewhere = id_of(&server.send(&alice, &other_room, "elsewhere").await);
    for message_id in [elsewhere, uuid::Uuid::now_v7().to_string()] {
        let res = server
            .post_as(&bob, &read, json!({"message_id": message_id}))
            .await;
        expect_field(res, "message_id").await;
    }
    let res = server
        .post_as(&outsider, &read, json!({"message_id": ids[4]}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    server.stop().await;
}

async fn search(server: &TestServer, user: &TestUser, query: &str) -> Vec<String> {
    let page = server
        .get_json(user, &format!("/search/messages?{query}"))
        .await;
    contents(&page)
}

async fn search_finds_words_in_my_rooms_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let private = room_with(&server, &alice, "private", &[&bob]).await;
    let public = room_with(&server, &alice, "public", &[]).await;
    let carols = room_with(&server, &carol, "private", &[]).await;
    server.send(&alice, &private, "The quick brown fox").await;
    server.send(&bob, &private, "a lazy dog jumps").await;
    let thinking = server.send(&bob, &private, "Quick thinking, Bob!").await;
    server.send(&alice, &public, "quick news in public").await;
    server.send(&carol, &carols, "carol is quick too").await;

    // Newest first, case-insensitive, the last word also as a prefix.
    assert_eq!(
        search(&server, &alice, "q=quick").await,
        [
            "quick news in public",
            "Quick thinking, Bob!",
            "The quick brown fox"
        ]
    );
    assert_eq!(
        search(&server, &alice, "q=QUICK%20fox").await,
        ["The quick brown fox"]
    );
    assert_eq!(search(&server, &alice, "q=jum").await, ["a lazy dog jumps"]);
    assert!(search(&server, &alice, "q=elephant").await.is_empty());
    // Punctuation is not syntax.
    assert_eq!(
        search(&server, &alice, "q=%22thinking%22%20%2A%28").await,
        ["Quick thinking, Bob!"]
    );
    // Only rooms the caller belongs to.
    assert_eq!(
        search(&server, &bob, "q=quick").await,
        ["Quick thinking, Bob!", "The quick brown fox"]
    );
    assert_eq!(
        search(&server, &carol, "q=quick").await,
        ["carol is quick too"]
    );
    // room_id narrows; a private room of others is not found.
    assert_eq!(
        search(&server, &alice, &format!("q=quick&room_id={public}")).await,
        ["quick news in public"]
    );
    let res = server
        .get_as(
            &carol,
            &format!("/search/messages?q=quick&room_id={private}"),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Carol may search a public room she is not in: nothing of it is hers to search.
    assert!(
        search(&server, &carol, &format!("q=quick&room_id={public}"))
            .await
            .is_empty()
    );
    // Deleted messages are not found; edits are.
    let res = server
        .delete_as(&bob, &format!("/messages/{}", id_of(&thinking)))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        search(&server, &bob, "q=quick").await,
        ["The quick brown fox"]
    );
    let fox = server.send(&alice, &private, "slow turtle").await;
    let res = server
        .patch_as(
            &alice,
            &format!("/messages/{}", id_of(&fox)),
            json!({"content": "speedy turtle"}),
        )
        .await;
    json_with(res, StatusCode::OK).await;
    assert_eq!(search(&server, &bob, "q=speedy").await, ["speedy turtle"]);
    assert!(search(&server, &bob, "q=slow").await.is_empty());
    // Paging.
    let page = server
        .get_json(&alice, "/search/messages?q=quick&limit=1")
        .await;
    assert_eq!(contents(&page), ["quick news in public"]);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let page = server
        .get_json(
            &alice,
            &format!("/search/messages?q=quick&limit=1&cursor={cursor}"),
        )
        .await;
    assert_eq!(contents(&page), ["The quick brown fox"]);
    assert!(page["next_cursor"].is_null());
    // Bad queries.
    for query in ["q=", "q=%20%20", "", "q=x&limit=0"] {
        let res = server
            .get_as(&alice, &format!("/search/messages?{query}"))
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    server.stop().await;
}

backend_tests!(
    read_cursor_never_moves_back,
    search_finds_words_in_my_rooms_only,
);
