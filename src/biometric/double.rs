//! A deterministic face engine for protocol and flow tests: no models, no pixels.
//!
//! Its "images" are short text records that say what a real engine would have found:
//! `INHERENCE-DOUBLE face=<identity> live=<P(real)> quality=<0-100>`, or
//! `INHERENCE-DOUBLE noface`. The same identity always gives the same embedding (different
//! identities are far apart), and every verdict goes through the real rules: the burst's shape
//! against its challenge (`capture::timing`), the liveness and face-match thresholds
//! (`score`), and the enrolment and comparison rules of [`FaceEngine`]'s provided methods.
//! Anything else is refused as an unsupported format, like a file that is not an image.
//!
//! What it does not check: pixels. The colour response of FLASHING, head turns of ACTIVE_3D,
//! identical frames and everything else that needs the models are the real engine's, tested
//! with real footage in the biometric and end-to-end tests.

use sha2::{Digest, Sha256};

use super::burst::{CaptureOutcome, CapturedFrame, FrameSummary};
use super::capture::{CaptureSpec, timing};
use super::detect::Face;
use super::engine::{
    Analysis, EngineSettings, FaceResult, ImageInfo, LivenessResult, LoadedModel, Timings, Want,
};
use super::error::BiometricError;
use super::models::Role;
use super::port::FaceEngine;
use super::quality::Quality;
use super::score::{Risk, liveness_verdict};
use super::template::ModelRef;

const MAGIC: &str = "INHERENCE-DOUBLE ";
const EMBEDDER_SHA256: &str = "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0";

/// What a double image shows.
#[derive(Clone, Debug, PartialEq)]
struct Shown {
    identity: String,
    p_real: f64,
    quality: f32,
}

/// The deterministic engine.
#[derive(Debug)]
pub struct DoubleEngine {
    settings: EngineSettings,
    models: Vec<LoadedModel>,
}

impl Default for DoubleEngine {
    fn default() -> Self {
        Self::new(EngineSettings::default())
    }
}

impl DoubleEngine {
    pub fn new(settings: EngineSettings) -> Self {
        Self {
            settings,
            models: vec![LoadedModel {
                name: "double-embedder".into(),
                role: Role::Embedder,
                sha256: EMBEDDER_SHA256.into(),
                prelu_rewritten: 0,
            }],
        }
    }

    /// A clear portrait of `identity` (enrols; a live probe as far as passive liveness goes).
    pub fn portrait(identity: &str) -> Vec<u8> {
        Self::photo(identity, 0.99, 90.0)
    }

    /// A picture of `identity` whose passive liveness models say `p_real` and whose face has
    /// `quality` (0-100).
    pub fn photo(identity: &str, p_real: f64, quality: f32) -> Vec<u8> {
        assert!(
            !identity.is_empty() && !identity.contains(char::is_whitespace),
            "an identity is one word"
        );
        format!("{MAGIC}face={identity} live={p_real} quality={quality}").into_bytes()
    }

    /// A picture with no face in it.
    pub fn no_face() -> Vec<u8> {
        format!("{MAGIC}noface").into_bytes()
    }

    /// A burst that answers `spec`'s timing (a frame every `frame_interval_ms`, from 0 to its
    /// end), every frame showing `frame`.
    pub fn burst(spec: &CaptureSpec, frame: &[u8]) -> Vec<CapturedFrame> {
        let step = f64::from(spec.frame_interval_ms.max(spec.min_gap_ms).max(1));
        let mut t = 0.0;
        let mut frames = Vec::new();
        while t <= f64::from(spec.duration_ms) {
            frames.push(CapturedFrame {
                bytes: frame.to_vec(),
                t_ms: t,
            });
            t += step;
        }
        frames
    }

    /// The embedding of an identity: 128 numbers from its SHA-256, spread so that two
    /// identities are about 0.9 apart (a real embedder's same-person distances are below 0.5).
    pub fn embedding(identity: &str) -> Vec<f32> {
        let mut out = Vec::with_capacity(128);
        let mut block = 0u32;
        while out.len() < 128 {
            let h = Sha256::new()
                .chain_update(identity.as_bytes())
                .chain_update(block.to_be_bytes())
                .finalize();
            out.extend(h.iter().map(|b| (f32::from(*b) / 255.0 - 0.5) * 0.2));
            block += 1;
        }
        out.truncate(128);
        out
    }

    fn read(bytes: &[u8]) -> Result<Option<Shown>, BiometricError> {
        if bytes.is_empty() {
            return Err(BiometricError::EmptyImage);
        }
        let text = std::str::from_utf8(bytes)
            .ok()
            .and_then(|t| t.strip_prefix(MAGIC))
            .ok_or(BiometricError::UnsupportedFormat)?;
        if text == "noface" {
            return Ok(None);
        }
        let mut shown = Shown {
            identity: String::new(),
            p_real: 0.99,
            quality: 90.0,
        };
        for field in text.split(' ') {
            let bad = || BiometricError::Decode(format!("double image field {field:?}"));
            match field.split_once('=').ok_or_else(bad)? {
                ("face", v) => shown.identity = v.to_owned(),
                ("live", v) => shown.p_real = v.parse().map_err(|_| bad())?,
                ("quality", v) => shown.quality = v.parse().map_err(|_| bad())?,
                _ => return Err(bad()),
            }
        }
        if shown.identity.is_empty() {
            return Err(BiometricError::Decode("double image without face=".into()));
        }
        Ok(Some(shown))
    }

    fn quality(q: f32) -> Quality {
        Quality::frontal(q)
    }

    fn quality_risks(&self, q: &Quality) -> Vec<Risk> {
        let s = &self.settings.quality;
        let mut r = Vec::new();
        if q.face_quality < s.min_quality {
            r.push(Risk::LowFaceQuality);
        }
        r
    }
}

impl FaceEngine for DoubleEngine {
    fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    fn models(&self) -> &[LoadedModel] {
        &self.models
    }

    fn embedder_ref(&self) -> ModelRef {
        ModelRef {
            name: self.models[0].name.clone(),
            sha256: EMBEDDER_SHA256.into(),
        }
    }

    fn accepts_embedder(&self, sha256: &str) -> bool {
        sha256 == EMBEDDER_SHA256
    }

    fn analyze(&self, bytes: &[u8], want: Want) -> Result<Analysis, BiometricError> {
        let shown = Self::read(bytes)?;
        let mut warnings = Vec::new();
        let face = shown.map(|s| {
            let quality = Self::quality(s.quality);
            warnings.extend(self.quality_risks(&quality).into_iter().map(Risk::warning));
            let liveness = want.liveness.then(|| {
                let verdict = liveness_verdict(s.p_real, &self.settings.liveness);
                warnings.extend(verdict.risks.iter().map(|r| r.warning()));
                LivenessResult {
                    verdict,
                    per_model: vec![("double".into(), s.p_real as f32)],
                }
            });
            FaceResult {
                face: Face {
                    bbox: [40.0, 40.0, 120.0, 150.0],
                    landmarks: [
                        [70.0, 90.0],
                        [130.0, 90.0],
                        [100.0, 120.0],
                        [75.0, 150.0],
                        [125.0, 150.0],
                    ],
                    score: 0.95,
                },
                quality,
                align_shrink: 1.0,
                align_prefilter: 1,
                embedding: want.embedding.then(|| Self::embedding(&s.identity)),
                liveness,
            }
        });
        if face.is_none() {
            warnings.push(Risk::NoFaceDetected.warning());
        }
        Ok(Analysis {
            image: ImageInfo {
                width: 240,
                height: 320,
                format: "double".into(),
                greyscale: false,
                exif_orientation: 1,
            },
            faces_found: usize::from(face.is_some()),
            face,
            other_faces: Vec::new(),
            warnings,
            timings: Timings::default(),
        })
    }

    fn analyze_capture(
        &self,
        frames: &[CapturedFrame],
        spec: &CaptureSpec,
        _pick: &mut dyn FnMut(u32) -> u32,
    ) -> Result<CaptureOutcome, BiometricError> {
        let stamps: Vec<f64> = frames.iter().map(|f| f.t_ms).collect();
        let summaries = frames
            .iter()
            .map(|f| FrameSummary {
                t_ms: f.t_ms,
                ..FrameSummary::default()
            })
            .collect();
        let shape = timing::check(spec, &stamps, self.settings.capture.settle_ms);
        if !shape.is_empty() {
            return Ok(CaptureOutcome::refused(spec, summaries, shape));
        }
        let mut outcome = CaptureOutcome::refused(spec, summaries, Vec::new());
        let mut risks = Vec::new();
        let mut seen: Vec<Shown> = Vec::new();
        for f in frames {
            match Self::read(&f.bytes) {
                Ok(Some(s)) => seen.push(s),
                Ok(None) => risks.push(Risk::FrameWithoutFace),
                Err(_) => risks.push(Risk::UndecodableFrame),
            }
        }
        if seen.is_empty() {
            risks.push(Risk::NoFaceDetected);
        }
        if !risks.is_empty() {
            risks.sort_by_key(|r| *r as u8);
            risks.dedup();
            outcome.risks = risks;
            return Ok(outcome);
        }
        if seen.iter().any(|s| s.identity != seen[0].identity) {
            risks.push(Risk::IdentityChanged);
        }
        let p_real = seen.iter().map(|s| s.p_real).sum::<f64>() / seen.len() as f64;
        let verdict = liveness_verdict(p_real, &self.settings.liveness);
        risks.extend(verdict.risks.iter().copied());
        let quality = Self::quality(seen.iter().map(|s| s.quality).fold(0.0, f32::max));
        risks.extend(self.quality_risks(&quality));
        outcome.identity_distance = Some(if risks.contains(&Risk::IdentityChanged) {
            0.9
        } else {
            0.0
        });
        outcome.fused_from = (0..frames.len()).collect();
        outcome.liveness = Some(verdict);
        outcome.embedding = Some(Self::embedding(&seen[0].identity));
        outcome.quality = Some(quality);
        outcome.detection_score = Some(0.95);
        outcome.risks = risks;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometric::capture::spec::tests::picker;
    use crate::biometric::capture::spec::{ChallengeSettings, LivenessMethod};
    use crate::biometric::engine::Enrolment;
    use crate::biometric::score::Status;

    #[test]
    fn the_double_follows_the_real_rules() {
        let e = DoubleEngine::default();
        let Enrolment::Enrolled(t) = e.enrol(&DoubleEngine::portrait("alice")).unwrap().0 else {
            panic!("a clear portrait enrols")
        };
        let same = e.compare(&t, &DoubleEngine::embedding("alice")).unwrap();
        let other = e.compare(&t, &DoubleEngine::embedding("bob")).unwrap();
        assert_eq!(
            (same.status, other.status),
            (Status::Approved, Status::Declined)
        );
        assert!(matches!(
            e.enrol(&DoubleEngine::no_face()).unwrap().0,
            Enrolment::Refused(r) if r == vec![Risk::NoFaceDetected]
        ));
        assert!(matches!(
            e.enrol(&DoubleEngine::photo("alice", 0.99, 5.0)).unwrap().0,
            Enrolment::Refused(r) if r.contains(&Risk::LowFaceQuality)
        ));
        assert!(e.analyze(b"\x89PNG...", Want::ALL).is_err(), "not an image");

        let spec =
            ChallengeSettings::default().draw(LivenessMethod::Passive, false, &mut picker(3));
        let live = e
            .analyze_capture(
                &DoubleEngine::burst(&spec, &DoubleEngine::portrait("alice")),
                &spec,
                &mut |n| n / 2,
            )
            .unwrap();
        assert!(live.live() && live.risks.is_empty(), "{:?}", live.risks);
        let spoof = e
            .analyze_capture(
                &DoubleEngine::burst(&spec, &DoubleEngine::photo("alice", 0.01, 90.0)),
                &spec,
                &mut |n| n / 2,
            )
            .unwrap();
        assert!(!spoof.live());
        let one = DoubleEngine::burst(&spec, &DoubleEngine::portrait("alice"));
        let single = e.analyze_capture(&one[..1], &spec, &mut |n| n / 2).unwrap();
        assert!(
            single.risks.contains(&Risk::TooFewFrames),
            "one frame is refused"
        );
    }
}
