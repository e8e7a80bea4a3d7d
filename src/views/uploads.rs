//! Uploads as clients see them: on a message (`AttachmentView`) and on their own (`UploadView`).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::state::AppState;
use crate::store::uploads::Upload;
use crate::time::{self, Timestamp};
use crate::uploads::signed_url;

/// An upload as shown on a message: `url` is signed and expires.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: Uuid,
    pub filename: String,
    /// The type detected from the file's bytes.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Signed, expiring URL of the bytes; works without an Authorization header.
    pub url: String,
}

impl AttachmentView {
    pub fn new(state: &AppState, upload: &Upload) -> AttachmentView {
        AttachmentView {
            id: upload.id,
            filename: upload.filename.clone(),
            content_type: upload.content_type.clone(),
            size: upload.size,
            url: content_url(state, upload.id),
        }
    }
}

/// A signed URL of an upload's bytes, valid for `uploads.url_ttl_secs`.
pub fn content_url(state: &AppState, upload_id: Uuid) -> String {
    signed_url(
        &state.url_key,
        upload_id,
        state.settings.uploads.url_ttl_secs,
    )
}

/// An upload as its uploader (or a member of a room it is attached in) sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadView {
    pub id: Uuid,
    /// The client's file name, reduced to a safe base name.
    pub filename: String,
    /// The type detected from the file's bytes, never the one the client sent.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Hex SHA-256 of the bytes.
    pub sha256: String,
    /// Signed, expiring URL of the bytes; works without an Authorization header.
    pub url: String,
    #[serde(serialize_with = "time::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl UploadView {
    pub fn new(state: &AppState, upload: Upload) -> UploadView {
        UploadView {
            url: content_url(state, upload.id),
            id: upload.id,
            filename: upload.filename,
            content_type: upload.content_type,
            size: upload.size,
            sha256: upload.sha256,
            created_at: upload.created_at,
        }
    }
}
