//! Load-test fixtures (feature `test-support`, never in the server binary): the store entries
//! a finished face check and an enrolment leave, written directly, so that a load test can
//! drive `/token` and session creation at full rate without running a face check per request.
//! They write through the same namespaces and record types as the flow, which stay private.

use super::capture::EnrolmentRecord;
use super::token::CodeGrant;
use super::{digest, ns, random_token};
use crate::biometric::Template;
use crate::protocol::values::{Acr, ClientId, RedirectUri, Subject};
use crate::store::typed::KvJson;
use crate::store::{Kv, StoreError};

/// An authorization code as a face check of `subject` would leave it.
#[derive(Clone, Debug)]
pub struct PassedCheck<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// The S256 PKCE challenge the code is bound to.
    pub code_challenge: &'a str,
    pub subject: &'a str,
    pub acr: &'a str,
    pub liveness_method: &'a str,
}

/// Stores one authorization code for `check`, valid until `now + lifetime_secs`; returns it.
pub fn mint_code(
    store: &dyn Kv,
    check: &PassedCheck<'_>,
    now: i64,
    lifetime_secs: u64,
) -> Result<String, StoreError> {
    let code = random_token(32);
    let grant = CodeGrant {
        client_id: ClientId::registered(check.client_id),
        redirect_uri: RedirectUri::registered(check.redirect_uri),
        code_challenge: check.code_challenge.into(),
        subject: Subject::parse(check.subject).map_err(|e| StoreError::Policy(e.to_string()))?,
        nonce: Some(random_token(16)),
        scope: "openid".into(),
        acr: Acr::supported(check.acr),
        amr: vec!["face".into()],
        auth_time: now,
        sid: random_token(18),
        authorization_details: None,
        enrolment: false,
        liveness_method: Some(check.liveness_method.into()),
    };
    let expires = (now + i64::try_from(lifetime_secs).unwrap_or(i64::MAX / 2_000)) * 1000;
    store.put_json(&ns::CODES, &digest(&code), &grant, Some(expires))?;
    Ok(code)
}

/// Stores an enrolment of `subject` with `template`, as an enrolment API call by `by` would.
pub fn enrol(
    store: &dyn Kv,
    subject: &str,
    template: &Template,
    by: &str,
    now: i64,
) -> Result<(), StoreError> {
    let rec = EnrolmentRecord {
        template: template.clone(),
        enrolled_at: now,
        by: by.into(),
        source: "api".into(),
    };
    store.put_json(&ns::ENROLMENTS, subject, &rec, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::embedded::EmbeddedStore;

    #[test]
    fn a_minted_code_is_stored_under_its_digest_with_its_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let clock = std::sync::Arc::new(crate::clock::FixedClock::at_millis(1_000_000));
        let store = EmbeddedStore::open(dir.path(), clock).unwrap();
        let check = PassedCheck {
            client_id: "c",
            redirect_uri: "http://127.0.0.1:9/cb",
            code_challenge: "x",
            subject: "s",
            acr: "biometric",
            liveness_method: "FLASHING",
        };
        let code = mint_code(&store, &check, 1_000, 60).unwrap();
        let grant: CodeGrant = store.get_json(&ns::CODES, &digest(&code)).unwrap().unwrap();
        assert_eq!(
            (grant.client_id.as_str(), grant.subject.as_str()),
            ("c", "s")
        );
        assert!(
            store
                .get_json::<CodeGrant>(&ns::CODES, &code)
                .unwrap()
                .is_none()
        );
    }
}
