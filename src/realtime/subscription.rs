//! One socket following one room, and the rule that makes resume exact: each message reaches
//! a socket once, in id order, from a `subscribe` with `since` onwards.
//!
//! Why a cursor is needed: a message's live event and its replay can cross. A message committed
//! before a replay's history read is in the replay, but its event may still be in the event
//! bus, in the fan-out, or on the cluster bus from another instance when the replay ends, and
//! then arrives live a second time. Timing cannot rule that out (a loaded machine, a big room,
//! Redis), so each subscription remembers the newest message it sent and drops any
//! `message_new` at or below it, wherever the frame came from. Message ids increase in commit
//! order within a room (see `Store::post_message`), so that is exactly "already sent or older".

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use uuid::Uuid;

use super::hub::{Connection, QUEUE_FRAMES};
use super::protocol::close;

pub struct Subscription {
    pub conn: Arc<Connection>,
    room_id: Uuid,
    /// Locked for a check and a non-blocking enqueue on this one socket, never across sockets
    /// or an await; contention is only a replay meeting a live delivery.
    cursor: Mutex<Cursor>,
}

#[derive(Default)]
struct Cursor {
    /// The newest message sent to this socket in this room (or the `since` of a replay).
    last_message: Option<Uuid>,
    /// Where the last replay ended: what is at or below it is a copy the replay carried (or
    /// the client had), rather than a live message that came late.
    replayed_through: Option<Uuid>,
    /// Some while the room's history is being replayed: live frames wait here, in order.
    held: Option<Vec<Held>>,
    /// The socket stopped following the room (unsubscribed, left, removed, banned).
    ended: bool,
}

struct Held {
    message_id: Option<Uuid>,
    frame: Utf8Bytes,
}

impl Subscription {
    pub fn new(conn: Arc<Connection>, room_id: Uuid) -> Subscription {
        Subscription {
            conn,
            room_id,
            cursor: Mutex::new(Cursor::default()),
        }
    }

    fn cursor(&self) -> MutexGuard<'_, Cursor> {
        self.cursor.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers a live frame of the room. `message_id` is set for `message_new`: such a frame is
    /// dropped when this socket was already sent that message or a newer one.
    pub fn deliver(&self, message_id: Option<Uuid>, frame: &Utf8Bytes) {
        let mut cursor = self.cursor();
        if cursor.ended {
            // A fan-out that copied the subscriber list just before the removal.
            return;
        }
        if let Some(held) = &mut cursor.held {
            if held.len() >= QUEUE_FRAMES {
                // As with a full socket queue: this socket cannot keep up with the room.
                self.conn.close(close::TOO_SLOW);
                return;
            }
            held.push(Held {
                message_id,
                frame: frame.clone(),
            });
            return;
        }
        self.pass(&mut cursor, message_id, frame.clone());
    }

    /// Sends a frame unless it is a message at or below the cursor; moves the cursor.
    fn pass(&self, cursor: &mut Cursor, message_id: Option<Uuid>, frame: Utf8Bytes) {
        if let Some(id) = message_id {
            if cursor.last_message.is_some_and(|last| id <= last) {
                // A late live message (possible across instances when one instance's fan-out
                // runs behind) is dropped too, to keep the id order: its gap is closed like any
                // other, with `since`.
                let why = if cursor.replayed_through.is_some_and(|r| id <= r) {
                    "replayed"
                } else {
                    "out_of_order"
                };
                metrics::counter!("ws_duplicate_messages_dropped_total", "why" => why).increment(1);
                tracing::debug!(connection_id = %self.conn.id, room_id = %self.room_id, message_id = %id, why,
                    "dropped a message at or below what this socket was already sent");
                return;
            }
            cursor.last_message = Some(id);
        }
        self.conn.send_text(frame);
    }

    /// Begins a replay of what came after `since`: the client says it has everything up to
    /// there, so the cursor moves to `since` (also back, to re-send what it asks for again),
    /// and live frames are held until `finish_replay`.
    pub fn start_replay(&self, since: Uuid) {
        let mut cursor = self.cursor();
        cursor.last_message = Some(since);
        cursor.replayed_through = Some(since);
        cursor.held.get_or_insert_with(Vec::new);
    }

    /// Sends the replayed messages (oldest first), then `reply`, then the live frames held
    /// meanwhile, minus the messages the replay already carried. One lock for all of it, so no
    /// live frame can slip between them.
    pub fn finish_replay(&self, replayed: Vec<(Uuid, Utf8Bytes)>, reply: Option<Utf8Bytes>) {
        let mut cursor = self.cursor();
        let held = cursor.held.take().unwrap_or_default();
        if cursor.ended {
            // Removed or banned meanwhile: nothing more of this room goes out.
            if let Some(reply) = reply {
                self.conn.send_text(reply);
            }
            return;
        }
        for (id, frame) in replayed {
            self.pass(&mut cursor, Some(id), frame);
        }
        cursor.replayed_through = cursor.last_message;
        if let Some(reply) = reply {
            self.conn.send_text(reply);
        }
        for frame in held {
            self.pass(&mut cursor, frame.message_id, frame.frame);
        }
    }

    /// The socket no longer follows the room: a replay under way sends nothing more of it.
    pub fn end(&self) {
        let mut cursor = self.cursor();
        cursor.ended = true;
        cursor.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::messages::SenderView;

    fn socket() -> (
        Arc<Connection>,
        tokio::sync::mpsc::Receiver<axum::extract::ws::Message>,
    ) {
        let user = Arc::new(SenderView {
            id: Uuid::now_v7(),
            username: "bob".into(),
            display_name: "Bob".into(),
        });
        let (conn, rx) = Connection::new(user, Uuid::now_v7());
        conn.welcome(Utf8Bytes::from_static("welcome"));
        (conn, rx)
    }

    fn sent(rx: &mut tokio::sync::mpsc::Receiver<axum::extract::ws::Message>) -> Vec<String> {
        let mut frames = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            if let axum::extract::ws::Message::Text(text) = frame {
                frames.push(text.to_string());
            }
        }
        frames
    }

    fn message(id: Uuid) -> (Uuid, Utf8Bytes) {
        (id, Utf8Bytes::from(format!("message {id}")))
    }

    #[test]
    fn a_live_copy_of_a_replayed_message_is_dropped() {
        let (conn, mut rx) = socket();
        let sub = Subscription::new(conn, Uuid::now_v7());
        let [since, a, b, c] = [(); 4].map(|_| Uuid::now_v7());
        sent(&mut rx);

        sub.start_replay(since);
        sub.deliver(Some(b), &message(b).1); // held: committed after the history read
        sub.finish_replay(
            vec![message(a), message(b)],
            Some(Utf8Bytes::from_static("subscribed")),
        );
        // The fan-out was late with `a` and `b`: both were replayed already.
        sub.deliver(Some(a), &message(a).1);
        sub.deliver(Some(b), &message(b).1);
        sub.deliver(Some(c), &message(c).1);
        sub.deliver(None, &Utf8Bytes::from_static("typing"));

        let expected = [
            message(a).1.to_string(),
            message(b).1.to_string(),
            "subscribed".to_string(),
            message(c).1.to_string(),
            "typing".to_string(),
        ];
        assert_eq!(sent(&mut rx), expected);
    }

    #[test]
    fn frames_held_during_a_replay_keep_their_order() {
        let (conn, mut rx) = socket();
        let sub = Subscription::new(conn, Uuid::now_v7());
        let [since, a, b] = [(); 3].map(|_| Uuid::now_v7());
        sent(&mut rx);

        sub.start_replay(since);
        sub.deliver(None, &Utf8Bytes::from_static("edited"));
        sub.deliver(Some(b), &message(b).1);
        sub.finish_replay(vec![message(a)], None);
        assert_eq!(
            sent(&mut rx),
            [
                message(a).1.to_string(),
                "edited".to_string(),
                message(b).1.to_string()
            ]
        );
    }

    #[test]
    fn since_moves_the_cursor_back_to_resend_what_is_asked_for() {
        let (conn, mut rx) = socket();
        let sub = Subscription::new(conn, Uuid::now_v7());
        let [since, a] = [(); 2].map(|_| Uuid::now_v7());
        sub.deliver(Some(a), &message(a).1);
        sent(&mut rx);

        sub.start_replay(since);
        sub.finish_replay(vec![message(a)], None);
        assert_eq!(sent(&mut rx), [message(a).1.to_string()]);
    }

    #[test]
    fn an_ended_subscription_sends_nothing_more_of_the_room() {
        let (conn, mut rx) = socket();
        let sub = Subscription::new(conn, Uuid::now_v7());
        let [since, a] = [(); 2].map(|_| Uuid::now_v7());
        sent(&mut rx);

        sub.start_replay(since);
        sub.deliver(Some(a), &message(a).1);
        sub.end();
        sub.finish_replay(vec![message(a)], Some(Utf8Bytes::from_static("subscribed")));
        assert_eq!(sent(&mut rx), ["subscribed".to_string()]);
    }
}
