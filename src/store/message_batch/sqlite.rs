//! The batch's statements on SQLite: multi-row statements in chunks of 1, 2, 4 … 64 rows, so a
//! few statement shapes cover every batch and stay prepared. The transaction holds SQLite's
//! write lock from BEGIN, so what it reads is what it writes over.

use std::ops::Range;

use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{Layout, Numbering, Post, Standing, standing_keys};
use crate::store::ids::{Ids, IdsSql, ids_sql};
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

/// Doubles a list of rows: `(?, ?)` → `(?, ?), (?, ?)`, at compile time.
macro_rules! twice {
    ($rows:expr) => {
        concat!($rows, ", ", $rows)
    };
}

/// A statement's text for 1, 2, 4 … 64 rows: `$head`, that many copies of `$row` (one row's
/// parameters), `$tail`; joined at compile time, so each shape is one fixed text. The rows'
/// parameters are `?`, bound in order, so sqlx need not look each one up by name (a lookup
/// that walks the statement's list of names: quadratic in a 512-parameter statement).
macro_rules! shapes {
    ($head:expr, $row:expr, $tail:expr) => {
        [
            concat!($head, $row, $tail),
            concat!($head, twice!($row), $tail),
            concat!($head, twice!(twice!($row)), $tail),
            concat!($head, twice!(twice!(twice!($row))), $tail),
            concat!($head, twice!(twice!(twice!(twice!($row)))), $tail),
            concat!($head, twice!(twice!(twice!(twice!(twice!($row))))), $tail),
            concat!(
                $head,
                twice!(twice!(twice!(twice!(twice!(twice!($row)))))),
                $tail
            ),
        ]
    };
}

/// The text for a chunk of `range.len()` rows (a power of two up to `CHUNK`, see `chunks`).
fn shape(shapes: &[&'static str; 7], range: &Range<usize>) -> &'static str {
    shapes[range.len().trailing_zeros() as usize]
}

/// The rooms' last `seq` and last message id: one statement, the ids bound as one JSON array
/// (see `store::ids`).
pub(super) async fn numbering(
    tx: &mut SqliteConnection,
    rooms: &[Uuid],
) -> sqlx::Result<Numbering> {
    const ROOMS: IdsSql = ids_sql!(
        ["SELECT id, last_seq, last_message_id FROM rooms WHERE id"],
        "?",
        []
    );
    let rows: Vec<(Uuid, i64, Option<Uuid>)> = sqlx::query_as(ROOMS.sqlite)
        .bind(Ids(rooms))
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(room, last_seq, last_id)| (room, (last_seq, last_id)))
        .collect())
}

/// The senders' memberships and names, and their earlier uses of the batch's `client_msg_id`s.
pub(super) async fn standing(tx: &mut SqliteConnection, posts: &[&Post]) -> sqlx::Result<Standing> {
    let mut standing = Standing::default();
    let (pairs, keys) = standing_keys(posts);
    for range in chunks(pairs.len()) {
        const SQL: [&str; 7] = shapes!(
            "SELECT v.column1, v.column2, \
             (SELECT rm.role FROM room_members rm WHERE rm.room_id = v.column1 AND rm.user_id = v.column2), \
             (SELECT u.username FROM users u WHERE u.id = v.column2), \
             (SELECT u.display_name FROM users u WHERE u.id = v.column2) \
             FROM (VALUES ",
            "(?, ?)",
            ") AS v"
        );
        type Row = (Uuid, Uuid, Option<String>, Option<String>, Option<String>);
        let mut query = sqlx::query_as::<_, Row>(shape(&SQL, &range));
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
        const SQL: [&str; 7] = shapes!(
            "SELECT v.column1, v.column2, \
             (SELECT m.id FROM messages m WHERE m.sender_id = v.column1 AND m.client_msg_id = v.column2) \
             FROM (VALUES ",
            "(?, ?)",
            ") AS v"
        );
        let mut query = sqlx::query_as::<_, (Uuid, String, Option<Uuid>)>(shape(&SQL, &range));
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
        const SQL: [&str; 7] = shapes!(
            "INSERT INTO messages (id, room_id, seq, sender_id, content, reply_to_id, client_msg_id, created_at) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?, ?)",
            ""
        );
        let mut query = sqlx::query(shape(&SQL, &range));
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
        const SQL: [&str; 7] = shapes!(
            "INSERT INTO message_attachments (message_id, upload_id, position) VALUES ",
            "(?, ?, ?)",
            ""
        );
        let mut query = sqlx::query(shape(&SQL, &range));
        for (message, upload, position) in &layout.attachments[range] {
            query = query.bind(message).bind(upload).bind(position);
        }
        query.execute(&mut *tx).await?;
    }
    for range in chunks(layout.rooms.len()) {
        const SQL: [&str; 7] = shapes!(
            "UPDATE rooms SET last_seq = v.column2, last_message_id = v.column3, last_activity_at = v.column4 \
             FROM (VALUES ",
            "(?, ?, ?, ?)",
            ") AS v WHERE rooms.id = v.column1"
        );
        let mut query = sqlx::query(shape(&SQL, &range));
        for (room, last_seq, last_id) in &layout.rooms[range] {
            query = query.bind(room).bind(last_seq).bind(last_id).bind(now);
        }
        query.execute(&mut *tx).await?;
    }
    for range in chunks(layout.cursors.len()) {
        const SQL: [&str; 7] = shapes!(
            "UPDATE room_members SET read_seq = v.column3, read_message_id = v.column4 \
             FROM (VALUES ",
            "(?, ?, ?, ?)",
            ") AS v WHERE room_members.room_id = v.column1 AND room_members.user_id = v.column2"
        );
        let mut query = sqlx::query(shape(&SQL, &range));
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
    fn shapes_list_their_parameters_row_by_row() {
        const SQL: [&str; 7] = shapes!("VALUES ", "(?, ?)", ";");
        assert_eq!(SQL[0], "VALUES (?, ?);");
        assert_eq!(SQL[1], "VALUES (?, ?), (?, ?);");
        for range in chunks(300) {
            let text = shape(&SQL, &range);
            assert_eq!(text.matches("(?, ?)").count(), range.len(), "{text}");
        }
    }
}
