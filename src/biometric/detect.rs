//! YuNet face detection: input packing, output decoding (as OpenCV `FaceDetectorYN`), NMS.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::BiometricError;
use super::imageops::{ChannelOrder, Rgb8, pack_nchw, resize_area, resize_area_integer_region};
use super::runtime::{ModelSession, output_f32};

/// A detected face in source-image pixel coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// `x, y, w, h` of the box.
    pub bbox: [f32; 4],
    /// Right eye (image-left), left eye, nose tip, right and left mouth corners.
    pub landmarks: [[f32; 2]; 5],
    /// Detection confidence, 0..1.
    pub score: f32,
}

impl Face {
    pub fn area(&self) -> f32 {
        self.bbox[2] * self.bbox[3]
    }

    /// Distance between the eye centres.
    pub fn eye_distance(&self) -> f32 {
        let [r, l] = [self.landmarks[0], self.landmarks[1]];
        ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2)).sqrt()
    }
}

/// Detector settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorSettings {
    /// Faces scoring below this are ignored (OpenCV's demo uses 0.9; 0.6 finds harder faces).
    pub score_threshold: f32,
    /// Boxes overlapping a stronger one by more than this IoU are suppressed.
    pub nms_iou: f32,
    /// Images larger than this (longer side) are shrunk with area averaging before detection.
    pub max_side: u32,
    /// When nothing is found, retry at these smaller longer-side sizes (YuNet was trained on
    /// faces up to ~300 px; a close-up face can be too big at full resolution).
    pub retry_sides: Vec<u32>,
    /// Most candidates kept before NMS.
    pub top_k: usize,
    /// Coarse-to-fine: when the image's longer side exceeds this, first detect at this size,
    /// then re-detect the largest face in a crop around it where the face is at most
    /// `refine_face_px` wide, for precise landmarks. 0 disables (one full-size pass).
    pub coarse_side: u32,
    /// Face size (longer box side, px) the refinement pass works at.
    pub refine_face_px: f32,
}

impl Default for DetectorSettings {
    fn default() -> Self {
        Self {
            score_threshold: 0.6,
            nms_iou: 0.3,
            max_side: 1280,
            retry_sides: vec![640, 320],
            top_k: 5000,
            coarse_side: 320,
            refine_face_px: 160.0,
        }
    }
}

/// What the detector found and how long it took.
#[derive(Clone, Debug, Default)]
pub struct Detection {
    /// Faces sorted by box area, largest first.
    pub faces: Vec<Face>,
    /// Time inside ONNX Runtime.
    pub model_time: Duration,
    /// The coarse image and its integer shrink factor, when the coarse pass ran.
    pub coarse: Option<(Rgb8, usize)>,
}

/// YuNet with its settings.
pub struct Detector {
    session: ModelSession,
    settings: DetectorSettings,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detector")
            .field("session", &self.session)
            .field("settings", &self.settings)
            .finish()
    }
}

const STRIDES: [usize; 3] = [8, 16, 32];

impl Detector {
    pub fn new(session: ModelSession, settings: DetectorSettings) -> Self {
        Self { session, settings }
    }

    pub fn settings(&self) -> &DetectorSettings {
        &self.settings
    }

    /// Finds faces; retries at smaller sizes when nothing is found at the first one.
    pub fn detect(&self, img: &Rgb8) -> Result<Detection, BiometricError> {
        let longer = img.width.max(img.height) as u32;
        let coarse = self.settings.coarse_side;
        if coarse >= 32 && longer > coarse {
            // Integer box-filter shrink, so the refinement can reuse these pixels.
            let c = longer.div_ceil(coarse) as usize;
            let small =
                resize_area_integer_region(img, 0, 0, img.width / c * c, img.height / c * c, c, c);
            let (mut faces, t1) = self.run_pass(&small)?;
            scale_faces(&mut faces, c as f32, 0.0, 0.0);
            if !faces.is_empty() {
                let (refined, t2) = self.refine(img, Some((&small, c)), &faces[0])?;
                faces[0] = refined;
                faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
                return Ok(Detection {
                    faces,
                    model_time: t1 + t2,
                    coarse: Some((small, c)),
                });
            }
        }
        let first = longer.min(self.settings.max_side.max(32));
        let mut sides = vec![first];
        sides.extend(
            self.settings
                .retry_sides
                .iter()
                .copied()
                .filter(|&s| s < first && s >= 32),
        );
        let mut total = Duration::ZERO;
        for side in sides {
            let (faces, t) = self.detect_at(img, side)?;
            total += t;
            if !faces.is_empty() {
                return Ok(Detection {
                    faces,
                    model_time: total,
                    coarse: None,
                });
            }
        }
        Ok(Detection {
            faces: Vec::new(),
            model_time: total,
            coarse: None,
        })
    }

    /// Re-detects `face` in a crop around it, shrunk by an integer factor (box filter) so the
    /// face is at most `refine_face_px` wide; reuses the coarse image (shrunk by `c`) when the
    /// factor allows. Falls back to `face` when the crop does not find it again.
    fn refine(
        &self,
        img: &Rgb8,
        coarse: Option<(&Rgb8, usize)>,
        face: &Face,
    ) -> Result<(Face, Duration), BiometricError> {
        let size = face.bbox[2].max(face.bbox[3]).max(1.0);
        let k = (size / self.settings.refine_face_px.max(16.0))
            .ceil()
            .max(1.0) as usize;
        let (src, c) = match coarse {
            Some((small, c)) if k >= c => (small, c),
            _ => (img, 1),
        };
        let k2 = k.div_ceil(c);
        let cf = c as f32;
        let margin = 0.6 * size;
        let x0 = ((face.bbox[0] - margin) / cf).floor().max(0.0) as usize;
        let y0 = ((face.bbox[1] - margin) / cf).floor().max(0.0) as usize;
        let x1 = (((face.bbox[0] + face.bbox[2] + margin) / cf)
            .ceil()
            .max(0.0) as usize)
            .min(src.width);
        let y1 = (((face.bbox[1] + face.bbox[3] + margin) / cf)
            .ceil()
            .max(0.0) as usize)
            .min(src.height);
        let (rw, rh) = (
            x1.saturating_sub(x0) / k2 * k2,
            y1.saturating_sub(y0) / k2 * k2,
        );
        if rw < 16 * k2 || rh < 16 * k2 {
            return Ok((face.clone(), Duration::ZERO));
        }
        let small = if k2 == 1 {
            src.crop(x0, y0, rw, rh)
        } else {
            resize_area_integer_region(src, x0, y0, rw, rh, k2, k2)
        };
        let (found, t) = self.run_pass(&small)?;
        let scale = (k2 * c) as f32;
        let (dx, dy) = ((x0 * c) as f32, (y0 * c) as f32);
        let expected = [
            (face.bbox[0] - dx) / scale,
            (face.bbox[1] - dy) / scale,
            face.bbox[2] / scale,
            face.bbox[3] / scale,
        ];
        let best = found
            .into_iter()
            .map(|f| (iou(&f.bbox, &expected), f))
            .filter(|(o, _)| *o >= 0.3)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        Ok(match best {
            Some((_, f)) => {
                let mut v = vec![f];
                scale_faces(&mut v, scale, dx, dy);
                (v.remove(0), t)
            }
            None => (face.clone(), t),
        })
    }

    /// One detection pass with the image's longer side scaled to `side` (never enlarged).
    pub fn detect_at(
        &self,
        img: &Rgb8,
        side: u32,
    ) -> Result<(Vec<Face>, Duration), BiometricError> {
        let longer = img.width.max(img.height);
        if (side as usize) >= longer {
            return self.run_pass(img);
        }
        let s = f64::from(side) / longer as f64;
        let w = ((img.width as f64 * s).round() as usize).max(1);
        let h = ((img.height as f64 * s).round() as usize).max(1);
        let scaled = resize_area(img, w, h);
        let (mut faces, t) = self.run_pass(&scaled)?;
        let (sx, sy) = (img.width as f32 / w as f32, img.height as f32 / h as f32);
        for f in &mut faces {
            f.bbox = [
                f.bbox[0] * sx,
                f.bbox[1] * sy,
                f.bbox[2] * sx,
                f.bbox[3] * sy,
            ];
            for p in &mut f.landmarks {
                p[0] *= sx;
                p[1] *= sy;
            }
        }
        Ok((faces, t))
    }

    /// Runs YuNet on `input` as it is (padded to multiples of 32); faces in its coordinates,
    /// largest first.
    fn run_pass(&self, input: &Rgb8) -> Result<(Vec<Face>, Duration), BiometricError> {
        let pad_w = input.width.div_ceil(32) * 32;
        let pad_h = input.height.div_ceil(32) * 32;
        let mut blob = Vec::with_capacity(pad_w * pad_h * 3);
        pack_nchw(input, ChannelOrder::Bgr, pad_w, pad_h, &mut blob);
        let (raw, t) = self.session.run([1, 3, pad_h, pad_w], &blob, |out| {
            let mut v = Vec::with_capacity(3);
            for s in STRIDES {
                v.push([
                    output_f32(out, &format!("cls_{s}"))?,
                    output_f32(out, &format!("obj_{s}"))?,
                    output_f32(out, &format!("bbox_{s}"))?,
                    output_f32(out, &format!("kps_{s}"))?,
                ]);
            }
            Ok(v)
        })?;
        let mut cands = decode(&raw, pad_w, pad_h, self.settings.score_threshold)?;
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        cands.truncate(self.settings.top_k);
        let mut faces = nms(cands, self.settings.nms_iou);
        faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok((faces, t))
    }
}

/// Maps faces from a shrunk image back: `x * scale + dx`, `y * scale + dy`.
fn scale_faces(faces: &mut [Face], scale: f32, dx: f32, dy: f32) {
    for f in faces {
        f.bbox = [
            f.bbox[0] * scale + dx,
            f.bbox[1] * scale + dy,
            f.bbox[2] * scale,
            f.bbox[3] * scale,
        ];
        for p in &mut f.landmarks {
            p[0] = p[0] * scale + dx;
            p[1] = p[1] * scale + dy;
        }
    }
}

/// Decodes the 12 YuNet outputs (`[cls, obj, bbox, kps]` per stride 8, 16, 32).
pub fn decode(
    raw: &[[Vec<f32>; 4]],
    pad_w: usize,
    pad_h: usize,
    threshold: f32,
) -> Result<Vec<Face>, BiometricError> {
    let mut faces = Vec::new();
    for (si, s) in STRIDES.iter().enumerate() {
        let cols = pad_w / s;
        let rows = pad_h / s;
        let n = cols * rows;
        let [cls, obj, bbox, kps] = &raw[si];
        if cls.len() != n || obj.len() != n || bbox.len() != n * 4 || kps.len() != n * 10 {
            return Err(BiometricError::Runtime(format!(
                "unexpected detector output sizes at stride {s}"
            )));
        }
        let s = *s as f32;
        for idx in 0..n {
            let score = (cls[idx].clamp(0.0, 1.0) * obj[idx].clamp(0.0, 1.0)).sqrt();
            if score < threshold {
                continue;
            }
            let r = (idx / cols) as f32;
            let c = (idx % cols) as f32;
            let b = &bbox[idx * 4..idx * 4 + 4];
            let cx = (c + b[0]) * s;
            let cy = (r + b[1]) * s;
            let w = b[2].exp() * s;
            let h = b[3].exp() * s;
            let k = &kps[idx * 10..idx * 10 + 10];
            let mut landmarks = [[0f32; 2]; 5];
            for (i, lm) in landmarks.iter_mut().enumerate() {
                *lm = [(k[2 * i] + c) * s, (k[2 * i + 1] + r) * s];
            }
            faces.push(Face {
                bbox: [cx - w / 2.0, cy - h / 2.0, w, h],
                landmarks,
                score,
            });
        }
    }
    Ok(faces)
}

/// Intersection over union of two `x, y, w, h` boxes.
pub fn iou(a: &[f32; 4], b: &[f32; 4]) -> f32 {
    let x1 = a[0].max(b[0]);
    let y1 = a[1].max(b[1]);
    let x2 = (a[0] + a[2]).min(b[0] + b[2]);
    let y2 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// Greedy non-maximum suppression over candidates sorted by descending score.
pub fn nms(sorted: Vec<Face>, threshold: f32) -> Vec<Face> {
    let mut kept: Vec<Face> = Vec::new();
    for f in sorted {
        if kept.iter().all(|k| iou(&k.bbox, &f.bbox) <= threshold) {
            kept.push(f);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, w: f32, h: f32, score: f32) -> Face {
        Face {
            bbox: [x, y, w, h],
            landmarks: [[0.0; 2]; 5],
            score,
        }
    }

    #[test]
    fn iou_of_identical_and_disjoint_boxes() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert!((iou(&a, &a) - 1.0).abs() < 1e-6);
        assert_eq!(iou(&a, &[20.0, 20.0, 5.0, 5.0]), 0.0);
        assert!((iou(&a, &[5.0, 0.0, 10.0, 10.0]) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn nms_keeps_the_strongest_of_overlapping_boxes() {
        let kept = nms(
            vec![
                face(0.0, 0.0, 10.0, 10.0, 0.9),
                face(1.0, 1.0, 10.0, 10.0, 0.8),
                face(50.0, 50.0, 10.0, 10.0, 0.7),
            ],
            0.3,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].bbox[0], 50.0);
    }

    #[test]
    fn decode_places_an_anchor_like_opencv() {
        // A 32x32 padded input: stride 8 has 4x4 anchors, 16 has 2x2, 32 has 1x1.
        let mk = |n: usize| -> [Vec<f32>; 4] {
            [
                vec![0.0; n],
                vec![0.0; n],
                vec![0.0; n * 4],
                vec![0.0; n * 10],
            ]
        };
        let mut raw = vec![mk(16), mk(4), mk(1)];
        // Anchor at row 1, col 2 of stride 8 (index 6).
        raw[0][0][6] = 0.81;
        raw[0][1][6] = 1.0;
        raw[0][2][24..28].copy_from_slice(&[0.5, 0.25, 0.0, (2.0f32).ln()]);
        raw[0][3][60] = 0.5; // first landmark dx
        let faces = decode(&raw, 32, 32, 0.6).unwrap();
        assert_eq!(faces.len(), 1);
        let f = &faces[0];
        assert!((f.score - 0.9).abs() < 1e-6);
        // cx = (2 + 0.5) * 8 = 20, cy = (1 + 0.25) * 8 = 10, w = 8, h = 16
        assert_eq!(f.bbox, [16.0, 2.0, 8.0, 16.0]);
        assert_eq!(f.landmarks[0], [20.0, 8.0]);
    }

    #[test]
    fn decode_rejects_wrong_output_sizes() {
        let raw = vec![
            [vec![0.0; 3], vec![0.0; 3], vec![], vec![]],
            [vec![], vec![], vec![], vec![]],
            [vec![], vec![], vec![], vec![]],
        ];
        assert!(decode(&raw, 32, 32, 0.6).is_err());
    }
}
