//! Turns domain events into deliveries for exactly the sockets allowed to see them: each event
//! is encoded once, and the same bytes go to every receiver on every instance. The one
//! exception is an edited message: readers who reacted get a copy with their own `me`, encoded
//! once per distinct set of emojis.

use uuid::Uuid;

use super::delivery::{self, Delivery, Frame, Personal};
use super::protocol::ServerFrame;
use crate::events::DomainEvent;
use crate::service::standings::Forget;
use crate::state::AppState;
use crate::views::rooms::room_view;
use crate::views::{MessageView, PublicProfile};

/// Runs until the event bus closes (the process ends). Never skips an event: publishers wait
/// while it is behind (see `EventBus`).
pub async fn run(state: AppState) {
    let Some(mut events) = state.events.take_receiver() else {
        tracing::error!("the realtime fan-out was started twice");
        return;
    };
    while let Some(event) = events.recv().await {
        fan_out(&state, &event).await;
    }
}

/// The first step of the delivery path: the deliveries an event makes, encoded once, then
/// published (routed here and shipped to the other instances).
async fn fan_out(state: &AppState, event: &DomainEvent) {
    let mut deliveries = deliveries(state, event).await;
    let changes = Forget::after(event);
    if !changes.is_empty() {
        // First, so that on other instances nothing that follows is checked against the past.
        deliveries.insert(0, Delivery::Forget { changes });
    }
    if !deliveries.is_empty() {
        delivery::publish(state, deliveries);
    }
}

fn to_room(room_id: Uuid, frame: ServerFrame) -> Delivery {
    Delivery::ToRoom {
        room_id,
        seq: None,
        frame: Frame(frame.encode()),
        except: None,
        personal: Vec::new(),
    }
}

async fn deliveries(state: &AppState, event: &DomainEvent) -> Vec<Delivery> {
    match event {
        DomainEvent::MessageCreated {
            room_id,
            seq,
            message,
        } => vec![Delivery::ToRoom {
            room_id: *room_id,
            seq: Some(*seq),
            frame: Frame(ServerFrame::MessageNew { message }.encode()),
            except: None,
            personal: Vec::new(),
        }],
        DomainEvent::MessageEdited { room_id, message } => {
            // One frame for everyone, and one per distinct set of emojis readers reacted with.
            let edited =
                |view: &MessageView| Frame(ServerFrame::MessageEdited { message: view }.encode());
            vec![Delivery::ToRoom {
                room_id: *room_id,
                seq: None,
                frame: edited(&message.view),
                except: None,
                personal: message
                    .personal_views()
                    .into_iter()
                    .map(|(user_ids, view)| Personal {
                        user_ids,
                        frame: edited(&view),
                    })
                    .collect(),
            }]
        }
        DomainEvent::MessageDeleted {
            room_id,
            message_id,
        } => vec![to_room(
            *room_id,
            ServerFrame::MessageDeleted {
                room_id: *room_id,
                message_id: *message_id,
            },
        )],
        DomainEvent::Reaction {
            room_id,
            message_id,
            emoji,
            user_id,
            added,
        } => vec![to_room(
            *room_id,
            ServerFrame::Reaction {
                room_id: *room_id,
                message_id: *message_id,
                emoji,
                user_id: *user_id,
                added: *added,
            },
        )],
        DomainEvent::Read {
            room_id,
            user_id,
            message_id,
        } => vec![to_room(
            *room_id,
            ServerFrame::Read {
                room_id: *room_id,
                user_id: *user_id,
                message_id: *message_id,
            },
        )],
        DomainEvent::MemberJoined { room_id, user } => vec![
            // Subscribe first, so the newcomer's sockets get this event and everything after it.
            Delivery::SubscribeUser {
                user_id: user.id,
                room_id: *room_id,
            },
            to_room(
                *room_id,
                ServerFrame::MemberJoined {
                    room_id: *room_id,
                    user,
                },
            ),
        ],
        DomainEvent::MemberLeft { room_id, user_id } => member_left(*room_id, *user_id).into(),
        DomainEvent::MemberRoleChanged {
            room_id,
            user_id,
            role,
        } => vec![to_room(
            *room_id,
            ServerFrame::MemberRoleChanged {
                room_id: *room_id,
                user_id: *user_id,
                role: *role,
            },
        )],
        DomainEvent::RoomUpdated { room } => {
            vec![to_room(room.id, ServerFrame::RoomUpdated { room })]
        }
        DomainEvent::RoomDeleted {
            room_id,
            member_ids,
        } => vec![Delivery::RoomDeleted {
            room_id: *room_id,
            member_ids: member_ids.clone(),
            frame: Frame(ServerFrame::RoomDeleted { room_id: *room_id }.encode()),
        }],
        DomainEvent::DmCreated { room_id, user_ids } => {
            let mut deliveries = Vec::with_capacity(4);
            for user_id in user_ids {
                deliveries.push(Delivery::SubscribeUser {
                    user_id: *user_id,
                    room_id: *room_id,
                });
                // Each member sees the room from their side (the other user's profile).
                let Ok(Some(room)) = state.store.room(*room_id).await else {
                    continue;
                };
                let standing = state
                    .store
                    .membership(*room_id, *user_id)
                    .await
                    .ok()
                    .flatten()
                    .map(|m| (m.role, m.read_seq));
                match room_view(state, *user_id, room, standing).await {
                    Ok(view) => deliveries.push(Delivery::ToUser {
                        user_id: *user_id,
                        frame: Frame(ServerFrame::DmCreated { room: &view }.encode()),
                    }),
                    Err(err) => tracing::warn!(error = %err, "could not build dm_created"),
                }
            }
            deliveries
        }
        DomainEvent::Banned {
            room_id,
            user_id,
            until,
            reason,
        } => {
            let banned = ServerFrame::Banned {
                room_id: *room_id,
                until: *until,
                reason,
            };
            vec![
                Delivery::ToUser {
                    user_id: *user_id,
                    frame: Frame(banned.encode()),
                },
                Delivery::RemoveUser {
                    user_id: *user_id,
                    room_id: *room_id,
                },
            ]
        }
        DomainEvent::SessionsRevoked {
            user_id,
            session_ids,
            reason,
        } => vec![Delivery::RevokeSessions {
            user_id: *user_id,
            session_ids: session_ids.clone(),
            frame: Frame(ServerFrame::SessionRevoked { reason: *reason }.encode()),
        }],
        DomainEvent::SecurityNotice { user_id, notice } => vec![Delivery::ToUser {
            user_id: *user_id,
            frame: Frame(ServerFrame::SecurityNotice(notice).encode()),
        }],
        DomainEvent::UserUpdated { user_id } => {
            user_updated(state, *user_id).await.into_iter().collect()
        }
        DomainEvent::UserDeleted { user_id, room_ids } => room_ids
            .iter()
            .flat_map(|room_id| member_left(*room_id, *user_id))
            .collect(),
        DomainEvent::Unbanned { .. } => Vec::new(),
    }
}

/// `member_left` to the room, then the user's sockets stop following it (and leave its call).
fn member_left(room_id: Uuid, user_id: Uuid) -> [Delivery; 2] {
    [
        to_room(room_id, ServerFrame::MemberLeft { room_id, user_id }),
        Delivery::RemoveUser { user_id, room_id },
    ]
}

/// `user_updated` with the profile as it is now, once to each socket sharing a room with the
/// user as a member (their own included). None when the user is gone (deleted meanwhile: the
/// `member_left`s say so) or cannot be read.
async fn user_updated(state: &AppState, user_id: Uuid) -> Option<Delivery> {
    let read = async {
        let user = state.store.user_by_id(user_id).await?;
        let room_ids = state.store.room_ids_of(user_id).await?;
        Ok::<_, crate::store::StoreError>(user.map(|user| (user, room_ids)))
    };
    let (user, room_ids) = match read.await {
        Ok(Some(found)) => found,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!(error = %err, %user_id, "could not build user_updated");
            return None;
        }
    };
    let online = state.presence.is_online(user_id);
    let profile = PublicProfile::new(state, user, online);
    let frame = Frame(ServerFrame::UserUpdated { user: &profile }.encode());
    Some(if room_ids.is_empty() {
        // Nobody shares a room with them: their own other devices still learn it.
        Delivery::ToUser { user_id, frame }
    } else {
        Delivery::ToMembers { room_ids, frame }
    })
}
