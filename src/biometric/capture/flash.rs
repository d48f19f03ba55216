//! FLASHING: does the light of the screen's colour sequence fall on the face, in order and in
//! time, and on the face rather than evenly on the whole picture?
//!
//! For each colour step the mean colour of the central face is taken over the frames captured
//! after the colour settled. The series is centred, and its component along the face's own mean
//! colour is removed (an exposure change or a brightness flicker scales every channel alike and
//! is ignored). What remains is compared with the emitted colours, treated the same way:
//! - `correlation`: pooled over steps and channels; a reflection follows the sequence (near 1),
//!   an unrelated change does not (around 0);
//! - `face_response`: grey levels of change on the face per unit of colour change (regression
//!   slope); a reflection too faint to measure is not accepted as one;
//! - the latency: every frame on its own is given the colour shown a lag earlier, for lags up to
//!   a step past `max_lag_ms`; the earliest lag within a hair of the best fit is the camera's
//!   latency, and beyond `max_lag_ms` the response is late (a replay that follows the
//!   sequence late fits no earlier lag);
//! - the background (the picture above and beside the head), frame by frame: light from a
//!   screen a hand away falls on the face and hardly on the room behind, whereas a tint added
//!   to the picture follows the sequence there too (`background_correlation`). `locality` is
//!   the face's response over the background's, taken both in grey levels and relative to
//!   each region's brightness, whichever is smaller: a tint added in equal amounts (additive)
//!   is even in the first, one that scales the picture (multiplicative) in the second;
//! - `falloff`: the centre of the face (nose, inner cheeks) faces the screen and receives more
//!   of its light than the sides of the face (outer cheeks, temples); relative to their own
//!   brightness, a tint added to the picture changes both alike. This works when the head
//!   leaves no background in view.

use serde::{Deserialize, Serialize};

use super::Sample;
use super::spec::{CaptureSpec, PALETTE};
use crate::biometric::score::Risk;

/// Thresholds (`[biometric.capture.flash]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlashSettings {
    /// Least correlation between the face's colour changes and the emitted colours.
    pub min_correlation: f64,
    /// Least face response, grey levels per unit of colour change.
    pub min_face_response: f64,
    /// A background whose colour changes follow the sequence this much (frame by frame) is
    /// lit by it: then the face must respond `min_locality` times more than it.
    pub tint_correlation: f64,
    pub min_locality: f64,
    /// The face's centre, facing the screen, must respond (relative to its brightness) at
    /// least this many times more than its sides; a tint added to the picture responds evenly.
    pub min_falloff: f64,
    /// Largest delay between a colour change and its reflection that a live camera shows.
    pub max_lag_ms: u32,
    /// Colour steps whose face change may point away from their colour (camera noise on a
    /// step with few frames) while the sequence as a whole correlates.
    pub max_unmatched_steps: usize,
    /// Colour steps that may be left unidentified: explained better by another palette colour
    /// than by their own, or without a settled frame to measure. 0: a replay of an earlier
    /// capture, whose sequence shares most colours with the new one, is refused at the first
    /// step that differs, and every step must have been seen.
    pub max_unidentified_steps: usize,
    /// Largest share of clipped pixels (a channel at 250+) on the face and its sides in any
    /// frame: light cannot brighten them, so where they are the falloff is not measurable (a
    /// photo with a white background clipped beside the face, tinted evenly, would seem lit).
    pub max_clipped: f64,
}

impl Default for FlashSettings {
    fn default() -> Self {
        Self {
            min_correlation: 0.75,
            min_face_response: 4.0,
            tint_correlation: 0.5,
            min_locality: 2.0,
            min_falloff: 1.25,
            max_lag_ms: 250,
            max_unmatched_steps: 1,
            max_unidentified_steps: 0,
            max_clipped: 0.05,
        }
    }
}

impl FlashSettings {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.3..=0.99).contains(&self.min_correlation)
            || !(0.0..=1.0).contains(&self.tint_correlation)
            || self.min_face_response <= 0.0
            || self.min_locality < 1.0
            || !(0.5..=3.0).contains(&self.min_falloff)
            || self.max_lag_ms > 1000
            || !(0.0..=1.0).contains(&self.max_clipped)
        {
            return Err(
                "biometric.capture.flash: min_correlation must be 0.3..=0.99, \
                        tint_correlation 0..=1, min_face_response positive, min_locality at \
                        least 1, min_falloff 0.5..=3, max_lag_ms at most 1000, max_clipped 0..=1"
                    .into(),
            );
        }
        Ok(())
    }
}

/// What the flash analysis measured (kept in the decision and the audit record).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlashEvidence {
    /// Correlation of the face's colour changes with the sequence, at the latency.
    pub correlation: f64,
    /// The measured latency between the screen and the face, ms.
    pub lag_ms: u32,
    /// Correlation at that latency, frame by frame.
    pub latency_correlation: f64,
    pub face_response: f64,
    /// Frame by frame: the background's response and its correlation with the sequence.
    pub background_response: f64,
    pub background_correlation: f64,
    /// How much more the face responds than the background (999: the background does not).
    pub locality: f64,
    /// The centre of the face's response relative to its brightness, over that of its sides.
    pub falloff: f64,
    /// Root-mean-square colour change of the face across the steps (grey levels), whatever
    /// its direction, and what a response of `min_face_response` would show.
    pub face_change: f64,
    pub expected_change: f64,
    /// Colour steps whose face change points towards their own colour.
    pub steps_matched: usize,
    /// Colour steps whose face change is explained best by their own colour among the
    /// palette's (see `identified`).
    #[serde(default)]
    pub steps_identified: usize,
    /// Colour steps with a settled frame (of `spec.colours`).
    pub steps: usize,
    /// Largest share of clipped pixels on the face and its sides in a frame.
    #[serde(default)]
    pub clipped: f64,
}

type V3 = [f64; 3];

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: V3, b: V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn scale(a: V3, k: f64) -> V3 {
    [a[0] * k, a[1] * k, a[2] * k]
}
fn mean(v: &[V3]) -> V3 {
    let n = v.len().max(1) as f64;
    let s = v.iter().fold([0.0; 3], |acc, x| {
        [acc[0] + x[0], acc[1] + x[1], acc[2] + x[2]]
    });
    scale(s, 1.0 / n)
}
/// Removes the component along `dir` (the region's mean colour: a gain change).
fn reject(v: V3, dir: V3) -> V3 {
    let n = dot(dir, dir);
    if n < 1e-9 {
        return v;
    }
    sub(v, scale(dir, dot(v, dir) / n))
}
fn rgb(c: [f32; 3]) -> V3 {
    [f64::from(c[0]), f64::from(c[1]), f64::from(c[2])]
}

/// Which part of the picture.
#[derive(Clone, Copy, PartialEq)]
enum Region {
    Face,
    Rim,
    Background,
}

/// How frames are grouped for a fit.
#[derive(Clone, Copy, PartialEq)]
enum Group {
    /// One mean per colour step (averages out camera noise).
    Step,
    /// Every frame on its own (a frame given the wrong colour costs the fit, where a step's
    /// mean would hide it).
    Frame,
}

/// One region's fit against the sequence.
#[derive(Clone, Copy, Debug, Default)]
struct Fit {
    correlation: f64,
    /// Regression slope: grey levels per unit of colour change.
    response: f64,
    /// Mean grey level of the region.
    level: f64,
    /// RMS of the region's change and of the emitted change, per sample.
    change: f64,
    emitted: f64,
    matched: usize,
    /// Samples whose change is explained best by their own colour among the palette's.
    identified: usize,
    samples: usize,
}

fn fit_at(
    spec: &CaptureSpec,
    samples: &[Sample],
    (settle, lag): (f64, f64),
    group: Group,
    region: Region,
) -> Option<Fit> {
    let (mut seen, mut emitted) = (Vec::new(), Vec::new());
    let colour = |x: &Sample| {
        match region {
            Region::Face => Some(x.face_rgb),
            Region::Rim => Some(x.rim_rgb),
            Region::Background => x.background_rgb,
        }
        .map(rgb)
    };
    for c in &spec.colours {
        let (s, e) = (f64::from(c.start_ms) + settle, f64::from(c.end_ms));
        let inside: Vec<V3> = samples
            .iter()
            .filter(|x| x.t_ms - lag >= s && x.t_ms - lag < e)
            .filter_map(colour)
            .collect();
        let groups: Vec<V3> = match group {
            Group::Step if inside.is_empty() => vec![],
            Group::Step => vec![mean(&inside)],
            Group::Frame => inside,
        };
        let e = scale(c.rgb.map(f64::from), 1.0 / 255.0);
        for g in groups {
            seen.push(g);
            emitted.push(e);
        }
    }
    if seen.len() < 3 {
        return None;
    }
    let (m, e) = (mean(&seen), mean(&emitted));
    let y: Vec<V3> = seen.iter().map(|v| reject(sub(*v, m), m)).collect();
    let x: Vec<V3> = emitted.iter().map(|v| reject(sub(*v, e), m)).collect();
    let sxy: f64 = y.iter().zip(&x).map(|(a, b)| dot(*a, *b)).sum();
    let sxx: f64 = x.iter().map(|a| dot(*a, *a)).sum();
    let syy: f64 = y.iter().map(|a| dot(*a, *a)).sum();
    if sxx < 1e-9 {
        return None;
    }
    let n = y.len() as f64;
    let identified = match group {
        Group::Step => identified(&seen, &emitted, m),
        Group::Frame => 0,
    };
    Some(Fit {
        correlation: if syy > 1e-12 {
            sxy / (sxx * syy).sqrt()
        } else {
            0.0
        },
        response: sxy / sxx,
        level: (m[0] + m[1] + m[2]) / 3.0,
        change: (syy / n).sqrt(),
        emitted: (sxx / n).sqrt(),
        matched: y
            .iter()
            .zip(&x)
            .filter(|(a, b)| dot(**a, **b) > 0.0)
            .count(),
        identified,
        samples: y.len(),
    })
}

/// A sequence must fit the face this much better than the one shown to count as its
/// better explanation (camera noise makes near ties).
const BETTER_FIT: f64 = 1.05;

/// How many samples keep the colour shown for them in the sequence of palette colours that
/// best explains the face. A reflection is the light times the skin's own colour (`albedo`),
/// less its gain component; the fit of a sequence is its pooled covariance with the face's
/// changes over its own spread (the correlation, up to the face's constant spread). Every
/// sequence of up to six samples is tried; a longer one is searched four consecutive samples
/// at a time while the fit improves. The correlation pools the steps, so a face following
/// another sequence that shares most colours with the one shown still correlates; a replay of
/// an earlier capture is explained better by its own sequence.
fn identified(seen: &[V3], emitted: &[V3], albedo: V3) -> usize {
    let level = (albedo[0] + albedo[1] + albedo[2]) / 3.0;
    let n = emitted.len();
    // The colour shown for each sample (a colour outside the palette is never identified).
    let Some(shown) = emitted
        .iter()
        .map(|e| {
            PALETTE
                .iter()
                .position(|c| c.map(|v| f64::from(v) / 255.0) == *e)
        })
        .collect::<Option<Vec<usize>>>()
    else {
        return 0;
    };
    if level < 1.0 || n == 0 {
        return 0;
    }
    let predicted: Vec<V3> = PALETTE
        .iter()
        .map(|c| {
            reject(
                [0, 1, 2].map(|k| albedo[k] * f64::from(c[k]) / 255.0 / level),
                albedo,
            )
        })
        .collect();
    let m = mean(seen);
    // The face's change along each colour's prediction; the changes sum to zero, so the
    // covariance of a sequence is the sum of its entries.
    let along: Vec<Vec<f64>> = seen
        .iter()
        .map(|v| {
            let y = reject(sub(*v, m), albedo);
            predicted.iter().map(|p| dot(y, *p)).collect()
        })
        .collect();
    let fit = |seq: &[usize]| {
        let (mut sxy, mut sum, mut sq) = (0.0, [0.0; 3], 0.0);
        for (i, &c) in seq.iter().enumerate() {
            sxy += along[i][c];
            sum = [0, 1, 2].map(|k| sum[k] + predicted[c][k]);
            sq += dot(predicted[c], predicted[c]);
        }
        let sxx = sq - dot(sum, sum) / n as f64;
        if sxx < 1e-12 {
            f64::MIN
        } else {
            sxy / sxx.sqrt()
        }
    };
    let own = fit(&shown);
    let width = if n <= 6 { n } else { 4 };
    let (mut best, mut score) = (shown.clone(), own);
    for _ in 0..3 {
        let before = score;
        for lo in 0..=n - width {
            let mut seq = best.clone();
            for code in 0..PALETTE.len().pow(width as u32) {
                let mut k = code;
                for slot in &mut seq[lo..lo + width] {
                    *slot = k % PALETTE.len();
                    k /= PALETTE.len();
                }
                let s = fit(&seq);
                if s > score {
                    (best, score) = (seq.clone(), s);
                }
            }
        }
        if score <= before {
            break;
        }
    }
    if own > 0.0 && score <= own * BETTER_FIT {
        return n;
    }
    best.iter().zip(&shown).filter(|(a, b)| a == b).count()
}

/// The face's response over the background's, absolute and relative to brightness; the
/// smaller of the two. A background that does not respond (or responds the other way, as when
/// a camera's white balance compensates) gives `f64::INFINITY`.
fn locality(face: &Fit, background: &Fit) -> f64 {
    if background.response <= 1e-9 {
        return f64::INFINITY;
    }
    let absolute = face.response / background.response;
    let relative =
        (face.response / face.level.max(1.0)) / (background.response / background.level.max(1.0));
    absolute.min(relative)
}

/// Judges the colour response of a burst. `facing` are the frames whose face is measured
/// (for ACTIVE_3D those facing the camera: a turning face changes colour with its pose),
/// `all` the frames whose background is. Call only for challenges with colours.
pub fn analyse(
    spec: &CaptureSpec,
    facing: &[Sample],
    all: &[Sample],
    settle_ms: u32,
    s: &FlashSettings,
) -> (FlashEvidence, Vec<Risk>) {
    let settle = f64::from(settle_ms);
    let step_ms = spec
        .colours
        .first()
        .map_or(500, |c| c.end_ms.saturating_sub(c.start_ms));
    // The latency, frame by frame (see the module documentation). A later lag leaves the
    // first frames of every window of colours (ACTIVE_3D shows them between head actions,
    // whose frames are not judged) outside the sequence; it must still cover all but a step's
    // worth per window.
    let frames = |lag: f64| fit_at(spec, facing, (0.0, lag), Group::Frame, Region::Face);
    let all_frames = frames(0.0).map_or(0, |f| f.samples);
    let windows = 1 + spec
        .colours
        .windows(2)
        .filter(|w| w[1].start_ms != w[0].end_ms)
        .count();
    let step_frames = windows as f64 * all_frames as f64 / spec.colours.len().max(1) as f64;
    let raw: Vec<(u32, Fit)> = (0..=(step_ms + s.max_lag_ms) / 25)
        .filter_map(|i| {
            let lag = i * 25;
            frames(f64::from(lag))
                .filter(|f| f.samples as f64 + step_frames + 1.0 >= all_frames as f64)
                .map(|f| (lag, f))
        })
        .collect();
    let peak = raw
        .iter()
        .map(|(_, f)| f.correlation)
        .fold(f64::MIN, f64::max);
    let (latency, at_latency) = raw
        .iter()
        .find(|(_, f)| f.correlation >= peak - 0.02)
        .copied()
        .unwrap_or_default();
    // Judged on settled frames at that latency (at most `max_lag_ms`).
    let judged = (settle, f64::from(latency.min(s.max_lag_ms)));
    let face = fit_at(spec, facing, judged, Group::Step, Region::Face).unwrap_or_default();
    let background =
        fit_at(spec, all, judged, Group::Frame, Region::Background).unwrap_or_default();
    let locality = locality(&face, &background);
    let clipped = facing
        .iter()
        .map(|x| f64::from(x.clipped))
        .fold(0.0, f64::max);
    let rim = fit_at(spec, facing, judged, Group::Step, Region::Rim).unwrap_or_default();
    let falloff = if rim.response > 1e-9 {
        (face.response / face.level.max(1.0)) / (rim.response / rim.level.max(1.0))
    } else {
        999.0
    };
    let evidence = FlashEvidence {
        correlation: face.correlation,
        lag_ms: latency,
        latency_correlation: at_latency.correlation,
        face_response: face.response,
        background_response: background.response,
        background_correlation: background.correlation,
        locality: if locality.is_finite() {
            locality
        } else {
            999.0
        },
        falloff,
        face_change: face.change,
        expected_change: face.emitted * s.min_face_response,
        steps_matched: face.matched,
        steps_identified: face.identified,
        steps: face.samples,
        clipped,
    };
    let is_late = latency > s.max_lag_ms
        && at_latency.correlation >= s.min_correlation
        && at_latency.response >= s.min_face_response;
    let risk = if is_late {
        Some(Risk::FlashResponseLate)
    } else if face.correlation >= s.min_correlation {
        if face.response < s.min_face_response {
            Some(Risk::FlashResponseMissing)
        } else if (background.correlation >= s.tint_correlation && locality < s.min_locality)
            || falloff < s.min_falloff
            || clipped > s.max_clipped
        {
            Some(Risk::FlashNotOnFace)
        } else if face.matched + s.max_unmatched_steps < face.samples
            || face.identified + s.max_unidentified_steps < spec.colours.len()
        {
            Some(Risk::FlashSequenceMismatch)
        } else {
            None
        }
    } else if face.change >= face.emitted * s.min_face_response {
        // The face changed colour, but not as the screen did.
        Some(Risk::FlashSequenceMismatch)
    } else {
        Some(Risk::FlashResponseMissing)
    };
    (evidence, risk.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometric::capture::spec::tests::picker;
    use crate::biometric::capture::spec::{ChallengeSettings, LivenessMethod, PALETTE};

    const SKIN: [f32; 3] = [170.0, 125.0, 105.0];
    const WALL: [f32; 3] = [90.0, 95.0, 100.0];

    fn spec() -> CaptureSpec {
        ChallengeSettings::default().draw(LivenessMethod::Flashing, false, &mut picker(9))
    }

    /// Frames every 100 ms; `face(t)`, `rim(t)` and `background(t)` give the colours.
    fn burst3(
        spec: &CaptureSpec,
        face: impl Fn(f64) -> [f32; 3],
        rim: impl Fn(f64) -> [f32; 3],
        bg: impl Fn(f64) -> [f32; 3],
    ) -> Vec<Sample> {
        (0..=spec.duration_ms / 100)
            .map(|i| {
                let t = f64::from(i * 100);
                Sample {
                    t_ms: t,
                    landmarks: [[0.0; 2]; 5],
                    yaw: 0.0,
                    face_rgb: face(t),
                    rim_rgb: rim(t),
                    background_rgb: Some(bg(t)),
                    clipped: 0.0,
                }
            })
            .collect()
    }

    /// A face lit by the screen: its sides, turned away from it, receive half the light.
    fn burst(
        spec: &CaptureSpec,
        face: impl Fn(f64) -> [f32; 3],
        bg: impl Fn(f64) -> [f32; 3],
    ) -> Vec<Sample> {
        burst3(spec, &face, |t| face(t).map(|v| v * 0.95), bg)
    }

    /// The reflection of the colour shown at `t` on a surface of colour `base`.
    fn lit(spec: &CaptureSpec, base: [f32; 3], strength: f32, t: f64) -> [f32; 3] {
        let c = spec.colour_at(t).map_or([0; 3], |i| spec.colours[i].rgb);
        [0, 1, 2].map(|k| base[k] * (1.0 + strength * f32::from(c[k]) / 255.0))
    }

    #[test]
    fn a_reflection_on_the_face_passes() {
        let s = spec();
        let b = burst3(
            &s,
            |t| lit(&s, SKIN, 0.12, t - 60.0),
            |t| lit(&s, SKIN, 0.06, t - 60.0),
            |_| WALL,
        );
        let (e, risks) = analyse(&s, &b, &b, 150, &FlashSettings::default());
        assert_eq!(risks, vec![], "{e:?}");
        assert!(e.correlation > 0.95, "{e:?}");
        assert_eq!(e.steps_matched, e.steps);
    }

    #[test]
    fn attacks_are_refused_with_their_reason() {
        let s = spec();
        let set = FlashSettings::default();
        let judge = |b: Vec<Sample>| analyse(&s, &b, &b, 150, &set).1;
        // A photo: nothing changes but noise and brightness flicker.
        let flicker = burst(
            &s,
            |t| SKIN.map(|v| v * (1.0 + 0.04 * ((t / 37.0).sin() as f32))),
            |_| WALL,
        );
        assert_eq!(judge(flicker), vec![Risk::FlashResponseMissing]);
        // Another colour sequence played on the face: every colour swapped for one three
        // places further in the palette.
        let mut other = s.clone();
        for c in &mut other.colours {
            let i = PALETTE.iter().position(|p| *p == c.rgb).unwrap();
            c.rgb = PALETTE[(i + 3) % PALETTE.len()];
        }
        let wrong = burst3(
            &s,
            |t| lit(&other, SKIN, 0.12, t),
            |t| lit(&other, SKIN, 0.06, t),
            |_| WALL,
        );
        assert_eq!(judge(wrong), vec![Risk::FlashSequenceMismatch]);
        // The right sequence, late by a step or by less.
        for delay in [500.0, 350.0] {
            let late = burst3(
                &s,
                |t| lit(&s, SKIN, 0.12, t - delay),
                |t| lit(&s, SKIN, 0.06, t - delay),
                |_| WALL,
            );
            assert_eq!(judge(late), vec![Risk::FlashResponseLate], "{delay}");
        }
        // A tint added evenly to the whole picture.
        let tint = |base: [f32; 3], t: f64| {
            let c = s.colour_at(t).map_or([0; 3], |i| s.colours[i].rgb);
            [0, 1, 2].map(|k| base[k] + 20.0 * f32::from(c[k]) / 255.0)
        };
        let uniform = burst3(
            &s,
            |t| tint(SKIN, t),
            |t| tint(SKIN.map(|v| v * 0.9), t),
            |t| tint(WALL, t),
        );
        assert_eq!(judge(uniform), vec![Risk::FlashNotOnFace]);
        // A tint that scales the whole picture, on a face brighter or darker than the room.
        for wall in [WALL, [240.0, 235.0, 230.0]] {
            let scaled = burst3(
                &s,
                |t| lit(&s, SKIN, 0.12, t),
                |t| lit(&s, SKIN, 0.12, t),
                |t| lit(&s, wall, 0.12, t),
            );
            assert_eq!(judge(scaled), vec![Risk::FlashNotOnFace], "{wall:?}");
        }
        // Evenly over a face that fills the picture (no background in view): the sides of the
        // face change as much as its centre.
        let mut no_room = burst3(
            &s,
            |t| lit(&s, SKIN, 0.12, t),
            |t| lit(&s, SKIN, 0.12, t),
            |_| WALL,
        );
        no_room.iter_mut().for_each(|x| x.background_rgb = None);
        assert_eq!(judge(no_room), vec![Risk::FlashNotOnFace]);
        // Too faint to be light from the screen.
        let faint = burst3(
            &s,
            |t| lit(&s, SKIN, 0.005, t),
            |t| lit(&s, SKIN, 0.002, t),
            |_| WALL,
        );
        assert_eq!(judge(faint), vec![Risk::FlashResponseMissing]);
        // A reflection on a face whose pixels are clipped in a frame: not measurable there.
        let mut clipped = burst3(
            &s,
            |t| lit(&s, SKIN, 0.12, t),
            |t| lit(&s, SKIN, 0.06, t),
            |_| WALL,
        );
        assert_eq!(judge(clipped.clone()), vec![]);
        clipped[4].clipped = 0.2;
        assert_eq!(judge(clipped), vec![Risk::FlashNotOnFace]);
    }

    /// A step without a settled frame is not evidence: the sequences of a replay and of the
    /// new challenge may differ just there.
    #[test]
    fn every_step_must_be_measured() {
        let s = spec();
        let b = burst3(
            &s,
            |t| lit(&s, SKIN, 0.12, t - 60.0),
            |t| lit(&s, SKIN, 0.06, t - 60.0),
            |_| WALL,
        );
        let last = s.colours.last().unwrap().start_ms;
        let b: Vec<Sample> = b
            .into_iter()
            .filter(|x| x.t_ms < f64::from(last) + 150.0)
            .collect();
        let (e, risks) = analyse(&s, &b, &b, 150, &FlashSettings::default());
        assert_eq!(risks, vec![Risk::FlashSequenceMismatch], "{e:?}");
        assert_eq!((e.steps, e.steps_identified), (4, 4));
    }

    /// The frames of an earlier capture, replayed to a new challenge: the face follows the old
    /// sequence at the same times. Draws share colours at some steps, so the pooled
    /// correlation passes for a few of them; every step that differs must give it away.
    #[test]
    fn a_replay_of_another_draw_is_refused_unless_the_draw_is_identical() {
        let set = FlashSettings::default();
        for method in [LivenessMethod::Flashing, LivenessMethod::Active3d] {
            let (mut identical, mut correlated, mut approved) = (0, 0, 0);
            for seed in 1..=1000 {
                let draw = |k| ChallengeSettings::default().draw(method, false, &mut picker(k));
                let (old, new) = (draw(seed), draw(seed + 5000));
                let replay = burst3(
                    &new,
                    |t| lit(&old, SKIN, 0.12, t - 60.0),
                    |t| lit(&old, SKIN, 0.06, t - 60.0),
                    |_| WALL,
                );
                let replay: Vec<Sample> = replay
                    .into_iter()
                    .filter(|x| new.colour_at(x.t_ms).is_some())
                    .collect();
                let (e, risks) = analyse(&new, &replay, &replay, 150, &set);
                let same = old
                    .colours
                    .iter()
                    .map(|c| c.rgb)
                    .eq(new.colours.iter().map(|c| c.rgb));
                identical += usize::from(same);
                correlated += usize::from(e.correlation >= set.min_correlation);
                if risks.is_empty() && !same {
                    approved += 1;
                    eprintln!(
                        "{method:?} seed {seed}: {e:?} old {:?} new {:?}",
                        old.colours
                            .iter()
                            .map(|c| PALETTE.iter().position(|p| *p == c.rgb).unwrap())
                            .collect::<Vec<_>>(),
                        new.colours
                            .iter()
                            .map(|c| PALETTE.iter().position(|p| *p == c.rgb).unwrap())
                            .collect::<Vec<_>>()
                    );
                }
            }
            assert_eq!(approved, 0, "{method:?}: replays approved");
            // The draws do overlap: without the per-step check some would pass.
            assert!(
                correlated > 5,
                "{method:?}: only {correlated} correlated replays"
            );
            assert!(identical <= 2, "{method:?}: {identical} identical draws");
        }
    }

    /// ACTIVE_3D shows its colours in windows between the head actions; the frames of the
    /// actions are left out (the face turns), so a response one step late loses the first step
    /// of every window, not just one step. It must still be found late, whatever the draw.
    #[test]
    fn windowed_colours_answered_late_are_refused() {
        let set = FlashSettings::default();
        let (mut late, mut refused) = (0, 0);
        for seed in 1..=200 {
            let s = ChallengeSettings::default().draw(
                LivenessMethod::Active3d,
                false,
                &mut picker(seed),
            );
            let facing = |b: Vec<Sample>| -> Vec<Sample> {
                b.into_iter()
                    .filter(|x| s.colour_at(x.t_ms).is_some())
                    .collect()
            };
            let genuine = facing(burst3(
                &s,
                |t| lit(&s, SKIN, 0.12, t - 80.0),
                |t| lit(&s, SKIN, 0.06, t - 80.0),
                |_| WALL,
            ));
            let (e, risks) = analyse(&s, &genuine, &genuine, 150, &set);
            assert_eq!(risks, vec![], "seed {seed}: {e:?}");
            let b = facing(burst3(
                &s,
                |t| lit(&s, SKIN, 0.12, t - 500.0),
                |t| lit(&s, SKIN, 0.06, t - 500.0),
                |_| WALL,
            ));
            let risks = analyse(&s, &b, &b, 150, &set).1;
            refused += usize::from(!risks.is_empty());
            late += usize::from(risks == vec![Risk::FlashResponseLate]);
        }
        assert_eq!(refused, 200, "late answers approved");
        assert!(late >= 190, "found late {late} of 200");
    }
}
