//! A small WebSocket client for the realtime tests: connect (header, `?token=` or first frame),
//! read JSON frames with bounded timeouts, and see how the server closed the socket.

#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{TestServer, TestUser};

pub type RawWs = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a frame the test waits for may take to arrive.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// How long "nothing more arrives" is watched for.
pub const QUIET: Duration = Duration::from_millis(500);

/// How a client authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// `Authorization: Bearer …` on the upgrade request.
    Header(&'a str),
    /// `/ws?token=…`
    Query(&'a str),
    /// No credentials at the upgrade: the server asks with `auth_required` (the test answers).
    None,
}

/// What the next read produced.
#[derive(Debug)]
pub enum Event {
    Frame(Value),
    /// A close frame, with its code (None: a close frame without a code).
    Closed(Option<u16>),
    /// The stream ended (or failed) without a close frame.
    Gone(String),
}

/// The upgrade request for `path` (e.g. `/ws`, `/ws/{room_id}`) with `auth` and extra headers.
pub fn request(
    server: &TestServer,
    path: &str,
    auth: Auth<'_>,
    headers: &[(&str, &str)],
) -> tungstenite::handshake::client::Request {
    let mut url = format!("ws://{}{}", server.addr, path);
    if let Auth::Query(token) = auth {
        let sep = if path.contains('?') { '&' } else { '?' };
        url.push(sep);
        url.push_str("token=");
        url.push_str(token);
    }
    let mut req = url.into_client_request().expect("a WebSocket request");
    if let Auth::Header(token) = auth {
        req.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
    }
    for (name, value) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    req
}

/// Opens a raw socket (the upgrade only); errors are returned, e.g. a refused upgrade.
pub async fn open(
    server: &TestServer,
    path: &str,
    auth: Auth<'_>,
    headers: &[(&str, &str)],
) -> Result<RawWs, tungstenite::Error> {
    let req = request(server, path, auth, headers);
    let (ws, _) = tokio::time::timeout(FRAME_TIMEOUT, tokio_tungstenite::connect_async(req))
        .await
        .expect("the WebSocket upgrade timed out")?;
    Ok(ws)
}

pub struct WsClient {
    pub ws: RawWs,
    /// The `welcome` frame (Null until one was read).
    pub welcome: Value,
    /// Every JSON frame read, when `recording` (for tests that check all a socket received,
    /// including frames other helpers skipped).
    pub log: Vec<Value>,
    pub recording: bool,
    refs: u64,
}

impl WsClient {
    /// Wraps an open socket without reading anything.
    pub fn from_raw(ws: RawWs) -> WsClient {
        WsClient {
            ws,
            welcome: Value::Null,
            log: Vec::new(),
            recording: false,
            refs: 0,
        }
    }

    /// Connects to `/ws` as `user` with the Authorization header and reads the welcome.
    pub async fn connect(server: &TestServer, user: &TestUser) -> WsClient {
        WsClient::connect_at(server, "/ws", Auth::Header(&user.access_token)).await
    }

    /// Connects to `path` with `auth` and reads the welcome. With `Auth::None` this is an error:
    /// use `connect_first_frame`.
    pub async fn connect_at(server: &TestServer, path: &str, auth: Auth<'_>) -> WsClient {
        let ws = open(server, path, auth, &[])
            .await
            .unwrap_or_else(|e| panic!("WebSocket upgrade to {path} failed: {e}"));
        let mut client = WsClient::from_raw(ws);
        client.read_welcome().await;
        client
    }

    /// Connects to `/ws` on any address (e.g. a chatter child process) with the header.
    pub async fn connect_addr(addr: std::net::SocketAddr, token: &str) -> WsClient {
        let mut req = format!("ws://{addr}/ws")
            .into_client_request()
            .expect("a WebSocket request");
        req.headers_mut().insert(
            "authorization",
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        let (ws, _) = tokio::time::timeout(FRAME_TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .expect("the WebSocket upgrade timed out")
            .expect("the WebSocket upgrade");
        let mut client = WsClient::from_raw(ws);
        client.read_welcome().await;
        client
    }

    /// Connects to `/ws` with `?token=` and reads the welcome.
    pub async fn connect_query(server: &TestServer, token: &str) -> WsClient {
        WsClient::connect_at(server, "/ws", Auth::Query(token)).await
    }

    /// Connects without credentials, expects `auth_required`, answers with the auth frame and
    /// reads the welcome.
    pub async fn connect_first_frame(server: &TestServer, token: &str) -> WsClient {
        let ws = open(server, "/ws", Auth::None, &[]).await.expect("upgrade");
        let mut client = WsClient::from_raw(ws);
        let first = client.next_frame().await;
        assert_eq!(
            first,
            json!({"type": "auth_required"}),
            "the server asks first"
        );
        client
            .send_json(&json!({"type": "auth", "token": token}))
            .await;
        client.read_welcome().await;
        client
    }

    async fn read_welcome(&mut self) {
        let welcome = self.next_frame().await;
        assert_eq!(welcome["type"], "welcome", "first frame: {welcome}");
        self.welcome = welcome;
    }

    /// This socket's connection id, from the welcome.
    pub fn connection_id(&self) -> String {
        self.welcome["connection_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no connection_id in {}", self.welcome))
            .to_string()
    }

    pub async fn send_json(&mut self, frame: &Value) {
        self.ws
            .send(Message::text(frame.to_string()))
            .await
            .expect("send a frame");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::text(text.to_string()))
            .await
            .expect("send a frame");
    }

    pub async fn send_raw(&mut self, message: Message) -> Result<(), tungstenite::Error> {
        self.ws.send(message).await
    }

    /// The next data frame, close or end within `timeout` (None: nothing arrived). Pings and
    /// pongs are skipped.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let read = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            return Some(match read {
                Some(Ok(Message::Text(text))) => Event::Frame(
                    serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("a frame that is not JSON ({e}): {text}")),
                ),
                Some(Ok(Message::Binary(bytes))) => {
                    panic!("the server sent a binary frame ({} bytes)", bytes.len())
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(frame))) => Event::Closed(frame.map(|f| u16::from(f.code))),
                Some(Err(err)) => Event::Gone(err.to_string()),
                None => Event::Gone("end of stream".into()),
            });
        }
    }

    /// The next JSON frame within `timeout`, None when none came. Panics on close.
    pub async fn try_next_frame(&mut self, timeout: Duration) -> Option<Value> {
        match self.next_event(timeout).await? {
            Event::Frame(frame) => {
                if self.recording {
                    self.log.push(frame.clone());
                }
                Some(frame)
            }
            other => panic!("expected a frame, the socket ended: {other:?}"),
        }
    }

    /// The next JSON frame (bounded wait; panics on timeout or close).
    pub async fn next_frame(&mut self) -> Value {
        self.try_next_frame(FRAME_TIMEOUT)
            .await
            .expect("no frame arrived in time")
    }

    /// The next frame of type `kind`, skipping others (bounded wait).
    pub async fn next_of_type(&mut self, kind: &str) -> Value {
        self.next_of_type_within(kind, FRAME_TIMEOUT).await
    }

    pub async fn next_of_type_within(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next_frame(left).await {
                Some(frame) if frame["type"] == kind => return frame,
                Some(_) => continue,
                None => panic!("no {kind} frame arrived within {timeout:?}"),
            }
        }
    }

    /// The next frame matching `pred`, skipping others (bounded wait).
    pub async fn next_matching(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_next_frame(left).await {
                Some(frame) if pred(&frame) => return frame,
                Some(_) => continue,
                None => panic!("no frame arrived that is {what}"),
            }
        }
    }

    /// Reads until the server closes; returns the close code (text frames before it are skipped).
    /// Panics when the socket ends without a close frame or nothing happens in time.
    pub async fn expect_close(&mut self) -> u16 {
        self.expect_close_within(FRAME_TIMEOUT).await
    }

    pub async fn expect_close_within(&mut self, timeout: Duration) -> u16 {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_event(left).await {
                Some(Event::Frame(_)) => continue,
                Some(Event::Closed(Some(code))) => return code,
                Some(other) => panic!("expected a close frame with a code, got {other:?}"),
                None => panic!("the server did not close the socket within {timeout:?}"),
            }
        }
    }

    /// A fresh `ref` value for a frame.
    pub fn next_ref(&mut self) -> String {
        self.refs += 1;
        format!("r{}", self.refs)
    }

    /// Sends `frame` with a fresh `ref` and returns the `ack`/`error`/reply carrying that ref
    /// (other frames are skipped).
    pub async fn request(&mut self, mut frame: Value) -> Value {
        let reference = self.next_ref();
        frame["ref"] = json!(reference);
        self.send_json(&frame).await;
        let what = format!("the reply to {frame}");
        self.next_matching(&what, |f| f["ref"] == json!(reference))
            .await
    }

    /// Like `request`, asserting an `ack`.
    pub async fn ack(&mut self, frame: Value) -> Value {
        let reply = self.request(frame.clone()).await;
        assert_eq!(reply["type"], "ack", "{frame} → {reply}");
        reply
    }

    /// Like `request`, asserting an `error` with `code`.
    pub async fn error(&mut self, frame: Value, code: &str) -> Value {
        let reply = self.request(frame.clone()).await;
        assert_eq!(reply["type"], "error", "{frame} → {reply}");
        assert_eq!(reply["code"], code, "{frame} → {reply}");
        reply
    }

    /// An app-level ping round trip: proves the socket is live and that every frame the
    /// server queued before it has arrived. Returns the frames that came before the pong.
    pub async fn sync(&mut self) -> Vec<Value> {
        let reference = self.next_ref();
        self.send_json(&json!({"type": "ping", "ref": reference}))
            .await;
        let mut before = Vec::new();
        loop {
            let frame = self.next_frame().await;
            if frame["type"] == "pong" && frame["ref"] == json!(reference) {
                return before;
            }
            before.push(frame);
        }
    }

    /// Reads until a frame of each of `kinds` has arrived (in any order, others skipped);
    /// returns the first of each, in the order of `kinds`.
    pub async fn collect_kinds(&mut self, kinds: &[&str]) -> Vec<Value> {
        let mut found: Vec<Option<Value>> = vec![None; kinds.len()];
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        while found.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let Some(frame) = self.try_next_frame(left).await else {
                let missing: Vec<&&str> = kinds
                    .iter()
                    .zip(&found)
                    .filter(|(_, f)| f.is_none())
                    .map(|(k, _)| k)
                    .collect();
                panic!("no frame of types {missing:?} arrived");
            };
            for (kind, slot) in kinds.iter().zip(found.iter_mut()) {
                if slot.is_none() && frame["type"] == *kind {
                    *slot = Some(frame.clone());
                }
            }
        }
        found.into_iter().flatten().collect()
    }

    /// With `recording` on: reads on until the log holds a frame of each of `kinds` matching
    /// `pred` (bounded wait).
    pub async fn wait_logged(&mut self, kinds: &[&str], pred: impl Fn(&Value) -> bool) {
        assert!(self.recording, "wait_logged needs recording");
        let deadline = tokio::time::Instant::now() + FRAME_TIMEOUT;
        loop {
            let missing: Vec<&str> = kinds
                .iter()
                .copied()
                .filter(|k| !self.log.iter().any(|f| f["type"] == *k && pred(f)))
                .collect();
            if missing.is_empty() {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if self.try_next_frame(left).await.is_none() {
                panic!("no frame of types {missing:?} arrived");
            }
        }
    }

    /// Every frame that arrives until the socket has been quiet for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Some(frame) = self.try_next_frame(quiet).await {
            frames.push(frame);
        }
        frames
    }

    /// Asserts that nothing arrives (a ping round trip first, then `QUIET`); returns nothing,
    /// panics listing what came.
    pub async fn expect_nothing(&mut self, what: &str) {
        let mut frames = self.sync().await;
        frames.extend(self.drain(QUIET).await);
        assert!(frames.is_empty(), "{what}: unexpected frames {frames:?}");
    }

    /// Collects frames (after a sync and a quiet period) and asserts none of them mentions
    /// `needle` anywhere in its JSON text.
    pub async fn expect_no_mention(&mut self, needle: &str) -> Vec<Value> {
        let mut frames = self.sync().await;
        frames.extend(self.drain(QUIET).await);
        for frame in &frames {
            assert!(
                !frame.to_string().contains(needle),
                "a frame mentions {needle}: {frame}"
            );
        }
        frames
    }

    /// Closes from the client side (normal closure) and waits for the server's reply.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(FRAME_TIMEOUT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}

/// Creates a room of `kind` ("public" or "private") owned by `owner` with `members`; returns its id.
pub async fn room_with(
    server: &TestServer,
    owner: &TestUser,
    kind: &str,
    name: &str,
    members: &[&TestUser],
) -> String {
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    let room = server
        .create_room(
            owner,
            json!({"name": name, "kind": kind, "member_ids": ids}),
        )
        .await;
    crate::common::id_of(&room)
}
