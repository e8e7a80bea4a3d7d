//! A message's text.

use super::text_newtype;

text_newtype!(MessageContent);

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
mod tests {
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
}
