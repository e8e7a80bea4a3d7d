//! One socket following one room, and what makes resume exact: a socket is never sent the same
//! message twice, and a `subscribe` with `since` sends it everything after `since` it lacks.
//!
//! Why the subscription must remember what it sent: a message's live event and its replay
//! can cross. A message committed before a replay's history read is in the replay, but its
//! event may still be in the event bus, in the fan-out, or on the cluster bus from another
//! instance when the replay ends, and then arrives live a second time. And a reconnected
//! socket already gets live messages between `welcome` and the client's `subscribe`, which a
//! replay from an older `since` would repeat. Timing cannot rule either out (a loaded machine,
//! a big room, Redis), so each subscription keeps the exact set of message numbers (`seq`,
//! gapless per room) the socket has: everything up to a mark, plus runs of consecutive numbers
//! sent live above it (one run, normally: a second one only opens when live delivery skipped
//! a number). Anything in the set is not sent again, wherever it comes from; anything outside
//! it is sent, so a late message is delivered, never lost.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use uuid::Uuid;

use super::hub::{Connection, QUEUE_FRAMES};

/// Separate runs a subscription tracks. Each one means a gap in live delivery (a message still
/// on its way from another instance, or one lost to a Redis outage); a socket with this many
/// open gaps is closed with 4009, and the client resyncs from `since` on a fresh one.
const MAX_RUNS: usize = 16;

pub struct Subscription {
    pub conn: Arc<Connection>,
    room_id: Uuid,
    /// Locked for a check and a non-blocking enqueue on this one socket, never across sockets
    /// or an await; it is contended only when a replay meets a live delivery.
    state: Mutex<SubscriptionState>,
}

#[derive(Default)]
struct SubscriptionState {
    /// Every message numbered up to here is on the socket: sent by a replay (which sends all it
    /// read from the database), or declared seen by the client with `since`.
    through: Option<i64>,
    /// Runs of consecutive numbers sent live above `through`: sorted, apart, inclusive.
    /// Empty until the first live message, and again whenever a run reaches `through`.
    live: Vec<(i64, i64)>,
    /// Some while the room's history is being replayed: live frames wait here, in order.
    held: Option<Vec<Held>>,
    /// The socket stopped following the room (unsubscribed, left, removed, banned).
    ended: bool,
}

struct Held {
    seq: Option<i64>,
    frame: Utf8Bytes,
}

impl SubscriptionState {
    fn has(&self, seq: i64) -> bool {
        self.through.is_some_and(|t| seq <= t)
            || self
                .live
                .iter()
                .rev()
                .any(|(from, to)| (*from..=*to).contains(&seq))
    }

    /// Notes a message sent live; false when that opened more gaps than are tracked.
    fn sent_live(&mut self, seq: i64) -> bool {
        match self.live.last_mut() {
            // The usual case: the next number after the newest.
            Some((_, to)) if seq == *to + 1 => *to = seq,
            _ => {
                let at = self.live.partition_point(|(from, _)| *from < seq);
                let joins_before = at > 0 && self.live[at - 1].1 + 1 == seq;
                let joins_after = at < self.live.len() && self.live[at].0 == seq + 1;
                match (joins_before, joins_after) {
                    (true, true) => {
                        self.live[at - 1].1 = self.live[at].1;
                        self.live.remove(at);
                    }
                    (true, false) => self.live[at - 1].1 = seq,
                    (false, true) => self.live[at].0 = seq,
                    (false, false) => self.live.insert(at, (seq, seq)),
                }
            }
        }
        self.absorb();
        self.live.len() <= MAX_RUNS
    }

    /// Moves runs that reach `through` into it, so the runs stay few.
    fn absorb(&mut self) {
        let Some(mut through) = self.through else {
            return;
        };
        let reached = self
            .live
            .iter()
            .take_while(|(from, _)| *from <= through + 1)
            .count();
        for (_, to) in self.live.drain(..reached) {
            through = through.max(to);
        }
        self.through = Some(through);
    }
}

impl Subscription {
    pub fn new(conn: Arc<Connection>, room_id: Uuid) -> Subscription {
        Subscription {
            conn,
            room_id,
            state: Mutex::new(SubscriptionState::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, SubscriptionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Delivers a live frame of the room. `seq` is set for `message_new` (the message's number
    /// in the room): such a frame is dropped when the socket already has that message.
    pub fn deliver(&self, seq: Option<i64>, frame: &Utf8Bytes) {
        let mut state = self.state();
        if state.ended {
            // A fan-out that copied the subscriber list just before the removal.
            return;
        }
        if let Some(held) = &mut state.held {
            if held.len() >= QUEUE_FRAMES {
                // As with a full socket queue: this socket cannot keep up with the room.
                self.conn.close_too_slow();
                return;
            }
            held.push(Held {
                seq,
                frame: frame.clone(),
            });
            return;
        }
        self.pass(&mut state, seq, frame.clone());
    }

    /// Sends a live frame unless it is a message the socket has.
    fn pass(&self, state: &mut SubscriptionState, seq: Option<i64>, frame: Utf8Bytes) {
        if let Some(seq) = seq {
            if state.has(seq) {
                metrics::counter!("ws_duplicate_messages_dropped_total").increment(1);
                tracing::debug!(connection_id = %self.conn.id, room_id = %self.room_id, seq,
                    "dropped a message this socket already has");
                return;
            }
            if !state.sent_live(seq) {
                self.conn.close_too_slow();
                return;
            }
        }
        self.conn.send_text(frame);
    }

    /// Holds live frames back until `finish_replay`, from before the history is read.
    pub fn start_replay(&self) {
        self.state().held.get_or_insert_with(Vec::new);
    }

    /// Sends the replayed messages the socket lacks (numbered after `since`, oldest first, as
    /// read from the database), then the reply built from how many were sent, then the live
    /// frames held meanwhile, minus what the socket has by then. One lock for all of it, so no
    /// live frame can slip between them. False if the socket stopped following the room
    /// meanwhile: then nothing was sent.
    pub fn finish_replay(
        &self,
        since: i64,
        replayed: Vec<(i64, Utf8Bytes)>,
        reply: impl FnOnce(usize) -> Utf8Bytes,
    ) -> bool {
        let mut state = self.state();
        let held = state.held.take().unwrap_or_default();
        if state.ended {
            return false;
        }
        let top = replayed.last().map_or(since, |(seq, _)| *seq).max(since);
        let mut sent = 0;
        for (seq, frame) in replayed {
            if !state.has(seq) {
                self.conn.send_text(frame);
                sent += 1;
            }
        }
        // Everything up to the top of the page is on the socket now, or was declared seen.
        state.through = Some(state.through.map_or(top, |t| t.max(top)));
        state.absorb();
        self.conn.send_text(reply(sent));
        for frame in held {
            self.pass(&mut state, frame.seq, frame.frame);
        }
        true
    }

    /// Releases held frames after a replay that failed (nothing replayed, nothing declared).
    pub fn abandon_replay(&self) {
        let mut state = self.state();
        for frame in state.held.take().unwrap_or_default() {
            if !state.ended {
                self.pass(&mut state, frame.seq, frame.frame);
            }
        }
    }

    /// The socket no longer follows the room: nothing more of it goes out, replay included.
    pub fn end(&self) {
        let mut state = self.state();
        state.ended = true;
        state.held = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::messages::SenderView;
    use axum::extract::ws::Message;
    use tokio::sync::mpsc::Receiver;

    fn socket() -> (Subscription, Receiver<Message>) {
        let user = Arc::new(SenderView {
            id: Uuid::now_v7(),
            username: "bob".into(),
            display_name: "Bob".into(),
        });
        let (conn, mut rx) = Connection::new(user, Uuid::now_v7());
        conn.welcome(Utf8Bytes::from_static("welcome"));
        sent(&mut rx);
        (Subscription::new(conn, Uuid::now_v7()), rx)
    }

    fn sent(rx: &mut Receiver<Message>) -> Vec<String> {
        let mut frames = Vec::new();
        while let Ok(Message::Text(text)) = rx.try_recv() {
            frames.push(text.to_string());
        }
        frames
    }

    fn message(seq: i64) -> (i64, Utf8Bytes) {
        (seq, Utf8Bytes::from(format!("#{seq}")))
    }

    fn live(sub: &Subscription, seq: i64) {
        sub.deliver(Some(seq), &message(seq).1);
    }

    fn replay(sub: &Subscription, since: i64, seqs: std::ops::RangeInclusive<i64>) -> bool {
        sub.finish_replay(since, seqs.map(message).collect(), |n| {
            Utf8Bytes::from(format!("subscribed {n}"))
        })
    }

    #[test]
    fn a_live_copy_of_a_replayed_message_is_dropped() {
        let (sub, mut rx) = socket();
        sub.start_replay();
        live(&sub, 3); // committed before the history read; held meanwhile
        assert!(replay(&sub, 1, 2..=3));
        // The fan-out was late with 2 and 3: both were replayed already.
        live(&sub, 2);
        live(&sub, 3);
        live(&sub, 4);
        sub.deliver(None, &Utf8Bytes::from_static("typing"));
        assert_eq!(sent(&mut rx), ["#2", "#3", "subscribed 2", "#4", "typing"]);
    }

    #[test]
    fn a_replay_skips_what_arrived_live_before_it() {
        // A reconnected socket: 5 and 6 arrive live before the client's `subscribe` since 2.
        let (sub, mut rx) = socket();
        live(&sub, 5);
        live(&sub, 6);
        sub.start_replay();
        assert!(replay(&sub, 2, 3..=6));
        live(&sub, 6);
        live(&sub, 7);
        assert_eq!(
            sent(&mut rx),
            ["#5", "#6", "#3", "#4", "subscribed 2", "#7"]
        );
    }

    #[test]
    fn a_late_message_is_delivered_not_dropped() {
        // Across instances, 5 can reach this socket before 4.
        let (sub, mut rx) = socket();
        live(&sub, 3);
        live(&sub, 5);
        live(&sub, 4);
        live(&sub, 4);
        assert_eq!(sent(&mut rx), ["#3", "#5", "#4"]);
        // A replay then sends only what is missing.
        sub.start_replay();
        assert!(replay(&sub, 1, 2..=5));
        assert_eq!(sent(&mut rx), ["#2", "subscribed 1"]);
    }

    #[test]
    fn the_socket_knows_exactly_what_it_has_across_gaps() {
        let (sub, mut rx) = socket();
        for seq in [10, 12, 14, 11, 9, 16, 13] {
            live(&sub, seq);
        }
        for seq in 9..=16 {
            live(&sub, seq); // all copies now, but 15
        }
        assert_eq!(
            sent(&mut rx),
            ["#10", "#12", "#14", "#11", "#9", "#16", "#13", "#15"]
        );
        sub.start_replay();
        assert!(replay(&sub, 5, 6..=17));
        assert_eq!(sent(&mut rx), ["#6", "#7", "#8", "#17", "subscribed 4"]);
        assert!(sub.state().live.is_empty(), "all absorbed into the mark");
    }

    #[test]
    fn too_many_gaps_close_the_socket_to_resync() {
        let (sub, _rx) = socket();
        for run in 0..=MAX_RUNS as i64 {
            live(&sub, run * 2);
        }
        assert_eq!(
            sub.conn.closing_code(),
            Some(super::super::protocol::close::TOO_SLOW)
        );
    }

    #[test]
    fn frames_held_during_a_replay_keep_their_order() {
        let (sub, mut rx) = socket();
        sub.start_replay();
        sub.deliver(None, &Utf8Bytes::from_static("edited"));
        live(&sub, 3);
        assert!(replay(&sub, 1, 2..=2));
        assert_eq!(sent(&mut rx), ["#2", "subscribed 1", "edited", "#3"]);
    }

    #[test]
    fn a_failed_replay_releases_what_was_held() {
        let (sub, mut rx) = socket();
        sub.start_replay();
        live(&sub, 3);
        sub.abandon_replay();
        live(&sub, 4);
        assert_eq!(sent(&mut rx), ["#3", "#4"]);
    }

    #[test]
    fn an_ended_subscription_sends_nothing_more_of_the_room() {
        let (sub, mut rx) = socket();
        sub.start_replay();
        live(&sub, 3);
        sub.end();
        assert!(!replay(&sub, 1, 2..=3), "the caller must be told");
        live(&sub, 4);
        assert!(sent(&mut rx).is_empty());
    }

    #[test]
    fn too_many_held_frames_close_the_socket_as_too_slow() {
        let (sub, _rx) = socket();
        sub.start_replay();
        for seq in 0..=QUEUE_FRAMES as i64 {
            live(&sub, seq);
        }
        assert_eq!(
            sub.conn.closing_code(),
            Some(super::super::protocol::close::TOO_SLOW)
        );
    }
}
