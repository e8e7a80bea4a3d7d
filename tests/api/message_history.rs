//! History at scale and under concurrency: 1,000 messages paged both ways, and idempotent
//! sends raced with the same client_msg_id.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{
    Backend, TEST_JWT_SECRET, TestServer, TestUser, expect_error, id_of, json_with,
};

const TOTAL: usize = 1000;
const BATCH: usize = 25;
const PAGE: usize = 37;

/// One page of history as (ids, contents, has_more, next_cursor).
async fn page(
    server: &TestServer,
    user: &TestUser,
    room: &str,
    query: &str,
) -> (Vec<String>, Vec<String>, bool, Option<String>) {
    let body = server
        .get_json(user, &format!("/rooms/{room}/messages?limit={PAGE}{query}"))
        .await;
    let items = body["items"].as_array().unwrap();
    assert!(items.len() <= PAGE);
    (
        items.iter().map(id_of).collect(),
        items
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_string())
            .collect(),
        body["has_more"].as_bool().unwrap(),
        body["next_cursor"].as_str().map(str::to_string),
    )
}

async fn thousand_messages_page_the_same_both_ways(backend: Backend) {
    let server = Arc::new(TestServer::start(backend).await);
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = id_of(
        &server
            .create_room(&alice, json!({"name": "busy", "member_ids": [bob.id]}))
            .await,
    );
    // Posted in batches of concurrent requests; each batch completes before the next.
    let mut posted: Vec<(String, usize)> = Vec::with_capacity(TOTAL);
    for batch in 0..TOTAL / BATCH {
        let mut tasks = Vec::new();
        for i in batch * BATCH..(batch + 1) * BATCH {
            let server = server.clone();
            let user = if i % 2 == 0 {
                alice.clone()
            } else {
                bob.clone()
            };
            let room = room.clone();
            tasks.push(tokio::spawn(async move {
                let message = server.send(&user, &room, &format!("message {i:04}")).await;
                id_of(&message)
            }));
        }
        for task in tasks {
            posted.push((task.await.unwrap(), batch));
        }
    }
    let posted_ids: HashSet<&String> = posted.iter().map(|(id, _)| id).collect();
    assert_eq!(posted_ids.len(), TOTAL, "every post made its own message");
    let batch_of = |content: &str| -> usize {
        content
            .strip_prefix("message ")
            .and_then(|n| n.parse::<usize>().ok())
            .expect("a content we posted")
            / BATCH
    };

    // Backwards from the latest with `before`.
    let mut backward: Vec<(String, String)> = Vec::new();
    let (ids, contents, mut has_more, mut cursor) = page(&server, &bob, &room, "").await;
    let mut pages = 1;
    backward.splice(0..0, ids.into_iter().zip(contents));
    while has_more {
        let before = cursor.take().expect("next_cursor while has_more");
        assert_eq!(before, backward[0].0, "next_cursor is the oldest id shown");
        let (ids, contents, more, next) =
            page(&server, &bob, &room, &format!("&before={before}")).await;
        assert!(!ids.is_empty(), "has_more promised more");
        backward.splice(0..0, ids.into_iter().zip(contents));
        (has_more, cursor) = (more, next);
        pages += 1;
        assert!(pages <= TOTAL / PAGE + 2, "paging never ends");
    }
    assert_eq!(pages, TOTAL.div_ceil(PAGE));

    // Forwards from the first with `after`.
    let first = backward[0].0.clone();
    let mut forward: Vec<(String, String)> = vec![backward[0].clone()];
    let mut after = first;
    loop {
        let (ids, contents, more, next) =
            page(&server, &alice, &room, &format!("&after={after}")).await;
        if let Some(last) = ids.last() {
            after = last.clone();
        }
        forward.extend(ids.into_iter().zip(contents));
        if !more {
            assert!(next.is_none());
            break;
        }
        assert_eq!(
            next.as_deref(),
            Some(after.as_str()),
            "next_cursor is the newest id shown"
        );
        assert!(forward.len() <= TOTAL, "paging forward never ends");
    }

    // Every message exactly once, in id order, the same both ways.
    assert_eq!(backward.len(), TOTAL);
    assert_eq!(forward, backward, "the same order both ways");
    let seen: HashSet<&String> = backward.iter().map(|(id, _)| id).collect();
    assert_eq!(seen, posted_ids, "exactly the messages posted");
    for pair in backward.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "ids increase: {} then {}",
            pair[0].0,
            pair[1].0
        );
        assert!(
            batch_of(&pair[0].1) <= batch_of(&pair[1].1),
            "a later batch never comes first: {} then {}",
            pair[0].1,
            pair[1].1
        );
    }
    let server = Arc::try_unwrap(server).ok().expect("all tasks finished");
    server.stop().await;
}

/// Posts the same client_msg_id 20 times at once as `user`, spread over `bases` (instances
/// sharing one database); asserts one 201, nineteen 200 and one message id in all answers,
/// and returns that id.
async fn race_one_client_msg_id(
    bases: &[String],
    user: &TestUser,
    room: &str,
    client_msg_id: &str,
) -> String {
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let req = client
            .post(format!(
                "{}/api/v1/rooms/{room}/messages",
                bases[i % bases.len()]
            ))
            .bearer_auth(&user.access_token)
            .json(&json!({"content": "exactly once", "client_msg_id": client_msg_id}));
        tasks.push(tokio::spawn(async move {
            let res = req.send().await.unwrap();
            let status = res.status();
            (status, res.text().await.unwrap())
        }));
    }
    let mut ids = HashSet::new();
    let (mut created, mut replayed) = (0, 0);
    let mut failures = Vec::new();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::OK => replayed += 1,
            other => {
                failures.push(format!("{other}: {body}"));
                continue;
            }
        }
        let message: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(message["content"], "exactly once");
        ids.insert(id_of(&message));
    }
    assert!(
        failures.is_empty(),
        "{} of 20 retries failed instead of returning the original: {failures:?}",
        failures.len()
    );
    assert_eq!((created, replayed), (1, 19));
    assert_eq!(ids.len(), 1, "all answers carry the same message: {ids:?}");
    ids.into_iter().next().unwrap()
}

async fn same_client_msg_id_twenty_times_is_one_message(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = id_of(
        &server
            .create_room(&alice, json!({"name": "retry", "member_ids": [bob.id]}))
            .await,
    );
    let id =
        race_one_client_msg_id(std::slice::from_ref(&server.base), &alice, &room, "retry-7").await;
    let history = server
        .get_json(&bob, &format!("/rooms/{room}/messages"))
        .await;
    let items = history["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "one message in history: {history}");
    assert_eq!(items[0]["id"], id.as_str());
    let room_view = server.get_json(&bob, &format!("/rooms/{room}")).await;
    assert_eq!(room_view["unread_count"], 1, "one message, one unread");

    // A later retry still gets the original, even with other content.
    let res = server
        .post_as(
            &alice,
            &format!("/rooms/{room}/messages"),
            json!({"content": "changed my mind", "client_msg_id": "retry-7"}),
        )
        .await;
    let again = json_with(res, StatusCode::OK).await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["content"], "exactly once");
    // Another sender's id space is separate.
    let res = server
        .post_as(
            &bob,
            &format!("/rooms/{room}/messages"),
            json!({"content": "mine", "client_msg_id": "retry-7"}),
        )
        .await;
    let bobs = json_with(res, StatusCode::CREATED).await;
    assert_ne!(bobs["id"], id.as_str());
    // The same id in another room is not the same message.
    let other = id_of(&server.create_room(&alice, json!({"name": "other"})).await);
    let res = server
        .post_as(
            &alice,
            &format!("/rooms/{other}/messages"),
            json!({"content": "exactly once", "client_msg_id": "retry-7"}),
        )
        .await;
    expect_error(res, StatusCode::CONFLICT, "client_msg_id_reused").await;
    let history = server
        .get_json(&alice, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(history["items"].as_array().unwrap().len(), 2);
    server.stop().await;
}

/// A second instance: the `chatter` binary in its own process on `first`'s database, with
/// the same JWT secret. Killed when dropped.
struct OtherProcess {
    child: tokio::process::Child,
    base: String,
}

impl OtherProcess {
    async fn start(first: &TestServer) -> OtherProcess {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = free.local_addr().unwrap().port();
        drop(free);
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_chatter"));
        cmd.current_dir(&first.settings.data_dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", port.to_string())
            .env("CHATTER__DATA_DIR", &first.settings.data_dir)
            .env("CHATTER__AUTH__JWT_SECRET", TEST_JWT_SECRET)
            .env("CHATTER__RATE_LIMIT__REST_PER_MINUTE", "100000")
            .env("CHATTER__RATE_LIMIT__AUTH_PER_MINUTE", "100000")
            .env("CHATTER__LOG__LEVEL", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if !first.settings.database.url.is_empty() {
            cmd.env(
                "CHATTER__DATABASE__URL",
                first.settings.database.url.expose(),
            );
        }
        let mut child = cmd.spawn().expect("the chatter binary starts");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the second instance exited during start-up: {status}");
            }
            let ready = client
                .get(format!("{base}/ready"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                return OtherProcess { child, base };
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the second instance never became ready"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Two instances on one database (as behind a load balancer), in two processes, so nothing
/// in-process serializes them: the database's unique index decides, and every loser must
/// still get the original message.
async fn same_client_msg_id_across_two_processes_is_one_message(backend: Backend) {
    let first = TestServer::start(backend).await;
    let second = OtherProcess::start(&first).await;
    let alice = first.register("alice").await;
    let bob = first.register("bob").await;
    let room = id_of(
        &first
            .create_room(&alice, json!({"name": "retry", "member_ids": [bob.id]}))
            .await,
    );
    // Both instances serve the same data to the same tokens.
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/rooms/{room}", second.base))
        .bearer_auth(&bob.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bases = [first.base.clone(), second.base.clone()];
    for round in 0..8 {
        let client_msg_id = format!("across-{round}");
        let id = race_one_client_msg_id(&bases, &alice, &room, &client_msg_id).await;
        let history = first
            .get_json(&bob, &format!("/rooms/{room}/messages"))
            .await;
        let items = history["items"].as_array().unwrap();
        assert_eq!(items.len(), round + 1, "one message per round: {history}");
        assert_eq!(items[round]["id"], id.as_str());
    }
    second.stop().await;
    first.stop().await;
}

backend_tests!(
    thousand_messages_page_the_same_both_ways,
    same_client_msg_id_twenty_times_is_one_message,
    same_client_msg_id_across_two_processes_is_one_message,
);
