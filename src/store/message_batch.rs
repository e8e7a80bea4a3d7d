//! Group commit: a batch of new messages from any rooms and senders stored in one transaction.
//!
//! Whatever the batch holds, it costs a handful of statements: the senders' memberships (with
//! their names, for the views), earlier messages with the same `client_msg_id`, one numbering
//! update for all its rooms, a multi-row INSERT, the rooms' last message and the senders' read
//! cursors. Multi-row statements go in chunks of 1, 2, 4 … 64 rows, so a few statement shapes
//! cover every batch and stay prepared.
//!
//! Rooms are numbered inside the transaction, with their rows locked before anything is read
//! (in id order on PostgreSQL, so two instances never deadlock; SQLite takes the write lock at
//! BEGIN): several
//! instances writing one room still give its messages increasing `seq` and ids in commit order.

use std::collections::HashMap;
use std::ops::Range;

use uuid::Uuid;

use super::{Backend, Store, StoreResult, on_db};
use crate::time::{self, Timestamp};

/// A message on its way to the database, checked and shaped by the messages service.
#[derive(Debug, Clone)]
pub struct Post {
    pub room_id: Uuid,
    pub sender_id: Uuid,
    pub content: String,
    pub reply_to_id: Option<Uuid>,
    pub client_msg_id: Option<String>,
    pub attachment_ids: Vec<Uuid>,
}

/// What became of one post of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Posted {
    /// Stored now: its id, its number in the room, its time and the sender's names.
    Stored {
        id: Uuid,
        seq: i64,
        created_at: Timestamp,
        sender_username: String,
        sender_display_name: String,
    },
    /// The sender used this `client_msg_id` before: the message it names (maybe in another room).
    Earlier(Uuid),
    /// The sender is not a member of the room, or the room is gone.
    NotMember,
}

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

/// `($1, $2), ($3, $4)` for `rows` rows of `columns` parameters, numbered from `$first`; on
/// SQLite `(?, ?), (?, ?)`: bound in order, so sqlx need not look each one up by name (a
/// lookup that walks the statement's list of names: quadratic in a 512-parameter statement).
fn values(backend: Backend, rows: usize, columns: usize, first: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(first + row * columns + column).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// A UUIDv7 for now, or the successor of the room's last id when clocks (or instances)
/// disagree, so ids within a room strictly increase.
pub(super) fn next_message_id(last: Option<Uuid>) -> Uuid {
    let fresh = Uuid::now_v7();
    match last {
        Some(last) if fresh <= last => Uuid::from_u128(last.as_u128() + 1),
        _ => fresh,
    }
}

/// A stored post's place: filled in once its room is numbered.
struct Placed {
    id: Uuid,
    seq: i64,
}

impl Store {
    /// Stores a batch of posts in one transaction and says what became of each, in order.
    /// Within a room, the batch's order is the messages' order. If the transaction fails,
    /// nothing of the batch is stored.
    pub async fn commit_posts(&self, posts: &[&Post]) -> StoreResult<Vec<Posted>> {
        let backend = self.backend();
        Ok(on_db!(self.writes, pool => async {
            let mut tx = match backend {
                // Take the write lock now: a deferred transaction that reads first could not
                // upgrade when another connection wrote in between.
                Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
                Backend::Postgres => pool.begin().await?,
            };
            if backend == Backend::Postgres {
                // Lock the batch's rooms first, in id order (so instances never deadlock), and
                // only then read who is a member: a removal or ban that commits before this
                // batch is seen by it. NO KEY: joins (foreign keys to the room) need not wait.
                let mut locked: Vec<Uuid> = posts.iter().map(|p| p.room_id).collect();
                locked.sort_unstable();
                locked.dedup();
                for range in chunks(locked.len()) {
                    let sql = format!(
                        "SELECT id FROM rooms WHERE id IN ({}) ORDER BY id FOR NO KEY UPDATE",
                        values(backend, range.len(), 1, 1).replace(['(', ')'], "")
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for room in &locked[range] {
                        query = query.bind(room);
                    }
                    query.execute(&mut *tx).await?;
                }
            }
            // Taken under the locks, so created_at follows the order of ids across instances.
            let now = time::now();

            // The senders' standing and names.
            let mut pairs: Vec<(Uuid, Uuid)> = posts.iter().map(|p| (p.room_id, p.sender_id)).collect();
            pairs.sort_unstable();
            pairs.dedup();
            let mut members: HashMap<(Uuid, Uuid), (String, String)> = HashMap::with_capacity(pairs.len());
            for range in chunks(pairs.len()) {
                // Scalar subqueries, each one index probe per pair, never turned into joins: no
                // plan may hash a whole table (a prepared statement's generic plan, made while a
                // table was small, would keep doing so as it grows).
                let sql = format!(
                    "SELECT v.column1, v.column2, \
                     (SELECT rm.role FROM room_members rm WHERE rm.room_id = v.column1 AND rm.user_id = v.column2), \
                     (SELECT u.username FROM users u WHERE u.id = v.column2), \
                     (SELECT u.display_name FROM users u WHERE u.id = v.column2) \
                     FROM (VALUES {}) AS v",
                    values(backend, range.len(), 2, 1)
                );
                type Row = (Uuid, Uuid, Option<String>, Option<String>, Option<String>);
                let mut query = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql));
                for (room, user) in &pairs[range] {
                    query = query.bind(room).bind(user);
                }
                for (room, user, role, username, display_name) in query.fetch_all(&mut *tx).await? {
                    if let (Some(_), Some(username), Some(display_name)) = (role, username, display_name) {
                        members.insert((room, user), (username, display_name));
                    }
                }
            }

            // Earlier messages with the same client_msg_id (the unique index answers).
            let mut keys: Vec<(Uuid, &str)> = posts
                .iter()
                .filter_map(|p| Some((p.sender_id, p.client_msg_id.as_deref()?)))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let mut earlier: HashMap<(Uuid, String), Uuid> = HashMap::new();
            for range in chunks(keys.len()) {
                let sql = format!(
                    "SELECT v.column1, v.column2, \
                     (SELECT m.id FROM messages m WHERE m.sender_id = v.column1 AND m.client_msg_id = v.column2) \
                     FROM (VALUES {}) AS v",
                    values(backend, range.len(), 2, 1)
                );
                let mut query = sqlx::query_as::<_, (Uuid, String, Option<Uuid>)>(sqlx::AssertSqlSafe(sql));
                for (sender, client_id) in &keys[range] {
                    query = query.bind(sender).bind(*client_id);
                }
                for (sender, client_id, id) in query.fetch_all(&mut *tx).await? {
                    if let Some(id) = id {
                        earlier.insert((sender, client_id), id);
                    }
                }
            }

            // Which posts are new; a repeat within the batch points at its first copy.
            let mut outcome: Vec<Option<Posted>> = vec![None; posts.len()];
            let mut first_copy: HashMap<(Uuid, &str), usize> = HashMap::new();
            let mut repeats: Vec<(usize, usize)> = Vec::new();
            let mut repeated = vec![false; posts.len()];
            let mut per_room: HashMap<Uuid, i64> = HashMap::new();
            for (i, post) in posts.iter().enumerate() {
                if !members.contains_key(&(post.room_id, post.sender_id)) {
                    outcome[i] = Some(Posted::NotMember);
                    continue;
                }
                if let Some(client_id) = post.client_msg_id.as_deref() {
                    if let Some(id) = earlier.get(&(post.sender_id, client_id.to_string())) {
                        outcome[i] = Some(Posted::Earlier(*id));
                        continue;
                    }
                    if let Some(&first) = first_copy.get(&(post.sender_id, client_id)) {
                        repeats.push((i, first));
                        repeated[i] = true;
                        continue;
                    }
                    first_copy.insert((post.sender_id, client_id), i);
                }
                *per_room.entry(post.room_id).or_default() += 1;
            }

            // Number the rooms: add the batch's count, learn the last id.
            let mut rooms: Vec<(Uuid, i64)> = per_room.into_iter().collect();
            rooms.sort_unstable();
            // Per room: the next seq and the last id to follow.
            let mut next: HashMap<Uuid, (i64, Option<Uuid>)> = HashMap::with_capacity(rooms.len());
            for range in chunks(rooms.len()) {
                let sql = format!(
                    "UPDATE rooms SET last_seq = last_seq + v.column2, last_activity_at = v.column3 \
                     FROM (VALUES {}) AS v WHERE rooms.id = v.column1 \
                     RETURNING id, last_seq, last_message_id",
                    values(backend, range.len(), 3, 1)
                );
                let mut query = sqlx::query_as::<_, (Uuid, i64, Option<Uuid>)>(sqlx::AssertSqlSafe(sql));
                for (room, count) in &rooms[range.clone()] {
                    query = query.bind(room).bind(count).bind(now);
                }
                for (room, last_seq, last_id) in query.fetch_all(&mut *tx).await? {
                    let count = rooms[range.clone()].iter().find(|r| r.0 == room).map_or(0, |r| r.1);
                    next.insert(room, (last_seq - count + 1, last_id));
                }
            }

            // Ids and numbers in batch order, room by room.
            let mut placed: Vec<Option<Placed>> = (0..posts.len()).map(|_| None).collect();
            let mut fresh: Vec<usize> = Vec::new();
            for (i, post) in posts.iter().enumerate() {
                if outcome[i].is_some() || repeated[i] {
                    continue;
                }
                let Some((seq, last)) = next.get_mut(&post.room_id) else {
                    // The room went away since its members were read.
                    outcome[i] = Some(Posted::NotMember);
                    continue;
                };
                let id = next_message_id(*last);
                placed[i] = Some(Placed { id, seq: *seq });
                *seq += 1;
                *last = Some(id);
                fresh.push(i);
            }

            for range in chunks(fresh.len()) {
                let sql = format!(
                    "INSERT INTO messages (id, room_id, seq, sender_id, content, reply_to_id, client_msg_id, created_at) VALUES {}",
                    values(backend, range.len(), 8, 1)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for &i in &fresh[range] {
                    let (post, at) = (posts[i], placed[i].as_ref().expect("placed"));
                    query = query
                        .bind(at.id)
                        .bind(post.room_id)
                        .bind(at.seq)
                        .bind(post.sender_id)
                        .bind(post.content.as_str())
                        .bind(post.reply_to_id)
                        .bind(post.client_msg_id.as_deref())
                        .bind(now);
                }
                query.execute(&mut *tx).await?;
            }

            let attachments: Vec<(Uuid, Uuid, i32)> = fresh
                .iter()
                .flat_map(|&i| {
                    let id = placed[i].as_ref().expect("placed").id;
                    posts[i].attachment_ids.iter().enumerate().map(move |(n, upload)| (id, *upload, n as i32))
                })
                .collect();
            for range in chunks(attachments.len()) {
                let sql = format!(
                    "INSERT INTO message_attachments (message_id, upload_id, position) VALUES {}",
                    values(backend, range.len(), 3, 1)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (message, upload, position) in &attachments[range] {
                    query = query.bind(message).bind(upload).bind(position);
                }
                query.execute(&mut *tx).await?;
            }

            // Each room's last message, and each sender's read cursor: your own message is read by you.
            let last_ids: Vec<(Uuid, Uuid)> = next
                .iter()
                .filter_map(|(room, (_, last))| Some((*room, (*last)?)))
                .collect();
            for range in chunks(last_ids.len()) {
                let sql = format!(
                    "UPDATE rooms SET last_message_id = v.column2 FROM (VALUES {}) AS v WHERE rooms.id = v.column1",
                    values(backend, range.len(), 2, 1)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for (room, last) in &last_ids[range] {
                    query = query.bind(room).bind(last);
                }
                query.execute(&mut *tx).await?;
            }
            let mut cursors: HashMap<(Uuid, Uuid), (i64, Uuid)> = HashMap::new();
            for &i in &fresh {
                let at = placed[i].as_ref().expect("placed");
                // Later posts of a room carry higher numbers, so the last one wins.
                cursors.insert((posts[i].room_id, posts[i].sender_id), (at.seq, at.id));
            }
            let cursors: Vec<_> = cursors.into_iter().collect();
            for range in chunks(cursors.len()) {
                let sql = format!(
                    "UPDATE room_members SET read_seq = v.column3, read_message_id = v.column4 \
                     FROM (VALUES {}) AS v WHERE room_members.room_id = v.column1 AND room_members.user_id = v.column2",
                    values(backend, range.len(), 4, 1)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for ((room, user), (seq, id)) in &cursors[range] {
                    query = query.bind(room).bind(user).bind(seq).bind(id);
                }
                query.execute(&mut *tx).await?;
            }
            tx.commit().await?;

            for &i in &fresh {
                let at = placed[i].take().expect("placed");
                let (username, display_name) = members[&(posts[i].room_id, posts[i].sender_id)].clone();
                outcome[i] = Some(Posted::Stored {
                    id: at.id,
                    seq: at.seq,
                    created_at: now,
                    sender_username: username,
                    sender_display_name: display_name,
                });
            }
            for (i, first) in repeats {
                outcome[i] = Some(match &outcome[first] {
                    Some(Posted::Stored { id, .. }) => Posted::Earlier(*id),
                    other => other.clone().unwrap_or(Posted::NotMember),
                });
            }
            Ok::<_, sqlx::Error>(outcome.into_iter().map(|o| o.unwrap_or(Posted::NotMember)).collect())
        }.await)?)
    }
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
    fn values_number_their_parameters() {
        assert_eq!(values(Backend::Postgres, 2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(values(Backend::Postgres, 1, 3, 5), "($5, $6, $7)");
        assert_eq!(values(Backend::Sqlite, 2, 2, 1), "(?, ?), (?, ?)");
    }
}
