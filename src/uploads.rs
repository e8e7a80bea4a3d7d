//! Upload URLs: signed and expiring, so `<img src>` works without an Authorization header
//! while only those who were shown the URL (uploader, room members) can fetch the file.

pub mod sniff;
pub mod storage;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// A key for URL signatures, separate from the JWT key though derived from the same secret.
pub fn derive_url_key(secret: &[u8]) -> Arc<[u8]> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(b"chatter upload url signing key v1");
    Arc::from(mac.finalize().into_bytes().to_vec())
}

/// The MAC over what a URL vouches for: which upload, until when.
fn url_mac(key: &[u8], upload_id: Uuid, expires: i64) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("{upload_id}:{expires}").as_bytes());
    mac
}

/// `/api/v1/uploads/{id}/content?expires=…&sig=…`, valid for `ttl_secs`.
pub fn signed_url(key: &[u8], upload_id: Uuid, ttl_secs: u64) -> String {
    // Expiry rounded up to the minute: URLs stay stable for a while, so browsers can cache.
    let now = chrono::Utc::now().timestamp();
    let expires = (now + ttl_secs as i64 + 59) / 60 * 60;
    let sig = URL_SAFE_NO_PAD.encode(url_mac(key, upload_id, expires).finalize().into_bytes());
    format!("/api/v1/uploads/{upload_id}/content?expires={expires}&sig={sig}")
}

/// True when `sig` was made by this server for this upload and `expires` has not passed.
/// The comparison is constant-time (HMAC's `verify_slice`).
pub fn verify_url(key: &[u8], upload_id: Uuid, expires: i64, sig: &str) -> bool {
    if expires < chrono::Utc::now().timestamp() {
        return false;
    }
    let Ok(sig) = URL_SAFE_NO_PAD.decode(sig) else {
        return false;
    };
    url_mac(key, upload_id, expires).verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_verify_and_resist_tampering() {
        let key = derive_url_key(b"some secret of enough length........");
        let id = Uuid::now_v7();
        let url = signed_url(&key, id, 600);
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut sig = "";
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("sig", v) => sig = v,
                _ => {}
            }
        }
        assert!(verify_url(&key, id, expires, sig));
        assert!(!verify_url(&key, id, expires + 60, sig), "expiry is signed");
        assert!(
            !verify_url(&key, Uuid::now_v7(), expires, sig),
            "id is signed"
        );
        assert!(!verify_url(
            &derive_url_key(b"another secret......................"),
            id,
            expires,
            sig
        ));
        assert!(
            !verify_url(&key, id, chrono::Utc::now().timestamp() - 1, sig),
            "expired"
        );
    }
}
