//! ACTIVE_3D: did the head turn as asked, when asked, through the poses in between, and like a
//! head (a solid with a nose in front of the eyes and mouth) rather than a flat picture?
//!
//! - Pose: the landmark yaw of each frame relative to the neutral yaw (the median over the
//!   first straight-ahead window). Each action window must reach `turn_deg` towards the asked
//!   side, never the other way; the frame before the window and some frame after it must be
//!   straight ahead (within `centre_deg`).
//! - Continuity: the yaw never jumps more than `max_step_deg` between consecutive frames
//!   (swapped pictures of different poses jump).
//! - Flatness: the 5 landmarks of a flat picture, however it is tilted, turned or warped, stay
//!   related to a straight-ahead frame by one homography. The homography fixed by the eyes and
//!   mouth corners predicts where the nose of a picture goes; a real nose leaves that plane
//!   when the head turns. At each action's peak frame the nose must be at least
//!   `min_nonplanar` eye distances off the prediction.

use serde::{Deserialize, Serialize};

use super::spec::CaptureSpec;
use super::{Sample, median};
use crate::biometric::score::Risk;

/// Thresholds (`[biometric.capture.motion]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MotionSettings {
    /// Yaw an action must reach, relative to the neutral pose (degrees).
    pub turn_deg: f32,
    /// Straight ahead means within this yaw of the neutral pose.
    pub centre_deg: f32,
    /// Largest yaw change between consecutive frames on the way into a turn.
    pub max_step_deg: f32,
    /// Least distance of the nose from its planar prediction at an action's peak, in eye
    /// distances.
    pub min_nonplanar: f32,
    /// The neutral pose itself must be within this yaw of facing the camera.
    pub max_neutral_deg: f32,
}

impl Default for MotionSettings {
    fn default() -> Self {
        Self {
            turn_deg: 18.0,
            centre_deg: 10.0,
            max_step_deg: 25.0,
            min_nonplanar: 0.08,
            max_neutral_deg: 15.0,
        }
    }
}

impl MotionSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(5.0..=45.0).contains(&self.turn_deg)
            || self.centre_deg <= 0.0
            || self.centre_deg >= self.turn_deg
            || self.max_step_deg < self.turn_deg - self.centre_deg
            || !(0.0..=0.5).contains(&self.min_nonplanar)
            || !(5.0..=30.0).contains(&self.max_neutral_deg)
        {
            return Err(
                "biometric.capture.motion: turn_deg must be 5..=45, centre_deg below it, \
                        max_step_deg at least turn_deg - centre_deg, min_nonplanar 0..=0.5, \
                        max_neutral_deg 5..=30"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What the motion analysis measured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MotionEvidence {
    pub neutral_yaw: f32,
    /// Per action: the yaw reached towards the asked side (degrees, relative to neutral).
    pub peaks: Vec<f32>,
    /// Per action: the nose's distance from its planar prediction at the peak (eye distances).
    pub nonplanar: Vec<f32>,
    /// Largest yaw change between consecutive frames on the way into a turn.
    pub max_step_deg: f32,
}

/// The frames of the first straight-ahead window (before the first action).
fn first_window<'a>(spec: &CaptureSpec, samples: &'a [Sample]) -> Vec<&'a Sample> {
    let first_action = spec
        .actions
        .first()
        .map_or(spec.duration_ms, |a| a.start_ms);
    samples
        .iter()
        .filter(|x| x.t_ms < f64::from(first_action))
        .collect()
}

/// The neutral yaw: the median over the first straight-ahead window.
pub fn neutral_yaw(spec: &CaptureSpec, samples: &[Sample]) -> Option<f32> {
    median(first_window(spec, samples).iter().map(|x| x.yaw).collect())
}

/// Judges the head actions of a burst (samples in time order). Call only for challenges with
/// actions.
pub fn analyse(
    spec: &CaptureSpec,
    samples: &[Sample],
    s: &MotionSettings,
) -> (MotionEvidence, Vec<Risk>) {
    let mut risks = Vec::new();
    let centre = first_window(spec, samples);
    let Some(neutral) = neutral_yaw(spec, samples) else {
        return (MotionEvidence::default(), vec![Risk::PoseNotCentred]);
    };
    // The straight-ahead reference: the first window's frame closest to the neutral yaw.
    let reference = centre
        .iter()
        .min_by(|a, b| (a.yaw - neutral).abs().total_cmp(&(b.yaw - neutral).abs()))
        .copied();
    if neutral.abs() > s.max_neutral_deg {
        risks.push(Risk::PoseNotCentred);
    }
    let rel = |x: &Sample| x.yaw - neutral;
    let mut evidence = MotionEvidence {
        neutral_yaw: neutral,
        ..MotionEvidence::default()
    };
    for (i, a) in spec.actions.iter().enumerate() {
        let sign = a.action.yaw_sign();
        let (start, end) = (f64::from(a.start_ms), f64::from(a.end_ms));
        let next = spec
            .actions
            .get(i + 1)
            .map_or(f64::from(spec.duration_ms) + 1.0, |n| f64::from(n.start_ms));
        let window: Vec<&Sample> = samples
            .iter()
            .filter(|x| x.t_ms >= start && x.t_ms < end)
            .collect();
        let peak = window
            .iter()
            .max_by(|x, y| (sign * rel(x)).total_cmp(&(sign * rel(y))))
            .copied();
        // The way into the turn, from the last frame before the action to the peak, goes
        // through the poses in between (a head turns; swapped pictures jump). The way back
        // may be quick.
        if let Some(p) = peak {
            let climb = samples
                .iter()
                .filter(|x| x.t_ms >= start - f64::from(spec.frame_interval_ms) * 1.5)
                .take_while(|x| x.t_ms <= p.t_ms)
                .collect::<Vec<_>>();
            let step = climb
                .windows(2)
                .map(|w| (w[1].yaw - w[0].yaw).abs())
                .fold(0.0f32, f32::max);
            evidence.max_step_deg = evidence.max_step_deg.max(step);
            if step > s.max_step_deg {
                risks.push(Risk::PoseDiscontinuity);
            }
        }
        let reached = peak.map_or(f32::MIN, |p| sign * rel(p));
        evidence.peaks.push(reached);
        let nonplanar = match (peak, reference) {
            (Some(p), Some(r)) => off_plane(&r.landmarks, &p.landmarks),
            _ => 0.0,
        };
        evidence.nonplanar.push(nonplanar);
        if window.iter().any(|x| sign * rel(x) <= -s.turn_deg) {
            risks.push(Risk::WrongAction);
        } else if reached < s.turn_deg {
            risks.push(Risk::ActionNotPerformed);
        } else if nonplanar < s.min_nonplanar {
            risks.push(Risk::PlanarFaceMotion);
        }
        // Not yet turned that way just before the action was shown (a recording played
        // early), and straight ahead again before the next one.
        let before = samples.iter().rev().find(|x| x.t_ms < start);
        if before.is_none_or(|x| sign * rel(x) > s.turn_deg * 0.75) {
            risks.push(Risk::ActionTooEarly);
        }
        if !samples
            .iter()
            .any(|x| x.t_ms >= end && x.t_ms < next && rel(x).abs() <= s.centre_deg)
        {
            risks.push(Risk::PoseNotCentred);
        }
    }
    risks.sort_by_key(|r| *r as u8);
    risks.dedup();
    (evidence, risks)
}

/// Distance (in eye distances) of the nose from where the homography that maps the reference
/// eyes and mouth corners onto the frame's puts the reference nose.
pub fn off_plane(reference: &[[f32; 2]; 5], frame: &[[f32; 2]; 5]) -> f32 {
    let pick = |l: &[[f32; 2]; 5]| [l[0], l[1], l[3], l[4]];
    let Some(h) = homography(&pick(reference), &pick(frame)) else {
        return 0.0;
    };
    let [x, y] = reference[2];
    let (x, y) = (f64::from(x), f64::from(y));
    let w = h[6] * x + h[7] * y + 1.0;
    if w.abs() < 1e-9 {
        return 0.0;
    }
    let px = (h[0] * x + h[1] * y + h[2]) / w;
    let py = (h[3] * x + h[4] * y + h[5]) / w;
    let [nx, ny] = frame[2];
    let eye = ((frame[0][0] - frame[1][0]).powi(2) + (frame[0][1] - frame[1][1]).powi(2))
        .sqrt()
        .max(1.0);
    (((px - f64::from(nx)).powi(2) + (py - f64::from(ny)).powi(2)).sqrt() as f32) / eye
}

/// The homography (h33 = 1) taking four points onto four others, by solving the 8x8 system.
fn homography(src: &[[f32; 2]; 4], dst: &[[f32; 2]; 4]) -> Option<[f64; 8]> {
    let mut m = [[0.0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (f64::from(src[i][0]), f64::from(src[i][1]));
        let (u, v) = (f64::from(dst[i][0]), f64::from(dst[i][1]));
        m[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        m[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-9 {
            return None;
        }
        m.swap(col, pivot);
        let pivot_row = m[col];
        for (row, r) in m.iter_mut().enumerate() {
            if row != col {
                let f = r[col] / pivot_row[col];
                for (v, p) in r.iter_mut().zip(pivot_row).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut h = [0.0; 8];
    for (i, v) in h.iter_mut().enumerate() {
        *v = m[i][8] / m[i][i];
    }
    Some(h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometric::capture::spec::tests::picker;
    use crate::biometric::capture::spec::{Action, ChallengeSettings, LivenessMethod};
    use crate::biometric::detect::Face;
    use crate::biometric::quality::pose;

    /// A head: eyes and mouth corners on a plane, the nose tip 0.55 eye distances in front of
    /// it; turned by `yaw` degrees and projected by a pinhole camera at `dist` eye distances.
    fn head(yaw: f32, dist: f32) -> [[f32; 2]; 5] {
        let pts: [[f32; 3]; 5] = [
            [-0.5, -0.4, 0.0],
            [0.5, -0.4, 0.0],
            [0.0, 0.15, -0.55],
            [-0.4, 0.6, 0.0],
            [0.4, 0.6, 0.0],
        ];
        // Positive yaw turns the person to their left: the nose goes to the image's right.
        let (s, c) = (-yaw.to_radians()).sin_cos();
        pts.map(|[x, y, z]| {
            let (x2, z2) = (c * x + s * z, -s * x + c * z);
            let k = 300.0 / (dist + z2);
            [320.0 + 60.0 * k * x2 / 5.0, 240.0 + 60.0 * k * y / 5.0]
        })
    }

    /// A flat picture of a straight-ahead face, itself turned by `yaw` (a print tilted).
    fn picture(yaw: f32, dist: f32) -> [[f32; 2]; 5] {
        let flat = head(0.0, 1e6).map(|[x, y]| [(x - 320.0) / 60.0, (y - 240.0) / 60.0]);
        let (s, c) = (-yaw.to_radians()).sin_cos();
        flat.map(|[x, y]| {
            let (x2, z2) = (c * x, -s * x);
            let k = 300.0 / (dist + z2);
            [320.0 + 60.0 * k * x2 / 5.0, 240.0 + 60.0 * k * y / 5.0]
        })
    }

    fn yaw_of(l: [[f32; 2]; 5]) -> f32 {
        pose(&Face {
            bbox: [0.0; 4],
            landmarks: l,
            score: 1.0,
        })
        .0
    }

    /// Frames every 200 ms following `pose_at(t, action)`: the landmarks at time t.
    fn burst(spec: &CaptureSpec, lm: impl Fn(f64) -> [[f32; 2]; 5]) -> Vec<Sample> {
        (0..=spec.duration_ms / 200)
            .map(|i| {
                let t = f64::from(i * 200);
                let l = lm(t);
                Sample {
                    t_ms: t,
                    landmarks: l,
                    yaw: yaw_of(l),
                    face_rgb: [0.0; 3],
                    rim_rgb: [0.0; 3],
                    background_rgb: None,
                    clipped: 0.0,
                }
            })
            .collect()
    }

    /// The yaw a compliant user shows at `t`: turning over 400 ms after each action starts.
    fn compliant(spec: &CaptureSpec, t: f64, amplitude: f32) -> f32 {
        for a in &spec.actions {
            let (s, e) = (f64::from(a.start_ms) + 150.0, f64::from(a.end_ms));
            if t >= s && t < e {
                let ramp = (((t - s) / 400.0).min(1.0)) as f32;
                let back = (((e - t) / 300.0).min(1.0)) as f32;
                return a.action.yaw_sign() * amplitude * ramp.min(back);
            }
        }
        0.0
    }

    fn spec() -> CaptureSpec {
        ChallengeSettings::default().draw(LivenessMethod::Active3d, false, &mut picker(3))
    }

    #[test]
    fn the_landmark_yaw_sign_matches_the_actions() {
        assert!(yaw_of(head(25.0, 8.0)) > 15.0);
        assert!(yaw_of(head(-25.0, 8.0)) < -15.0);
        assert_eq!(Action::TurnLeft.yaw_sign(), 1.0);
    }

    #[test]
    fn a_head_turning_as_asked_passes() {
        let s = spec();
        let b = burst(&s, |t| head(compliant(&s, t, 30.0), 8.0));
        let (e, risks) = analyse(&s, &b, &MotionSettings::default());
        assert_eq!(risks, vec![], "{e:?}");
        assert!(e.nonplanar.iter().all(|&n| n > 0.15), "{e:?}");
    }

    #[test]
    fn a_flat_picture_turned_like_a_head_is_flat() {
        // Even tilted hard and close to the camera, a picture keeps its nose on its plane.
        for (yaw, dist) in [(35.0, 8.0), (-45.0, 4.0), (50.0, 3.0)] {
            let off = off_plane(&picture(0.0, 8.0), &picture(yaw, dist));
            assert!(off < 0.01, "{yaw} {dist}: {off}");
        }
        assert!(off_plane(&head(0.0, 8.0), &head(25.0, 8.0)) > 0.15);
    }

    #[test]
    fn wrong_late_missing_and_jumping_actions_are_refused() {
        let s = spec();
        let set = MotionSettings::default();
        let judge = |b: Vec<Sample>| analyse(&s, &b, &set).1;
        // A still face.
        assert_eq!(
            judge(burst(&s, |_| head(0.0, 8.0))),
            vec![Risk::ActionNotPerformed]
        );
        // The opposite directions.
        assert_eq!(
            judge(burst(&s, |t| head(-compliant(&s, t, 30.0), 8.0))),
            vec![Risk::WrongAction]
        );
        // Turned all the time (a picture of a turned face).
        assert_eq!(
            judge(burst(&s, |_| head(30.0, 8.0))),
            vec![Risk::ActionNotPerformed, Risk::PoseNotCentred]
        );
        // Every turn made before it was asked for (a recording played early).
        let early = judge(burst(&s, |t| head(compliant(&s, t + 500.0, 30.0), 8.0)));
        assert!(early.contains(&Risk::ActionTooEarly), "{early:?}");
        // Pictures of different poses swapped in: the pose jumps.
        let swapped = judge(burst(&s, |t| {
            let y = compliant(&s, t, 30.0);
            head(
                if y.abs() > 5.0 {
                    35.0 * y.signum()
                } else {
                    0.0
                },
                8.0,
            )
        }));
        assert!(swapped.contains(&Risk::PoseDiscontinuity), "{swapped:?}");
        // A flat picture turned as asked never shows a real yaw.
        assert_eq!(
            judge(burst(&s, |t| picture(compliant(&s, t, 40.0), 6.0))),
            vec![Risk::ActionNotPerformed]
        );
        // One step late: still turned when the user should face the camera again.
        let late = judge(burst(&s, |t| head(compliant(&s, t - 900.0, 30.0), 8.0)));
        assert!(!late.is_empty(), "{late:?}");
    }
}
