//! The batch's statements on SQLite: multi-row statements in chunks of 1, 2, 4 … 64 rows, so a
//! few statement shapes cover every batch and stay prepared. The transaction holds SQLite's
//! write lock from BEGIN, so what it reads is what it writes over.

use std::ops::Range;

use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{Layout, Numbering, Post, Standing, standing_keys};
use crate::time::Timestamp;

/// The largest chunk of rows in one statement (8 columns × 64 rows = 512 parameters).
const CHUNK: usize = 64;

/// `0..n` in chunks of 64 rows, then the rest in falling powers of two.
fn chunks(n: usize) -> impl Iterator<Item = Range<usize>> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let left = n - start;
        if left == 0 {
            return None;
        }
        let size = if left >= CHUNK {
            CHUNK
        } else {
            1 << left.ilog2()
        };
        start += size;
        Some(start - size..start)
    })
}

/// `(?, ?), (?, ?)` for `rows` rows of `columns` parameters: bound in order, so sqlx need not
/// look each one up by name (a lookup that walks the statement's list of names: quadratic in a
/// 512-parameter statement).
fn values(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

/// The rooms' last `seq` and last message id.
pub(super) async fn numbering(
    tx: &mut SqliteConnection,
    rooms: &[Uuid],
) -> sqlx::Result<Numbering> {
    let mut numbering = Numbering::with_capacity(rooms.len());
    for range in chunks(rooms.len()) {
        let sql = format!(
            "SELECT id, last_seq, last_message_id FROM rooms WHERE id IN ({})",
            vec!["?"; range.len()].join(", ")
        );
        let mut query = sqlx::query_as::<_, (Uuid, i64, Option<Uuid>)>(sqlx::AssertSqlSafe(sql));
        for room in &rooms[range] {
            query = query.bind(room);
        }
        for (room, last_seq, last_id) in query.fetch_all(&mut *tx).await? {
            numbering.insert(room, (last_seq, last_id));
        }
    }
    Ok(numbering)
}

/// The senders' memberships and names, and their earlier uses of the batch's `client_msg_id`s.
pub(super) async fn standing(tx: &mut SqliteConnection, posts: &[&Post]) -> sqlx::Result<Standing> {
    let mut standing = Standing::default();
    let (pairs, keys) = standing_keys(posts);
    for range in chunks(pairs.len()) {
        let sql = format!(
            "SELECT v.column1, v.column2, \
             (SELECT rm.role FROM room_members rm WHERE rm.room_id = v.column1 AND rm.user_id = v.column2), \
             (SELECT u.username FROM users u WHERE u.id = v.column2), \
             (SELECT u.display_name FROM users u WHERE u.id = v.column2) \
             FROM (VALUES {}) AS v",
            values(range.len(), 2)
        );
        type Row = (Uuid, Uuid, Option<String>, Option<String>, Option<String>);
        let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql));
        for (room, user) in &pairs[range] {
            query = query.bind(room).bind(user);
        }
        for (room, user, role, username, display_name) in query.fetch_all(&mut *tx).await? {
            if let (Some(_), Some(username), Some(display_name)) = (role, username, display_name) {
                standing
                    .members
                    .insert((room, user), (username, display_name));
            }
        }
    }

    for range in chunks(keys.len()) {
        let sql = format!(
            "SELECT v.column1, v.column2, \
             (SELECT m.id FROM messages m WHERE m.sender_id = v.column1 AND m.client_msg_id = v.column2) \
             FROM (VALUES {}) AS v",
            values(range.len(), 2)
        );
        let mut query = sqlx::query_as::<_, (Uuid, String, Option<Uuid>)>(sqlx::AssertSqlSafe(sql));
        for (sender, client_id) in &keys[range] {
            query = query.bind(sender).bind(*client_id);
        }
        for (sender, client_id, id) in query.fetch_all(&mut *tx).await? {
            if let Some(id) = id {
                standing.earlier.insert((sender, client_id), id);
            }
        }
    }
    Ok(standing)
}

/// The new messages and their attachments, the rooms' numbering, the senders' read cursors.
pub(super) async fn write(
    tx: &mut SqliteConnection,
    posts: &[&Post],
    layout: &Layout,
    now: Timestamp,
) -> sqlx::Result<()> {
    for range in chunks(layout.fresh.len()) {
        let sql = format!(
            "INSERT INTO messages (id, room_id, seq, sender_id, content, reply_to_id, client_msg_id, created_at) VALUES {}",
            values(range.len(), 8)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for placed in &layout.fresh[range] {
            let post = posts[placed.post];
            query = query
                .bind(placed.id)
                .bind(post.room_id)
                .bind(placed.seq)
                .bind(post.sender_id)
                .bind(post.content.as_str())
                .bind(post.reply_to_id)
                .bind(post.client_msg_id.as_deref())
                .bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    for range in chunks(layout.attachments.len()) {
        let sql = format!(
            "INSERT INTO message_attachments (message_id, upload_id, position) VALUES {}",
            values(range.len(), 3)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (message, upload, position) in &layout.attachments[range] {
            query = query.bind(message).bind(upload).bind(position);
        }
        query.execute(&mut *tx).await?;
    }
    for range in chunks(layout.rooms.len()) {
        let sql = format!(
            "UPDATE rooms SET last_seq = v.column2, last_message_id = v.column3, last_activity_at = v.column4 \
             FROM (VALUES {}) AS v WHERE rooms.id = v.column1",
            values(range.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (room, last_seq, last_id) in &layout.rooms[range] {
            query = query.bind(room).bind(last_seq).bind(last_id).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    for range in chunks(layout.cursors.len()) {
        let sql = format!(
            "UPDATE room_members SET read_seq = v.column3, read_message_id = v.column4 \
             FROM (VALUES {}) AS v WHERE room_members.room_id = v.column1 AND room_members.user_id = v.column2",
            values(range.len(), 4)
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (room, user, seq, id) in &layout.cursors[range] {
            query = query.bind(room).bind(user).bind(seq).bind(id);
        }
        query.execute(&mut *tx).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_in_few_shapes() {
        for n in 0..300 {
            let all: Vec<Range<usize>> = chunks(n).collect();
            assert_eq!(all.iter().map(|r| r.len()).sum::<usize>(), n);
            assert!(all.windows(2).all(|w| w[0].end == w[1].start));
            assert!(
                all.iter()
                    .all(|r| r.len().is_power_of_two() && r.len() <= CHUNK)
            );
        }
        assert_eq!(
            chunks(75).map(|r| r.len()).collect::<Vec<_>>(),
            [64, 8, 2, 1]
        );
    }

    #[test]
    fn values_list_their_parameters_row_by_row() {
        assert_eq!(values(2, 2), "(?, ?), (?, ?)");
        assert_eq!(values(1, 3), "(?, ?, ?)");
    }
}
