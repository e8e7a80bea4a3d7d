//! A room's values: its kind, its members' roles, its name, topic and alias.

use serde::Serialize;
use utoipa::ToSchema;

use super::{human_text, text_newtype};

/// A member's standing in a room, ordered by power: an admin may act on members, the owner on
/// everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(role: &str) -> Option<Role> {
        match role {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
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

/// What kind of room: who may find it, read it and join it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    /// Listed, readable by anyone signed in, open to join.
    Public,
    /// Invisible to non-members; members add people.
    Private,
    /// Two people; created with `POST /dms`.
    Direct,
}

impl RoomKind {
    pub fn parse(kind: &str) -> Option<RoomKind> {
        match kind {
            "public" => Some(RoomKind::Public),
            "private" => Some(RoomKind::Private),
            "direct" => Some(RoomKind::Direct),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Public => "public",
            RoomKind::Private => "private",
            RoomKind::Direct => "direct",
        }
    }
}

text_newtype!(RoomName);
text_newtype!(Topic);
text_newtype!(Alias);

impl RoomName {
    /// 1–80 characters after trimming.
    pub fn parse(raw: &str) -> Result<RoomName, &'static str> {
        human_text(raw, 1, 80).map(RoomName).map_err(|e| {
            if e == "is too long" {
                "must be at most 80 characters"
            } else {
                e
            }
        })
    }
}

impl Topic {
    /// 0–500 characters after trimming.
    pub fn parse(raw: &str) -> Result<Topic, &'static str> {
        human_text(raw, 0, 500).map(Topic).map_err(|e| {
            if e == "is too long" {
                "must be at most 500 characters"
            } else {
                e
            }
        })
    }
}

impl Alias {
    /// 2–64 of `[a-z0-9_-]` (stored lowercased), like a channel name in a URL.
    pub fn parse(raw: &str) -> Result<Alias, &'static str> {
        let alias = raw.trim().trim_start_matches('#').to_ascii_lowercase();
        if !(2..=64).contains(&alias.len()) {
            return Err("must be 2 to 64 characters");
        }
        if !alias
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return Err("may contain only letters, digits, '-' and '_'");
        }
        Ok(Alias(alias))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_roles_read_back_what_they_write() {
        for kind in [RoomKind::Public, RoomKind::Private, RoomKind::Direct] {
            assert_eq!(RoomKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for role in [Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(RoomKind::parse("Public"), None);
        assert_eq!(Role::parse("moderator"), None);
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::Member);
    }

    #[test]
    fn aliases() {
        assert_eq!(Alias::parse("#General").unwrap().as_str(), "general");
        assert!(Alias::parse("a").is_err());
        assert!(Alias::parse("has space").is_err());
        assert!(RoomName::parse("").is_err());
        assert!(RoomName::parse(&"x".repeat(81)).is_err());
    }
}
