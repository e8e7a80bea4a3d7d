//! Rate limits counted in Redis, shared by every instance: the same GCRA as the in-process
//! limiter (a burst of N, then one request per interval), run as one Lua script per check so a
//! check is a single atomic round trip. Redis's own clock is used, so instance clocks may differ.
//! While Redis is away, the in-process limiter answers instead: limits still hold per instance.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::Cluster;
use crate::config::RateLimitSettings;
use crate::rate_limit::{
    FAILURE_WINDOW, FailedLogins, LocalRateLimiter, LoginStanding, RateLimiter, RetryAfter,
};

/// KEYS[1]: the bucket. ARGV: emission interval (ms), burst. Returns 0 when allowed, else the
/// milliseconds until the next request would be.
const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local over = next_tat - now - burst * interval
if over > 0 then return over end
redis.call('SET', KEYS[1], next_tat, 'PX', next_tat - now)
return 0
"#;

/// Redis's clock in milliseconds, as the failed-login scripts start.
const NOW_MS: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"#;

/// KEYS[1]: the account's failure counter, KEYS[2]: the (account, address) hash {n, last}.
/// Returns {account count, ms left in its window, failures from the address, ms since the last}.
const LOGIN_STANDING: &str = r#"
local count = tonumber(redis.call('GET', KEYS[1])) or 0
local left = math.max(redis.call('PTTL', KEYS[1]), 0)
local from = redis.call('HMGET', KEYS[2], 'n', 'last')
local n = tonumber(from[1]) or 0
local since = 0
if n > 0 then since = math.max(now - (tonumber(from[2]) or now), 0) end
return {count, left, n, since}
"#;

/// The same keys; ARGV[1]: the window (ms). Counts one failure in both: the account's window
/// starts with its first failure, the address's with its last. Returns {count, ms left}.
const RECORD_FAILED_LOGIN: &str = r#"
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
redis.call('HINCRBY', KEYS[2], 'n', 1)
redis.call('HSET', KEYS[2], 'last', now)
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return {count, math.max(redis.call('PTTL', KEYS[1]), 0)}
"#;

struct Quota {
    interval_ms: u64,
    burst: u64,
}

impl Quota {
    fn per_minute(n: u32) -> Quota {
        let n = u64::from(n.max(1));
        Quota {
            interval_ms: (60_000 / n).max(1),
            burst: n,
        }
    }
}

pub struct RedisRateLimiter {
    cluster: Cluster,
    fallback: Arc<LocalRateLimiter>,
    gcra: Script,
    login_standing: Script,
    record_failed_login: Script,
    auth: Quota,
    rest: Quota,
    ws_send: Quota,
}

impl RedisRateLimiter {
    pub fn new(cluster: Cluster, settings: &RateLimitSettings) -> Arc<RedisRateLimiter> {
        Arc::new(RedisRateLimiter {
            cluster,
            fallback: LocalRateLimiter::new(settings),
            gcra: Script::new(GCRA),
            login_standing: Script::new(&format!("{NOW_MS}{LOGIN_STANDING}")),
            record_failed_login: Script::new(&format!("{NOW_MS}{RECORD_FAILED_LOGIN}")),
            auth: Quota::per_minute(settings.auth_per_minute),
            rest: Quota::per_minute(settings.rest_per_minute),
            ws_send: Quota {
                interval_ms: (1000 / u64::from(settings.ws_messages_per_sec.max(1))).max(1),
                burst: u64::from(settings.ws_messages_burst.max(1)),
            },
        })
    }

    /// The keys of an account's failure counter and of its failures from one address.
    fn failed_login_keys(&self, account: &str, ip: IpAddr) -> [String; 2] {
        let account = account.to_lowercase();
        let keys = self.cluster.keys();
        [
            keys.rate("failed-login", &account),
            keys.rate("failed-login-from", &format!("{account}|{ip}")),
        ]
    }

    /// Ok(None) allowed, Ok(Some(wait)) refused, Err when Redis did not answer.
    async fn check(
        &self,
        kind: &str,
        key: &str,
        quota: &Quota,
    ) -> redis::RedisResult<Option<RetryAfter>> {
        let wait_ms: u64 = self
            .gcra
            .key(self.cluster.keys().rate(kind, key))
            .arg(quota.interval_ms)
            .arg(quota.burst)
            .invoke_async(&mut self.cluster.redis())
            .await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms)))
    }

    fn answer(
        &self,
        what: &str,
        outcome: redis::RedisResult<Option<RetryAfter>>,
    ) -> Option<Result<(), RetryAfter>> {
        match outcome {
            Ok(None) => Some(Ok(())),
            Ok(Some(wait)) => Some(Err(wait)),
            Err(err) => {
                self.cluster.redis_failed(what, &err);
                None
            }
        }
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check_auth(&self, ip: IpAddr) -> Result<(), RetryAfter> {
        let outcome = self.check("auth", &ip.to_string(), &self.auth).await;
        match self.answer("rate limit", outcome) {
            Some(answer) => answer,
            None => self.fallback.check_auth(ip).await,
        }
    }

    async fn check_rest(&self, user_id: Uuid) -> Result<(), RetryAfter> {
        let outcome = self.check("rest", &user_id.to_string(), &self.rest).await;
        match self.answer("rate limit", outcome) {
            Some(answer) => answer,
            None => self.fallback.check_rest(user_id).await,
        }
    }

    async fn check_ws_send(&self, user_id: Uuid) -> Result<(), RetryAfter> {
        let outcome = self
            .check("ws-send", &user_id.to_string(), &self.ws_send)
            .await;
        match self.answer("rate limit", outcome) {
            Some(answer) => answer,
            None => self.fallback.check_ws_send(user_id).await,
        }
    }

    async fn login_standing(&self, account: &str, ip: IpAddr) -> LoginStanding {
        let outcome: redis::RedisResult<(u32, u64, u32, u64)> = self
            .login_standing
            .key(self.failed_login_keys(account, ip).as_slice())
            .invoke_async(&mut self.cluster.redis())
            .await;
        match outcome {
            Ok((count, left_ms, address_failures, since_ms)) => LoginStanding {
                account: FailedLogins {
                    count,
                    window_left: Duration::from_millis(left_ms),
                },
                address_failures,
                since_address_failure: Duration::from_millis(since_ms),
            },
            Err(err) => {
                self.cluster.redis_failed("failed logins", &err);
                self.fallback.login_standing(account, ip).await
            }
        }
    }

    async fn record_failed_login(&self, account: &str, ip: IpAddr) -> FailedLogins {
        let outcome: redis::RedisResult<(u32, u64)> = self
            .record_failed_login
            .key(self.failed_login_keys(account, ip).as_slice())
            .arg(FAILURE_WINDOW.as_millis() as u64)
            .invoke_async(&mut self.cluster.redis())
            .await;
        match outcome {
            Ok((count, left_ms)) => FailedLogins {
                count,
                window_left: Duration::from_millis(left_ms),
            },
            Err(err) => {
                self.cluster.redis_failed("failed logins", &err);
                self.fallback.record_failed_login(account, ip).await
            }
        }
    }

    async fn forget_failed_logins_from(&self, account: &str, ip: IpAddr) {
        let [_, from] = self.failed_login_keys(account, ip);
        let outcome: redis::RedisResult<()> = redis::cmd("DEL")
            .arg(from)
            .query_async(&mut self.cluster.redis())
            .await;
        if let Err(err) = outcome {
            self.cluster.redis_failed("failed logins", &err);
            self.fallback.forget_failed_logins_from(account, ip).await;
        }
    }
}
