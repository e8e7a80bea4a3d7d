//! Room members and roles, and direct messages (also under a race).

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error, expect_field, id_of, json_with};

/// user id → role, from GET /rooms/{id}/members.
async fn roles(server: &TestServer, viewer: &TestUser, room: &str) -> Vec<(String, String)> {
    let page = server
        .get_json(viewer, &format!("/rooms/{room}/members?limit=100"))
        .await;
    let mut roles: Vec<(String, String)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user"]["id"].as_str().unwrap().to_string(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    roles.sort();
    roles
}

fn sorted(mut pairs: Vec<(&TestUser, &str)>) -> Vec<(String, String)> {
    pairs.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    pairs
        .into_iter()
        .map(|(u, r)| (u.id.clone(), r.to_string()))
        .collect()
}

async fn members_are_listed_added_removed_and_promoted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let admin = server.register("admin").await;
    let member = server.register("member").await;
    let other = server.register("other").await;
    let late = server.register("late").await;
    let room = server
        .create_room(
            &owner,
            json!({"name": "crew", "kind": "private", "member_ids": [admin.id, member.id]}),
        )
        .await;
    let id = id_of(&room);
    let members_path = format!("/rooms/{id}/members");

    // GET: users with roles and join times.
    let page = server.get_json(&member, &members_path).await;
    let first = &page["items"][0];
    assert!(first["user"]["username"].is_string());
    assert!(
        first["joined_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
    assert!(page["next_cursor"].is_null());
    assert_eq!(
        roles(&server, &owner, &id).await,
        sorted(vec![
            (&owner, "owner"),
            (&admin, "member"),
            (&member, "member")
        ])
    );

    // PATCH role (owner only).
    let role_path = |u: &TestUser| format!("/rooms/{id}/members/{}", u.id);
    let res = server
        .patch_as(&owner, &role_path(&admin), json!({"role": "admin"}))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server
        .patch_as(&admin, &role_path(&member), json!({"role": "admin"}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    for bad in ["owner", "root", ""] {
        let res = server
            .patch_as(&owner, &role_path(&member), json!({"role": bad}))
            .await;
        expect_field(res, "role").await;
    }
    let res = server
        .patch_as(&owner, &role_path(&owner), json!({"role": "member"}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .patch_as(&owner, &role_path(&other), json!({"role": "admin"}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(
        server.get_json(&admin, &format!("/rooms/{id}")).await["my_role"],
        "admin"
    );

    // POST members (admins): returns who was new.
    let res = server
        .post_as(&member, &members_path, json!({"user_ids": [other.id]}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(
            &admin,
            &members_path,
            json!({"user_ids": [other.id, member.id, other.id]}),
        )
        .await;
    let added = json_with(res, StatusCode::OK).await;
    assert_eq!(added["added"], json!([other.id]));
    assert_eq!(
        server.get_json(&other, &format!("/rooms/{id}")).await["member_count"],
        4
    );
    let res = server
        .post_as(&admin, &members_path, json!({"user_ids": [other.id]}))
        .await;
    assert_eq!(json_with(res, StatusCode::OK).await["added"], json!([]));
    let res = server
        .post_as(&admin, &members_path, json!({"user_ids": []}))
        .await;
    expect_field(res, "user_ids").await;
    let res = server
        .post_as(
            &admin,
            &members_path,
            json!({"user_ids": [uuid::Uuid::now_v7()]}),
        )
        .await;
    expect_field(res, "user_ids").await;
    let res = server
        .post_as(&admin, &members_path, json!({"user_ids": ["nope"]}))
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // Pagination of the member list: each member once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{members_path}?limit=1");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = server.get_json(&owner, &path).await;
        for m in page["items"].as_array().unwrap() {
            seen.push(m["user"]["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(seen.len() <= 4, "the member list never ends");
    }
    assert_eq!(seen.len(), 4);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 4);

    // DELETE member: admins remove members, not admins or the owner; owners remove admins.
    let res = server.delete_as(&member, &role_path(&other)).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server.delete_as(&admin, &role_path(&owner)).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server.delete_as(&admin, &role_path(&other)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.get_as(&other, &format!("/rooms/{id}")).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server.delete_as(&admin, &role_path(&other)).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // Yourself: the same as leaving.
    let res = server.delete_as(&member, &role_path(&member)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = server.get_as(&member, &members_path).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server.delete_as(&owner, &role_path(&admin)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        roles(&server, &owner, &id).await,
        sorted(vec![(&owner, "owner")])
    );
    // Re-added people start as plain members.
    let res = server
        .post_as(
            &owner,
            &members_path,
            json!({"user_ids": [admin.id, late.id]}),
        )
        .await;
    json_with(res, StatusCode::OK).await;
    assert_eq!(
        roles(&server, &owner, &id).await,
        sorted(vec![
            (&owner, "owner"),
            (&admin, "member"),
            (&late, "member")
        ])
    );
    server.stop().await;
}

async fn direct_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let eve = server.register("eve").await;
    let res = server
        .post_as(&alice, "/dms", json!({"user_id": bob.id}))
        .await;
    let dm = json_with(res, StatusCode::CREATED).await;
    assert_eq!(dm["kind"], "direct");
    assert_eq!(dm["member_count"], 2);
    assert_eq!(dm["other_user"]["id"], bob.id.as_str());
    assert_eq!(dm["name"], "bob");
    assert_eq!(dm["my_role"], "member", "nobody rules a DM");
    let id = id_of(&dm);
    // Again, from either side: 200, the same room.
    for (user, peer) in [(&alice, &bob), (&bob, &alice), (&alice, &bob)] {
        let res = server
            .post_as(user, "/dms", json!({"user_id": peer.id}))
            .await;
        let again = json_with(res, StatusCode::OK).await;
        assert_eq!(again["id"], id.as_str());
        assert_eq!(again["other_user"]["id"], peer.id.as_str());
    }
    // Yourself, unknown users, malformed ids.
    let res = server
        .post_as(&alice, "/dms", json!({"user_id": alice.id}))
        .await;
    expect_field(res, "user_id").await;
    let res = server
        .post_as(&alice, "/dms", json!({"user_id": uuid::Uuid::now_v7()}))
        .await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    let res = server
        .post_as(&alice, "/dms", json!({"user_id": "bob"}))
        .await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    // GET /dms: only direct rooms, newest activity first.
    server
        .create_room(&alice, json!({"name": "not a dm"}))
        .await;
    let res = server
        .post_as(&eve, "/dms", json!({"user_id": alice.id}))
        .await;
    let with_eve = id_of(&json_with(res, StatusCode::CREATED).await);
    let list = server.get_json(&alice, "/dms").await;
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [with_eve.clone(), id.clone()]);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["kind"] == "direct")
    );
    server.send(&bob, &id, "psst").await;
    let list = server.get_json(&alice, "/dms").await;
    let ids: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id.clone(), with_eve.clone()]);
    assert_eq!(list["items"][0]["unread_count"], 1);
    assert_eq!(list["items"][0]["last_message"]["content"], "psst");
    let bobs = server.get_json(&bob, "/dms").await;
    assert_eq!(bobs["items"].as_array().unwrap().len(), 1);
    assert_eq!(bobs["items"][0]["other_user"]["id"], alice.id.as_str());

    // Outsiders: the DM does not exist for them.
    for res in [
        server.get_as(&eve, &format!("/rooms/{id}")).await,
        server.get_as(&eve, &format!("/rooms/{id}/messages")).await,
        server
            .post_as(&eve, &format!("/rooms/{id}/join"), json!({}))
            .await,
    ] {
        expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Nobody administers a DM: no renaming, deleting, adding or banning.
    let res = server
        .patch_as(&alice, &format!("/rooms/{id}"), json!({"name": "ours"}))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server.delete_as(&alice, &format!("/rooms/{id}")).await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(
            &alice,
            &format!("/rooms/{id}/members"),
            json!({"user_ids": [eve.id]}),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .post_as(
            &alice,
            &format!("/rooms/{id}/bans"),
            json!({"user_id": bob.id}),
        )
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    let res = server
        .delete_as(&alice, &format!("/rooms/{id}/members/{}", bob.id))
        .await;
    expect_error(res, StatusCode::FORBIDDEN, "forbidden").await;
    server.stop().await;
}

async fn concurrent_dm_opening_makes_one_room(backend: Backend) {
    let server = std::sync::Arc::new(TestServer::start(backend).await);
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let server = server.clone();
        let (me, peer) = if i % 2 == 0 {
            (alice.clone(), bob.clone())
        } else {
            (bob.clone(), alice.clone())
        };
        tasks.push(tokio::spawn(async move {
            let res = server
                .post_as(&me, "/dms", json!({"user_id": peer.id}))
                .await;
            let status = res.status();
            let body = res.text().await.unwrap();
            (status, body)
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "{status}: {body}"
        );
        if status == StatusCode::CREATED {
            created += 1;
        }
        let room: Value = serde_json::from_str(&body).unwrap();
        ids.insert(id_of(&room));
    }
    assert_eq!(ids.len(), 1, "one room for the pair: {ids:?}");
    assert_eq!(created, 1, "exactly one answer says created");
    let id = ids.into_iter().next().unwrap();
    for user in [&alice, &bob] {
        let list = server.get_json(user, "/dms").await;
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{}: {list}", user.username);
        assert_eq!(items[0]["id"], id.as_str());
        assert_eq!(items[0]["member_count"], 2);
    }
    let server = std::sync::Arc::try_unwrap(server)
        .ok()
        .expect("all tasks finished");
    server.stop().await;
}

backend_tests!(
    members_are_listed_added_removed_and_promoted,
    direct_messages,
    concurrent_dm_opening_makes_one_room,
);
