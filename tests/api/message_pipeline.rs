//! The message pipeline's guarantees under load (SPEC §5): many senders over WebSocket and REST
//! at once give every reader the same order, in increasing ids, nothing lost and nothing
//! twice; a storm of retries with one `client_msg_id` stores one message; a crash of the real
//! binary in the middle of the traffic loses no acknowledged message.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::backend_tests;
use crate::binary::Server;
use crate::common::{Backend, TEST_JWT_SECRET, TestEnv, TestServer, TestUser, room_with};
use crate::ws_client::{Event, WsClient};

const SENDERS: usize = 5;
/// Per sender, over each of WebSocket and REST.
const EACH: usize = 20;

async fn fast_server(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.rate_limit.ws_messages_per_sec = 100_000;
        s.rate_limit.ws_messages_burst = 100_000;
    })
    .await
}

/// Sends `count` messages over `socket` without waiting for each ack (all in flight at
/// once), then collects the acks; returns the acknowledged messages' ids.
async fn send_pipelined(
    socket: &mut WsClient,
    room: &str,
    label: &str,
    count: usize,
) -> Vec<String> {
    for n in 0..count {
        socket
            .send_json(
                &json!({"type": "send_message", "ref": format!("{label}-{n}"),
                "room_id": room, "content": format!("{label} ws {n}")}),
            )
            .await;
    }
    let mut ids = Vec::new();
    while ids.len() < count {
        let frame = socket.next_frame().await;
        match frame["type"].as_str() {
            Some("ack") => ids.push(frame["message"]["id"].as_str().unwrap().to_string()),
            Some("error") => panic!("a send failed: {frame}"),
            _ => {}
        }
    }
    ids
}

/// Five members send 20 messages each over WebSocket (pipelined) and 20 over REST (all at
/// once), together. Every member's socket receives the same 200 messages in the same order,
/// ids increasing, and history pages give that order too.
async fn many_senders_one_order(backend: Backend) {
    one_order(fast_server(backend).await).await;
}

/// The same with the fan-out's buffer at one event: it is behind all the time, and its
/// publishers wait for it instead of it skipping events (readers would lose messages).
async fn a_fan_out_behind_its_whole_buffer_skips_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.rate_limit.ws_messages_per_sec = 100_000;
        s.rate_limit.ws_messages_burst = 100_000;
        s.messages.fanout_buffer = 1;
    })
    .await;
    one_order(server).await;
}

async fn one_order(server: TestServer) {
    let mut users: Vec<TestUser> = Vec::new();
    for i in 0..SENDERS {
        users.push(server.register(&format!("sender{i}")).await);
    }
    let others: Vec<&TestUser> = users[1..].iter().collect();
    let room = room_with(&server, &users[0], "private", &others).await;
    let mut readers = Vec::new();
    for user in &users {
        readers.push(WsClient::connect(&server, user).await);
    }

    let mut sends = Vec::new();
    for (i, user) in users.iter().enumerate() {
        let mut socket = WsClient::connect(&server, user).await;
        let room_ws = room.clone();
        sends.push(tokio::spawn(async move {
            send_pipelined(&mut socket, &room_ws, &format!("s{i}"), EACH).await
        }));
        let (client, url, token) = (
            server.client.clone(),
            server.api(&format!("/rooms/{room}/messages")),
            user.access_token.clone(),
        );
        sends.push(tokio::spawn(async move {
            let posts = (0..EACH).map(|n| {
                client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"content": format!("s{i} rest {n}")}))
                    .send()
            });
            let mut ids = Vec::new();
            for res in futures::future::join_all(posts).await {
                let res = res.unwrap();
                assert_eq!(res.status(), StatusCode::CREATED);
                let body: Value = res.json().await.unwrap();
                ids.push(body["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut acknowledged = HashSet::new();
    for send in sends {
        acknowledged.extend(send.await.unwrap());
    }
    let total = SENDERS * EACH * 2;
    assert_eq!(
        acknowledged.len(),
        total,
        "every send acknowledged, each with its own id"
    );

    let mut orders = Vec::new();
    for reader in &mut readers {
        let mut ids = Vec::new();
        let mut contents = HashSet::new();
        while ids.len() < total {
            let frame = reader.next_of_type("message_new").await;
            ids.push(frame["message"]["id"].as_str().unwrap().to_string());
            assert!(
                contents.insert(frame["message"]["content"].as_str().unwrap().to_string()),
                "a message arrived twice: {frame}"
            );
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "ids increase in delivery order"
        );
        assert_eq!(ids.iter().cloned().collect::<HashSet<_>>(), acknowledged);
        orders.push(ids);
    }
    assert!(
        orders.windows(2).all(|w| w[0] == w[1]),
        "every reader sees one order"
    );

    let mut history = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(after) => format!("/rooms/{room}/messages?limit=100&after={after}"),
            None => format!(
                "/rooms/{room}/messages?limit=100&after=00000000-0000-0000-0000-000000000000"
            ),
        };
        let page = server.get_json(&users[0], &path).await;
        for item in page["items"].as_array().unwrap() {
            history.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(history, orders[0], "history has the order live readers saw");
}

/// One message, retried 30 times at once (20 over REST, 10 over WebSocket, each from its own
/// socket) with one `client_msg_id`: one is created, every answer names it, readers get it once.
async fn a_retry_storm_stores_one_message(backend: Backend) {
    let server = fast_server(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let room = room_with(&server, &alice, "private", &[&bob]).await;
    let mut bob_ws = WsClient::connect(&server, &bob).await;
    let body = json!({"content": "only once", "client_msg_id": "storm-1"});

    let mut tasks = Vec::new();
    for _ in 0..20 {
        let request = server
            .client
            .post(server.api(&format!("/rooms/{room}/messages")))
            .bearer_auth(&alice.access_token)
            .json(&body);
        tasks.push(tokio::spawn(async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            let body: Value = res.json().await.unwrap();
            (status, body["id"].as_str().unwrap_or_default().to_string())
        }));
    }
    for _ in 0..10 {
        let mut socket = WsClient::connect(&server, &alice).await;
        let room = room.clone();
        tasks.push(tokio::spawn(async move {
            let ack = socket
                .ack(
                    json!({"type": "send_message", "room_id": room, "content": "only once",
                    "client_msg_id": "storm-1"}),
                )
                .await;
            (
                StatusCode::ACCEPTED,
                ack["message"]["id"].as_str().unwrap().to_string(),
            )
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let (status, id) = task.await.unwrap();
        assert!(
            [StatusCode::CREATED, StatusCode::OK, StatusCode::ACCEPTED].contains(&status),
            "{status}"
        );
        created += usize::from(status == StatusCode::CREATED);
        ids.insert(id);
    }
    assert_eq!(ids.len(), 1, "every answer names the same message: {ids:?}");
    assert!(
        created <= 1,
        "at most one REST answer says created ({created})"
    );

    // A marker after the storm: once Bob has it, anything of the storm has arrived before it.
    server.send(&alice, &room, "after the storm").await;
    let mut seen = Vec::new();
    loop {
        let frame = bob_ws.next_of_type("message_new").await;
        let content = frame["message"]["content"].as_str().unwrap().to_string();
        if content == "after the storm" {
            break;
        }
        seen.push(frame["message"]["id"].as_str().unwrap().to_string());
    }
    assert_eq!(seen, ids.into_iter().collect::<Vec<_>>());
    let page = server
        .get_json(&alice, &format!("/rooms/{room}/messages"))
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
}

/// What the senders were told, kept outside them so it survives their sockets.
#[derive(Default)]
struct Acked {
    /// (client_msg_id, message id) of every acknowledged message.
    messages: Vec<(String, String)>,
    sent: usize,
}

/// Sends over one socket as fast as acks come back (8 in flight), recording every ack, until
/// the socket dies.
async fn keep_sending(
    mut socket: WsClient,
    room: String,
    label: String,
    acked: Arc<Mutex<Acked>>,
    progress: watch::Sender<usize>,
) {
    let mut n = 0;
    let send = async |socket: &mut WsClient, n: &mut usize| {
        let frame = json!({"type": "send_message", "room_id": room, "content": format!("{label} {n}"),
            "client_msg_id": format!("{label}-{n}")});
        *n += 1;
        let ok = socket
            .send_raw(tokio_tungstenite::tungstenite::Message::text(
                frame.to_string(),
            ))
            .await
            .is_ok();
        if ok {
            acked.lock().unwrap().sent += 1;
        }
        ok
    };
    for _ in 0..8 {
        if !send(&mut socket, &mut n).await {
            return;
        }
    }
    loop {
        match socket.next_event(Duration::from_secs(10)).await {
            Some(Event::Frame(frame)) if frame["type"] == "ack" => {
                let message = &frame["message"];
                let count = {
                    let mut acked = acked.lock().unwrap();
                    acked.messages.push((
                        message["client_msg_id"].as_str().unwrap().to_string(),
                        message["id"].as_str().unwrap().to_string(),
                    ));
                    acked.messages.len()
                };
                let _ = progress.send(count);
                if !send(&mut socket, &mut n).await {
                    return;
                }
            }
            Some(Event::Frame(frame)) if frame["type"] == "error" => {
                panic!("a send failed: {frame}")
            }
            Some(Event::Frame(_)) => {}
            _ => return,
        }
    }
}

/// Four sockets keep sending into one room; after 300 acks the binary is killed (SIGKILL) with
/// sends in flight, and started again on the same database. Every acknowledged message is in
/// history, none twice, ids increasing.
async fn a_crash_loses_no_acknowledged_message(backend: Backend) {
    let env = TestEnv::new(&backend).await;
    let data_dir = env.dir.path().to_string_lossy().into_owned();
    let mut vars = vec![
        ("CHATTER__DATA_DIR", data_dir.as_str()),
        ("CHATTER__AUTH__JWT_SECRET", TEST_JWT_SECRET),
        ("CHATTER__RATE_LIMIT__AUTH_PER_MINUTE", "100000"),
        ("CHATTER__RATE_LIMIT__REST_PER_MINUTE", "100000"),
        ("CHATTER__RATE_LIMIT__WS_MESSAGES_PER_SEC", "100000"),
        ("CHATTER__RATE_LIMIT__WS_MESSAGES_BURST", "100000"),
    ];
    if !env.database_url.is_empty() {
        vars.push(("DATABASE_URL", env.database_url.as_str()));
    }
    let server = Server::start(env.dir.path(), &vars).await;
    let client = reqwest::Client::new();
    let registered: Value = client
        .post(format!("{}/api/v1/auth/register", server.base))
        .json(&json!({"username": "alice", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = registered["access_token"].as_str().unwrap().to_string();
    let room: Value = client
        .post(format!("{}/api/v1/rooms", server.base))
        .bearer_auth(&token)
        .json(&json!({"name": "crash", "kind": "private"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room = room["id"].as_str().unwrap().to_string();

    let acked = Arc::new(Mutex::new(Acked::default()));
    let (progress, mut watched) = watch::channel(0);
    let mut senders = Vec::new();
    for i in 0..4 {
        let socket = WsClient::connect_addr(server.addr, &token).await;
        senders.push(tokio::spawn(keep_sending(
            socket,
            room.clone(),
            format!("c{i}"),
            acked.clone(),
            progress.clone(),
        )));
    }
    drop(progress);
    watched.wait_for(|&count| count >= 300).await.unwrap();
    server.kill().await;
    for sender in senders {
        sender.await.unwrap();
    }
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    assert!(
        acked.sent > acked.messages.len(),
        "the kill came with sends in flight ({} sent, {} acked)",
        acked.sent,
        acked.messages.len()
    );

    let server = Server::start(env.dir.path(), &vars).await;
    let mut stored: Vec<(String, String)> = Vec::new();
    let mut after = "00000000-0000-0000-0000-000000000000".to_string();
    loop {
        let page: Value = client
            .get(format!(
                "{}/api/v1/rooms/{room}/messages?limit=100&after={after}",
                server.base
            ))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            stored.push((
                item["client_msg_id"].as_str().unwrap().to_string(),
                item["id"].as_str().unwrap().to_string(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => after = next.to_string(),
            None => break,
        }
    }
    let ids: Vec<&String> = stored.iter().map(|(_, id)| id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    let client_ids: HashSet<&String> = stored.iter().map(|(c, _)| c).collect();
    assert_eq!(client_ids.len(), stored.len(), "no message stored twice");
    let stored: HashSet<(String, String)> = stored.into_iter().collect();
    let missing: Vec<_> = acked
        .messages
        .iter()
        .filter(|m| !stored.contains(*m))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged messages were lost: {missing:?}",
        missing.len(),
        acked.messages.len()
    );
    server.stop().await;
}

backend_tests!(
    many_senders_one_order,
    a_fan_out_behind_its_whole_buffer_skips_nothing,
    a_retry_storm_stores_one_message,
    a_crash_loses_no_acknowledged_message
);
