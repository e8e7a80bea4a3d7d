//! docs/protocol.md is the wire format: every server frame it shows (the welcome frame and the
//! "Server → client frames" section) must be exactly what a `ServerFrame` with the same values
//! encodes to, and every kind of `ServerFrame` must be shown there.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Acked, Presence, ServerFrame, SignalAction};
use crate::domain::{Role, RoomKind};
use crate::error::{ApiError, ErrorBody};
use crate::events::RevokeReason;
use crate::realtime::calls::Participant;
use crate::time::Timestamp;
use crate::views::{Me, MessageView, PublicProfile, RoomView, SecurityNotice, SenderView};

/// Read when the test runs (not embedded): the release build, and its Docker stage, never need
/// the docs.
fn protocol_doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md");
    std::fs::read_to_string(path).expect("docs/protocol.md")
}

/// Every JSON value in the fenced `json` blocks of the given part of the document (a block may
/// hold several frames, one after another).
fn documented_frames(part: &str) -> Vec<Value> {
    let mut frames = Vec::new();
    let mut rest = part;
    while let Some(start) = rest.find("```json\n") {
        let block = &rest[start + 8..];
        let end = block.find("```").expect("an unterminated json block");
        for value in serde_json::Deserializer::from_str(&block[..end]).into_iter::<Value>() {
            frames.push(value.expect("a documented frame that is not JSON"));
        }
        rest = &block[end + 3..];
    }
    frames
}

fn between<'a>(text: &'a str, from: &str, to: &str) -> &'a str {
    let start = text.find(from).expect("a section the test expects");
    let end = start + text[start..].find(to).expect("the section's end");
    &text[start..end]
}

fn id(text: &str) -> Uuid {
    text.parse().expect("a documented id")
}

fn at(text: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(text)
        .expect("a documented time")
        .with_timezone(&Utc)
}

const ALICE: &str = "0193a5b2-7c41-7d2e-9f10-3b8e5a1c2d01";
const BOB: &str = "0193a5b2-7c6f-7a11-8c3d-5e2f1a9b4c02";
const CAROL: &str = "0193a5b2-7c9a-7b4e-a2f1-6d3c8e7f5a03";
const GENERAL: &str = "0193a5b2-8e10-7f3a-b4c5-1a2b3c4d5e10";
const DM: &str = "0193a5b3-1a20-7c11-9d22-6e7f8a9b0c20";
const HELLO: &str = "0193a5b2-f3c2-7a1d-b2e3-4f5a6b7c8d31";
const ALICE_SOCKET: &str = "0193a5b2-f0a0-7b1c-8d2e-3f4a5b6c7d40";
const BOB_SOCKET: &str = "0193a5b2-f1b1-7c2d-9e3f-4a5b6c7d8e41";

fn sender(user: &str) -> SenderView {
    let (username, display_name) = match user {
        ALICE => ("alice", "Alice"),
        _ => ("bob", "Bob"),
    };
    SenderView {
        id: id(user),
        username: username.into(),
        display_name: display_name.into(),
    }
}

fn profile(user: &str, username: &str, display_name: &str) -> PublicProfile {
    PublicProfile {
        id: id(user),
        username: username.into(),
        display_name: display_name.into(),
        avatar_url: None,
        status_text: String::new(),
        online: true,
        last_seen_at: None,
    }
}

fn message(content: &str, edited_at: Option<&str>) -> MessageView {
    MessageView {
        id: id(HELLO),
        room_id: id(GENERAL),
        sender: Some(sender(ALICE)),
        content: content.into(),
        reply_to: None,
        attachments: Vec::new(),
        reactions: Vec::new(),
        client_msg_id: Some("web-5f1c2b".into()),
        created_at: at("2026-11-22T17:58:13.296Z"),
        edited_at: edited_at.map(at),
        deleted: false,
    }
}

fn general(topic: &str, member_count: i64) -> RoomView {
    RoomView {
        id: id(GENERAL),
        kind: RoomKind::Public,
        name: "General".into(),
        topic: topic.into(),
        alias: Some("general".into()),
        created_by: Some(id(ALICE)),
        created_at: at("2026-11-22T17:58:10.694Z"),
        member_count,
        my_role: None,
        unread_count: None,
        last_message: None,
        other_user: None,
        ws_url: format!("ws://localhost:8080/ws/{GENERAL}"),
    }
}

fn participant(socket: &str, user: &str, video: bool) -> Participant {
    Participant {
        connection_id: id(socket),
        user: Arc::new(sender(user)),
        audio: true,
        video,
        screen: false,
    }
}

/// The frames the document shows, built from the same values.
fn samples() -> Vec<Value> {
    let encoded = |frame: ServerFrame| -> Value {
        serde_json::from_str(&frame.encode()).expect("an encoded frame is JSON")
    };
    let replied = |reference: Value, frame: ServerFrame| -> Value {
        serde_json::from_str(&frame.reply(Some(&reference))).expect("an encoded frame is JSON")
    };
    let (general_id, dm_id) = (id(GENERAL), id(DM));
    let me = Me {
        id: id(ALICE),
        username: "alice".into(),
        email: None,
        display_name: "Alice".into(),
        status_text: String::new(),
        avatar_url: None,
        created_at: at("2026-11-22T17:58:10.576Z"),
        updated_at: at("2026-11-22T17:58:10.576Z"),
    };
    let welcome_message = MessageView {
        id: id("0193a5b2-9a01-7e5f-8a6b-7c8d9e0f1a30"),
        content: "Welcome to #general".into(),
        client_msg_id: None,
        created_at: at("2026-11-22T17:58:10.703Z"),
        ..message("", None)
    };
    let my_general = RoomView {
        my_role: Some(Role::Owner),
        unread_count: Some(0),
        last_message: Some(welcome_message),
        ..general("Say hello", 2)
    };
    let dm = RoomView {
        id: dm_id,
        kind: RoomKind::Direct,
        name: "Alice".into(),
        topic: String::new(),
        alias: None,
        created_by: Some(id(ALICE)),
        created_at: at("2026-11-22T17:58:30.441Z"),
        member_count: 2,
        my_role: Some(Role::Member),
        unread_count: Some(0),
        last_message: None,
        other_user: Some(profile(ALICE, "alice", "Alice")),
        ws_url: format!("ws://localhost:8080/ws/{DM}"),
    };
    let hello = message("hello", None);
    let edited = message("hello, everyone", Some("2026-11-22T17:58:14.813Z"));
    let notice = SecurityNotice::LoginThrottled {
        failed_logins: 20,
        throttled_until: at("2026-12-07T15:40:00.000Z"),
    };
    let alice_in_call = [participant(ALICE_SOCKET, ALICE, true)];
    let bob_in_call = participant(BOB_SOCKET, BOB, false);
    let (alice, bob) = (sender(ALICE), sender(BOB));
    // The browser's own SDP and ICE objects, relayed untouched: opaque JSON to the server.
    let offer =
        json!({"sdp": "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n...", "type": "offer"});
    let candidate = json!({
        "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0",
        "sdpMLineIndex": 0,
        "sdpMid": "0",
    });
    let empty_content = ApiError::validation("content", "must not be empty");
    vec![
        encoded(ServerFrame::AuthRequired),
        encoded(ServerFrame::Welcome {
            connection_id: id(ALICE_SOCKET),
            user: &me,
            session_id: id("0193a5b2-7c44-7e01-8a22-d4e5f6a7b8c9"),
            rooms: std::slice::from_ref(&my_general),
            heartbeat_secs: 30,
        }),
        replied(
            Value::from(3),
            ServerFrame::Subscribed {
                room_id: general_id,
                replayed: 1,
                has_more: false,
            },
        ),
        replied(Value::from(8), ServerFrame::Pong),
        replied(
            Value::from(7),
            ServerFrame::Ack(Acked::Deleted {
                message_id: id(HELLO),
            }),
        ),
        replied(
            Value::from(5),
            ServerFrame::Ack(Acked::Room {
                room_id: general_id,
            }),
        ),
        replied(Value::from(22), ServerFrame::Ack(Acked::Done)),
        replied(
            Value::from(12),
            ServerFrame::Error {
                error: ErrorBody::new("forbidden", "only the sender may edit a message"),
                retry_after_ms: None,
            },
        ),
        replied(
            Value::from(13),
            ServerFrame::error("bad_frame", "unreadable frame: missing field `content`"),
        ),
        replied(Value::from(14), ServerFrame::api_error(&empty_content)),
        replied(
            Value::from(24),
            ServerFrame::error("peer_not_found", "no such connection in this room's call"),
        ),
        replied(
            Value::from(25),
            ServerFrame::error("not_in_call", "join the call first"),
        ),
        encoded(ServerFrame::MessageNew { message: &hello }),
        encoded(ServerFrame::MessageEdited { message: &edited }),
        encoded(ServerFrame::MessageDeleted {
            room_id: general_id,
            message_id: id(HELLO),
        }),
        encoded(ServerFrame::Reaction {
            room_id: general_id,
            message_id: id(HELLO),
            emoji: "👍",
            user_id: id(BOB),
            added: true,
        }),
        encoded(ServerFrame::Read {
            room_id: general_id,
            user_id: id(BOB),
            message_id: id(HELLO),
        }),
        encoded(ServerFrame::Typing {
            room_id: general_id,
            user_id: id(BOB),
            active: true,
        }),
        encoded(ServerFrame::Presence {
            user_id: id(BOB),
            status: Presence::Online,
            last_seen_at: None,
        }),
        encoded(ServerFrame::Presence {
            user_id: id(BOB),
            status: Presence::Offline,
            last_seen_at: Some(at("2026-11-22T17:58:47.031Z")),
        }),
        encoded(ServerFrame::UserUpdated {
            user: &PublicProfile {
                status_text: "Back on Monday".into(),
                ..profile(BOB, "bob", "Bobby")
            },
        }),
        encoded(ServerFrame::MemberJoined {
            room_id: general_id,
            user: &profile(CAROL, "carol", "Carol"),
        }),
        encoded(ServerFrame::MemberLeft {
            room_id: general_id,
            user_id: id(CAROL),
        }),
        encoded(ServerFrame::MemberRoleChanged {
            room_id: general_id,
            user_id: id(BOB),
            role: Role::Admin,
        }),
        encoded(ServerFrame::RoomUpdated {
            room: &general("Say hello, be kind", 3),
        }),
        encoded(ServerFrame::RoomDeleted {
            room_id: id("0193a5b4-0c00-7d00-8e00-9f0000000050"),
        }),
        encoded(ServerFrame::DmCreated { room: &dm }),
        encoded(ServerFrame::Banned {
            room_id: general_id,
            until: Some(at("2026-11-23T17:58:28.932Z")),
            reason: "spam",
        }),
        encoded(ServerFrame::SessionRevoked {
            reason: RevokeReason::Logout,
        }),
        encoded(ServerFrame::SecurityNotice(&notice)),
        replied(
            Value::from(21),
            ServerFrame::CallParticipants {
                room_id: dm_id,
                participants: &alice_in_call,
            },
        ),
        encoded(ServerFrame::CallJoined {
            room_id: dm_id,
            participant: &bob_in_call,
        }),
        encoded(ServerFrame::CallMedia {
            room_id: dm_id,
            connection_id: id(BOB_SOCKET),
            user_id: id(BOB),
            audio: true,
            video: false,
            screen: true,
        }),
        encoded(ServerFrame::CallLeft {
            room_id: dm_id,
            connection_id: id(BOB_SOCKET),
        }),
        encoded(ServerFrame::Webrtc {
            room_id: dm_id,
            from: id(BOB_SOCKET),
            from_user: &bob,
            action: SignalAction::Offer,
            sdp: Some(&offer),
            candidate: None,
        }),
        encoded(ServerFrame::Webrtc {
            room_id: dm_id,
            from: id(ALICE_SOCKET),
            from_user: &alice,
            action: SignalAction::Ice,
            sdp: None,
            candidate: Some(&candidate),
        }),
    ]
}

fn kind(frame: &Value) -> &str {
    frame["type"].as_str().unwrap_or("(no type)")
}

/// Every kind of server frame. The match stops compiling when a variant is added: give it a
/// sample in `samples` (and the document a section), then list it here.
fn every_kind() -> BTreeSet<&'static str> {
    let listed = |frame: &ServerFrame| match frame {
        ServerFrame::AuthRequired => "auth_required",
        ServerFrame::Welcome { .. } => "welcome",
        ServerFrame::Subscribed { .. } => "subscribed",
        ServerFrame::Pong => "pong",
        ServerFrame::Ack(_) => "ack",
        ServerFrame::Error { .. } => "error",
        ServerFrame::MessageNew { .. } => "message_new",
        ServerFrame::MessageEdited { .. } => "message_edited",
        ServerFrame::MessageDeleted { .. } => "message_deleted",
        ServerFrame::Reaction { .. } => "reaction",
        ServerFrame::Read { .. } => "read",
        ServerFrame::Typing { .. } => "typing",
        ServerFrame::Presence { .. } => "presence",
        ServerFrame::UserUpdated { .. } => "user_updated",
        ServerFrame::MemberJoined { .. } => "member_joined",
        ServerFrame::MemberLeft { .. } => "member_left",
        ServerFrame::MemberRoleChanged { .. } => "member_role_changed",
        ServerFrame::RoomUpdated { .. } => "room_updated",
        ServerFrame::RoomDeleted { .. } => "room_deleted",
        ServerFrame::DmCreated { .. } => "dm_created",
        ServerFrame::Banned { .. } => "banned",
        ServerFrame::SessionRevoked { .. } => "session_revoked",
        ServerFrame::SecurityNotice(_) => "security_notice",
        ServerFrame::CallParticipants { .. } => "call_participants",
        ServerFrame::CallJoined { .. } => "call_joined",
        ServerFrame::CallMedia { .. } => "call_media",
        ServerFrame::CallLeft { .. } => "call_left",
        ServerFrame::Webrtc { .. } => "webrtc",
    };
    let _ = listed;
    BTreeSet::from([
        "auth_required",
        "welcome",
        "subscribed",
        "pong",
        "ack",
        "error",
        "message_new",
        "message_edited",
        "message_deleted",
        "reaction",
        "read",
        "typing",
        "presence",
        "user_updated",
        "member_joined",
        "member_left",
        "member_role_changed",
        "room_updated",
        "room_deleted",
        "dm_created",
        "banned",
        "session_revoked",
        "security_notice",
        "call_participants",
        "call_joined",
        "call_media",
        "call_left",
        "webrtc",
    ])
}

#[test]
fn every_documented_server_frame_is_what_the_server_encodes() {
    let doc = protocol_doc();
    let mut documented = documented_frames(between(&doc, "### The welcome frame", "| field |"));
    documented.extend(documented_frames(between(
        &doc,
        "## Frames, `ref`, `ack` and `error`",
        "**Error codes on the socket**",
    )));
    documented.extend(documented_frames(between(
        &doc,
        "## Server → client frames",
        "## Close codes",
    )));
    assert!(
        documented.len() > 30,
        "found only {} frames",
        documented.len()
    );
    let samples = samples();
    for frame in &documented {
        let same_kind: Vec<&Value> = samples.iter().filter(|s| kind(s) == kind(frame)).collect();
        assert!(
            same_kind.contains(&frame),
            "docs/protocol.md shows\n{frame:#}\nbut the server encodes `{}` as\n{:#?}",
            kind(frame),
            same_kind,
        );
    }
    let shown: BTreeSet<&str> = documented.iter().map(kind).collect();
    let encoded: BTreeSet<&str> = samples.iter().map(kind).collect();
    assert_eq!(
        encoded,
        every_kind(),
        "every kind of server frame has a sample here"
    );
    assert_eq!(
        shown, encoded,
        "every kind of server frame is shown in docs/protocol.md, and nothing else"
    );
    for sample in &samples {
        assert!(
            documented.contains(sample),
            "docs/protocol.md does not show\n{sample:#}"
        );
    }
}

/// The document shows the ack of a message in words ("`message`, `ref`, `type`"): the message
/// is the one `message_new` carries.
#[test]
fn a_message_is_acknowledged_with_the_message_new_carries() {
    let hello = message("hello", None);
    let ack: Value = serde_json::from_str(
        &ServerFrame::Ack(Acked::Message { message: &hello }).reply(Some(&Value::from(1))),
    )
    .unwrap();
    let new: Value =
        serde_json::from_str(&ServerFrame::MessageNew { message: &hello }.encode()).unwrap();
    assert_eq!(
        ack,
        json!({"type": "ack", "ref": 1, "message": new["message"]})
    );
    assert!(protocol_doc().contains(
        r#"- `{"message": {…}, "ref": 1, "type": "ack"}` (for `send_message` and `edit_message`)"#
    ));
}
