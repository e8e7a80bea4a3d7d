//! Bans: who may ban whom, what a banned user cannot do, and expiry.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error, expect_field, id_of, json_with};

/// Polls (bounded) until `user` can join `room`; returns how long it took.
async fn join_when_ban_expires(server: &TestServer, user: &TestUser, room: &str) -> Duration {
    let started = Instant::now();
    loop {
        let res = server
            .post_as(user, &format!("/rooms/{room}/join"), json!({}))
            .await;
        match res.status() {
            StatusCode::OK => return started.elapsed(),
            StatusCode::FORBIDDEN => {}
            other => panic!("joining while banned: {other}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "a 1-second ban never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bans_keep_people_out_until_they_expire(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let admin = server.register("admin").await;
    let troll = server.register("troll").await;
    let bystander = server.register("bystander").await;
    let room = server
        .create_room(
            &owner,
            json!({"name": "forum", "member_ids": [admin.id, troll.id]}),
        )
        .await;
    let id = id_of(&room);
    let res = server
        .patch_as(
            &owner,
            &format!("/rooms/{id}/members/{}", admin.id),
            json!({"role": "admin"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let message = server.send(&troll, &id, "first!").await;
    let bans_path = format!("/rooms/{id}/bans");

    // Refusals: members may not ban; nobody bans themselves; admins may not ban the owner.
    let res = server
        .post_as(&troll, &bans_path, json!({"user_id": admin.id}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(&admin, &bans_path, json!({"user_id": admin.id}))
        .await;
    expect_field(res, "user_id").await;
    let res = server
        .post_as(&admin, &bans_path, json!({"user_id": owner.id}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(
            &admin,
            &bans_path,
            json!({"user_id": troll.id, "duration_secs": 0}),
        )
        .await;
    expect_field(res, "duration_secs").await;
    let res = server
        .post_as(
            &admin,
            &bans_path,
            json!({"user_id": troll.id, "reason": "r".repeat(501)}),
        )
        .await;
    expect_field(res, "reason").await;

    // A ban without end: 201, the troll is out and cannot read, post or join.
    let res = server
        .post_as(
            &admin,
            &bans_path,
            json!({"user_id": troll.id, "reason": "spam"}),
        )
        .await;
    let ban = json_with(res, StatusCode::CREATED).await;
    assert_eq!(ban["user_id"], troll.id.as_str());
    assert_eq!(ban["banned_by"], admin.id.as_str());
    assert_eq!(ban["reason"], "spam");
    assert!(ban["until"].is_null());
    let room_now = server.get_json(&owner, &format!("/rooms/{id}")).await;
    assert_eq!(room_now["member_count"], 2);
    let bans = server.get_json(&owner, &bans_path).await;
    assert_eq!(bans["items"].as_array().unwrap().len(), 1);
    assert_eq!(bans["items"][0]["user_id"], troll.id.as_str());
    assert!(
        bans["next_cursor"].is_null(),
        "a list in the API's shape: {bans}"
    );
    let res = server.get_as(&troll, &bans_path).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    for res in [
        server.get_as(&troll, &format!("/rooms/{id}")).await,
        server
            .get_as(&troll, &format!("/rooms/{id}/messages"))
            .await,
        server
            .get_as(&troll, &format!("/messages/{}", id_of(&message)))
            .await,
        server
            .post_as(
                &troll,
                &format!("/rooms/{id}/messages"),
                json!({"content": "let me in"}),
            )
            .await,
        server
            .post_as(&troll, &format!("/rooms/{id}/join"), json!({}))
            .await,
    ] {
        expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    let mine = server.get_json(&troll, "/rooms/joined").await;
    assert!(mine["items"].as_array().unwrap().is_empty());
    // Admins cannot add a banned user back.
    let res = server
        .post_as(
            &owner,
            &format!("/rooms/{id}/members"),
            json!({"user_ids": [troll.id]}),
        )
        .await;
    expect_field(res, "user_ids").await;
    // Others may still read and join.
    server
        .get_json(&bystander, &format!("/rooms/{id}/messages"))
        .await;

    // Lifting the ban: admins only; then the troll may join again.
    let unban = format!("{bans_path}/{}", troll.id);
    let res = server.delete_as(&troll, &unban).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server.delete_as(&admin, &unban).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.delete_as(&admin, &unban).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server
        .post_as(&troll, &format!("/rooms/{id}/join"), json!({}))
        .await;
    json_with(res, StatusCode::OK).await;

    // A one-second ban: refused at once, allowed after it expires, and gone from the list.
    let res = server
        .post_as(
            &owner,
            &bans_path,
            json!({"user_id": troll.id, "duration_secs": 1}),
        )
        .await;
    let ban = json_with(res, StatusCode::CREATED).await;
    assert!(ban["until"].as_str().is_some_and(|t| t.ends_with('Z')));
    let res = server
        .post_as(
            &troll,
            &format!("/rooms/{id}/messages"),
            json!({"content": "again"}),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    join_when_ban_expires(&server, &troll, &id).await;
    server.send(&troll, &id, "I'm back").await;
    let bans = server.get_json(&owner, &bans_path).await;
    assert!(
        bans["items"].as_array().unwrap().is_empty(),
        "expired bans are not listed: {bans}"
    );

    // Visitors of a public room (non-members) can be banned too.
    let res = server
        .post_as(&admin, &bans_path, json!({"user_id": bystander.id}))
        .await;
    json_with(res, StatusCode::CREATED).await;
    let res = server
        .get_as(&bystander, &format!("/rooms/{id}/messages"))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(&admin, &bans_path, json!({"user_id": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "banning an unknown user"
    );
    server.stop().await;
}

async fn bans_in_private_rooms_hide_the_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let troll = server.register("troll").await;
    let room = server
        .create_room(
            &owner,
            json!({"name": "club", "kind": "private", "member_ids": [troll.id]}),
        )
        .await;
    let id = id_of(&room);
    let message = server.send(&owner, &id, "welcome").await;
    let res = server
        .post_as(
            &owner,
            &format!("/rooms/{id}/bans"),
            json!({"user_id": troll.id, "duration_secs": 1}),
        )
        .await;
    json_with(res, StatusCode::CREATED).await;
    for res in [
        server.get_as(&troll, &format!("/rooms/{id}")).await,
        server
            .get_as(&troll, &format!("/rooms/{id}/messages"))
            .await,
        server.get_as(&troll, &format!("/rooms/{id}/members")).await,
        server
            .get_as(&troll, &format!("/messages/{}", id_of(&message)))
            .await,
        server
            .post_as(
                &troll,
                &format!("/rooms/{id}/messages"),
                json!({"content": "hi"}),
            )
            .await,
        server
            .post_as(&troll, &format!("/rooms/{id}/join"), json!({}))
            .await,
    ] {
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Until the ban expires the owner cannot re-add them; afterwards they can.
    let started = Instant::now();
    loop {
        let res = server
            .post_as(
                &owner,
                &format!("/rooms/{id}/members"),
                json!({"user_ids": [troll.id]}),
            )
            .await;
        match res.status() {
            StatusCode::OK => break,
            StatusCode::UNPROCESSABLE_ENTITY => {}
            other => panic!("re-adding after a ban: {other}"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the ban never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let page = server
        .get_json(&troll, &format!("/rooms/{id}/messages"))
        .await;
    assert_eq!(page["items"][0]["content"], "welcome");
    server.stop().await;
}

backend_tests!(
    bans_keep_people_out_until_they_expire,
    bans_in_private_rooms_hide_the_room,
);
