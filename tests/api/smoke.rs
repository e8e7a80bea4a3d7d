use reqwest::StatusCode;

use crate::backend_tests;
use crate::common::{Backend, TestServer};

async fn register_and_fetch_me(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.register("alice").await;
    let res = server
        .client
        .get(server.api("/users/me"))
        .header("Authorization", alice.bearer())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let me: serde_json::Value = res.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    server.stop().await;
}

backend_tests!(register_and_fetch_me);
