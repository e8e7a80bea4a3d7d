//! `/rtc/ice-servers`: STUN and TURN servers for calls, with short-lived TURN credentials in
//! coturn's `use-auth-secret` scheme (no per-user state on the TURN server).

use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ErrorBody;
use super::extract::Json;
use crate::auth::AuthUser;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ice_servers))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IceServers {
    pub ice_servers: Vec<IceServer>,
    /// How long the TURN credentials stay valid.
    pub ttl_secs: u64,
}

/// coturn's REST-API credentials: username `expiry:user_id`, credential base64(HMAC-SHA1(secret, username)).
pub fn turn_credentials(secret: &str, user_id: Uuid, expires_at: i64) -> (String, String) {
    let username = format!("{expires_at}:{user_id}");
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(username.as_bytes());
    (username, STANDARD.encode(mac.finalize().into_bytes()))
}

/// ICE servers for a call.
#[utoipa::path(get, path = "/rtc/ice-servers", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = IceServers), (status = 401, body = ErrorBody)))]
async fn ice_servers(State(state): State<AppState>, auth: AuthUser) -> Json<IceServers> {
    let rtc = &state.settings.rtc;
    let mut ice_servers = Vec::new();
    if !rtc.stun_urls.is_empty() {
        ice_servers.push(IceServer {
            urls: rtc.stun_urls.clone(),
            username: None,
            credential: None,
        });
    }
    if !rtc.turn_urls.is_empty() {
        let expires_at = chrono::Utc::now().timestamp() + rtc.turn_ttl_secs as i64;
        let (username, credential) =
            turn_credentials(rtc.turn_secret.expose(), auth.user_id, expires_at);
        ice_servers.push(IceServer {
            urls: rtc.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
    }
    Json(IceServers {
        ice_servers,
        ttl_secs: rtc.turn_ttl_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_match_coturns_scheme() {
        // Reference value computed with: printf '%s' '1700000000:00000000-0000-0000-0000-000000000000' |
        //   openssl dgst -sha1 -hmac 'north-wind-secret' -binary | base64
        let (username, credential) =
            turn_credentials("north-wind-secret", Uuid::nil(), 1_700_000_000);
        assert_eq!(username, "1700000000:00000000-0000-0000-0000-000000000000");
        assert_eq!(credential, REFERENCE);
    }

    const REFERENCE: &str = include_str!("../../tests/fixtures/turn_credential.txt").trim_ascii();
}
