//! The biometric engine: is this a live person, and is it the person who enrolled?
//!
//! Pipeline (each stage a module): [`decode`] (bounded image decoding) -> [`detect`] (YuNet) ->
//! [`align`] (5-point similarity warp) -> [`quality`] -> [`embed`] (dlib ResNet) ->
//! [`liveness`] (MiniFASNet V2 + V1SE) -> [`score`] (0-100 scores, verdicts, warnings).
//! [`engine`] ties them together; [`models`] installs and verifies the model files;
//! [`runtime`] owns ONNX Runtime. Nothing here knows about HTTP or storage.

pub mod align;
pub mod burst;
pub mod capture;
pub mod decode;
pub mod detect;
#[cfg(any(test, feature = "test-support"))]
pub mod double;
pub mod embed;
pub mod engine;
pub mod error;
pub mod graph;
pub mod imageops;
pub mod liveness;
pub mod models;
pub mod port;
pub mod quality;
pub mod runtime;
pub mod score;
pub mod template;

pub use burst::{CaptureOutcome, CapturedFrame};
pub use engine::{Analysis, Engine, EngineSettings, Enrolment, Verification, Want};
pub use error::BiometricError;
pub use port::FaceEngine;
pub use template::Template;
