//! A capture judged against its challenge: the one way frames from a camera are judged.
//!
//! 1. The frame count and timestamps are checked against the challenge before anything is
//!    decoded ([`timing`]).
//! 2. Every frame is decoded and searched (frames are spread over the cores): it must have the
//!    challenge's size and exactly one person's face. Its landmarks give the pose, its face and
//!    background give the colours the flash analysis needs.
//! 3. No two consecutive frames may be identical; FLASHING checks the colour response,
//!    ACTIVE_3D the head actions (and the colours unless motion-only).
//! 4. Only then the models that cost most: the best straight-ahead frames (and their mirror
//!    images) are embedded and averaged into the embedding that is matched; with them the
//!    frames that carry the challenge's evidence, some drawn at random after the upload
//!    ([`identity`]), and every two of these must lie close to each other (one identity
//!    throughout); the passive liveness models run on the best frames.
//!
//! Any deviation is a risk in the outcome; the caller declines on any capture-protocol risk.

use std::time::Instant;

use serde::Serialize;

use super::capture::{CaptureSpec, LivenessMethod, Sample, flash, identity, motion, timing};
use super::decode::{self, DecodedImage};
use super::detect::Face;
use super::engine::{Engine, another_person};
use super::error::BiometricError;
use super::imageops::Rgb8;
use super::quality::{self, Quality};
use super::score::{LivenessVerdict, MatchVerdict, Risk, Status, liveness_verdict};
use super::{align, embed, liveness};

/// One uploaded frame and its capture time (ms from the start of the sequence).
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    pub bytes: Vec<u8>,
    pub t_ms: f64,
}

/// One frame of a capture, summarised for the decision log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FrameSummary {
    pub t_ms: f64,
    pub faces: usize,
    pub yaw: Option<f32>,
    pub face_quality: Option<f32>,
    pub p_real: Option<f64>,
    /// Largest distance of this frame's embedding from any other compared frame's (absent
    /// when the frame was not among those compared).
    pub identity_distance: Option<f64>,
    pub error: Option<String>,
}

/// What a capture showed.
#[derive(Clone, Debug, Serialize)]
pub struct CaptureOutcome {
    pub method: LivenessMethod,
    /// ACTIVE_3D without the colour sequence.
    pub motion_only: bool,
    pub frames: Vec<FrameSummary>,
    /// Passive liveness over the best frames (absent when the protocol already failed).
    pub liveness: Option<LivenessVerdict>,
    /// The fused embedding that is matched against the enrolment.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
    /// Frames averaged into `embedding`.
    pub fused_from: Vec<usize>,
    pub quality: Option<Quality>,
    pub detection_score: Option<f32>,
    pub flash: Option<flash::FlashEvidence>,
    pub motion: Option<motion::MotionEvidence>,
    /// Largest distance between the embeddings of any two frames.
    pub identity_distance: Option<f64>,
    /// Smallest mean grey-level difference between consecutive frames.
    pub frame_variation: Option<f64>,
    /// Everything that went wrong; capture-protocol risks always decline.
    pub risks: Vec<Risk>,
    /// Time to decode, search and measure every frame (the rest is the checks and, for a
    /// burst that satisfied its challenge, the embedder and liveness models).
    pub measure_ms: f64,
    pub elapsed_ms: f64,
}

impl CaptureOutcome {
    /// Whether the burst satisfied its challenge (liveness scores and matching aside).
    pub fn protocol_ok(&self) -> bool {
        !self.risks.iter().any(|r| r.is_capture_protocol())
    }

    /// Whether the capture proves a live person: the challenge was satisfied and the passive
    /// models agree.
    pub fn live(&self) -> bool {
        self.protocol_ok()
            && self
                .liveness
                .as_ref()
                .is_some_and(|l| l.status == Status::Approved)
    }

    /// The step-up rule: a live person (`live`), the face matched, and no second person in
    /// any frame when `decline_multiple_faces` is on.
    pub fn approves(
        &self,
        face_match: Option<&MatchVerdict>,
        decline_multiple_faces: bool,
    ) -> bool {
        self.live()
            && face_match.is_some_and(|m| m.status == Status::Approved)
            && !(decline_multiple_faces && self.risks.contains(&Risk::MultipleFacesDetected))
    }

    /// An outcome that judged nothing: the capture was refused for `risks` before analysis.
    pub fn refused(spec: &CaptureSpec, frames: Vec<FrameSummary>, risks: Vec<Risk>) -> Self {
        Self {
            method: spec.method,
            motion_only: spec.motion_only(),
            frames,
            liveness: None,
            embedding: None,
            fused_from: Vec::new(),
            quality: None,
            detection_score: None,
            flash: None,
            motion: None,
            identity_distance: None,
            frame_variation: None,
            risks,
            measure_ms: 0.0,
            elapsed_ms: 0.0,
        }
    }
}

/// A decoded frame with its face.
struct Seen {
    image: DecodedImage,
    face: Face,
    chip: Rgb8,
    quality: Quality,
    sample: Sample,
}

/// Runs `f` on every item, spread over up to `threads` scoped threads; results in order.
fn par_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let n = threads.clamp(1, items.len().max(1));
    if n == 1 {
        return items.iter().enumerate().map(|(i, t)| f(i, t)).collect();
    }
    let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..n)
            .map(|w| {
                scope.spawn(move || {
                    (w..items.len())
                        .step_by(n)
                        .map(|i| (i, f(i, &items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (i, r) in h.join().expect("a capture worker panicked") {
                out[i] = Some(r);
            }
        }
    });
    out.into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Mean RGB over a rectangle, every `step` pixels, skipping pixels inside `hole`, how many
/// pixels it averaged and how many of them were clipped (a channel at 250 or more: light
/// cannot brighten them further).
fn mean_rgb(
    img: &Rgb8,
    rect: [f32; 4],
    hole: Option<[f32; 4]>,
    step: usize,
) -> Option<([f32; 3], u64, u64)> {
    let clamp = |v: f32, max: usize| (v.max(0.0) as usize).min(max);
    let (x0, y0) = (clamp(rect[0], img.width), clamp(rect[1], img.height));
    let (x1, y1) = (
        clamp(rect[0] + rect[2], img.width),
        clamp(rect[1] + rect[3], img.height),
    );
    let inside = |x: usize, y: usize| {
        hole.is_some_and(|h| {
            let (x, y) = (x as f32, y as f32);
            x >= h[0] && x < h[0] + h[2] && y >= h[1] && y < h[1] + h[3]
        })
    };
    let (mut sum, mut n, mut clipped) = ([0u64; 3], 0u64, 0u64);
    for y in (y0..y1).step_by(step) {
        for x in (x0..x1).step_by(step) {
            if inside(x, y) {
                continue;
            }
            let p = img.pixel(x, y);
            for k in 0..3 {
                sum[k] += u64::from(p[k]);
            }
            clipped += u64::from(p.iter().any(|&v| v >= 250));
            n += 1;
        }
    }
    (n > 0).then(|| (sum.map(|s| s as f32 / n as f32), n, clipped))
}

/// The colours of the regions a screen's light is measured on (see `colours`).
struct Regions {
    face: [f32; 3],
    rim: [f32; 3],
    background: Option<[f32; 3]>,
    /// Share of the face's and its sides' pixels that are clipped.
    clipped: f32,
}

/// The central face (between the eyes and the mouth), its sides (outside the eyes, at the
/// same height) and the background (the frame's top and side bands, away from the head).
fn colours(img: &Rgb8, face: &Face) -> Regions {
    let [re, le, _, rm, lm] = face.landmarks;
    let x0 = re[0].min(rm[0]);
    let x1 = le[0].max(lm[0]);
    let y0 = (re[1] + le[1]) / 2.0;
    let y1 = (rm[1] + lm[1]) / 2.0;
    let centre = mean_rgb(img, [x0, y0, x1 - x0, y1 - y0], None, 2);
    let face_rgb = centre.map_or([0.0; 3], |m| m.0);
    let [bx, by, bw, bh] = face.bbox;
    let gap = (le[0] - re[0]).abs() * 0.1;
    let (l, r) = (
        [bx, y0, (re[0] - gap - bx).max(1.0), y1 - y0],
        [le[0] + gap, y0, (bx + bw - le[0] - gap).max(1.0), y1 - y0],
    );
    let (l, r) = (mean_rgb(img, l, None, 2), mean_rgb(img, r, None, 2));
    let (measured, clipped) = [centre, l, r]
        .iter()
        .flatten()
        .fold((0, 0), |(n, c), m| (n + m.1, c + m.2));
    let rim_rgb = match (l.map(|m| m.0), r.map(|m| m.0)) {
        (Some(a), Some(b)) => [0, 1, 2].map(|k| (a[k] + b[k]) / 2.0),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => face_rgb,
    };
    let head = [bx - bw * 0.5, by - bh * 0.5, bw * 2.0, bh * 2.0];
    let (w, h) = (img.width as f32, img.height as f32);
    // Above and beside the head, not below it (the body is nearly as close to the screen).
    let bands = [
        [0.0, 0.0, w, h * 0.25],
        [0.0, 0.0, w * 0.2, h * 0.7],
        [w * 0.8, 0.0, w * 0.2, h * 0.7],
    ];
    // Enough of it to measure: at least 2 % of the picture.
    let (mut sum, mut n) = ([0.0f32; 3], 0u64);
    for b in bands {
        if let Some((m, k, _)) = mean_rgb(img, b, Some(head), 4) {
            for c in 0..3 {
                sum[c] += m[c] * k as f32;
            }
            n += k;
        }
    }
    let min = (img.width * img.height / 16 / 50) as u64;
    let bg = (n >= min.max(1)).then(|| sum.map(|v| v / n as f32));
    Regions {
        face: face_rgb,
        rim: rim_rgb,
        background: bg,
        clipped: clipped as f32 / measured.max(1) as f32,
    }
}

/// Mean absolute difference of the grey levels of two equally sized images, sampled on a
/// 4-pixel grid.
fn grey_difference(a: &Rgb8, b: &Rgb8) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    let g = |p: [u8; 3]| u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114;
    for y in (0..a.height.min(b.height)).step_by(4) {
        for x in (0..a.width.min(b.width)).step_by(4) {
            sum += u64::from(g(a.pixel(x, y)).abs_diff(g(b.pixel(x, y))));
            n += 1;
        }
    }
    sum as f64 / n.max(1) as f64 / 1000.0
}

impl Engine {
    /// Judges a capture against its challenge (see the module documentation).
    pub fn analyze_capture(
        &self,
        frames: &[CapturedFrame],
        spec: &CaptureSpec,
        pick: &mut dyn FnMut(u32) -> u32,
    ) -> Result<CaptureOutcome, BiometricError> {
        let t0 = Instant::now();
        let checks = &self.settings.capture;
        let stamps: Vec<f64> = frames.iter().map(|f| f.t_ms).collect();
        let summary = |f: &CapturedFrame| FrameSummary {
            t_ms: f.t_ms,
            ..FrameSummary::default()
        };
        let shape = timing::check(spec, &stamps, checks.settle_ms);
        if !shape.is_empty() {
            let mut o = CaptureOutcome::refused(spec, frames.iter().map(summary).collect(), shape);
            o.elapsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
            return Ok(o);
        }

        // Every frame: decoded, searched, measured.
        let seen = par_map(frames, self.threads(), |_, f| self.see(f, spec));
        let mut summaries: Vec<FrameSummary> = frames.iter().map(summary).collect();
        let mut risks = Vec::new();
        let mut good: Vec<(usize, Seen)> = Vec::new();
        for (i, r) in seen.into_iter().enumerate() {
            match r {
                Ok((faces, Some(s))) => {
                    summaries[i].faces = faces.len();
                    summaries[i].yaw = Some(s.sample.yaw);
                    summaries[i].face_quality = Some(s.quality.face_quality);
                    let min_eye =
                        s.face.eye_distance() * self.settings.multiple_faces_min_relative_size;
                    if faces[1..]
                        .iter()
                        .any(|o| another_person(&s.face, o, min_eye))
                    {
                        risks.push(Risk::MultipleFacesDetected);
                    }
                    good.push((i, s));
                }
                Ok((_, None)) => risks.push(Risk::FrameWithoutFace),
                Err(Frame::Size) => {
                    summaries[i].error = Some("FRAME_SIZE_MISMATCH".into());
                    risks.push(Risk::FrameSizeMismatch);
                }
                Err(Frame::Bad(e)) => {
                    summaries[i].error = Some(e.code().into());
                    if !e.is_client_error() {
                        return Err(e);
                    }
                    risks.push(Risk::UndecodableFrame);
                }
            }
        }
        if good.is_empty() {
            risks.push(Risk::NoFaceDetected);
        }
        let mut outcome = CaptureOutcome::refused(spec, summaries, Vec::new());
        outcome.measure_ms = t0.elapsed().as_secs_f64() * 1000.0;
        outcome.frame_variation = good
            .windows(2)
            .map(|w| grey_difference(&w[0].1.image.image, &w[1].1.image.image))
            .reduce(f64::min);
        if outcome
            .frame_variation
            .is_some_and(|v| v < checks.min_frame_variation)
        {
            risks.push(Risk::IdenticalFrames);
        }
        let samples: Vec<Sample> = good.iter().map(|(_, s)| s.sample.clone()).collect();
        if risks.is_empty() && spec.flash() {
            // While the head turns, the face's colour changes with the pose: the colour
            // response is measured on the frames that face the camera.
            let facing: Vec<Sample> = match motion::neutral_yaw(spec, &samples) {
                Some(n) if !spec.actions.is_empty() => samples
                    .iter()
                    .filter(|x| (x.yaw - n).abs() <= checks.motion.centre_deg)
                    .cloned()
                    .collect(),
                _ => samples.clone(),
            };
            let (e, r) = flash::analyse(spec, &facing, &facing, checks.settle_ms, &checks.flash);
            outcome.flash = Some(e);
            risks.extend(r);
        }
        if risks.is_empty() && !spec.actions.is_empty() {
            let (e, r) = motion::analyse(spec, &samples, &checks.motion);
            outcome.motion = Some(e);
            risks.extend(r);
        }
        if !risks.is_empty() {
            risks.sort_by_key(|r| *r as u8);
            risks.dedup();
            outcome.risks = risks;
            outcome.elapsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
            return Ok(outcome);
        }

        // The expensive part, for bursts that satisfied their challenge.
        let mut by_quality: Vec<usize> = (0..good.len()).collect();
        by_quality.sort_by(|&a, &b| {
            good[b]
                .1
                .quality
                .face_quality
                .total_cmp(&good[a].1.quality.face_quality)
        });
        let fused: Vec<usize> = by_quality
            .iter()
            .copied()
            .take(checks.fused_frames)
            .collect();
        let live: Vec<usize> = by_quality
            .iter()
            .copied()
            .take(checks.liveness_frames)
            .collect();
        // The frames whose identity is compared (`identity`), with the liveness frames.
        let mut chosen = identity::frames(spec, &samples, &fused, pick);
        chosen.extend(&live);
        chosen.sort_unstable();
        chosen.dedup();
        // Each worker embeds its frames in batches (cheaper per chip than one at a time); the
        // fused frames with their mirror image, like enrolment portraits. The frames are dealt
        // so that every worker has about as much to do: a mirror costs a chip more, passive
        // liveness about a chip more (both models, 5.4 ms against 4.5 ms a chip).
        let threads = self.threads().clamp(1, chosen.len());
        let mirrored = self.settings.mirror_embedding;
        let cost = |k: usize| {
            10 + if mirrored && fused.contains(&k) {
                10
            } else {
                0
            } + if live.contains(&k) { 12 } else { 0 }
        };
        let mut by_cost = chosen.clone();
        by_cost.sort_by_key(|&k| std::cmp::Reverse(cost(k)));
        let mut chunks: Vec<Vec<usize>> = vec![Vec::new(); threads];
        let mut load = vec![0u32; threads];
        for k in by_cost {
            let w = (0..threads).min_by_key(|&w| load[w]).unwrap_or(0);
            load[w] += cost(k);
            chunks[w].push(k);
        }
        let per_chunk = par_map(&chunks, threads, |_, ks| {
            let flipped: Vec<(usize, Rgb8)> = ks
                .iter()
                .filter(|k| self.settings.mirror_embedding && fused.contains(k))
                .map(|&k| (k, good[k].1.chip.flip_horizontal()))
                .collect();
            let mut out: Vec<(usize, Embedded)> = Vec::new();
            for batch in ks.chunks(8) {
                let mut chips: Vec<&Rgb8> = batch.iter().map(|&k| &good[k].1.chip).collect();
                let mirrors: Vec<usize> = flipped
                    .iter()
                    .enumerate()
                    .filter(|(_, (k, _))| batch.contains(k))
                    .map(|(i, _)| i)
                    .collect();
                chips.extend(mirrors.iter().map(|&i| &flipped[i].1));
                let (v, _) = self.embedder.embed(&chips)?;
                for (j, &k) in batch.iter().enumerate() {
                    let mut e = vec![v[j].clone()];
                    if let Some(m) = mirrors.iter().position(|&i| flipped[i].0 == k) {
                        e.push(v[batch.len() + m].clone());
                    }
                    let p_real = if live.contains(&k) {
                        let s = &good[k].1;
                        Some(liveness::score(&self.liveness, &s.image.image, s.face.bbox)?.p_real)
                    } else {
                        None
                    };
                    out.push((k, (e, p_real)));
                }
            }
            Ok::<_, BiometricError>(out)
        });
        let mut embedded: Vec<Option<Embedded>> = (0..good.len()).map(|_| None).collect();
        for chunk in per_chunk {
            for (k, e) in chunk? {
                embedded[k] = Some(e);
            }
        }
        let mut plain: Vec<(usize, Vec<f32>)> = Vec::with_capacity(chosen.len());
        let mut fused_sum = vec![0.0f32; embed::DIM];
        let mut p_sum = 0.0f64;
        for &k in &chosen {
            let (v, p_real) = embedded[k]
                .take()
                .ok_or_else(|| BiometricError::Runtime("a frame was not embedded".into()))?;
            if fused.contains(&k) {
                let n = v.len() as f32;
                for (j, acc) in fused_sum.iter_mut().enumerate() {
                    *acc += v.iter().map(|e| e[j]).sum::<f32>() / n;
                }
            }
            if let Some(p) = p_real {
                p_sum += f64::from(p);
                outcome.frames[good[k].0].p_real = Some(f64::from(p));
            }
            plain.push((k, v.into_iter().next().unwrap_or_default()));
        }
        let embedding: Vec<f32> = fused_sum
            .iter()
            .map(|v| v / fused.len().max(1) as f32)
            .collect();
        // One identity throughout: every pair of compared frames, not each frame against an
        // average that a swapped-in frame would itself pull towards it. A turned head embeds
        // less like its frontal self, so pairs with a turned frame get the looser bound.
        let turned = |k: usize| good[k].1.sample.yaw.abs() > 8.0;
        let mut worst = 0.0f64;
        let mut changed = false;
        for &(k, ref e) in &plain {
            let mut farthest = 0.0f64;
            for &(j, ref o) in &plain {
                let d = f64::from(embed::distance(e, o));
                let bound = if turned(k) || turned(j) {
                    checks.identity_max_distance_turned
                } else {
                    checks.identity_max_distance
                };
                changed |= d > bound;
                farthest = farthest.max(d);
            }
            outcome.frames[good[k].0].identity_distance = Some(farthest);
            worst = worst.max(farthest);
        }
        outcome.identity_distance = Some(worst);
        if changed {
            risks.push(Risk::IdentityChanged);
        }
        let verdict = liveness_verdict(p_sum / live.len().max(1) as f64, &self.settings.liveness);
        risks.extend(verdict.risks.iter().copied());
        let best = &good[by_quality[0]].1;
        let q = &self.settings.quality;
        if best.quality.face_quality < q.min_quality {
            risks.push(Risk::LowFaceQuality);
        }
        if best.quality.face_luminance < q.min_luminance {
            risks.push(Risk::LowFaceLuminance);
        } else if best.quality.face_luminance > q.max_luminance {
            risks.push(Risk::HighFaceLuminance);
        }
        outcome.fused_from = fused.iter().map(|&k| good[k].0).collect();
        outcome.liveness = Some(verdict);
        outcome.embedding = Some(embedding);
        outcome.quality = Some(best.quality.clone());
        outcome.detection_score = Some(best.face.score);
        outcome.risks = risks;
        outcome.elapsed_ms = t0.elapsed().as_secs_f64() * 1000.0;
        Ok(outcome)
    }

    /// Decodes and measures one frame: the faces found and, when there is one, what the checks
    /// need of the main face.
    fn see(
        &self,
        f: &CapturedFrame,
        spec: &CaptureSpec,
    ) -> Result<(Vec<Face>, Option<Seen>), Frame> {
        let image = decode::decode(&f.bytes, &self.settings.limits).map_err(Frame::Bad)?;
        if image.image.width != spec.width as usize || image.image.height != spec.height as usize {
            return Err(Frame::Size);
        }
        let detection = self.detector.detect(&image.image).map_err(Frame::Bad)?;
        let Some(main) = detection.faces.first().cloned() else {
            return Ok((detection.faces, None));
        };
        let chip = align::align(
            &image.image,
            detection.coarse.as_ref().map(|(c, k)| (c, *k)),
            &main.landmarks,
            &self.embedder.template,
            self.embedder.chip_size,
            (self.settings.antialias_above > 0.0).then_some(self.settings.antialias_above),
        );
        let quality = quality::measure(&main, &chip.image, &self.settings.quality);
        let regions = colours(&image.image, &main);
        let sample = Sample {
            t_ms: f.t_ms,
            landmarks: main.landmarks,
            yaw: quality.yaw_deg,
            face_rgb: regions.face,
            rim_rgb: regions.rim,
            background_rgb: regions.background,
            clipped: regions.clipped,
        };
        Ok((
            detection.faces,
            Some(Seen {
                image,
                face: main,
                chip: chip.image,
                quality,
                sample,
            }),
        ))
    }

    fn threads(&self) -> usize {
        match self.settings.capture_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// A frame's embeddings (the frame, then its mirror image for fused frames) and its
/// passive-liveness P(real) when it was scored.
type Embedded = (Vec<Vec<f32>>, Option<f32>);

/// Why a frame gave no measurements.
enum Frame {
    Size,
    Bad(BiometricError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_map_keeps_order_on_any_thread_count() {
        let items: Vec<usize> = (0..23).collect();
        for threads in [1, 2, 3, 8] {
            let out = par_map(&items, threads, |i, v| i * 100 + v);
            assert_eq!(out, items.iter().map(|v| v * 101).collect::<Vec<_>>());
        }
        assert!(par_map(&[] as &[u8], 4, |_, v| *v).is_empty());
    }

    #[test]
    fn colours_separate_the_face_from_the_background() {
        let mut img = Rgb8::new(200, 150);
        for y in 0..150 {
            for x in 0..200 {
                let inside = (70..130).contains(&x) && (40..110).contains(&y);
                let p = if inside {
                    [200, 150, 120]
                } else {
                    [40, 50, 60]
                };
                let i = (y * 200 + x) * 3;
                img.data[i..i + 3].copy_from_slice(&p);
            }
        }
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
        let r = colours(&img, &face);
        assert_eq!(r.face, [200.0, 150.0, 120.0]);
        assert_eq!(r.rim, [200.0, 150.0, 120.0]);
        assert_eq!(r.background, Some([40.0, 50.0, 60.0]));
        assert_eq!(r.clipped, 0.0);
    }
}
