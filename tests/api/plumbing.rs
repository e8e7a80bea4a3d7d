//! The HTTP layer: malformed input, routing errors, request ids, CORS, panics and timeouts.
//! Whatever a client sends, the answer is the documented JSON error shape, never a 500.
//!
//! Long (~575 lines) on purpose: independent tests of the HTTP layer, one concern each.

use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing;
use reqwest::{Body, Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestEnv, TestServer, TestUser, expect_error};

const JSON: Option<&str> = Some("application/json");
const REGISTER: &str = "/api/v1/auth/register";
const ME: &str = "/api/v1/users/me";

/// A request to `path`, signed in as `user` when given.
fn req(server: &TestServer, method: Method, path: &str, user: Option<&TestUser>) -> RequestBuilder {
    let req = server.client.request(method, server.url(path));
    match user {
        Some(user) => req.header("Authorization", user.bearer()),
        None => req,
    }
}

async fn send(req: RequestBuilder) -> Response {
    req.send().await.unwrap()
}

async fn get(server: &TestServer, path: &str, user: Option<&TestUser>) -> Response {
    send(req(server, Method::GET, path, user)).await
}

async fn get_json(server: &TestServer, path: &str, user: &TestUser) -> Value {
    let res = get(server, path, Some(user)).await;
    assert_eq!(res.status(), StatusCode::OK, "GET {path}");
    res.json().await.unwrap()
}

/// `body` with `ct` as its Content-Type (none when None).
async fn send_body(req: RequestBuilder, ct: Option<&str>, body: impl Into<Body>) -> Response {
    let req = req.body(body);
    send(match ct {
        Some(ct) => req.header("Content-Type", ct),
        None => req,
    })
    .await
}

async fn register_raw(server: &TestServer, ct: Option<&str>, body: impl Into<Body>) -> Response {
    send_body(req(server, Method::POST, REGISTER, None), ct, body).await
}

async fn patch_raw(s: &TestServer, u: &TestUser, ct: Option<&str>, b: impl Into<Body>) -> Response {
    send_body(req(s, Method::PATCH, ME, Some(u)), ct, b).await
}

async fn register_json(server: &TestServer, body: &Value) -> Response {
    register_raw(server, JSON, body.to_string()).await
}

async fn patch_json(server: &TestServer, user: &TestUser, body: &Value) -> Response {
    patch_raw(server, user, JSON, body.to_string()).await
}

/// Asserts the status (saying which case failed), then the error shape; returns the body.
async fn fails(res: Response, status: u16, code: &str, case: impl Debug) -> Value {
    let status = StatusCode::from_u16(status).unwrap();
    assert_eq!(res.status(), status, "{case:?}");
    expect_error(res, status, code).await
}

/// A 422 whose `fields` names `field`.
async fn fails_on(res: Response, field: &str, case: impl Debug) {
    let err = fails(res, 422, "validation_failed", &case).await;
    let named = err["error"]["fields"][field].is_string();
    assert!(named, "{field} named for {case:?}: {err}");
}

async fn invalid_json_is_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let bad_bodies = [
        r#"{"username":"#,
        "{username: 'x'}",
        "not json",
        r#"{"display_name":"x",}"#,
        "\u{feff}{}",
        "{\"display_name\":\"x\"\n",
        r#"{"display_name":"\ud800"}"#,
    ];
    for bad in bad_bodies {
        let res = register_raw(&server, JSON, bad).await;
        fails(res, 400, "bad_request", ("register", bad)).await;
        let res = patch_raw(&server, &alice, JSON, bad).await;
        fails(res, 400, "bad_request", ("PATCH", bad)).await;
    }
    // Invalid UTF-8 inside a JSON string.
    let res = register_raw(&server, JSON, b"{\"username\":\"\xff\xfe\"}".to_vec()).await;
    fails(res, 400, "bad_request", "invalid UTF-8").await;
    // Nesting deep enough to overflow a naive recursive parser: refused, and the server lives on.
    let objects = format!("{{\"display_name\":{}", "{\"a\":".repeat(50_000));
    for deep in ["[".repeat(200_000), objects] {
        let res = patch_raw(&server, &alice, JSON, deep).await;
        let status = res.status().as_u16();
        assert!(status == 400 || status == 422, "{status}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"]["code"].is_string(), "{body}");
    }
    assert_eq!(get(&server, "/health", None).await.status(), StatusCode::OK);
    server.stop().await;
}

/// The whole body must be JSON, not just a prefix the deserializer happened to stop after.
async fn json_with_trailing_garbage_is_400(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    // A valid object followed by garbage is not JSON either: nothing may be acted on.
    let register = json!({"username": "carol", "password": "carol-Secret-Pass-42"});
    let patch = json!({"display_name": "Changed"});
    for tail in ["}", " garbage", " {}", "x"] {
        let res = register_raw(&server, JSON, format!("{register}{tail}")).await;
        fails(res, 400, "bad_request", ("register, then", tail)).await;
        let res = patch_raw(&server, &alice, JSON, format!("{patch}{tail}")).await;
        fails(res, 400, "bad_request", ("PATCH, then", tail)).await;
    }
    let me = get_json(&server, ME, &alice).await;
    assert_eq!(me["display_name"], "alice", "a malformed PATCH was applied");
    // Malformed after an unknown field: still malformed (400), not "unknown field" (422).
    let res = patch_raw(&server, &alice, JSON, r#"{"nope":1,"#).await;
    fails(res, 400, "bad_request", r#"PATCH {"nope":1,"#).await;
    server.stop().await;
}

async fn empty_body_is_an_error(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let res = register_raw(&server, JSON, "").await;
    fails(res, 400, "bad_request", "register").await;
    let res = patch_raw(&server, &alice, JSON, "").await;
    fails(res, 400, "bad_request", "PATCH").await;
    // An empty object is JSON, but not a registration.
    let res = register_raw(&server, JSON, "{}").await;
    fails(res, 422, "validation_failed", "{}").await;
    // Without a content type, the type is what is wrong.
    let res = register_raw(&server, None, "").await;
    fails(res, 415, "unsupported_media_type", "no type").await;
    server.stop().await;
}

/// A missing required field is a field error on that field, like any other.
async fn missing_fields_are_named(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_json(&server, &json!({"password": "bob-Secret-Pass-42"})).await;
    fails_on(res, "username", "register without username").await;
    let res = register_json(&server, &json!({"username": "bob"})).await;
    fails_on(res, "password", "register without password").await;
    let login = json!({"username": "bob"});
    let res = send(req(&server, Method::POST, "/api/v1/auth/login", None).json(&login)).await;
    fails_on(res, "password", "login without password").await;
    server.stop().await;
}

async fn wrong_content_type_is_415(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let valid = json!({"username": "bob", "password": "bob-Secret-Pass-42"}).to_string();
    let patch = json!({"display_name": "A"}).to_string();
    let types = [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
    ];
    for ct in types {
        let res = register_raw(&server, ct, valid.clone()).await;
        fails(res, 415, "unsupported_media_type", ct).await;
        let res = patch_raw(&server, &alice, ct, patch.clone()).await;
        fails(res, 415, "unsupported_media_type", ct).await;
    }
    // Parameters and case do not matter.
    let res = register_raw(&server, Some("Application/JSON; charset=utf-8"), valid).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    server.stop().await;
}

async fn wrong_json_types_are_422_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let pw = "bob-Secret-Pass-42";
    for (body, field) in [
        (json!({"username": 5, "password": pw}), "username"),
        (json!({"username": "bob", "password": ["x"]}), "password"),
        (
            json!({"username": "bob", "password": pw, "email": {"a": 1}}),
            "email",
        ),
    ] {
        fails_on(register_json(&server, &body).await, field, body).await;
    }
    // A JSON value that is not an object at all.
    for body in ["[]", "5", "\"text\"", "null"] {
        let res = register_raw(&server, JSON, body).await;
        fails(res, 422, "validation_failed", body).await;
    }
    for (body, field) in [
        (json!({"display_name": 5}), "display_name"),
        (json!({"status_text": true}), "status_text"),
        (json!({"username": 1.5}), "username"),
    ] {
        fails_on(patch_json(&server, &alice, &body).await, field, body).await;
    }
    server.stop().await;
}

/// Sends `request` as is on a new connection; returns the status and everything after the head.
async fn raw_request(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut buf = Vec::new();
    // The server may close before reading everything; keep what arrived.
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or_else(|| panic!("no status line in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

async fn body_over_the_limit_is_413(backend: Backend) {
    let server = TestServer::start_with(backend, |s| s.server.body_limit_bytes = 4096).await;
    let alice = server.register("alice").await;
    let pad = "a".repeat(4097);
    let big = json!({"username": "bob", "password": "bob-Secret-Pass-42", "display_name": pad});
    let res = register_json(&server, &big).await;
    fails(res, 413, "payload_too_large", "register").await;
    let res = patch_json(&server, &alice, &big).await;
    fails(res, 413, "payload_too_large", "PATCH").await;
    // Without Content-Length (chunked), the limit still holds.
    let mut raw = format!(
        "POST {REGISTER} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        server.addr
    );
    for chunk in big.to_string().as_bytes().chunks(1000) {
        let chunk = std::str::from_utf8(chunk).unwrap();
        raw.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    raw.push_str("0\r\n\r\n");
    let (status, body) = raw_request(server.addr, raw.as_bytes()).await;
    assert_eq!(status, 413, "chunked over the limit: {body}");
    assert!(body.contains("payload_too_large"), "{body}");
    // Just under the limit is read (and judged on its content).
    let fits = json!({"display_name": "b".repeat(3000)});
    fails_on(
        patch_json(&server, &alice, &fits).await,
        "display_name",
        "3000 chars",
    )
    .await;
    server.stop().await;
}

async fn unicode_edge_cases(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    // Stored and returned verbatim; lengths count characters, not bytes.
    let (accents, emoji) = ("é".repeat(64), "🎉".repeat(64));
    let names = ["🦀 Ferris 👩‍👩‍👧‍👦", "مرحبا", "שלום", "日本語", &accents, &emoji];
    for name in names {
        let res = patch_json(&server, &alice, &json!({"display_name": name})).await;
        assert_eq!(res.status(), StatusCode::OK, "display_name {name:?}");
        assert_eq!(res.json::<Value>().await.unwrap()["display_name"], name);
        let me = get_json(&server, ME, &alice).await;
        assert_eq!(me["display_name"], name, "read back");
    }
    // Zero-width characters inside a name: kept verbatim, or refused naming the field.
    let zw = "Zero\u{200B}Width\u{200D}Joiner";
    let res = patch_json(&server, &alice, &json!({"display_name": zw})).await;
    if res.status() == StatusCode::OK {
        assert_eq!(res.json::<Value>().await.unwrap()["display_name"], zw);
    } else {
        fails_on(res, "display_name", zw).await;
    }
    // Control characters (NUL breaks PostgreSQL) and over-long text are refused, naming the field.
    for (body, field) in [
        (json!({"display_name": "nul\u{0000}byte"}), "display_name"),
        (json!({"display_name": "\u{0000}"}), "display_name"),
        (json!({"display_name": "bell\u{0007}"}), "display_name"),
        (json!({"status_text": "nul\u{0000}"}), "status_text"),
        (json!({"display_name": "x".repeat(65)}), "display_name"),
        (json!({"display_name": "🎉".repeat(65)}), "display_name"),
        (json!({"display_name": "y".repeat(200_000)}), "display_name"),
        (json!({"status_text": "z".repeat(141)}), "status_text"),
        (json!({"display_name": "   "}), "display_name"),
        (json!({"username": "émile"}), "username"),
        (json!({"username": "ab\u{200B}c"}), "username"),
        (json!({"username": "\u{202E}evil"}), "username"),
        (json!({"username": "🦀🦀🦀"}), "username"),
        (json!({"username": "n".repeat(10_000)}), "username"),
    ] {
        fails_on(patch_json(&server, &alice, &body).await, field, body).await;
    }
    // The same rules at registration.
    let reg = |username: &str, password: &str| json!({"username": username, "password": password});
    let (pw, long_name, long_pw) = ("ok-Secret-Pass-42", "u".repeat(100_000), "p".repeat(129));
    let mut nul_display = reg("bob", pw);
    nul_display["display_name"] = json!("a\u{0}");
    for (body, field) in [
        (reg("nul\u{0}x", pw), "username"),
        (nul_display, "display_name"),
        (reg("bob", &long_pw), "password"),
        (reg(&long_name, pw), "username"),
    ] {
        fails_on(register_json(&server, &body).await, field, body).await;
    }
    // A password of emoji is a password like any other.
    let res = register_json(&server, &reg("emoji_pw", "🔑🗝️🔐🔒 long enough")).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    server.stop().await;
}

async fn sql_looking_strings_are_just_text(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let drop = "'; DROP TABLE users; --";
    let body = json!({"username": drop, "password": "ok-Secret-Pass-42"});
    fails_on(register_json(&server, &body).await, "username", drop).await;
    for name in [drop, "Robert'); DROP TABLE users;--", "\" OR 1=1 --"] {
        let res = patch_json(&server, &alice, &json!({"display_name": name})).await;
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(res.json::<Value>().await.unwrap()["display_name"], name);
        let profile = get_json(&server, &format!("/api/v1/users/{}", alice.id), &alice).await;
        assert_eq!(profile["display_name"], name);
    }
    // Login with injection-looking credentials is a plain 401 (or 422), never a 500.
    let login = json!({"username": "alice' --", "password": "' OR '1'='1"});
    let res = send(req(&server, Method::POST, "/api/v1/auth/login", None).json(&login)).await;
    let status = res.status().as_u16();
    assert!(status == 401 || status == 422, "{status}");
    // Search terms with quotes and LIKE wildcards match literally.
    let bob = server.register("bob").await;
    for q in ["' OR '1'='1", "%", "_", "\\", "a%"] {
        let search = req(&server, Method::GET, "/api/v1/users", Some(&bob)).query(&[("q", q)]);
        let res = send(search).await;
        assert_eq!(res.status(), StatusCode::OK, "q={q}");
        let page: Value = res.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(
            !items.iter().any(|u| u["username"] == "bob"),
            "q={q:?} matched bob"
        );
    }
    // The table is still there.
    get_json(&server, ME, &bob).await;
    server.stop().await;
}

async fn unknown_route_wrong_method_and_bad_input(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let me = Some(&alice);
    for path in ["/api/v1/no-such-thing", "/api/v2/users"] {
        fails(get(&server, path, me).await, 404, "not_found", path).await;
    }
    for (method, path, allowed) in [
        (Method::DELETE, "/health", "GET"),
        (Method::GET, REGISTER, "POST"),
        (Method::PUT, "/api/v1/auth/login", "POST"),
        (Method::POST, ME, "GET"),
    ] {
        let res = send(req(&server, method.clone(), path, me)).await;
        let allow = header(&res, "allow");
        fails(res, 405, "method_not_allowed", path).await;
        let allow = allow.unwrap_or_else(|| panic!("{method} {path}: 405 without Allow"));
        let listed = allow
            .split(',')
            .any(|m| m.trim().eq_ignore_ascii_case(allowed));
        assert!(listed, "{path}: Allow: {allow}");
    }
    for id in ["not-a-uuid", "1", "%27%3B%20DROP", "0000-g"] {
        let res = get(&server, &format!("/api/v1/users/{id}"), me).await;
        fails(res, 400, "bad_request", id).await;
    }
    // Malformed query strings are 400 too.
    for query in ["limit=abc", "limit=-1", "limit=0", "cursor=%%%"] {
        let res = get(&server, &format!("/api/v1/users?{query}"), me).await;
        fails(res, 400, "bad_request", query).await;
    }
    // A well-formed id of nobody is 404.
    let path = format!("/api/v1/users/{}", uuid::Uuid::now_v7());
    fails(get(&server, &path, me).await, 404, "not_found", path).await;
    server.stop().await;
}

async fn request_id(server: &TestServer, method: Method, path: &str, sent: Option<&str>) -> String {
    let mut req = req(server, method, path, None);
    if let Some(sent) = sent {
        req = req.header("X-Request-Id", sent);
    }
    let res = send(req).await;
    let id = res
        .headers()
        .get("x-request-id")
        .expect("every response carries X-Request-Id");
    id.to_str().unwrap().to_string()
}

async fn request_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Generated when absent: a UUID, fresh per request, also on errors.
    let a = request_id(&server, Method::GET, "/health", None).await;
    let b = request_id(&server, Method::GET, "/api/v1/nope", None).await;
    let c = request_id(&server, Method::GET, ME, None).await;
    for id in [&a, &b, &c] {
        uuid::Uuid::parse_str(id).unwrap_or_else(|_| panic!("request id {id:?} is a UUID"));
    }
    assert!(a != b && b != c && a != c);
    let on_405 = request_id(&server, Method::DELETE, "/health", Some("on-a-405")).await;
    assert_eq!(on_405, "on-a-405");
    // A sane incoming id is kept.
    let long = "r".repeat(128);
    for sane in ["abc-123_DEF.9:x", "4bf92f3577b34da6a3ce929d0e0e4736", &long] {
        assert_eq!(
            request_id(&server, Method::GET, "/health", Some(sane)).await,
            sane
        );
        let on_401 = request_id(&server, Method::GET, ME, Some(sane)).await;
        assert_eq!(on_401, sane, "kept on errors too");
    }
    // An insane one is replaced by a fresh UUID.
    let too_long = "r".repeat(129);
    for insane in [&too_long, "a b", "\"q\"", "a'b", "<br>", "a;b"] {
        let got = request_id(&server, Method::GET, "/health", Some(insane)).await;
        assert_ne!(got, insane);
        uuid::Uuid::parse_str(&got).unwrap_or_else(|_| panic!("{got:?} for {insane:?}"));
    }
    server.stop().await;
}

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
}

fn allow_origin(res: &Response) -> Option<String> {
    header(res, "access-control-allow-origin")
}

async fn cors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let preflight = |origin: &str| {
        req(&server, Method::OPTIONS, "/api/v1/auth/login", None)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,authorization",
            )
            .send()
    };
    let allowed = "http://localhost:5173";
    let res = preflight(allowed).await.unwrap();
    assert!(res.status().is_success(), "preflight: {}", res.status());
    assert_eq!(allow_origin(&res).as_deref(), Some(allowed));
    let credentials = header(&res, "access-control-allow-credentials");
    assert_eq!(credentials.as_deref(), Some("true"));
    let methods = header(&res, "access-control-allow-methods").unwrap_or_default();
    assert!(methods.contains("post"), "{methods}");
    let headers = header(&res, "access-control-allow-headers").unwrap_or_default();
    let both = headers.contains("content-type") && headers.contains("authorization");
    assert!(both, "{headers}");
    // The actual request from that origin is allowed too, and may read X-Request-Id.
    let res = send(req(&server, Method::GET, "/health", None).header("Origin", allowed)).await;
    assert_eq!(allow_origin(&res).as_deref(), Some(allowed));
    let exposed = header(&res, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("x-request-id"), "expose: {exposed}");
    // A foreign origin gets nothing that lets a browser read the answer.
    for origin in ["https://evil.example", "http://localhost:5174", "null"] {
        let res = preflight(origin).await.unwrap();
        assert_eq!(allow_origin(&res), None, "preflight from {origin}");
        assert!(res.status().as_u16() < 500);
        let res = send(req(&server, Method::GET, "/health", None).header("Origin", origin)).await;
        assert_eq!(allow_origin(&res), None, "GET from {origin}");
    }
    server.stop().await;
}

/// Serves `routes` with the application's layers on a fresh port; the task ends with the test.
async fn serve_with_layers(env: &TestEnv, routes: Router<chatter::AppState>) -> String {
    let state = chatter::build_state(env.settings.clone())
        .await
        .expect("state");
    let app = chatter::http::with_layers(routes, &state).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await });
    format!("http://{addr}")
}

async fn boom() -> &'static str {
    panic!("boom: secret internals /etc/passwd")
}

async fn panic_is_json_500_and_server_lives_on(backend: Backend) {
    let env = TestEnv::new(&backend).await;
    let fine = routing::get(|| async { "fine" });
    let routes = Router::new().route("/boom", routing::get(boom));
    let base = serve_with_layers(&env, routes.route("/fine", fine)).await;
    let client = reqwest::Client::new();
    for _ in 0..3 {
        let res = client.get(format!("{base}/boom")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(res.headers().get("x-request-id").is_some());
        let text = res.text().await.unwrap();
        let leaks = ["boom", "passwd", "panic"].iter().any(|s| text.contains(s));
        assert!(!leaks, "500 body leaks: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["error"]["code"], "internal", "{body}");
        let res = client.get(format!("{base}/boom")).send().await.unwrap();
        expect_error(res, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
        let res = client.get(format!("{base}/fine")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), "fine");
    }
}

async fn slow_request_times_out_with_503(backend: Backend) {
    let mut env = TestEnv::new(&backend).await;
    env.settings.server.request_timeout_secs = 1;
    let slow = routing::get(|| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        "too late"
    });
    let quick = routing::get(|| async { "quick" });
    let base = serve_with_layers(
        &env,
        Router::new().route("/slow", slow).route("/quick", quick),
    )
    .await;
    let client = reqwest::Client::new();
    let started = Instant::now();
    let res = client.get(format!("{base}/slow")).send().await.unwrap();
    let took = started.elapsed();
    assert!(res.headers().get("x-request-id").is_some());
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let expected = Duration::from_millis(900)..Duration::from_secs(4);
    assert!(expected.contains(&took), "answered after {took:?}");
    let res = client.get(format!("{base}/quick")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

backend_tests!(
    invalid_json_is_400,
    json_with_trailing_garbage_is_400,
    empty_body_is_an_error,
    missing_fields_are_named,
    wrong_content_type_is_415,
    wrong_json_types_are_422_naming_the_field,
    body_over_the_limit_is_413,
    unicode_edge_cases,
    sql_looking_strings_are_just_text,
    unknown_route_wrong_method_and_bad_input,
    request_ids,
    cors,
    panic_is_json_500_and_server_lives_on,
    slow_request_times_out_with_503,
);
