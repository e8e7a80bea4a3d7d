//! Who may do what in a room. Every room-scoped route starts here, so the rules live in one place:
//! private and direct rooms do not exist for non-members (404); public rooms are readable by
//! anyone signed in; a banned user is treated as a stranger until the ban expires.

use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::members::Membership;
use crate::store::rooms::Room;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(role: &str) -> Role {
        match role {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            _ => Role::Member,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// A room together with the caller's standing in it.
pub struct RoomAccess {
    pub room: Room,
    pub membership: Option<Membership>,
    pub user_id: Uuid,
}

const NO_SUCH_ROOM: ApiError = ApiError::NotFound("no such room");

impl RoomAccess {
    /// Loads the room if the caller may see it at all.
    pub async fn load(state: &AppState, auth: &AuthUser, room_id: Uuid) -> ApiResult<RoomAccess> {
        let room = state.store.room(room_id).await?.ok_or(NO_SUCH_ROOM)?;
        let membership = state.store.membership(room_id, auth.user_id).await?;
        if membership.is_none() {
            if room.kind != "public" {
                return Err(NO_SUCH_ROOM);
            }
            if state
                .store
                .active_ban(room_id, auth.user_id)
                .await?
                .is_some()
            {
                return Err(ApiError::Forbidden("you are banned from this room"));
            }
        }
        Ok(RoomAccess {
            room,
            membership,
            user_id: auth.user_id,
        })
    }

    pub fn role(&self) -> Option<Role> {
        self.membership.as_ref().map(|m| Role::parse(&m.role))
    }

    pub fn is_direct(&self) -> bool {
        self.room.kind == "direct"
    }

    /// Posting, reacting and reading receipts need membership.
    pub fn require_member(&self) -> ApiResult<Role> {
        self.role()
            .ok_or(ApiError::Forbidden("join the room first"))
    }

    pub fn require_admin(&self) -> ApiResult<Role> {
        match self.require_member()? {
            role @ (Role::Admin | Role::Owner) if !self.is_direct() => Ok(role),
            _ => Err(ApiError::Forbidden("only the room's admins may do that")),
        }
    }

    pub fn require_owner(&self) -> ApiResult<()> {
        match self.require_member()? {
            Role::Owner if !self.is_direct() => Ok(()),
            _ => Err(ApiError::Forbidden("only the room's owner may do that")),
        }
    }
}
