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
    /// What the failed-login counters hold for an account, and for it from this address.
    async fn login_standing(&self, account: &str, ip: IpAddr) -> LoginStanding;
    /// Counts a failed login (or a wrong password on a signed-in check) against the account
    /// and against the account from this address; returns the account's count with it.
    async fn record_failed_login(&self, account: &str, ip: IpAddr) -> FailedLogins;
    /// A successful login from this address clears its failures against the account (the
    /// account's own count stands: it is what the owner is told about).
    async fn forget_failed_logins_from(&self, account: &str, ip: IpAddr);
}

/// The address a limit counts: an IPv6 client's /64 (one host or home network gets a whole
/// block, so counting single addresses would give it endless fresh ones), an IPv4 client's own
/// address (also when written as IPv4-mapped IPv6).
pub fn limited_address(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Failed logins in the current window (an hour from the first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailedLogins {
    pub count: u32,
    /// Until the window ends and the count starts again from zero.
    pub window_left: Duration,
}

/// The failed-login counters an attempt is judged by (see `auth::login_throttle`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoginStanding {
    /// Against the account, from any address.
    pub account: FailedLogins,
    /// Against the account from this address.
    pub address_failures: u32,
    /// Since this address's last failure against the account (zero when it has none).
    pub since_address_failure: Duration,
}

/// Token buckets (governor's GCRA) for request rates; window counters for failed logins.
pub struct LocalRateLimiter {
    clock: DefaultClock,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    rest: DefaultKeyedRateLimiter<Uuid>,
    ws_send: DefaultKeyedRateLimiter<Uuid>,
    /// Per account: a window of an hour from its first failure.
    failed_logins: moka::sync::Cache<String, FailureWindow>,
    /// Per (account, address): a window of an hour from its last failure.
    failed_logins_from: moka::sync::Cache<(String, IpAddr), FailureWindow>,
}

#[derive(Clone, Copy)]
struct FailureWindow {
    count: u32,
    last: Instant,
    ends: Instant,
}

impl FailureWindow {
    fn counted(&self, now: Instant) -> FailedLogins {
        FailedLogins {
            count: self.count,
            window_left: self.ends.saturating_duration_since(now),
        }
    }
}

pub const FAILURE_WINDOW: Duration = Duration::from_secs(3600);

/// A window expires when it ends, however often it was bumped in between.
struct UntilWindowEnds;

impl<K> Expiry<K, FailureWindow> for UntilWindowEnds {
    fn expire_after_create(&self, _: &K, value: &FailureWindow, now: Instant) -> Option<Duration> {
        Some(value.ends.saturating_duration_since(now))
    }
    fn expire_after_update(
        &self,
        _: &K,
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
            failed_logins_from: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .expire_after(UntilWindowEnds)
                .build(),
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

    async fn login_standing(&self, account: &str, ip: IpAddr) -> LoginStanding {
        let now = Instant::now();
        let account = account.to_lowercase();
        let from = self.failed_logins_from.get(&(account.clone(), ip));
        LoginStanding {
            account: self
                .failed_logins
                .get(&account)
                .map(|window| window.counted(now))
                .unwrap_or_default(),
            address_failures: from.map_or(0, |window| window.count),
            since_address_failure: from.map_or(Duration::ZERO, |window| {
                now.saturating_duration_since(window.last)
            }),
        }
    }

    async fn record_failed_login(&self, account: &str, ip: IpAddr) -> FailedLogins {
        let now = Instant::now();
        let account = account.to_lowercase();
        self.failed_logins_from
            .entry((account.clone(), ip))
            .and_upsert_with(|existing| FailureWindow {
                count: existing
                    .map_or(0, |e| e.into_value().count)
                    .saturating_add(1),
                last: now,
                ends: now + FAILURE_WINDOW,
            });
        let window = self
            .failed_logins
            .entry(account)
            .and_upsert_with(|existing| match existing {
                Some(entry) => {
                    let window = entry.into_value();
                    FailureWindow {
                        count: window.count.saturating_add(1),
                        last: now,
                        ends: window.ends,
                    }
                }
                None => FailureWindow {
                    count: 1,
                    last: now,
                    ends: now + FAILURE_WINDOW,
                },
            })
            .into_value();
        window.counted(now)
    }

    async fn forget_failed_logins_from(&self, account: &str, ip: IpAddr) {
        self.failed_logins_from
            .invalidate(&(account.to_lowercase(), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(auth: u32, failed: u32, rest: u32) -> RateLimitSettings {
        RateLimitSettings {
            auth_per_minute: auth,
            failed_logins_per_hour: failed,
            login_delay_after_failures: 3,
            login_delay_max_secs: 900,
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

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limited_address(a), limited_address(b));
        assert_ne!(limited_address(a), limited_address(other));
        assert_eq!(
            limited_address(a),
            "2001:db8:1:2::".parse::<IpAddr>().unwrap()
        );
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(limited_address(v4), v4);
        assert_eq!(limited_address("::ffff:192.0.2.7".parse().unwrap()), v4);
    }

    #[tokio::test]
    async fn failed_logins_count_per_account_and_per_address() {
        let limiter = LocalRateLimiter::new(&settings(10, 3, 120));
        let home: IpAddr = "127.0.0.1".parse().unwrap();
        let away: IpAddr = "127.0.0.2".parse().unwrap();
        limiter.record_failed_login("Alice", home).await;
        limiter.record_failed_login("alice", home).await;
        let counted = limiter.record_failed_login("ALICE", away).await;
        assert_eq!(counted.count, 3);
        assert!(counted.window_left > Duration::from_secs(3500));
        let standing = limiter.login_standing("alice", home).await;
        assert_eq!(standing.account.count, 3);
        assert_eq!(standing.address_failures, 2);
        assert!(standing.since_address_failure < Duration::from_secs(5));
        limiter.forget_failed_logins_from("alice", home).await;
        let standing = limiter.login_standing("alice", home).await;
        assert_eq!((standing.account.count, standing.address_failures), (3, 0));
        assert_eq!(
            limiter.login_standing("alice", away).await.address_failures,
            1
        );
        assert_eq!(
            limiter.login_standing("bob", home).await,
            LoginStanding::default()
        );
    }
}
