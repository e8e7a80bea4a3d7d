//! Where upload bytes live: `data_dir/uploads/<first two hex of sha256>/<sha256>`, one file
//! per distinct content. Bytes stream into a temp file under `data_dir/uploads/tmp` while
//! being hashed, counted and sniffed; only a file that passed every check is moved into place,
//! so a half-written or refused file is never served.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::sniff::{Refused, Sniffer};

pub fn uploads_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("uploads")
}

/// The content-addressed path of a blob, or None for something that is not a SHA-256 hex
/// digest (never joins anything a client chose onto the data dir).
pub fn blob_path(data_dir: &Path, sha256: &str) -> Option<PathBuf> {
    let valid = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    valid.then(|| uploads_dir(data_dir).join(&sha256[..2]).join(sha256))
}

/// A file name that is safe to store and to echo in a header: the last path segment only,
/// without control or bidi-override characters or leading dots, at most 255 bytes.
pub fn sanitize_filename(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let trimmed = cleaned.trim().trim_start_matches('.').trim_start();
    let mut end = trimmed.len().min(255);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    let name = trimmed[..end].trim_end();
    if name.is_empty() {
        "file".to_string()
    } else {
        name.to_string()
    }
}

/// Characters that reorder text on screen ("evil\u{202E}gnp.exe" shows as "evilexe.png").
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Why writing an upload stopped.
#[derive(Debug)]
pub enum BlobError {
    TooLarge,
    Refused(Refused),
    Io(io::Error),
}

impl From<io::Error> for BlobError {
    fn from(err: io::Error) -> BlobError {
        BlobError::Io(err)
    }
}

/// What a finished upload turned out to be.
#[derive(Debug, Clone)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: u64,
    pub content_type: &'static str,
}

/// An upload on its way to disk. Dropped before `store` succeeds (refused, too large, client
/// gone), its temp file is removed.
pub struct BlobWriter {
    data_dir: PathBuf,
    temp: TempFile,
    file: tokio::fs::File,
    hasher: Sha256,
    sniffer: Sniffer,
    size: u64,
    max_bytes: u64,
}

impl BlobWriter {
    pub async fn create(data_dir: &Path, max_bytes: u64) -> io::Result<BlobWriter> {
        let tmp_dir = uploads_dir(data_dir).join("tmp");
        tokio::fs::create_dir_all(&tmp_dir).await?;
        let temp = TempFile(Some(
            tmp_dir.join(format!("{}.part", uuid::Uuid::new_v4().simple())),
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp.path())
            .await?;
        Ok(BlobWriter {
            data_dir: data_dir.to_path_buf(),
            temp,
            file,
            hasher: Sha256::new(),
            sniffer: Sniffer::default(),
            size: 0,
            max_bytes,
        })
    }

    /// Appends a chunk; refuses the byte that goes one past `max_bytes`.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        self.size += chunk.len() as u64;
        if self.size > self.max_bytes {
            return Err(BlobError::TooLarge);
        }
        self.hasher.update(chunk);
        self.sniffer.feed(chunk);
        self.file.write_all(chunk).await?;
        Ok(())
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Gives up on the upload and removes its temp file now.
    pub async fn discard(mut self) {
        self.temp.remove().await;
    }

    /// Checks the type and moves the bytes to their content address. Content that is already
    /// stored is not written twice: the temp file is simply dropped.
    pub async fn store(mut self) -> Result<StoredBlob, BlobError> {
        let content_type = match self.sniffer.finish() {
            Ok(content_type) => content_type,
            Err(refused) => {
                self.temp.remove().await;
                return Err(BlobError::Refused(refused));
            }
        };
        // On disk before the row that points at it exists.
        self.file.sync_all().await?;
        drop(self.file);
        let sha256 = hex(&self.hasher.finalize());
        let target = blob_path(&self.data_dir, &sha256)
            .ok_or_else(|| io::Error::other("a SHA-256 digest is always 64 hex digits"))?;
        if tokio::fs::try_exists(&target).await? {
            self.temp.remove().await;
        } else {
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            // Two concurrent uploads of the same bytes may both get here; rename replaces
            // atomically and both carry identical bytes, so either outcome is right.
            tokio::fs::rename(self.temp.path(), &target).await?;
            self.temp.forget();
        }
        Ok(StoredBlob {
            sha256,
            size: self.size,
            content_type,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A temp file path that is removed when dropped, unless it was moved away.
struct TempFile(Option<PathBuf>);

impl TempFile {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn forget(&mut self) {
        self.0 = None;
    }

    async fn remove(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = tokio::fs::remove_file(path).await;
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let Some(path) = self.0.take() else { return };
        // Drop cannot await; removal goes to the runtime so no blocking I/O happens here.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    let _ = tokio::fs::remove_file(path).await;
                });
            }
            Err(_) => {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_lose_paths_controls_and_leading_dots() {
        assert_eq!(sanitize_filename("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_filename("..\\..\\windows\\win.ini"), "win.ini");
        assert_eq!(sanitize_filename(".htaccess"), "htaccess");
        assert_eq!(sanitize_filename("a\u{0}b\r\n.txt"), "ab.txt");
        assert_eq!(sanitize_filename("evil\u{202E}gnp.exe"), "evilgnp.exe");
        assert_eq!(sanitize_filename(".."), "file");
        assert_eq!(sanitize_filename("dir/"), "file");
        assert_eq!(sanitize_filename(""), "file");
        assert_eq!(sanitize_filename("  report final.pdf "), "report final.pdf");
        let long = "\u{e9}".repeat(200);
        let cut = sanitize_filename(&long);
        assert!(cut.len() <= 255 && cut.chars().all(|c| c == '\u{e9}'));
    }

    #[test]
    fn blob_paths_only_for_digests() {
        let dir = Path::new("/data");
        let sha = "ab".repeat(32);
        assert_eq!(
            blob_path(dir, &sha),
            Some(PathBuf::from(format!("/data/uploads/ab/{sha}")))
        );
        assert_eq!(blob_path(dir, "../../etc/passwd"), None);
        assert_eq!(blob_path(dir, &"AB".repeat(32)), None);
    }
}
