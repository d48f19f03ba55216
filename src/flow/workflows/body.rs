//! A workflow request checked into a workflow: supported features only, thresholds and
//! attempts within their bounds, defaults filled in (shown back in the responses).

use super::wire::{FeatureConfig, FeatureSpec, WorkflowBody};
use super::{Action, Rules, Workflow};
use crate::biometric::capture::LivenessMethod;
use crate::flow::didit::DiditError;

const FEATURES_SUPPORTED: &[&str] = &["LIVENESS", "FACE_MATCH"];
const FEATURES_KNOWN: &[&str] = &[
    "OCR",
    "NFC",
    "LIVENESS",
    "FACE_MATCH",
    "PROOF_OF_ADDRESS",
    "QUESTIONNAIRE",
    "DOCUMENT_AI",
    "PHONE_VERIFICATION",
    "EMAIL_VERIFICATION",
    "DATABASE_VALIDATION",
    "AML",
    "IP_ANALYSIS",
    "AGE_ESTIMATION",
];

fn invalid(field: &str, msg: impl Into<String>) -> DiditError {
    DiditError::field(field, msg)
}

/// An integer field within `lo..=hi`.
fn in_range(field: &str, v: Option<i64>, lo: i64, hi: i64) -> Result<Option<i64>, DiditError> {
    match v {
        Some(n) if n < lo => Err(invalid(
            field,
            format!("Ensure this value is greater than or equal to {lo}."),
        )),
        Some(n) if n > hi => Err(invalid(
            field,
            format!("Ensure this value is less than or equal to {hi}."),
        )),
        v => Ok(v),
    }
}

/// A threshold within 0..=100.
fn score(field: &str, v: Option<f64>) -> Result<Option<f64>, DiditError> {
    match v {
        Some(n) if !n.is_finite() || !(0.0..=100.0).contains(&n) => {
            Err(invalid(field, "Ensure this value is between 0 and 100."))
        }
        v => Ok(v),
    }
}

/// Validates a create (or, with `base`, a partial update) body into a workflow;
/// `default_method` is the liveness method when the body names none.
pub fn from_body(
    body: &WorkflowBody,
    base: Option<&Workflow>,
    uuid: String,
    now: i64,
    default_method: LivenessMethod,
) -> Result<Workflow, DiditError> {
    if body.workflow_type.is_some() {
        return Err(invalid(
            "workflow_type",
            "This field is not accepted; the workflow type follows from its features.",
        ));
    }
    let label = match &body.workflow_label {
        Some(s) if s.chars().count() > 50 => {
            return Err(invalid(
                "workflow_label",
                "Ensure this field has no more than 50 characters.",
            ));
        }
        Some(s) => s.clone(),
        None => base
            .map(|b| b.workflow_label.clone())
            .unwrap_or_else(|| "Biometric authentication".into()),
    };
    let status = body.status.or(base.map(|b| b.status)).unwrap_or_default();
    let features_in: Vec<FeatureSpec> = match (&body.features, base) {
        (Some(f), _) => f.clone(),
        (None, Some(b)) => b.features.clone(),
        (None, None) => return Err(invalid("features", "This field is required.")),
    };
    if features_in.is_empty() {
        return Err(invalid("features", "This list may not be empty."));
    }
    let get_max = |field: &str, sent: Option<i64>, current: Option<u32>| {
        Ok::<u32, DiditError>(
            in_range(field, sent, 1, 3)?
                .map(|n| n as u32)
                .or(current)
                .unwrap_or(3),
        )
    };
    let mut rules = Rules {
        liveness_method: default_method,
        liveness: false,
        face_match: false,
        liveness_decline: 50.0,
        liveness_review: 50.0,
        face_match_decline: 50.0,
        face_match_review: 70.0,
        multiple_faces_action: Action::Decline,
        face_match_not_computed_action: Action::Decline,
        face_liveness_max_attempts: get_max(
            "face_liveness_max_attempts",
            body.face_liveness_max_attempts,
            base.map(|b| b.rules.face_liveness_max_attempts),
        )?,
        face_match_max_attempts: get_max(
            "face_match_max_attempts",
            body.face_match_max_attempts,
            base.map(|b| b.rules.face_match_max_attempts),
        )?,
    };
    let mut features = Vec::new();
    for f in features_in {
        let name = f.feature.as_str();
        if !FEATURES_SUPPORTED.contains(&name) {
            let why = if FEATURES_KNOWN.contains(&name) || name.starts_with("KYB") {
                format!(
                    "Feature {name} is not supported by this server; it runs biometric authentication (LIVENESS, FACE_MATCH)."
                )
            } else {
                format!("\"{name}\" is not a valid choice.")
            };
            return Err(invalid("features", why));
        }
        let c = f.config.clone().unwrap_or_default();
        let config = if name == "LIVENESS" {
            if rules.liveness {
                return Err(invalid("features", "LIVENESS is listed twice."));
            }
            rules.liveness = true;
            rules.liveness_method = match &c.face_liveness_method {
                None => default_method,
                Some(m) => LivenessMethod::parse(m).ok_or_else(|| {
                    invalid(
                        "face_liveness_method",
                        format!("\"{m}\" is not a valid choice."),
                    )
                })?,
            };
            rules.liveness_decline = score(
                "face_liveness_score_decline_threshold",
                c.face_liveness_score_decline_threshold,
            )?
            .unwrap_or(50.0);
            rules.liveness_review = score(
                "face_liveness_score_review_threshold",
                c.face_liveness_score_review_threshold,
            )?
            .unwrap_or(rules.liveness_decline);
            if rules.liveness_review < rules.liveness_decline {
                return Err(invalid(
                    "face_liveness_score_review_threshold",
                    "The review threshold must be at or above the decline threshold.",
                ));
            }
            rules.multiple_faces_action = c
                .face_liveness_multiple_faces_action
                .unwrap_or(Action::Decline);
            if let Some(n) = in_range(
                "face_liveness_max_attempts",
                c.face_liveness_max_attempts,
                1,
                3,
            )? {
                rules.face_liveness_max_attempts = n as u32;
            }
            FeatureConfig {
                face_liveness_method: Some(rules.liveness_method.as_str().to_owned()),
                face_liveness_score_decline_threshold: Some(rules.liveness_decline),
                face_liveness_score_review_threshold: Some(rules.liveness_review),
                face_liveness_multiple_faces_action: Some(rules.multiple_faces_action),
                face_liveness_max_attempts: c.face_liveness_max_attempts,
                ..FeatureConfig::default()
            }
        } else {
            if rules.face_match {
                return Err(invalid("features", "FACE_MATCH is listed twice."));
            }
            rules.face_match = true;
            rules.face_match_decline = score(
                "face_match_score_decline_threshold",
                c.face_match_score_decline_threshold,
            )?
            .unwrap_or(50.0);
            rules.face_match_review = score(
                "face_match_score_review_threshold",
                c.face_match_score_review_threshold,
            )?
            .unwrap_or(rules.face_match_decline.max(70.0));
            if rules.face_match_review < rules.face_match_decline {
                return Err(invalid(
                    "face_match_score_review_threshold",
                    "The review threshold must be at or above the decline threshold.",
                ));
            }
            rules.face_match_not_computed_action =
                c.face_match_not_computed_action.unwrap_or(Action::Decline);
            if rules.face_match_not_computed_action == Action::NoAction {
                return Err(invalid(
                    "face_match_not_computed_action",
                    "\"NO_ACTION\" is not a valid choice.",
                ));
            }
            if let Some(n) = in_range("face_match_max_attempts", c.face_match_max_attempts, 1, 3)? {
                rules.face_match_max_attempts = n as u32;
            }
            FeatureConfig {
                face_match_score_decline_threshold: Some(rules.face_match_decline),
                face_match_score_review_threshold: Some(rules.face_match_review),
                face_match_not_computed_action: Some(rules.face_match_not_computed_action),
                face_match_max_attempts: c.face_match_max_attempts,
                ..FeatureConfig::default()
            }
        };
        features.push(FeatureSpec {
            feature: f.feature,
            config: Some(config),
            label: f.label,
        });
    }
    let expiration = in_range(
        "session_expiration_time",
        body.session_expiration_time,
        3600,
        2_419_200,
    )?
    .map(|n| n as u64)
    .or(base.map(|b| b.session_expiration_time))
    .unwrap_or(604_800);
    let retry_window = match body.retry_window_days {
        Some(None) => None,
        Some(d) => in_range("retry_window_days", d, 1, 365)?.map(|n| n as u32),
        None => base.map_or(Some(7), |b| b.retry_window_days),
    };
    let version = base.map_or(1, |b| b.version + 1);
    Ok(Workflow {
        uuid,
        workflow_label: label,
        is_default: body
            .is_default
            .or(base.map(|b| b.is_default))
            .unwrap_or(false),
        status,
        version,
        features,
        is_white_label_enabled: body
            .is_white_label_enabled
            .or(base.map(|b| b.is_white_label_enabled))
            .unwrap_or(false),
        is_desktop_allowed: body
            .is_desktop_allowed
            .or(base.map(|b| b.is_desktop_allowed))
            .unwrap_or(true),
        max_retry_attempts: in_range("max_retry_attempts", body.max_retry_attempts, 0, 10)?
            .map(|n| n as u32)
            .or(base.map(|b| b.max_retry_attempts))
            .unwrap_or(3),
        retry_window_days: retry_window,
        session_expiration_time: expiration,
        rules,
        created_at: base.map_or(now, |b| b.created_at),
        updated_at: now,
        tenant: base.map(|b| b.tenant.clone()).unwrap_or_default(),
    })
}
