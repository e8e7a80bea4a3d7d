//! Group commit: a batch of new messages from any rooms and senders stored in one transaction.
//!
//! Whatever the batch holds, it takes the same few steps: lock and read its rooms' numbering,
//! read the senders' memberships (with their names, for the views) and earlier messages with
//! the same `client_msg_id`, lay the batch out here (who may post, which posts repeat, each new
//! message's id and number), then write the messages, their attachments, the rooms' numbering
//! and the senders' read cursors. How each step reaches the database is the backend's own
//! ([`sqlite`], [`postgres`]); what the batch means is decided once, in [`Layout`].
//!
//! Rooms are numbered inside the transaction, with their rows locked before anything is read
//! (in id order on PostgreSQL, so two instances never deadlock; SQLite takes the write lock at
//! BEGIN): several instances writing one room still give its messages increasing `seq` and ids
//! in commit order.

mod postgres;
mod sqlite;

use std::collections::HashMap;

use uuid::Uuid;

use super::{Db, Store, StoreResult};
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

/// The batch's rooms as their locks found them: the last `seq` and the last message's id.
/// A room missing here is gone.
type Numbering = HashMap<Uuid, (i64, Option<Uuid>)>;

/// What the database knows of the batch's senders, read under the rooms' locks.
#[derive(Default)]
struct Standing {
    /// (room, sender) pairs where the sender is a member, with the sender's names.
    members: HashMap<(Uuid, Uuid), (String, String)>,
    /// (sender, client_msg_id) pairs used before, with the message each one names.
    earlier: HashMap<(Uuid, String), Uuid>,
}

/// A new message's place: its id and its number in the room.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Placed {
    post: usize,
    id: Uuid,
    seq: i64,
}

/// The batch laid out: each post's fate, and the rows that store the new ones.
#[derive(Debug, Default)]
struct Layout {
    /// Posts already answered: not a member, or a `client_msg_id` used before.
    answered: Vec<Option<Posted>>,
    /// A post repeating an earlier post of the batch (same sender and `client_msg_id`), with
    /// the index of that first copy: it gets the first copy's answer.
    repeats: Vec<(usize, usize)>,
    /// The new messages, in batch order.
    fresh: Vec<Placed>,
    /// Each room that got messages: its new last `seq` and last message id.
    rooms: Vec<(Uuid, i64, Uuid)>,
    /// Each sender's read cursor (room, sender, seq, message id): your own message is read by you.
    cursors: Vec<(Uuid, Uuid, i64, Uuid)>,
    /// (message, upload, position) for every attachment of a new message.
    attachments: Vec<(Uuid, Uuid, i32)>,
}

impl Layout {
    /// Decides each post's fate and numbers the new ones in batch order, room by room.
    fn new(posts: &[&Post], standing: &Standing, mut numbering: Numbering) -> Layout {
        let mut answered: Vec<Option<Posted>> = vec![None; posts.len()];
        let mut first_copy: HashMap<(Uuid, &str), usize> = HashMap::new();
        let mut repeats = Vec::new();
        let mut fresh = Vec::new();
        let mut ends: HashMap<Uuid, (i64, Uuid)> = HashMap::new();
        let mut cursors: HashMap<(Uuid, Uuid), (i64, Uuid)> = HashMap::new();
        for (i, post) in posts.iter().enumerate() {
            if !standing
                .members
                .contains_key(&(post.room_id, post.sender_id))
            {
                answered[i] = Some(Posted::NotMember);
                continue;
            }
            if let Some(client_id) = post.client_msg_id.as_deref() {
                if let Some(id) = standing
                    .earlier
                    .get(&(post.sender_id, client_id.to_string()))
                {
                    answered[i] = Some(Posted::Earlier(*id));
                    continue;
                }
                if let Some(&first) = first_copy.get(&(post.sender_id, client_id)) {
                    repeats.push((i, first));
                    continue;
                }
                first_copy.insert((post.sender_id, client_id), i);
            }
            let Some((seq, last)) = numbering.get_mut(&post.room_id) else {
                // The room was deleted (its members went with it in the same transaction).
                answered[i] = Some(Posted::NotMember);
                continue;
            };
            *seq += 1;
            let id = next_message_id(*last);
            *last = Some(id);
            fresh.push(Placed {
                post: i,
                id,
                seq: *seq,
            });
            ends.insert(post.room_id, (*seq, id));
            // Later posts of a room carry higher numbers, so the last one wins.
            cursors.insert((post.room_id, post.sender_id), (*seq, id));
        }
        let attachments = fresh
            .iter()
            .flat_map(|placed| {
                let uploads = posts[placed.post].attachment_ids.iter();
                uploads
                    .enumerate()
                    .map(move |(n, upload)| (placed.id, *upload, n as i32))
            })
            .collect();
        // Sorted, so every writer touches rows in one order.
        let mut rooms: Vec<_> = ends
            .into_iter()
            .map(|(room, (seq, id))| (room, seq, id))
            .collect();
        rooms.sort_unstable_by_key(|r| r.0);
        let mut cursors: Vec<_> = cursors
            .into_iter()
            .map(|((room, user), (seq, id))| (room, user, seq, id))
            .collect();
        cursors.sort_unstable_by_key(|c| (c.0, c.1));
        Layout {
            answered,
            repeats,
            fresh,
            rooms,
            cursors,
            attachments,
        }
    }

    /// Each post's answer, in batch order, once the batch is committed.
    fn answers(self, posts: &[&Post], standing: &Standing, now: Timestamp) -> Vec<Posted> {
        let mut answers = self.answered;
        for placed in self.fresh {
            let post = posts[placed.post];
            let (username, display_name) =
                standing.members[&(post.room_id, post.sender_id)].clone();
            answers[placed.post] = Some(Posted::Stored {
                id: placed.id,
                seq: placed.seq,
                created_at: now,
                sender_username: username,
                sender_display_name: display_name,
            });
        }
        for (i, first) in self.repeats {
            answers[i] = Some(match &answers[first] {
                Some(Posted::Stored { id, .. }) => Posted::Earlier(*id),
                other => other.clone().unwrap_or(Posted::NotMember),
            });
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Posted::NotMember))
            .collect()
    }
}

/// A UUIDv7 for now, or the successor of the room's last id when clocks (or instances)
/// disagree, so ids within a room strictly increase.
fn next_message_id(last: Option<Uuid>) -> Uuid {
    let fresh = Uuid::now_v7();
    match last {
        Some(last) if fresh <= last => Uuid::from_u128(last.as_u128() + 1),
        _ => fresh,
    }
}

/// The batch's rooms, sorted and without repeats: the order their rows are locked in.
fn rooms_of(posts: &[&Post]) -> Vec<Uuid> {
    let mut rooms: Vec<Uuid> = posts.iter().map(|p| p.room_id).collect();
    rooms.sort_unstable();
    rooms.dedup();
    rooms
}

/// A room and a sender.
type Pair = (Uuid, Uuid);
/// A sender and one of its `client_msg_id`s.
type ClientKey<'p> = (Uuid, &'p str);

/// The (room, sender) pairs whose membership the batch needs, and the (sender,
/// `client_msg_id`) keys it must look for earlier uses of: sorted, without repeats.
fn standing_keys<'p>(posts: &[&'p Post]) -> (Vec<Pair>, Vec<ClientKey<'p>>) {
    let mut pairs: Vec<Pair> = posts.iter().map(|p| (p.room_id, p.sender_id)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let mut keys: Vec<ClientKey> = posts
        .iter()
        .filter_map(|p| Some((p.sender_id, p.client_msg_id.as_deref()?)))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    (pairs, keys)
}

impl Store {
    /// Stores a batch of posts in one transaction and says what became of each, in order.
    /// Within a room, the batch's order is the messages' order. If the transaction fails,
    /// nothing of the batch is stored.
    pub async fn commit_posts(&self, posts: &[&Post]) -> StoreResult<Vec<Posted>> {
        let rooms = rooms_of(posts);
        match &self.writes.db {
            Db::Sqlite(pool) => {
                // Take the write lock now: a deferred transaction that reads first could not
                // upgrade when another connection wrote in between.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let numbering = sqlite::numbering(&mut tx, &rooms).await?;
                let now = time::now();
                let standing = sqlite::standing(&mut tx, posts).await?;
                let layout = Layout::new(posts, &standing, numbering);
                sqlite::write(&mut tx, posts, &layout, now).await?;
                tx.commit().await?;
                Ok(layout.answers(posts, &standing, now))
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // The rooms' rows first, locked in id order: only then are memberships read,
                // so a removal or ban that commits before this batch is seen by it.
                let numbering = postgres::numbering(&mut tx, &rooms).await?;
                // Taken under the locks, so created_at follows the order of ids across instances.
                let now = time::now();
                let standing = postgres::standing(&mut tx, posts).await?;
                let layout = Layout::new(posts, &standing, numbering);
                postgres::write(&mut tx, posts, &layout, now).await?;
                tx.commit().await?;
                Ok(layout.answers(posts, &standing, now))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(room: Uuid, sender: Uuid, client_id: Option<&str>) -> Post {
        Post {
            room_id: room,
            sender_id: sender,
            content: "hi".into(),
            reply_to_id: None,
            client_msg_id: client_id.map(str::to_string),
            attachment_ids: vec![Uuid::now_v7(), Uuid::now_v7()],
        }
    }

    #[test]
    fn a_layout_numbers_each_room_in_batch_order_and_answers_repeats_with_the_first_copy() {
        let (room, other_room, gone) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let (alice, mallory) = (Uuid::now_v7(), Uuid::now_v7());
        let last = Uuid::now_v7();
        let posts = [
            post(room, alice, Some("a")),
            post(other_room, alice, None),
            post(room, alice, Some("a")),
            post(room, mallory, None),
            post(room, alice, Some("old")),
            post(gone, alice, None),
            post(room, alice, None),
        ];
        let posts: Vec<&Post> = posts.iter().collect();
        let mut standing = Standing::default();
        for r in [room, other_room, gone] {
            standing
                .members
                .insert((r, alice), ("alice".into(), "Alice".into()));
        }
        let old = Uuid::now_v7();
        standing.earlier.insert((alice, "old".into()), old);
        let numbering = Numbering::from([(room, (41, Some(last))), (other_room, (0, None))]);

        let layout = Layout::new(&posts, &standing, numbering);
        let placed: Vec<(usize, i64)> = layout.fresh.iter().map(|p| (p.post, p.seq)).collect();
        assert_eq!(placed, [(0, 42), (1, 1), (6, 43)]);
        assert!(layout.fresh[0].id > last && layout.fresh[2].id > layout.fresh[0].id);
        assert_eq!(layout.attachments.len(), 6);
        assert_eq!(layout.rooms.len(), 2);
        assert!(layout.rooms.contains(&(room, 43, layout.fresh[2].id)));
        assert!(
            layout
                .cursors
                .contains(&(room, alice, 43, layout.fresh[2].id))
        );

        let first = layout.fresh[0].id;
        let answers = layout.answers(&posts, &standing, time::now());
        assert!(matches!(answers[0], Posted::Stored { seq: 42, .. }));
        assert_eq!(answers[2], Posted::Earlier(first));
        assert_eq!(answers[3], Posted::NotMember);
        assert_eq!(answers[4], Posted::Earlier(old));
        assert_eq!(answers[5], Posted::NotMember);
    }

    #[test]
    fn ids_follow_a_last_id_from_the_future() {
        let ahead = Uuid::from_u128(Uuid::now_v7().as_u128() + (1 << 100));
        assert_eq!(next_message_id(Some(ahead)).as_u128(), ahead.as_u128() + 1);
        assert!(next_message_id(None) > Uuid::nil());
    }
}
