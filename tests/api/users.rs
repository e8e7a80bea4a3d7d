//! /users/me: my account, profile changes, password change and account deletion.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, expect_error};
use crate::helpers::*;

async fn get_me_returns_own_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "Alice", "password": STRONG,
        "email": "alice@example.com", "display_name": "Alice A."}),
    )
    .await;
    let alice = TestUser::from_response(res, "Alice", STRONG).await;
    let body = me(&server, &alice).await;
    let keys: HashSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: HashSet<&str> = [
        "id",
        "username",
        "email",
        "display_name",
        "status_text",
        "avatar_url",
        "created_at",
        "updated_at",
    ]
    .into();
    assert_eq!(keys, expected, "{body}");
    assert_eq!(body["id"], alice.id.as_str());
    assert_eq!(body["username"], "Alice");
    assert_eq!(body["email"], "alice@example.com");
    assert_eq!(body["display_name"], "Alice A.");
    assert_eq!(
        body, alice.body["user"],
        "the same account as register returned"
    );
    expect_unauthorized(me_with_header(&server, None).await).await;
    server.stop().await;
}

async fn patch_me_changes_only_given_fields(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "bea", "password": STRONG, "email": "bea@example.com"}),
    )
    .await;
    let bea = TestUser::from_response(res, "bea", STRONG).await;
    let before = me(&server, &bea).await;
    let res = patch_me(
        &server,
        &bea,
        json!({"display_name": " Beatrice ", "status_text": "on holiday 🌴"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let after: Value = res.json().await.unwrap();
    assert_eq!(after["display_name"], "Beatrice");
    assert_eq!(after["status_text"], "on holiday 🌴");
    assert_eq!(after["username"], "bea");
    assert_eq!(
        after["email"], "bea@example.com",
        "absent email is left alone"
    );
    assert_eq!(after["created_at"], before["created_at"]);
    assert!(after["updated_at"].as_str() >= before["updated_at"].as_str());
    assert_eq!(me(&server, &bea).await, after, "the change is stored");
    // Renaming: the new name signs in, the old one no longer does.
    let res = patch_me(&server, &bea, json!({"username": "Beatrix"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["username"], "Beatrix");
    assert_eq!(
        login_raw(&server, "beatrix", STRONG, None).await.status(),
        StatusCode::OK
    );
    expect_unauthorized(login_raw(&server, "bea", STRONG, None).await).await;
    // Changing only the case of one's own name is not a conflict; an empty status clears it.
    let res = patch_me(
        &server,
        &bea,
        json!({"username": "BEATRIX", "status_text": ""}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["username"].as_str(), body["status_text"].as_str()),
        (Some("BEATRIX"), Some(""))
    );
    let res = patch_me(&server, &bea, json!({})).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "an empty patch changes nothing"
    );
    server.stop().await;
}

async fn patch_me_email_set_and_null_removes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cyd = server.register("cyd").await;
    let res = patch_me(&server, &cyd, json!({"email": "cyd@example.com"})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "cyd@example.com"
    );
    assert_eq!(
        login_raw(&server, "cyd@example.com", &cyd.password, None)
            .await
            .status(),
        StatusCode::OK
    );
    let res = patch_me(&server, &cyd, json!({"display_name": "Cyd"})).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["email"],
        "cyd@example.com"
    );
    let res = patch_me(&server, &cyd, json!({"email": null})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["email"], Value::Null);
    assert_eq!(
        me(&server, &cyd).await["email"],
        Value::Null,
        "removed for good"
    );
    expect_unauthorized(login_raw(&server, "cyd@example.com", &cyd.password, None).await).await;
    // The address is free again.
    let res = register_raw(
        &server,
        json!({"username": "dee", "password": STRONG, "email": "CYD@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    server.stop().await;
}

async fn patch_me_validation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let eddie = server.register("eddie").await;
    let before = me(&server, &eddie).await;
    for (body, field) in [
        (json!({"username": "e"}), "username"),
        (json!({"username": "e d"}), "username"),
        (json!({"username": "x".repeat(33)}), "username"),
        (json!({"display_name": "   "}), "display_name"),
        (json!({"display_name": "y".repeat(65)}), "display_name"),
        (json!({"status_text": "z".repeat(141)}), "status_text"),
        (json!({"status_text": "bell\u{7}"}), "status_text"),
        (json!({"email": "nope"}), "email"),
        (json!({"email": ""}), "email"),
    ] {
        expect_field_error(patch_me(&server, &eddie, body).await, field).await;
    }
    // Every bad field is reported, and a refused patch changes nothing, not even the valid part.
    let res = patch_me(
        &server,
        &eddie,
        json!({"username": "e", "email": "nope", "status_text": "fine"}),
    )
    .await;
    let body = expect_field_error(res, "username").await;
    assert!(body["error"]["fields"]["email"].is_string(), "{body}");
    // Unknown fields are refused rather than ignored.
    let res = patch_me(
        &server,
        &eddie,
        json!({"display_name": "Ed", "is_admin": true}),
    )
    .await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        body["error"]["fields"]
            .as_object()
            .is_some_and(|f| !f.is_empty()),
        "{body}"
    );
    assert!(
        body.to_string().contains("is_admin"),
        "names the unknown field: {body}"
    );
    let res = patch_me(&server, &eddie, json!({"username": 7})).await;
    expect_field_error(res, "username").await;
    // An avatar must be an upload of mine; an id that names nothing is refused.
    let res = patch_me(&server, &eddie, json!({"avatar_upload_id": unknown_id()})).await;
    expect_field_error(res, "avatar_upload_id").await;
    let res = patch_me(&server, &eddie, json!({"avatar_upload_id": "not-a-uuid"})).await;
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(me(&server, &eddie).await, before);
    let res = patch_me(&server, &eddie, json!({"avatar_upload_id": null})).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "removing a missing avatar is fine"
    );
    assert_eq!(
        res.json::<Value>().await.unwrap()["avatar_url"],
        Value::Null
    );
    let res = server
        .client
        .patch(server.api("/users/me"))
        .json(&json!({"display_name": "x"}))
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    server.stop().await;
}

async fn patch_me_conflicts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(
        &server,
        json!({"username": "Fern", "password": STRONG, "email": "fern@example.com"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let gil = server.register("gil").await;
    let before = me(&server, &gil).await;
    expect_error(
        patch_me(&server, &gil, json!({"username": "fERN"})).await,
        StatusCode::CONFLICT,
        "username_taken",
    )
    .await;
    expect_error(
        patch_me(&server, &gil, json!({"email": "FERN@example.com"})).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_eq!(me(&server, &gil).await, before, "nothing changed");
    server.stop().await;
}

async fn change_password_revokes_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let here = server.register_on_device("hugo", Some("here")).await;
    let there = second_session(&server, &here, "there").await;
    let new_password = "Brand-New-Passw0rd";
    let res = put_password(&server, &here, &here.password, new_password).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Every other session ends at once; this one goes on, refresh token included.
    assert_access_refused(&server, &there.access_token).await;
    expect_unauthorized(refresh_by_cookie(&server, &there.refresh_token).await).await;
    assert_access_ok(&server, &here.access_token).await;
    assert_eq!(sessions_of(&server, &here).await.len(), 1);
    assert_eq!(
        refresh_by_cookie(&server, &here.refresh_token)
            .await
            .status(),
        StatusCode::OK
    );
    expect_unauthorized(login_raw(&server, "hugo", &here.password, None).await).await;
    assert_eq!(
        login_raw(&server, "hugo", new_password, None)
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn change_password_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let iris = server.register("iris").await;
    let other = second_session(&server, &iris, "other").await;
    expect_field_error(
        put_password(&server, &iris, "Not-The-Password-1", "Brand-New-Passw0rd").await,
        "current_password",
    )
    .await;
    expect_field_error(
        put_password(&server, &iris, &iris.password, "short").await,
        "new_password",
    )
    .await;
    expect_field_error(
        put_password(&server, &iris, &iris.password, &"Zq".repeat(65)).await,
        "new_password",
    )
    .await;
    expect_field_error(
        put_password(&server, &iris, &iris.password, "password123").await,
        "new_password",
    )
    .await;
    let res = server
        .client
        .put(server.api("/users/me/password"))
        .bearer_auth(&iris.access_token)
        .json(&json!({"new_password": "Brand-New-Passw0rd"}))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = server
        .client
        .put(server.api("/users/me/password"))
        .json(&json!({"current_password": iris.password, "new_password": "Brand-New-Passw0rd"}))
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    // Nothing changed: the old password signs in, the other session lives.
    assert_access_ok(&server, &other.access_token).await;
    assert_eq!(
        login_raw(&server, "iris", &iris.password, None)
            .await
            .status(),
        StatusCode::OK
    );
    server.stop().await;
}

async fn delete_me_requires_the_password_and_ends_everything(backend: Backend) {
    let server = TestServer::start(backend).await;
    let kit = server.register_on_device("kit", Some("one")).await;
    let two = second_session(&server, &kit, "two").await;
    let viewer = server.register("lars").await;
    let res = delete_me(&server, &kit, json!({})).await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body.to_string().contains("password"), "{body}");
    expect_field_error(
        delete_me(&server, &kit, json!({"password": "Wrong-Password-1"})).await,
        "password",
    )
    .await;
    let res = server
        .client
        .delete(server.api("/users/me"))
        .json(&json!({"password": kit.password}))
        .send()
        .await
        .unwrap();
    expect_unauthorized(res).await;
    assert_access_ok(&server, &kit.access_token).await;
    let res = delete_me(&server, &kit, json!({"password": kit.password})).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    for session in [&kit, &two] {
        assert_access_refused(&server, &session.access_token).await;
        expect_unauthorized(refresh_by_cookie(&server, &session.refresh_token).await).await;
    }
    expect_unauthorized(login_raw(&server, "kit", &kit.password, None).await).await;
    let res = get(&server, &format!("/users/{}", kit.id), &viewer.access_token).await;
    expect_error(res, StatusCode::NOT_FOUND, "not_found").await;
    // The name is free for someone new, who is not the old account.
    let fresh = server.register("kit").await;
    assert_ne!(fresh.id, kit.id);
    server.stop().await;
}

backend_tests!(
    get_me_returns_own_account,
    patch_me_changes_only_given_fields,
    patch_me_email_set_and_null_removes,
    patch_me_validation,
    patch_me_conflicts,
    change_password_revokes_other_sessions,
    change_password_errors,
    delete_me_requires_the_password_and_ends_everything,
);
