//! One socket following one room, and what makes resume exact: a socket is never sent the same
//! message twice, and a `subscribe` with `since` sends it everything after `since` it lacks.
//!
//! Why the subscription must remember what it sent: a message's live event and its replay
//! can cross. A message committed before a replay's history read is in the replay, but its
//! event may still be in the event bus, in the fan-out, or on the cluster bus from another
//! instance when the replay ends, and then arrives live a second time. And a reconnected
//! socket already gets live messages between `welcome` and the client's `subscribe`, which a
//! replay would repeat. Timing cannot rule either out (a loaded machine, a big room, Redis), so
//! each subscription keeps the set of message numbers (`seq`, gapless per room) its socket was
//! sent, as runs of consecutive numbers: one run, normally, since live messages come in order;
//! another only where live delivery skipped a number. Anything in the set is not sent again,
//! wherever it comes from; anything outside it is sent, so a late message is delivered, never
//! lost.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::ws::Utf8Bytes;
use uuid::Uuid;

use super::hub::{Connection, QUEUE_FRAMES};

/// Runs a subscription keeps. Each extra run is a gap in live delivery (a message still on its
/// way from another instance, one lost to a Redis outage, or the rest of a `has_more` replay);
/// past this many, the lowest run is forgotten: a later replay may then repeat those messages,
/// the safe side (never a loss), and it needs that many gaps in one room to happen.
const MAX_RUNS: usize = 16;

pub struct Subscription {
    pub conn: Arc<Connection>,
    room_id: Uuid,
    /// Followed as a member (else as a viewer of a public room): presence goes to members only.
    member: AtomicBool,
    /// Locked for a check and a non-blocking enqueue on this one socket, never across sockets
    /// or an await; it is contended only when a replay meets a live delivery.
    state: Mutex<SubscriptionState>,
}

#[derive(Default)]
struct SubscriptionState {
    /// The numbers of the messages sent to this socket: runs of consecutive numbers, sorted,
    /// inclusive, never touching (touching runs are merged).
    sent: Vec<(i64, i64)>,
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
        // Newest first: a copy is usually of a recent message.
        self.sent
            .iter()
            .rev()
            .any(|(from, to)| (*from..=*to).contains(&seq))
    }

    /// Adds the numbers `from..=to` to what the socket was sent.
    fn add(&mut self, from: i64, to: i64) {
        if let Some(last) = self.sent.last_mut()
            && from <= last.1.saturating_add(1)
            && from >= last.0
        {
            // The usual case: the next live message, or a replay reaching the newest run.
            last.1 = last.1.max(to);
            return;
        }
        // Runs that overlap or touch `from..=to` merge with it into one.
        let first = self
            .sent
            .partition_point(|(_, end)| end.saturating_add(1) < from);
        let last = self
            .sent
            .partition_point(|(start, _)| *start <= to.saturating_add(1));
        let merged = self.sent[first..last]
            .iter()
            .fold((from, to), |(f, t), (start, end)| {
                (f.min(*start), t.max(*end))
            });
        self.sent.splice(first..last, [merged]);
        if self.sent.len() > MAX_RUNS {
            self.sent.remove(0);
        }
    }
}

impl Subscription {
    pub fn new(conn: Arc<Connection>, room_id: Uuid, member: bool) -> Subscription {
        Subscription {
            conn,
            room_id,
            member: AtomicBool::new(member),
            state: Mutex::new(SubscriptionState::default()),
        }
    }

    pub fn is_member(&self) -> bool {
        self.member.load(Ordering::Relaxed)
    }

    pub fn set_member(&self, member: bool) {
        self.member.store(member, Ordering::Relaxed);
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
            state.add(seq, seq);
        }
        self.conn.send_text(frame);
    }

    /// Holds live frames back until `finish_replay`, from before the history is read.
    pub fn start_replay(&self) {
        self.state().held.get_or_insert_with(Vec::new);
    }

    /// Sends the replayed messages the socket lacks (all those after `since`, oldest first, up
    /// to a limit, as read from the database), then the reply built from how many were sent,
    /// then the live frames held meanwhile, minus what the socket has by then. One lock for all
    /// of it, so no live frame can slip between them. False if the socket stopped following
    /// the room meanwhile: then nothing was sent.
    pub fn finish_replay(
        &self,
        replayed: Vec<(i64, Utf8Bytes)>,
        reply: impl FnOnce(usize) -> Utf8Bytes,
    ) -> bool {
        let mut state = self.state();
        let held = state.held.take().unwrap_or_default();
        if state.ended {
            return false;
        }
        let page = replayed
            .first()
            .zip(replayed.last())
            .map(|(a, b)| (a.0, b.0));
        let mut sent = 0;
        for (seq, frame) in replayed {
            if !state.has(seq) {
                self.conn.send_text(frame);
                sent += 1;
            }
        }
        // The page is gapless (every message after `since`), so the socket has all of it now.
        if let Some((from, to)) = page {
            state.add(from, to);
        }
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
    use crate::views::SenderView;
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
        (Subscription::new(conn, Uuid::now_v7(), true), rx)
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

    fn replay(sub: &Subscription, seqs: std::ops::RangeInclusive<i64>) -> bool {
        sub.start_replay();
        sub.finish_replay(seqs.map(message).collect(), |n| {
            Utf8Bytes::from(format!("subscribed {n}"))
        })
    }

    fn runs(sub: &Subscription) -> Vec<(i64, i64)> {
        sub.state().sent.clone()
    }

    #[test]
    fn a_live_copy_of_a_replayed_message_is_dropped() {
        let (sub, mut rx) = socket();
        sub.start_replay();
        live(&sub, 3); // committed before the history read; held meanwhile
        assert!(
            sub.finish_replay(vec![message(2), message(3)], |n| Utf8Bytes::from(format!(
                "subscribed {n}"
            )))
        );
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
        assert!(replay(&sub, 3..=6));
        live(&sub, 6);
        live(&sub, 7);
        assert_eq!(
            sent(&mut rx),
            ["#5", "#6", "#3", "#4", "subscribed 2", "#7"]
        );
        assert_eq!(runs(&sub), [(3, 7)]);
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
        assert!(replay(&sub, 2..=5));
        assert_eq!(sent(&mut rx), ["#2", "subscribed 1"]);
    }

    #[test]
    fn the_socket_knows_exactly_what_it_has_across_gaps() {
        let (sub, mut rx) = socket();
        for seq in [10, 12, 14, 11, 9, 16, 13] {
            live(&sub, seq);
        }
        assert_eq!(runs(&sub), [(9, 14), (16, 16)]);
        for seq in 9..=16 {
            live(&sub, seq); // all copies now, but 15
        }
        assert_eq!(
            sent(&mut rx),
            ["#10", "#12", "#14", "#11", "#9", "#16", "#13", "#15"]
        );
        assert!(replay(&sub, 6..=17));
        assert_eq!(sent(&mut rx), ["#6", "#7", "#8", "#17", "subscribed 4"]);
        assert_eq!(runs(&sub), [(6, 17)]);
    }

    #[test]
    fn a_replay_that_stops_short_leaves_a_gap_a_late_message_may_fill() {
        // `has_more`: the page ends at 5, live messages are at 9 already.
        let (sub, mut rx) = socket();
        live(&sub, 9);
        assert!(replay(&sub, 1..=5));
        live(&sub, 7); // late, inside the gap: delivered
        live(&sub, 4); // in the page: a copy
        live(&sub, 10);
        assert_eq!(
            sent(&mut rx),
            [
                "#9",
                "#1",
                "#2",
                "#3",
                "#4",
                "#5",
                "subscribed 5",
                "#7",
                "#10"
            ]
        );
        assert_eq!(runs(&sub), [(1, 5), (7, 7), (9, 10)]);
    }

    #[test]
    fn past_the_limit_the_lowest_run_is_forgotten_never_more() {
        let (sub, mut rx) = socket();
        for run in 0..=MAX_RUNS as i64 {
            live(&sub, run * 2);
        }
        assert_eq!(runs(&sub).len(), MAX_RUNS);
        assert_eq!(runs(&sub)[0], (2, 2), "0 was forgotten");
        assert_eq!(sub.conn.closing_code(), None, "the socket lives on");
        sent(&mut rx);
        live(&sub, 0); // may come again: the safe side
        live(&sub, 2);
        assert_eq!(sent(&mut rx), ["#0"]);
    }

    #[test]
    fn frames_without_a_number_always_pass() {
        // Events other than message_new (and a message from an instance that sends no number).
        let (sub, mut rx) = socket();
        live(&sub, 1);
        sub.deliver(None, &Utf8Bytes::from_static("edited"));
        sub.deliver(None, &Utf8Bytes::from_static("edited"));
        assert_eq!(sent(&mut rx), ["#1", "edited", "edited"]);
    }

    #[test]
    fn frames_held_during_a_replay_keep_their_order() {
        let (sub, mut rx) = socket();
        sub.start_replay();
        sub.deliver(None, &Utf8Bytes::from_static("edited"));
        live(&sub, 3);
        assert!(
            sub.finish_replay(vec![message(2)], |n| Utf8Bytes::from(format!(
                "subscribed {n}"
            )))
        );
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
        assert!(
            !sub.finish_replay(vec![message(2)], |_| Utf8Bytes::from_static("subscribed")),
            "the caller must be told"
        );
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
