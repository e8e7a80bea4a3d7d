//! The batch's statements on PostgreSQL: one statement per step, whatever the batch holds,
//! each row set passed as arrays (`UNNEST`). The statements' text never changes, so each
//! connection prepares them once, and a batch costs five round trips (BEGIN, the rooms' locks,
//! the senders' standing, the writes, COMMIT): the writer spends its time committing, not
//! waiting its turn between statements.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{Layout, Numbering, Post, Standing};
use crate::time::Timestamp;

/// Locks the rooms' rows in id order (so instances never deadlock) and reads their numbering.
/// NO KEY: joins (foreign keys to the room) need not wait. A locked row is read as last
/// committed, so the numbering is current.
pub(super) async fn numbering(tx: &mut PgConnection, rooms: &[Uuid]) -> sqlx::Result<Numbering> {
    let rows: Vec<(Uuid, i64, Option<Uuid>)> = sqlx::query_as(
        "SELECT id, last_seq, last_message_id FROM rooms WHERE id = ANY($1) \
         ORDER BY id FOR NO KEY UPDATE",
    )
    .bind(rooms)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(room, last_seq, last_id)| (room, (last_seq, last_id)))
        .collect())
}

/// For each (room, sender, `client_msg_id`) of the batch: whether the sender is a member, the
/// sender's names, and the message the id named before. Scalar subqueries, each one index probe
/// per row: never turned into joins, and never hashed (an `EXISTS` may be, and then each batch
/// reads all of `room_members` to build the hash).
pub(super) async fn standing(tx: &mut PgConnection, posts: &[&Post]) -> sqlx::Result<Standing> {
    let mut keys: Vec<(Uuid, Uuid, Option<&str>)> = posts
        .iter()
        .map(|p| (p.room_id, p.sender_id, p.client_msg_id.as_deref()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let rooms: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
    let senders: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
    let client_ids: Vec<Option<&str>> = keys.iter().map(|k| k.2).collect();
    type Row = (
        Uuid,
        Uuid,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Uuid>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT k.room_id, k.sender_id, k.client_msg_id, \
         (SELECT rm.role FROM room_members rm WHERE rm.room_id = k.room_id AND rm.user_id = k.sender_id), \
         (SELECT u.username FROM users u WHERE u.id = k.sender_id), \
         (SELECT u.display_name FROM users u WHERE u.id = k.sender_id), \
         (SELECT m.id FROM messages m WHERE m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id) \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[]) AS k(room_id, sender_id, client_msg_id)",
    )
    .bind(&rooms)
    .bind(&senders)
    .bind(&client_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut standing = Standing::default();
    for (room, sender, client_id, role, username, display_name, earlier) in rows {
        if let (Some(_), Some(username), Some(display_name)) = (role, username, display_name) {
            standing
                .members
                .insert((room, sender), (username, display_name));
        }
        if let (Some(client_id), Some(earlier)) = (client_id, earlier) {
            standing.earlier.insert((sender, client_id), earlier);
        }
    }
    Ok(standing)
}

/// The new messages and their attachments, the rooms' numbering and the senders' read cursors,
/// in one statement. Foreign keys are checked at its end, so attachments may name messages
/// inserted beside them.
pub(super) async fn write(
    tx: &mut PgConnection,
    posts: &[&Post],
    layout: &Layout,
    now: Timestamp,
) -> sqlx::Result<()> {
    let fresh = &layout.fresh;
    let ids: Vec<Uuid> = fresh.iter().map(|p| p.id).collect();
    let rooms: Vec<Uuid> = fresh.iter().map(|p| posts[p.post].room_id).collect();
    let seqs: Vec<i64> = fresh.iter().map(|p| p.seq).collect();
    let senders: Vec<Uuid> = fresh.iter().map(|p| posts[p.post].sender_id).collect();
    let contents: Vec<&str> = fresh
        .iter()
        .map(|p| posts[p.post].content.as_str())
        .collect();
    let replies: Vec<Option<Uuid>> = fresh.iter().map(|p| posts[p.post].reply_to_id).collect();
    let client_ids: Vec<Option<&str>> = fresh
        .iter()
        .map(|p| posts[p.post].client_msg_id.as_deref())
        .collect();
    let (attached_to, uploads, positions): (Vec<Uuid>, Vec<Uuid>, Vec<i32>) =
        layout.attachments.iter().copied().collect();
    let (numbered, last_seqs, last_ids): (Vec<Uuid>, Vec<i64>, Vec<Uuid>) =
        layout.rooms.iter().copied().collect();
    let mut cursor_rooms = Vec::with_capacity(layout.cursors.len());
    let mut cursor_users = Vec::with_capacity(layout.cursors.len());
    let mut cursor_seqs = Vec::with_capacity(layout.cursors.len());
    let mut cursor_ids = Vec::with_capacity(layout.cursors.len());
    for &(room, user, seq, id) in &layout.cursors {
        cursor_rooms.push(room);
        cursor_users.push(user);
        cursor_seqs.push(seq);
        cursor_ids.push(id);
    }
    sqlx::query(
        "WITH stored AS ( \
             INSERT INTO messages (id, room_id, seq, sender_id, content, reply_to_id, client_msg_id, created_at) \
             SELECT m.id, m.room_id, m.seq, m.sender_id, m.content, m.reply_to_id, m.client_msg_id, $8 \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::uuid[], $5::text[], $6::uuid[], $7::text[]) \
                 AS m(id, room_id, seq, sender_id, content, reply_to_id, client_msg_id) \
         ), attached AS ( \
             INSERT INTO message_attachments (message_id, upload_id, position) \
             SELECT * FROM UNNEST($9::uuid[], $10::uuid[], $11::int4[]) \
         ), numbered AS ( \
             UPDATE rooms SET last_seq = r.last_seq, last_message_id = r.last_message_id, last_activity_at = $8 \
             FROM UNNEST($12::uuid[], $13::int8[], $14::uuid[]) AS r(id, last_seq, last_message_id) \
             WHERE rooms.id = r.id \
         ) \
         UPDATE room_members SET read_seq = c.read_seq, read_message_id = c.read_message_id \
         FROM UNNEST($15::uuid[], $16::uuid[], $17::int8[], $18::uuid[]) \
             AS c(room_id, user_id, read_seq, read_message_id) \
         WHERE room_members.room_id = c.room_id AND room_members.user_id = c.user_id",
    )
    .bind(&ids)
    .bind(&rooms)
    .bind(&seqs)
    .bind(&senders)
    .bind(&contents)
    .bind(&replies)
    .bind(&client_ids)
    .bind(now)
    .bind(&attached_to)
    .bind(&uploads)
    .bind(&positions)
    .bind(&numbered)
    .bind(&last_seqs)
    .bind(&last_ids)
    .bind(&cursor_rooms)
    .bind(&cursor_users)
    .bind(&cursor_seqs)
    .bind(&cursor_ids)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
