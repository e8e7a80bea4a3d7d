//! Operations: liveness, readiness, Prometheus metrics, the OpenAPI document, the docs UI and stats.

use std::net::SocketAddr;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestEnv, TestServer, expect_error};

async fn health_is_200(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = server
        .client
        .get(server.url("/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("x-request-id").is_some());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    server.stop().await;
}

async fn ready_is_200_when_the_database_answers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = server
        .client
        .get(server.url("/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["database"], "ok", "{body}");
    assert_eq!(
        body["redis"], "not_configured",
        "one instance alone: {body}"
    );
    server.stop().await;
}

async fn ready_is_503_naming_the_database_when_it_is_down(backend: Backend) {
    let env = TestEnv::new(&backend).await;
    let state = chatter::build_state(env.settings.clone())
        .await
        .expect("state");
    state.store.close().await;
    let app = chatter::app(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client = reqwest::Client::new();
    let res = client
        .get(format!("http://{addr}/ready"))
        .send()
        .await
        .unwrap();
    let body = expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("database"), "names what failed: {body}");
    // Liveness is not readiness: the process still answers.
    let res = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A request that needs the database is a clean 503 (or 500), in the JSON shape.
    let res = client
        .post(format!("http://{addr}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": "whatever-it-is"}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert!(status.is_server_error(), "{status}");
    let body: Value = res.json().await.unwrap();
    assert!(body["error"]["code"].is_string(), "{body}");
}

/// Lines of the exposition for `name` (samples only, no # HELP / # TYPE).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

async fn metrics_are_labelled_by_route_template(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let room = server
        .create_room(&alice, json!({"name": "metered", "kind": "public"}))
        .await;
    server
        .send(&alice, room["id"].as_str().unwrap(), "counted")
        .await;
    for _ in 0..3 {
        let res = server
            .client
            .get(server.api(&format!("/users/{}", alice.id)))
            .header("Authorization", alice.bearer())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    let stray = uuid::Uuid::new_v4().to_string();
    let res = server
        .client
        .get(server.api(&format!("/no-such-route/{stray}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .client
            .get(server.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let res = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let text = res.text().await.unwrap();

    let requests = samples(&text, "http_requests_total");
    assert!(
        requests
            .iter()
            .any(|l| l.contains(r#"route="/api/v1/users/{id}""#)
                && l.contains(r#"method="GET""#)
                && l.contains(r#"status="200""#)),
        "http_requests_total by method, route template and status:\n{}",
        requests.join("\n")
    );
    assert!(
        requests
            .iter()
            .any(|l| l.contains(r#"route="/api/v1/auth/register""#)
                && l.contains(r#"method="POST""#)
                && l.contains(r#"status="201""#)),
        "{}",
        requests.join("\n")
    );
    assert!(
        requests.iter().any(|l| l.contains(r#"status="404""#)),
        "unmatched routes are counted too"
    );
    // Never the raw id, nor the raw path of an unmatched request (one series per id).
    assert!(
        !text.contains(&alice.id),
        "a user id leaked into the metrics"
    );
    assert!(!text.contains(&stray), "a raw path leaked into the metrics");

    let buckets = samples(&text, "http_request_duration_seconds_bucket");
    assert!(
        buckets
            .iter()
            .any(|l| l.contains(r#"route="/api/v1/users/{id}""#) && l.contains("le=")),
        "latency histogram buckets:\n{}",
        buckets.join("\n")
    );
    assert!(!samples(&text, "http_request_duration_seconds_count").is_empty());
    let sizes: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("http_response_size_bytes"))
        .collect();
    assert!(
        sizes
            .iter()
            .any(|l| l.contains(r#"route="/api/v1/users/{id}""#)),
        "response size histogram:\n{}",
        sizes.join("\n")
    );
    // The message writer's batch: its size and how long it took to commit.
    // (At least: with `cargo test` other tests of this process store messages too.)
    let commits = samples(&text, "message_commit_duration_seconds_count");
    assert!(
        commits
            .iter()
            .any(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap() >= 1.0),
        "{commits:?}"
    );
    assert!(!samples(&text, "message_batch_size_count").is_empty());
    assert!(
        !samples(&text, "process_resident_memory_bytes").is_empty()
            || !samples(&text, "process_cpu_seconds_total").is_empty(),
        "process metrics"
    );
    // Every sample line is well formed: name{labels} value.
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "malformed sample: {line}"
        );
    }
    server.stop().await;
}

/// Every REST route the router serves, with its methods.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/auth/register", &["post"]),
    ("/api/v1/auth/login", &["post"]),
    ("/api/v1/auth/refresh", &["post"]),
    ("/api/v1/auth/logout", &["post"]),
    ("/api/v1/auth/sessions", &["get", "delete"]),
    ("/api/v1/auth/sessions/{id}", &["delete"]),
    ("/api/v1/users/me", &["get", "patch", "delete"]),
    ("/api/v1/users/me/password", &["put"]),
    ("/api/v1/users", &["get"]),
    ("/api/v1/users/{id}", &["get"]),
    ("/api/v1/stats", &["get"]),
    ("/health", &["get"]),
    ("/ready", &["get"]),
    ("/metrics", &["get"]),
];

async fn openapi_documents_every_route(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = server
        .client
        .get(server.api("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let doc: Value = res.json().await.unwrap();
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1"), "OpenAPI 3.1, got {version:?}");
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in ROUTES {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
        for method in *methods {
            assert!(
                item.get(*method).is_some(),
                "{method} {path} is not documented"
            );
        }
    }
    // And the other way round: everything documented is served (no route-level 404/405).
    let some_id = uuid::Uuid::now_v7().to_string();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let url = server.url(&path.replace("{id}", &some_id));
            let res = server
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .unwrap();
            let status = res.status();
            let body = res.text().await.unwrap();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served"
            );
            assert!(
                !(status == StatusCode::NOT_FOUND && body.contains("no such route")),
                "{method} {path} is documented but not served"
            );
            assert!(
                !status.is_server_error(),
                "{method} {path}: {status} {body}"
            );
        }
    }
    // The error shape and the bearer scheme are described.
    assert!(doc.pointer("/components/schemas/ErrorBody").is_some());
    assert!(doc.pointer("/components/securitySchemes/bearer").is_some());
    server.stop().await;
}

async fn docs_are_served_offline(backend: Backend) {
    let server = TestServer::start(backend).await;
    for path in ["/api/docs/", "/api/docs"] {
        let res = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
    }
    let html = server
        .client
        .get(server.url("/api/docs/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut refs = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for piece in html.split(attr).skip(1) {
            refs.push(piece.split('"').next().unwrap().to_string());
        }
    }
    assert!(refs.iter().any(|r| r.ends_with(".js")), "scripts in {html}");
    assert!(refs.iter().any(|r| r.ends_with(".css")), "styles in {html}");
    for r in &refs {
        assert!(
            !r.starts_with("http://") && !r.starts_with("https://") && !r.starts_with("//"),
            "the docs page loads {r} from the network"
        );
        // Each local asset is served.
        let url = if r.starts_with('/') {
            server.url(r)
        } else {
            server.url(&format!("/api/docs/{}", r.trim_start_matches("./")))
        };
        let res = server.client.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{url}");
    }
    // The page is pointed at our own document.
    let init = server
        .client
        .get(server.url("/api/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    if init.status() == StatusCode::OK {
        let js = init.text().await.unwrap();
        assert!(js.contains("/api/v1/openapi.json"), "{js}");
        assert!(!js.contains("petstore"), "{js}");
    }
    server.stop().await;
}

async fn stats_report_live_numbers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = server
        .client
        .get(server.api("/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    for key in ["connections", "online_users", "uptime_secs"] {
        assert!(body[key].is_u64(), "{key} in {body}");
    }
    assert_eq!(body["connections"], 0, "no sockets are open: {body}");
    assert_eq!(body["online_users"], 0, "{body}");
    assert!(body["uptime_secs"].as_u64().unwrap() < 600);
    server.stop().await;
}

backend_tests!(
    health_is_200,
    ready_is_200_when_the_database_answers,
    ready_is_503_naming_the_database_when_it_is_down,
    metrics_are_labelled_by_route_template,
    openapi_documents_every_route,
    docs_are_served_offline,
    stats_report_live_numbers,
);
