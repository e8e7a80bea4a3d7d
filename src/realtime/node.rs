//! This instance as a node of the cluster: what it does with what the cluster tells it. The
//! cluster is transport (Redis and plain data); the reactions (which sockets hear what, what
//! is stored) are here.

use uuid::Uuid;

use super::delivery::{self, Delivery};
use crate::cluster::{ClusterHandler, Envelope};
use crate::state::AppState;

pub struct Node {
    state: AppState,
}

impl Node {
    pub fn new(state: AppState) -> Node {
        Node { state }
    }
}

impl ClusterHandler for Node {
    type Delivery = Delivery;

    async fn receive(&self, from: Uuid, envelope: Envelope<Vec<Delivery>>) {
        let state = &self.state;
        match envelope {
            Envelope::Deliveries { deliveries } => {
                for delivery in &deliveries {
                    if let Delivery::RevokeSessions { session_ids, .. } = delivery {
                        // Access tokens of these sessions stop working here too, not at cache
                        // expiry.
                        state.sessions.forget(session_ids).await;
                    }
                    delivery::route(state, delivery);
                }
            }
            Envelope::Online { user_id, rooms } => {
                if state.presence.remote_online(from, user_id) {
                    super::announce_presence(state, user_id, &rooms, true, None);
                }
            }
            Envelope::Offline {
                user_id,
                rooms,
                last_seen_at,
            } => {
                if state.presence.remote_offline(from, user_id) {
                    super::announce_presence(state, user_id, &rooms, false, Some(last_seen_at));
                }
            }
            Envelope::Roster { user_ids } => {
                let (came, went) = state.presence.set_roster(from, user_ids);
                if !(came.is_empty() && went.is_empty()) {
                    // Database lookups: off the bus reader, which must keep up.
                    tokio::spawn(announce_news(state.clone(), came, went));
                }
            }
            Envelope::InstanceGone { instance_id } => {
                let went = state.presence.instance_gone(instance_id);
                tokio::spawn(announce_news(state.clone(), Vec::new(), went));
            }
        }
    }

    async fn rejoin(&self) -> redis::RedisResult<()> {
        let (came, went) = self.state.presence.rejoin().await?;
        self.state.calls.rejoin().await?;
        announce_news(self.state.clone(), came, went).await;
        Ok(())
    }

    fn following(&self, following: bool) {
        // Access checks trust memory only while changes made elsewhere are heard.
        self.state.standings.set_heard(following);
        if following {
            // What was missed while not following: revocations, removals, additions.
            tokio::spawn(super::recheck_sockets(self.state.clone()));
        }
    }

    fn repeat(&self) {
        self.state.presence.publish_roster();
    }

    async fn reap(&self, instance: Uuid) {
        let state = &self.state;
        let reaped = state.presence.reap(instance).await;
        announce_news(state.clone(), Vec::new(), reaped.offline).await;
        let now = crate::time::now();
        for user in reaped.last_seen {
            if let Err(err) = state.store.touch_last_seen(user, now).await {
                tracing::warn!(error = %err, "could not store last_seen_at");
            }
        }
        for (room_id, connection_id) in state.calls.reap(instance).await {
            super::call_left(state, room_id, connection_id);
        }
    }
}

/// Presence news about users of other instances, whose rooms this instance does not have at
/// hand: the rooms come from the database.
async fn announce_news(state: AppState, came: Vec<Uuid>, went: Vec<Uuid>) {
    if state.hub.counts().0 == 0 {
        // Nobody here to tell (e.g. this instance just started).
        return;
    }
    let now = crate::time::now();
    for (users, online) in [(came, true), (went, false)] {
        for user in users {
            match state.store.room_ids_of(user).await {
                Ok(rooms) => {
                    let last_seen = (!online).then_some(now);
                    super::announce_presence(&state, user, &rooms, online, last_seen);
                }
                Err(err) => tracing::warn!(error = %err, "could not announce a user's presence"),
            }
        }
    }
}

/// A graceful stop: this instance's sockets leave their calls and the cluster hears that the
/// instance is gone.
pub async fn leave_cluster(state: &AppState) {
    let Some(cluster) = &state.cluster else {
        return;
    };
    let last_words: Vec<Delivery> = state
        .calls
        .leave_all()
        .await
        .into_iter()
        .map(|(room_id, conn_id)| super::call_left_delivery(room_id, conn_id))
        .collect();
    crate::cluster::liveness::leave(cluster, &last_words).await;
}
