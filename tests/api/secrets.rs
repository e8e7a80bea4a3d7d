//! How secrets are kept: argon2id password hashes, refresh tokens stored only as SHA-256,
//! and the attributes of the refresh cookie.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser};
use crate::helpers::*;

async fn password_hash_is_argon2id_with_strong_parameters(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ivy = server.register("ivy").await;
    let hash = stored_password_hash(&server, "ivy").await;
    assert!(!hash.contains(&ivy.password), "the password is not stored");
    let parts: Vec<&str> = hash.split('$').collect();
    assert_eq!(parts.get(1), Some(&"argon2id"), "{hash}");
    let params = parts.get(3).expect("parameters");
    let get = |key: &str| -> u64 {
        params
            .split(',')
            .find_map(|p| p.strip_prefix(&format!("{key}=")))
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(get("m") >= 19456, "m ≥ 19 MiB in {hash}");
    assert!(get("t") >= 2, "t ≥ 2 in {hash}");
    assert_eq!(get("p"), 1, "p = 1 in {hash}");
    server.stop().await;
}

async fn refresh_token_is_stored_only_as_sha256(backend: Backend) {
    let server = TestServer::start(backend).await;
    let joy = server.register("joy").await;
    let stored = stored_refresh_hashes(&server).await;
    let expected = Sha256::digest(joy.refresh_token.as_bytes()).to_vec();
    assert_eq!(stored, vec![expected]);
    server.stop().await;
}

fn set_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("refresh_token="))
        .expect("a refresh_token Set-Cookie")
}

fn attributes(cookie: &str) -> Vec<String> {
    cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

async fn refresh_cookie_attributes_over_http(backend: Backend) {
    let server = TestServer::start(backend).await;
    let res = register_raw(&server, json!({"username": "kim", "password": STRONG})).await;
    assert_eq!(
        res.headers().get_all("set-cookie").iter().count(),
        1,
        "one Set-Cookie"
    );
    let issued = set_cookie(&res);
    let kim = TestUser::from_response(res, "kim", STRONG).await;
    let rotated = set_cookie(&refresh_by_cookie(&server, &kim.refresh_token).await);
    for cookie in [issued, rotated] {
        let attrs = attributes(&cookie);
        assert!(attrs.contains(&"httponly".into()), "{cookie}");
        assert!(attrs.contains(&"samesite=strict".into()), "{cookie}");
        assert!(attrs.contains(&"path=/api/v1/auth".into()), "{cookie}");
        assert!(
            !attrs.contains(&"secure".into()),
            "no Secure over http: {cookie}"
        );
        assert!(
            attrs.contains(&"max-age=2592000".into()),
            "30 days: {cookie}"
        );
    }
    server.stop().await;
}

async fn refresh_cookie_is_secure_with_https_public_url(backend: Backend) {
    let server = TestServer::start_with(backend, |s| {
        s.server.public_url = "https://chat.example".into();
    })
    .await;
    let res = register_raw(&server, json!({"username": "lee", "password": STRONG})).await;
    let cookie = set_cookie(&res);
    let attrs = attributes(&cookie);
    assert!(attrs.contains(&"secure".into()), "{cookie}");
    assert!(
        attrs.contains(&"httponly".into()) && attrs.contains(&"samesite=strict".into()),
        "{cookie}"
    );
    let lee = TestUser::from_response(res, "lee", STRONG).await;
    let cookie = set_cookie(&refresh_by_cookie(&server, &lee.refresh_token).await);
    assert!(
        attributes(&cookie).contains(&"secure".into()),
        "rotated cookie: {cookie}"
    );
    server.stop().await;
}

backend_tests!(
    password_hash_is_argon2id_with_strong_parameters,
    refresh_token_is_stored_only_as_sha256,
    refresh_cookie_attributes_over_http,
    refresh_cookie_is_secure_with_https_public_url,
);
