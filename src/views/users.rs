//! People as clients see them: the signed-in user's own account and everyone's public profile.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::state::AppState;
use crate::store::users::User;
use crate::time::{self, Timestamp};

/// The signed-in user's own account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub display_name: String,
    pub status_text: String,
    pub avatar_url: Option<String>,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

/// What anyone signed in may see of a user.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicProfile {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub avatar_url: Option<String>,
    pub status_text: String,
    pub online: bool,
    #[serde(serialize_with = "time::rfc3339_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_seen_at: Option<Timestamp>,
}

/// Something about their account's security that its owner is told: live as a
/// `security_notice` event, and in the sessions view while it holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SecurityNotice {
    /// Sign-in to the account is throttled: this many failed attempts in the current hour-long
    /// window, which ends at `throttled_until`. The owner's own sign-ins still work.
    LoginThrottled {
        failed_logins: u32,
        #[serde(serialize_with = "time::rfc3339")]
        #[schema(value_type = String, format = DateTime)]
        throttled_until: Timestamp,
    },
}

/// A signed URL of the avatar's bytes: anyone shown the profile can load the picture with a
/// plain `<img src>`, without being able to see the user's other uploads.
fn avatar_url(state: &AppState, user: &User) -> Option<String> {
    user.avatar_upload_id
        .map(|id| super::uploads::content_url(state, id))
}

impl Me {
    pub fn new(state: &AppState, user: User) -> Me {
        Me {
            avatar_url: avatar_url(state, &user),
            id: user.id,
            username: user.username,
            email: user.email,
            display_name: user.display_name,
            status_text: user.status_text,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}

impl PublicProfile {
    pub fn new(state: &AppState, user: User, online: bool) -> PublicProfile {
        PublicProfile {
            avatar_url: avatar_url(state, &user),
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            status_text: user.status_text,
            online,
            last_seen_at: user.last_seen_at,
        }
    }
}
