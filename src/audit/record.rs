//! What one audit entry holds and how its hash is computed (pure: no store, no clock).
//!
//! An entry is `{stream, seq, kind, at_ms, prev, body, personal_sha256, hash}` plus, until a
//! subject's data is erased, `personal`. The hash covers everything except `personal` itself
//! (it covers `personal_sha256`, a salted digest of it), so erasing the personal part leaves
//! every hash, and therefore the chain, intact.
//!
//! `hash = SHA-256(canonical JSON of {at_ms, body, kind, personal_sha256, prev, seq, stream})`,
//! hex; canonical JSON is Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
//! ensure_ascii=False)` (see [`crate::canonical`]), so an auditor can recompute it with a few
//! lines of any language.

use serde::{Deserialize, Serialize};
use serde_json::Value;
#[cfg(test)]
use serde_json::json;
use sha2::{Digest, Sha256};

/// `prev` of the first entry of a stream.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A biometric decision (step-up, session attempt, saved standalone check, manual review).
    Decision,
    /// A subject's personal data was erased from earlier entries (which ones are listed).
    Redaction,
    /// Entries older than the retention period were removed up to a signed checkpoint.
    Retention,
    /// Something a console operator did (sign-in, sign-out, an erasure), naming them.
    Operator,
}

/// The body of an [`Kind::Operator`] entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OperatorAction {
    /// `sign_in`, `sign_out`, `erase_subject`...
    pub action: String,
    /// Name, subject and identity provider of the operator.
    pub operator: String,
    pub tenant: Option<String>,
    /// The subject acted on, as its keyed pseudonym (`ps1:...`).
    pub subject: Option<String>,
}

/// Through which door a decision came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The OpenID step-up (or enrolment) flow.
    Oidc,
    /// A hosted session of the Sessions API.
    Session,
    /// A standalone face-match or passive-liveness call saved as a session.
    Api,
    /// A manual status change (`update-status`).
    Review,
}

/// The evidence of one decision: everything an auditor needs, nothing that identifies the
/// person directly (the subject is a keyed pseudonym; request data sits in [`Personal`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// Unique id of the decision (UUID).
    pub id: String,
    pub channel: Channel,
    /// `Approved`, `In Review` or `Declined`.
    pub outcome: String,
    /// Why: `APPROVED`, or the risks / failed checks (`LOW_LIVENESS_SCORE`, ...).
    pub reasons: Vec<String>,
    /// Keyed pseudonym of the user reference (OpenID subject or `vendor_data`): `ps1:...`.
    pub subject: Option<String>,
    /// OpenID client id, or `api-key:<id>` for the v3 API.
    pub client: String,
    /// The tenant of the client or API key (absent in records from before tenants: `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    pub flow_id: Option<String>,
    pub session_id: Option<String>,
    pub workflow_id: Option<String>,
    pub workflow_version: Option<u32>,
    /// Attempt number within the flow or session (1-based; 0 for a manual review).
    pub attempt: u32,
    /// `enrol` or `verify` for the OpenID flow.
    pub purpose: Option<String>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// SCA element categories proven: `inherence` (this check) plus those of `prior_amr`.
    pub factors: Vec<String>,
    /// The `amr` of the identity provider's earlier authentication (from a verified
    /// `id_token_hint`), e.g. `["pwd"]`.
    pub prior_amr: Vec<String>,
    /// Issuer of that earlier authentication.
    pub prior_iss: Option<String>,
    /// When it happened (its `auth_time`, else the token's `iat`), seconds since the epoch:
    /// how old the other factor was when the face was checked.
    #[serde(default)]
    pub prior_auth_time: Option<i64>,
    /// `PASSIVE` when liveness ran.
    pub liveness_method: Option<String>,
    pub liveness_score: Option<f64>,
    pub face_match_score: Option<f64>,
    /// `[decline, review]` thresholds applied.
    pub liveness_thresholds: Option<[f64; 2]>,
    pub face_match_thresholds: Option<[f64; 2]>,
    /// `name@sha256` of the models that ran.
    pub models: Vec<String>,
    /// SHA-256 (hex) of the canonical JSON of the RAR `authorization_details` the user saw
    /// and approved (amount, currency, payee): the dynamic-linking evidence.
    pub authorization_details_sha256: Option<String>,
    /// The liveness method the request needed (`PASSIVE`, `FLASHING`, `ACTIVE_3D`) and what
    /// decided it: `policy`, `client`, `transaction` or `workflow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_required: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_required_by: Option<String>,
    /// The console operator who decided (a manual review): name, subject and identity
    /// provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The challenge the capture answered and what the frames showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureEvidence>,
}

/// A capture's challenge and the measurements it was judged on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CaptureEvidence {
    /// SHA-256 (hex) of the canonical JSON of the challenge (method, frame size and timing,
    /// colours with their times, actions with their times).
    pub challenge_sha256: String,
    /// Screen colours shown, in order (`#rrggbb`).
    pub colours: Vec<String>,
    /// Head actions asked for, in order (`turn_left`, `turn_right`).
    pub actions: Vec<String>,
    /// ACTIVE_3D without colours (the user chose the motion-only alternative).
    pub motion_only: bool,
    /// Frames received.
    pub frames: usize,
    /// Time from issuing the challenge to receiving the frames, ms.
    pub upload_after_ms: i64,
    pub flash_correlation: Option<f64>,
    /// Grey levels of change on the face and on the background per unit of colour change.
    pub flash_face_response: Option<f64>,
    pub flash_background_response: Option<f64>,
    pub flash_lag_ms: Option<u32>,
    /// The face's response over the background's, its centre's over its sides', and the
    /// largest share of clipped pixels on it in a frame (the tint checks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_locality: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_falloff: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_clipped: Option<f64>,
    /// Colour steps shown, and those measured and explained best by their own colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_steps: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flash_steps_identified: Option<usize>,
    /// Yaw reached per action (degrees) and the nose's distance from a flat picture's
    /// prediction at that moment (eye distances).
    pub motion_peaks_deg: Vec<f64>,
    pub motion_nonplanar: Vec<f64>,
    /// Largest distance between the embeddings of two compared frames.
    pub identity_distance: Option<f64>,
    /// Smallest mean grey-level difference between consecutive frames.
    pub frame_variation: Option<f64>,
}

impl Evidence {
    /// A record with the common fields; callers fill in the rest.
    pub fn new(id: String, channel: Channel, outcome: &str, client: String) -> Self {
        Self {
            id,
            channel,
            outcome: outcome.to_owned(),
            reasons: Vec::new(),
            subject: None,
            client,
            tenant: None,
            flow_id: None,
            session_id: None,
            workflow_id: None,
            workflow_version: None,
            attempt: 0,
            purpose: None,
            acr: None,
            amr: Vec::new(),
            factors: Vec::new(),
            prior_amr: Vec::new(),
            prior_iss: None,
            prior_auth_time: None,
            liveness_method: None,
            liveness_score: None,
            face_match_score: None,
            liveness_thresholds: None,
            face_match_thresholds: None,
            models: Vec::new(),
            authorization_details_sha256: None,
            liveness_required: None,
            liveness_required_by: None,
            capture: None,
            operator: None,
        }
    }
}

/// SCA element category of an RFC 8176 `amr` value, if it names one.
pub fn factor_of(amr: &str) -> Option<&'static str> {
    match amr {
        "pwd" | "pin" | "kba" => Some("knowledge"),
        "otp" | "sms" | "tel" | "hwk" | "swk" | "sc" | "mca" | "pop" => Some("possession"),
        "face" | "fpt" | "iris" | "retina" | "vbm" => Some("inherence"),
        _ => None,
    }
}

/// The SCA categories of a decision: inherence (when it checked a face) plus the categories of
/// the earlier authentication, each once, in a stable order.
pub fn factors(inherence: bool, prior_amr: &[String]) -> Vec<String> {
    let mut set: Vec<&str> = prior_amr.iter().filter_map(|a| factor_of(a)).collect();
    if inherence {
        set.push("inherence");
    }
    let order = ["knowledge", "possession", "inherence"];
    order
        .iter()
        .filter(|f| set.contains(f))
        .map(|f| (*f).to_owned())
        .collect()
}

/// Request data about the person: kept until the subject is erased or the record expires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Personal {
    /// Random, so the digest left after erasure reveals nothing.
    pub salt: String,
    /// Peer address of the request that carried the frames.
    pub ip: Option<String>,
    /// `X-Forwarded-For` as received (not trusted, reported).
    pub forwarded_for: Option<String>,
    pub user_agent: Option<String>,
    pub accept_language: Option<String>,
    /// SHA-256 (hex) of each uploaded frame: evidence of what was judged without the pictures.
    pub frames_sha256: Vec<String>,
}

/// Marks an entry whose personal part was erased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redacted {
    pub at_ms: i64,
    /// The redaction entry that lists this one (`stream#seq`).
    pub by: String,
}

/// One chained entry, as stored and as exported (one JSON line).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub stream: String,
    pub seq: u64,
    pub kind: Kind,
    pub at_ms: i64,
    pub prev: String,
    pub body: Value,
    pub personal_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<Redacted>,
    pub hash: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Digest of the personal part (its canonical JSON).
pub fn personal_digest(personal: &Value) -> String {
    sha256_hex(crate::canonical::to_string(personal, false).as_bytes())
}

impl Entry {
    /// The hash this entry must carry: SHA-256 of the canonical JSON of the covered fields
    /// (written directly, keys in sorted order, without copying the body).
    pub fn compute_hash(&self) -> String {
        let c = |v: &Value| crate::canonical::to_string(v, false);
        let kind = match self.kind {
            Kind::Decision => "decision",
            Kind::Redaction => "redaction",
            Kind::Retention => "retention",
            Kind::Operator => "operator",
        };
        let personal = match &self.personal_sha256 {
            Some(d) => c(&Value::String(d.clone())),
            None => "null".to_owned(),
        };
        let text = format!(
            "{{\"at_ms\":{},\"body\":{},\"kind\":\"{kind}\",\"personal_sha256\":{personal},\"prev\":{},\"seq\":{},\"stream\":{}}}",
            self.at_ms,
            c(&self.body),
            c(&Value::String(self.prev.clone())),
            self.seq,
            c(&Value::String(self.stream.clone())),
        );
        sha256_hex(text.as_bytes())
    }

    /// Builds and seals an entry.
    pub fn seal(
        stream: &str,
        seq: u64,
        kind: Kind,
        at_ms: i64,
        prev: &str,
        body: Value,
        personal: Option<Value>,
    ) -> Self {
        let mut e = Entry {
            stream: stream.to_owned(),
            seq,
            kind,
            at_ms,
            prev: prev.to_owned(),
            body,
            personal_sha256: personal.as_ref().map(personal_digest),
            personal,
            redacted: None,
            hash: String::new(),
        };
        e.hash = e.compute_hash();
        e
    }

    /// `stream#seq`, how reports name an entry.
    pub fn name(&self) -> String {
        format!("{}#{}", self.stream, self.seq)
    }

    /// The pseudonymous subject of a decision, if any.
    pub fn subject(&self) -> Option<&str> {
        self.body.get("subject").and_then(Value::as_str)
    }

    /// The tenant of a decision or redaction (`default` for entries from before tenants).
    pub fn tenant(&self) -> &str {
        self.body
            .get("tenant")
            .and_then(Value::as_str)
            .unwrap_or(crate::tenant::TenantId::DEFAULT)
    }

    /// The client of a decision, if any.
    pub fn client(&self) -> Option<&str> {
        self.body.get("client").and_then(Value::as_str)
    }
}

/// The claims of a signed checkpoint: the chain head of `stream` at `seq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub iss: String,
    pub stream: String,
    pub seq: u64,
    pub hash: String,
    pub at_ms: i64,
    pub iat: i64,
}

/// JWS `typ` of checkpoints and export manifests.
pub const CHECKPOINT_TYP: &str = "inherence-audit-checkpoint+jwt";
pub const MANIFEST_TYP: &str = "inherence-audit-manifest+jwt";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_documented_canonical_json() {
        let e = Entry::seal(
            "main",
            7,
            Kind::Decision,
            1_700_000_000_000,
            GENESIS,
            json!({"z": 1.5, "a": "é", "m": [100.0]}),
            Some(json!({"salt": "s"})),
        );
        let covered = json!({
            "stream": e.stream, "seq": e.seq, "kind": e.kind, "at_ms": e.at_ms,
            "prev": e.prev, "body": e.body, "personal_sha256": e.personal_sha256,
        });
        assert_eq!(
            e.hash,
            sha256_hex(crate::canonical::to_string(&covered, false).as_bytes())
        );
    }

    #[test]
    fn the_hash_covers_the_body_and_not_the_erasable_part() {
        let e = Entry::seal(
            "main",
            1,
            Kind::Decision,
            1_700_000_000_000,
            GENESIS,
            json!({"outcome": "Approved", "liveness_score": 79.31}),
            Some(json!({"salt": "s", "ip": "192.0.2.1"})),
        );
        assert_eq!(e.hash, e.compute_hash());
        let mut erased = e.clone();
        erased.personal = None;
        assert_eq!(erased.compute_hash(), e.hash, "erasure keeps the hash");
        let mut edited = e.clone();
        edited.body["liveness_score"] = json!(79.32);
        assert_ne!(edited.compute_hash(), e.hash);
        let mut moved = e.clone();
        moved.seq = 2;
        assert_ne!(moved.compute_hash(), e.hash);
        // Recomputable from the exported JSON line (floats survive the round trip).
        let line = serde_json::to_string(&e).unwrap();
        let back: Entry = serde_json::from_str(&line).unwrap();
        assert_eq!(back.compute_hash(), e.hash);
    }

    #[test]
    fn factors_name_each_category_once() {
        assert_eq!(
            factors(true, &["pwd".into(), "otp".into(), "pwd".into()]),
            ["knowledge", "possession", "inherence"]
        );
        assert_eq!(factors(true, &[]), ["inherence"]);
        assert_eq!(factors(false, &["face".into()]), ["inherence"]);
        assert_eq!(factors(true, &["geo".into(), "mfa".into()]), ["inherence"]);
    }
}
