//! The Didit-compatible v3 surface: API keys (stored hashed, revocable), per-key rate limits,
//! and the standalone face-match and passive-liveness checks with the documented verdict rules
//! (`docs/integrations/didit-compat.md`).

use crate::store::concerns::Counters;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::wire::{
    Entity, FaceMatchBlock, FaceMatchResult, ImageBlock, LivenessResult, PassiveLivenessBlock,
    PassiveMethod, Problems, Warning,
};
use super::{Provider, digest, random_token};
use crate::biometric::score::{LogType, Risk, Status, round2};
use crate::biometric::{Analysis, BiometricError, Want};
pub use crate::ids::{iso8601, uuid_v4};
use crate::store::typed::KvJson;
use crate::store::{Kv, Namespace, StoreError};
use crate::tenant::TenantId;

/// API keys, by digest.
pub const API_KEYS: Namespace = Namespace::new("api_keys").fsynced();
/// Rate-limit windows (per key, per client), one minute each.
pub(crate) const RATE: Namespace = Namespace::new("rate").expiring();

/// The standalone checks' default decline threshold (contract: 30).
pub const DEFAULT_THRESHOLD: f64 = 30.0;
/// Largest image accepted by the standalone checks (contract: 5 MB).
pub const MAX_IMAGE_BYTES: usize = 5 * 1024 * 1024;

/// The v3 layer's errors; `http::v3` maps each to the documented status and body.
#[derive(Debug, thiserror::Error)]
pub enum DiditError {
    /// 403 `{"detail": "You do not have permission to perform this action."}`.
    #[error("forbidden")]
    Forbidden,
    /// 400 with a DRF-style body, e.g. `{"user_image": ["..."]}`.
    #[error("invalid request: {0:?}")]
    Invalid(Problems),
    /// 415 `{"detail": "Unsupported media type ..."}`.
    #[error("unsupported media type {0}")]
    UnsupportedMediaType(String),
    /// 404 `{"detail": "Not found."}`.
    #[error("not found")]
    NotFound,
    /// 429 with the rate-limit headers.
    #[error("rate limit exceeded")]
    RateLimited(RateInfo),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl DiditError {
    /// `{"field": ["message"]}`.
    pub fn field(name: &str, message: impl Into<String>) -> Self {
        Self::Invalid(Problems::field(name, message))
    }

    /// `{"detail": "message"}`.
    pub fn detail(message: impl Into<String>) -> Self {
        Self::Invalid(Problems::detail(message))
    }

    /// What a person may be shown (the console): the request's problems, or the kind of
    /// failure; never a storage failure's cause.
    pub fn public_text(&self) -> String {
        fn texts(p: &Problems, out: &mut Vec<String>) {
            for v in p.0.values() {
                match v {
                    super::wire::Problem::Messages(m) => out.extend(m.iter().cloned()),
                    super::wire::Problem::Message(m) => out.push(m.clone()),
                    super::wire::Problem::Nested(n) => texts(n, out),
                }
            }
        }
        match self {
            Self::Invalid(p) => {
                let mut out = Vec::new();
                texts(p, &mut out);
                out.join(" ")
            }
            Self::Unavailable(_) => "the store is unavailable; try again shortly".into(),
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for DiditError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        Self::Unavailable("storage unavailable".into())
    }
}

/// An API key as stored: only the SHA-256 of the key itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub name: String,
    /// The tenant whose sessions, workflows, templates and destinations the key reaches
    /// (keys made before tenants belong to `default`).
    #[serde(default)]
    pub tenant: TenantId,
    pub created_at: i64,
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

/// A date filter's bounds (`date_from` / `date_to`, `retained_from` / `retained_to`): each a
/// calendar day (UTC) or an ISO 8601 / RFC 3339 instant with `Z` or an offset; the upper
/// bound includes its day or instant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateRange {
    /// Milliseconds since the epoch, inclusive.
    from_ms: Option<i64>,
    /// Milliseconds since the epoch, exclusive.
    until_ms: Option<i64>,
}

/// DRF's message for a date it cannot read.
const BAD_DATE: &str = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD, YYYY-MM-DDThh:mm:ss[.uuuuuu]Z, YYYY-MM-DDThh:mm:ss[.uuuuuu]+HH:MM.";

impl DateRange {
    /// Reads the two bounds (`names`: the query parameters, for the error body).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        names: [&str; 2],
    ) -> Result<Self, DiditError> {
        use crate::clock::{DateOrInstant, parse_date_or_instant};
        let read = |v: Option<&str>, name: &str| {
            v.map(|d| parse_date_or_instant(d).ok_or_else(|| DiditError::field(name, BAD_DATE)))
                .transpose()
        };
        let from_ms = read(from, names[0])?.map(|b| match b {
            DateOrInstant::Day(s) => s * 1000,
            DateOrInstant::Instant(ms) => ms,
        });
        let until_ms = read(to, names[1])?.map(|b| match b {
            DateOrInstant::Day(s) => (s + 86_400) * 1000,
            DateOrInstant::Instant(ms) => ms + 1,
        });
        Ok(Self { from_ms, until_ms })
    }

    /// Whether `secs` (seconds since the epoch) lies within the range.
    pub fn contains_secs(&self, secs: i64) -> bool {
        let ms = secs.saturating_mul(1000);
        self.from_ms.is_none_or(|f| ms >= f) && self.until_ms.is_none_or(|u| ms < u)
    }
}

/// Request classes with their own per-minute budget (contract: writes 300, reads 600,
/// session creation 600).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateClass {
    Read,
    Write,
    SessionCreate,
}

impl RateClass {
    /// The budget per minute (`[api]`; the contract's 600 / 300 / 600 by default).
    pub fn per_minute(self, cfg: &crate::flow::settings::ApiSettings) -> i64 {
        match self {
            RateClass::Read => cfg.read_per_minute,
            RateClass::Write => cfg.write_per_minute,
            RateClass::SessionCreate => cfg.session_create_per_minute,
        }
    }
    fn name(self) -> &'static str {
        match self {
            RateClass::Read => "r",
            RateClass::Write => "w",
            RateClass::SessionCreate => "s",
        }
    }
}

/// Budget left in the current window (for the `X-RateLimit-*` headers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateInfo {
    pub limit: i64,
    pub remaining: i64,
    /// Unix time when the window resets.
    pub reset: i64,
    /// Seconds until then.
    pub retry_after: i64,
    pub class: RateClass,
}

/// What the standalone checks are asked.
#[derive(Clone, Debug)]
pub struct StandaloneOptions {
    pub threshold: f64,
    pub save_api_request: bool,
    pub vendor_data: Option<String>,
    pub metadata: Option<Value>,
}

fn standalone_warning(w: &crate::biometric::score::Warning) -> Warning {
    Warning::of(w, None, w.log_type)
}

/// The faces of an analysed image. Age and gender are not estimated (null); images are
/// evaluated as sent (best_angle 0).
fn image_block(a: &Analysis) -> ImageBlock {
    let mut faces: Vec<&crate::biometric::detect::Face> = Vec::new();
    if let Some(f) = &a.face {
        faces.push(&f.face);
    }
    faces.extend(a.other_faces.iter());
    let entities = faces
        .iter()
        .map(|f| {
            let b = |v: f32| f64::from(v.round());
            Entity {
                bbox: [
                    b(f.bbox[0]),
                    b(f.bbox[1]),
                    b(f.bbox[0] + f.bbox[2]),
                    b(f.bbox[1] + f.bbox[3]),
                ],
                confidence: round2(f64::from(f.score)),
                age: None,
                gender: None,
                race: None,
            }
        })
        .collect();
    ImageBlock {
        entities,
        best_angle: 0,
    }
}

fn image_error(field: &str, e: BiometricError) -> DiditError {
    if e.is_client_error() {
        // The stable code first, so a client can act on it: `IMAGE_SHAPE_UNSUPPORTED: ...`.
        DiditError::field(field, format!("{}: {e}", e.code()))
    } else {
        tracing::error!(error = %e, "standalone check failed");
        DiditError::Unavailable("the biometric engine failed".into())
    }
}

/// Creates an API key; returns its record and the key, which is shown once and never stored.
pub fn create_api_key(
    store: &dyn Kv,
    now: i64,
    name: &str,
    tenant: &TenantId,
) -> Result<(ApiKeyRecord, String), DiditError> {
    let key = random_token(32);
    let rec = ApiKeyRecord {
        id: uuid_v4(),
        name: name.to_owned(),
        tenant: tenant.clone(),
        created_at: now,
        revoked_at: None,
    };
    store.put_json(&API_KEYS, &digest(&key), &rec, None)?;
    Ok((rec, key))
}

/// All API keys (without the keys themselves).
pub fn list_api_keys(store: &dyn Kv) -> Result<Vec<ApiKeyRecord>, DiditError> {
    let mut out = Vec::new();
    for k in store.keys(&API_KEYS)? {
        if let Some(r) = store.get_json::<ApiKeyRecord>(&API_KEYS, &k)? {
            out.push(r);
        }
    }
    out.sort_by_key(|r| r.created_at);
    Ok(out)
}

/// Revokes the key with this id; `false` if there is none (or it was already revoked).
pub fn revoke_api_key(store: &dyn Kv, now: i64, id: &str) -> Result<bool, DiditError> {
    for k in store.keys(&API_KEYS)? {
        if let Some(mut r) = store.get_json::<ApiKeyRecord>(&API_KEYS, &k)?
            && r.id == id
            && r.revoked_at.is_none()
        {
            r.revoked_at = Some(now);
            store.put_json(&API_KEYS, &k, &r, None)?;
            return Ok(true);
        }
    }
    Ok(false)
}

impl Provider {
    /// Authenticates `x-api-key` and charges one request of `class` to its budget.
    /// The key is looked up by its SHA-256, so no comparison touches the key itself.
    pub fn authenticate_api_key(
        &self,
        presented: Option<&str>,
        class: RateClass,
    ) -> Result<(ApiKeyRecord, RateInfo), DiditError> {
        let presented = presented
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or(DiditError::Forbidden)?;
        let rec: ApiKeyRecord = self
            .store
            .get_json(&API_KEYS, &digest(presented))?
            .filter(|r: &ApiKeyRecord| r.revoked_at.is_none())
            .ok_or(DiditError::Forbidden)?;
        let now = self.now();
        let window = now.div_euclid(60);
        let reset = (window + 1) * 60;
        let used = self.store.add(
            &RATE,
            &format!("{}:{}:{window}", rec.id, class.name()),
            1,
            Some((reset + 60) * 1000),
        )?;
        let limit = class.per_minute(&self.cfg.api);
        let info = RateInfo {
            limit,
            remaining: (limit - used).max(0),
            reset,
            retry_after: (reset - now).max(1),
            class,
        };
        if used > limit {
            return Err(DiditError::RateLimited(info));
        }
        Ok((rec, info))
    }

    /// `POST /v3/face-match/`: 1:1 comparison of `user_image` (the live selfie) with
    /// `ref_image`. Approved iff the score is strictly above the threshold.
    pub fn standalone_face_match(
        &self,
        user_image: &[u8],
        ref_image: &[u8],
        opt: &StandaloneOptions,
    ) -> Result<FaceMatchResult, DiditError> {
        let want = Want {
            embedding: true,
            liveness: false,
        };
        let user = self
            .engine
            .analyze(user_image, want)
            .map_err(|e| image_error("user_image", e))?;
        let reference = self
            .engine
            .analyze(ref_image, want)
            .map_err(|e| image_error("ref_image", e))?;
        let scored = match (
            self.engine.template_from(&reference),
            user.face.as_ref().and_then(|f| f.embedding.as_deref()),
        ) {
            (Some(t), Some(e)) => Some(
                self.engine
                    .compare(&t, e)
                    .map_err(|e| image_error("ref_image", e))?,
            ),
            _ => None,
        };
        let (status, score, warnings) = match &scored {
            Some(m) => {
                let score = round2(m.score);
                if score > opt.threshold {
                    (Status::Approved, Some(score), vec![])
                } else {
                    (
                        Status::Declined,
                        Some(score),
                        vec![standalone_warning(&Risk::LowFaceMatchSimilarity.warning())],
                    )
                }
            }
            None => (
                Status::Declined,
                (!opt.save_api_request).then_some(0.0),
                vec![standalone_warning(&Risk::NoReferenceImage.warning())],
            ),
        };
        let request_id = uuid_v4();
        tracing::info!(request = %request_id, ?status, score = ?scored.as_ref().map(|m| m.score), "standalone face match");
        Ok(FaceMatchResult {
            request_id,
            face_match: FaceMatchBlock {
                status,
                score,
                user_image: image_block(&user),
                ref_image: image_block(&reference),
                warnings,
            },
            vendor_data: opt.vendor_data.clone(),
            metadata: opt.metadata.clone(),
            created_at: iso8601(self.now()),
        })
    }

    /// `POST /v3/passive-liveness/`: Declined iff an error-severity warning fired
    /// (no face, score at or below the threshold, presentation attack).
    pub fn standalone_passive_liveness(
        &self,
        user_image: &[u8],
        opt: &StandaloneOptions,
    ) -> Result<LivenessResult, DiditError> {
        let a = self
            .engine
            .analyze(
                user_image,
                Want {
                    embedding: false,
                    liveness: true,
                },
            )
            .map_err(|e| image_error("user_image", e))?;
        let liveness = a.face.as_ref().and_then(|f| f.liveness.as_ref());
        let score = liveness.map(|l| round2(l.verdict.score));
        let mut risks = Vec::new();
        if a.face.is_none() {
            risks.push(Risk::NoFaceDetected);
        }
        if let Some(s) = score {
            if s <= opt.threshold {
                risks.push(Risk::LowLivenessScore);
            }
            if liveness.is_some_and(|l| l.verdict.risks.contains(&Risk::LivenessFaceAttack)) {
                risks.push(Risk::LivenessFaceAttack);
            }
        }
        if a.has_risk(Risk::MultipleFacesDetected) {
            risks.push(Risk::MultipleFacesDetected);
        }
        let warnings: Vec<_> = risks.iter().map(|r| r.warning()).collect();
        let declined = warnings.iter().any(|w| w.log_type == LogType::Error);
        let status = if declined {
            Status::Declined
        } else {
            Status::Approved
        };
        let q = a.face.as_ref().map(|f| &f.quality);
        let request_id = uuid_v4();
        tracing::info!(request = %request_id, ?status, score = ?score, "standalone passive liveness");
        Ok(LivenessResult {
            request_id,
            liveness: PassiveLivenessBlock {
                status,
                method: PassiveMethod::Passive,
                score,
                user_image: image_block(&a),
                warnings: warnings.iter().map(standalone_warning).collect(),
                face_quality: q.map(|q| round2(f64::from(q.face_quality))),
                face_luminance: q.map(|q| round2(f64::from(q.face_luminance))),
            },
            vendor_data: opt.vendor_data.clone(),
            metadata: opt.metadata.clone(),
            created_at: iso8601(self.now()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_filters_take_days_and_instants_with_offsets() {
        let r = DateRange::parse(Some("2026-12-01"), Some("2026-12-01"), ["a", "b"]).unwrap();
        let day = 1_796_083_200; // 2026-12-01T00:00:00Z
        assert!(r.contains_secs(day) && r.contains_secs(day + 86_399));
        assert!(!r.contains_secs(day - 1) && !r.contains_secs(day + 86_400));
        let r = DateRange::parse(
            Some("2026-12-01T00:00:00+00:00"),
            Some("2026-12-01T01:00:00+01:00"),
            ["a", "b"],
        )
        .unwrap();
        assert!(
            r.contains_secs(day),
            "both bounds are the same instant, inclusive"
        );
        assert!(!r.contains_secs(day + 1));
        for bad in [
            "2026-12-1",
            "01/12/2026",
            "2026-12-01T00:00:00",
            "yesterday",
        ] {
            let e = DateRange::parse(Some(bad), None, ["date_from", "date_to"]).unwrap_err();
            assert!(
                matches!(e, DiditError::Invalid(v) if v.messages("date_from")[0].starts_with("Date has wrong format")),
                "{bad}"
            );
        }
    }
}
