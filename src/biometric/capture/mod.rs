//! The capture protocol: what a challenge fixes ([`spec`]), the checks of a burst's shape and
//! timing against it ([`timing`]), the colour-reflection analysis of FLASHING ([`flash`]) and
//! the head-motion analysis of ACTIVE_3D ([`motion`]). Everything here is pure arithmetic on
//! per-frame measurements; `burst.rs` runs the models that produce them.

pub mod flash;
pub mod identity;
pub mod motion;
pub mod spec;
pub mod timing;

use serde::{Deserialize, Serialize};

pub use spec::{
    Action, ActionStep, CaptureSpec, ChallengeSettings, ColourStep, LivenessMethod, PALETTE,
};

/// Thresholds of the capture checks (`[biometric.capture]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureChecks {
    /// After a colour or action change, frames within this time are not judged (the light and
    /// the camera need a moment).
    pub settle_ms: u32,
    /// The embeddings of any two frames facing the camera (|yaw| <= 8 degrees) must lie
    /// within this distance (one person throughout); a pair with a turned frame within
    /// `identity_max_distance_turned`.
    pub identity_max_distance: f64,
    pub identity_max_distance_turned: f64,
    /// Consecutive frames must differ by at least this mean grey level (0-255).
    pub min_frame_variation: f64,
    /// Frames whose passive-liveness P(real) is averaged (the best-rated straight-ahead ones).
    pub liveness_frames: usize,
    /// Frames whose embeddings are averaged for the face match (the best-rated straight-ahead
    /// ones, each with its mirror image).
    pub fused_frames: usize,
    pub flash: flash::FlashSettings,
    pub motion: motion::MotionSettings,
}

impl Default for CaptureChecks {
    fn default() -> Self {
        Self {
            settle_ms: 150,
            identity_max_distance: 0.6,
            identity_max_distance_turned: 0.72,
            min_frame_variation: 0.2,
            liveness_frames: 2,
            fused_frames: 3,
            flash: flash::FlashSettings::default(),
            motion: motion::MotionSettings::default(),
        }
    }
}

impl CaptureChecks {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: &str| Err(format!("biometric.capture: {m}"));
        if self.settle_ms > 400 {
            return bad("settle_ms must be at most 400");
        }
        if !(0.2..=1.0).contains(&self.identity_max_distance)
            || !(self.identity_max_distance..=1.0).contains(&self.identity_max_distance_turned)
        {
            return bad(
                "identity_max_distance must be 0.2..=1.0 and identity_max_distance_turned \
                 between it and 1.0",
            );
        }
        if self.liveness_frames == 0 || self.fused_frames == 0 {
            return bad("liveness_frames and fused_frames must be at least 1");
        }
        self.flash.validate()?;
        self.motion.validate()
    }
}

/// One frame's measurements, as the checks need them.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Capture time, ms from the start of the sequence.
    pub t_ms: f64,
    /// The five landmarks of the main face (image coordinates).
    pub landmarks: [[f32; 2]; 5],
    /// Landmark yaw, degrees (positive: the person turned to their left).
    pub yaw: f32,
    /// Mean RGB of the central face (between the eyes and the mouth).
    pub face_rgb: [f32; 3],
    /// Mean RGB of the face's sides (outside the eyes, at the same height): they face the
    /// screen less than its centre.
    pub rim_rgb: [f32; 3],
    /// Mean RGB of the background (the frame's top and sides, away from the head); `None`
    /// when the head leaves too little of it in view.
    pub background_rgb: Option<[f32; 3]>,
    /// Share of the face's and its sides' pixels with a channel at 250 or more.
    pub clipped: f32,
}

fn median(mut v: Vec<f32>) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}
