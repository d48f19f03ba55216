//! Enrolment templates: the embedding plus what is needed to trust and compare it later.
//! The portrait itself is not part of a template and is not kept.

use serde::{Deserialize, Serialize};

use super::embed::DIM;
use super::error::BiometricError;
use super::quality::Quality;

/// Template format version.
pub const TEMPLATE_VERSION: u32 = 1;

/// Which embedder produced a template.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ModelRef {
    pub name: String,
    pub sha256: String,
}

/// A face template.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub version: u32,
    /// The 128-D embedding (not normalised; euclidean metric).
    pub embedding: Vec<f32>,
    /// Embedder that made it; comparisons with another embedder are refused.
    pub model: ModelRef,
    /// Whether the embedding averages the face and its mirror image.
    pub mirrored: bool,
    /// Quality of the enrolled face.
    pub quality: Quality,
    /// Detector confidence of the enrolled face.
    pub detection_score: f32,
}

impl Template {
    /// Checks the shape of a template read from storage.
    pub fn validate(&self) -> Result<(), BiometricError> {
        if self.version != TEMPLATE_VERSION {
            return Err(BiometricError::InvalidTemplate(format!(
                "version {} is not supported",
                self.version
            )));
        }
        if self.embedding.len() != DIM || self.embedding.iter().any(|v| !v.is_finite()) {
            return Err(BiometricError::InvalidTemplate(format!(
                "embedding must hold {DIM} finite numbers"
            )));
        }
        Ok(())
    }

    /// Serialised form (JSON; encryption at rest is the store's job).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("template serialises")
    }

    /// Parses and validates a serialised template.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BiometricError> {
        let t: Template = serde_json::from_slice(bytes)
            .map_err(|e| BiometricError::InvalidTemplate(e.to_string()))?;
        t.validate()?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Template {
        Template {
            version: TEMPLATE_VERSION,
            embedding: vec![0.01; DIM],
            model: ModelRef {
                name: "dlib".into(),
                sha256: "ab".repeat(32),
            },
            mirrored: false,
            quality: Quality {
                face_quality: 80.0,
                face_luminance: 50.0,
                eye_distance_px: 40.0,
                sharpness: 100.0,
                yaw_deg: 0.0,
                pitch_deg: 0.0,
                roll_deg: 0.0,
            },
            detection_score: 0.9,
        }
    }

    #[test]
    fn round_trips_and_validates() {
        let t = sample();
        assert_eq!(Template::from_bytes(&t.to_bytes()).unwrap(), t);
        let mut short = t.clone();
        short.embedding.pop();
        assert!(Template::from_bytes(&short.to_bytes()).is_err());
        let mut nan = t;
        nan.embedding[0] = f32::NAN;
        assert!(nan.validate().is_err());
        assert!(Template::from_bytes(b"{\"version\":1}").is_err());
    }
}
