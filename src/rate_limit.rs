//! Rate limits behind one interface, so a cluster-wide (Redis) implementation can replace the
//! in-process one without touching callers.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use moka::Expiry;
use uuid::Uuid;

use crate::config::RateLimitSettings;

/// How long to wait before the next attempt can succeed.
pub type RetryAfter = Duration;

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Register, login and refresh, per client IP.
    async fn check_auth(&self, ip: IpAddr) -> Result<(), RetryAfter>;
    /// Authenticated REST requests, per user.
    async fn check_rest(&self, user_id: Uuid) -> Result<(), RetryAfter>;
    /// WebSocket `send_message`, per user (10/s, bursts of 20).
    async fn check_ws_send(&self, user_id: Uuid) -> Result<(), RetryAfter>;
    /// Some(wait) while an account has used up its failed logins for the hour.
    async fn login_lockout(&self, account: &str) -> Option<RetryAfter>;
    async fn record_failed_login(&self, account: &str);
}

/// Token buckets (governor's GCRA) for request rates; a one-hour window counter for failed logins.
pub struct LocalRateLimiter {
    clock: DefaultClock,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    rest: DefaultKeyedRateLimiter<Uuid>,
    ws_send: DefaultKeyedRateLimiter<Uuid>,
    failed_logins: moka::sync::Cache<String, FailureWindow>,
    failed_login_limit: u32,
}

#[derive(Clone, Copy)]
struct FailureWindow {
    count: u32,
    ends: Instant,
}

const FAILURE_WINDOW: Duration = Duration::from_secs(3600);

/// A window expires when it ends, however often it was bumped in between.
struct UntilWindowEnds;

impl Expiry<String, FailureWindow> for UntilWindowEnds {
    fn expire_after_create(
        &self,
        _: &String,
        value: &FailureWindow,
        now: Instant,
    ) -> Option<Duration> {
        Some(value.ends.saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _: &String,
        value: &FailureWindow,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ends.saturating_duration_since(now))
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl LocalRateLimiter {
    pub fn new(settings: &RateLimitSettings) -> Arc<LocalRateLimiter> {
        let limiter = Arc::new(LocalRateLimiter {
            clock: DefaultClock::default(),
            auth: DefaultKeyedRateLimiter::keyed(per_minute(settings.auth_per_minute)),
            rest: DefaultKeyedRateLimiter::keyed(per_minute(settings.rest_per_minute)),
            ws_send: DefaultKeyedRateLimiter::keyed(
                Quota::per_second(
                    NonZeroU32::new(settings.ws_messages_per_sec).unwrap_or(NonZeroU32::MIN),
                )
                .allow_burst(
                    NonZeroU32::new(settings.ws_messages_burst).unwrap_or(NonZeroU32::MIN),
                ),
            ),
            failed_logins: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(UntilWindowEnds)
                .build(),
            failed_login_limit: settings.failed_logins_per_hour,
        });
        // Keyed limiters keep one entry per key ever seen; drop the ones back at full capacity.
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(limiter) = weak.upgrade() else { break };
                limiter.auth.retain_recent();
                limiter.rest.retain_recent();
                limiter.ws_send.retain_recent();
            }
        });
        limiter
    }

    fn wait(
        &self,
        result: Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>,
    ) -> Result<(), RetryAfter> {
        result.map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[async_trait]
impl RateLimiter for LocalRateLimiter {
    async fn check_auth(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        self.wait(self.auth.check_key(&ip))
    }

    async fn check_rest(&self, user_id: Uuid) -> Result<(), RetryAfter> {
        self.wait(self.rest.check_key(&user_id))
    }

    async fn check_ws_send(&self, user_id: Uuid) -> Result<(), RetryAfter> {
        self.wait(self.ws_send.check_key(&user_id))
    }

    async fn login_lockout(&self, account: &str) -> Option<RetryAfter> {
        let window = self.failed_logins.get(&account.to_lowercase())?;
        (window.count >= self.failed_login_limit)
            .then(|| window.ends.saturating_duration_since(Instant::now()))
    }

    async fn record_failed_login(&self, account: &str) {
        self.failed_logins
            .entry(account.to_lowercase())
            .and_upsert_with(|existing| match existing {
                Some(entry) => {
                    let window = entry.into_value();
                    FailureWindow {
                        count: window.count.saturating_add(1),
                        ends: window.ends,
                    }
                }
                None => FailureWindow {
                    count: 1,
                    ends: Instant::now() + FAILURE_WINDOW,
                },
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auth: u32, failed: u32, rest: u32) -> RateLimitSettings {
        RateLimitSettings {
            auth_per_minute: auth,
            failed_logins_per_hour: failed,
            rest_per_minute: rest,
            ws_messages_per_sec: 10,
            ws_messages_burst: 20,
        }
    }

    #[tokio::test]
    async fn ws_sends_allow_a_burst_of_twenty() {
        let limiter = LocalRateLimiter::new(&settings(10, 20, 120));
        let user = Uuid::now_v7();
        for _ in 0..20 {
            assert!(limiter.check_ws_send(user).await.is_ok());
        }
        let wait = limiter.check_ws_send(user).await.unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
    }

    #[tokio::test]
    async fn buckets_allow_exactly_the_quota() {
        let limiter = LocalRateLimiter::new(&settings(10, 20, 120));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..10 {
            assert!(limiter.check_auth(ip).await.is_ok());
        }
        let wait = limiter.check_auth(ip).await.unwrap_err();
        assert!(
            wait > Duration::from_secs(1) && wait <= Duration::from_secs(6),
            "{wait:?}"
        );
        assert!(
            limiter
                .check_auth("127.0.0.2".parse().unwrap())
                .await
                .is_ok(),
            "other IPs unaffected"
        );
    }

    #[tokio::test]
    async fn failed_logins_lock_after_the_limit() {
        let limiter = LocalRateLimiter::new(&settings(10, 3, 120));
        for _ in 0..2 {
            limiter.record_failed_login("Alice").await;
        }
        assert!(limiter.login_lockout("alice").await.is_none());
        limiter.record_failed_login("alice").await;
        let wait = limiter.login_lockout("ALICE").await.unwrap();
        assert!(wait > Duration::from_secs(3500), "{wait:?}");
    }
}
