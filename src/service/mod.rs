//! The product's rules, once, below both transports: REST handlers and WebSocket frames call
//! these use-cases, which check access, change the store and publish the domain events.

pub mod access;
pub mod accounts;
pub mod dms;
pub mod members;
pub mod messages;
pub mod rooms;
pub mod standings;
pub mod writer;

use crate::error::{ApiError, ApiResult};

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;

/// A page size as asked for: 1–100, 50 when not given.
pub fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        n @ 1..=MAX_PAGE => Ok(n),
        _ => Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_PAGE}"
        ))),
    }
}
