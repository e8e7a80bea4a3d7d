//! The HTTP surface: one router per resource, assembled here with the cross-cutting layers.

pub mod auth;
pub mod dms;
pub mod extract;
pub mod members;
pub mod messages;
mod middleware;
mod ops;
pub mod rooms;
pub mod rtc;
mod sessions;
pub mod uploads;
pub mod users;
mod web;
mod ws;

use std::collections::BTreeMap;

use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Chatter", description = "Real-time chat and video-call server. Errors always have the shape of ErrorBody."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody)),
    tags(
        (name = "auth", description = "Accounts and device sessions"),
        (name = "users", description = "Profiles and search"),
        (name = "rooms", description = "Public channels, private groups and direct messages"),
        (name = "members", description = "Room membership, roles and bans"),
        (name = "messages", description = "History, posting, edits, reactions, read cursors and search"),
        (name = "uploads", description = "Files: upload, metadata and signed content URLs"),
        (name = "calls", description = "ICE servers for WebRTC calls"),
        (name = "ops", description = "Health, readiness, metrics and stats"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The whole application, routes and layers, ready to serve.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(
            "/api/v1",
            auth::router()
                .merge(sessions::router())
                .merge(users::router())
                .merge(rooms::router())
                .merge(members::router())
                .merge(dms::router())
                .merge(messages::router())
                .merge(rtc::router())
                .merge(uploads::router())
                .merge(ops::api_router()),
        )
        .merge(ops::router())
        .split_for_parts();
    let routes = routes
        // Swagger UI's assets are compiled in (the `vendored` feature): the docs work offline.
        .merge(SwaggerUi::new("/api/docs").url("/api/v1/openapi.json", openapi))
        // The WebSocket protocol is documented in docs/protocol.md, not in OpenAPI.
        .merge(ws::router())
        .fallback(web::serve)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed });
    with_layers(routes, &state).with_state(state)
}

/// Wraps routes in the application's layers (request ids, tracing, CORS, limits, panics,
/// timeouts, metrics, JSON errors). Public so tests can check the layers on routes of their own.
pub fn with_layers(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    middleware::apply(routes, state)
}

/// The error shape every failure has (documentation only; `ApiError` produces it).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// snake_case, stable: bad_request, validation_failed, unauthorized, forbidden, not_found, conflict codes such
    /// as username_taken, payload_too_large, unsupported_media_type, rate_limited, unavailable, internal.
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// For validation_failed: field name → why it was refused.
    pub fields: Option<BTreeMap<String, String>>,
}

/// A page of a list; `next_cursor` fetches the next one, null at the end.
#[derive(Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

pub use crate::service::page_limit;

/// Cursors are opaque to clients: base64url of the last key of the previous page.
pub fn encode_cursor(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(key)
}

pub fn decode_cursor(cursor: &str) -> ApiResult<String> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::BadRequest("cursor is not one this server issued".into()))
}
