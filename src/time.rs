//! Timestamps as the API shows them: UTC, RFC 3339, millisecond precision.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};
use serde::Serializer;

pub type Timestamp = DateTime<Utc>;

/// Now, truncated to milliseconds so that what is stored is exactly what clients see.
pub fn now() -> Timestamp {
    let now = Utc::now();
    now.with_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(now)
}

pub fn format(ts: &Timestamp) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(serialize_with = "crate::time::rfc3339")]`
pub fn rfc3339<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(ts))
}

/// `#[serde(serialize_with = "crate::time::rfc3339_opt")]`
pub fn rfc3339_opt<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(ts) => s.serialize_str(&format(ts)),
        None => s.serialize_none(),
    }
}
