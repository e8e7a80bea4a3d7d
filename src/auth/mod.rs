//! Authentication: passwords, tokens, live-session checks and the `AuthUser` extractor.

pub mod extractor;
pub mod login_throttle;
pub mod passwords;
pub mod session_gate;
pub mod tokens;

pub use extractor::AuthUser;
