//! Chatter's message pipeline beside a bare relay, in one run: stored and acknowledged
//! messages per second, deliveries per second, send→ack and send→delivery latency, and
//! whether anything was lost, duplicated or reordered. A benchmark, not a test.
//!
//! Long (~1,000 lines) on purpose: one program that must run Chatter and the relay under the
//! same load in one run; the load shapes, clients and report share every helper here.
//!
//!   cargo build --release --bin chatter --example pipeline_bench
//!   target/release/examples/pipeline_bench [--postgres URL] [--sqlite-only|--postgres-only] [--seconds N] [--shapes abcde]
//!
//! For each backend (SQLite in a temp dir; PostgreSQL in a fresh database on the server of
//! `--postgres`, default postgres://postgres@127.0.0.1:5432/postgres) the tool seeds users,
//! sessions and rooms straight into the database, starts the release `chatter` binary beside
//! this tool (rate limits raised, log level warn), and drives the same load through the same
//! client code at Chatter and at a bare relay that runs inside this tool: a minimal
//! tokio-tungstenite broadcast server that numbers each message, acknowledges it and copies one
//! encoded frame to every member socket, and stores nothing. Its frames carry the same fields as
//! Chatter's and its sockets have Chatter's buffer sizes, so the load generator does the same
//! work for both. Ratios hold on a noisy machine
//! because both run in one process tree on the same cores, one after the other.
//!
//! Shapes: (a) 50 rooms × 2 members, both send, each with up to 16 unacknowledged messages;
//! (b) the same paced at 5,000 messages/s in all; (c) one 1,000-member room, 10 senders;
//! (d) 10 rooms × 100 members, 2 senders each; (e) the room of (c) paced at 300 messages/s in
//! all (delivery latency below saturation).
//!
//! Columns: msgs/s stored and acknowledged while the load ran; deliveries/s of `message_new`
//! to member sockets; latencies from send to ack and from send to each delivery; `lost`:
//! acknowledged messages some member never received; `dup`: messages a member received twice;
//! `order`: deliveries whose id was not above the previous one in that room; `unacked`: sends
//! still unanswered 20 s after the load stopped (the server fell that far behind);
//! `settled`: how long the sockets took to fall quiet after connecting.

use chatter::domain::{DisplayName, RoomName, Username};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chatter::Settings;
use chatter::auth::tokens::TokenKeys;
use chatter::store::Store;
use chatter::store::rooms::NewRoom;
use chatter::store::sessions::NewSession;
use chatter::store::users::NewUser;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use uuid::Uuid;

const JWT_SECRET: &str = "pipeline-bench-secret-pipeline-bench-secret";
const USERS: usize = 1_000;

#[derive(Clone, Copy)]
struct Shape {
    key: char,
    label: &'static str,
    rooms: usize,
    members: usize,
    senders_per_room: usize,
    /// Unacknowledged messages a sender may have in flight (closed loop).
    window: usize,
    /// Messages per second across all senders (open loop), instead of as fast as acks allow.
    pace: Option<u32>,
}

const SHAPES: [Shape; 5] = [
    Shape {
        key: 'a',
        label: "(a) 50 rooms × 2, 100 senders, window 16",
        rooms: 50,
        members: 2,
        senders_per_room: 2,
        window: 16,
        pace: None,
    },
    Shape {
        key: 'b',
        label: "(b) 50 rooms × 2, paced 5,000 msgs/s",
        rooms: 50,
        members: 2,
        senders_per_room: 2,
        window: 1_000,
        pace: Some(5_000),
    },
    Shape {
        key: 'c',
        label: "(c) 1 room × 1,000, 10 senders, window 4",
        rooms: 1,
        members: 1_000,
        senders_per_room: 10,
        window: 4,
        pace: None,
    },
    Shape {
        key: 'd',
        label: "(d) 10 rooms × 100, 20 senders, window 4",
        rooms: 10,
        members: 100,
        senders_per_room: 2,
        window: 4,
        pace: None,
    },
    Shape {
        key: 'e',
        label: "(e) 1 room × 1,000, paced 300 msgs/s",
        rooms: 1,
        members: 1_000,
        senders_per_room: 10,
        window: 1_000,
        pace: Some(300),
    },
];

struct Options {
    postgres: Option<String>,
    sqlite: bool,
    seconds: u64,
    shapes: Vec<Shape>,
    binary: PathBuf,
}

fn options() -> anyhow::Result<Options> {
    let mut postgres = Some("postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let mut sqlite = true;
    let mut seconds = 5;
    let mut shapes = SHAPES.to_vec();
    let here = std::env::current_exe()?;
    // target/release/examples/pipeline_bench → target/release/chatter
    let mut binary = here
        .parent()
        .and_then(|p| p.parent())
        .context("where am I")?
        .join("chatter");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--postgres" => postgres = Some(args.next().context("--postgres URL")?),
            "--sqlite-only" => postgres = None,
            "--postgres-only" => sqlite = false,
            "--seconds" => seconds = args.next().context("--seconds N")?.parse()?,
            "--shapes" => {
                let keys = args.next().context("--shapes abcd")?;
                shapes.retain(|s| keys.contains(s.key));
            }
            "--binary" => binary = args.next().context("--binary PATH")?.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    if let Some(url) = &postgres
        && !(url.contains("@127.") || url.contains("@localhost"))
    {
        bail!("load is only ever sent to services on this machine");
    }
    Ok(Options {
        postgres,
        sqlite,
        seconds: seconds.clamp(1, 60),
        shapes,
        binary,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = options()?;
    if !options.binary.exists() {
        bail!(
            "{} is missing: cargo build --release --bin chatter --example pipeline_bench",
            options.binary.display()
        );
    }
    let mut backends = Vec::new();
    if options.sqlite {
        backends.push(("SQLite", None));
    }
    if let Some(url) = &options.postgres {
        backends.push(("PostgreSQL", Some(url.clone())));
    }
    println!(
        "{} s of load per shape; {} cores; chatter = {}",
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        options.binary.display()
    );
    for (name, postgres) in backends {
        let world = World::seed(postgres.as_deref()).await?;
        let chatter = world.start_chatter(&options.binary).await?;
        for shape in &options.shapes {
            let relay = Relay::start(&world.topology(shape))?;
            let base = format!("ws://{}", relay.addr);
            let bare = drive(
                &base,
                &world.relay_tokens(),
                &world.topology(shape),
                shape,
                options.seconds,
            )
            .await?;
            drop(relay);
            let base = format!("ws://{}", chatter.addr);
            let real = drive(
                &base,
                &world.tokens,
                &world.topology(shape),
                shape,
                options.seconds,
            )
            .await?;
            print_pair(name, shape, &bare, &real);
        }
        chatter.stop().await;
        world.cleanup().await;
    }
    Ok(())
}

/// Users, their tokens and each shape's rooms, seeded straight into a fresh database.
struct World {
    dir: tempfile::TempDir,
    settings: Settings,
    tokens: Vec<String>,
    /// Room ids per shape key, with member indexes into `tokens`.
    rooms: HashMap<char, Vec<(Uuid, Vec<usize>)>>,
    /// The server URL and the database name to drop afterwards (PostgreSQL).
    postgres: Option<(String, String)>,
}

/// What the load sees of a shape: rooms (as text ids) and their members' indexes.
type Topology = Vec<(String, Vec<usize>)>;

impl World {
    async fn seed(postgres: Option<&str>) -> anyhow::Result<World> {
        let dir = tempfile::tempdir()?;
        let mut settings = Settings::defaults();
        settings.data_dir = dir.path().to_path_buf();
        let mut dropped = None;
        if let Some(server) = postgres {
            use sqlx::Connection;
            let name = format!(
                "chatter_bench_{}",
                &Uuid::new_v4().simple().to_string()[..8]
            );
            let mut admin = sqlx::PgConnection::connect(server).await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await?;
            let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
            settings.database.url = format!("{base}/{name}").into();
            dropped = Some((server.to_string(), name));
        }
        let store = Store::connect(&settings).await?;
        store.migrate_up().await?;
        settings.auth.jwt_secret = JWT_SECRET.into();
        let keys = TokenKeys::new(JWT_SECRET.as_bytes(), &settings);
        let mut users = Vec::with_capacity(USERS);
        let mut tokens = Vec::with_capacity(USERS);
        let run = &Uuid::new_v4().simple().to_string()[..6];
        for i in 0..USERS {
            let name = format!("b{run}_{i}");
            let user = store
                .create_user(NewUser {
                    username: &Username::parse(&name).map_err(anyhow::Error::msg)?,
                    email: None,
                    display_name: &DisplayName::parse(&name).map_err(anyhow::Error::msg)?,
                    // Nobody signs in with a password here: sessions are made below.
                    password_hash: "!",
                })
                .await?;
            let (session, _) = store
                .create_session(NewSession {
                    user_id: user.id,
                    device_id: "bench",
                    user_agent: "pipeline_bench",
                    ip: "127.0.0.1",
                    refresh_hash: &Uuid::new_v4().as_bytes()[..],
                    expires_at: chrono::Utc::now() + chrono::Duration::days(1),
                })
                .await?;
            tokens.push(keys.issue_access(user.id, session.id)?);
            users.push(user.id);
        }
        let mut rooms = HashMap::new();
        for shape in SHAPES {
            let mut list = Vec::new();
            for r in 0..shape.rooms {
                let members: Vec<usize> = (r * shape.members..(r + 1) * shape.members).collect();
                let others: Vec<Uuid> = members[1..].iter().map(|&m| users[m]).collect();
                let room = store
                    .create_room(NewRoom {
                        kind: chatter::domain::RoomKind::Public,
                        name: Some(
                            &RoomName::parse(&format!("{} {r}", shape.key))
                                .map_err(anyhow::Error::msg)?,
                        ),
                        topic: None,
                        alias: None,
                        dm_key: None,
                        creator: users[members[0]],
                        creator_role: chatter::domain::Role::Owner,
                        members: &others,
                    })
                    .await?;
                list.push((room.id, members));
            }
            rooms.insert(shape.key, list);
        }
        store.close().await;
        Ok(World {
            dir,
            settings,
            tokens,
            rooms,
            postgres: dropped,
        })
    }

    fn topology(&self, shape: &Shape) -> Topology {
        self.rooms[&shape.key]
            .iter()
            .map(|(id, members)| (id.to_string(), members.clone()))
            .collect()
    }

    /// The relay knows users by index.
    fn relay_tokens(&self) -> Vec<String> {
        (0..self.tokens.len()).map(|i| i.to_string()).collect()
    }

    async fn start_chatter(&self, binary: &PathBuf) -> anyhow::Result<Chatter> {
        let free = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = free.local_addr()?;
        drop(free);
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", addr.port().to_string())
            .env("CHATTER__DATA_DIR", &self.settings.data_dir)
            .env("CHATTER__DATABASE__URL", self.settings.database_url())
            .env("CHATTER__AUTH__JWT_SECRET", JWT_SECRET)
            .env("CHATTER__LOG__LEVEL", "warn")
            .env("CHATTER__RATE_LIMIT__REST_PER_MINUTE", "10000000")
            .env("CHATTER__RATE_LIMIT__WS_MESSAGES_PER_SEC", "10000000")
            .env("CHATTER__RATE_LIMIT__WS_MESSAGES_BURST", "10000000")
            .current_dir(self.dir.path())
            // Warnings and errors, should there be any, go to a file beside the results.
            .stdout(std::fs::File::create(
                std::env::temp_dir().join("pipeline_bench_chatter.log"),
            )?)
            .kill_on_drop(true)
            .spawn()
            .context("starting chatter")?;
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = http.get(format!("http://{addr}/health")).send().await
                && res.status().is_success()
            {
                break;
            }
            if Instant::now() > deadline {
                bail!("chatter did not answer /health within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Chatter { child, addr })
    }

    async fn cleanup(self) {
        if let Some((server, name)) = self.postgres {
            use sqlx::Connection;
            if let Ok(mut admin) = sqlx::PgConnection::connect(&server).await {
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await;
            }
        }
    }
}

struct Chatter {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl Chatter {
    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// What one run of a shape measured.
#[derive(Default)]
struct Outcome {
    /// How long the sockets took to fall quiet before the load.
    settled: Duration,
    seconds: f64,
    sent: u64,
    acked: u64,
    /// Acks that arrived while the load ran (the throughput figure).
    acked_in_window: u64,
    errors: u64,
    deliveries_in_window: u64,
    expected: u64,
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
    ack_us: Vec<u32>,
    delivery_us: Vec<u32>,
}

#[derive(Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    message: Option<Carried<'a>>,
}

#[derive(Deserialize)]
struct Carried<'a> {
    #[serde(borrow)]
    id: &'a str,
    #[serde(borrow)]
    room_id: &'a str,
    #[serde(borrow)]
    content: &'a str,
}

/// Content is `t<µs since start> s<sender> n<number>`: every reader can time and identify it.
fn parse_content(content: &str) -> Option<(u64, u32, u32)> {
    let mut parts = content.split(' ');
    let t = parts.next()?.strip_prefix('t')?.parse().ok()?;
    let s = parts.next()?.strip_prefix('s')?.parse().ok()?;
    let n = parts.next()?.strip_prefix('n')?.parse().ok()?;
    Some((t, s, n))
}

struct Shared {
    start: Instant,
    stop: AtomicBool,
    stop_at_us: AtomicU64,
    sent: AtomicU64,
    acked: AtomicU64,
    acked_in_window: AtomicU64,
    errors: AtomicU64,
    delivered: AtomicU64,
    delivered_in_window: AtomicU64,
    ack_us: Mutex<Vec<u32>>,
    /// When any reader last got a frame: the load starts once the sockets are quiet.
    last_frame_us: AtomicU64,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
    fn in_window(&self, at: u64) -> bool {
        !self.stop.load(Ordering::Relaxed) || at <= self.stop_at_us.load(Ordering::Relaxed)
    }
}

/// What one reader saw: unique messages, duplicates, order breaks, delivery latencies.
#[derive(Default)]
struct Seen {
    unique: u64,
    duplicates: u64,
    out_of_order: u64,
    delivery_us: Vec<u32>,
}

async fn drive(
    base: &str,
    tokens: &[String],
    topology: &Topology,
    shape: &Shape,
    seconds: u64,
) -> anyhow::Result<Outcome> {
    let shared = Arc::new(Shared {
        start: Instant::now(),
        stop: AtomicBool::new(false),
        stop_at_us: AtomicU64::new(u64::MAX),
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        acked_in_window: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        delivered_in_window: AtomicU64::new(0),
        ack_us: Mutex::new(Vec::new()),
        last_frame_us: AtomicU64::new(0),
    });
    let rooms: HashSet<String> = topology.iter().map(|(id, _)| id.clone()).collect();
    let rooms = Arc::new(rooms);
    // One socket per member; senders are the first members of each room.
    let mut readers = Vec::new();
    let mut senders = Vec::new();
    let mut opened = 0;
    for (room, members) in topology {
        for (i, &member) in members.iter().enumerate() {
            let url = format!("{base}/ws?token={}", tokens[member]);
            let socket = connect(&url).await?;
            opened += 1;
            let (sink, stream) = socket.split();
            let window = Arc::new(Semaphore::new(shape.window));
            readers.push(tokio::spawn(read(
                stream,
                shared.clone(),
                rooms.clone(),
                (i < shape.senders_per_room).then(|| window.clone()),
            )));
            if i < shape.senders_per_room {
                senders.push((sink, room.clone(), window, member as u32));
            } else {
                // Kept open: a reader whose sink is dropped would close its socket.
                senders.push((sink, String::new(), window, u32::MAX));
            }
        }
    }
    let sender_count = senders.iter().filter(|s| !s.1.is_empty()).count();
    let _ = opened;
    // Connecting a thousand members makes Chatter announce each one's presence to the others:
    // the load starts once that has passed (no frame for half a second; a minute at most), so
    // what is measured is messages alone.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let quiet = shared
            .now_us()
            .saturating_sub(shared.last_frame_us.load(Ordering::Relaxed));
        if quiet > 500_000 {
            break;
        }
    }
    let settled = settle.elapsed();
    let interval = shape
        .pace
        .map(|rate| Duration::from_secs_f64(sender_count as f64 / rate as f64));
    let started = shared.now_us();
    let mut tasks = Vec::new();
    let mut idle_sinks = Vec::new();
    for (mut sink, room, window, id) in senders {
        if room.is_empty() {
            idle_sinks.push(sink);
            continue;
        }
        let shared = shared.clone();
        // Users take part in several shapes: a shape's ids must not repeat an earlier one's.
        let key = shape.key;
        tasks.push(tokio::spawn(async move {
            let mut tick = interval.map(|every| {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                tick
            });
            let mut n: u32 = 0;
            while !shared.stop.load(Ordering::Relaxed) {
                if let Some(tick) = &mut tick {
                    tick.tick().await;
                }
                let Ok(permit) = window.clone().acquire_owned().await else {
                    break;
                };
                permit.forget();
                let frame = format!(
                    r#"{{"type":"send_message","ref":{n},"room_id":"{room}","client_msg_id":"{key}{id}-{n}","content":"t{} s{id} n{n}"}}"#,
                    shared.now_us()
                );
                if sink.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
                shared.sent.fetch_add(1, Ordering::Relaxed);
                n += 1;
            }
            sink
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let stopped = shared.now_us();
    shared.stop_at_us.store(stopped, Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);
    let mut sinks = idle_sinks;
    for task in tasks {
        // A sender blocked on a full window is released once its acks arrive, or by the drain deadline.
        if let Ok(Ok(sink)) = tokio::time::timeout(Duration::from_secs(20), task).await {
            sinks.push(sink);
        }
    }
    // Drain: until every sent message is acknowledged and every acknowledged one delivered to
    // every member, or 20 s pass.
    let members_of: HashMap<&str, u64> = topology
        .iter()
        .map(|(id, m)| (id.as_str(), m.len() as u64))
        .collect();
    let per_message = members_of.values().copied().max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let acked = shared.acked.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed);
        let delivered = shared.delivered.load(Ordering::Relaxed);
        if acked >= shared.sent.load(Ordering::Relaxed)
            && delivered >= shared.acked.load(Ordering::Relaxed) * per_message
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for mut sink in sinks {
        let _ = sink.close().await;
    }
    let mut outcome = Outcome {
        settled,
        seconds: (stopped - started) as f64 / 1e6,
        sent: shared.sent.load(Ordering::Relaxed),
        acked: shared.acked.load(Ordering::Relaxed),
        acked_in_window: shared.acked_in_window.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        deliveries_in_window: shared.delivered_in_window.load(Ordering::Relaxed),
        expected: shared.acked.load(Ordering::Relaxed) * per_message,
        ack_us: std::mem::take(&mut *shared.ack_us.lock().unwrap()),
        ..Outcome::default()
    };
    // Each reader ends once the server has answered its close: after every frame before it.
    for reader in readers {
        // A reader that never finished counts what it missed as lost.
        if let Ok(Ok(seen)) = tokio::time::timeout(Duration::from_secs(10), reader).await {
            outcome.unique += seen.unique;
            outcome.duplicates += seen.duplicates;
            outcome.out_of_order += seen.out_of_order;
            outcome.delivery_us.extend(seen.delivery_us);
        }
    }
    Ok(outcome)
}

type Stream = futures::stream::SplitStream<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
>;

/// Reads one socket until it closes (the drive closes it): acks free the window, every
/// message_new of the shape's rooms is checked and timed.
async fn read(
    mut stream: Stream,
    shared: Arc<Shared>,
    rooms: Arc<HashSet<String>>,
    window: Option<Arc<Semaphore>>,
) -> Seen {
    let mut seen = Seen::default();
    let mut got: HashSet<(u32, u32)> = HashSet::new();
    let mut last_id: HashMap<String, String> = HashMap::new();
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(incoming) = serde_json::from_str::<Incoming>(&text) else {
            // An error's `message` is text, not a message: counted as an answer that is no ack.
            if text.contains(r#""type":"error""#) {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                if let Some(window) = &window {
                    window.add_permits(1);
                }
            }
            continue;
        };
        let now = shared.now_us();
        shared.last_frame_us.store(now, Ordering::Relaxed);
        match (incoming.kind, incoming.message) {
            ("ack", Some(message)) => {
                if let Some((t, _, _)) = parse_content(message.content) {
                    shared
                        .ack_us
                        .lock()
                        .unwrap()
                        .push(now.saturating_sub(t) as u32);
                }
                shared.acked.fetch_add(1, Ordering::Relaxed);
                if shared.in_window(now) {
                    shared.acked_in_window.fetch_add(1, Ordering::Relaxed);
                }
                if let Some(window) = &window {
                    window.add_permits(1);
                }
            }
            ("message_new", Some(message)) if rooms.contains(message.room_id) => {
                let Some((t, s, n)) = parse_content(message.content) else {
                    continue;
                };
                shared.delivered.fetch_add(1, Ordering::Relaxed);
                if shared.in_window(now) {
                    shared.delivered_in_window.fetch_add(1, Ordering::Relaxed);
                }
                if got.insert((s, n)) {
                    seen.unique += 1;
                    seen.delivery_us.push(now.saturating_sub(t) as u32);
                } else {
                    seen.duplicates += 1;
                }
                match last_id.get_mut(message.room_id) {
                    Some(last) if last.as_str() >= message.id => seen.out_of_order += 1,
                    Some(last) => *last = message.id.to_string(),
                    None => {
                        last_id.insert(message.room_id.to_string(), message.id.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    seen
}

async fn connect(
    url: &str,
) -> anyhow::Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
> {
    // tungstenite zeroes its whole read buffer before every read: at its default 128 KiB, 40%
    // of the load generator's time went to memset (perf), taken from both servers' cores.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (mut socket, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), false).await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), socket.next()).await? {
            Some(Ok(Message::Text(text))) if text.contains("\"welcome\"") => return Ok(socket),
            Some(Ok(_)) => continue,
            other => bail!("no welcome: {other:?}"),
        }
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn print_pair(backend: &str, shape: &Shape, bare: &Outcome, real: &Outcome) {
    println!("\n{backend} {}", shape.label);
    println!(
        "  {:<8} {:>9} {:>13} {:>22} {:>22} {:>5} {:>4} {:>5} {:>6} {:>8} {:>7}",
        "",
        "msgs/s",
        "deliveries/s",
        "ack p50/p99/p99.9 ms",
        "delivery p50/p99/p99.9",
        "lost",
        "dup",
        "order",
        "errors",
        "unacked",
        "settled"
    );
    for (name, o) in [("relay", bare), ("chatter", real)] {
        let mut ack = o.ack_us.clone();
        ack.sort_unstable();
        let mut delivery = o.delivery_us.clone();
        delivery.sort_unstable();
        println!(
            "  {:<8} {:>9.0} {:>13.0} {:>22} {:>22} {:>5} {:>4} {:>5} {:>6} {:>8} {:>6.1}s",
            name,
            o.acked_in_window as f64 / o.seconds,
            o.deliveries_in_window as f64 / o.seconds,
            format!(
                "{:.1}/{:.1}/{:.1}",
                percentile(&ack, 0.5),
                percentile(&ack, 0.99),
                percentile(&ack, 0.999)
            ),
            format!(
                "{:.1}/{:.1}/{:.1}",
                percentile(&delivery, 0.5),
                percentile(&delivery, 0.99),
                percentile(&delivery, 0.999)
            ),
            o.expected.saturating_sub(o.unique),
            o.duplicates,
            o.out_of_order,
            o.errors,
            o.sent.saturating_sub(o.acked + o.errors),
            o.settled.as_secs_f64(),
        );
    }
    let ratio = real.acked_in_window as f64 / bare.acked_in_window.max(1) as f64;
    println!("  chatter/relay: {ratio:.3}× msgs/s");
}

/// The bare relay: numbers, acknowledges and broadcasts; stores nothing.
struct Relay {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct RelayRoom {
    members: Vec<usize>,
    state: Mutex<(u64, Uuid)>,
}

type Queue = tokio::sync::mpsc::Sender<Utf8Bytes>;

struct RelayState {
    rooms: HashMap<String, RelayRoom>,
    sockets: Vec<Mutex<Vec<Queue>>>,
}

#[derive(Deserialize)]
struct RelaySend<'a> {
    #[serde(rename = "ref")]
    reference: Option<u64>,
    #[serde(borrow)]
    room_id: &'a str,
    #[serde(borrow)]
    content: &'a str,
    #[serde(borrow)]
    client_msg_id: Option<&'a str>,
}

/// The same fields as Chatter's message view, so that both send frames of the same size and
/// the load generator parses the same bytes from each (a smaller frame would flatter the relay).
#[derive(serde::Serialize)]
struct RelayMessage<'a> {
    id: Uuid,
    room_id: &'a str,
    sender: RelaySender,
    content: &'a str,
    attachments: [(); 0],
    reactions: [(); 0],
    client_msg_id: Option<&'a str>,
    created_at: String,
    deleted: bool,
}

#[derive(serde::Serialize)]
struct RelaySender {
    id: Uuid,
    username: String,
    display_name: String,
}

impl RelaySender {
    /// Named like the users the benchmark seeds into Chatter (`b` + six characters + index).
    fn of(user: usize) -> RelaySender {
        let name = format!("b000000_{user}");
        RelaySender {
            id: Uuid::from_u128(user as u128 + 1),
            username: name.clone(),
            display_name: name,
        }
    }
}

impl Relay {
    fn start(topology: &Topology) -> anyhow::Result<Relay> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let users = topology
            .iter()
            .flat_map(|(_, m)| m.iter().copied())
            .max()
            .map_or(0, |m| m + 1);
        let state = Arc::new(RelayState {
            rooms: topology
                .iter()
                .map(|(id, members)| {
                    (
                        id.clone(),
                        RelayRoom {
                            members: members.clone(),
                            state: Mutex::new((0, Uuid::nil())),
                        },
                    )
                })
                .collect(),
            sockets: (0..users).map(|_| Mutex::new(Vec::new())).collect(),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("relay runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    while let Ok((tcp, _)) = listener.accept().await {
                        tokio::spawn(relay_connection(tcp, state.clone()));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            runtime.shutdown_background();
        });
        Ok(Relay {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }
}

#[allow(clippy::result_large_err)] // tungstenite's handshake callback type
async fn relay_connection(tcp: tokio::net::TcpStream, state: Arc<RelayState>) {
    let _ = tcp.set_nodelay(true);
    let mut user = usize::MAX;
    let callback = |request: &tokio_tungstenite::tungstenite::handshake::server::Request,
                    response| {
        if let Some(token) = request.uri().query().and_then(|q| q.strip_prefix("token=")) {
            user = token.parse().unwrap_or(usize::MAX);
        }
        Ok(response)
    };
    // Chatter's own socket buffers (src/http/ws.rs).
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(16 * 1024);
    let Ok(socket) =
        tokio_tungstenite::accept_hdr_async_with_config(tcp, callback, Some(config)).await
    else {
        return;
    };
    let Some(slot) = state.sockets.get(user) else {
        return;
    };
    let (mut sink, mut stream) = socket.split();
    let (queue, mut queued) = tokio::sync::mpsc::channel::<Utf8Bytes>(4096);
    slot.lock().unwrap().push(queue.clone());
    let _ = queue.try_send(Utf8Bytes::from_static(r#"{"type":"welcome"}"#));
    let writer = tokio::spawn(async move {
        while let Some(frame) = queued.recv().await {
            if sink.feed(Message::Text(frame)).await.is_err() {
                return;
            }
            while let Ok(frame) = queued.try_recv() {
                if sink.feed(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    while let Some(Ok(frame)) = stream.next().await {
        let Message::Text(text) = frame else { continue };
        let Ok(send) = serde_json::from_str::<RelaySend>(&text) else {
            continue;
        };
        let Some(room) = state.rooms.get(send.room_id) else {
            continue;
        };
        // Numbered and broadcast under the room's lock, so every reader sees one order.
        let mut numbered = room.state.lock().unwrap();
        numbered.0 += 1;
        let fresh = Uuid::now_v7();
        numbered.1 = if fresh > numbered.1 {
            fresh
        } else {
            Uuid::from_u128(numbered.1.as_u128() + 1)
        };
        let message = serde_json::to_string(&RelayMessage {
            id: numbered.1,
            room_id: send.room_id,
            sender: RelaySender::of(user),
            content: send.content,
            attachments: [],
            reactions: [],
            client_msg_id: send.client_msg_id,
            created_at: chatter::time::format(&chatter::time::now()),
            deleted: false,
        })
        .expect("serializable");
        let ack = format!(
            r#"{{"type":"ack","ref":{},"message":{message}}}"#,
            send.reference.unwrap_or(0)
        );
        let _ = queue.try_send(ack.into());
        let frame = Utf8Bytes::from(format!(r#"{{"type":"message_new","message":{message}}}"#));
        for &member in &room.members {
            for socket in state.sockets[member].lock().unwrap().iter() {
                let _ = socket.try_send(frame.clone());
            }
        }
        drop(numbered);
    }
    slot.lock().unwrap().retain(|q| !q.same_channel(&queue));
    drop(queue);
    let _ = writer.await;
}
