//! Messages: posting, history pages, replies, attachments and content limits.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{
    Backend, TestServer, contents, expect_error, expect_field, id_of, json_with, post_raw,
    room_with,
};

async fn post_and_fetch_a_message(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", &[&bob]).await;
    let res = post_raw(
        &server,
        &alice,
        &room,
        json!({"content": "  hello\nworld  ", "client_msg_id": "c-1"}),
    )
    .await;
    let message = json_with(res, StatusCode::CREATED).await;
    assert_eq!(message["room_id"], room.as_str());
    assert_eq!(message["content"], "hello\nworld", "trimmed, newlines kept");
    assert_eq!(message["sender"]["id"], alice.id.as_str());
    assert_eq!(message["sender"]["username"], "alice");
    assert!(message["sender"]["display_name"].is_string());
    assert_eq!(message["deleted"], false);
    assert_eq!(message["attachments"], json!([]));
    assert_eq!(message["reactions"], json!([]));
    assert!(message.get("edited_at").is_none_or(Value::is_null));
    assert!(message.get("reply_to").is_none_or(Value::is_null));
    let created_at = message["created_at"].as_str().unwrap();
    assert!(
        created_at.ends_with('Z') && created_at.contains('.'),
        "{created_at}"
    );
    let id = id_of(&message);
    let fetched = server.get_json(&bob, &format!("/messages/{id}")).await;
    assert_eq!(fetched["content"], "hello\nworld");
    assert_eq!(fetched["created_at"], message["created_at"]);
    let res = server
        .get_as(&bob, &format!("/messages/{}", uuid::Uuid::now_v7()))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server.get_as(&bob, "/messages/xyz").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    // Posting to an unknown room, or with a bad client_msg_id.
    let res = post_raw(
        &server,
        &alice,
        &uuid::Uuid::now_v7().to_string(),
        json!({"content": "x"}),
    )
    .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    for bad in [String::new(), "x".repeat(65)] {
        let res = post_raw(
            &server,
            &alice,
            &room,
            json!({"content": "x", "client_msg_id": bad}),
        )
        .await;
        expect_field(res, "client_msg_id").await;
    }
    let res = post_raw(&server, &alice, &room, json!({"text": "wrong field"})).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    server.stop().await;
}

async fn history_pages_before_and_after(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let room = room_with(&server, &alice, "public", &[]).await;
    let path = format!("/rooms/{room}/messages");
    let empty = server.get_json(&alice, &path).await;
    assert_eq!(empty["items"], json!([]));
    assert_eq!(empty["has_more"], false);
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id_of(&server.send(&alice, &room, &format!("m{i}")).await));
    }
    let latest = server.get_json(&alice, &path).await;
    assert_eq!(contents(&latest), ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(latest["has_more"], false);

    let page = server.get_json(&alice, &format!("{path}?limit=2")).await;
    assert_eq!(
        contents(&page),
        ["m3", "m4"],
        "latest first page, oldest→newest"
    );
    assert_eq!(page["has_more"], true);
    let page = server
        .get_json(&alice, &format!("{path}?limit=2&before={}", ids[3]))
        .await;
    assert_eq!(contents(&page), ["m1", "m2"]);
    assert_eq!(page["has_more"], true);
    let page = server
        .get_json(&alice, &format!("{path}?limit=2&before={}", ids[1]))
        .await;
    assert_eq!(contents(&page), ["m0"]);
    assert_eq!(page["has_more"], false);
    let page = server
        .get_json(&alice, &format!("{path}?limit=2&after={}", ids[0]))
        .await;
    assert_eq!(contents(&page), ["m1", "m2"]);
    assert_eq!(page["has_more"], true);
    let page = server
        .get_json(&alice, &format!("{path}?limit=2&after={}", ids[2]))
        .await;
    assert_eq!(contents(&page), ["m3", "m4"]);
    assert_eq!(page["has_more"], false, "exactly the rest: nothing beyond");
    let page = server
        .get_json(&alice, &format!("{path}?after={}", ids[4]))
        .await;
    assert_eq!(page["items"], json!([]));
    assert_eq!(page["has_more"], false);
    // Bad parameters.
    for query in [
        format!("before={}&after={}", ids[1], ids[2]),
        "limit=0".to_string(),
        "limit=101".to_string(),
        "before=not-an-id".to_string(),
    ] {
        let res = server.get_as(&alice, &format!("{path}?{query}")).await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    server.stop().await;
}

async fn replies_carry_an_excerpt(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", &[&bob]).await;
    let other_room = room_with(&server, &alice, "private", &[]).await;
    let long = format!("{}{}", "é".repeat(100), "tail that is cut");
    let parent = server.send(&alice, &room, &long).await;
    let res = post_raw(
        &server,
        &bob,
        &room,
        json!({"content": "agreed", "reply_to_id": parent["id"]}),
    )
    .await;
    let reply = json_with(res, StatusCode::CREATED).await;
    assert_eq!(reply["reply_to"]["id"], parent["id"]);
    assert_eq!(reply["reply_to"]["sender_id"], alice.id.as_str());
    assert_eq!(
        reply["reply_to"]["excerpt"],
        "é".repeat(100),
        "the first 100 characters"
    );
    let short = server.send(&alice, &room, "short one").await;
    let res = post_raw(
        &server,
        &bob,
        &room,
        json!({"content": "re", "reply_to_id": short["id"]}),
    )
    .await;
    let reply2 = json_with(res, StatusCode::CREATED).await;
    assert_eq!(reply2["reply_to"]["excerpt"], "short one");
    // The reply shows in history too.
    let page = server
        .get_json(&alice, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(page["items"][1]["reply_to"]["id"], parent["id"]);
    // A parent from another room, or none at all.
    let elsewhere = server.send(&alice, &other_room, "elsewhere").await;
    for parent_id in [elsewhere["id"].clone(), json!(uuid::Uuid::now_v7())] {
        let res = post_raw(
            &server,
            &alice,
            &room,
            json!({"content": "x", "reply_to_id": parent_id}),
        )
        .await;
        expect_field(res, "reply_to_id").await;
    }
    // Deleting the parent empties the excerpt.
    let res = server
        .delete_as(&alice, &format!("/messages/{}", id_of(&short)))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let reply2 = server
        .get_json(&bob, &format!("/messages/{}", id_of(&reply2)))
        .await;
    assert_eq!(reply2["reply_to"]["id"], short["id"]);
    assert_eq!(reply2["reply_to"]["excerpt"], "");
    server.stop().await;
}

async fn attachments_must_be_your_own_uploads(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", &[&bob]).await;
    let mine = server
        .upload_text(&alice, "notes.txt", b"alice's notes\n")
        .await;
    let theirs = server
        .upload_text(&bob, "secret.txt", b"bob's secret\n")
        .await;
    for ids in [
        json!([theirs["id"]]),
        json!([mine["id"], theirs["id"]]),
        json!([uuid::Uuid::now_v7()]),
    ] {
        let res = post_raw(
            &server,
            &alice,
            &room,
            json!({"content": "see file", "attachment_ids": ids}),
        )
        .await;
        expect_field(res, "attachment_ids").await;
    }
    let history = server
        .get_json(&alice, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(history["items"], json!([]), "refused posts store nothing");
    let res = post_raw(
        &server,
        &alice,
        &room,
        json!({"content": "see file", "attachment_ids": [mine["id"]]}),
    )
    .await;
    let message = json_with(res, StatusCode::CREATED).await;
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["id"], mine["id"]);
    assert_eq!(attachments[0]["filename"], "notes.txt");
    assert!(
        attachments[0]["content_type"]
            .as_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(attachments[0]["url"].is_string());
    let seen = server
        .get_json(&bob, &format!("/messages/{}", id_of(&message)))
        .await;
    assert_eq!(seen["attachments"][0]["id"], mine["id"]);
    server.stop().await;
}

async fn attachments_keep_the_order_they_were_given(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let room = room_with(&server, &alice, "private", &[]).await;
    let mut uploads = Vec::new();
    for name in ["a.txt", "b.txt", "c.txt"] {
        let bytes = format!("file {name}\n");
        uploads.push(server.upload_text(&alice, name, bytes.as_bytes()).await);
    }
    // Neither upload order nor id order.
    let ids = json!([uploads[2]["id"], uploads[0]["id"], uploads[1]["id"]]);
    let res = post_raw(
        &server,
        &alice,
        &room,
        json!({"content": "three files", "attachment_ids": ids}),
    )
    .await;
    let message = json_with(res, StatusCode::CREATED).await;
    let attached = |m: &Value| -> Vec<Value> {
        m["attachments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].clone())
            .collect()
    };
    assert_eq!(json!(attached(&message)), ids, "as posted");
    let stored = server
        .get_json(&alice, &format!("/messages/{}", id_of(&message)))
        .await;
    assert_eq!(json!(attached(&stored)), ids, "as stored");
    server.stop().await;
}

async fn content_limits(server: &TestServer) {
    let max = server.settings.messages.max_content_chars;
    let alice = server.register("alice").await;
    let room = room_with(server, &alice, "public", &[]).await;
    // Exactly the limit (in characters, not bytes) is accepted, padded with spaces too.
    let at_limit = "é".repeat(max);
    let res = post_raw(server, &alice, &room, json!({"content": at_limit})).await;
    let message = json_with(res, StatusCode::CREATED).await;
    assert_eq!(message["content"].as_str().unwrap().chars().count(), max);
    let padded = format!("  {}\n", "a".repeat(max));
    let res = post_raw(server, &alice, &room, json!({"content": padded})).await;
    json_with(res, StatusCode::CREATED).await;
    // One more is refused; so are empty, whitespace-only and control characters.
    for bad in [
        "é".repeat(max + 1),
        "a".repeat(max + 1),
        String::new(),
        " ".to_string(),
        " \n\t \r\n ".to_string(),
        "\u{3000}".to_string(),
        "bell\u{7}".to_string(),
        "nul\0".to_string(),
    ] {
        let res = post_raw(server, &alice, &room, json!({"content": bad})).await;
        expect_field(res, "content").await;
    }
    let page = server
        .get_json(&alice, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "refused posts store nothing"
    );
}

async fn content_limits_default_and_configured(backend: Backend) {
    let server = TestServer::start(backend.clone()).await;
    assert_eq!(server.settings.messages.max_content_chars, 4000);
    content_limits(&server).await;
    server.stop().await;
    let server = TestServer::start_with(backend, |s| s.messages.max_content_chars = 10).await;
    content_limits(&server).await;
    server.stop().await;
}

backend_tests!(
    post_and_fetch_a_message,
    history_pages_before_and_after,
    replies_carry_an_excerpt,
    attachments_must_be_your_own_uploads,
    attachments_keep_the_order_they_were_given,
    content_limits_default_and_configured,
);
