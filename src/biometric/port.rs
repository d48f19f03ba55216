//! What the rest of the application asks of a face engine: one trait, so flows take any engine
//! (the ONNX [`super::Engine`] in production, the deterministic [`super::double`] in protocol
//! tests) and the rules that do not depend on the models (what enrols, how a template is built
//! and compared) are written once, here.

use super::burst::{CaptureOutcome, CapturedFrame};
use super::capture::CaptureSpec;
use super::embed;
use super::engine::{Analysis, EngineSettings, Enrolment, LoadedModel, Want};
use super::error::BiometricError;
use super::score::{MatchVerdict, Risk, match_verdict};
use super::template::{ModelRef, TEMPLATE_VERSION, Template};

/// A face engine: analyses images and camera bursts, builds and compares templates.
pub trait FaceEngine: Send + Sync + std::fmt::Debug {
    /// Thresholds and checks the engine applies.
    fn settings(&self) -> &EngineSettings;

    /// Names and hashes of the models behind the results (recorded in every decision).
    fn models(&self) -> &[LoadedModel];

    /// The embedder whose embeddings this engine makes.
    fn embedder_ref(&self) -> ModelRef;

    /// Whether templates made by the embedder with this sha256 compare with this engine's.
    fn accepts_embedder(&self, sha256: &str) -> bool;

    /// Decodes and analyses an encoded image.
    fn analyze(&self, bytes: &[u8], want: Want) -> Result<Analysis, BiometricError>;

    /// Detection and quality only (the capture page's live feedback).
    fn preview(&self, bytes: &[u8]) -> Result<Analysis, BiometricError> {
        self.analyze(
            bytes,
            Want {
                embedding: false,
                liveness: false,
            },
        )
    }

    /// Judges a capture burst against the challenge it answers: the one way camera frames are
    /// judged. `pick` draws the frames whose identity is compared.
    fn analyze_capture(
        &self,
        frames: &[CapturedFrame],
        spec: &CaptureSpec,
        pick: &mut dyn FnMut(u32) -> u32,
    ) -> Result<CaptureOutcome, BiometricError>;

    /// A template from a capture's fused embedding.
    fn template_from_capture(&self, c: &CaptureOutcome) -> Option<Template> {
        Some(Template {
            version: TEMPLATE_VERSION,
            embedding: c.embedding.clone()?,
            model: self.embedder_ref(),
            mirrored: self.settings().mirror_embedding,
            quality: c.quality.clone()?,
            detection_score: c.detection_score?,
        })
    }

    /// Builds a template from an analysis that has an embedding.
    fn template_from(&self, a: &Analysis) -> Option<Template> {
        let f = a.face.as_ref()?;
        Some(Template {
            version: TEMPLATE_VERSION,
            embedding: f.embedding.clone()?,
            model: self.embedder_ref(),
            mirrored: self.settings().mirror_embedding,
            quality: f.quality.clone(),
            detection_score: f.face.score,
        })
    }

    /// Enrols a portrait: one clear face of sufficient quality, or a refusal with reasons.
    fn enrol(&self, bytes: &[u8]) -> Result<(Enrolment, Analysis), BiometricError> {
        let a = self.analyze(
            bytes,
            Want {
                embedding: true,
                liveness: false,
            },
        )?;
        let blocking: Vec<Risk> = a
            .warnings
            .iter()
            .map(|w| w.risk)
            .filter(|r| {
                matches!(
                    r,
                    Risk::NoFaceDetected
                        | Risk::MultipleFacesDetected
                        | Risk::LowFaceQuality
                        | Risk::LowFaceLuminance
                        | Risk::HighFaceLuminance
                )
            })
            .collect();
        if !blocking.is_empty() {
            return Ok((Enrolment::Refused(blocking), a));
        }
        match self.template_from(&a) {
            Some(t) => Ok((Enrolment::Enrolled(t), a)),
            None => Ok((Enrolment::Refused(vec![Risk::NoFaceDetected]), a)),
        }
    }

    /// Checks that a template can be compared with this engine's embeddings.
    fn check_template(&self, t: &Template) -> Result<(), BiometricError> {
        t.validate()?;
        if !self.accepts_embedder(&t.model.sha256) {
            let mine = self.embedder_ref();
            return Err(BiometricError::TemplateMismatch {
                template_model: t.model.name.clone(),
                template_sha256: t.model.sha256.clone(),
                engine_model: mine.name,
                engine_sha256: mine.sha256,
            });
        }
        Ok(())
    }

    /// Face-match verdict between a template and an embedding.
    fn compare(&self, t: &Template, embedding: &[f32]) -> Result<MatchVerdict, BiometricError> {
        self.check_template(t)?;
        let d = f64::from(embed::distance(&t.embedding, embedding));
        Ok(match_verdict(d, &self.settings().face_match))
    }
}
