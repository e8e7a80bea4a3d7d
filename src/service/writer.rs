//! The message writer: every new message, from REST and WebSocket alike, goes through the
//! writer task of its room, which stores whatever is waiting in one transaction (group commit),
//! then publishes the new messages in the order they were numbered and answers each sender.
//!
//! There is no timer: while one batch commits, the next one gathers, so a quiet server commits
//! each message at once and a busy one commits hundreds per transaction. A sender is answered
//! only after the commit, so an acknowledged message survives a crash of the process.

use std::sync::{Arc, LazyLock};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::events::{DomainEvent, EventBus};
use crate::store::message_batch::{Post, Posted};
use crate::store::{Backend, Store, StoreError};
use crate::views::messages::{MessageView, ReplyView, SenderView};
use crate::views::uploads::AttachmentView;

/// Messages in one transaction at most: enough to amortise the commit, few enough that one
/// batch's statements stay small.
const MAX_BATCH: usize = 512;
/// Posts waiting for the writer at most; beyond it senders wait (backpressure, bounded memory).
const QUEUE: usize = 8192;

/// How long a batch's transaction takes, from its first statement to its commit.
static COMMIT_DURATION: LazyLock<metrics::Histogram> =
    LazyLock::new(|| metrics::histogram!("message_commit_duration_seconds"));

/// A post with what its view needs beyond the database's answer.
pub struct Submission {
    pub post: Post,
    pub reply_to: Option<ReplyView>,
    pub attachments: Vec<AttachmentView>,
    /// Tells the sender at once, from the writer, once the message is stored and before it is
    /// published (a socket's `ack`); when set, `Written::Stored` is not told again.
    pub on_stored: Option<OnStored>,
}

/// Answers a sender without waking another task: it must not block (a socket's queue).
pub type OnStored = Box<dyn FnOnce(&MessageView) + Send>;

/// What the writer did with a submission.
pub enum Written {
    /// Stored and published: the view every reader gets.
    Stored(Box<MessageView>),
    /// The sender used this `client_msg_id` before, for this message.
    Earlier(Uuid),
    /// The sender is not a member of the room (or it is gone).
    NotMember,
}

struct Job {
    submission: Submission,
    done: oneshot::Sender<Result<Written, StoreError>>,
}

#[derive(Clone)]
pub struct MessageWriter {
    queues: Arc<[mpsc::Sender<Job>]>,
}

impl MessageWriter {
    /// Starts the writer tasks, as many as the store writes at once; they end when the last
    /// handle is dropped. Each room belongs to one of them, so a room's messages are still
    /// numbered and published in one order, while batches of different rooms commit side by side.
    pub fn start(store: Store, events: EventBus) -> std::io::Result<MessageWriter> {
        let writers = store.writers();
        let mut runs = Vec::with_capacity(writers);
        let queues = (0..writers)
            .map(|_| {
                let (queue, jobs) = mpsc::channel(QUEUE / writers);
                runs.push(run(store.clone(), events.clone(), jobs));
                queue
            })
            .collect();
        match store.backend() {
            Backend::Sqlite => on_thread_of_its_own(runs)?,
            Backend::Postgres => {
                for run in runs {
                    tokio::spawn(run);
                }
            }
        }
        Ok(MessageWriter { queues })
    }

    /// Hands a message to its room's writer, behind every message of the room handed to it
    /// before (waiting while the queue is full); the answer comes once it is committed.
    pub async fn enqueue(&self, submission: Submission) -> ApiResult<Pending> {
        let (done, answer) = oneshot::channel();
        let room = submission.post.room_id.as_u128();
        let queue = &self.queues[(room % self.queues.len() as u128) as usize];
        queue
            .send(Job { submission, done })
            .await
            .map_err(|_| stopped())?;
        Ok(Pending(answer))
    }
}

/// A message in the writer's hands.
pub struct Pending(oneshot::Receiver<Result<Written, StoreError>>);

impl Pending {
    /// What became of it, once committed (and published, when new).
    pub async fn written(self) -> ApiResult<Written> {
        Ok(self.0.await.map_err(|_| stopped())??)
    }
}

fn stopped() -> ApiError {
    ApiError::Internal(anyhow::anyhow!("the message writer has stopped"))
}

/// Runs the SQLite writer on a thread of its own. Each of a batch's ~20 statements is executed
/// on the connection's own thread, which wakes the writer from outside the runtime: on the
/// shared runtime that wake-up waited in the queue behind socket tasks, every statement, and
/// the database sat idle meanwhile (measured: 0.11–0.12× the relay's msgs/s on the shared
/// runtime, 0.135–0.16× here; docs/api.md, Performance). PostgreSQL's writers stay on the
/// runtime, whose I/O driver their connections belong to (no gain measured off it).
fn on_thread_of_its_own(
    runs: Vec<impl Future<Output = ()> + Send + 'static>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("message-writer".into())
        .spawn(move || runtime.block_on(futures_util::future::join_all(runs)))?;
    Ok(())
}

async fn run(store: Store, events: EventBus, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("message_batch_size").record(batch.len() as f64);
        let posts: Vec<&Post> = batch.iter().map(|j| &j.submission.post).collect();
        let started = std::time::Instant::now();
        let committed = store.commit_posts(&posts).await;
        COMMIT_DURATION.record(started.elapsed().as_secs_f64());
        drop(posts);
        match committed {
            Ok(outcomes) => {
                for (job, posted) in batch.drain(..).zip(outcomes) {
                    finish(&events, job, posted).await;
                }
            }
            // One bad post (or a race with another instance) must not fail its neighbours:
            // each is tried again alone, and only its own failure reaches its sender. A lost
            // connection or an unavailable database fails the whole batch at once: trying 500
            // posts one by one against it would hold every sender for minutes.
            Err(err) if concerns_one_post(&err) => {
                tracing::warn!(error = %err, size = batch.len(), "message batch failed; storing one by one");
                for job in batch.drain(..) {
                    match commit_alone(&store, &job.submission.post).await {
                        Ok(posted) => finish(&events, job, posted).await,
                        Err(err) => {
                            let _ = job.done.send(Err(err));
                        }
                    }
                }
            }
            Err(err) => {
                tracing::error!(error = %err, size = batch.len(), "message batch failed");
                let reason = err.to_string();
                let mut jobs = batch.drain(..);
                if let Some(first) = jobs.next() {
                    let _ = first.done.send(Err(err));
                }
                for job in jobs {
                    let copy = std::io::Error::other(reason.clone());
                    let _ = job
                        .done
                        .send(Err(StoreError::Database(sqlx::Error::Io(copy))));
                }
            }
        }
    }
}

/// Whether a batch failed because of what one of its posts holds (a constraint, say a
/// deleted upload or a `client_msg_id` another instance stored meanwhile) or a lock conflict,
/// rather than because the database cannot be reached.
fn concerns_one_post(err: &StoreError) -> bool {
    let StoreError::Database(err) = err else {
        return false;
    };
    err.as_database_error().is_some_and(|db| {
        db.is_unique_violation()
            || db.is_foreign_key_violation()
            || db.is_check_violation()
            // PostgreSQL: deadlock detected, serialization failure.
            || matches!(db.code().as_deref(), Some("40P01" | "40001"))
    })
}

/// One post in its own transaction; a second try when another instance stored the same
/// `client_msg_id` in between (the second try finds that message).
async fn commit_alone(store: &Store, post: &Post) -> Result<Posted, StoreError> {
    let mut tried = false;
    loop {
        match store.commit_posts(&[post]).await {
            Ok(mut outcomes) => return Ok(outcomes.remove(0)),
            Err(StoreError::Database(err))
                if !tried
                    && err
                        .as_database_error()
                        .is_some_and(|e| e.is_unique_violation()) =>
            {
                tried = true;
            }
            Err(err) => return Err(err),
        }
    }
}

/// Publishes a stored message and answers its sender. Called in batch order, so each room's
/// messages are published in the order of their numbers.
async fn finish(events: &EventBus, job: Job, posted: Posted) {
    let written = match posted {
        Posted::Stored {
            id,
            seq,
            created_at,
            sender_username,
            sender_display_name,
        } => {
            let Submission {
                post,
                reply_to,
                attachments,
                on_stored,
            } = job.submission;
            // A new message has no reactions yet: its view is the same for every reader.
            let view = MessageView {
                id,
                room_id: post.room_id,
                sender: Some(SenderView {
                    id: post.sender_id,
                    username: sender_username,
                    display_name: sender_display_name,
                }),
                content: post.content,
                reply_to,
                attachments,
                reactions: Vec::new(),
                client_msg_id: post.client_msg_id,
                created_at,
                edited_at: None,
                deleted: false,
            };
            // The sender first: its answer is then queued ahead of the room's fan-out instead of
            // behind a thousand socket writers (the relay's order; docs/api.md, Performance).
            if let Some(on_stored) = on_stored {
                on_stored(&view);
            }
            events
                .publish(DomainEvent::MessageCreated {
                    room_id: view.room_id,
                    seq,
                    message: Arc::new(view.clone()),
                })
                .await;
            Written::Stored(Box::new(view))
        }
        Posted::Earlier(id) => Written::Earlier(id),
        Posted::NotMember => Written::NotMember,
    };
    let _ = job.done.send(Ok(written));
}
