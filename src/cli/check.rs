//! `inherence verify`, `liveness` and `enrol`: one-off checks that print JSON.

use crate::biometric::FaceEngine as _;
use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::{Failure, load_engine, print_json, read_input};
use crate::biometric::engine::Analysis;
use crate::biometric::score::{Risk, Status};
use crate::biometric::{Enrolment, Want};
use crate::config::Config;

fn summary(a: &Analysis) -> serde_json::Value {
    json!({
        "image": a.image,
        "faces_found": a.faces_found,
        "face": a.face.as_ref().map(|f| json!({
            "bbox": f.face.bbox,
            "landmarks": f.face.landmarks,
            "confidence": f.face.score,
        })),
        "quality": a.face.as_ref().map(|f| &f.quality),
        "warnings": a.warnings,
        "timings_ms": a.timings,
    })
}

pub fn verify(cfg: &Config, a: &Path, b: &Path) -> Result<(), Failure> {
    let (ba, bb) = (read_input(a)?, read_input(b)?);
    let (_rt, engine) = load_engine(cfg)?;
    let t0 = Instant::now();
    let reference = engine.analyze(
        &ba,
        Want {
            embedding: true,
            liveness: false,
        },
    )?;
    let probe = engine.analyze(&bb, Want::ALL)?;
    let mut warnings = Vec::new();
    let face_match = match (engine.template_from(&reference), &probe.face) {
        (None, _) => {
            warnings.push(Risk::NoReferenceImage.warning());
            None
        }
        (Some(_), None) => None,
        (Some(t), Some(f)) => {
            let m = engine.compare(&t, f.embedding.as_deref().unwrap_or_default())?;
            warnings.extend(m.risks.iter().map(|r| r.warning()));
            Some(m)
        }
    };
    warnings.extend(probe.warnings.iter().cloned());
    let liveness = probe.face.as_ref().and_then(|f| f.liveness.clone());
    let approved = face_match
        .as_ref()
        .is_some_and(|m| m.status == Status::Approved)
        && liveness
            .as_ref()
            .is_some_and(|l| l.verdict.status == Status::Approved);
    print_json(&json!({
        "status": if approved { Status::Approved } else { Status::Declined },
        "face_match": face_match,
        "liveness": liveness,
        "warnings": warnings,
        "reference": summary(&reference),
        "probe": summary(&probe),
        "timings_ms": { "total": t0.elapsed().as_secs_f64() * 1000.0 },
    }))
}

pub fn liveness(cfg: &Config, img: &Path) -> Result<(), Failure> {
    let bytes = read_input(img)?;
    let (_rt, engine) = load_engine(cfg)?;
    let a = engine.analyze(
        &bytes,
        Want {
            embedding: false,
            liveness: true,
        },
    )?;
    let l = a.face.as_ref().and_then(|f| f.liveness.clone());
    let declined = a.has_risk(Risk::NoFaceDetected)
        || l.as_ref()
            .is_none_or(|l| l.verdict.status == Status::Declined);
    print_json(&json!({
        "status": if declined { Status::Declined } else { Status::Approved },
        "method": "PASSIVE",
        "score": l.as_ref().map(|l| l.verdict.score),
        "p_real": l.as_ref().map(|l| l.verdict.p_real),
        "threshold": engine.settings().liveness.decline_threshold,
        "per_model": l.as_ref().map(|l| &l.per_model),
        "face_quality": a.face.as_ref().map(|f| f.quality.face_quality),
        "face_luminance": a.face.as_ref().map(|f| f.quality.face_luminance),
        "warnings": a.warnings,
        "image": a.image,
        "faces_found": a.faces_found,
        "face": a.face.as_ref().map(|f| json!({"bbox": f.face.bbox, "landmarks": f.face.landmarks, "confidence": f.face.score})),
        "quality": a.face.as_ref().map(|f| &f.quality),
        "timings_ms": a.timings,
    }))
}

pub fn enrol(cfg: &Config, img: &Path) -> Result<(), Failure> {
    let bytes = read_input(img)?;
    let (_rt, engine) = load_engine(cfg)?;
    let (result, analysis) = engine.enrol(&bytes)?;
    match result {
        Enrolment::Enrolled(t) => print_json(
            &json!({ "status": "Enrolled", "template": t, "timings_ms": analysis.timings }),
        ),
        Enrolment::Refused(risks) => {
            print_json(
                &json!({ "status": "Refused", "reasons": risks, "warnings": analysis.warnings }),
            )?;
            Err(Failure::usage(format!("portrait refused: {risks:?}")))
        }
    }
}
