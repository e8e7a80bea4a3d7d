//! Account values that carry their own rules: a `Username` that exists is a valid username.

use std::fmt;

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

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

text_newtype!(Username);
text_newtype!(Email);
text_newtype!(DisplayName);
text_newtype!(StatusText);

impl Username {
    /// 3–32 of `[A-Za-z0-9_.-]`.
    pub fn parse(raw: &str) -> Result<Username, &'static str> {
        if !(3..=32).contains(&raw.len()) {
            return Err("must be 3 to 32 characters");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err("may contain only letters, digits, '_', '.' and '-'");
        }
        Ok(Username(raw.to_string()))
    }
}

impl Email {
    /// A pragmatic check (one `@`, a dotted domain, no spaces); the mailbox itself is not verified.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let email = raw.trim();
        if email.len() > 254 {
            return Err("must be at most 254 characters");
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err("is not an email address");
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Email(email.to_string()))
        } else {
            Err("is not an email address")
        }
    }
}

/// Free text a person typed: trimmed, no control characters (they break terminals and NUL
/// breaks PostgreSQL), at most `max` characters.
fn human_text(raw: &str, min: usize, max: usize) -> Result<String, &'static str> {
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

impl DisplayName {
    /// 1–64 characters after trimming.
    pub fn parse(raw: &str) -> Result<DisplayName, &'static str> {
        human_text(raw, 1, 64).map(DisplayName).map_err(|e| {
            if e == "is too long" {
                "must be at most 64 characters"
            } else {
                e
            }
        })
    }
}

impl StatusText {
    /// 0–140 characters after trimming.
    pub fn parse(raw: &str) -> Result<StatusText, &'static str> {
        human_text(raw, 0, 140).map(StatusText).map_err(|e| {
            if e == "is too long" {
                "must be at most 140 characters"
            } else {
                e
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_at_their_edges() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
        assert!(Username::parse("a.b-c_D9").is_ok());
        for bad in [
            "with space",
            "émile",
            "semi;colon",
            "quote'",
            "nul\0x",
            "ab\u{200b}c",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        assert!(Email::parse("a@b.co").is_ok());
        for bad in [
            "a@b", "@b.co", "a b@c.de", "a@.de", "a@de.", "a@@b.de", "no-at",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn human_text_rules() {
        assert_eq!(DisplayName::parse("  Zoë 🚀 ").unwrap().as_str(), "Zoë 🚀");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(64)).is_ok());
        assert!(DisplayName::parse(&"é".repeat(65)).is_err());
        assert!(DisplayName::parse("a\0b").is_err());
        assert!(StatusText::parse("").is_ok());
        assert!(StatusText::parse(&"x".repeat(141)).is_err());
    }
}

text_newtype!(RoomName);
text_newtype!(Topic);
text_newtype!(Alias);
text_newtype!(MessageContent);

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

impl MessageContent {
    /// 1–`max` characters after trimming. Newlines and tabs are text; other control characters are not.
    pub fn parse(raw: &str, max: usize) -> Result<MessageContent, String> {
        let text = raw.trim();
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err("must not contain control characters".into());
        }
        match text.chars().count() {
            0 => Err("must not be empty".into()),
            n if n > max => Err(format!("must be at most {max} characters")),
            _ => Ok(MessageContent(text.to_string())),
        }
    }
}

#[cfg(test)]
mod room_tests {
    use super::*;

    #[test]
    fn message_content_at_its_edges() {
        assert!(MessageContent::parse("   ", 10).is_err());
        assert_eq!(
            MessageContent::parse(" hi\nthere ", 10).unwrap().as_str(),
            "hi\nthere"
        );
        assert!(MessageContent::parse(&"é".repeat(10), 10).is_ok());
        assert!(MessageContent::parse(&"é".repeat(11), 10).is_err());
        assert!(MessageContent::parse("nul\0", 10).is_err());
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
