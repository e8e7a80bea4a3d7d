//! Password hashing (argon2id, OWASP parameters) off the async runtime, and the password rules.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// The 10,000 most common passwords (from Django's common-passwords list, itself from
/// Royce Williams' breach corpus), lowercased.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../assets/common-passwords.txt")
        .lines()
        .map(str::trim)
        .collect()
});

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Why a new password is refused, phrased for the `fields.password` entry of a 422.
pub fn password_problem(password: &str, username: &str) -> Option<&'static str> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Some("must be at least 8 characters")
    } else if chars > MAX_PASSWORD_CHARS {
        Some("must be at most 128 characters")
    } else if COMMON_PASSWORDS.contains(password.to_lowercase().as_str()) {
        Some("is one of the most common passwords; choose another")
    } else if password.eq_ignore_ascii_case(username) {
        Some("must not be the username")
    } else {
        None
    }
}

/// Hashes and verifies on the blocking pool. Each hash takes 19 MiB for tens of milliseconds,
/// so the number in flight is bounded: a login flood queues instead of exhausting memory.
#[derive(Clone)]
pub struct PasswordHasherPool {
    permits: Arc<Semaphore>,
    /// Verified against when a login names no account, so both failures cost the same time.
    dummy_hash: Arc<str>,
}

impl PasswordHasherPool {
    pub fn new(concurrency: usize) -> anyhow::Result<PasswordHasherPool> {
        let dummy = hash_blocking("chatter-timing-equaliser-not-a-password")?;
        Ok(PasswordHasherPool {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy.into(),
        })
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        spawn_blocking_in_span(move || hash_blocking(&password)).await?
    }

    /// True when `password` matches `hash`. With `hash` None (no such account) a dummy hash is
    /// verified instead and the answer is false, in the same time as a wrong password.
    pub async fn verify(&self, password: String, hash: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = spawn_blocking_in_span(move || {
            Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await?;
        Ok(known && matches)
    }
}

fn hash_blocking(password: &str) -> anyhow::Result<String> {
    // Argon2::default() is argon2id v19 with OWASP's parameters: m = 19 MiB, t = 2, p = 1.
    let hash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// `spawn_blocking` that keeps the caller's tracing span, so the work shows under its request.
pub async fn spawn_blocking_in_span<R: Send + 'static>(
    f: impl FnOnce() -> R + Send + 'static,
) -> anyhow::Result<R> {
    let span = tracing::Span::current();
    Ok(tokio::task::spawn_blocking(move || span.in_scope(f)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_at_their_edges() {
        assert_eq!(
            password_problem("Xk3#pq9", "bob"),
            Some("must be at least 8 characters")
        );
        assert_eq!(password_problem("Xk3#pq9z", "bob"), None);
        assert!(password_problem(&"a".repeat(129), "bob").is_some());
        assert!(password_problem(&"Zq".repeat(64), "bob").is_none());
        assert!(password_problem("password1", "bob").is_some());
        assert!(
            password_problem("PassWord1", "bob").is_some(),
            "checked case-insensitively"
        );
        assert!(password_problem("alice_in_chains", "Alice_In_Chains").is_some());
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
    }

    #[tokio::test]
    async fn hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let pool = PasswordHasherPool::new(2).unwrap();
        let hash = pool.hash("correct horse battery".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(
            pool.verify("correct horse battery".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("wrong horse battery".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(
            !pool
                .verify("correct horse battery".into(), None)
                .await
                .unwrap()
        );
    }
}
