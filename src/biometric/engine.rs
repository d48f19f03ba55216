//! The biometric engine: decode -> detect -> align -> quality -> embed -> liveness, with per-stage
//! timings. Built once (models verified, sessions created) and shared by every thread.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::align::{self, Chip};
use super::burst::{CaptureOutcome, CapturedFrame};
use super::capture::CaptureChecks;
use super::capture::CaptureSpec;
use super::decode::{self, DecodedImage, ImageLimits};
use super::detect::{Detector, DetectorSettings, Face};
use super::embed::{self, Embedder};
use super::error::BiometricError;
use super::liveness::{self, LivenessModel};
use super::models::{Manifest, Role, read_verified};
use super::port::FaceEngine;
use super::quality::{self, Quality, QualitySettings};
use super::runtime::{OrtRuntime, RuntimeSettings};
use super::score::{
    FaceMatchSettings, LivenessSettings, LivenessVerdict, MatchVerdict, Risk, Status, Warning,
    liveness_verdict,
};
use super::template::{ModelRef, Template};

/// Everything tunable about the pipeline (the `[biometric]` config section).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    pub limits: ImageLimits,
    pub detector: DetectorSettings,
    pub quality: QualitySettings,
    pub face_match: FaceMatchSettings,
    pub liveness: LivenessSettings,
    /// Pre-shrink faces with area averaging when the alignment warp would shrink them by more
    /// than this factor (`0` disables; the reference pipeline has no such step).
    pub antialias_above: f64,
    /// Embed the face and its mirror image and average the two.
    pub mirror_embedding: bool,
    /// Faces other than the main one count for `MULTIPLE_FACES_DETECTED` when their eye
    /// distance is at least this fraction of the main face's.
    pub multiple_faces_min_relative_size: f32,
    /// The capture checks (bursts judged against their challenge).
    pub capture: CaptureChecks,
    /// Threads one capture's frames are spread over (0: one per core).
    pub capture_threads: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            limits: ImageLimits::default(),
            detector: DetectorSettings::default(),
            quality: QualitySettings::default(),
            face_match: FaceMatchSettings::default(),
            liveness: LivenessSettings::default(),
            antialias_above: 2.0,
            mirror_embedding: true,
            multiple_faces_min_relative_size: 0.3,
            capture: CaptureChecks::default(),
            capture_threads: 0,
        }
    }
}

impl EngineSettings {
    /// Cross-field checks, run once at start-up.
    pub fn validate(&self) -> Result<(), String> {
        self.capture.validate()?;
        self.face_match
            .calibration
            .validate()
            .map_err(|e| format!("biometric.face_match.calibration: {e}"))?;
        self.liveness
            .calibration
            .validate()
            .map_err(|e| format!("biometric.liveness.calibration: {e}"))?;
        for (name, v) in [
            (
                "biometric.face_match.decline_threshold",
                self.face_match.decline_threshold,
            ),
            (
                "biometric.liveness.decline_threshold",
                self.liveness.decline_threshold,
            ),
            (
                "biometric.liveness.attack_threshold",
                self.liveness.attack_threshold,
            ),
        ] {
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("{name} must be within 0..100, got {v}"));
            }
        }
        if !(0.0..=1.0).contains(&self.detector.score_threshold)
            || !(0.0..=1.0).contains(&self.detector.nms_iou)
        {
            return Err("biometric.detector thresholds must be within 0..1".into());
        }
        if self.detector.max_side < 32 {
            return Err("biometric.detector.max_side must be at least 32".into());
        }
        let l = &self.limits;
        if l.max_bytes == 0 || l.max_pixels == 0 || l.max_side == 0 {
            return Err("biometric.limits must be positive".into());
        }
        if l.max_jpeg_pixels < l.max_pixels || l.min_side == 0 || l.max_aspect < 1.0 {
            return Err(
                "biometric.limits: max_jpeg_pixels must be at least max_pixels, min_side at \
                 least 1 and max_aspect at least 1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What to compute beyond detection and quality.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    pub embedding: bool,
    pub liveness: bool,
}

impl Want {
    pub const ALL: Want = Want {
        embedding: true,
        liveness: true,
    };
}

/// Milliseconds per stage. `model_*` is the time inside ONNX Runtime only.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub align_ms: f64,
    pub embed_ms: f64,
    pub liveness_ms: f64,
    pub total_ms: f64,
    pub model_detect_ms: f64,
    pub model_embed_ms: f64,
    pub model_liveness_ms: f64,
}

impl Timings {
    /// Time spent inside ONNX Runtime.
    pub fn model_ms(&self) -> f64 {
        self.model_detect_ms + self.model_embed_ms + self.model_liveness_ms
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Facts about the decoded image.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ImageInfo {
    pub width: usize,
    pub height: usize,
    pub format: String,
    pub greyscale: bool,
    pub exif_orientation: u8,
}

/// Liveness result of the main face.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LivenessResult {
    #[serde(flatten)]
    pub verdict: LivenessVerdict,
    /// P(real) of each model.
    pub per_model: Vec<(String, f32)>,
}

/// Everything computed about the main (largest) face.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaceResult {
    pub face: Face,
    pub quality: Quality,
    /// Source pixels per chip pixel in the alignment warp.
    pub align_shrink: f64,
    /// Area pre-filter factor used before the warp (1 = none).
    pub align_prefilter: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessResult>,
}

/// The analysis of one image.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Analysis {
    pub image: ImageInfo,
    /// Number of faces found.
    pub faces_found: usize,
    /// The main face, if any.
    pub face: Option<FaceResult>,
    /// Other faces (largest first), boxes only.
    pub other_faces: Vec<Face>,
    pub warnings: Vec<Warning>,
    pub timings: Timings,
}

impl Analysis {
    pub fn has_risk(&self, r: Risk) -> bool {
        self.warnings.iter().any(|w| w.risk == r)
    }
}

/// Result of an enrolment attempt.
#[derive(Clone, Debug, Serialize)]
pub enum Enrolment {
    Enrolled(Template),
    /// Not enrolled; the risks say why.
    Refused(Vec<Risk>),
}

/// A 1:1 verification of a live probe against a template.
#[derive(Clone, Debug, Serialize)]
pub struct Verification {
    pub status: Status,
    pub face_match: Option<MatchVerdict>,
    pub liveness: Option<LivenessVerdict>,
    pub probe: Analysis,
    pub warnings: Vec<Warning>,
}

/// Names and hashes of the loaded models.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LoadedModel {
    pub name: String,
    pub role: Role,
    pub sha256: String,
    /// `PRelu` nodes rewritten in memory at load.
    pub prelu_rewritten: usize,
}

/// The engine.
pub struct Engine {
    pub(super) settings: EngineSettings,
    pub(super) detector: Detector,
    pub(super) embedder: Embedder,
    pub(super) liveness: Vec<LivenessModel>,
    models: Vec<LoadedModel>,
    /// sha256 values accepted as "the same embedder" for template comparison.
    embedder_equivalents: Vec<String>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("models", &self.models)
            .finish()
    }
}

/// Whether a further detection is another person: big enough (eye distance at least
/// `min_eye`) and not centred inside the main face's box. A weak second box on the same head
/// (forehead and hair, a hand raised to the face) is not a second face: a second person's
/// face cannot be centred inside the first's.
pub(super) fn another_person(main: &Face, other: &Face, min_eye: f32) -> bool {
    let [x, y, w, h] = main.bbox;
    let (cx, cy) = (
        other.bbox[0] + other.bbox[2] / 2.0,
        other.bbox[1] + other.bbox[3] / 2.0,
    );
    let inside = cx >= x && cx <= x + w && cy >= y && cy <= y + h;
    other.eye_distance() >= min_eye && !inside
}

impl Engine {
    /// Verifies every model file against the manifest and builds the sessions.
    pub fn load(
        runtime: &OrtRuntime,
        runtime_settings: &RuntimeSettings,
        manifest: &Manifest,
        models_dir: &Path,
        settings: EngineSettings,
    ) -> Result<Self, BiometricError> {
        settings.validate().map_err(|e| BiometricError::Model {
            name: "settings".into(),
            reason: e,
        })?;
        let model_err = |e: super::models::ModelError| BiometricError::Model {
            name: "manifest".into(),
            reason: e.to_string(),
        };
        let mut models = Vec::new();
        let mut load = |role: Role, entry: &super::models::ModelFile| {
            let (bytes, sha) = read_verified(models_dir, entry).map_err(model_err)?;
            let session = runtime.session(&entry.name, &bytes, runtime_settings)?;
            models.push(LoadedModel {
                name: entry.name.clone(),
                role,
                sha256: sha.clone(),
                prelu_rewritten: session.prelu_rewritten(),
            });
            Ok::<_, BiometricError>((session, sha))
        };
        let det_entry = manifest.one(Role::Detector);
        let (det_session, _) = load(Role::Detector, det_entry)?;
        let emb_entry = manifest.one(Role::Embedder);
        let (emb_session, emb_sha) = load(Role::Embedder, emb_entry)?;
        let mut live = Vec::new();
        for entry in manifest.all(Role::Liveness) {
            let (s, _) = load(Role::Liveness, entry)?;
            let scale = entry
                .input
                .as_ref()
                .and_then(|i| i.crop_scale)
                .expect("validated manifest");
            live.push(LivenessModel::new(entry.name.clone(), scale, s));
        }
        let tpl_entry = manifest.one(Role::AlignmentTemplate);
        let (tpl_bytes, tpl_sha) = read_verified(models_dir, tpl_entry).map_err(model_err)?;
        models.push(LoadedModel {
            name: tpl_entry.name.clone(),
            role: Role::AlignmentTemplate,
            sha256: tpl_sha,
            prelu_rewritten: 0,
        });
        let template = embed::parse_template(&String::from_utf8_lossy(&tpl_bytes))?;
        let chip_size = emb_entry.input.as_ref().and_then(|i| i.size).unwrap_or(150) as usize;
        let mut embedder_equivalents = vec![emb_entry.sha256.clone()];
        embedder_equivalents.extend(emb_entry.alt.iter().map(|a| a.sha256.clone()));
        Ok(Self {
            detector: Detector::new(det_session, settings.detector.clone()),
            embedder: Embedder::new(
                emb_entry.name.clone(),
                emb_sha,
                template,
                chip_size,
                emb_session,
            ),
            liveness: live,
            models,
            embedder_equivalents,
            settings,
        })
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    pub fn models(&self) -> &[LoadedModel] {
        &self.models
    }

    /// The embedder this engine runs.
    pub fn embedder_ref(&self) -> ModelRef {
        ModelRef {
            name: self.embedder.name.clone(),
            sha256: self.embedder.sha256.clone(),
        }
    }

    /// Decodes and analyses an encoded image.
    pub fn analyze(&self, bytes: &[u8], want: Want) -> Result<Analysis, BiometricError> {
        let t0 = Instant::now();
        let decoded = decode::decode(bytes, &self.settings.limits)?;
        let decode_time = t0.elapsed();
        let mut a = self.analyze_decoded(&decoded, want)?;
        a.timings.decode_ms = ms(decode_time);
        a.timings.total_ms = ms(t0.elapsed());
        Ok(a)
    }

    /// Analyses an already decoded image (`decode_ms` is left at 0).
    pub fn analyze_decoded(
        &self,
        decoded: &DecodedImage,
        want: Want,
    ) -> Result<Analysis, BiometricError> {
        let t0 = Instant::now();
        let img = &decoded.image;
        let mut timings = Timings::default();
        let image = ImageInfo {
            width: img.width,
            height: img.height,
            format: decoded.format.to_owned(),
            greyscale: decoded.greyscale,
            exif_orientation: decoded.exif_orientation,
        };

        let t = Instant::now();
        let detection = self.detector.detect(img)?;
        timings.detect_ms = ms(t.elapsed());
        timings.model_detect_ms = ms(detection.model_time);

        let coarse = detection.coarse;
        let mut faces = detection.faces;
        let mut warnings = Vec::new();
        if faces.is_empty() {
            warnings.push(Risk::NoFaceDetected.warning());
            timings.total_ms = ms(t0.elapsed());
            return Ok(Analysis {
                image,
                faces_found: 0,
                face: None,
                other_faces: Vec::new(),
                warnings,
                timings,
            });
        }
        let main = faces.remove(0);
        let min_eye = main.eye_distance() * self.settings.multiple_faces_min_relative_size;
        if faces.iter().any(|f| another_person(&main, f, min_eye)) {
            let mut w = Risk::MultipleFacesDetected.warning();
            let others: Vec<serde_json::Value> = faces
                .iter()
                .map(|f| serde_json::json!({ "bbox": f.bbox, "confidence": f.score }))
                .collect();
            w.additional_data =
                Some(serde_json::json!({ "faces": faces.len() + 1, "other_faces": others }));
            warnings.push(w);
        }

        let t = Instant::now();
        let antialias =
            (self.settings.antialias_above > 0.0).then_some(self.settings.antialias_above);
        let chip: Chip = align::align(
            img,
            coarse.as_ref().map(|(c, k)| (c, *k)),
            &main.landmarks,
            &self.embedder.template,
            self.embedder.chip_size,
            antialias,
        );
        let quality = quality::measure(&main, &chip.image, &self.settings.quality);
        timings.align_ms = ms(t.elapsed());
        if quality.face_quality < self.settings.quality.min_quality {
            warnings.push(Risk::LowFaceQuality.warning());
        }
        if quality.face_luminance < self.settings.quality.min_luminance {
            warnings.push(Risk::LowFaceLuminance.warning());
        } else if quality.face_luminance > self.settings.quality.max_luminance {
            warnings.push(Risk::HighFaceLuminance.warning());
        }

        let embedding = if want.embedding {
            let t = Instant::now();
            let (e, mt) = self.embed_chip(&chip.image)?;
            timings.embed_ms = ms(t.elapsed());
            timings.model_embed_ms = ms(mt);
            Some(e)
        } else {
            None
        };

        let liveness = if want.liveness {
            let t = Instant::now();
            let scores = liveness::score(&self.liveness, img, main.bbox)?;
            timings.liveness_ms = ms(t.elapsed());
            timings.model_liveness_ms = ms(scores.model_time);
            let verdict = liveness_verdict(f64::from(scores.p_real), &self.settings.liveness);
            warnings.extend(verdict.risks.iter().map(|r| r.warning()));
            Some(LivenessResult {
                verdict,
                per_model: scores.per_model,
            })
        } else {
            None
        };

        timings.total_ms = ms(t0.elapsed());
        Ok(Analysis {
            image,
            faces_found: faces.len() + 1,
            face: Some(FaceResult {
                face: main,
                quality,
                align_shrink: chip.shrink,
                align_prefilter: chip.prefilter,
                embedding,
                liveness,
            }),
            other_faces: faces,
            warnings,
            timings,
        })
    }

    fn embed_chip(
        &self,
        chip: &super::imageops::Rgb8,
    ) -> Result<(Vec<f32>, Duration), BiometricError> {
        if self.settings.mirror_embedding {
            let flipped = chip.flip_horizontal();
            let (v, t) = self.embedder.embed(&[chip, &flipped])?;
            let mean = v[0].iter().zip(&v[1]).map(|(a, b)| (a + b) / 2.0).collect();
            Ok((mean, t))
        } else {
            let (mut v, t) = self.embedder.embed(&[chip])?;
            Ok((v.remove(0), t))
        }
    }

    /// One closure per model that runs it once on a fixed input and returns the time spent in
    /// ONNX Runtime (for `inherence-tools bench`).
    #[allow(clippy::type_complexity)]
    pub fn raw_model_runners<'a>(
        &'a self,
        frame: &'a super::imageops::Rgb8,
        chip: &'a super::imageops::Rgb8,
    ) -> Vec<(
        String,
        String,
        Box<dyn FnMut() -> Result<Duration, BiometricError> + 'a>,
    )> {
        let mut v: Vec<(
            String,
            String,
            Box<dyn FnMut() -> Result<Duration, BiometricError> + 'a>,
        )> = Vec::new();
        let side = frame.width.max(frame.height) as u32;
        v.push((
            self.detector_name(),
            format!("{}x{}", frame.width, frame.height),
            Box::new(move || Ok(self.detector.detect_at(frame, side)?.1)),
        ));
        v.push((
            self.embedder.name.clone(),
            format!("{}x{}", chip.width, chip.height),
            Box::new(move || Ok(self.embedder.embed(&[chip])?.1)),
        ));
        let bbox = [
            frame.width as f32 * 0.35,
            frame.height as f32 * 0.25,
            frame.width as f32 * 0.3,
            frame.height as f32 * 0.45,
        ];
        for m in &self.liveness {
            v.push((
                m.name.clone(),
                format!("{}x{}", liveness::INPUT, liveness::INPUT),
                Box::new(move || Ok(m.p_real(frame, bbox)?.1)),
            ));
        }
        v
    }

    fn detector_name(&self) -> String {
        self.models
            .iter()
            .find(|m| m.role == Role::Detector)
            .map_or_else(|| "detector".into(), |m| m.name.clone())
    }

    /// Live guidance for a preview frame: detection and quality only.
    pub fn preview(&self, bytes: &[u8]) -> Result<Analysis, BiometricError> {
        self.analyze(
            bytes,
            Want {
                embedding: false,
                liveness: false,
            },
        )
    }

    /// Verifies a live probe image against an enrolled template: liveness and face match.
    pub fn verify(
        &self,
        template: &Template,
        probe: &[u8],
    ) -> Result<Verification, BiometricError> {
        self.check_template(template)?;
        let a = self.analyze(probe, Want::ALL)?;
        let mut warnings = a.warnings.clone();
        let (face_match, liveness) = match &a.face {
            Some(f) => {
                let m = self.compare(template, f.embedding.as_deref().unwrap_or_default())?;
                warnings.extend(m.risks.iter().map(|r| r.warning()));
                (Some(m), f.liveness.as_ref().map(|l| l.verdict.clone()))
            }
            None => (None, None),
        };
        let approved = face_match
            .as_ref()
            .is_some_and(|m| m.status == Status::Approved)
            && liveness
                .as_ref()
                .is_some_and(|l| l.status == Status::Approved);
        Ok(Verification {
            status: if approved {
                Status::Approved
            } else {
                Status::Declined
            },
            face_match,
            liveness,
            probe: a,
            warnings,
        })
    }
}

impl FaceEngine for Engine {
    fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    fn models(&self) -> &[LoadedModel] {
        &self.models
    }

    fn embedder_ref(&self) -> ModelRef {
        Engine::embedder_ref(self)
    }

    fn accepts_embedder(&self, sha256: &str) -> bool {
        self.embedder_equivalents.iter().any(|s| s == sha256)
    }

    fn analyze(&self, bytes: &[u8], want: Want) -> Result<Analysis, BiometricError> {
        Engine::analyze(self, bytes, want)
    }

    fn preview(&self, bytes: &[u8]) -> Result<Analysis, BiometricError> {
        Engine::preview(self, bytes)
    }

    fn analyze_capture(
        &self,
        frames: &[CapturedFrame],
        spec: &CaptureSpec,
        pick: &mut dyn FnMut(u32) -> u32,
    ) -> Result<CaptureOutcome, BiometricError> {
        Engine::analyze_capture(self, frames, spec, pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(bbox: [f32; 4], eye: f32) -> Face {
        let (x, y) = (bbox[0] + bbox[2] * 0.3, bbox[1] + bbox[3] * 0.4);
        Face {
            bbox,
            landmarks: [[x, y], [x + eye, y], [x, y], [x, y], [x, y]],
            score: 0.9,
        }
    }

    #[test]
    fn a_second_box_on_the_same_head_is_not_another_person() {
        // Measured on the shared real-face video: the head at [268, 29, 144, 197] and a weak
        // (0.61-0.68) box over its forehead and hair.
        let main = face([268.7, 29.5, 144.4, 197.6], 65.0);
        let hair = face([251.3, -8.5, 98.2, 116.7], 40.0);
        assert!(!another_person(&main, &hair, 65.0 * 0.3));
        // Someone beside them is.
        let beside = face([450.0, 60.0, 120.0, 160.0], 50.0);
        assert!(another_person(&main, &beside, 65.0 * 0.3));
        // Unless far too small (a face on a poster behind).
        let tiny = face([450.0, 60.0, 20.0, 25.0], 8.0);
        assert!(!another_person(&main, &tiny, 65.0 * 0.3));
    }
}
