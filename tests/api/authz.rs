//! The authorization matrix: every room, member, ban, DM, message and search route × every
//! standing a caller can have, for a private, a public and a direct room. The OpenAPI document
//! is checked against the table, so a new route without a row fails here.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, call, id_of, json_with};

/// The callers of the private and public tables, in column order.
const ROLES: [&str; 6] = [
    "owner",
    "admin",
    "member",
    "non_member",
    "banned",
    "anonymous",
];
/// The callers of the direct table: one of the pair, a stranger, nobody.
const DM_ROLES: [&str; 3] = ["member", "non_member", "anonymous"];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Private,
    Public,
    Direct,
}

/// The JSON body a row sends.
#[derive(Clone, Copy, Debug)]
enum Body {
    None,
    NewRoom,
    Topic,
    AddExtra,
    RoleAdmin,
    BanTarget,
    DmPeer,
    Content,
    ReadMessage,
}

struct Row {
    method: &'static str,
    /// The template as in the OpenAPI document, under /api/v1. `{id}` is the room (or, under
    /// /messages, the fixture's message), `{user_id}` the target member (under /bans: the
    /// banned user), `{emoji}` a URL-encoded 👍.
    path: &'static str,
    /// Query string; `{room}` is the room id.
    query: &'static str,
    body: Body,
    /// owner, admin, member, non_member, banned, anonymous
    private: [u16; 6],
    public: [u16; 6],
    /// member, non_member, anonymous
    direct: [u16; 3],
}

const fn row(
    method: &'static str,
    path: &'static str,
    query: &'static str,
    body: Body,
    private: [u16; 6],
    public: [u16; 6],
    direct: [u16; 3],
) -> Row {
    Row {
        method,
        path,
        query,
        body,
        private,
        public,
        direct,
    }
}

/// Readable by members; on a public room by anyone signed in who is not banned.
const READ_PRIV: [u16; 6] = [200, 200, 200, 404, 404, 401];
const READ_PUB: [u16; 6] = [200, 200, 200, 200, 403, 401];
const READ_DM: [u16; 3] = [200, 404, 401];
/// Anyone signed in, whatever the room.
const ANY: [u16; 6] = [200, 200, 200, 200, 200, 401];
const ANY_DM: [u16; 3] = [200, 200, 401];

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // Rooms
    row("POST", "/rooms", "", Body::NewRoom, [201, 201, 201, 201, 201, 401], [201, 201, 201, 201, 201, 401], [201, 201, 401]),
    row("GET", "/rooms", "?q=authz", Body::None, ANY, ANY, ANY_DM),
    row("GET", "/rooms/joined", "", Body::None, ANY, ANY, ANY_DM),
    row("GET", "/rooms/{id}", "", Body::None, READ_PRIV, READ_PUB, READ_DM),
    row("PATCH", "/rooms/{id}", "", Body::Topic, [200, 200, 403, 404, 404, 401], [200, 200, 403, 403, 403, 401], [403, 404, 401]),
    row("DELETE", "/rooms/{id}", "", Body::None, [204, 403, 403, 404, 404, 401], [204, 403, 403, 403, 403, 401], [403, 404, 401]),
    row("POST", "/rooms/{id}/join", "", Body::None, READ_PRIV, READ_PUB, READ_DM),
    row("POST", "/rooms/{id}/leave", "", Body::None, [204, 204, 204, 404, 404, 401], [204, 204, 204, 403, 403, 401], [403, 404, 401]),
    // Members and bans
    row("GET", "/rooms/{id}/members", "", Body::None, READ_PRIV, READ_PUB, READ_DM),
    row("POST", "/rooms/{id}/members", "", Body::AddExtra, [200, 200, 403, 404, 404, 401], [200, 200, 403, 403, 403, 401], [403, 404, 401]),
    row("DELETE", "/rooms/{id}/members/{user_id}", "", Body::None, [204, 204, 403, 404, 404, 401], [204, 204, 403, 403, 403, 401], [403, 404, 401]),
    row("PATCH", "/rooms/{id}/members/{user_id}", "", Body::RoleAdmin, [204, 403, 403, 404, 404, 401], [204, 403, 403, 403, 403, 401], [403, 404, 401]),
    row("POST", "/rooms/{id}/bans", "", Body::BanTarget, [201, 201, 403, 404, 404, 401], [201, 201, 403, 403, 403, 401], [403, 404, 401]),
    row("GET", "/rooms/{id}/bans", "", Body::None, [200, 200, 403, 404, 404, 401], [200, 200, 403, 403, 403, 401], [403, 404, 401]),
    row("DELETE", "/rooms/{id}/bans/{user_id}", "", Body::None, [204, 204, 403, 404, 404, 401], [204, 204, 403, 403, 403, 401], [403, 404, 401]),
    // Direct messages
    row("POST", "/dms", "", Body::DmPeer, [201, 201, 201, 201, 201, 401], [201, 201, 201, 201, 201, 401], [201, 201, 401]),
    row("GET", "/dms", "", Body::None, ANY, ANY, ANY_DM),
    // Messages (the fixture's message is the owner's; in a DM, the partner's)
    row("GET", "/rooms/{id}/messages", "", Body::None, READ_PRIV, READ_PUB, READ_DM),
    row("POST", "/rooms/{id}/messages", "", Body::Content, [201, 201, 201, 404, 404, 401], [201, 201, 201, 403, 403, 401], [201, 404, 401]),
    row("GET", "/messages/{id}", "", Body::None, READ_PRIV, READ_PUB, READ_DM),
    row("PATCH", "/messages/{id}", "", Body::Content, [200, 403, 403, 404, 404, 401], [200, 403, 403, 403, 403, 401], [403, 404, 401]),
    row("DELETE", "/messages/{id}", "", Body::None, [204, 204, 403, 404, 404, 401], [204, 204, 403, 403, 403, 401], [403, 404, 401]),
    row("PUT", "/messages/{id}/reactions/{emoji}", "", Body::None, [204, 204, 204, 404, 404, 401], [204, 204, 204, 403, 403, 401], [204, 404, 401]),
    row("DELETE", "/messages/{id}/reactions/{emoji}", "", Body::None, [204, 204, 204, 404, 404, 401], [204, 204, 204, 403, 403, 401], [204, 404, 401]),
    row("POST", "/rooms/{id}/read", "", Body::ReadMessage, [204, 204, 204, 404, 404, 401], [204, 204, 204, 403, 403, 401], [204, 404, 401]),
    // Search: in one room, and across mine
    row("GET", "/search/messages", "?q=hello&room_id={room}", Body::None, READ_PRIV, READ_PUB, READ_DM),
    row("GET", "/search/messages", "?q=hello", Body::None, ANY, ANY, ANY_DM),
];

/// Everyone the matrix needs, registered once per server.
struct Cast {
    owner: TestUser,
    admin: TestUser,
    member: TestUser,
    non_member: TestUser,
    banned: TestUser,
    /// A plain member the member/ban rows act on; in a DM, the member's partner.
    target: TestUser,
    /// Someone to add to the room.
    extra: TestUser,
    /// DM partners for the POST /dms row, one per table so each pair is new.
    peers: [TestUser; 3],
}

/// One fresh room for one cell of the matrix.
struct Fixture {
    room: String,
    message: String,
    target: String,
    banned: String,
}

async fn status(res: reqwest::Response, expected: StatusCode) {
    json_with(res, expected).await;
}

async fn fixture(server: &TestServer, cast: &Cast, kind: Kind) -> Fixture {
    if kind == Kind::Direct {
        let res = server
            .post_as(&cast.member, "/dms", json!({"user_id": cast.target.id}))
            .await;
        assert!(res.status().is_success(), "open the DM: {}", res.status());
        let room = id_of(&res.json::<Value>().await.unwrap());
        let message = id_of(
            &server
                .send(&cast.target, &room, "hello from the partner")
                .await,
        );
        return Fixture {
            room,
            message,
            target: cast.target.id.clone(),
            banned: cast.target.id.clone(),
        };
    }
    let kind_name = if kind == Kind::Private {
        "private"
    } else {
        "public"
    };
    let room = id_of(
        &server
            .create_room(
                &cast.owner,
                json!({"name": "authz room", "kind": kind_name,
                       "member_ids": [cast.admin.id, cast.member.id, cast.target.id, cast.banned.id]}),
            )
            .await,
    );
    let res = server
        .patch_as(
            &cast.owner,
            &format!("/rooms/{room}/members/{}", cast.admin.id),
            json!({"role": "admin"}),
        )
        .await;
    status(res, StatusCode::NO_CONTENT).await;
    let res = server
        .post_as(
            &cast.owner,
            &format!("/rooms/{room}/bans"),
            json!({"user_id": cast.banned.id, "reason": "matrix"}),
        )
        .await;
    status(res, StatusCode::CREATED).await;
    let message = id_of(
        &server
            .send(&cast.owner, &room, "hello from the owner")
            .await,
    );
    Fixture {
        room,
        message,
        target: cast.target.id.clone(),
        banned: cast.banned.id.clone(),
    }
}

fn body(body: Body, cast: &Cast, kind: Kind, fx: &Fixture) -> Option<Value> {
    let peer = match kind {
        Kind::Private => &cast.peers[0],
        Kind::Public => &cast.peers[1],
        Kind::Direct => &cast.peers[2],
    };
    match body {
        Body::None => None,
        Body::NewRoom => Some(json!({"name": "authz made"})),
        Body::Topic => Some(json!({"topic": "new topic"})),
        Body::AddExtra => Some(json!({"user_ids": [cast.extra.id]})),
        Body::RoleAdmin => Some(json!({"role": "admin"})),
        Body::BanTarget => Some(json!({"user_id": fx.target})),
        Body::DmPeer => Some(json!({"user_id": peer.id})),
        Body::Content => Some(json!({"content": "edited or posted"})),
        Body::ReadMessage => Some(json!({"message_id": fx.message})),
    }
}

fn concrete(row: &Row, fx: &Fixture) -> String {
    let id = if row.path.starts_with("/messages/") {
        &fx.message
    } else {
        &fx.room
    };
    let user = if row.path.contains("/bans/") {
        &fx.banned
    } else {
        &fx.target
    };
    let path = row
        .path
        .replace("{id}", id)
        .replace("{user_id}", user)
        .replace("{emoji}", "%F0%9F%91%8D");
    format!("{path}{}", row.query.replace("{room}", &fx.room))
}

fn caller<'a>(cast: &'a Cast, role: &str) -> Option<&'a TestUser> {
    match role {
        "owner" => Some(&cast.owner),
        "admin" => Some(&cast.admin),
        "member" => Some(&cast.member),
        "non_member" => Some(&cast.non_member),
        "banned" => Some(&cast.banned),
        "anonymous" => None,
        other => panic!("unknown role {other}"),
    }
}

async fn authorization_matrix(backend: Backend) {
    let server = TestServer::start(backend).await;

    // Every documented room/message/DM/search route has a row, and every row is documented.
    let doc = json_with(
        server
            .client
            .get(server.api("/openapi.json"))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let paths = doc["paths"]
        .as_object()
        .expect("paths in the OpenAPI document");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| {
                    [
                        "get", "put", "post", "delete", "patch", "head", "options", "trace",
                    ]
                    .contains(&m.as_str())
                })
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let in_scope = |path: &str| {
        [
            "/api/v1/rooms",
            "/api/v1/messages",
            "/api/v1/dms",
            "/api/v1/search",
        ]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
    };
    let table: BTreeSet<(String, String)> = ROWS
        .iter()
        .map(|r| (r.method.to_string(), format!("/api/v1{}", r.path)))
        .collect();
    let missing: Vec<_> = documented
        .iter()
        .filter(|(_, path)| in_scope(path))
        .filter(|route| !table.contains(*route))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the authorization matrix: {missing:?}"
    );
    let undocumented: Vec<_> = table.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "rows for routes the OpenAPI document does not list: {undocumented:?}"
    );

    let cast = Cast {
        owner: server.register("owner").await,
        admin: server.register("admin").await,
        member: server.register("member").await,
        non_member: server.register("non_member").await,
        banned: server.register("banned").await,
        target: server.register("target").await,
        extra: server.register("extra").await,
        peers: [
            server.register("peer_private").await,
            server.register("peer_public").await,
            server.register("peer_direct").await,
        ],
    };

    let mut failures = Vec::new();
    let mut cells = 0;
    for kind in [Kind::Private, Kind::Public, Kind::Direct] {
        for row in ROWS {
            let expectations: Vec<(&str, u16)> = match kind {
                Kind::Private => ROLES.iter().copied().zip(row.private).collect(),
                Kind::Public => ROLES.iter().copied().zip(row.public).collect(),
                Kind::Direct => DM_ROLES.iter().copied().zip(row.direct).collect(),
            };
            for (role, expected) in expectations {
                let fx = fixture(&server, &cast, kind).await;
                let path = concrete(row, &fx);
                let method = Method::from_bytes(row.method.as_bytes()).unwrap();
                let payload = body(row.body, &cast, kind, &fx);
                let res = call(
                    &server,
                    method,
                    &path,
                    caller(&cast, role),
                    payload.as_ref(),
                )
                .await;
                let got = res.status().as_u16();
                cells += 1;
                if got != expected {
                    let text = res.text().await.unwrap_or_default();
                    failures.push(format!(
                        "{kind:?} {role}: {} {}{} → {got}, expected {expected} ({text})",
                        row.method, row.path, row.query
                    ));
                    continue;
                }
                // Refusals have the API's error shape with the matching code.
                if got >= 400 {
                    let body: Value = res.json().await.unwrap();
                    let code = match got {
                        401 => "unauthorized",
                        403 => "forbidden",
                        404 => "not_found",
                        _ => "",
                    };
                    if body["error"]["code"] != code {
                        failures.push(format!(
                            "{kind:?} {role}: {} {} → {got} with body {body}",
                            row.method, row.path
                        ));
                    }
                }
            }
        }
    }
    assert_eq!(cells, ROWS.len() * (6 + 6 + 3));
    assert!(
        failures.is_empty(),
        "{} of {cells} cells disagree with the matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
    server.stop().await;
}

/// What a refused caller learns: nothing. A private room's 404s look exactly like those of a
/// room that does not exist.
async fn hidden_rooms_look_like_missing_ones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.register("owner").await;
    let stranger = server.register("stranger").await;
    let room = id_of(
        &server
            .create_room(&owner, json!({"name": "hidden", "kind": "private"}))
            .await,
    );
    let message = id_of(&server.send(&owner, &room, "hidden words").await);
    let missing_room = uuid::Uuid::now_v7().to_string();
    let missing_message = uuid::Uuid::now_v7().to_string();
    for (real, fake) in [
        (format!("/rooms/{room}"), format!("/rooms/{missing_room}")),
        (
            format!("/rooms/{room}/messages"),
            format!("/rooms/{missing_room}/messages"),
        ),
        (
            format!("/messages/{message}"),
            format!("/messages/{missing_message}"),
        ),
    ] {
        let real = server.get_as(&stranger, &real).await;
        let fake = server.get_as(&stranger, &fake).await;
        assert_eq!(real.status(), StatusCode::NOT_FOUND);
        assert_eq!(fake.status(), StatusCode::NOT_FOUND);
        let real: Value = real.json().await.unwrap();
        let fake: Value = fake.json().await.unwrap();
        assert_eq!(real, fake, "the same answer for hidden and missing");
    }
    // Search never leaks it either.
    let found = server
        .get_json(&stranger, "/search/messages?q=hidden")
        .await;
    assert_eq!(found["items"], json!([]));
    // And it is not in the directory.
    let directory = server.get_json(&stranger, "/rooms?q=hidden").await;
    assert_eq!(directory["items"], json!([]));
    server.stop().await;
}

backend_tests!(authorization_matrix, hidden_rooms_look_like_missing_ones);
