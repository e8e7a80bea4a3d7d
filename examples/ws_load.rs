//! A small, bounded load tool for a running Chatter (loopback only).
//!
//!   cargo run --release --example ws_load -- idle   URL CONNECTIONS [SERVER_PID]
//!   cargo run --release --example ws_load -- fanout URL MEMBERS MESSAGES [MEMBERS_URL]
//!
//! `idle` opens CONNECTIONS authenticated sockets (100 per user), waits for every welcome, then
//! reports the server's RSS growth per connection (read from /proc/SERVER_PID/status).
//! `fanout` puts MEMBERS sockets in one room, posts MESSAGES messages through one sender
//! socket, and reports deliveries per second until every member got every message. With
//! MEMBERS_URL (another instance of the same cluster), the members connect there while the
//! sender stays on URL: every delivery crosses the Redis bus.
//! The server needs raised limits, e.g. CHATTER__RATE_LIMIT__AUTH_PER_MINUTE=100000
//! CHATTER__RATE_LIMIT__WS_MESSAGES_PER_SEC=100000 CHATTER__RATE_LIMIT__WS_MESSAGES_BURST=100000.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ws_load idle URL CONNECTIONS [SERVER_PID] | ws_load fanout URL MEMBERS MESSAGES [MEMBERS_URL]";
    let (mode, url) = (
        args.get(1).context(usage)?,
        args.get(2)
            .context(usage)?
            .trim_end_matches('/')
            .to_string(),
    );
    if !(url.starts_with("http://127.") || url.starts_with("http://localhost")) {
        bail!("load is only ever sent to a server on this machine (http://127.x or localhost)");
    }
    let n: usize = args.get(3).context(usage)?.parse()?;
    match mode.as_str() {
        "idle" => {
            idle(
                &url,
                n.min(50_000),
                args.get(4).map(|p| p.parse()).transpose()?,
            )
            .await
        }
        "fanout" => {
            let members_url = args
                .get(5)
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| url.clone());
            if !(members_url.starts_with("http://127.")
                || members_url.starts_with("http://localhost"))
            {
                bail!(
                    "load is only ever sent to a server on this machine (http://127.x or localhost)"
                );
            }
            fanout(
                &url,
                &members_url,
                n.min(5_000),
                args.get(4).context(usage)?.parse::<usize>()?.min(10_000),
            )
            .await
        }
        _ => bail!(usage),
    }
}

async fn register(
    http: &reqwest::Client,
    url: &str,
    name: &str,
) -> anyhow::Result<(String, String)> {
    let res = http
        .post(format!("{url}/api/v1/auth/register"))
        .json(&json!({"username": name, "password": format!("{name}-load-Passw0rd")}))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("register {name}: {} {}", res.status(), res.text().await?);
    }
    let body: Value = res.json().await?;
    Ok((
        body["user"]["id"].as_str().unwrap_or_default().to_string(),
        body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ))
}

async fn connect(url: &str, token: &str) -> anyhow::Result<Socket> {
    let ws = format!("{}/ws?token={token}", url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws).await?;
    // Wait for the welcome, so the socket counts as fully authenticated.
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await? {
            Some(Ok(Message::Text(text))) if text.contains("\"welcome\"") => return Ok(socket),
            Some(Ok(_)) => continue,
            other => bail!("no welcome: {other:?}"),
        }
    }
}

fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|kb| kb * 1024)
}

async fn idle(url: &str, connections: usize, pid: Option<u32>) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let users = connections.div_ceil(100);
    let mut tokens = Vec::with_capacity(users);
    for i in 0..users {
        tokens.push(register(&http, url, &format!("idle{run}_{i}")).await?.1);
    }
    let before = pid.and_then(rss_bytes);
    let start = Instant::now();
    let mut sockets = Vec::with_capacity(connections);
    for batch in (0..connections).collect::<Vec<_>>().chunks(200) {
        let opened =
            futures::future::join_all(batch.iter().map(|i| connect(url, &tokens[i / 100]))).await;
        for socket in opened {
            sockets.push(socket?);
        }
    }
    println!(
        "{} authenticated idle sockets open in {:.1} s",
        sockets.len(),
        start.elapsed().as_secs_f64()
    );
    // Let the server settle (allocator, presence announcements) before reading its RSS.
    tokio::time::sleep(Duration::from_secs(3)).await;
    if let (Some(before), Some(after)) = (before, pid.and_then(rss_bytes)) {
        let per = after.saturating_sub(before) as f64 / sockets.len() as f64;
        println!(
            "server RSS {:.1} MiB → {:.1} MiB: {:.0} bytes per connection",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            per
        );
    }
    for mut socket in sockets {
        let _ = socket.close(None).await;
    }
    Ok(())
}

async fn fanout(
    url: &str,
    members_url: &str,
    members: usize,
    messages: usize,
) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let (_, owner_token) = register(&http, url, &format!("fan{run}_owner")).await?;
    let room: Value = http
        .post(format!("{url}/api/v1/rooms"))
        .bearer_auth(&owner_token)
        .json(&json!({"name": format!("fanout {run}"), "kind": "public"}))
        .send()
        .await?
        .json()
        .await?;
    let room_id = room["id"].as_str().context("room id")?.to_string();
    let mut tokens = Vec::with_capacity(members);
    for i in 0..members {
        let (_, token) = register(&http, url, &format!("fan{run}_{i}")).await?;
        http.post(format!("{url}/api/v1/rooms/{room_id}/join"))
            .bearer_auth(&token)
            .send()
            .await?
            .error_for_status()?;
        tokens.push(token);
    }
    let delivered = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::with_capacity(members);
    for token in &tokens {
        let mut socket = connect(members_url, token).await?;
        let delivered = delivered.clone();
        readers.push(tokio::spawn(async move {
            let mut got = 0;
            while got < messages {
                match tokio::time::timeout(Duration::from_secs(60), socket.next()).await {
                    Ok(Some(Ok(Message::Text(text)))) if text.contains("\"message_new\"") => {
                        got += 1;
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            got
        }));
    }
    let mut sender = connect(url, &owner_token).await?;
    let start = Instant::now();
    for i in 0..messages {
        let frame = json!({"type": "send_message", "room_id": room_id, "content": format!("load message {i}")});
        sender.send(Message::Text(frame.to_string().into())).await?;
    }
    let mut complete = 0;
    for reader in readers {
        if reader.await? == messages {
            complete += 1;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = delivered.load(Ordering::Relaxed);
    println!(
        "{members} members × {messages} messages: {total} deliveries in {elapsed:.2} s = {:.0} deliveries/s ({complete}/{members} members got every message){}",
        total as f64 / elapsed,
        if members_url == url {
            String::new()
        } else {
            format!("; sender on {url}, members on {members_url}")
        }
    );
    Ok(())
}
