//! Verdict bands: a feature's status from its score and the workflow's thresholds (pure).

use super::*;

pub(super) const LIVENESS_NODE: &str = "feature_liveness_1";
pub(super) const FACE_MATCH_NODE: &str = "feature_face_match_1";

/// The workflow's liveness band for a capture: status, score and warnings. Any deviation
/// from the capture protocol declines, whatever the thresholds.
pub fn liveness_band(
    burst: &CaptureOutcome,
    rules: &Rules,
) -> (FeatureStatus, Option<f64>, Vec<Warning>) {
    let score = burst.liveness.as_ref().map(|l| round2(l.score));
    let mut status = FeatureStatus::Approved;
    let mut warnings = Vec::new();
    let mut raise = |risk: Risk, outcome: FeatureStatus, warnings: &mut Vec<Warning>| {
        let log = match outcome {
            FeatureStatus::Declined => LogType::Error,
            FeatureStatus::InReview => LogType::Warning,
            FeatureStatus::Approved => LogType::Information,
        };
        warnings.push(Warning::of(&risk.warning(), Some(LIVENESS_NODE), log));
        status = match (status, outcome) {
            (FeatureStatus::Declined, _) | (_, FeatureStatus::Declined) => FeatureStatus::Declined,
            (FeatureStatus::InReview, _) | (_, FeatureStatus::InReview) => FeatureStatus::InReview,
            _ => FeatureStatus::Approved,
        };
    };
    for r in burst.risks.iter().filter(|r| r.is_capture_protocol()) {
        raise(*r, FeatureStatus::Declined, &mut warnings);
    }
    if burst.risks.contains(&Risk::NoFaceDetected) || (score.is_none() && burst.protocol_ok()) {
        raise(Risk::NoFaceDetected, FeatureStatus::Declined, &mut warnings);
    }
    if burst.risks.contains(&Risk::LivenessFaceAttack) {
        raise(
            Risk::LivenessFaceAttack,
            FeatureStatus::Declined,
            &mut warnings,
        );
    }
    if let Some(s) = score {
        if s <= rules.liveness_decline {
            raise(
                Risk::LowLivenessScore,
                FeatureStatus::Declined,
                &mut warnings,
            );
        } else if s <= rules.liveness_review {
            raise(
                Risk::LowLivenessScore,
                FeatureStatus::InReview,
                &mut warnings,
            );
        }
    }
    if burst.risks.contains(&Risk::MultipleFacesDetected) {
        let outcome = match rules.multiple_faces_action {
            Action::Decline => FeatureStatus::Declined,
            Action::Review => FeatureStatus::InReview,
            Action::NoAction => FeatureStatus::Approved,
        };
        raise(Risk::MultipleFacesDetected, outcome, &mut warnings);
    }
    for r in [
        Risk::LowFaceQuality,
        Risk::LowFaceLuminance,
        Risk::HighFaceLuminance,
    ] {
        if burst.risks.contains(&r) {
            raise(r, FeatureStatus::Approved, &mut warnings);
        }
    }
    (status, score, warnings)
}

/// The workflow's face-match band: status, score and warnings.
pub fn face_match_band(
    score: Option<f64>,
    has_reference: bool,
    rules: &Rules,
) -> (FeatureStatus, Option<f64>, Vec<Warning>) {
    let w = |risk: Risk, log| vec![Warning::of(&risk.warning(), Some(FACE_MATCH_NODE), log)];
    if !has_reference {
        return (
            FeatureStatus::Declined,
            None,
            w(Risk::NoReferenceImage, LogType::Error),
        );
    }
    match score.map(round2) {
        None => {
            let (status, log) = match rules.face_match_not_computed_action {
                Action::Review => (FeatureStatus::InReview, LogType::Warning),
                _ => (FeatureStatus::Declined, LogType::Error),
            };
            let warn = Warning {
                risk: "FACE_MATCH_NOT_COMPUTED".into(),
                feature: "FACEMATCH".into(),
                additional_data: None,
                log_type: log,
                short_description: "Face match not computed".into(),
                long_description: "No face usable for comparison was found in the capture.".into(),
                node_id: Some(FACE_MATCH_NODE.into()),
            };
            (status, None, vec![warn])
        }
        Some(s) if s <= rules.face_match_decline => (
            FeatureStatus::Declined,
            Some(s),
            w(Risk::LowFaceMatchSimilarity, LogType::Error),
        ),
        Some(s) if s <= rules.face_match_review => (
            FeatureStatus::InReview,
            Some(s),
            w(Risk::LowFaceMatchSimilarity, LogType::Warning),
        ),
        Some(s) => (FeatureStatus::Approved, Some(s), vec![]),
    }
}

/// Combines feature verdicts: any Declined declines, else any In Review reviews.
pub fn combine(statuses: &[FeatureStatus]) -> FeatureStatus {
    if statuses.contains(&FeatureStatus::Declined) {
        FeatureStatus::Declined
    } else if statuses.contains(&FeatureStatus::InReview) {
        FeatureStatus::InReview
    } else {
        FeatureStatus::Approved
    }
}
