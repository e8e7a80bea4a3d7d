//! Values that carry their own rules, parsed once at the edge: a `Username` that exists is a
//! valid username, a `Role` is one of three. The store maps them to columns.

mod account;
mod message;
mod room;

pub use account::{DisplayName, Email, StatusText, Username};
pub use message::MessageContent;
pub use room::{Alias, Role, RoomKind, RoomName, Topic};

macro_rules! text_newtype {
    ($name:ident) => {
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub(crate) use text_newtype;

/// Free text a person typed: trimmed, no control characters (they break terminals and NUL
/// breaks PostgreSQL), at most `max` characters.
pub(crate) fn human_text(raw: &str, min: usize, max: usize) -> Result<String, &'static str> {
    let text = raw.trim();
    if text.chars().any(|c| c.is_control()) {
        return Err("must not contain control characters");
    }
    let len = text.chars().count();
    if len < min {
        return Err("must not be empty");
    }
    if len > max {
        return Err("is too long");
    }
    Ok(text.to_string())
}
