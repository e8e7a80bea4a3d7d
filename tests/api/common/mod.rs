//! Test harness: a real Chatter on port 0 with its own database (a fresh SQLite file, or a
//! fresh PostgreSQL database when TEST_DATABASE_URL is set), and a real HTTP client.
//!
//! Long (~580 lines) on purpose: the one harness every suite uses (server, database per test,
//! client, WebSocket helpers); one place to read how a test runs.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use chatter::config::Settings;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fixed secret so tests can forge tokens (wrong key, expired, alg none, …).
pub const TEST_JWT_SECRET: &str = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    /// Admin URL of a PostgreSQL server; each test creates its own database there.
    Postgres(String),
}

impl Backend {
    /// The PostgreSQL backend when TEST_DATABASE_URL is set.
    pub fn postgres() -> Option<Backend> {
        std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .map(Backend::Postgres)
    }
}

/// Declares each listed `async fn name(backend: Backend)` as two tests: `sqlite::name` and
/// `postgres::name` (the latter skipped, saying so, when TEST_DATABASE_URL is unset).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::common::Backend::postgres() {
                        Some(backend) => super::$name(backend).await,
                        None => eprintln!("TEST_DATABASE_URL is not set: PostgreSQL test skipped"),
                    }
                }
            )*
        }
    };
}

/// TEST_REDIS_URL, when set: the cluster tests run against that Redis.
pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// Drops the per-test PostgreSQL database when the test ends (also on panic).
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a separate thread with its own runtime can block.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}

async fn create_pg_database(admin_url: &str) -> (String, PgDatabase) {
    let name = format!("chatter_test_{}", uuid::Uuid::new_v4().simple());
    let pool = sqlx::PgPool::connect(admin_url).await.unwrap_or_else(|e| {
        panic!("TEST_DATABASE_URL is set but PostgreSQL cannot be reached: {e}")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&pool)
        .await
        .expect("create test database");
    pool.close().await;
    let mut url = url::Url::parse(admin_url).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    (
        url.to_string(),
        PgDatabase {
            admin_url: admin_url.to_string(),
            name,
        },
    )
}

/// Settings for a test: its own data dir, a fixed JWT secret, rate limits out of the way.
pub fn test_settings(data_dir: PathBuf) -> Settings {
    let mut settings = Settings::defaults();
    settings.data_dir = data_dir;
    settings.auth.jwt_secret = TEST_JWT_SECRET.into();
    settings.rate_limit.auth_per_minute = 100_000;
    settings.rate_limit.rest_per_minute = 100_000;
    settings.rate_limit.failed_logins_per_hour = 100_000;
    settings.rate_limit.login_delay_after_failures = 100_000;
    settings
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub settings: Settings,
    pub client: Client,
    pub backend: Backend,
    /// The running server's state, for tests that must reach inside (e.g. to publish an event
    /// late on purpose).
    pub state: chatter::AppState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _pg: Option<PgDatabase>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, |_| {}).await
    }

    /// Starts a server after `tweak` adjusts its settings.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(dir.path().to_path_buf());
        let pg = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => {
                let (url, db) = create_pg_database(admin).await;
                settings.database.url = url.into();
                Some(db)
            }
        };
        tweak(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        // Build the state before returning, so the server is ready when start() returns.
        let state = chatter::build_state(settings.clone())
            .await
            .expect("server state");
        let task = tokio::spawn(chatter::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            base: format!("http://{addr}"),
            settings,
            client: Client::builder().build().unwrap(),
            backend,
            state,
            shutdown: Some(tx),
            task: Some(task),
            _pg: pg,
            _dir: dir,
        }
    }

    /// An instance joined to a cluster over the Redis at `redis_url`, under a key prefix of
    /// its own (so concurrent tests never share keys); returns once it follows the bus.
    pub async fn start_clustered(
        backend: Backend,
        redis_url: &str,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let prefix = format!("chatter-test-{}", uuid::Uuid::new_v4().simple());
        let server = TestServer::start_with(backend, |s| {
            s.redis.url = redis_url.into();
            s.redis.prefix = prefix;
            s.redis.presence_ttl_secs = 3;
            tweak(s);
        })
        .await;
        server.wait_ready().await;
        server
    }

    /// A second instance of the same deployment: same database, data dir, secret and Redis.
    pub async fn sibling(&self) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let state = chatter::build_state(self.settings.clone())
            .await
            .expect("server state");
        let task = tokio::spawn(chatter::serve(state.clone(), listener, async move {
            let _ = rx.await;
        }));
        let sibling = TestServer {
            addr,
            base: format!("http://{addr}"),
            settings: self.settings.clone(),
            client: Client::builder().build().unwrap(),
            backend: self.backend.clone(),
            state,
            shutdown: Some(tx),
            task: Some(task),
            _pg: None,
            _dir: tempfile::tempdir().expect("temp dir"),
        };
        sibling.wait_ready().await;
        sibling
    }

    /// Polls /ready until it answers 200 (an instance in a cluster is ready once it follows
    /// the bus); fails after 10 s.
    pub async fn wait_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let res = self.client.get(self.url("/ready")).send().await;
            if res.as_ref().is_ok_and(|r| r.status() == StatusCode::OK) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "/ready did not answer 200 within 10 s: {:?}",
                match res {
                    Ok(r) => r.text().await.unwrap_or_default(),
                    Err(e) => e.to_string(),
                }
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `/api/v1` + path.
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{}", self.base, path)
    }

    /// Graceful stop; returns when the server task has finished.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server ran cleanly");
        }
    }

    /// Registers `username` with a strong password and returns the signed-in user.
    pub async fn register(&self, username: &str) -> TestUser {
        self.register_on_device(username, None).await
    }

    pub async fn register_on_device(&self, username: &str, device: Option<&str>) -> TestUser {
        let password = format!("{username}-Secret-Pass-42");
        let mut req = self
            .client
            .post(self.api("/auth/register"))
            .json(&json!({"username": username, "password": password}));
        if let Some(device) = device {
            req = req.header("X-Device-ID", device);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED, "register {username}");
        TestUser::from_response(res, username, &password).await
    }

    /// Logs in as an existing user (a new session unless the device matches an earlier one).
    pub async fn login(&self, username: &str, password: &str, device: Option<&str>) -> TestUser {
        let mut req = self
            .client
            .post(self.api("/auth/login"))
            .json(&json!({"username": username, "password": password}));
        if let Some(device) = device {
            req = req.header("X-Device-ID", device);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "login {username}");
        TestUser::from_response(res, username, password).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A signed-in user as a client sees it.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub password: String,
    pub access_token: String,
    /// The value of the `refresh_token` cookie.
    pub refresh_token: String,
    pub device_id: String,
    pub body: Value,
}

impl TestUser {
    pub async fn from_response(res: Response, username: &str, password: &str) -> TestUser {
        let refresh_token = refresh_cookie(&res).expect("refresh_token cookie");
        let device_id = res
            .headers()
            .get("x-device-id")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body: Value = res.json().await.unwrap();
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_string(),
            username: username.to_string(),
            password: password.to_string(),
            access_token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token,
            device_id,
            body,
        }
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.access_token)
    }
}

/// The `refresh_token` value from a response's Set-Cookie, if any.
pub fn refresh_cookie(res: &Response) -> Option<String> {
    res.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let rest = v.strip_prefix("refresh_token=")?;
        Some(rest.split(';').next().unwrap_or("").to_string())
    })
}

/// Asserts the API error shape and returns the body.
pub async fn expect_error(res: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(res.status(), status, "status");
    assert!(
        res.headers()
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/json")),
        "error responses are JSON"
    );
    let body: Value = res.json().await.expect("JSON error body");
    assert_eq!(body["error"]["code"], code, "error code in {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
    body
}

/// Settings for a test that assembles its own server (custom routes, a closed store) or runs
/// the binary: its own data dir and, on PostgreSQL, its own fresh database. Both are removed
/// when this is dropped.
pub struct TestEnv {
    pub settings: Settings,
    /// The database URL the settings point at (empty for the default SQLite file).
    pub database_url: String,
    _pg: Option<PgDatabase>,
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub async fn new(backend: &Backend) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(dir.path().to_path_buf());
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => {
                let (url, db) = create_pg_database(admin).await;
                settings.database.url = url.into();
                Some(db)
            }
        };
        TestEnv {
            database_url: settings.database.url.expose().to_string(),
            settings,
            _pg: pg,
            dir,
        }
    }
}

// ---- Rooms, messages and authorization tests (rooms.rs, messages.rs, authz.rs) ----

/// `method /api/v1{path}` as `user` (None: anonymous), with an optional JSON body.
pub async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    user: Option<&TestUser>,
    body: Option<&Value>,
) -> Response {
    let mut req = server.client.request(method, server.api(path));
    if let Some(user) = user {
        req = req.bearer_auth(&user.access_token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    req.send().await.unwrap()
}

/// Asserts the status (showing the body when it differs) and returns the JSON body.
pub async fn json_with(res: Response, status: StatusCode) -> Value {
    let got = res.status();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("JSON body ({e}): {text}"))
    }
}

impl TestServer {
    pub async fn get_as(&self, user: &TestUser, path: &str) -> Response {
        call(self, reqwest::Method::GET, path, Some(user), None).await
    }

    pub async fn post_as(&self, user: &TestUser, path: &str, body: Value) -> Response {
        call(self, reqwest::Method::POST, path, Some(user), Some(&body)).await
    }

    pub async fn patch_as(&self, user: &TestUser, path: &str, body: Value) -> Response {
        call(self, reqwest::Method::PATCH, path, Some(user), Some(&body)).await
    }

    pub async fn put_as(&self, user: &TestUser, path: &str) -> Response {
        call(self, reqwest::Method::PUT, path, Some(user), None).await
    }

    pub async fn delete_as(&self, user: &TestUser, path: &str) -> Response {
        call(self, reqwest::Method::DELETE, path, Some(user), None).await
    }

    /// GET as `user`, asserting 200; returns the body.
    pub async fn get_json(&self, user: &TestUser, path: &str) -> Value {
        json_with(self.get_as(user, path).await, StatusCode::OK).await
    }

    /// POST /rooms with `body`, asserting 201; returns the room.
    pub async fn create_room(&self, owner: &TestUser, body: Value) -> Value {
        json_with(
            self.post_as(owner, "/rooms", body).await,
            StatusCode::CREATED,
        )
        .await
    }

    /// Posts `content` to a room, asserting 201; returns the message.
    pub async fn send(&self, user: &TestUser, room_id: &str, content: &str) -> Value {
        let res = self
            .post_as(
                user,
                &format!("/rooms/{room_id}/messages"),
                json!({"content": content}),
            )
            .await;
        json_with(res, StatusCode::CREATED).await
    }

    /// Uploads `bytes` as a plain-text file (multipart built by hand); returns the upload.
    pub async fn upload_text(&self, user: &TestUser, filename: &str, bytes: &[u8]) -> Value {
        let boundary = "chatter-test-boundary-7d1c";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\
             Content-Type: text/plain\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let res = self
            .client
            .post(self.api("/uploads"))
            .bearer_auth(&user.access_token)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        json_with(res, StatusCode::CREATED).await
    }
}

/// The `id` of a JSON object as a String.
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_string()
}

/// Asserts a 422 `validation_failed` whose `fields` explains `field`; returns the body.
pub async fn expect_field(res: Response, field: &str) -> Value {
    let body = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert!(
        body["error"]["fields"][field]
            .as_str()
            .is_some_and(|why| !why.is_empty()),
        "fields.{field} explains the refusal in {body}"
    );
    body
}

/// A room of `kind` owned by `owner` with `members`; returns its id.
pub async fn room_with(
    server: &TestServer,
    owner: &TestUser,
    kind: &str,
    members: &[&TestUser],
) -> String {
    let ids: Vec<&str> = members.iter().map(|m| m.id.as_str()).collect();
    id_of(
        &server
            .create_room(
                owner,
                json!({"name": "room", "kind": kind, "member_ids": ids}),
            )
            .await,
    )
}

/// POST /rooms/{room}/messages with any body.
pub async fn post_raw(server: &TestServer, user: &TestUser, room: &str, body: Value) -> Response {
    server
        .post_as(user, &format!("/rooms/{room}/messages"), body)
        .await
}

/// The `content` of each item of a page.
pub fn contents(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}
