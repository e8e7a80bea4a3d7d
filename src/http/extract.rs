//! Request extractors that answer bad input in the API's own error shape, never axum's plain text.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;
use crate::text;

/// JSON body: 415 without a JSON content type, 413 over the body limit, 400 when it is not
/// JSON, 422 (naming the field) when it is JSON of the wrong shape.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("the request body is too large".into())
            } else {
                ApiError::BadRequest("could not read the request body".into())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Syntax first, over the whole body: trailing bytes or a broken tail are a 400 even when
    // the part before them would have failed validation.
    if let Err(err) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::BadRequest(format!(
            "malformed JSON: {}",
            strip_position(&err.to_string())
        )));
    }
    text::check_json(bytes).map_err(|field| ApiError::validation(&field, text::REASON))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = strip_position(&inner.to_string());
        // Some malformations (a lone surrogate escape) only show when the value is decoded.
        if inner.classify() != serde_json::error::Category::Data {
            return ApiError::BadRequest(format!("malformed JSON: {message}"));
        }
        // A missing top-level field has the root as its path; name the field instead.
        let field = match (path.as_str(), message.strip_prefix("missing field `")) {
            (".", Some(rest)) => rest.trim_end_matches('`').to_string(),
            (".", None) => "body".to_string(),
            _ => path,
        };
        ApiError::validation(&field, message)
    })?;
    de.end().map_err(|err| {
        ApiError::BadRequest(format!(
            "malformed JSON: {}",
            strip_position(&err.to_string())
        ))
    })?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17"; useful to a developer, noise in a field error.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query string: 400 when it does not parse.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if text::forbidden_in(&name).is_some() || text::forbidden_in(&value).is_some() {
                return Err(ApiError::validation(
                    &name.escape_debug().to_string(),
                    text::REASON,
                ));
            }
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|rejection| {
                ApiError::BadRequest(format!("invalid query string: {}", rejection.body_text()))
            })
    }
}

/// Path parameters: 400 when an id is not an id.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let path = percent_encoding::percent_decode_str(parts.uri.path()).decode_utf8_lossy();
        if text::forbidden_in(&path).is_some() {
            return Err(ApiError::BadRequest(format!(
                "invalid path: {}",
                text::REASON
            )));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|rejection| {
                ApiError::BadRequest(format!("invalid path: {}", rejection.body_text()))
            })
    }
}

/// The client's IP: the socket peer, or the last X-Forwarded-For entry (the one the trusted
/// proxy appended) when `server.trust_proxy_headers` says a trusted proxy sets it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings.server.trust_proxy_headers {
            let forwarded = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                // The entry our proxy appended: entries before it are whatever the client sent.
                .and_then(|v| v.rsplit(',').next())
                .and_then(|ip| ip.trim().parse().ok());
            if let Some(ip) = forwarded {
                return Ok(ClientIp(ip));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        Ok(ClientIp(peer.unwrap_or(IpAddr::from([127, 0, 0, 1]))))
    }
}

/// The `User-Agent`, cut to a sane length for the sessions list.
pub struct UserAgent(pub String);

impl<S: Send + Sync> FromRequestParts<S> for UserAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(UserAgent(
            agent
                .chars()
                .filter(|c| !c.is_control())
                .take(256)
                .collect(),
        ))
    }
}

/// `X-Device-ID`: the client's name for this device (one session per user and device).
/// Optional: when absent, a fresh id is generated and echoed back in the response header.
pub struct DeviceId {
    pub id: String,
    pub generated: bool,
}

pub const DEVICE_ID_HEADER: &str = "x-device-id";

impl<S: Send + Sync> FromRequestParts<S> for DeviceId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.headers.get(DEVICE_ID_HEADER) {
            None => Ok(DeviceId {
                id: uuid::Uuid::new_v4().to_string(),
                generated: true,
            }),
            Some(value) => {
                let id = value.to_str().unwrap_or("");
                let valid = (1..=128).contains(&id.len())
                    && id.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
                    });
                if valid {
                    Ok(DeviceId {
                        id: id.to_string(),
                        generated: false,
                    })
                } else {
                    Err(ApiError::BadRequest(
                        "X-Device-ID must be 1-128 characters of letters, digits, '-', '_', '.', ':'".into(),
                    ))
                }
            }
        }
    }
}

/// For PATCH bodies where `null` and absent differ: absent leaves a field as it is
/// (`None`), `null` clears it (`Some(None)`). Use with `#[serde(default, deserialize_with = …)]`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
