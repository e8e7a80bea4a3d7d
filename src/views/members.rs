//! Room members and bans as clients see them.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::Role;
use uuid::Uuid;

use super::PublicProfile;
use crate::state::AppState;
use crate::store::members::{Ban, Member};
use crate::time::{self, Timestamp};

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub user: PublicProfile,
    pub role: Role,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub joined_at: Timestamp,
    /// How far this member has read (read receipts).
    pub read_up_to: Option<Uuid>,
}

impl MemberView {
    pub fn new(state: &AppState, member: Member) -> MemberView {
        let online = state.presence.is_online(member.user.id);
        MemberView {
            user: PublicProfile::new(state, member.user, online),
            role: member.role,
            joined_at: member.joined_at,
            read_up_to: member.read_message_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BanView {
    pub user_id: Uuid,
    pub banned_by: Option<Uuid>,
    pub reason: String,
    #[serde(serialize_with = "time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Timestamp>,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Ban> for BanView {
    fn from(ban: Ban) -> BanView {
        BanView {
            user_id: ban.user_id,
            banned_by: ban.banned_by,
            reason: ban.reason,
            until: ban.until,
            created_at: ban.created_at,
        }
    }
}
