//! What the hub is asked to do with an encoded frame, as plain data: "to room R", "to user U",
//! "to connection C", and the subscription changes that go with them. Every instance routes a
//! delivery to its own sockets, so the same value can be routed here and shipped across the
//! cluster bus unchanged: the frame is encoded once, on the instance where the event happened.
//!
//! The delivery path, one name per step: `fanout` turns a domain event into deliveries;
//! `publish` routes them here and ships them to the other instances (whose `Node` routes
//! them too); `route` finds this instance's sockets for one delivery; each socket
//! `deliver`s the frame to its bounded queue, which its writer task drains.

use axum::extract::ws::Utf8Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use super::hub::ConnId;
use crate::service::standings::Forget;
use crate::state::AppState;

/// An encoded server frame, shared by every receiver (a reference-counted buffer).
#[derive(Debug, Clone)]
pub struct Frame(pub Utf8Bytes);

impl Serialize for Frame {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for Frame {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Frame, D::Error> {
        String::deserialize(d).map(|s| Frame(Utf8Bytes::from(s)))
    }
}

impl Delivery {
    /// An encoded frame for everyone following the room but `except` (not a `message_new`, so
    /// nothing a socket could already have).
    pub fn to_room(room_id: Uuid, frame: Utf8Bytes, except: Option<ConnId>) -> Delivery {
        Delivery::ToRoom {
            room_id,
            seq: None,
            frame: Frame(frame),
            except,
            personal: Vec::new(),
        }
    }
}

/// Receivers whose copy of a room frame differs from everyone else's (their own `me` in an
/// edited message's reactions): these users' sockets get `frame` instead of the shared one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Personal {
    pub user_ids: Vec<Uuid>,
    pub frame: Frame,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Delivery {
    /// To every socket following the room but `except`. `seq`, the number of the message a
    /// `message_new` carries, lets each socket drop a message it already has (see
    /// `subscription`). `personal`: receivers who get a frame of their own instead (an instance
    /// that predates it ignores it and sends everyone the shared frame).
    ToRoom {
        room_id: Uuid,
        seq: Option<i64>,
        frame: Frame,
        except: Option<ConnId>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        personal: Vec<Personal>,
    },
    ToUser {
        user_id: Uuid,
        frame: Frame,
    },
    ToConnection {
        connection_id: ConnId,
        frame: Frame,
    },
    /// Once to each socket that follows any of the rooms as a member, however many it shares
    /// (a profile change goes to everyone who shares a room with the user).
    ToMembers {
        room_ids: Vec<Uuid>,
        frame: Frame,
    },
    /// The user joined the room: their sockets follow it from now on.
    SubscribeUser {
        user_id: Uuid,
        room_id: Uuid,
    },
    /// Left, removed or banned: their sockets stop following it and leave its call.
    RemoveUser {
        user_id: Uuid,
        room_id: Uuid,
    },
    /// To the room's followers and to members' sockets that did not follow it; then the room
    /// is forgotten.
    RoomDeleted {
        room_id: Uuid,
        member_ids: Vec<Uuid>,
        frame: Frame,
    },
    /// Tells the sessions' sockets why, then closes them with 4003.
    RevokeSessions {
        user_id: Uuid,
        session_ids: Vec<Uuid>,
        frame: Frame,
    },
    /// Memberships, roles or bans changed, or a room is gone: access checks forget what they
    /// knew of them (on the instance where it happened, this was done before acknowledging).
    Forget {
        changes: Vec<Forget>,
    },
}

/// Publishes deliveries made on this instance: routes them to its sockets and ships them to
/// the other instances, which route them to theirs.
pub fn publish(state: &AppState, deliveries: Vec<Delivery>) {
    for delivery in &deliveries {
        route(state, delivery);
    }
    if let Some(cluster) = &state.cluster {
        cluster.publish_deliveries(&deliveries);
    }
}

pub fn publish_one(state: &AppState, delivery: Delivery) {
    publish(state, vec![delivery]);
}

/// Routes one delivery to the sockets of this instance that should get it, each of which
/// delivers it to its queue (`Subscription::deliver`, `Connection::send_text`).
pub fn route(state: &AppState, delivery: &Delivery) {
    let hub = &state.hub;
    match delivery {
        Delivery::ToRoom {
            room_id,
            seq,
            frame,
            except,
            personal,
        } => hub.to_room(*room_id, *seq, &frame.0, *except, personal),
        Delivery::ToUser { user_id, frame } => hub.to_user(*user_id, &frame.0),
        Delivery::ToConnection {
            connection_id,
            frame,
        } => {
            if let Some(conn) = hub.connection(*connection_id) {
                conn.send_text(frame.0.clone());
            }
        }
        Delivery::ToMembers { room_ids, frame } => hub.to_members_once(room_ids, &frame.0, None),
        Delivery::SubscribeUser { user_id, room_id } => hub.subscribe_user(*user_id, *room_id),
        Delivery::RemoveUser { user_id, room_id } => {
            hub.unsubscribe_user(*user_id, *room_id);
            super::leave_calls_of_user(state, *room_id, *user_id);
        }
        Delivery::RoomDeleted {
            room_id,
            member_ids,
            frame,
        } => {
            hub.to_room(*room_id, None, &frame.0, None, &[]);
            for member in member_ids {
                // Members not following the room on some socket still learn it there.
                for conn in hub.user_connections(*member) {
                    if !hub.is_subscribed(conn.id, *room_id) {
                        conn.send_text(frame.0.clone());
                    }
                }
            }
            hub.drop_room(*room_id);
        }
        Delivery::RevokeSessions {
            user_id,
            session_ids,
            frame,
        } => hub.revoke_sessions(*user_id, session_ids, &frame.0),
        Delivery::Forget { changes } => state.standings.forget(changes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_survives_the_bus_unchanged() {
        let room_id = Uuid::now_v7();
        let delivery = Delivery::ToRoom {
            room_id,
            seq: None,
            frame: Frame(Utf8Bytes::from_static(r#"{"type":"typing","active":true}"#)),
            except: Some(Uuid::now_v7()),
            personal: Vec::new(),
        };
        let bytes = serde_json::to_vec(&delivery).unwrap();
        let back: Delivery = serde_json::from_slice(&bytes).unwrap();
        match back {
            Delivery::ToRoom {
                room_id: r, frame, ..
            } => {
                assert_eq!(r, room_id);
                assert_eq!(frame.0.as_str(), r#"{"type":"typing","active":true}"#);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
