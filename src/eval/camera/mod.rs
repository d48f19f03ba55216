//! A responding test camera for the capture protocol: it answers a challenge from recorded
//! footage of a real person, as a person in front of the screen would.
//!
//! - Colours: the colour on screen (after a camera latency) is added to the face as a
//!   reflection: `p + k * w * p * c / 255` per channel, where `w` falls off from the nose
//!   outwards (the parts nearest the screen receive most light) and is ~0 on the background.
//! - Actions: the head pose comes from recorded frames whose landmark yaw fits: a recorded
//!   turn played forward after a reaction time, held, and played back to face the camera. A
//!   turn the footage only shows to one side is played mirrored for the other side (the
//!   mirror image of a real head turning is a real head turning the other way).
//! - Between actions, and for PASSIVE and FLASHING, the straight-ahead part of the footage
//!   plays in order.
//!
//! It proves the protocol and the thresholds end to end; it does not prove strength against a
//! real-time 3-D reenactment (see docs/security-model.md). The same machinery, told to answer
//! wrongly, is the attack suite's responding attacker.

use crate::biometric::capture::{CaptureSpec, ColourStep};
use crate::biometric::detect::Face;
use crate::biometric::imageops::{Rgb8, resize_to};
use crate::biometric::{CapturedFrame, Engine, Want, decode};

mod rendered;
use rendered::RenderKey;
pub use rendered::Rendered;

/// Splits an MJPEG stream (a camera recording) into its JPEG frames.
pub fn mjpeg_frames(data: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut i = 0;
    while let Some(s) = data[i..].windows(2).position(|w| w == [0xFF, 0xD8]) {
        let start = i + s;
        let Some(e) = data[start + 2..].windows(2).position(|w| w == [0xFF, 0xD9]) else {
            break;
        };
        let end = start + 2 + e + 2;
        frames.push(data[start..end].to_vec());
        i = end;
    }
    frames
}

/// A small deterministic generator (xorshift64*): reproducible attack suites and jitter.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..1`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    pub fn below(&mut self, n: u32) -> u32 {
        (self.next_u64() % u64::from(n.max(1))) as u32
    }
    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f64 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One frame of footage with its face.
#[derive(Clone, Debug)]
pub struct Shot {
    pub image: Rgb8,
    pub face: Face,
    pub yaw: f32,
}

impl Shot {
    /// The mirror image (a head turned the other way).
    pub fn mirrored(&self) -> Shot {
        let w = self.image.width as f32;
        let mut face = self.face.clone();
        face.bbox[0] = w - face.bbox[0] - face.bbox[2];
        // Mirroring swaps which landmark is on the image's left.
        let l = face.landmarks.map(|[x, y]| [w - 1.0 - x, y]);
        face.landmarks = [l[1], l[0], l[2], l[4], l[3]];
        Shot {
            image: self.image.flip_horizontal(),
            face,
            yaw: -self.yaw,
        }
    }
}

/// Frames of a recording, sorted into what the camera can play.
#[derive(Clone, Debug)]
pub struct Footage {
    pub shots: Vec<Shot>,
    /// Consecutive shots facing the camera (|yaw| <= 7 degrees), in recording order.
    centre: Vec<usize>,
    /// A recorded turn: consecutive shots from facing the camera to the turn's peak.
    turn: Vec<usize>,
    /// Sign of the yaw along `turn`.
    turn_sign: f32,
}

/// Decodes a picture and fits it to `w` x `h` by cropping to the aspect ratio and scaling
/// (like a camera's view), then finds its face.
pub fn shot(engine: &Engine, bytes: &[u8], w: usize, h: usize) -> Result<Shot, String> {
    let d = decode::decode(bytes, &engine.settings().limits).map_err(|e| e.to_string())?;
    let image = cover(&d.image, w, h);
    shot_of(engine, image)
}

/// Finds the face of an image already at its final size.
pub fn shot_of(engine: &Engine, image: Rgb8) -> Result<Shot, String> {
    let a = engine
        .analyze_decoded(
            &decode::DecodedImage {
                image: image.clone(),
                format: "rgb",
                greyscale: false,
                exif_orientation: 1,
            },
            Want::default(),
        )
        .map_err(|e| e.to_string())?;
    let f = a.face.ok_or("no face in the picture")?;
    Ok(Shot {
        image,
        yaw: f.quality.yaw_deg,
        face: f.face,
    })
}

/// Mean absolute difference of two equally sized images, on a 4-pixel grid.
fn mean_difference(a: &Rgb8, b: &Rgb8) -> f64 {
    if (a.width, a.height) != (b.width, b.height) {
        return f64::INFINITY;
    }
    let (mut sum, mut n) = (0u64, 0u64);
    for y in (0..a.height).step_by(4) {
        for x in (0..a.width).step_by(4) {
            let (p, q) = (a.pixel(x, y), b.pixel(x, y));
            sum += (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>();
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

/// Crops `img` to the aspect ratio of `w` x `h` around its centre and scales it to that size.
pub fn cover(img: &Rgb8, w: usize, h: usize) -> Rgb8 {
    if img.width == w && img.height == h {
        return img.clone();
    }
    let s = (w as f64 / img.width as f64).max(h as f64 / img.height as f64);
    let (cw, ch) = (
        ((w as f64 / s).round() as usize).clamp(1, img.width),
        ((h as f64 / s).round() as usize).clamp(1, img.height),
    );
    let crop = img.crop((img.width - cw) / 2, (img.height - ch) / 2, cw, ch);
    resize_to(&crop, w, h)
}

/// What a browser-side copy of the test camera needs to know about the footage.
#[derive(Debug, serde::Serialize)]
pub struct FootageDescription {
    /// Per shot: face box (x, y, w, h), nose landmark, yaw.
    pub shots: Vec<ShotDescription>,
    pub centre: Vec<usize>,
    pub turn: Vec<usize>,
    pub turn_sign: f32,
}

#[derive(Debug, serde::Serialize)]
pub struct ShotDescription {
    pub file: String,
    pub bbox: [f32; 4],
    pub nose: [f32; 2],
    pub yaw: f32,
}

impl Footage {
    /// The footage for a browser-side test camera (`file` names are `NNN.jpg`, in order).
    pub fn describe(&self) -> FootageDescription {
        FootageDescription {
            shots: self
                .shots
                .iter()
                .enumerate()
                .map(|(i, s)| ShotDescription {
                    file: format!("{i:03}.jpg"),
                    bbox: s.face.bbox,
                    nose: s.face.landmarks[2],
                    yaw: s.yaw,
                })
                .collect(),
            centre: self.centre.clone(),
            turn: self.turn.clone(),
            turn_sign: self.turn_sign,
        }
    }

    /// The recorded turn's yaws (for reports and tests).
    pub fn turn_yaws(&self) -> Vec<f32> {
        self.turn.iter().map(|&i| self.shots[i].yaw).collect()
    }

    /// Analyses every frame of a recording (JPEG frames, e.g. an MJPEG file split).
    pub fn load(engine: &Engine, jpegs: &[Vec<u8>], w: usize, h: usize) -> Result<Self, String> {
        let mut shots: Vec<Shot> = Vec::new();
        for j in jpegs {
            let Ok(s) = shot(engine, j, w, h) else {
                continue;
            };
            // A recording converted to a higher frame rate repeats frames; a camera never
            // delivers the same picture twice.
            if shots
                .last()
                .is_none_or(|p| mean_difference(&p.image, &s.image) > 0.5)
            {
                shots.push(s);
            }
        }
        let (turn, turn_sign) = recorded_turn(&shots).ok_or(
            "the footage shows no head turn (from facing the camera to 25 degrees, smoothly)",
        )?;
        // Facing the camera: the consecutive shots within 7 degrees that lead into the turn
        // (one continuous stretch of the recording, so the scene behind stays the same).
        let mut centre = vec![turn[0]];
        while let Some(&first) = centre.first() {
            if first == 0 || shots[first - 1].yaw.abs() > 7.0 {
                break;
            }
            centre.insert(0, first - 1);
        }
        if centre.len() < 4 {
            return Err("the footage has too few frames facing the camera before its turn".into());
        }
        Ok(Self {
            shots,
            centre,
            turn,
            turn_sign,
        })
    }

    /// A shot, mirrored or not.
    fn get(&self, (i, mirrored): (usize, bool)) -> Shot {
        if mirrored {
            self.shots[i].mirrored()
        } else {
            self.shots[i].clone()
        }
    }

    /// The shot the camera shows at `t_ms` for this challenge (index, mirrored).
    fn at(&self, spec: &CaptureSpec, t_ms: f64, start: usize) -> (usize, bool) {
        const REACTION_MS: f64 = 250.0;
        const FORWARD_MS: f64 = 50.0;
        const BACK_MS: f64 = 30.0;
        let n = self.turn.len() as f64;
        for a in &spec.actions {
            let (s, e) = (f64::from(a.start_ms), f64::from(a.end_ms));
            let back_at = e - 150.0;
            let step = if t_ms >= s + REACTION_MS && t_ms < back_at {
                let k = (t_ms - s - REACTION_MS) / FORWARD_MS;
                // At the peak the head is not frozen: it sways over the last three shots.
                Some(if k < n - 1.0 {
                    k
                } else {
                    n - 1.0 - (k as usize % 3) as f64
                })
            } else if t_ms >= back_at && t_ms < back_at + BACK_MS * n {
                let peak = ((back_at - s - REACTION_MS) / FORWARD_MS).min(n - 1.0);
                Some(peak - (t_ms - back_at) / BACK_MS)
            } else {
                None
            };
            if let Some(k) = step.filter(|k| *k >= 0.0) {
                let (i, mirrored) = (self.turn[k as usize], a.action.yaw_sign() != self.turn_sign);
                // A mirrored shot flips the room too: nearly straight ahead, the camera shows
                // the unmirrored straight-ahead footage instead.
                if !mirrored || self.shots[i].yaw.abs() >= 8.0 {
                    return (i, mirrored);
                }
            }
        }
        // Facing the camera: the straight-ahead frames in order, 30 per second, back and
        // forth.
        let m = self.centre.len();
        let k = start + (t_ms / 33.3) as usize;
        let period = 2 * m - 2;
        let p = k % period.max(1);
        let i = if p < m { p } else { period - p };
        (self.centre[i], false)
    }
}

/// A recorded turn: the most direct run of consecutive shots going smoothly (at most 10
/// degrees a frame, never turning the other way) from facing the camera (|yaw| <= 3) to at
/// least 25 degrees one way.
fn recorded_turn(shots: &[Shot]) -> Option<(Vec<usize>, f32)> {
    let mut best: Option<(Vec<usize>, f32)> = None;
    for end in 0..shots.len() {
        if shots[end].yaw.abs() < 25.0 {
            continue;
        }
        let sign = shots[end].yaw.signum();
        let mut j = end;
        while j > 0
            && shots[j].yaw.abs() > 3.0
            && (shots[j - 1].yaw - shots[j].yaw).abs() <= 10.0
            && sign * shots[j - 1].yaw >= -5.0
        {
            j -= 1;
        }
        if shots[j].yaw.abs() > 3.0 || end - j < 6 {
            continue;
        }
        if best.as_ref().is_none_or(|(b, _)| end - j + 1 < b.len()) {
            best = Some(((j..=end).collect(), sign));
        }
    }
    best
}

/// How the camera answers the colours.
#[derive(Clone, Debug, PartialEq)]
pub enum Colours {
    /// The reflection of what the screen shows.
    Reflect,
    /// The reflection of another sequence (same times, other colours).
    Other(Vec<[u8; 3]>),
    /// The right reflection, this much later.
    Late(f64),
    /// The colour added evenly to the whole picture.
    Uniform,
    /// No change at all.
    Ignore,
}

/// How the camera answers a challenge.
#[derive(Clone, Debug)]
pub struct Answer {
    pub colours: Colours,
    /// Reflection strength `k` at the nose (the light from the screen relative to the room's).
    pub strength: f32,
    /// Time between the screen changing and the camera seeing it.
    pub latency_ms: f64,
    /// Whether the head follows the actions (else it keeps facing the camera).
    pub follow_actions: bool,
    pub jpeg_quality: u8,
}

impl Default for Answer {
    fn default() -> Self {
        Self {
            colours: Colours::Reflect,
            strength: 0.12,
            latency_ms: 60.0,
            follow_actions: true,
            jpeg_quality: 88,
        }
    }
}

/// Capture times for a challenge: every frame interval with a little jitter, from 0 to the
/// end of the sequence.
pub fn stamps(spec: &CaptureSpec, rng: &mut Rng) -> Vec<f64> {
    let step = f64::from(spec.frame_interval_ms);
    let mut v = vec![0.0];
    while *v.last().unwrap_or(&0.0) + step <= f64::from(spec.duration_ms) + 1.0 {
        let next = v[v.len() - 1] + step + rng.range(-12.0, 12.0);
        v.push(next.min(f64::from(spec.duration_ms)));
    }
    v
}

/// Records the answer to a challenge from the footage.
pub fn record(
    footage: &Footage,
    spec: &CaptureSpec,
    answer: &Answer,
    rng: &mut Rng,
) -> Vec<CapturedFrame> {
    record_with(footage, spec, answer, rng, None)
}

/// Records the answer, taking the encoded frames from `rendered` when it holds them (the
/// same shot under the same light always encodes alike).
pub fn record_with(
    footage: &Footage,
    spec: &CaptureSpec,
    answer: &Answer,
    rng: &mut Rng,
    rendered: Option<&Rendered>,
) -> Vec<CapturedFrame> {
    let start = rng.below(footage.centre.len() as u32) as usize;
    let still_head = CaptureSpec {
        actions: vec![],
        ..spec.clone()
    };
    let timeline = if answer.follow_actions {
        spec
    } else {
        &still_head
    };
    let mut last = None;
    stamps(spec, rng)
        .into_iter()
        .map(|t| {
            // A camera never delivers the same picture twice: a moment later, it differs.
            let mut key = footage.at(timeline, t, start);
            let mut later = t;
            while Some(key) == last && later < t + 200.0 {
                later += 34.0;
                key = footage.at(timeline, later, start);
            }
            last = Some(key);
            let (colour, uniform) = screen_light(spec, answer, t);
            let encode = || {
                let shot = footage.get(key);
                let image = match colour {
                    Some(c) => reflect(&shot.image, &shot.face, c, answer.strength, uniform),
                    None => shot.image,
                };
                decode::encode_jpeg(&image, answer.jpeg_quality).unwrap_or_default()
            };
            let bytes = match rendered {
                Some(r) => r.get_or_render(RenderKey::new(key, colour, uniform, answer), encode),
                None => encode(),
            };
            CapturedFrame { bytes, t_ms: t }
        })
        .collect()
}

/// The shot as the camera sees it at `t_ms` under the screen's light.
pub fn light(shot: &Shot, spec: &CaptureSpec, answer: &Answer, t_ms: f64) -> Rgb8 {
    match screen_light(spec, answer, t_ms) {
        (Some(c), uniform) => reflect(&shot.image, &shot.face, c, answer.strength, uniform),
        (None, _) => shot.image.clone(),
    }
}

/// The colour the camera sees reflected at `t_ms` (after its latency), and whether it tints
/// the whole picture evenly.
fn screen_light(spec: &CaptureSpec, answer: &Answer, t_ms: f64) -> (Option<[u8; 3]>, bool) {
    let seen = t_ms - answer.latency_ms;
    let colour = |steps: &[ColourStep], at: f64| -> Option<[u8; 3]> {
        steps
            .iter()
            .find(|c| at >= f64::from(c.start_ms) && at < f64::from(c.end_ms))
            .map(|c| c.rgb)
    };
    match &answer.colours {
        Colours::Reflect => (colour(&spec.colours, seen), false),
        Colours::Late(ms) => (colour(&spec.colours, seen - ms), false),
        Colours::Other(seq) => (
            spec.colour_at(seen)
                .and_then(|i| seq.get(i % seq.len().max(1)).copied()),
            false,
        ),
        Colours::Uniform => (colour(&spec.colours, seen), true),
        Colours::Ignore => (None, false),
    }
}

/// Adds the light of screen colour `c` to the face (falling off from the nose), or evenly to
/// the whole picture.
pub fn reflect(img: &Rgb8, face: &Face, c: [u8; 3], k: f32, uniform: bool) -> Rgb8 {
    let mut out = img.clone();
    let [_, _, nose, _, _] = face.landmarks;
    let (rx, ry) = (face.bbox[2] * 0.55, face.bbox[3] * 0.6);
    let gain = c.map(|v| k * f32::from(v) / 255.0);
    for y in 0..img.height {
        let dy = (y as f32 - nose[1]) / ry;
        for x in 0..img.width {
            let w = if uniform {
                1.0
            } else {
                let dx = (x as f32 - nose[0]) / rx;
                let d2 = dx * dx + dy * dy;
                if d2 >= 3.0 {
                    continue;
                }
                // The head and what is near it; nothing on the room behind.
                (-d2).exp() * (1.0 - d2 / 3.0)
            };
            let i = (y * img.width + x) * 3;
            for (v, g) in out.data[i..i + 3].iter_mut().zip(gain) {
                let p = f32::from(*v);
                *v = (p + w * g * p).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirroring_flips_the_yaw_and_keeps_the_landmark_order() {
        let face = Face {
            bbox: [100.0, 50.0, 80.0, 100.0],
            landmarks: [
                [120.0, 90.0],
                [160.0, 90.0],
                [150.0, 110.0],
                [125.0, 130.0],
                [155.0, 130.0],
            ],
            score: 0.9,
        };
        let s = Shot {
            image: Rgb8::new(320, 240),
            face,
            yaw: 20.0,
        };
        let m = s.mirrored();
        assert_eq!(m.yaw, -20.0);
        assert_eq!(m.face.bbox[0], 320.0 - 180.0);
        // Still "image-left eye first".
        assert!(m.face.landmarks[0][0] < m.face.landmarks[1][0]);
        assert!(m.face.landmarks[3][0] < m.face.landmarks[4][0]);
        assert_eq!(m.face.landmarks[2][0], 319.0 - 150.0);
    }

    #[test]
    fn a_reflection_lights_the_face_not_the_background() {
        let mut img = Rgb8::new(200, 150);
        img.data.iter_mut().for_each(|v| *v = 100);
        let face = Face {
            bbox: [70.0, 40.0, 60.0, 70.0],
            landmarks: [
                [85.0, 60.0],
                [115.0, 60.0],
                [100.0, 75.0],
                [88.0, 95.0],
                [112.0, 95.0],
            ],
            score: 0.9,
        };
        let lit = reflect(&img, &face, [0, 0, 255], 0.2, false);
        assert_eq!(lit.pixel(100, 75), [100, 100, 120]);
        assert_eq!(lit.pixel(100, 140), [100, 100, 100]);
        assert_eq!(lit.pixel(2, 2), [100, 100, 100]);
        let tinted = reflect(&img, &face, [0, 0, 255], 0.2, true);
        assert_eq!(tinted.pixel(2, 2), [100, 100, 120]);
    }
}
