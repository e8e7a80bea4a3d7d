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
use crate::rate_limit::{LocalRateLimiter, RateLimiter, RetryAfter};

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

/// KEYS[1]: the account's failure counter. ARGV: window (ms). Counts one failure; the window
/// starts with the first.
const FAILED_LOGIN: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"#;

const FAILURE_WINDOW: Duration = Duration::from_secs(3600);

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
    failed_login: Script,
    auth: Quota,
    rest: Quota,
    ws_send: Quota,
    failed_login_limit: u32,
}

impl RedisRateLimiter {
    pub fn new(cluster: Cluster, settings: &RateLimitSettings) -> Arc<RedisRateLimiter> {
        Arc::new(RedisRateLimiter {
            cluster,
            fallback: LocalRateLimiter::new(settings),
            gcra: Script::new(GCRA),
            failed_login: Script::new(FAILED_LOGIN),
            auth: Quota::per_minute(settings.auth_per_minute),
            rest: Quota::per_minute(settings.rest_per_minute),
            ws_send: Quota {
                interval_ms: (1000 / u64::from(settings.ws_messages_per_sec.max(1))).max(1),
                burst: u64::from(settings.ws_messages_burst.max(1)),
            },
            failed_login_limit: settings.failed_logins_per_hour,
        })
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

    async fn login_lockout(&self, account: &str) -> Option<RetryAfter> {
        let key = self
            .cluster
            .keys()
            .rate("failed-login", &account.to_lowercase());
        let outcome: redis::RedisResult<(Option<u32>, i64)> = redis::pipe()
            .get(&key)
            .pttl(&key)
            .query_async(&mut self.cluster.redis())
            .await;
        match outcome {
            Ok((count, ttl_ms)) => (count.unwrap_or(0) >= self.failed_login_limit)
                .then(|| Duration::from_millis(ttl_ms.max(0) as u64)),
            Err(err) => {
                self.cluster.redis_failed("login lockout", &err);
                self.fallback.login_lockout(account).await
            }
        }
    }

    async fn record_failed_login(&self, account: &str) {
        let key = self
            .cluster
            .keys()
            .rate("failed-login", &account.to_lowercase());
        let outcome: redis::RedisResult<u32> = self
            .failed_login
            .key(key)
            .arg(FAILURE_WINDOW.as_millis() as u64)
            .invoke_async(&mut self.cluster.redis())
            .await;
        if let Err(err) = outcome {
            self.cluster.redis_failed("login lockout", &err);
            self.fallback.record_failed_login(account).await;
        }
    }
}
