//! The batch's statements on PostgreSQL: one statement per step, whatever the batch holds,
//! each row set passed as arrays (`UNNEST`). The statements' text never changes, so each
//! connection prepares them once, and a batch costs five round trips (BEGIN, the rooms' locks,
//! the senders' standing, the writes, COMMIT): the writer spends its time committing, not
//! waiting its turn between statements.

use sqlx::PgConnection;
use uuid::Uuid;

use super::{Layout, Numbering, Post, Standing, standing_keys};
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

/// Which of the batch's senders are members of their rooms (with their names), and the
/// messages their `client_msg_id`s named before: one statement, a row per (room, sender) pair
/// and a row per (sender, `client_msg_id`) key. Scalar subqueries, each one index probe per
/// row: never turned into joins, and never hashed (an `EXISTS` may be, and then each batch
/// reads all of `room_members` to build the hash).
pub(super) async fn standing(tx: &mut PgConnection, posts: &[&Post]) -> sqlx::Result<Standing> {
    let (pairs, keys) = standing_keys(posts);
    let (rooms, members): (Vec<Uuid>, Vec<Uuid>) = pairs.into_iter().unzip();
    let (senders, client_ids): (Vec<Uuid>, Vec<&str>) = keys.into_iter().unzip();
    type Row = (
        Option<Uuid>,
        Uuid,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Uuid>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT p.room_id, p.user_id, NULL::text, \
         (SELECT rm.role FROM room_members rm WHERE rm.room_id = p.room_id AND rm.user_id = p.user_id), \
         (SELECT u.username FROM users u WHERE u.id = p.user_id), \
         (SELECT u.display_name FROM users u WHERE u.id = p.user_id), \
         NULL::uuid \
         FROM UNNEST($1::uuid[], $2::uuid[]) AS p(room_id, user_id) \
         UNION ALL \
         SELECT NULL::uuid, k.sender_id, k.client_msg_id, NULL, NULL, NULL, \
         (SELECT m.id FROM messages m WHERE m.sender_id = k.sender_id AND m.client_msg_id = k.client_msg_id) \
         FROM UNNEST($3::uuid[], $4::text[]) AS k(sender_id, client_msg_id)",
    )
    .bind(&rooms)
    .bind(&members)
    .bind(&senders)
    .bind(&client_ids)
    .fetch_all(&mut *tx)
    .await?;
    let mut standing = Standing::default();
    for (room, user, client_id, role, username, display_name, earlier) in rows {
        match (room, client_id) {
            (Some(room), _) => {
                if let (Some(_), Some(username), Some(display_name)) =
                    (role, username, display_name)
                {
                    standing
                        .members
                        .insert((room, user), (username, display_name));
                }
            }
            (None, Some(client_id)) => {
                if let Some(earlier) = earlier {
                    standing.earlier.insert((user, client_id), earlier);
                }
            }
            (None, None) => {}
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
