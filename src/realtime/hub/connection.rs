//! The hub's handle on one open socket: its bounded queue, the welcome gate, the close decision.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use axum::extract::ws::{Message, Utf8Bytes};
use tokio::sync::{Notify, mpsc};
use uuid::Uuid;

use super::ConnId;
use crate::realtime::protocol::close;
use crate::views::SenderView;

/// Frames queued per socket before it counts as too slow to keep up.
pub const QUEUE_FRAMES: usize = 256;

/// Looked up once: the macro hashes its name into the registry on every call, and this one
/// counts every frame of every socket.
static FRAMES_OUT: LazyLock<metrics::Counter> =
    LazyLock::new(|| metrics::counter!("ws_frames_out_total"));

/// The hub's handle on one open socket.
pub struct Connection {
    pub id: ConnId,
    pub user: Arc<SenderView>,
    pub session_id: Uuid,
    tx: mpsc::Sender<Message>,
    /// 0 while open; the close code once closing was decided.
    closing: AtomicU16,
    close_now: Notify,
    /// Until the welcome is queued, everything else waits here: the welcome is the first frame.
    gated: AtomicBool,
    before_welcome: Mutex<Vec<Message>>,
}

impl Connection {
    pub fn new(
        user: Arc<SenderView>,
        session_id: Uuid,
    ) -> (Arc<Connection>, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(QUEUE_FRAMES);
        let conn = Connection {
            id: Uuid::now_v7(),
            user,
            session_id,
            tx,
            closing: AtomicU16::new(0),
            close_now: Notify::new(),
            gated: AtomicBool::new(true),
            before_welcome: Mutex::new(Vec::new()),
        };
        (Arc::new(conn), rx)
    }

    /// Queues a frame without waiting. A full queue closes the socket with 4009.
    pub fn send(&self, frame: Message) -> bool {
        if self.gated.load(Ordering::Acquire) {
            let mut waiting = self
                .before_welcome
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            // Checked again under the lock: `welcome` may have opened the gate meanwhile.
            if self.gated.load(Ordering::Acquire) {
                if waiting.len() >= QUEUE_FRAMES {
                    return false;
                }
                waiting.push(frame);
                return true;
            }
        }
        self.enqueue(frame)
    }

    /// Queues the welcome, then whatever arrived before it, and opens the gate.
    pub fn welcome(&self, frame: Utf8Bytes) {
        let mut waiting = self
            .before_welcome
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.enqueue(Message::Text(frame));
        for frame in waiting.drain(..) {
            self.enqueue(frame);
        }
        self.gated.store(false, Ordering::Release);
    }

    fn enqueue(&self, frame: Message) -> bool {
        match self.tx.try_send(frame) {
            Ok(()) => {
                FRAMES_OUT.increment(1);
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close_too_slow();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn send_text(&self, frame: Utf8Bytes) -> bool {
        self.send(Message::Text(frame))
    }

    /// Closes the socket with 4009: it cannot keep up with what it is sent.
    pub fn close_too_slow(&self) {
        if self.close(close::TOO_SLOW) {
            metrics::counter!("ws_slow_consumer_closes_total").increment(1);
            tracing::info!(connection_id = %self.id, user_id = %self.user.id, "closing a socket too slow to keep up");
        }
    }

    /// The close code, once closing was decided.
    pub fn closing_code(&self) -> Option<u16> {
        Some(self.closing.load(Ordering::Acquire)).filter(|code| *code != 0)
    }

    /// Asks the socket to close with `code`; true if this call decided it.
    pub fn close(&self, code: u16) -> bool {
        let decided = self
            .closing
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if decided {
            // Every waiter: the reader and the writer both wait for it.
            self.close_now.notify_waiters();
        }
        decided
    }

    /// Resolves once a close was decided, with its code.
    pub async fn closed(&self) -> u16 {
        loop {
            // Registered before the code is read: a close decided in between still wakes it.
            let notified = self.close_now.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let code = self.closing.load(Ordering::Acquire);
            if code != 0 {
                return code;
            }
            notified.await;
        }
    }
}
