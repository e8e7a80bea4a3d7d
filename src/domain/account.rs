//! An account's values: username, email, display name, status.

use super::{human_text, text_newtype};

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

/// Without a display name of their own, people are shown by their username (always a valid
/// display name: 3–32 visible characters).
impl From<&Username> for DisplayName {
    fn from(username: &Username) -> DisplayName {
        DisplayName(username.0.clone())
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
