//! The `chatter` binary itself: config layering and checks, migrations, serving from an empty
//! directory, graceful shutdown, OTLP export and what reaches the logs.
//!
//! Long (~490 lines) on purpose: independent tests of the binary, sharing the helpers that
//! start it as a child process and read its output.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::backend_tests;
use crate::binary::{Server, chatter};
use crate::common::{Backend, TestEnv, refresh_cookie};

const JWT_SECRET: &str = "cli-test-secret-0123456789-abcdefghijklmnop";
type Env<'a> = &'a [(&'a str, &'a str)];

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs the binary with `args` and `env` until it exits (killed after 30 s).
async fn run(dir: &Path, args: &[&str], env: Env<'_>) -> Output {
    let mut cmd = chatter(dir);
    cmd.args(args).envs(env.iter().copied());
    let out = tokio::time::timeout(Duration::from_secs(30), cmd.output()).await;
    let out = out.expect("finished within 30 s").expect("the binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    Output {
        status: out.status,
        stdout: text(&out.stdout),
        stderr: text(&out.stderr),
    }
}

/// `chatter [args] config check` → the printed configuration.
async fn config_check(dir: &Path, args: &[&str], env: Env<'_>) -> Value {
    let out = run(dir, &[args, &["config", "check"]].concat(), env).await;
    assert!(out.status.success(), "config check failed: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.stdout))
}

#[tokio::test]
async fn config_check_prints_json_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CHATTER__AUTH__JWT_SECRET", JWT_SECRET),
        ("DATABASE_URL", "postgres://u:hunter2@h/db"),
        ("REDIS_URL", "redis://:redispass99@cache:6379"),
    ];
    let out = run(dir.path(), &["config", "check"], &env).await;
    assert_eq!(out.status.code(), Some(0), "{}", out.stderr);
    let config: Value = serde_json::from_str(&out.stdout).expect("JSON");
    for secret in [JWT_SECRET, "hunter2", "redispass99"] {
        let shown = out.stdout.contains(secret) || out.stderr.contains(secret);
        assert!(!shown, "{secret} printed: {}", out.stdout);
    }
    let db = config["database"]["url"].as_str().unwrap();
    assert!(
        db.starts_with("postgres://") && db.contains("@h/db"),
        "{db}"
    );
    let jwt = config["auth"]["jwt_secret"].as_str().unwrap();
    assert!(!jwt.is_empty(), "a set secret shows masked, not unset");
    assert_eq!(config["server"]["port"], 8080);
    assert_eq!(config["environment"], "development");
}

#[tokio::test]
async fn env_beats_yaml_and_yaml_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "server:\n  port: 7001\nlog:\n  level: debug\n";
    std::fs::write(dir.path().join("custom.yaml"), yaml).unwrap();
    let (d, args) = (dir.path(), ["--config", "custom.yaml"]);
    let config = config_check(d, &args, &[]).await;
    assert_eq!(config["server"]["port"], 7001);
    assert_eq!(config["log"]["level"], "debug");
    assert_eq!(config["server"]["host"], "127.0.0.1", "defaults");
    let config = config_check(d, &args, &[("CHATTER__SERVER__PORT", "7002")]).await;
    assert_eq!(config["server"]["port"], 7002);
    assert_eq!(config["log"]["level"], "debug");
    // PORT beats the file; CHATTER__SERVER__PORT beats PORT.
    let config = config_check(d, &args, &[("PORT", "7003")]).await;
    assert_eq!(config["server"]["port"], 7003);
    let both = [("PORT", "7003"), ("CHATTER__SERVER__PORT", "7002")];
    assert_eq!(config_check(d, &args, &both).await["server"]["port"], 7002);
    // CHATTER_CONFIG names the file too.
    let config = config_check(d, &[], &[("CHATTER_CONFIG", "custom.yaml")]).await;
    assert_eq!(config["server"]["port"], 7001);
    // A --config file that does not exist is an error, not silently the defaults.
    let out = run(d, &["--config", "missing.yaml", "config", "check"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", out.stdout);
    assert!(out.stderr.contains("missing.yaml"), "{}", out.stderr);
}

#[tokio::test]
async fn local_yaml_is_read_when_no_config_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert_eq!(config_check(d, &[], &[]).await["server"]["port"], 8080);
    std::fs::create_dir(d.join("config")).unwrap();
    std::fs::write(d.join("config/local.yaml"), "server:\n  port: 7005\n").unwrap();
    assert_eq!(config_check(d, &[], &[]).await["server"]["port"], 7005);
    let config = config_check(d, &[], &[("CHATTER__SERVER__PORT", "7006")]).await;
    assert_eq!(config["server"]["port"], 7006);
    // --config replaces local.yaml.
    let other = "server:\n  public_url: https://chat.example\n";
    std::fs::write(d.join("other.yaml"), other).unwrap();
    let config = config_check(d, &["--config", "other.yaml"], &[]).await;
    assert_eq!(config["server"]["port"], 8080);
    assert_eq!(config["server"]["public_url"], "https://chat.example");
}

/// The binary refuses `env` with exit code 2 and one stderr line naming `key`.
async fn expect_config_error(env: Env<'_>, args: &[&str], key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), args, env).await;
    let (stdout, stderr) = (&out.stdout, &out.stderr);
    assert_eq!(out.status.code(), Some(2), "{env:?} {args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr for {env:?}: {stderr:?}");
    assert!(lines[0].contains(key), "{key} named in {:?}", lines[0]);
    assert!(stdout.trim().is_empty(), "nothing on stdout: {stdout}");
}

#[tokio::test]
async fn bad_values_exit_2_with_one_line_naming_the_key() {
    let check = ["config", "check"];
    for (var, value, key) in [
        ("CHATTER__SERVER__PORT", "eighty", "server.port"),
        ("CHATTER__LOG__FORMAT", "xml", "log.format"),
        ("PORT", "99999", "server.port"),
        ("CHATTER__AUTH__JWT_SECRET", "short", "auth.jwt_secret"),
        ("DATABASE_URL", "mysql://u@h/db", "database.url"),
    ] {
        expect_config_error(&[(var, value)], &check, key).await;
    }
    // The same refusal before serving or migrating.
    let eighty = [("CHATTER__SERVER__PORT", "eighty")];
    expect_config_error(&eighty, &["serve"], "server.port").await;
    let xml = [("CHATTER__LOG__FORMAT", "xml")];
    expect_config_error(&xml, &["migrate", "status"], "log.format").await;
}

#[tokio::test]
async fn production_refuses_to_start_without_a_jwt_secret() {
    let production = [("CHATTER__ENVIRONMENT", "production")];
    for args in [&["config", "check"][..], &["serve"], &[]] {
        expect_config_error(&production, args, "auth.jwt_secret").await;
    }
    // With a secret it is a valid configuration.
    let dir = tempfile::tempdir().unwrap();
    let env = [production[0], ("CHATTER__AUTH__JWT_SECRET", JWT_SECRET)];
    let config = config_check(dir.path(), &[], &env).await;
    assert_eq!(config["environment"], "production");
}

/// `chatter migrate <action>`, which must succeed.
async fn migrate(dir: &Path, env: Env<'_>, action: &str) -> Output {
    let out = run(dir, &["migrate", action], env).await;
    assert!(out.status.success(), "migrate {action}: {}", out.stderr);
    out
}

/// `(version, state)` for every migration `chatter migrate status` lists, in order.
async fn migration_states(dir: &Path, env: Env<'_>) -> Vec<(String, String)> {
    let out = migrate(dir, env, "status").await;
    let mut states = Vec::new();
    for line in out.stdout.lines().filter(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace().map(str::to_string);
        let (version, state) = (words.next().unwrap(), words.next().unwrap_or_default());
        let numeric = version.len() == 4 && version.parse::<u32>().is_ok();
        assert!(numeric, "{line}");
        assert!(state == "applied" || state == "pending", "{line}");
        states.push((version, state));
    }
    let first = states.first().map(|s| s.0.as_str());
    assert_eq!(first, Some("0001"), "{}", out.stdout);
    states
}

fn all_in(states: &[(String, String)], state: &str) -> bool {
    states.iter().all(|(_, s)| s == state)
}

async fn migrate_status_up_down(backend: Backend) {
    let test_env = TestEnv::new(&backend).await;
    let dir = test_env.dir.path();
    let data_dir = dir.join("data").display().to_string();
    let mut env = vec![("CHATTER__DATA_DIR", data_dir.as_str())];
    if !test_env.database_url.is_empty() {
        env.push(("DATABASE_URL", test_env.database_url.as_str()));
    }
    let fresh = migration_states(dir, &env).await;
    assert!(all_in(&fresh, "pending"), "a fresh database: {fresh:?}");
    migrate(dir, &env, "up").await;
    let states = migration_states(dir, &env).await;
    assert!(all_in(&states, "applied"), "after up: {states:?}");
    // Idempotent.
    migrate(dir, &env, "up").await;
    assert!(all_in(&migration_states(dir, &env).await, "applied"));
    // Down reverts the newest one only, and says which.
    let newest = states.last().unwrap().0.clone();
    let out = migrate(dir, &env, "down").await;
    let number = newest.trim_start_matches('0');
    assert!(out.stdout.contains(number), "{newest}: {}", out.stdout);
    let after = migration_states(dir, &env).await;
    assert_eq!(after.last().unwrap(), &(newest, "pending".to_string()));
    assert!(all_in(&after[..after.len() - 1], "applied"), "{after:?}");
    // Down to nothing: 0001 is pending again.
    for _ in 1..states.len() {
        migrate(dir, &env, "down").await;
    }
    let empty = migration_states(dir, &env).await;
    assert!(all_in(&empty, "pending"), "{empty:?}");
    migrate(dir, &env, "down").await; // Nothing left to revert is not an error.
    // The down migrations really removed the schema: up works again from scratch.
    migrate(dir, &env, "up").await;
    assert!(all_in(&migration_states(dir, &env).await, "applied"));
    if test_env.database_url.is_empty() {
        assert!(dir.join("data/chatter.db").is_file(), "in the data dir");
    }
}

backend_tests!(migrate_status_up_down);

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads more of `stream` into `buf`; false at the end of the stream.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk).await.unwrap_or(0);
    buf.extend_from_slice(&chunk[..n]);
    n > 0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_an_empty_directory_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]).await;
    let secret_path = dir.path().join("data/jwt_secret");
    let secret = std::fs::read_to_string(&secret_path).expect("data/jwt_secret was generated");
    assert!(secret.trim().len() >= 32, "a strong secret: {secret:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_path)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "private to its owner: {mode:o}");
    }
    assert!(dir.path().join("data/chatter.db").is_file(), "SQLite");

    // A request whose handler is running (it asked for the body) when SIGTERM arrives.
    let body = json!({"username": "inflight", "password": "inflight-Secret-Pass-42"}).to_string();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/register HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let continued = tokio::time::timeout(Duration::from_secs(10), async {
        while find(&received, b"100 Continue\r\n\r\n").is_none() {
            assert!(read_more(&mut stream, &mut received).await, "closed");
        }
    });
    continued.await.expect("100 Continue within 10 s");

    server.sigterm();
    let signalled = Instant::now();
    // Shutdown has begun once new connections are refused.
    while TcpStream::connect(server.addr).await.is_ok() {
        assert!(signalled.elapsed().as_secs() < 10, "still accepting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    read.expect("the in-flight request is answered").unwrap();
    let response = String::from_utf8_lossy(&rest).into_owned();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "in flight: {response}"
    );
    assert!(response.contains("access_token"), "{response}");

    let left = Duration::from_secs(10).saturating_sub(signalled.elapsed());
    let status = server.wait(left).await;
    let output = server.output().await;
    assert!(status.success(), "after SIGTERM: {status}; {output:?}");
}

type Received = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// One HTTP/1.1 request off `stream`: (method, path, body); None when the peer is done.
async fn next_request(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Option<(String, String, Vec<u8>)> {
    while find(buf, b"\r\n\r\n").is_none() {
        read_more(stream, buf).await.then_some(())?;
    }
    let end = find(buf, b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf.drain(..end).collect::<Vec<_>>()).into_owned();
    let mut first = head.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            while find(buf, b"\r\n").is_none() {
                read_more(stream, buf).await.then_some(())?;
            }
            let eol = find(buf, b"\r\n").unwrap();
            let size = String::from_utf8_lossy(&buf[..eol])
                .split(';')
                .next()?
                .trim()
                .to_string();
            let size = usize::from_str_radix(&size, 16).ok()?;
            while buf.len() < eol + size + 4 {
                read_more(stream, buf).await.then_some(())?;
            }
            body.extend_from_slice(&buf[eol + 2..eol + 2 + size]);
            buf.drain(..eol + size + 4);
            if size == 0 {
                return Some((method, path, body));
            }
        }
    }
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"));
    let length: usize = length.and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < length {
        read_more(stream, buf).await.then_some(())?;
    }
    body.extend(buf.drain(..length));
    Some((method, path, body))
}

/// A minimal HTTP/1.1 endpoint that records every request and answers 200 with an empty body.
async fn http_sink() -> (SocketAddr, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received: Received = Arc::default();
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while let Some(request) = next_request(&mut stream, &mut buf).await {
                    log.lock().unwrap().push(request);
                    let ok = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n\
                              Content-Length: 0\r\n\r\n";
                    if stream.write_all(ok.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_are_exported_over_otlp_and_flushed_on_shutdown() {
    let (sink, received) = http_sink().await;
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://{sink}");
    let otlp = ("CHATTER__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str());
    let server = Server::start(dir.path(), &[otlp]).await;
    let me = reqwest::get(format!("{}/api/v1/users/me", server.base)).await;
    assert_eq!(me.unwrap().status(), StatusCode::UNAUTHORIZED);
    let (_, stderr) = server.stop().await;
    let received = received.lock().unwrap();
    let seen: Vec<(&str, &str)> = received.iter().map(|r| (&*r.0, &*r.1)).collect();
    let traces: Vec<&Vec<u8>> = received
        .iter()
        .filter(|r| r.1 == "/v1/traces")
        .map(|r| &r.2)
        .collect();
    assert!(!traces.is_empty(), "no /v1/traces in {seen:?}; {stderr}");
    assert!(seen.iter().all(|(method, _)| *method == "POST"), "{seen:?}");
    let has = |needle: &[u8]| traces.iter().any(|body| find(body, needle).is_some());
    assert!(has(b"/api/v1/users/me"), "the request's span was exported");
    assert!(has(b"chatter"), "service.name");
}

async fn status(req: RequestBuilder) -> StatusCode {
    req.send().await.unwrap().status()
}

/// The access token and the refresh cookie of a sign-in or refresh response.
async fn tokens(req: RequestBuilder, expected: StatusCode) -> (String, String) {
    let res = req.send().await.unwrap();
    assert_eq!(res.status(), expected);
    let refresh = refresh_cookie(&res).expect("refresh cookie");
    let body: Value = res.json().await.unwrap();
    (body["access_token"].as_str().unwrap().to_string(), refresh)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_and_never_contain_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let json_debug = [
        ("CHATTER__LOG__FORMAT", "json"),
        ("CHATTER__LOG__LEVEL", "debug"),
    ];
    let server = Server::start(dir.path(), &json_debug).await;
    let client = reqwest::Client::new();
    let post = |path: &str| client.post(format!("{}/api/v1{path}", server.base));
    let get = |path: &str| client.get(format!("{}{path}", server.base));
    let (password, new_password) = ("Sup3r-Secret-Passw0rd", "An0ther-Secret-Passw0rd");
    let mut secrets: Vec<String> = vec![password.into(), new_password.into()];

    let credentials = json!({"username": "logtest", "password": password});
    let register = post("/auth/register")
        .header("X-Device-ID", "laptop")
        .json(&credentials);
    let (access, first_refresh) = tokens(register, StatusCode::CREATED).await;
    assert_eq!(
        status(get("/api/v1/users/me").bearer_auth(&access)).await,
        StatusCode::OK
    );
    // Refresh through the cookie, then through the body.
    let cookie = format!("refresh_token={first_refresh}");
    let by_cookie = post("/auth/refresh").header("Cookie", &cookie);
    let (access2, refresh2) = tokens(by_cookie, StatusCode::OK).await;
    let body = json!({"refresh_token": refresh2});
    let (access3, refresh3) = tokens(post("/auth/refresh").json(&body), StatusCode::OK).await;
    // Tokens in query strings (WebSocket style) and a replayed refresh token.
    for path in ["/health", "/api/v1/users/me", "/ws", "/api/v1/nope"] {
        status(get(&format!("{path}?token={access3}"))).await;
    }
    let replayed = status(post("/auth/refresh").header("Cookie", &cookie)).await;
    assert_eq!(
        replayed,
        StatusCode::UNAUTHORIZED,
        "a replayed refresh token"
    );
    // Failed and successful logins, a password change.
    let wrong = json!({"username": "logtest", "password": format!("{password}-wrong")});
    assert_eq!(
        status(post("/auth/login").json(&wrong)).await,
        StatusCode::UNAUTHORIZED
    );
    let (access4, refresh4) = tokens(post("/auth/login").json(&credentials), StatusCode::OK).await;
    let change = json!({"current_password": password, "new_password": new_password});
    let put = client.put(format!("{}/api/v1/users/me/password", server.base));
    let changed = status(put.bearer_auth(&access4).json(&change)).await;
    assert_eq!(changed, StatusCode::NO_CONTENT);
    secrets.extend([access, first_refresh, access2, refresh2]);
    secrets.extend([access3, refresh3, access4, refresh4]);
    let jwt_secret = std::fs::read_to_string(dir.path().join("data/jwt_secret")).unwrap();
    secrets.push(jwt_secret.trim().to_string());

    let (stdout, stderr) = server.stop().await;
    let all = format!("{stdout}{stderr}");
    for secret in &secrets {
        assert!(!all.contains(secret.as_str()), "in the logs: {secret}");
        // Nor the signature of a JWT on its own.
        if let [_, _, signature] = secret.split('.').collect::<Vec<_>>()[..] {
            assert!(!all.contains(signature), "a signature in the logs");
        }
    }
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the server logged something");
    for line in &lines {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(parsed.get("level").is_some(), "{line}");
    }
    assert!(all.contains("account registered"), "activity is logged");
}
