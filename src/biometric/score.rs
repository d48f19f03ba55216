//! From raw model figures to 0-100 scores, verdicts and warnings with the reference API's codes.
//!
//! Face match: euclidean distance is mapped to a similarity score by a piecewise-linear curve
//! through anchor points calibrated on the dev set (`inherence eval` prints them): 100 at distance
//! 0, 70 at the distance giving FMR 0.01 %, 50 at FMR 0.1 %, 30 at FMR 1 %, 0 at distance 1.
//! Liveness: P(real) is mapped the same way through its own anchors. Approval is always
//! "strictly above the decline threshold", as in the reference API.

use serde::{Deserialize, Serialize};

/// A monotone piecewise-linear map from a raw figure to a 0-100 score.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(transparent)]
pub struct Calibration(pub Vec<[f64; 2]>);

impl Calibration {
    /// Checks that raw values strictly increase and scores are monotone and within 0..=100.
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.0;
        if p.len() < 2 {
            return Err("a calibration needs at least two [raw, score] points".into());
        }
        if p.windows(2).any(|w| w[1][0] <= w[0][0]) {
            return Err("calibration raw values must strictly increase".into());
        }
        let inc = p.windows(2).all(|w| w[1][1] >= w[0][1]);
        let dec = p.windows(2).all(|w| w[1][1] <= w[0][1]);
        if !inc && !dec {
            return Err("calibration scores must be monotone".into());
        }
        if p.iter()
            .any(|q| !(0.0..=100.0).contains(&q[1]) || !q[0].is_finite())
        {
            return Err("calibration scores must lie in 0..100".into());
        }
        Ok(())
    }

    /// Score for a raw value (clamped to the end points).
    pub fn score(&self, raw: f64) -> f64 {
        let p = &self.0;
        if raw.is_nan() {
            return 0.0;
        }
        if raw <= p[0][0] {
            return p[0][1];
        }
        for w in p.windows(2) {
            if raw <= w[1][0] {
                let t = (raw - w[0][0]) / (w[1][0] - w[0][0]);
                return w[0][1] + t * (w[1][1] - w[0][1]);
            }
        }
        p[p.len() - 1][1]
    }

    /// The raw value at which the score equals `score` (the boundary of the accepting side).
    pub fn raw_at(&self, score: f64) -> Option<f64> {
        for w in self.0.windows(2) {
            let (lo, hi) = (w[0][1].min(w[1][1]), w[0][1].max(w[1][1]));
            if (lo..=hi).contains(&score) && w[0][1] != w[1][1] {
                let t = (score - w[0][1]) / (w[1][1] - w[0][1]);
                return Some(w[0][0] + t * (w[1][0] - w[0][0]));
            }
        }
        None
    }
}

/// Rounds to two decimals, as scores are reported.
pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// Face-match scoring.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaceMatchSettings {
    /// `[distance, score]` anchors.
    pub calibration: Calibration,
    /// Approved iff score > this.
    pub decline_threshold: f64,
}

impl Default for FaceMatchSettings {
    fn default() -> Self {
        // Calibrated on shared/eval/dev with the default pipeline (see docs/biometrics.md,
        // "Calibration"): 70 / 50 / 30 sit at the distances giving FMR 0.01 % / 0.1 % / 1 %,
        // rounded down so the observed FMR never exceeds its target.
        Self {
            calibration: Calibration(vec![
                [0.0, 100.0],
                [0.4851, 70.0],
                [0.5294, 50.0],
                [0.5915, 30.0],
                [1.0, 0.0],
            ]),
            decline_threshold: 50.0,
        }
    }
}

/// Liveness scoring.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LivenessSettings {
    /// `[P(real), score]` anchors.
    pub calibration: Calibration,
    /// Approved iff score > this (`LOW_LIVENESS_SCORE` otherwise).
    pub decline_threshold: f64,
    /// At or below this score the face is reported as an attack (`LIVENESS_FACE_ATTACK`).
    pub attack_threshold: f64,
}

impl Default for LivenessSettings {
    fn default() -> Self {
        Self {
            calibration: Calibration(vec![[0.0, 0.0], [0.5, 50.0], [1.0, 100.0]]),
            decline_threshold: 50.0,
            attack_threshold: 10.0,
        }
    }
}

/// Outcome of a check.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub enum Status {
    Approved,
    Declined,
}

/// Risk codes, spelled as in the reference API.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Risk {
    NoFaceDetected,
    MultipleFacesDetected,
    LowFaceQuality,
    LowFaceLuminance,
    HighFaceLuminance,
    LowLivenessScore,
    LivenessFaceAttack,
    LowFaceMatchSimilarity,
    NoReferenceImage,
    // The capture protocol (a burst judged against its challenge): each deviation declines.
    TooFewFrames,
    TooManyFrames,
    FrameSizeMismatch,
    UndecodableFrame,
    FrameWithoutFace,
    FrameTimingMismatch,
    UploadTooEarly,
    UploadTooLate,
    IdenticalFrames,
    IdentityChanged,
    FlashResponseMissing,
    FlashResponseLate,
    FlashSequenceMismatch,
    FlashNotOnFace,
    ActionNotPerformed,
    WrongAction,
    ActionTooEarly,
    PoseNotCentred,
    PoseDiscontinuity,
    PlanarFaceMotion,
    LivenessMethodTooWeak,
}

/// Severity, as the reference API's `log_type`.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogType {
    Information,
    Warning,
    Error,
}

/// A warning in the reference API's shape.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Warning {
    pub feature: String,
    pub risk: Risk,
    pub log_type: LogType,
    pub short_description: String,
    pub long_description: String,
    pub additional_data: Option<serde_json::Value>,
}

impl Risk {
    /// Feature, severity and texts of a risk on a standalone check.
    pub fn warning(self) -> Warning {
        use LogType::{Error, Information};
        let (feature, log_type, short, long) = match self {
            Risk::NoFaceDetected => (
                "LIVENESS",
                Error,
                "No face detected",
                "No face was found in the image. Make sure the face is visible, well lit and facing the camera.",
            ),
            Risk::MultipleFacesDetected => (
                "LIVENESS",
                LogType::Warning,
                "Multiple faces detected",
                "More than one face is in the image; the largest one was evaluated.",
            ),
            Risk::LowFaceQuality => (
                "LIVENESS",
                Information,
                "Low face quality",
                "The face is small, blurred or turned away; results are less reliable.",
            ),
            Risk::LowFaceLuminance => (
                "LIVENESS",
                Information,
                "Face too dark",
                "The face is poorly lit; results are less reliable.",
            ),
            Risk::HighFaceLuminance => (
                "LIVENESS",
                Information,
                "Face too bright",
                "The face is over-exposed; results are less reliable.",
            ),
            Risk::LowLivenessScore => (
                "LIVENESS",
                Error,
                "Low liveness score",
                "The liveness score is at or below the decline threshold.",
            ),
            Risk::LivenessFaceAttack => (
                "LIVENESS",
                Error,
                "Presentation attack suspected",
                "The face looks like a photo, print or screen rather than a live person.",
            ),
            Risk::LowFaceMatchSimilarity => (
                "FACEMATCH",
                Error,
                "Low face match similarity",
                "The faces are not similar enough to be the same person.",
            ),
            Risk::NoReferenceImage => (
                "FACEMATCH",
                Error,
                "No reference face",
                "No face could be found in the reference image, so nothing could be compared.",
            ),
            other => {
                let (short, long) = other.capture_texts();
                ("LIVENESS", Error, short, long)
            }
        };
        Warning {
            feature: feature.into(),
            risk: self,
            log_type,
            short_description: short.into(),
            long_description: long.into(),
            additional_data: None,
        }
    }
}

impl Risk {
    /// The wire code, as in warnings and audit reasons (`LOW_LIVENESS_SCORE`, ...).
    pub fn code(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// Whether the risk is a deviation from the capture protocol (always declines).
    pub fn is_capture_protocol(self) -> bool {
        !matches!(
            self,
            Risk::NoFaceDetected
                | Risk::MultipleFacesDetected
                | Risk::LowFaceQuality
                | Risk::LowFaceLuminance
                | Risk::HighFaceLuminance
                | Risk::LowLivenessScore
                | Risk::LivenessFaceAttack
                | Risk::LowFaceMatchSimilarity
                | Risk::NoReferenceImage
        )
    }

    /// Short and long texts of the capture-protocol risks.
    fn capture_texts(self) -> (&'static str, &'static str) {
        match self {
            Risk::TooFewFrames => (
                "Too few frames",
                "The capture has fewer frames than its challenge requires.",
            ),
            Risk::TooManyFrames => (
                "Too many frames",
                "The capture has more frames than its challenge allows.",
            ),
            Risk::FrameSizeMismatch => (
                "Wrong frame size",
                "A frame does not have the size the challenge fixed.",
            ),
            Risk::UndecodableFrame => ("Unreadable frame", "A frame could not be decoded."),
            Risk::FrameWithoutFace => (
                "Frame without a face",
                "A frame of the capture shows no face.",
            ),
            Risk::FrameTimingMismatch => (
                "Frame timing does not fit the challenge",
                "The frames' timestamps are out of order, too far apart, or do not cover the challenge.",
            ),
            Risk::UploadTooEarly => (
                "Capture arrived too early",
                "The capture arrived before its challenge could have been recorded: it was prepared in advance.",
            ),
            Risk::UploadTooLate => (
                "Capture arrived too late",
                "The capture arrived long after its challenge was recorded.",
            ),
            Risk::IdenticalFrames => (
                "Identical frames",
                "Consecutive frames are identical: a still image replayed as a camera feed.",
            ),
            Risk::IdentityChanged => (
                "Identity changed between frames",
                "Not every frame of the capture shows the same person.",
            ),
            Risk::FlashResponseMissing => (
                "No reflection of the screen colours",
                "The face did not reflect the colour sequence the screen showed.",
            ),
            Risk::FlashResponseLate => (
                "Screen colours reflected late",
                "The face followed the colour sequence too late for a live camera.",
            ),
            Risk::FlashSequenceMismatch => (
                "Wrong colour sequence",
                "The colours on the face do not follow the sequence the screen showed.",
            ),
            Risk::FlashNotOnFace => (
                "Colour change not on the face",
                "The whole picture changed colour evenly instead of the light falling on the face.",
            ),
            Risk::ActionNotPerformed => (
                "Head movement not performed",
                "The head did not turn as asked within the time given.",
            ),
            Risk::WrongAction => (
                "Wrong head movement",
                "The head turned the other way than asked.",
            ),
            Risk::ActionTooEarly => (
                "Head moved before being asked",
                "The head was already turned before the action was shown.",
            ),
            Risk::PoseNotCentred => (
                "Not facing the camera",
                "The face did not look straight at the camera between the actions.",
            ),
            Risk::PoseDiscontinuity => (
                "Head pose jumped",
                "The head pose jumped between consecutive frames, as when pictures are swapped.",
            ),
            Risk::PlanarFaceMotion => (
                "Flat face",
                "The face moved like a flat picture, not like a head turning.",
            ),
            Risk::LivenessMethodTooWeak => (
                "Liveness method too weak",
                "The capture used a weaker liveness method than the request requires.",
            ),
            _ => (
                "Capture refused",
                "The capture did not satisfy its challenge.",
            ),
        }
    }
}

/// A liveness verdict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LivenessVerdict {
    pub status: Status,
    /// 0-100, two decimals.
    pub score: f64,
    pub p_real: f64,
    pub threshold: f64,
    pub risks: Vec<Risk>,
}

/// Applies the liveness rules to P(real).
pub fn liveness_verdict(p_real: f64, s: &LivenessSettings) -> LivenessVerdict {
    let score = round2(s.calibration.score(p_real));
    let mut risks = Vec::new();
    if score <= s.attack_threshold {
        risks.push(Risk::LivenessFaceAttack);
    } else if score <= s.decline_threshold {
        risks.push(Risk::LowLivenessScore);
    }
    LivenessVerdict {
        status: if risks.is_empty() {
            Status::Approved
        } else {
            Status::Declined
        },
        score,
        p_real,
        threshold: s.decline_threshold,
        risks,
    }
}

/// A face-match verdict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MatchVerdict {
    pub status: Status,
    /// 0-100, two decimals.
    pub score: f64,
    pub distance: f64,
    pub threshold: f64,
    pub risks: Vec<Risk>,
}

/// Applies the face-match rule to a distance.
pub fn match_verdict(distance: f64, s: &FaceMatchSettings) -> MatchVerdict {
    let score = round2(s.calibration.score(distance));
    let approved = score > s.decline_threshold;
    MatchVerdict {
        status: if approved {
            Status::Approved
        } else {
            Status::Declined
        },
        score,
        distance,
        threshold: s.decline_threshold,
        risks: if approved {
            vec![]
        } else {
            vec![Risk::LowFaceMatchSimilarity]
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_calibrations_are_valid() {
        FaceMatchSettings::default().calibration.validate().unwrap();
        LivenessSettings::default().calibration.validate().unwrap();
    }

    #[test]
    fn face_match_anchors_map_exactly() {
        let c = FaceMatchSettings::default().calibration;
        assert_eq!(c.score(0.0), 100.0);
        assert!((c.score(0.5294) - 50.0).abs() < 1e-9);
        assert_eq!(c.score(2.0), 0.0);
        assert!((c.raw_at(50.0).unwrap() - 0.5294).abs() < 1e-9);
        // Monotone: further apart, lower score.
        assert!(c.score(0.3) > c.score(0.31));
    }

    #[test]
    fn approval_is_strictly_above_the_threshold() {
        let s = FaceMatchSettings::default();
        let at = s.calibration.raw_at(50.0).unwrap();
        assert_eq!(match_verdict(at, &s).status, Status::Declined);
        assert_eq!(match_verdict(at - 0.001, &s).status, Status::Approved);
        assert_eq!(
            match_verdict(at + 0.001, &s).risks,
            vec![Risk::LowFaceMatchSimilarity]
        );
    }

    #[test]
    fn liveness_bands() {
        let s = LivenessSettings::default();
        assert_eq!(liveness_verdict(0.9, &s).status, Status::Approved);
        assert_eq!(
            liveness_verdict(0.5, &s).risks,
            vec![Risk::LowLivenessScore]
        );
        assert_eq!(
            liveness_verdict(0.05, &s).risks,
            vec![Risk::LivenessFaceAttack]
        );
        assert_eq!(liveness_verdict(0.9, &s).score, 90.0);
    }

    #[test]
    fn invalid_calibrations_are_rejected() {
        assert!(Calibration(vec![[0.0, 1.0]]).validate().is_err());
        assert!(
            Calibration(vec![[0.0, 1.0], [0.0, 2.0]])
                .validate()
                .is_err()
        );
        assert!(
            Calibration(vec![[0.0, 1.0], [1.0, 5.0], [2.0, 3.0]])
                .validate()
                .is_err()
        );
        assert!(
            Calibration(vec![[0.0, 1.0], [1.0, 500.0]])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn risk_codes_serialise_like_the_reference() {
        let w = serde_json::to_value(Risk::NoFaceDetected.warning()).unwrap();
        assert_eq!(w["risk"], "NO_FACE_DETECTED");
        assert_eq!(w["log_type"], "error");
        assert_eq!(
            serde_json::to_value(Risk::LowFaceMatchSimilarity).unwrap(),
            "LOW_FACE_MATCH_SIMILARITY"
        );
    }
}
