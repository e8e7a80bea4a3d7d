//! What text Chatter accepts anywhere: no control characters but tab and line breaks. NUL in
//! particular cannot be stored by PostgreSQL (a 500 where SQLite said 401), and the others
//! break terminals and logs. JSON bodies, WebSocket frames, query strings and paths are
//! checked once, where they are read (`http::extract`, `realtime::frames`); the domain
//! newtypes hold the stricter rules of each kind of value.

use serde_json::Value;

/// True for a character no text input may hold.
pub fn is_forbidden(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The first forbidden character of `text`, if any.
pub fn forbidden_in(text: &str) -> Option<char> {
    text.chars().find(|&c| is_forbidden(c))
}

/// The reason given for a refused value.
pub const REASON: &str = "must not contain control characters";

/// Checks every string (keys too) of a JSON document that is already known to be well formed.
/// Err(path) names the first string holding a forbidden character: `username`,
/// `attachments[0]`, or `body` for the top level.
pub fn check_json(bytes: &[u8]) -> Result<(), String> {
    // A forbidden character can only be written as an escape (`\u0000`: raw control bytes are
    // not JSON), as DEL (0x7F) or as a C1 control (0xC2 0x80..0x9F in UTF-8). Most bodies hold
    // none of these, and are let through without being parsed a second time.
    let suspicious = bytes
        .windows(2)
        .any(|w| w == b"\\u" || w[0] == 0x7f || (w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1])))
        || bytes.last() == Some(&0x7f);
    if !suspicious {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        // Well formed, yet no `Value` (a number out of range, a lone surrogate escape): the
        // typed parse may still accept it, skipping the odd part, so check the text itself.
        return if raw_forbidden(bytes) {
            Err("body".into())
        } else {
            Ok(())
        };
    };
    match forbidden_path(&value) {
        Some(path) if path.is_empty() => Err("body".into()),
        Some(path) => Err(path),
        None => Ok(()),
    }
}

/// True when the JSON text holds a forbidden character, written out or as a `\u` escape.
fn raw_forbidden(bytes: &[u8]) -> bool {
    if forbidden_in(&String::from_utf8_lossy(bytes)).is_some() {
        return true;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'u')
            && let Some(hex) = bytes.get(i + 2..i + 6)
            && let Ok(hex) = std::str::from_utf8(hex)
            && let Ok(code) = u32::from_str_radix(hex, 16)
            && char::from_u32(code).is_some_and(is_forbidden)
        {
            return true;
        }
        i += 2; // an escape is a backslash and at least one more byte
    }
    false
}

fn forbidden_path(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => forbidden_in(s).map(|_| String::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| forbidden_path(item).map(|rest| join(&format!("[{i}]"), &rest))),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if forbidden_in(key).is_some() {
                return Some(key.escape_debug().to_string());
            }
            forbidden_path(item).map(|rest| join(key, &rest))
        }),
        _ => None,
    }
}

fn join(head: &str, rest: &str) -> String {
    if rest.is_empty() {
        head.to_string()
    } else if rest.starts_with('[') {
        format!("{head}{rest}")
    } else {
        format!("{head}.{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_and_line_breaks_are_text_other_controls_are_not() {
        assert_eq!(forbidden_in("a\tb\r\nc"), None);
        for bad in ["a\0b", "\u{1b}[31m", "del\u{7f}", "c1\u{85}", "\u{9f}"] {
            assert!(forbidden_in(bad).is_some(), "{bad:?}");
        }
        assert_eq!(forbidden_in("émoji 🎉 £ ©"), None);
    }

    #[test]
    fn json_names_the_string_that_holds_one() {
        assert_eq!(check_json(br#"{"username":"ann","password":"x"}"#), Ok(()));
        assert_eq!(
            check_json(br#"{"content":"line\nbreak \u00e9 \u00a3"}"#),
            Ok(())
        );
        assert_eq!(check_json("{\"content\":\"£ and ©\"}".as_bytes()), Ok(()));
        assert_eq!(
            check_json(br#"{"username":"a\u0000"}"#),
            Err("username".into())
        );
        assert_eq!(
            check_json(br#"{"x":{"ids":["ok","b\u001b"]}}"#),
            Err("x.ids[1]".into())
        );
        assert_eq!(
            check_json(br#"{"x":[{"y":"\u007f"}]}"#),
            Err("x[0].y".into())
        );
        assert_eq!(
            check_json("{\"c1\":\"\u{85}\"}".as_bytes()),
            Err("c1".into())
        );
        assert_eq!(check_json(br#""\u0000""#), Err("body".into()));
        assert_eq!(check_json(br#"{"k\u0000":1}"#), Err("k\\0".into()));
        // Well formed but not a `Value`: still checked.
        assert_eq!(
            check_json(br#"{"u":"a\u0000","pad":1e400}"#),
            Err("body".into())
        );
        assert_eq!(check_json(br#"{"u":"a\\u0000","pad":1e400}"#), Ok(()));
        assert_eq!(check_json(br#"{"u":"ok \u00e9","pad":1e400}"#), Ok(()));
    }
}
