//! A room's life: reading, settings, deletion, joining and leaving, ownership hand-over and
//! the last one out deleting the room.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error, expect_field, id_of, json_with};

/// The caller's `my_role` in a room.
async fn role_in(server: &TestServer, room_id: &str, user: &TestUser) -> Value {
    server.get_json(user, &format!("/rooms/{room_id}")).await["my_role"].clone()
}

async fn get_update_and_delete_a_room(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = server
        .create_room(&alice, json!({"name": "Team", "member_ids": [bob.id]}))
        .await;
    let id = id_of(&room);
    let path = format!("/rooms/{id}");
    let got = server.get_json(&alice, &path).await;
    assert_eq!(got["name"], "Team");
    assert_eq!(got["member_count"], 2);

    // PATCH: name, topic, alias; only what is given changes.
    let res = server
        .patch_as(
            &alice,
            &path,
            json!({"topic": "Weekly sync", "alias": "team"}),
        )
        .await;
    let updated = json_with(res, StatusCode::OK).await;
    assert_eq!(updated["name"], "Team");
    assert_eq!(updated["topic"], "Weekly sync");
    assert_eq!(updated["alias"], "team");
    assert_eq!(updated["my_role"], "owner");
    let res = server
        .patch_as(&alice, &path, json!({"name": " Team 2 "}))
        .await;
    let updated = json_with(res, StatusCode::OK).await;
    assert_eq!(updated["name"], "Team 2");
    assert_eq!(updated["alias"], "team");
    assert_eq!(server.get_json(&bob, &path).await["topic"], "Weekly sync");
    // The alias now finds this room.
    let res = server
        .post_as(&bob, "/rooms", json!({"name": "x", "alias": "team"}))
        .await;
    assert_eq!(json_with(res, StatusCode::OK).await["id"], id.as_str());
    // null removes the alias; another room may then take it.
    let res = server.patch_as(&alice, &path, json!({"alias": null})).await;
    assert!(json_with(res, StatusCode::OK).await["alias"].is_null());
    let other = server
        .create_room(&bob, json!({"name": "Other", "alias": "team"}))
        .await;
    // Taking an alias another room has: 409.
    let res = server
        .patch_as(&alice, &path, json!({"alias": "TEAM"}))
        .await;
    expect_error(res, StatusCode::CONFLICT, "alias_taken").await;
    // Invalid values and unknown fields.
    let res = server.patch_as(&alice, &path, json!({"name": "  "})).await;
    expect_field(res, "name").await;
    let res = server
        .patch_as(&alice, &path, json!({"alias": "no way"}))
        .await;
    expect_field(res, "alias").await;
    let res = server
        .patch_as(&alice, &path, json!({"kind": "private"}))
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // Members may not change settings; the alias of a private room cannot be set.
    let res = server.patch_as(&bob, &path, json!({"topic": "mine"})).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let private = id_of(
        &server
            .create_room(&alice, json!({"name": "P", "kind": "private"}))
            .await,
    );
    let res = server
        .patch_as(
            &alice,
            &format!("/rooms/{private}"),
            json!({"alias": "p-room"}),
        )
        .await;
    expect_field(res, "alias").await;

    // DELETE: members may not; the owner may; then it is gone for everyone.
    let res = server.delete_as(&bob, &path).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    server.send(&bob, &id, "soon gone").await;
    let res = server.delete_as(&alice, &path).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for user in [&alice, &bob] {
        let res = server.get_as(user, &path).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
        let res = server.get_as(user, &format!("{path}/messages")).await;
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    let joined = server.get_json(&bob, "/rooms/joined").await;
    assert_eq!(joined["items"].as_array().unwrap().len(), 1);
    assert_eq!(joined["items"][0]["id"], other["id"]);
    let res = server.delete_as(&alice, &path).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Unknown and malformed ids.
    let res = server
        .get_as(&alice, &format!("/rooms/{}", uuid::Uuid::now_v7()))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server.get_as(&alice, "/rooms/not-a-uuid").await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;
    server.stop().await;
}

async fn join_and_leave(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let public = id_of(&server.create_room(&alice, json!({"name": "open"})).await);
    let private = id_of(
        &server
            .create_room(&alice, json!({"name": "closed", "kind": "private"}))
            .await,
    );
    let res = server
        .post_as(&bob, &format!("/rooms/{public}/join"), json!({}))
        .await;
    let joined = json_with(res, StatusCode::OK).await;
    assert_eq!(joined["my_role"], "member");
    assert_eq!(joined["member_count"], 2);
    // Joining again changes nothing.
    let res = server
        .post_as(&bob, &format!("/rooms/{public}/join"), json!({}))
        .await;
    let again = json_with(res, StatusCode::OK).await;
    assert_eq!(again["member_count"], 2);
    assert_eq!(again["my_role"], "member");
    // The owner "joining" keeps the owner role.
    let res = server
        .post_as(&alice, &format!("/rooms/{public}/join"), json!({}))
        .await;
    assert_eq!(json_with(res, StatusCode::OK).await["my_role"], "owner");
    // Private rooms cannot be joined, nor seen.
    let res = server
        .post_as(&bob, &format!("/rooms/{private}/join"), json!({}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server
        .post_as(
            &bob,
            &format!("/rooms/{}/join", uuid::Uuid::now_v7()),
            json!({}),
        )
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // Leave: 204, then the room is not in my list and the count dropped.
    let res = server
        .post_as(&bob, &format!("/rooms/{public}/leave"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let room = server.get_json(&bob, &format!("/rooms/{public}")).await;
    assert_eq!(room["member_count"], 1);
    assert!(room.get("my_role").is_none());
    let mine = server.get_json(&bob, "/rooms/joined").await;
    assert!(mine["items"].as_array().unwrap().is_empty());
    // Leaving what you are not in.
    let res = server
        .post_as(&bob, &format!("/rooms/{public}/leave"), json!({}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(&bob, &format!("/rooms/{private}/leave"), json!({}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Direct messages cannot be left.
    let res = server
        .post_as(&bob, "/dms", json!({"user_id": alice.id}))
        .await;
    let dm = id_of(&json_with(res, StatusCode::CREATED).await);
    let res = server
        .post_as(&bob, &format!("/rooms/{dm}/leave"), json!({}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    server.stop().await;
}

async fn owner_leaving_hands_over_and_last_one_out_deletes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let early = server.register("early_member").await;
    // `senior` is registered after `junior` (higher id) but joins the room first.
    let junior = server.register("junior_admin").await;
    let senior = server.register("senior_admin").await;
    let room = server
        .create_room(
            &owner,
            json!({"name": "dynasty", "kind": "private", "member_ids": [early.id]}),
        )
        .await;
    let id = id_of(&room);
    let add = |user: &TestUser| json!({"user_ids": [user.id]});
    let res = server
        .post_as(&owner, &format!("/rooms/{id}/members"), add(&senior))
        .await;
    json_with(res, StatusCode::OK).await;
    // Some time passes (a registration hashes a password) before the junior joins.
    let _other = server.register("bystander").await;
    let res = server
        .post_as(&owner, &format!("/rooms/{id}/members"), add(&junior))
        .await;
    json_with(res, StatusCode::OK).await;
    // Promote junior first, so promotion order differs from join order.
    for user in [&junior, &senior] {
        let res = server
            .patch_as(
                &owner,
                &format!("/rooms/{id}/members/{}", user.id),
                json!({"role": "admin"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
    let members = server
        .get_json(&owner, &format!("/rooms/{id}/members"))
        .await;
    let joined_at = |user: &TestUser| {
        members["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["id"] == user.id.as_str())
            .map(|m| m["joined_at"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        joined_at(&senior) < joined_at(&junior),
        "precondition: the senior admin joined first"
    );

    // The owner leaves: the longest-standing admin (not the earliest member) takes over.
    let res = server
        .post_as(&owner, &format!("/rooms/{id}/leave"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(role_in(&server, &id, &senior).await, "owner");
    assert_eq!(role_in(&server, &id, &junior).await, "admin");
    assert_eq!(role_in(&server, &id, &early).await, "member");
    // The new owner leaves: the remaining admin takes over.
    let res = server
        .post_as(&senior, &format!("/rooms/{id}/leave"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(role_in(&server, &id, &junior).await, "owner");
    // No admin left: the longest-standing member takes over.
    let res = server
        .post_as(&junior, &format!("/rooms/{id}/leave"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let room = server.get_json(&early, &format!("/rooms/{id}")).await;
    assert_eq!(room["my_role"], "owner");
    assert_eq!(room["member_count"], 1);
    // The owner can now manage the room.
    let res = server
        .patch_as(
            &early,
            &format!("/rooms/{id}"),
            json!({"topic": "mine now"}),
        )
        .await;
    json_with(res, StatusCode::OK).await;
    // The last one out: the room is gone.
    let res = server
        .post_as(&early, &format!("/rooms/{id}/leave"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.get_as(&early, &format!("/rooms/{id}")).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;

    // A public room vanishes too when its last member leaves, even for outsiders.
    let public = id_of(
        &server
            .create_room(&owner, json!({"name": "brief", "alias": "brief"}))
            .await,
    );
    server.send(&owner, &public, "hello").await;
    let res = server
        .post_as(&owner, &format!("/rooms/{public}/leave"), json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.get_as(&early, &format!("/rooms/{public}")).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let directory = server.get_json(&early, "/rooms?q=brief").await;
    assert!(directory["items"].as_array().unwrap().is_empty());
    // Its alias is free again.
    let res = server
        .post_as(
            &early,
            "/rooms",
            json!({"name": "brief again", "alias": "brief"}),
        )
        .await;
    json_with(res, StatusCode::CREATED).await;
    server.stop().await;
}

backend_tests!(
    get_update_and_delete_a_room,
    join_and_leave,
    owner_leaving_hands_over_and_last_one_out_deletes,
);
