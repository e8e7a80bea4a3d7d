//! `messages`: message size, edit window and the realtime fan-out buffer.

use serde::{Deserialize, Serialize};

use super::{ConfigError, bad};

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MessageSettings {
    pub max_content_chars: usize,
    pub edit_window_secs: u64,
    /// Events waiting for the realtime fan-out at most; beyond it publishers wait.
    pub fanout_buffer: usize,
}

impl MessageSettings {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&self.max_content_chars) {
            return bad("messages.max_content_chars", "must be between 1 and 100000");
        }
        if !(1..=1_000_000).contains(&self.fanout_buffer) {
            return bad("messages.fanout_buffer", "must be between 1 and 1000000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Settings;

    #[test]
    fn content_length_is_bounded() {
        let mut messages = Settings::defaults().messages;
        messages.validate().unwrap();
        messages.max_content_chars = 100_001;
        let err = messages.validate().unwrap_err().to_string();
        assert!(err.contains("messages.max_content_chars"), "{err}");
    }
}
