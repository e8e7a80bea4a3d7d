//! Access tokens (JWT HS256, algorithm pinned) and refresh tokens (random, stored hashed).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::config::Settings;

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    /// The session this token belongs to: revoked with it.
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub access_ttl: Duration,
    /// Keys the derivation of a session's next refresh token from its current one.
    rotation_key: Hmac<Sha256>,
}

impl TokenKeys {
    pub fn new(secret: &[u8], settings: &Settings) -> TokenKeys {
        // Only HS256 is accepted, whatever a token's header claims ("none", RS256 with our key as a public key, …).
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.auth.issuer]);
        validation.set_audience(&[&settings.auth.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.auth.issuer.clone(),
            audience: settings.auth.audience.clone(),
            access_ttl: Duration::from_secs(settings.auth.access_ttl_secs),
            rotation_key: Hmac::<Sha256>::new_from_slice(&rotation_key(secret))
                .expect("HMAC takes a key of any length"),
        }
    }

    pub fn issue_access(&self, user_id: Uuid, session_id: Uuid) -> anyhow::Result<String> {
        let iat = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id,
            sid: session_id,
            jti: Uuid::now_v7(),
            iat,
            exp: iat + self.access_ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    /// The claims of a valid, unexpired token for this issuer and audience.
    pub fn verify_access(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// A key of its own for refresh-token rotation, derived from the secret so the JWT key is
/// never used for two purposes.
fn rotation_key(secret: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(b"chatter refresh-token rotation v1");
    mac.finalize().into_bytes().into()
}

impl TokenKeys {
    /// The refresh token that replaces `presented` when it is rotated: HMAC-SHA256 of it under a
    /// server key, base64url (256 bits no one without the key and `presented` can predict).
    /// Being a function of the presented token, it is what a second refresh with the same token
    /// within the grace window gets again, without the server keeping any token in the clear:
    /// two tabs refreshing at once end with the same pair.
    pub fn next_refresh_token(&self, presented: &str) -> String {
        let mut mac = self.rotation_key.clone();
        mac.update(presented.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// A new session's first refresh token: 256 random bits, base64url.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a refresh token: its SHA-256.
pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The configured JWT secret; in development, one generated once into the data dir.
pub fn resolve_jwt_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if !settings.auth.jwt_secret.is_empty() {
        return Ok(settings.auth.jwt_secret.expose().as_bytes().to_vec());
    }
    if settings.is_production() {
        anyhow::bail!(
            "auth.jwt_secret must be set when environment is production (CHATTER__AUTH__JWT_SECRET)"
        );
    }
    let path = settings.data_path("jwt_secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(existing.as_bytes().to_vec());
        }
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "no auth.jwt_secret configured: generated a development secret; set one for production"
    );
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    options.open(path)?.write_all(contents.as_bytes())
}
