//! Uploads: type detection by magic bytes, markup refusal, exact size limit, safe serving
//! behind signed URLs, visibility, content addressing and avatars.
//!
//! Long (~800 lines) on purpose: one suite of independent tests over one feature, sharing the
//! file builders at the top; split, each half would need them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::backend_tests;
use crate::common::{Backend, TEST_JWT_SECRET, TestServer, TestUser, expect_error};

const BOUNDARY: &str = "chatter-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart body with one `file` part, built by hand so the test controls every byte
/// (a traversal file name, a lying part Content-Type).
fn multipart_file(filename: &str, client_type: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
         Content-Type: {client_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload(
    server: &TestServer,
    user: &TestUser,
    filename: &str,
    client_type: &str,
    bytes: &[u8],
) -> reqwest::Response {
    server
        .client
        .post(server.api("/uploads"))
        .header("Authorization", user.bearer())
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart_file(filename, client_type, bytes))
        .send()
        .await
        .unwrap()
}

async fn upload_ok(server: &TestServer, user: &TestUser, filename: &str, bytes: &[u8]) -> Value {
    let res = upload(server, user, filename, "application/octet-stream", bytes).await;
    assert_eq!(res.status(), StatusCode::CREATED, "upload {filename}");
    res.json().await.unwrap()
}

async fn fetch(server: &TestServer, url: &str) -> reqwest::Response {
    server.client.get(server.url(url)).send().await.unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---- minimal files of each accepted type ----------------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn png() -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut typed = kind.to_vec();
        typed.extend_from_slice(data);
        out.extend_from_slice(&typed);
        out.extend_from_slice(&crc32(&typed).to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0]);
    chunk(&mut png, b"IDAT", &[0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1]);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn jpeg() -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    jpeg.extend_from_slice(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    jpeg.extend_from_slice(&[0xFF, 0xD9]);
    jpeg
}

fn riff(form: &[u8], chunk: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = form.to_vec();
    body.extend_from_slice(chunk);
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    let mut riff = b"RIFF".to_vec();
    riff.extend_from_slice(&(body.len() as u32).to_le_bytes());
    riff.extend_from_slice(&body);
    riff
}

fn samples() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let gif = b"GIF89a\x01\0\x01\0\x80\0\0\xff\xff\xff\0\0\0!\xf9\x04\x01\0\0\0\0,\0\0\0\0\x01\0\x01\0\0\x02\x02D\x01\0;".to_vec();
    let webp = riff(
        b"WEBP",
        b"VP8 ",
        &[0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 1, 0, 1, 0],
    );
    let pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
        .to_vec();
    let mut mp3 = b"ID3\x03\0\0\0\0\0\0".to_vec();
    mp3.extend_from_slice(&[0xFF, 0xFB, 0x90, 0x64]);
    mp3.resize(mp3.len() + 200, 0);
    let mut ogg = b"OggS\0\x02".to_vec();
    ogg.resize(28, 0);
    ogg.extend_from_slice(b"\x01vorbis");
    ogg.resize(64, 0);
    let fmt = [1, 0, 1, 0, 0x40, 0x1f, 0, 0, 0x40, 0x1f, 0, 0, 1, 0, 8, 0];
    let mut wav = riff(b"WAVE", b"fmt ", &fmt);
    wav.extend_from_slice(b"data\x04\0\0\0\x80\x80\x80\x80");
    let mut webm = vec![
        0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01, 0x42, 0xF7, 0x81, 0x01,
    ];
    webm.extend_from_slice(&[0x42, 0xF2, 0x81, 0x04, 0x42, 0xF3, 0x81, 0x08]);
    webm.extend_from_slice(b"\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02");
    webm.resize(300, 0);
    let mut mp4 = b"\0\0\0\x18ftypisom\0\0\x02\0isommp41".to_vec();
    mp4.extend_from_slice(b"\0\0\0\x08free");
    vec![
        ("pixel.png", png(), "image/png"),
        ("photo.jpg", jpeg(), "image/jpeg"),
        ("anim.gif", gif, "image/gif"),
        ("pic.webp", webp, "image/webp"),
        ("doc.pdf", pdf, "application/pdf"),
        ("song.mp3", mp3, "audio/mpeg"),
        ("voice.ogg", ogg, "audio/ogg"),
        ("beep.wav", wav, "audio/wav"),
        ("clip.webm", webm, "video/webm"),
        ("clip.mp4", mp4, "video/mp4"),
        (
            "notes.txt",
            "hello, world\nsecond line, caf\u{e9}\n".as_bytes().to_vec(),
            "text/plain",
        ),
    ]
}

// ---- tests -----------------------------------------------------------------------------

async fn each_allowed_type_is_accepted_and_served_safely(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    for (filename, bytes, expected) in samples() {
        let body = upload_ok(&server, &alice, filename, &bytes).await;
        assert_eq!(body["content_type"], expected, "{filename}: {body}");
        assert_eq!(body["filename"], filename);
        assert_eq!(body["size"], bytes.len());
        assert_eq!(body["sha256"], sha256_hex(&bytes));
        assert!(Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
        let url = body["url"].as_str().unwrap();
        assert!(url.starts_with(&format!(
            "/api/v1/uploads/{}/content?expires=",
            body["id"].as_str().unwrap()
        )));

        // No Authorization header: the signature is the permission.
        let res = fetch(&server, url).await;
        assert_eq!(res.status(), StatusCode::OK, "{filename}");
        let headers = res.headers().clone();
        let header = |name: &str| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert!(
            header("content-type").starts_with(expected),
            "{filename}: {}",
            header("content-type")
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
        let csp = header("content-security-policy");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("sandbox"),
            "{csp}"
        );
        let disposition = header("content-disposition");
        let inline = expected != "text/plain";
        assert!(
            disposition.starts_with(if inline { "inline;" } else { "attachment;" }),
            "{filename}: {disposition}"
        );
        assert!(
            disposition.contains(&format!("filename=\"{filename}\"")),
            "{disposition}"
        );
        assert!(
            disposition.contains(&format!("filename*=UTF-8''{filename}")),
            "{disposition}"
        );
        let cache = header("cache-control");
        let max_age: u64 = cache
            .strip_prefix("private, max-age=")
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            max_age <= server.settings.uploads.url_ttl_secs + 60,
            "{cache}"
        );
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            bytes.as_slice(),
            "{filename}"
        );

        // Ranges, for seeking in audio and video, keep the safety headers.
        let res = server
            .client
            .get(server.url(url))
            .header("Range", "bytes=0-3")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{filename}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            res.bytes().await.unwrap().as_ref(),
            &bytes[..4],
            "{filename}"
        );
    }
    server.stop().await;
}

async fn markup_and_unknown_types_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let mut polyglot = png();
    polyglot.extend_from_slice(b"<HTML><body><script>alert(document.cookie)</script>");
    let mut gif_polyglot = b"GIF89a/*\x01\0\x01\0\0\0\0*/=1;".to_vec();
    gif_polyglot.extend_from_slice(b"<sCrIpT src=//evil.example></script>");
    let mut deep_text = "plain enough\n".repeat(10_000).into_bytes();
    deep_text.extend_from_slice(b"<iframe src=//evil.example>");
    let refused: Vec<(&str, Vec<u8>)> = vec![
        (
            "logo.svg",
            br#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>"#.to_vec(),
        ),
        (
            "xml-svg.svg",
            br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>"#.to_vec(),
        ),
        (
            "page.html",
            b"<!DOCTYPE html><html><body>hi</body></html>".to_vec(),
        ),
        (
            "page.txt",
            b"  <html><p>pretending to be text</p></html>".to_vec(),
        ),
        (
            "data.xml",
            b"<?xml version=\"1.0\"?><note>hi</note>".to_vec(),
        ),
        ("polyglot.png", polyglot),
        ("polyglot.gif", gif_polyglot),
        ("deep.txt", deep_text),
        (
            "archive.zip",
            b"PK\x03\x04\x14\0\0\0\x08\0zipzipzip".to_vec(),
        ),
        ("binary.bin", vec![0x00, 0x01, 0x02, 0xFE, 0xFF, 0x00, 0x10]),
        ("latin1.txt", b"caf\xe9 au lait".to_vec()),
    ];
    for (filename, bytes) in refused {
        let res = upload(
            &server,
            &alice,
            filename,
            "application/octet-stream",
            &bytes,
        )
        .await;
        expect_error(
            res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    let res = upload(&server, &alice, "empty.txt", "text/plain", b"").await;
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["fields"]["file"].is_string());
    // Nothing refused was kept: only the temp dir exists under uploads/.
    let uploads = server.settings.data_dir.join("uploads");
    let entries: Vec<String> = std::fs::read_dir(&uploads)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["tmp".to_string()]);
    assert_eq!(
        std::fs::read_dir(uploads.join("tmp")).unwrap().count(),
        0,
        "temp files removed"
    );
    server.stop().await;
}

async fn size_limit_is_exact(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.uploads.max_bytes = 1024).await;
    let alice = server.register("alice").await;
    let exact = vec![b'a'; 1024];
    let body = upload_ok(&server, &alice, "exact.txt", &exact).await;
    assert_eq!(body["size"], 1024);
    let res = upload(&server, &alice, "over.txt", "text/plain", &vec![b'a'; 1025]).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Far over the limit: refused from the Content-Length alone.
    let res = upload(
        &server,
        &alice,
        "huge.txt",
        "text/plain",
        &vec![b'a'; 100 * 1024],
    )
    .await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
    // Uploads get their own body limit, above the global 1 MiB JSON limit.
    let server =
        TestServer::start_with(Backend::Sqlite, |s| s.uploads.max_bytes = 2 * 1024 * 1024).await;
    let bob = server.register("bob").await;
    let big = "x".repeat(2 * 1024 * 1024).into_bytes();
    let body = upload_ok(&server, &bob, "big.txt", &big).await;
    assert_eq!(body["size"], big.len());
    server.stop().await;
}

async fn the_detected_type_wins_over_the_clients(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let res = upload(
        &server,
        &alice,
        "cat.png",
        "image/png",
        b"<html><script>alert(1)</script></html>",
    )
    .await;
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let res = upload(&server, &alice, "page.html", "text/html", &png()).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["content_type"], "image/png");
    let res = fetch(&server, body["url"].as_str().unwrap()).await;
    assert_eq!(res.headers()["content-type"], "image/png");
    server.stop().await;
}

async fn traversal_file_names_are_neutralised(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bytes = b"root:x:0:0:root:/root:/bin/bash\n";
    let body = upload_ok(&server, &alice, "../../etc/passwd", bytes).await;
    assert_eq!(body["filename"], "passwd");
    // (Control characters cannot travel in a header; the unit tests cover their removal.)
    let body2 = upload_ok(&server, &alice, "..\\..\\.hidden\u{202e}txt.exe", b"x").await;
    assert_eq!(body2["filename"], "hiddentxt.exe");
    let sha = sha256_hex(bytes);
    let stored = server
        .settings
        .data_dir
        .join("uploads")
        .join(&sha[..2])
        .join(&sha);
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        bytes,
        "stored under its digest"
    );
    assert!(!server.settings.data_dir.join("etc").exists());
    assert!(!server.settings.data_dir.join("uploads/etc").exists());
    let res = fetch(&server, body["url"].as_str().unwrap()).await;
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(
        disposition,
        "attachment; filename=\"passwd\"; filename*=UTF-8''passwd"
    );
    server.stop().await;
}

/// Runs `$body` with `$pool` connected to the test server's database, whichever backend.
macro_rules! with_db {
    ($server:expr, $pool:ident => $body:expr) => {{
        let url = $server.settings.database_url();
        match &$server.backend {
            Backend::Sqlite => {
                let $pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                $body;
                $pool.close().await;
            }
            Backend::Postgres(_) => {
                let $pool = sqlx::PgPool::connect(&url).await.unwrap();
                $body;
                $pool.close().await;
            }
        }
    }};
}

/// A private room with `members` and a message by the first carrying the upload; rows are
/// written directly so this test does not depend on the rooms API. Returns the message id.
async fn attach_in_private_room(
    server: &TestServer,
    members: &[&TestUser],
    upload_id: &str,
) -> Uuid {
    let room = Uuid::now_v7();
    let message = Uuid::now_v7();
    let upload = Uuid::parse_str(upload_id).unwrap();
    let ids: Vec<Uuid> = members
        .iter()
        .map(|m| Uuid::parse_str(&m.id).unwrap())
        .collect();
    let now = chrono::Utc::now();
    with_db!(server, pool => {
        sqlx::query("INSERT INTO rooms (id, kind, name, created_by, created_at, updated_at, last_activity_at) \
                     VALUES ($1, 'private', 'secret', $2, $3, $3, $3)")
            .bind(room).bind(ids[0]).bind(now).execute(&pool).await.unwrap();
        for id in &ids {
            sqlx::query("INSERT INTO room_members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3)")
                .bind(room).bind(id).bind(now).execute(&pool).await.unwrap();
        }
        sqlx::query("INSERT INTO messages (id, room_id, seq, sender_id, content, created_at) VALUES ($1, $2, 1, $3, 'see attached', $4)")
            .bind(message).bind(room).bind(ids[0]).bind(now).execute(&pool).await.unwrap();
        sqlx::query("INSERT INTO message_attachments (message_id, upload_id, position) VALUES ($1, $2, 0)")
            .bind(message).bind(upload).execute(&pool).await.unwrap();
    });
    message
}

async fn metadata_is_visible_to_uploader_and_room_members_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let carol = server.register("carol").await;
    let body = upload_ok(&server, &alice, "plan.pdf", b"%PDF-1.4\n%%EOF\n").await;
    let id = body["id"].as_str().unwrap();
    let get = |user: &TestUser, id: &str| {
        server
            .client
            .get(server.api(&format!("/uploads/{id}")))
            .header("Authorization", user.bearer())
            .send()
    };
    let res = get(&alice, id).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let meta: Value = res.json().await.unwrap();
    assert_eq!(meta["sha256"], body["sha256"]);
    assert_eq!(
        fetch(&server, meta["url"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );

    // Nobody else, until it is attached in a room they belong to.
    expect_error(
        get(&bob, id).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get(&carol, id).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let message = attach_in_private_room(&server, &[&alice, &carol], id).await;
    assert_eq!(get(&carol, id).await.unwrap().status(), StatusCode::OK);
    expect_error(
        get(&bob, id).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // A deleted message no longer shares its attachments.
    with_db!(server, pool => sqlx::query("UPDATE messages SET deleted_at = $2 WHERE id = $1")
        .bind(message).bind(chrono::Utc::now()).execute(&pool).await.unwrap());
    expect_error(
        get(&carol, id).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    assert_eq!(get(&alice, id).await.unwrap().status(), StatusCode::OK);

    let unknown = Uuid::now_v7().to_string();
    expect_error(
        get(&alice, &unknown).await.unwrap(),
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        get(&alice, "not-an-id").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let res = server
        .client
        .get(server.api(&format!("/uploads/{id}")))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    server.stop().await;
}

/// A URL signed with the test server's key, expiring at `expires`.
fn forged_url(id: &str, expires: i64) -> String {
    let key = chatter::uploads::derive_url_key(TEST_JWT_SECRET.as_bytes());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}:{expires}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("/api/v1/uploads/{id}/content?expires={expires}&sig={sig}")
}

async fn tampered_and_expired_urls_are_forbidden(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let one = upload_ok(&server, &alice, "one.txt", b"one").await;
    let two = upload_ok(&server, &alice, "two.txt", b"two").await;
    let (id, url) = (one["id"].as_str().unwrap(), one["url"].as_str().unwrap());
    assert_eq!(fetch(&server, url).await.status(), StatusCode::OK);

    let (path, query) = url.split_once('?').unwrap();
    let expires: i64 = query
        .split('&')
        .find_map(|p| p.strip_prefix("expires="))
        .unwrap()
        .parse()
        .unwrap();
    let sig = query
        .split('&')
        .find_map(|p| p.strip_prefix("sig="))
        .unwrap();
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{}", &sig[1..]),
    };
    let other_id = two["id"].as_str().unwrap();
    for bad in [
        format!("{path}?expires={expires}&sig={flipped}"),
        format!("{path}?expires={}&sig={sig}", expires + 3600),
        format!("/api/v1/uploads/{other_id}/content?{query}"),
        format!("{path}?expires={expires}"),
        format!("{path}?sig={sig}"),
        format!("{path}?expires=soon&sig={sig}"),
        path.to_string(),
        forged_url(id, chrono::Utc::now().timestamp() - 5),
    ] {
        expect_error(
            fetch(&server, &bad).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        )
        .await;
    }
    // The forger above is right: the same signature with a future expiry works.
    let res = fetch(
        &server,
        &forged_url(id, chrono::Utc::now().timestamp() + 60),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let max_age: i64 = res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .strip_prefix("private, max-age=")
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (0..=60).contains(&max_age),
        "cached no longer than the URL lives: {max_age}"
    );
    server.stop().await;
}

async fn same_bytes_share_one_file(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let bytes = png();
    let first = upload_ok(&server, &alice, "a.png", &bytes).await;
    let second = upload_ok(&server, &bob, "b.png", &bytes).await;
    assert_ne!(first["id"], second["id"]);
    assert_eq!(first["sha256"], second["sha256"]);
    let sha = sha256_hex(&bytes);
    let dir = server.settings.data_dir.join("uploads").join(&sha[..2]);
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(files, vec![std::ffi::OsString::from(&sha)]);
    assert_eq!(
        std::fs::read_dir(server.settings.data_dir.join("uploads/tmp"))
            .unwrap()
            .count(),
        0
    );
    for body in [&first, &second] {
        let res = fetch(&server, body["url"].as_str().unwrap()).await;
        assert_eq!(res.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    server.stop().await;
}

async fn avatars_are_own_images_behind_signed_urls(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bob = server.register("bob").await;
    let image = upload_ok(&server, &alice, "me.png", &png()).await;
    let text = upload_ok(&server, &alice, "me.txt", b"not a picture").await;
    let bobs = upload_ok(&server, &bob, "bob.jpg", &jpeg()).await;
    let patch = |body: Value| {
        server
            .client
            .patch(server.api("/users/me"))
            .header("Authorization", alice.bearer())
            .json(&body)
            .send()
    };

    let res = patch(json!({"avatar_upload_id": image["id"], "status_text": "new face"}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert_eq!(me["status_text"], "new face");
    let url = me["avatar_url"].as_str().expect("avatar_url set");
    assert!(url.contains(&format!(
        "/uploads/{}/content?expires=",
        image["id"].as_str().unwrap()
    )));
    let res = fetch(&server, url).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");

    // Anyone signed in who sees the profile can load the picture.
    let res = server
        .client
        .get(server.api(&format!("/users/{}", alice.id)))
        .header("Authorization", bob.bearer())
        .send()
        .await
        .unwrap();
    let profile: Value = res.json().await.unwrap();
    let url = profile["avatar_url"]
        .as_str()
        .expect("avatar on the profile");
    assert_eq!(fetch(&server, url).await.status(), StatusCode::OK);

    for (bad, why) in [
        (json!(text["id"]), "not an image"),
        (json!(bobs["id"]), "someone else's upload"),
        (json!(Uuid::now_v7()), "no such upload"),
        (json!("not-a-uuid"), "not an id"),
    ] {
        let res = patch(json!({"avatar_upload_id": bad})).await.unwrap();
        let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
        assert!(
            body["error"]["fields"]["avatar_upload_id"].is_string(),
            "{why}: {body}"
        );
    }
    // Refused changes change nothing.
    let res = server
        .client
        .get(server.api("/users/me"))
        .header("Authorization", alice.bearer())
        .send()
        .await
        .unwrap();
    let me: Value = res.json().await.unwrap();
    assert!(
        me["avatar_url"]
            .as_str()
            .unwrap()
            .contains(image["id"].as_str().unwrap())
    );

    let res = patch(json!({"display_name": "Alice"})).await.unwrap();
    let me: Value = res.json().await.unwrap();
    assert!(me["avatar_url"].is_string(), "absent leaves the avatar");
    let res = patch(json!({"avatar_upload_id": null})).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = res.json().await.unwrap();
    assert!(me["avatar_url"].is_null(), "null clears it: {me}");
    server.stop().await;
}

async fn malformed_upload_requests_get_json_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let res = server
        .client
        .post(server.api("/uploads"))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart_file("a.txt", "text/plain", b"hi"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let res = server
        .client
        .post(server.api("/uploads"))
        .header("Authorization", alice.bearer())
        .json(&json!({"file": "aGk="}))
        .send()
        .await
        .unwrap();
    expect_error(
        res,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    let no_file = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    );
    let res = server
        .client
        .post(server.api("/uploads"))
        .header("Authorization", alice.bearer())
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(no_file)
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(body["error"]["fields"]["file"].is_string());
    let res = server
        .client
        .post(server.api("/uploads"))
        .header("Authorization", alice.bearer())
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nunterminated"))
        .send()
        .await
        .unwrap();
    expect_error(res, StatusCode::BAD_REQUEST, "bad_request").await;

    let spec: Value = server
        .client
        .get(server.api("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for path in [
        "/api/v1/uploads",
        "/api/v1/uploads/{id}",
        "/api/v1/uploads/{id}/content",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} documented");
    }
    assert!(
        spec["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]
            .is_object()
    );
    server.stop().await;
}

backend_tests!(
    each_allowed_type_is_accepted_and_served_safely,
    markup_and_unknown_types_are_refused,
    size_limit_is_exact,
    the_detected_type_wins_over_the_clients,
    traversal_file_names_are_neutralised,
    metadata_is_visible_to_uploader_and_room_members_only,
    tampered_and_expired_urls_are_forbidden,
    same_bytes_share_one_file,
    avatars_are_own_images_behind_signed_urls,
    malformed_upload_requests_get_json_errors,
);
