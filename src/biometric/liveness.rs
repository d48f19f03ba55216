//! Passive liveness with MiniFASNet: each model sees the face box enlarged by its own scale,
//! cropped without padding and resized to 80x80; P(real) is the mean of the models' softmax[1].

use std::time::Duration;

use serde::Serialize;

use super::error::BiometricError;
use super::imageops::{ChannelOrder, Rgb8, pack_nchw, resize_linear_region};
use super::runtime::{ModelSession, first_output_f32};

/// Model input side.
pub const INPUT: usize = 80;

/// One MiniFASNet and its crop scale.
pub struct LivenessModel {
    pub name: String,
    pub crop_scale: f32,
    session: ModelSession,
}

impl std::fmt::Debug for LivenessModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivenessModel")
            .field("name", &self.name)
            .field("crop_scale", &self.crop_scale)
            .field("session", &self.session)
            .finish()
    }
}

/// Per-model and combined liveness figures.
#[derive(Clone, Debug, Serialize)]
pub struct LivenessScores {
    /// Mean P(real) over the models, 0..1.
    pub p_real: f32,
    /// `(model name, P(real))`.
    pub per_model: Vec<(String, f32)>,
    #[serde(skip)]
    pub model_time: Duration,
}

/// The crop rectangle `(x1, y1, x2, y2)`, inclusive, for a face box scaled by `scale` about its
/// centre: the scale is reduced so the box fits the image, the box is shifted back inside
/// (never padded) and the corners are truncated to integers.
pub fn crop_box(
    width: usize,
    height: usize,
    bbox: [f32; 4],
    scale: f32,
) -> (usize, usize, usize, usize) {
    let (src_w, src_h) = (width as f64, height as f64);
    let [x, y, bw, bh] = bbox.map(f64::from);
    let (bw, bh) = (bw.max(1e-6), bh.max(1e-6));
    let scale = f64::from(scale)
        .min((src_h - 1.0) / bh)
        .min((src_w - 1.0) / bw);
    let (nw, nh) = (bw * scale, bh * scale);
    let (cx, cy) = (x + bw / 2.0, y + bh / 2.0);
    let (mut x1, mut y1) = (cx - nw / 2.0, cy - nh / 2.0);
    let (mut x2, mut y2) = (cx + nw / 2.0, cy + nh / 2.0);
    if x1 < 0.0 {
        x2 -= x1;
        x1 = 0.0;
    }
    if y1 < 0.0 {
        y2 -= y1;
        y1 = 0.0;
    }
    if x2 > src_w - 1.0 {
        x1 -= x2 - src_w + 1.0;
        x2 = src_w - 1.0;
    }
    if y2 > src_h - 1.0 {
        y1 -= y2 - src_h + 1.0;
        y2 = src_h - 1.0;
    }
    // Python's int() truncates toward zero; clamp for boxes that still spill over.
    let t = |v: f64, max: f64| (v.trunc().clamp(0.0, max)) as usize;
    (
        t(x1, src_w - 1.0),
        t(y1, src_h - 1.0),
        t(x2, src_w - 1.0),
        t(y2, src_h - 1.0),
    )
}

/// The 80x80 model input for one scale.
pub fn crop_input(img: &Rgb8, bbox: [f32; 4], scale: f32) -> Rgb8 {
    let (x1, y1, x2, y2) = crop_box(img.width, img.height, bbox, scale);
    resize_linear_region(img, x1, y1, x2 - x1 + 1, y2 - y1 + 1, INPUT, INPUT)
}

fn softmax_real(logits: &[f32]) -> Result<f32, BiometricError> {
    if logits.len() != 3 {
        return Err(BiometricError::Runtime(format!(
            "liveness model returned {} values, expected 3",
            logits.len()
        )));
    }
    let m = logits.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = logits.iter().map(|v| (v - m).exp()).collect();
    Ok(e[1] / e.iter().sum::<f32>())
}

impl LivenessModel {
    pub fn new(name: String, crop_scale: f32, session: ModelSession) -> Self {
        Self {
            name,
            crop_scale,
            session,
        }
    }

    /// P(real) of this model for the face box, and the time spent in ONNX Runtime.
    pub fn p_real(&self, img: &Rgb8, bbox: [f32; 4]) -> Result<(f32, Duration), BiometricError> {
        let input = crop_input(img, bbox, self.crop_scale);
        let mut blob = Vec::with_capacity(INPUT * INPUT * 3);
        pack_nchw(&input, ChannelOrder::Bgr, INPUT, INPUT, &mut blob);
        let (logits, t) = self
            .session
            .run([1, 3, INPUT, INPUT], &blob, first_output_f32)?;
        Ok((softmax_real(&logits)?, t))
    }
}

/// Runs every model and averages P(real).
pub fn score(
    models: &[LivenessModel],
    img: &Rgb8,
    bbox: [f32; 4],
) -> Result<LivenessScores, BiometricError> {
    let mut per_model = Vec::with_capacity(models.len());
    let mut total = Duration::ZERO;
    for m in models {
        let (p, t) = m.p_real(img, bbox)?;
        total += t;
        per_model.push((m.name.clone(), p));
    }
    let p_real = per_model.iter().map(|(_, p)| p).sum::<f32>() / per_model.len().max(1) as f32;
    Ok(LivenessScores {
        p_real,
        per_model,
        model_time: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crop_is_scaled_about_the_centre() {
        // 100x100 box centred in a 1000x1000 image, scale 2.5 -> 250 wide.
        let (x1, y1, x2, y2) = crop_box(1000, 1000, [450.0, 450.0, 100.0, 100.0], 2.5);
        assert_eq!((x1, y1, x2, y2), (375, 375, 625, 625));
        // Like Python's int(), 364.99999999999997 truncates to 364 (100 * 2.7 is not exact).
        assert_eq!(
            crop_box(1000, 1000, [450.0, 450.0, 100.0, 100.0], 2.7).0,
            364
        );
    }

    #[test]
    fn crop_is_shifted_inside_not_padded() {
        let (x1, y1, x2, y2) = crop_box(640, 480, [0.0, 0.0, 100.0, 100.0], 4.0);
        assert_eq!((x1, y1), (0, 0));
        assert_eq!((x2, y2), (400, 400));
        let (x1, _, x2, _) = crop_box(640, 480, [600.0, 100.0, 40.0, 40.0], 2.5);
        assert_eq!((x1, x2), (539, 639));
    }

    #[test]
    fn scale_shrinks_to_fit_the_image() {
        // 4x a 200 px box would be 800 px; the image is 480 high: scale becomes 479/200.
        let (_, y1, _, y2) = crop_box(640, 480, [200.0, 100.0, 200.0, 200.0], 4.0);
        assert_eq!((y1, y2), (0, 479));
    }

    #[test]
    fn softmax_picks_the_real_class() {
        assert!((softmax_real(&[0.0, 0.0, 0.0]).unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert!(softmax_real(&[-10.0, 10.0, -10.0]).unwrap() > 0.999);
        assert!(softmax_real(&[1.0]).is_err());
    }
}
