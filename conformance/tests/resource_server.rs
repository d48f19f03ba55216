//! The resource-server helper (`protocol::resource`) against real tokens from a running
//! Inherence: a fresh face check passes; a stale one, the wrong acr, a tampered or foreign
//! token, and a token without a face check get the right RFC 9470 / RFC 6750 challenge.

use inherence::protocol::resource::{AccessError, AccessPolicy, authorize_request};
use inherence::protocol::step_up::StepUpChallenge;
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use crate::oidc_flows::{par_authorize_url, pass_face_check};
use crate::server::*;

async fn jwks(server: &TestServer) -> JwkSet {
    http()
        .get(server.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn policy(server: &TestServer, acr: &str, max_age: u64) -> AccessPolicy {
    AccessPolicy {
        issuer: server.base.clone(),
        audiences: vec!["rp-par".into()],
        step_up: StepUpChallenge {
            acr_values: vec![acr.into()],
            max_age: Some(max_age),
            error_description: None,
        },
        leeway_secs: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_are_checked_and_step_up_is_demanded() {
    let server = TestServer::protocol(|_| {}).await;
    server.enrol("alice", PERSON_ENROL).await;
    let verifier = inherence::flow::random_token(40);
    let challenge = inherence::protocol::pkce::challenge(&verifier);
    let url = par_authorize_url(&server, "rp-par", &[("login_hint", "alice")], &challenge).await;
    let params = pass_face_check(&server, &browser(), &url).await;
    let tokens = exchange_code(
        &server,
        "rp-par",
        params["code"].as_str(),
        verifier.as_str(),
    )
    .await;
    let at = tokens["access_token"].as_str().unwrap();
    let keys = jwks(&server).await;
    let now = server.now_secs();

    let ok = authorize_request(at, &keys, &policy(&server, "biometric", 300), now).unwrap();
    assert_eq!(ok.sub, "alice");
    assert_eq!(ok.acr.as_deref(), Some("biometric"));

    // Another acr, or a face check older than max_age: step up, with the challenge to send.
    let e = authorize_request(at, &keys, &policy(&server, "gold", 300), now).unwrap_err();
    assert!(matches!(e, AccessError::StepUpRequired(_)));
    let header = e.www_authenticate();
    assert!(
        header.contains("error=\"insufficient_user_authentication\""),
        "{header}"
    );
    assert_eq!(
        StepUpChallenge::parse(&header).unwrap().acr_values,
        ["gold"]
    );
    let e = authorize_request(at, &keys, &policy(&server, "biometric", 0), now + 5).unwrap_err();
    assert_eq!(
        StepUpChallenge::parse(&e.www_authenticate())
            .unwrap()
            .max_age,
        Some(0)
    );

    // Expired, wrong audience, wrong issuer, tampered payload: invalid_token.
    let lifetime = ok.exp - now;
    let e = authorize_request(
        at,
        &keys,
        &policy(&server, "biometric", 1 << 30),
        now + lifetime + 1,
    );
    assert!(matches!(e, Err(AccessError::InvalidToken(_))), "{e:?}");
    let mut p = policy(&server, "biometric", 300);
    p.audiences = vec!["someone-else".into()];
    assert!(matches!(
        authorize_request(at, &keys, &p, now),
        Err(AccessError::InvalidToken(_))
    ));
    let mut p = policy(&server, "biometric", 300);
    p.issuer = "https://evil.example".into();
    assert!(matches!(
        authorize_request(at, &keys, &p, now),
        Err(AccessError::InvalidToken(_))
    ));
    let parts: Vec<&str> = at.split('.').collect();
    let mut payload: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, parts[1])
            .unwrap(),
    )
    .unwrap();
    payload["sub"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            serde_json::to_vec(&payload).unwrap()
        ),
        parts[2]
    );
    let e = authorize_request(&forged, &keys, &policy(&server, "biometric", 300), now);
    assert!(matches!(e, Err(AccessError::InvalidToken(_))), "{e:?}");
    assert!(
        e.unwrap_err()
            .www_authenticate()
            .starts_with("Bearer error=\"invalid_token\"")
    );

    // The ID token is not an access token (typ), and a client-credentials token carries no
    // face check.
    let id = tokens["id_token"].as_str().unwrap();
    let e = authorize_request(id, &keys, &policy(&server, "biometric", 300), now);
    assert!(matches!(e, Err(AccessError::InvalidToken(_))), "{e:?}");
    let admin = server.admin_token().await;
    let mut p = policy(&server, "biometric", 300);
    p.audiences = vec![server.base.clone()];
    assert!(matches!(
        authorize_request(&admin, &keys, &p, now),
        Err(AccessError::StepUpRequired(_))
    ));
}
