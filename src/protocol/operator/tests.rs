use super::*;
use crate::keys::{Alg, KeyRing, file_ring};
use serde_json::json;

const ISS: &str = "https://op.example/realms/ops";
const CLIENT: &str = "inherence-console";
const NONCE: &str = "nonce-0123456789abcdef";

fn ring(dir: &std::path::Path, name: &str) -> KeyRing {
    file_ring(&dir.join(name), Alg::ES256, "op.example", 1_800_000_000)
        .unwrap()
        .0
}

fn jwks(r: &KeyRing) -> JwkSet {
    serde_json::from_value(r.jwks()).unwrap()
}

fn claims() -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    json!({
        "iss": ISS, "aud": CLIENT, "sub": "op-1", "iat": now, "exp": now + 300,
        "nonce": NONCE, "name": "Olga Operator",
        "realm_access": { "roles": ["inherence-reviewer@bank-a", "offline_access"] },
    })
}

fn want() -> Expected<'static> {
    Expected {
        issuer: ISS,
        client_id: CLIENT,
        nonce: NONCE,
        roles_claim: "realm_access.roles",
    }
}

#[test]
fn a_good_token_names_the_operator_and_their_roles() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), "k");
    let t = r.sign(Alg::ES256, "JWT", &claims()).unwrap();
    let id = verify_id_token(&t, &jwks(&r), &want()).unwrap();
    assert_eq!(id.subject, "op-1");
    assert_eq!(id.name, "Olga Operator");
    assert_eq!(
        id.roles,
        vec!["inherence-reviewer@bank-a", "offline_access"]
    );
}

#[test]
fn every_check_refuses_a_token_broken_one_way() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), "k");
    let other = ring(dir.path(), "other");
    let keys = jwks(&r);
    let now = jsonwebtoken::get_current_timestamp() as i64;
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "another issuer",
            Box::new(|c| c["iss"] = json!("https://op.example/realms/other")),
        ),
        (
            "another audience",
            Box::new(|c| c["aud"] = json!("someone-else")),
        ),
        ("expired", Box::new(move |c| c["exp"] = json!(now - 120))),
        (
            "no sub",
            Box::new(|c| {
                c.as_object_mut()
                    .unwrap()
                    .remove("sub")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        (
            "another nonce",
            Box::new(|c| c["nonce"] = json!("replayed")),
        ),
        (
            "no nonce",
            Box::new(|c| {
                c.as_object_mut()
                    .unwrap()
                    .remove("nonce")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
        (
            "azp of another client",
            Box::new(|c| c["azp"] = json!("someone-else")),
        ),
        (
            "no iat",
            Box::new(|c| {
                c.as_object_mut()
                    .unwrap()
                    .remove("iat")
                    .map(|_| ())
                    .unwrap()
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut c = claims();
        edit(&mut c);
        let t = r.sign(Alg::ES256, "JWT", &c).unwrap();
        assert!(
            verify_id_token(&t, &keys, &want()).is_err(),
            "{what} was accepted"
        );
    }
    // Signed by a key the provider does not publish.
    let t = other.sign(Alg::ES256, "JWT", &claims()).unwrap();
    assert!(verify_id_token(&t, &keys, &want()).is_err());
    // A changed payload.
    let t = r.sign(Alg::ES256, "JWT", &claims()).unwrap();
    let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
    let mut c = claims();
    c["realm_access"]["roles"] = json!(["inherence-admin"]);
    parts[1] = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        serde_json::to_vec(&c).unwrap(),
    );
    assert!(verify_id_token(&parts.join("."), &keys, &want()).is_err());
    // alg none and HS256 (keyed with anything public) are refused before any key is used.
    for alg in ["none", "HS256"] {
        let h = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!("{{\"alg\":\"{alg}\",\"typ\":\"JWT\"}}"),
        );
        let forged = format!("{h}.{}.", parts[1]);
        assert!(verify_id_token(&forged, &keys, &want()).is_err(), "{alg}");
    }
}

#[test]
fn roles_are_read_from_the_configured_claim_only() {
    let dir = tempfile::tempdir().unwrap();
    let r = ring(dir.path(), "k");
    let mut c = claims();
    c["roles"] = json!("inherence-admin");
    let t = r.sign(Alg::ES256, "JWT", &c).unwrap();
    let mut w = want();
    w.roles_claim = "roles";
    assert_eq!(
        verify_id_token(&t, &jwks(&r), &w).unwrap().roles,
        vec!["inherence-admin"]
    );
    w.roles_claim = "groups";
    assert!(verify_id_token(&t, &jwks(&r), &w).unwrap().roles.is_empty());
}
