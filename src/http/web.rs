//! The web app: files from `server.web_dir`, with index.html for client-side routes. Unknown
//! API paths keep answering JSON 404s.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;
use crate::state::AppState;

pub async fn serve(State(state): State<AppState>, req: Request) -> Response {
    let path = req.uri().path();
    if path.starts_with("/api/") || path == "/api" || path.starts_with("/ws") || path == "/metrics"
    {
        return ApiError::NotFound("no such route").into_response();
    }
    if !matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    ) {
        return ApiError::MethodNotAllowed.into_response();
    }
    let dir = &state.settings.server.web_dir;
    let index = dir.join("index.html");
    if !index.is_file() {
        return (StatusCode::NOT_FOUND, Html(NOT_BUILT)).into_response();
    }
    let hashed_asset = path.starts_with("/assets/");
    let files = ServeDir::new(dir).fallback(ServeFile::new(index));
    let mut response = match files.oneshot(req).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    // Vite names assets by content hash: cache them for good; always revalidate the HTML.
    let cache = if hashed_asset {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Chatter</title>\
<h1>Chatter is running</h1><p>The web app has not been built. Run <code>npm --prefix web ci && npm --prefix web run build</code>, \
or start with <code>./run.sh</code>, which does it for you. The API is at <a href=/api/docs>/api/docs</a>.</p>";
