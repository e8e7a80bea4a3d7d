//! Seeds one room with many messages (a bulk insert) and times the two hottest reads: a
//! history page and the joined-rooms list. A benchmark, not a test.
//!
//!   cargo run --release --example seed_bench -- [MESSAGES] [DATABASE_URL]
//!
//! DATABASE_URL defaults to a fresh SQLite file in a temp dir; for PostgreSQL, pass a URL of an
//! empty database (it is migrated first). On PostgreSQL the EXPLAIN ANALYZE of both queries is
//! printed too.

use chatter::domain::{DisplayName, RoomName, Username};
use std::time::{Duration, Instant};

use chatter::Settings;
use chatter::store::Store;
use chatter::store::messages::Page;
use chatter::store::rooms::NewRoom;
use chatter::store::users::NewUser;
use sqlx::Connection;
use uuid::Uuid;

const BATCH: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let total: usize = args
        .get(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let mut settings = Settings::defaults();
    settings.data_dir = dir.path().to_path_buf();
    if let Some(url) = args.get(2) {
        settings.database.url = url.clone().into();
    }
    let url = settings.database_url();
    let store = Store::connect(&settings).await?;
    store.migrate_up().await?;

    let user = store
        .create_user(NewUser {
            username: &Username::parse("bench").map_err(anyhow::Error::msg)?,
            email: None,
            display_name: &DisplayName::parse("Bench").map_err(anyhow::Error::msg)?,
            password_hash: "x",
        })
        .await?;
    // The user also belongs to 50 quieter rooms, as a real account would.
    for i in 0..50 {
        let name = format!("room {i}");
        let room = store
            .create_room(NewRoom {
                kind: chatter::domain::RoomKind::Public,
                name: Some(&RoomName::parse(&name).map_err(anyhow::Error::msg)?),
                topic: None,
                alias: None,
                dm_key: None,
                creator: user.id,
                creator_role: chatter::domain::Role::Owner,
                members: &[],
            })
            .await?;
        store
            .commit_posts(&[&chatter::store::message_batch::Post {
                room_id: room.id,
                sender_id: user.id,
                content: "hello".into(),
                reply_to_id: None,
                client_msg_id: None,
                attachment_ids: Vec::new(),
            }])
            .await?;
    }
    let room = store
        .create_room(NewRoom {
            kind: chatter::domain::RoomKind::Public,
            name: Some(&RoomName::parse("busy").map_err(anyhow::Error::msg)?),
            topic: None,
            alias: None,
            dm_key: None,
            creator: user.id,
            creator_role: chatter::domain::Role::Owner,
            members: &[],
        })
        .await?;

    println!(
        "seeding {total} messages into one room ({})",
        if url.starts_with("postgres") {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
    let start = Instant::now();
    let ids = bulk_insert(&url, room.id, user.id, total).await?;
    println!(
        "seeded in {:.1} s ({:.0} messages/s)",
        start.elapsed().as_secs_f64(),
        total as f64 / start.elapsed().as_secs_f64()
    );

    let middle = ids[ids.len() / 2];
    report("history page, latest 50", 200, || async {
        store.history(room.id, Page::Latest, 50).await.map(|_| ())
    })
    .await?;
    report("history page, 50 before the middle", 200, || async {
        store
            .history(room.id, Page::Before(middle), 50)
            .await
            .map(|_| ())
    })
    .await?;
    report("joined rooms (51 rooms, unread counts)", 200, || async {
        store.joined_rooms(user.id, None).await.map(|_| ())
    })
    .await?;
    if url.starts_with("postgres") {
        explain(&url, room.id, user.id, middle).await?;
    }
    Ok(())
}

/// Multi-row INSERTs inside one transaction; ids and seqs increase as the server's would.
async fn bulk_insert(
    url: &str,
    room: Uuid,
    sender: Uuid,
    total: usize,
) -> anyhow::Result<Vec<Uuid>> {
    let base = chrono::Utc::now() - chrono::Duration::days(30);
    let mut ids = Vec::with_capacity(total);
    let mut next = Uuid::now_v7().as_u128();
    let rows = |n: usize| {
        (0..n)
            .map(|i| {
                let p = i * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    macro_rules! seed {
        ($conn:expr) => {{
            let mut tx = $conn.begin().await?;
            let mut done = 0;
            while done < total {
                let n = BATCH.min(total - done);
                let sql = format!("INSERT INTO messages (id, room_id, seq, sender_id, content, created_at) VALUES {}", rows(n));
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for i in 0..n {
                    next += 1 << 16;
                    let id = Uuid::from_u128(next);
                    ids.push(id);
                    let seq = (done + i + 1) as i64;
                    query = query
                        .bind(id)
                        .bind(room)
                        .bind(seq)
                        .bind(sender)
                        .bind(format!("message number {seq} about lorem ipsum dolor sit amet"))
                        .bind(base + chrono::Duration::milliseconds(seq));
                }
                query.execute(&mut *tx).await?;
                done += n;
            }
            sqlx::query("UPDATE rooms SET last_seq = $2, last_message_id = $3 WHERE id = $1")
                .bind(room)
                .bind(total as i64)
                .bind(ids.last().copied())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }};
    }
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        seed!(conn);
        sqlx::query("ANALYZE").execute(&mut conn).await?;
    } else {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        seed!(conn);
        sqlx::query("ANALYZE").execute(&mut conn).await?;
    }
    Ok(ids)
}

async fn report<F, Fut>(label: &str, runs: usize, f: F) -> anyhow::Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), chatter::store::StoreError>>,
{
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f().await?;
        times.push(start.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{label}: median {:.3} ms, p95 {:.3} ms, max {:.3} ms ({runs} runs)",
        ms(times[runs / 2]),
        ms(times[runs * 95 / 100]),
        ms(times[runs - 1])
    );
    Ok(())
}

async fn explain(url: &str, room: Uuid, user: Uuid, middle: Uuid) -> anyhow::Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let queries = [
        (
            "history page (50 before an id)",
            format!(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT m.id, m.content FROM messages m LEFT JOIN users u ON u.id = m.sender_id \
                 LEFT JOIN messages p ON p.id = m.reply_to_id WHERE m.room_id = '{room}' AND m.id < '{middle}' ORDER BY m.id DESC LIMIT 51"
            ),
        ),
        (
            "joined rooms with unread counts",
            format!(
                "EXPLAIN (ANALYZE, BUFFERS) SELECT r.id, r.last_seq - m.read_seq AS unread FROM room_members m JOIN rooms r ON r.id = m.room_id \
                 WHERE m.user_id = '{user}' ORDER BY r.last_activity_at DESC, r.id DESC"
            ),
        ),
    ];
    for (label, sql) in queries {
        println!("\nEXPLAIN ANALYZE — {label}:");
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await?;
        for line in lines {
            println!("  {line}");
        }
    }
    Ok(())
}
