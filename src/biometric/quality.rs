//! Face quality: size, sharpness, luminance and head pose, from the landmarks and the aligned
//! chip. Each figure is cheap (the chip is 150x150) and explained in `docs/biometrics.md`.

use serde::{Deserialize, Serialize};

use super::detect::Face;
use super::imageops::Rgb8;

/// Thresholds that turn the figures into warnings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySettings {
    /// `LOW_FACE_QUALITY` below this overall quality (0-100).
    pub min_quality: f32,
    /// `LOW_FACE_LUMINANCE` below this face luminance (0-100).
    pub min_luminance: f32,
    /// `HIGH_FACE_LUMINANCE` above this face luminance (0-100).
    pub max_luminance: f32,
    /// Eye distance (px) at or below which the size factor is 0, and at or above which it is 1.
    pub eye_distance_px: [f32; 2],
    /// Laplacian variance of the chip at or below which sharpness is 0, and at or above which 1.
    pub sharpness_laplacian_var: [f32; 2],
    /// Absolute yaw / pitch / roll (degrees) at or below which pose is 1, and at or above which 0.
    pub pose_deg: [f32; 2],
}

impl Default for QualitySettings {
    fn default() -> Self {
        Self {
            min_quality: 25.0,
            min_luminance: 20.0,
            max_luminance: 92.0,
            eye_distance_px: [12.0, 30.0],
            sharpness_laplacian_var: [15.0, 120.0],
            pose_deg: [20.0, 50.0],
        }
    }
}

/// Quality figures of one face.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Quality {
    /// Overall 0-100: the weakest of size, sharpness and pose, scaled to 100.
    pub face_quality: f32,
    /// Mean luma of the central face region, 0-100.
    pub face_luminance: f32,
    /// Eye distance in source pixels.
    pub eye_distance_px: f32,
    /// Variance of the Laplacian over the central face region of the chip.
    pub sharpness: f32,
    /// Approximate head pose from the five landmarks, degrees.
    pub yaw_deg: f32,
    pub pitch_deg: f32,
    pub roll_deg: f32,
}

impl Quality {
    /// A frontal, well-lit, sharp face of the given quality score: what the test double and
    /// the load test's stored faces report.
    pub fn frontal(face_quality: f32) -> Self {
        Self {
            face_quality,
            face_luminance: 50.0,
            eye_distance_px: 60.0,
            sharpness: 100.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
        }
    }
}

fn ramp(v: f32, [lo, hi]: [f32; 2]) -> f32 {
    if hi <= lo {
        return if v >= hi { 1.0 } else { 0.0 };
    }
    ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// Region of the 150x150 chip between the brows and the chin (template coordinates).
const REGION: (usize, usize, usize, usize) = (30, 30, 120, 115);

/// Pose from landmarks: roll from the eye line, yaw from the nose's offset along it, pitch from
/// where the nose sits between the eye line and the mouth line.
pub fn pose(face: &Face) -> (f32, f32, f32) {
    let [re, le, nose, rm, lm] = face.landmarks;
    let (ex, ey) = (le[0] - re[0], le[1] - re[1]);
    let d = (ex * ex + ey * ey).sqrt().max(1e-3);
    let (ux, uy) = (ex / d, ey / d);
    let roll = uy.atan2(ux).to_degrees();
    let mid = [(re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0];
    let mouth = [(rm[0] + lm[0]) / 2.0, (rm[1] + lm[1]) / 2.0];
    // Nose offset along the eye axis, in eye distances; ~0.6 eye distances of nose depth.
    let t = ((nose[0] - mid[0]) * ux + (nose[1] - mid[1]) * uy) / d;
    let yaw = (t / 0.6).clamp(-1.0, 1.0).asin().to_degrees();
    // Perpendicular distances (face frame): eyes->nose over eyes->mouth; 0.55 when frontal.
    let perp = |p: [f32; 2]| -(p[0] - mid[0]) * uy + (p[1] - mid[1]) * ux;
    let ratio = perp(nose) / perp(mouth).abs().max(1e-3);
    let pitch = ((ratio - 0.55) / 0.5).clamp(-1.0, 1.0).asin().to_degrees();
    (yaw, pitch, roll)
}

/// Measures a face from its landmarks and aligned chip.
pub fn measure(face: &Face, chip: &Rgb8, settings: &QualitySettings) -> Quality {
    let (x0, y0, x1, y1) = REGION;
    let (x1, y1) = (x1.min(chip.width), y1.min(chip.height));
    let (rw, rh) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    // Luma of the region, computed once.
    let mut luma = Vec::with_capacity(rw * rh);
    for y in y0..y1 {
        for x in x0..x1 {
            let p = chip.pixel(x, y);
            luma.push(0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]));
        }
    }
    let mean_luma = if luma.is_empty() {
        0.0
    } else {
        luma.iter().map(|&v| f64::from(v)).sum::<f64>() / luma.len() as f64
    };
    let (mut s1, mut s2, mut m) = (0.0f64, 0.0f64, 0usize);
    for y in 1..rh.saturating_sub(1) {
        for x in 1..rw.saturating_sub(1) {
            let at = |dx: usize, dy: usize| luma[dy * rw + dx];
            let lap = at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y);
            s1 += f64::from(lap);
            s2 += f64::from(lap) * f64::from(lap);
            m += 1;
        }
    }
    let sharpness = if m > 0 {
        let mean = s1 / m as f64;
        (s2 / m as f64 - mean * mean) as f32
    } else {
        0.0
    };
    let (yaw, pitch, roll) = pose(face);
    let eye = face.eye_distance();
    let size_f = ramp(eye, settings.eye_distance_px);
    let sharp_f = ramp(sharpness, settings.sharpness_laplacian_var);
    let worst_angle = yaw.abs().max(pitch.abs()).max(roll.abs());
    let pose_f = 1.0 - ramp(worst_angle, settings.pose_deg);
    Quality {
        face_quality: 100.0 * size_f.min(sharp_f).min(pose_f),
        face_luminance: (mean_luma / 255.0 * 100.0) as f32,
        eye_distance_px: eye,
        sharpness,
        yaw_deg: yaw,
        pitch_deg: pitch,
        roll_deg: roll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal(scale: f32) -> Face {
        // The dlib template's own landmarks are a frontal face.
        let t = [
            [43.5, 46.7],
            [101.34, 44.79],
            [72.75, 75.99],
            [49.5, 101.53],
            [98.59, 99.98],
        ];
        Face {
            bbox: [0.0, 0.0, 150.0 * scale, 150.0 * scale],
            landmarks: t.map(|p| [p[0] * scale, p[1] * scale]),
            score: 0.9,
        }
    }

    #[test]
    fn frontal_template_has_near_zero_pose() {
        let (yaw, pitch, roll) = pose(&frontal(1.0));
        assert!(
            yaw.abs() < 3.0 && pitch.abs() < 5.0 && roll.abs() < 3.0,
            "{yaw} {pitch} {roll}"
        );
    }

    #[test]
    fn turned_head_has_yaw() {
        let mut f = frontal(1.0);
        f.landmarks[2][0] += 20.0; // nose towards the image-right eye
        let (yaw, _, _) = pose(&f);
        assert!(yaw > 20.0, "{yaw}");
    }

    #[test]
    fn flat_dark_chip_is_dark_and_blurry() {
        let mut chip = Rgb8::new(150, 150);
        chip.data.iter_mut().for_each(|v| *v = 20);
        let q = measure(&frontal(1.0), &chip, &QualitySettings::default());
        assert!(q.face_luminance < 10.0);
        assert_eq!(q.sharpness, 0.0);
        assert_eq!(q.face_quality, 0.0);
    }

    #[test]
    fn sharp_large_frontal_face_scores_high() {
        let mut chip = Rgb8::new(150, 150);
        for (i, v) in chip.data.iter_mut().enumerate() {
            *v = if (i / 3 / 7) % 2 == 0 { 200 } else { 60 };
        }
        let q = measure(&frontal(1.0), &chip, &QualitySettings::default());
        assert!(q.face_quality > 90.0, "{q:?}");
        let small = measure(&frontal(0.1), &chip, &QualitySettings::default());
        assert!(small.face_quality < 10.0, "{small:?}");
    }
}
