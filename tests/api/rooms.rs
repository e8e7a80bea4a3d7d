//! Rooms: creation (also on demand by alias), validation, the public directory and my rooms.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error, expect_field, id_of, json_with};

async fn create_public_and_private_rooms(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;

    // Default kind is public; the creator owns it.
    let res = server
        .post_as(
            &alice,
            "/rooms",
            json!({"name": "  General  ", "topic": "chit-chat"}),
        )
        .await;
    let room = json_with(res, StatusCode::CREATED).await;
    assert_eq!(room["kind"], "public");
    assert_eq!(room["name"], "General", "the name is trimmed");
    assert_eq!(room["topic"], "chit-chat");
    assert_eq!(room["created_by"], alice.id.as_str());
    assert_eq!(room["my_role"], "owner");
    assert_eq!(room["member_count"], 1);
    assert_eq!(room["unread_count"], 0);
    assert!(room["alias"].is_null());
    let id = id_of(&room);
    assert_eq!(id.len(), 36, "a UUID");
    assert!(
        room["ws_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("ws") && u.ends_with(&format!("/ws/{id}"))),
        "ws_url in {room}"
    );
    assert!(
        room["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );

    // A private room with members.
    let private = server
        .create_room(
            &alice,
            json!({"name": "Secret", "kind": "private", "member_ids": [bob.id, alice.id, bob.id]}),
        )
        .await;
    assert_eq!(private["kind"], "private");
    assert_eq!(
        private["member_count"], 2,
        "creator and duplicates counted once"
    );
    let seen_by_bob = server
        .get_json(&bob, &format!("/rooms/{}", id_of(&private)))
        .await;
    assert_eq!(seen_by_bob["my_role"], "member");
    assert_eq!(seen_by_bob["member_count"], 2);

    // Others see the public room without a role.
    let seen = server.get_json(&bob, &format!("/rooms/{id}")).await;
    assert_eq!(seen["name"], "General");
    assert!(
        seen.get("my_role").is_none(),
        "no role for a non-member: {seen}"
    );
    assert!(seen.get("unread_count").is_none());
    server.stop().await;
}

async fn create_room_alias_is_idempotent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({"name": "Rust", "alias": "#Rust-Lang"}))
        .await;
    assert_eq!(room["alias"], "rust-lang", "stored lowercased without '#'");
    // Same alias again, by someone else and in another spelling: 200 with the same room.
    for (user, alias) in [
        (&bob, "rust-lang"),
        (&alice, "RUST-LANG"),
        (&bob, "#rust-lang"),
    ] {
        let res = server
            .post_as(
                user,
                "/rooms",
                json!({"name": "Other name", "alias": alias}),
            )
            .await;
        let again = json_with(res, StatusCode::OK).await;
        assert_eq!(again["id"], room["id"]);
        assert_eq!(again["name"], "Rust", "the existing room, unchanged");
    }
    // Asking for the room did not make bob a member.
    let members = server
        .get_json(&alice, &format!("/rooms/{}/members", id_of(&room)))
        .await;
    assert_eq!(members["items"].as_array().unwrap().len(), 1);

    // An alias on a private room is refused; a malformed alias too.
    let res = server
        .post_as(
            &alice,
            "/rooms",
            json!({"name": "P", "kind": "private", "alias": "p-room"}),
        )
        .await;
    expect_field(res, "alias").await;
    for bad in ["a", "has space", "ünïcode", &"x".repeat(65)] {
        let res = server
            .post_as(&alice, "/rooms", json!({"name": "R", "alias": bad}))
            .await;
        expect_field(res, "alias").await;
    }
    // Nothing was created by the refused requests.
    let directory = server.get_json(&alice, "/rooms").await;
    assert_eq!(directory["items"].as_array().unwrap().len(), 1);
    server.stop().await;
}

async fn create_room_validation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    for name in [
        json!(""),
        json!("   "),
        json!("x".repeat(81)),
        json!("tab\u{7}bell"),
    ] {
        let res = server
            .post_as(&alice, "/rooms", json!({"name": name}))
            .await;
        expect_field(res, "name").await;
    }
    // 80 characters (not bytes) is the edge.
    server
        .create_room(&alice, json!({"name": "é".repeat(80)}))
        .await;
    let res = server
        .post_as(&alice, "/rooms", json!({"name": "ok", "kind": "direct"}))
        .await;
    expect_field(res, "kind").await;
    let res = server
        .post_as(
            &alice,
            "/rooms",
            json!({"name": "ok", "topic": "t".repeat(501)}),
        )
        .await;
    expect_field(res, "topic").await;
    // Several problems are reported together.
    let res = server
        .post_as(&alice, "/rooms", json!({"name": "", "kind": "nope"}))
        .await;
    let body = expect_field(res, "name").await;
    assert!(body["error"]["fields"]["kind"].is_string(), "{body}");
    // An unknown member id fails the whole creation, naming the field that was sent.
    let unknown = uuid::Uuid::now_v7().to_string();
    let res = server
        .post_as(
            &alice,
            "/rooms",
            json!({"name": "ghosts", "member_ids": [unknown]}),
        )
        .await;
    let unknown_member =
        expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let joined = server.get_json(&alice, "/rooms/joined").await;
    assert_eq!(
        joined["items"].as_array().unwrap().len(),
        1,
        "only the 80-character room exists: {joined}"
    );
    // Missing name and a name of the wrong type: 422 naming the field.
    let res = server.post_as(&alice, "/rooms", json!({})).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // The refusal of the unknown member names the field the client sent.
    assert!(
        unknown_member["error"]["fields"]["member_ids"].is_string(),
        "fields.member_ids explains the refusal in {unknown_member}"
    );
    server.stop().await;
}

/// Walks the directory with `limit` per page; returns the room ids in order.
async fn walk_directory(server: &TestServer, user: &TestUser, q: &str, limit: u32) -> Vec<Value> {
    let mut rooms = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut url = server.api("/rooms");
        url.push_str(&format!("?limit={limit}&q={}", urlencode(q)));
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let res = server
            .client
            .get(url)
            .bearer_auth(&user.access_token)
            .send()
            .await
            .unwrap();
        let page = json_with(res, StatusCode::OK).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        rooms.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return rooms,
        }
    }
    panic!("the directory never ended");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn directory_lists_public_rooms_with_search_and_cursor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let names = [
        "apple",
        "Banana",
        "banana",
        "Cherry",
        "cherry pie",
        "Ärger",
        "Äther",
        "éclair",
        "Zebra",
        "zoo",
        "Ωmega",
        "Dates",
        "elder",
    ];
    let mut public = Vec::new();
    for name in names {
        public.push(server.create_room(&alice, json!({"name": name})).await);
    }
    server
        .create_room(&alice, json!({"name": "aliased", "alias": "fruit-basket"}))
        .await;
    for name in ["apple secret", "Banana private"] {
        server
            .create_room(&alice, json!({"name": name, "kind": "private"}))
            .await;
    }
    let all = walk_directory(&server, &bob, "", 100).await;
    assert_eq!(all.len(), names.len() + 1, "public rooms only");
    assert!(all.iter().all(|r| r["kind"] == "public"));
    // Every page size gives the same rooms in the same order, each exactly once.
    let ids = |rooms: &[Value]| rooms.iter().map(id_of).collect::<Vec<_>>();
    for limit in [1, 2, 3, 5] {
        let paged = walk_directory(&server, &bob, "", limit).await;
        assert_eq!(
            ids(&paged),
            ids(&all),
            "limit {limit}: {:?}",
            paged.iter().map(|r| r["name"].clone()).collect::<Vec<_>>()
        );
    }
    // Ordered by name, case-insensitively (ASCII names at least).
    let ascii: Vec<String> = all
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .filter(|n| n.is_ascii())
        .collect();
    let mut sorted = ascii.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(ascii, sorted);

    // Search by part of the name, case-insensitively, and by alias.
    let found = walk_directory(&server, &bob, "ANAN", 1).await;
    let found_names: HashSet<&str> = found.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(found_names, HashSet::from(["Banana", "banana"]));
    let found = walk_directory(&server, &bob, "basket", 10).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "aliased");
    let found = walk_directory(&server, &bob, "secret", 10).await;
    assert!(found.is_empty(), "private rooms never show: {found:?}");
    // LIKE wildcards are plain characters.
    assert!(walk_directory(&server, &bob, "%", 10).await.is_empty());
    assert!(walk_directory(&server, &bob, "_", 10).await.is_empty());

    // The caller's role shows for rooms they are in.
    let page = server.get_json(&alice, "/rooms?q=zebra").await;
    assert_eq!(page["items"][0]["my_role"], "owner");
    let page = server.get_json(&bob, "/rooms?q=zebra").await;
    assert!(page["items"][0].get("my_role").is_none());

    // Bad parameters.
    for query in ["limit=0", "limit=101", "limit=x", "cursor=%21%21not-base64"] {
        let res = server.get_as(&bob, &format!("/rooms?{query}")).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let res = server
        .get_as(&bob, &format!("/rooms?q={}", "q".repeat(81)))
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    server.stop().await;
}

async fn joined_rooms_newest_activity_first_with_unread(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let first = id_of(&server.create_room(&alice, json!({"name": "first"})).await);
    let second = id_of(
        &server
            .create_room(
                &alice,
                json!({"name": "second", "kind": "private", "member_ids": [bob.id]}),
            )
            .await,
    );
    let res = server
        .post_as(&bob, "/dms", json!({"user_id": alice.id}))
        .await;
    let dm = id_of(&json_with(res, StatusCode::CREATED).await);
    // Carol's room alice is not in never shows.
    server.create_room(&carol, json!({"name": "carol's"})).await;

    let order = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(id_of)
            .collect()
    };
    let list = server.get_json(&alice, "/rooms/joined").await;
    assert_eq!(order(&list), [dm.clone(), second.clone(), first.clone()]);
    for room in list["items"].as_array().unwrap() {
        assert_eq!(room["unread_count"], 0);
        assert!(room.get("last_message").is_none_or(Value::is_null));
    }

    // Activity in the oldest room moves it to the top.
    server.send(&alice, &first, "alice speaks").await;
    let list = server.get_json(&alice, "/rooms/joined").await;
    assert_eq!(order(&list), [first.clone(), dm.clone(), second.clone()]);
    assert_eq!(list["items"][0]["last_message"]["content"], "alice speaks");
    assert_eq!(
        list["items"][0]["unread_count"], 0,
        "your own messages are read"
    );

    // Bob writes three messages in the private room: three unread for alice.
    for i in 1..=3 {
        server.send(&bob, &second, &format!("bob {i}")).await;
    }
    let list = server.get_json(&alice, "/rooms/joined").await;
    assert_eq!(order(&list), [second.clone(), first.clone(), dm.clone()]);
    let top = &list["items"][0];
    assert_eq!(top["unread_count"], 3);
    assert_eq!(top["last_message"]["content"], "bob 3");
    assert_eq!(top["last_message"]["sender"]["username"], "bob");
    assert_eq!(top["my_role"], "owner");

    // The DM is there with the partner's name.
    let dm_view = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == dm.as_str())
        .unwrap();
    assert_eq!(dm_view["kind"], "direct");
    assert_eq!(dm_view["other_user"]["id"], bob.id.as_str());
    assert_eq!(dm_view["name"], "bob");

    // Bob's list: the private room, the DM (not `first`, he never joined).
    let bobs = server.get_json(&bob, "/rooms/joined").await;
    assert_eq!(order(&bobs), [second.clone(), dm.clone()]);
    assert_eq!(bobs["items"][1]["name"], "alice");
    server.stop().await;
}

backend_tests!(
    create_public_and_private_rooms,
    create_room_alias_is_idempotent,
    create_room_validation,
    directory_lists_public_rooms_with_search_and_cursor,
    joined_rooms_newest_activity_first_with_unread,
);
