//! Access-token checks: every forged, spoilt or missing token is a 401 with
//! `WWW-Authenticate: Bearer` and the JSON error shape, on every authenticated route.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TEST_JWT_SECRET, TestServer, TestUser};
use crate::helpers::*;

/// Starts a server with a signed-in user, builds an `Authorization` header value from the
/// user, and checks it is refused on several routes while the user's real token still works.
async fn refused(backend: Backend, authorization: impl FnOnce(&TestUser) -> Option<String>) {
    let server = TestServer::start(backend).await;
    let user = server.register("tess").await;
    let header = authorization(&user);
    for (method, path) in [
        ("GET", "/users/me"),
        ("GET", "/auth/sessions"),
        ("GET", "/users?q=t"),
        ("POST", "/auth/logout"),
    ] {
        let mut req = match method {
            "GET" => server.client.get(server.api(path)),
            _ => server.client.post(server.api(path)),
        };
        if let Some(value) = &header {
            req = req.header("Authorization", value);
        }
        let body = expect_unauthorized(req.send().await.unwrap()).await;
        let keys: Vec<&String> = body["error"].as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| ["code", "message"].contains(&k.as_str())),
            "{body}"
        );
    }
    assert_access_ok(&server, &user.access_token).await;
    server.stop().await;
}

fn bearer(token: String) -> Option<String> {
    Some(format!("Bearer {token}"))
}

fn spoilt(user: &TestUser, change: impl FnOnce(&mut Value)) -> Value {
    let mut claims = valid_claims(user);
    change(&mut claims);
    claims
}

async fn forged_token_with_the_right_key_is_accepted(backend: Backend) {
    // The control for every test below: a token forged like the server's own is accepted,
    // so each refusal is down to the one thing spoilt.
    let server = TestServer::start(backend).await;
    let user = server.register("uma").await;
    let token = forge_valid(&valid_claims(&user));
    assert_access_ok(&server, &token).await;
    let res = me_with_header(&server, Some(&format!("bearer {token}"))).await;
    assert_eq!(
        res.status(),
        reqwest::StatusCode::OK,
        "the scheme is case-insensitive"
    );
    server.stop().await;
}

async fn alg_none_is_refused(backend: Backend) {
    refused(backend, |u| bearer(forge_alg_none(&valid_claims(u)))).await;
}

async fn wrong_key_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge(
            &valid_claims(u),
            Algorithm::HS256,
            "another-secret-0123456789-abcdefghijklmnop",
        ))
    })
    .await;
}

async fn other_algorithm_with_the_right_key_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge(&valid_claims(u), Algorithm::HS512, TEST_JWT_SECRET))
    })
    .await;
}

async fn expired_token_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge_valid(&spoilt(u, |c| {
            c["iat"] = json!(now_secs() - 7200);
            c["exp"] = json!(now_secs() - 3600);
        })))
    })
    .await;
}

async fn wrong_audience_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge_valid(&spoilt(u, |c| {
            c["aud"] = json!("someone-else")
        })))
    })
    .await;
}

async fn wrong_issuer_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge_valid(&spoilt(u, |c| c["iss"] = json!("evil"))))
    })
    .await;
}

async fn missing_exp_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge_valid(&spoilt(u, |c| {
            c.as_object_mut().unwrap().remove("exp");
        })))
    })
    .await;
}

async fn unknown_session_is_refused(backend: Backend) {
    refused(backend, |u| {
        bearer(forge_valid(&spoilt(u, |c| c["sid"] = json!(unknown_id()))))
    })
    .await;
}

async fn session_of_another_subject_is_refused(backend: Backend) {
    // A valid signature over a real session id, but naming a different subject.
    refused(backend, |u| {
        bearer(forge_valid(&spoilt(u, |c| c["sub"] = json!(unknown_id()))))
    })
    .await;
}

async fn refresh_token_as_access_token_is_refused(backend: Backend) {
    refused(backend, |u| bearer(u.refresh_token.clone())).await;
}

async fn garbage_token_is_refused(backend: Backend) {
    refused(backend, |_| bearer("garbage.not.ajwt".into())).await;
}

async fn tampered_signature_is_refused(backend: Backend) {
    refused(backend, |u| {
        let (signed, signature) = u.access_token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
        bearer(format!("{signed}.{flipped}{}", &signature[1..]))
    })
    .await;
}

async fn tampered_claims_are_refused(backend: Backend) {
    // The real signature over claims changed afterwards (a longer lifetime).
    refused(backend, |u| {
        let parts: Vec<&str> = u.access_token.split('.').collect();
        let mut claims = jwt_claims(&u.access_token);
        claims["exp"] = json!(now_secs() + 86_400 * 365);
        use base64::Engine;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims).unwrap());
        bearer(format!("{}.{payload}.{}", parts[0], parts[2]))
    })
    .await;
}

async fn missing_header_is_refused(backend: Backend) {
    refused(backend, |_| None).await;
}

async fn other_schemes_are_refused(backend: Backend) {
    refused(backend, |u| Some(u.access_token.clone())).await;
}

async fn basic_scheme_is_refused(backend: Backend) {
    refused(backend, |_| Some("Basic dGVzczpzZWNyZXQ=".into())).await;
}

async fn empty_bearer_is_refused(backend: Backend) {
    refused(backend, |_| Some("Bearer ".into())).await;
}

backend_tests!(
    forged_token_with_the_right_key_is_accepted,
    alg_none_is_refused,
    wrong_key_is_refused,
    other_algorithm_with_the_right_key_is_refused,
    expired_token_is_refused,
    wrong_audience_is_refused,
    wrong_issuer_is_refused,
    missing_exp_is_refused,
    unknown_session_is_refused,
    session_of_another_subject_is_refused,
    refresh_token_as_access_token_is_refused,
    garbage_token_is_refused,
    tampered_signature_is_refused,
    tampered_claims_are_refused,
    missing_header_is_refused,
    other_schemes_are_refused,
    basic_scheme_is_refused,
    empty_bearer_is_refused,
);
