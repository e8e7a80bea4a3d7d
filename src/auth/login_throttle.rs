//! Failed-login throttling (SPEC §5), built so that nobody can lock an owner out of their
//! account by failing to sign in as them:
//!
//! - Each (account, address) pair gets a few free failures, then waits 1 s, 2 s, 4 s … (capped)
//!   before its next attempt: a guesser from one address slows down exponentially, and nobody
//!   else is affected.
//! - Past `failed_logins_per_hour` failures against the account from anywhere, a wrong password
//!   gets 429, and so does any attempt from an address with failures against it in its window.
//!   The right password from any other address still signs in: the limit throttles failures, it
//!   never refuses the owner. The per-IP auth limit in front bounds what each attempt costs.
//! - When the account crosses the limit its owner is told: a `security_notice` on their sockets
//!   and a line in the sessions view (`GET /auth/security-notices`).
//! - A signed-in owner re-entering their password (password change, account deletion) is held
//!   only by their own address's delay, never by the account's count.

use std::net::IpAddr;
use std::time::Duration;

use uuid::Uuid;

use crate::config::RateLimitSettings;
use crate::error::ApiError;
use crate::events::DomainEvent;
use crate::rate_limit::{FailedLogins, LoginStanding, RetryAfter, limited_address};
use crate::state::AppState;
use crate::time;
use crate::views::SecurityNotice;

/// The throttle's rules, from `rate_limit` settings; pure, so the rules are tested alone.
#[derive(Debug, Clone, Copy)]
pub struct LoginThrottle {
    limit: u32,
    delay_after: u32,
    max_delay: Duration,
}

impl LoginThrottle {
    pub fn new(settings: &RateLimitSettings) -> LoginThrottle {
        LoginThrottle {
            limit: settings.failed_logins_per_hour,
            delay_after: settings.login_delay_after_failures,
            max_delay: Duration::from_secs(settings.login_delay_max_secs),
        }
    }

    /// Before a login's password is hashed: Err(wait) when this attempt may not be tried now.
    pub fn before_login(&self, standing: &LoginStanding) -> Result<(), RetryAfter> {
        self.before_owner_check(standing)?;
        if standing.account.count >= self.limit && standing.address_failures > 0 {
            return Err(standing.account.window_left);
        }
        Ok(())
    }

    /// Before a signed-in owner's password check: only this address's own delay applies.
    pub fn before_owner_check(&self, standing: &LoginStanding) -> Result<(), RetryAfter> {
        match self.address_delay(standing.address_failures) {
            Some(delay) if standing.since_address_failure < delay => {
                Err(delay - standing.since_address_failure)
            }
            _ => Ok(()),
        }
    }

    /// How long an address waits after its last failure, once it has this many.
    fn address_delay(&self, failures: u32) -> Option<Duration> {
        if failures == 0 {
            return None;
        }
        let doublings = failures.checked_sub(self.delay_after)?;
        let delay = Duration::from_secs(1u64.checked_shl(doublings).unwrap_or(u64::MAX));
        Some(delay.min(self.max_delay))
    }

    /// After a wrong password, counted: Some(wait) when the answer is 429 rather than 401.
    pub fn after_failure(&self, counted: FailedLogins) -> Option<RetryAfter> {
        (counted.count > self.limit).then_some(counted.window_left)
    }

    /// True for the failure that brings the account to its limit: the owner is told once.
    fn reached_limit(&self, counted: FailedLogins) -> bool {
        counted.count == self.limit
    }

    /// The failures the owner is told about, if the account is past its limit.
    pub fn notice(&self, counted: FailedLogins) -> Option<SecurityNotice> {
        (counted.count >= self.limit).then(|| SecurityNotice::LoginThrottled {
            failed_logins: counted.count,
            throttled_until: time::now()
                + chrono::Duration::from_std(counted.window_left).unwrap_or_default(),
        })
    }
}

/// The key failures are counted under: the account's id when it exists, else the login as
/// typed (case-folded), so unknown names look the same and switching between username and
/// email does not double the budget.
pub fn account_key(user_id: Option<Uuid>, login: &str) -> String {
    match user_id {
        Some(id) => id.to_string(),
        None => format!("login:{}", login.to_lowercase()),
    }
}

/// Checks a login attempt before its password is hashed.
pub async fn check_login(state: &AppState, account: &str, ip: IpAddr) -> Result<(), ApiError> {
    check(state, account, ip, LoginThrottle::before_login).await
}

/// Checks a signed-in owner's password re-entry before it is hashed.
pub async fn check_owner(state: &AppState, account: &str, ip: IpAddr) -> Result<(), ApiError> {
    check(state, account, ip, LoginThrottle::before_owner_check).await
}

async fn check(
    state: &AppState,
    account: &str,
    ip: IpAddr,
    rule: fn(&LoginThrottle, &LoginStanding) -> Result<(), RetryAfter>,
) -> Result<(), ApiError> {
    let standing = state
        .limiter
        .login_standing(account, limited_address(ip))
        .await;
    rule(&LoginThrottle::new(&state.settings.rate_limit), &standing)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })
}

/// Counts a wrong password and tells the owner (if any) when the account reaches its limit.
/// Returns Some(wait) when a login should be answered 429 rather than 401.
pub async fn count_failure(
    state: &AppState,
    account: &str,
    owner: Option<Uuid>,
    ip: IpAddr,
) -> Option<RetryAfter> {
    let throttle = LoginThrottle::new(&state.settings.rate_limit);
    let counted = state
        .limiter
        .record_failed_login(account, limited_address(ip))
        .await;
    if let Some(user_id) = owner
        && throttle.reached_limit(counted)
        && let Some(notice) = throttle.notice(counted)
    {
        tracing::warn!(%user_id, failed_logins = counted.count, "sign-in throttled for an account");
        state
            .events
            .publish(DomainEvent::SecurityNotice { user_id, notice })
            .await;
    }
    throttle.after_failure(counted)
}

/// A successful login clears its address's failures against the account.
pub async fn succeeded(state: &AppState, account: &str, ip: IpAddr) {
    state
        .limiter
        .forget_failed_logins_from(account, limited_address(ip))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle() -> LoginThrottle {
        LoginThrottle {
            limit: 20,
            delay_after: 3,
            max_delay: Duration::from_secs(900),
        }
    }

    fn standing(account: u32, from_here: u32, since_secs: u64) -> LoginStanding {
        LoginStanding {
            account: FailedLogins {
                count: account,
                window_left: Duration::from_secs(1800),
            },
            address_failures: from_here,
            since_address_failure: Duration::from_secs(since_secs),
        }
    }

    #[test]
    fn an_address_waits_exponentially_after_its_free_failures() {
        let t = throttle();
        assert_eq!(t.before_login(&standing(2, 2, 0)), Ok(()));
        assert_eq!(
            t.before_login(&standing(3, 3, 0)),
            Err(Duration::from_secs(1))
        );
        assert_eq!(t.before_login(&standing(3, 3, 1)), Ok(()));
        assert_eq!(
            t.before_login(&standing(6, 6, 3)),
            Err(Duration::from_secs(5))
        );
        assert_eq!(
            t.before_login(&standing(19, 19, 0)),
            Err(Duration::from_secs(900))
        );
        assert_eq!(
            t.before_login(&standing(19, 80, 0)),
            Err(Duration::from_secs(900))
        );
    }

    #[test]
    fn with_no_free_failures_an_address_without_failures_still_tries() {
        let t = LoginThrottle {
            delay_after: 0,
            ..throttle()
        };
        assert_eq!(t.before_login(&standing(0, 0, 0)), Ok(()));
        assert_eq!(
            t.before_login(&standing(1, 1, 0)),
            Err(Duration::from_secs(2))
        );
    }

    #[test]
    fn past_the_limit_only_addresses_without_failures_may_try() {
        let t = throttle();
        assert_eq!(t.before_login(&standing(25, 0, 0)), Ok(()));
        assert_eq!(
            t.before_login(&standing(25, 1, 60)),
            Err(Duration::from_secs(1800))
        );
        assert_eq!(
            t.before_login(&standing(20, 2, 60)),
            Err(Duration::from_secs(1800))
        );
        assert_eq!(t.before_login(&standing(19, 2, 60)), Ok(()));
    }

    #[test]
    fn the_owner_is_held_only_by_their_address() {
        let t = throttle();
        assert_eq!(t.before_owner_check(&standing(500, 0, 0)), Ok(()));
        assert_eq!(t.before_owner_check(&standing(500, 2, 0)), Ok(()));
        assert_eq!(
            t.before_owner_check(&standing(500, 4, 0)),
            Err(Duration::from_secs(2))
        );
    }

    #[test]
    fn a_wrong_password_gets_429_past_the_limit_and_the_owner_is_told_once() {
        let t = throttle();
        let counted = |count| FailedLogins {
            count,
            window_left: Duration::from_secs(600),
        };
        assert_eq!(t.after_failure(counted(20)), None);
        assert_eq!(t.after_failure(counted(21)), Some(Duration::from_secs(600)));
        assert!(!t.reached_limit(counted(19)) && t.reached_limit(counted(20)));
        assert!(!t.reached_limit(counted(21)));
        assert!(t.notice(counted(19)).is_none() && t.notice(counted(21)).is_some());
    }
}
