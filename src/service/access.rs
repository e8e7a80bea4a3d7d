//! Who may do what in a room. Every room-scoped route starts here, so the rules live in one place:
//! private and direct rooms do not exist for non-members (404); public rooms are readable by
//! anyone signed in; a banned user is treated as a stranger until the ban expires.

use uuid::Uuid;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::service::standings::Place;
use crate::state::AppState;

pub use crate::domain::{Role, RoomKind};

/// The caller's standing in a room, from memory (`Standings`): no database read once known.
pub struct RoomAccess {
    pub room_id: Uuid,
    pub kind: RoomKind,
    /// `None` for a signed-in viewer of a public room.
    role: Option<Role>,
    pub user_id: Uuid,
}

const NO_SUCH_ROOM: ApiError = ApiError::NotFound("no such room");

impl RoomAccess {
    /// The caller's standing, if they may see the room at all.
    pub async fn load(state: &AppState, auth: &AuthUser, room_id: Uuid) -> ApiResult<RoomAccess> {
        let standings = &state.standings;
        let kind = standings
            .kind(&state.store, room_id)
            .await?
            .ok_or(NO_SUCH_ROOM)?;
        let role = match standings.place(&state.store, room_id, auth.user_id).await? {
            Place::Member(role) => Some(role),
            _ if kind != RoomKind::Public => return Err(NO_SUCH_ROOM),
            Place::Banned { .. } => {
                return Err(ApiError::Forbidden("you are banned from this room"));
            }
            Place::Outside => None,
        };
        Ok(RoomAccess {
            room_id,
            kind,
            role,
            user_id: auth.user_id,
        })
    }

    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn is_member(&self) -> bool {
        self.role.is_some()
    }

    pub fn is_direct(&self) -> bool {
        self.kind == RoomKind::Direct
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
