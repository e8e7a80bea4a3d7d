//! `/uploads`: file upload (streamed to disk, typed by magic bytes, content-addressed),
//! metadata for those who may see it, and the bytes behind signed, expiring URLs.

use axum::body::Body;
use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tower_http::services::ServeFile;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::ErrorBody;
use super::extract::{Json, Path, Query};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::uploads::{NewUpload, Upload};
use crate::uploads::sniff::PLAIN_TEXT;
use crate::uploads::storage::{self, BlobError, BlobWriter};
use crate::uploads::verify_url;
use crate::views::uploads::UploadView;

/// Room for the multipart framing (boundaries, part headers, small extra fields) around a
/// file of exactly `uploads.max_bytes`.
const MULTIPART_OVERHEAD: u64 = 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_upload))
        // The global JSON body limit must not cut uploads short; `UploadBody` applies the
        // upload limit, which comes from the settings at run time.
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(get_upload))
        .routes(routes!(get_upload_content))
}

/// The multipart form of `POST /uploads` (documentation; the handler streams the parts).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file. Its type is detected from its bytes: PNG, JPEG, GIF, WebP, PDF, MP3, Ogg,
    /// WAV, WebM, MP4 or UTF-8 plain text.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// The multipart body, capped at `uploads.max_bytes` plus framing. The cap comes from the
/// settings at run time, so it is applied here rather than by a `DefaultBodyLimit` layer (the
/// route disables the global 1 MiB JSON limit). The body is streamed, never buffered.
pub struct UploadBody(Multipart);

impl FromRequest<AppState> for UploadBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state
            .settings
            .uploads
            .max_bytes
            .saturating_add(MULTIPART_OVERHEAD);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit) {
            return Err(too_large(state));
        }
        let (parts, body) = req.into_parts();
        let capped =
            http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
        let req = Request::from_parts(parts, Body::new(capped));
        Multipart::from_request(req, state)
            .await
            .map(UploadBody)
            .map_err(|_| {
                ApiError::UnsupportedMediaType(
                    "expected Content-Type: multipart/form-data with a boundary".into(),
                )
            })
    }
}

fn too_large(state: &AppState) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "files may be at most {} bytes",
        state.settings.uploads.max_bytes
    ))
}

fn multipart_error(state: &AppState, err: MultipartError) -> ApiError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(state)
    } else {
        ApiError::BadRequest(format!(
            "could not read the multipart body: {}",
            err.body_text()
        ))
    }
}

/// Upload a file (multipart field `file`). Its type is detected from its bytes; HTML, SVG,
/// XML, files with embedded markup and unknown types are refused.
#[utoipa::path(post, path = "/uploads", tag = "uploads", security(("bearer" = [])),
    request_body(content_type = "multipart/form-data", content = UploadForm),
    responses((status = 201, body = UploadView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_upload(
    State(state): State<AppState>,
    auth: AuthUser,
    UploadBody(mut form): UploadBody,
) -> ApiResult<(StatusCode, Json<UploadView>)> {
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| multipart_error(&state, e))?
    {
        if field.name() == Some("file") {
            let upload = receive_file(&state, auth.user_id, field).await?;
            return Ok((StatusCode::CREATED, Json(UploadView::new(&state, upload))));
        }
    }
    Err(ApiError::validation("file", "is required"))
}

async fn receive_file(
    state: &AppState,
    uploader_id: Uuid,
    mut field: Field<'_>,
) -> ApiResult<Upload> {
    let filename = storage::sanitize_filename(field.file_name().unwrap_or(""));
    let mut writer = BlobWriter::create(&state.settings.data_dir, state.settings.uploads.max_bytes)
        .await
        .map_err(|e| {
            ApiError::Internal(anyhow::Error::new(e).context("creating an upload temp file"))
        })?;
    let copied = copy_field(state, &mut field, &mut writer).await;
    let refusal = match copied {
        Err(err) => Some(err),
        Ok(()) if writer.size() == 0 => Some(ApiError::validation("file", "must not be empty")),
        Ok(()) => None,
    };
    if let Some(err) = refusal {
        writer.discard().await;
        return Err(err);
    }
    let blob = writer.store().await.map_err(|e| blob_error(state, e))?;
    let upload = state
        .store
        .create_upload(NewUpload {
            uploader_id,
            filename: &filename,
            content_type: blob.content_type,
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            sha256: &blob.sha256,
        })
        .await?;
    tracing::info!(upload_id = %upload.id, content_type = blob.content_type, size = blob.size, "file uploaded");
    Ok(upload)
}

/// Streams the part to the writer chunk by chunk: never more than one chunk in memory.
async fn copy_field(
    state: &AppState,
    field: &mut Field<'_>,
    writer: &mut BlobWriter,
) -> ApiResult<()> {
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(state, e))? {
        writer
            .write(&chunk)
            .await
            .map_err(|e| blob_error(state, e))?;
    }
    Ok(())
}

fn blob_error(state: &AppState, err: BlobError) -> ApiError {
    match err {
        BlobError::TooLarge => too_large(state),
        BlobError::Refused(refused) => ApiError::UnsupportedMediaType(refused.0),
        BlobError::Io(err) => {
            ApiError::Internal(anyhow::Error::new(err).context("storing an upload"))
        }
    }
}

/// An upload's metadata with a fresh signed URL. Visible to its uploader and to members of
/// rooms where it is attached; 404 for everyone else.
#[utoipa::path(get, path = "/uploads/{id}", tag = "uploads", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "upload id")),
    responses((status = 200, body = UploadView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
async fn get_upload(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<UploadView>> {
    let upload = state
        .store
        .upload_visible_to(id, auth.user_id)
        .await?
        .ok_or(ApiError::NotFound("no such upload"))?;
    Ok(Json(UploadView::new(&state, upload)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SignedParams {
    /// Unix time after which the URL stops working.
    #[param(value_type = Option<i64>)]
    pub expires: Option<String>,
    /// Signature over the upload id and `expires`.
    pub sig: Option<String>,
}

/// The bytes of an upload, behind a signed URL (no Authorization header, so `<img src>` works).
/// Served with the detected type, `nosniff`, a Content-Disposition and a sandboxing CSP;
/// Range requests are honoured for audio and video seeking.
#[utoipa::path(get, path = "/uploads/{id}/content", tag = "uploads",
    params(("id" = Uuid, Path, description = "upload id"), SignedParams),
    responses((status = 200, description = "the file's bytes, typed as detected at upload", content_type = "application/octet-stream"),
              (status = 206, description = "the requested range of the bytes"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody, description = "signature invalid or expired"),
              (status = 404, body = ErrorBody)))]
async fn get_upload_content(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(params): Query<SignedParams>,
    request: Request,
) -> ApiResult<Response> {
    // Anything but a well-formed, valid signature is the same 403, never a 400 hint.
    let expires = params
        .expires
        .as_deref()
        .and_then(|e| e.parse::<i64>().ok());
    let (Some(expires), Some(sig)) = (expires, params.sig.as_deref()) else {
        return Err(ApiError::Forbidden("the link is invalid or has expired"));
    };
    if !verify_url(&state.url_key, id, expires, sig) {
        return Err(ApiError::Forbidden("the link is invalid or has expired"));
    }
    let upload = state
        .store
        .upload_by_id(id)
        .await?
        .ok_or(ApiError::NotFound("no such upload"))?;
    let path = storage::blob_path(&state.settings.data_dir, &upload.sha256)
        .ok_or(ApiError::NotFound("no such upload"))?;
    if !tokio::fs::try_exists(&path).await.unwrap_or(false) {
        tracing::warn!(upload_id = %id, "upload row without its file");
        return Err(ApiError::NotFound("no such upload"));
    }
    // ServeFile streams from disk and handles Range and If-Modified-Since; only the method
    // and the conditional/range headers of the request matter to it.
    let (parts, _) = request.into_parts();
    let served = ServeFile::new(&path)
        .try_call(Request::from_parts(parts, Body::empty()))
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("serving an upload")))?;
    let mut response = served.map(Body::new);
    if response.status().is_client_error() {
        // 416 for an unsatisfiable range: keep its status, in our error shape.
        return Ok(response.status().into_response());
    }
    let remaining = (expires - chrono::Utc::now().timestamp()).max(0);
    set_content_headers(response.headers_mut(), &upload, remaining);
    Ok(response)
}

fn set_content_headers(headers: &mut HeaderMap, upload: &Upload, max_age: i64) {
    let served_type = if upload.content_type == PLAIN_TEXT {
        format!("{PLAIN_TEXT}; charset=utf-8")
    } else {
        upload.content_type.clone()
    };
    let static_headers: [(HeaderName, &'static str); 2] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // Even opened directly, the file is an inert document: no scripts, no plugins, no
        // same-origin access; images and media may show themselves.
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; img-src 'self'; media-src 'self'; sandbox",
        ),
    ];
    for (name, value) in static_headers {
        headers.insert(name, HeaderValue::from_static(value));
    }
    let dynamic = [
        (header::CONTENT_TYPE, served_type),
        (
            header::CONTENT_DISPOSITION,
            content_disposition(&upload.content_type, &upload.filename),
        ),
        // The URL dies at `expires`; no cache may keep it longer, and no shared cache at all.
        (header::CACHE_CONTROL, format!("private, max-age={max_age}")),
    ];
    for (name, value) in dynamic {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// `inline` for what browsers render safely (images, audio, video, PDF), `attachment` for
/// the rest; the name both as a plain ASCII fallback and RFC 5987-encoded UTF-8.
fn content_disposition(content_type: &str, filename: &str) -> String {
    let inline = ["image/", "audio/", "video/"]
        .iter()
        .any(|p| content_type.starts_with(p))
        || content_type == "application/pdf";
    let disposition = if inline { "inline" } else { "attachment" };
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(filename.len() * 3);
    for byte in filename.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn dispositions_are_quoted_and_encoded() {
        assert_eq!(
            content_disposition("image/png", "cat.png"),
            "inline; filename=\"cat.png\"; filename*=UTF-8''cat.png"
        );
        assert_eq!(
            content_disposition("text/plain", "a \"b\"\\é.txt"),
            "attachment; filename=\"a _b___.txt\"; filename*=UTF-8''a%20%22b%22%5C%C3%A9.txt"
        );
    }
}
