//! What an upload really is: its type from magic bytes (never the client's word), and the
//! markup that would let a browser run it as a page (HTML, SVG, XML, polyglots).
//!
//! The sniffer is fed the file chunk by chunk as it streams to disk, so nothing is held whole.

/// The image types an avatar may have.
pub const IMAGE_TYPES: [&str; 4] = ["image/png", "image/jpeg", "image/gif", "image/webp"];

/// Detected plain text is stored as this and served with `; charset=utf-8`.
pub const PLAIN_TEXT: &str = "text/plain";

/// How far into a binary file markup is looked for: browsers sniff within the first
/// kilobytes, so markup beyond this cannot turn a picture into a page.
const BINARY_MARKUP_WINDOW: u64 = 64 * 1024;

/// Enough of the start for every magic-byte matcher (webm's looks 256+ bytes in).
const MAGIC_LEN: usize = 8 * 1024;

/// Tags that make a browser (or a careless viewer) treat bytes as a document. Lowercase.
const MARKUP: [&[u8]; 6] = [
    b"<html",
    b"<script",
    b"<svg",
    b"<!doctype",
    b"<iframe",
    b"<body",
];
const LONGEST_MARKUP: usize = 9;

/// The allow-list: what `infer` reports → the type we store and serve.
fn allowed(mime: &str) -> Option<&'static str> {
    Some(match mime {
        "image/png" => "image/png",
        "image/jpeg" => "image/jpeg",
        "image/gif" => "image/gif",
        "image/webp" => "image/webp",
        "application/pdf" => "application/pdf",
        "audio/mpeg" => "audio/mpeg",
        // Ogg Opus is still an Ogg container; players want audio/ogg.
        "audio/ogg" | "audio/opus" => "audio/ogg",
        "audio/x-wav" | "audio/wav" => "audio/wav",
        "video/webm" => "video/webm",
        "video/mp4" => "video/mp4",
        _ => return None,
    })
}

/// Why an upload was refused (answered as 415 unsupported_media_type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub String);

/// Watches a file go by and decides, at the end, what it is.
#[derive(Debug)]
pub struct Sniffer {
    head: Vec<u8>,
    seen: u64,
    /// The last bytes scanned, so a tag split across two chunks is still found.
    carry: Vec<u8>,
    /// Offset of the first markup tag, once found.
    markup_at: Option<u64>,
    /// An incomplete UTF-8 sequence at the end of the previous chunk.
    utf8_pending: Vec<u8>,
    utf8_valid: bool,
    has_nul: bool,
}

impl Default for Sniffer {
    fn default() -> Self {
        Sniffer {
            head: Vec::with_capacity(MAGIC_LEN),
            seen: 0,
            carry: Vec::new(),
            markup_at: None,
            utf8_pending: Vec::new(),
            utf8_valid: true,
            has_nul: false,
        }
    }
}

impl Sniffer {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.head.len() < MAGIC_LEN {
            let take = (MAGIC_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if self.markup_at.is_none() {
            self.scan_markup(chunk);
        }
        if self.utf8_valid {
            self.check_utf8(chunk);
        }
        self.has_nul |= chunk.contains(&0);
        self.seen += chunk.len() as u64;
    }

    fn scan_markup(&mut self, chunk: &[u8]) {
        let start = self.seen - self.carry.len() as u64;
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(chunk);
        if let Some(at) = find_markup(&window) {
            self.markup_at = Some(start + at as u64);
            return;
        }
        let keep = window.len().min(LONGEST_MARKUP - 1);
        window.drain(..window.len() - keep);
        self.carry = window;
    }

    fn check_utf8(&mut self, chunk: &[u8]) {
        let mut bytes = std::mem::take(&mut self.utf8_pending);
        bytes.extend_from_slice(chunk);
        if let Err(err) = std::str::from_utf8(&bytes) {
            match err.error_len() {
                // Cut mid-character: the rest comes with the next chunk.
                None => self.utf8_pending = bytes[err.valid_up_to()..].to_vec(),
                Some(_) => self.utf8_valid = false,
            }
        }
    }

    /// The type to store, or why the file is refused.
    pub fn finish(self) -> Result<&'static str, Refused> {
        let detected = infer::get(&self.head).map(|t| t.mime_type());
        match detected {
            // Scripts and other text that `infer` names are judged as text below.
            Some(mime) if !mime.starts_with("text/") => {
                let Some(served) = allowed(mime) else {
                    return Err(Refused(format!("{mime} files are not accepted")));
                };
                if self.markup_at.is_some_and(|at| at < BINARY_MARKUP_WINDOW) {
                    return Err(Refused(format!(
                        "the file claims to be {served} but contains HTML markup"
                    )));
                }
                Ok(served)
            }
            _ => self.plain_text(),
        }
    }

    fn plain_text(self) -> Result<&'static str, Refused> {
        if !self.utf8_valid || !self.utf8_pending.is_empty() || self.has_nul {
            return Err(Refused(
                "only images, PDF, audio, video and UTF-8 plain text are accepted".into(),
            ));
        }
        if self.markup_at.is_some() || starts_like_markup(&self.head) {
            return Err(Refused(
                "HTML, SVG and XML documents are not accepted".into(),
            ));
        }
        Ok(PLAIN_TEXT)
    }
}

/// Offset of the first markup tag in `bytes` (ASCII case-insensitive).
fn find_markup(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'<')
        .map(|(i, _)| i)
        .find(|&i| {
            MARKUP.iter().any(|tag| {
                bytes
                    .get(i..i + tag.len())
                    .is_some_and(|s| s.eq_ignore_ascii_case(tag))
            })
        })
}

/// Text whose first non-blank character opens a tag, a declaration or a processing
/// instruction (`<note>`, `<!ENTITY`, `<?xml`) is a markup document, not plain text.
fn starts_like_markup(head: &[u8]) -> bool {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let mut rest = text.iter().skip_while(|b| b.is_ascii_whitespace());
    rest.next() == Some(&b'<')
        && rest
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'!' | b'?' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff_in_chunks(bytes: &[u8], chunk: usize) -> Result<&'static str, Refused> {
        let mut sniffer = Sniffer::default();
        for part in bytes.chunks(chunk) {
            sniffer.feed(part);
        }
        sniffer.finish()
    }

    const PNG: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

    #[test]
    fn detects_by_magic_not_by_name() {
        assert_eq!(sniff_in_chunks(PNG, 3), Ok("image/png"));
        assert_eq!(sniff_in_chunks(b"hello, world\n", 2), Ok(PLAIN_TEXT));
        assert_eq!(
            sniff_in_chunks("h\u{e9}llo \u{1F600}".as_bytes(), 1),
            Ok(PLAIN_TEXT)
        );
    }

    #[test]
    fn refuses_markup_even_split_across_chunks() {
        let mut polyglot = PNG.to_vec();
        polyglot.extend_from_slice(b"....<ScRiPt>alert(1)</script>");
        for chunk in 1..polyglot.len() {
            assert!(sniff_in_chunks(&polyglot, chunk).is_err(), "chunk {chunk}");
        }
        assert!(sniff_in_chunks(b"<svg xmlns='http://www.w3.org/2000/svg'/>", 4).is_err());
        assert!(sniff_in_chunks(b"  <?xml version='1.0'?><a/>", 4).is_err());
        assert!(sniff_in_chunks(b"notes\nthen <!DOCTYPE html> later", 5).is_err());
    }

    #[test]
    fn markup_deep_inside_a_binary_is_not_a_page() {
        let mut big = PNG.to_vec();
        big.resize(BINARY_MARKUP_WINDOW as usize + 10, 0);
        big.extend_from_slice(b"<html>");
        assert_eq!(sniff_in_chunks(&big, 4096), Ok("image/png"));
    }

    #[test]
    fn refuses_binary_junk_and_bad_utf8() {
        assert!(sniff_in_chunks(b"abc\0def", 3).is_err());
        assert!(sniff_in_chunks(b"abc\xff\xfe", 3).is_err());
        assert!(sniff_in_chunks("caf\u{e9}".as_bytes()[..4].as_ref(), 2).is_err());
        assert!(sniff_in_chunks(b"PK\x03\x04zipfile....", 4).is_err());
    }
}
