//! The burst's shape against its challenge, before any pixel is decoded: how many frames, in
//! what order, how far apart, and whether they cover every step of the sequence.

use super::spec::CaptureSpec;
use crate::biometric::score::Risk;

/// Checks the frame count and timestamps. An empty result means the shape fits.
pub fn check(spec: &CaptureSpec, stamps: &[f64], settle_ms: u32) -> Vec<Risk> {
    let mut risks = Vec::new();
    if stamps.len() < spec.min_frames {
        risks.push(Risk::TooFewFrames);
    }
    if stamps.len() > spec.max_frames {
        risks.push(Risk::TooManyFrames);
    }
    if stamps.len() < 2 || !timing_fits(spec, stamps, settle_ms) {
        risks.push(Risk::FrameTimingMismatch);
    }
    risks
}

fn timing_fits(spec: &CaptureSpec, t: &[f64], settle_ms: u32) -> bool {
    let (gap_min, gap_max) = (f64::from(spec.min_gap_ms), f64::from(spec.max_gap_ms));
    let duration = f64::from(spec.duration_ms);
    if t.iter().any(|v| !v.is_finite()) {
        return false;
    }
    // In order, neither faster than a camera nor with holes.
    if t.windows(2).any(|w| {
        let gap = w[1] - w[0];
        gap < gap_min || gap > gap_max
    }) {
        return false;
    }
    // The whole sequence is covered, from its start to its end.
    let (first, last) = (t[0], t[t.len() - 1]);
    if first < 0.0 || first > gap_max || last < duration - gap_max || last > duration + gap_max {
        return false;
    }
    // Every colour has a frame after it settled, and every action window has frames.
    let settle = f64::from(settle_ms);
    let covered = |start: u32, end: u32| {
        let (s, e) = (f64::from(start) + settle, f64::from(end));
        t.iter().any(|&v| v >= s && v < e)
    };
    spec.colours.iter().all(|c| covered(c.start_ms, c.end_ms))
        && spec.actions.iter().all(|a| covered(a.start_ms, a.end_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometric::capture::spec::tests::picker;
    use crate::biometric::capture::spec::{ChallengeSettings, LivenessMethod};

    fn every(spec: &CaptureSpec, step: f64) -> Vec<f64> {
        let mut v = Vec::new();
        let mut t = 0.0;
        while t <= f64::from(spec.duration_ms) {
            v.push(t);
            t += step;
        }
        v
    }

    fn spec(m: LivenessMethod) -> CaptureSpec {
        ChallengeSettings::default().draw(m, false, &mut picker(5))
    }

    #[test]
    fn a_regular_burst_fits_every_method() {
        for m in LivenessMethod::ALL {
            let s = spec(m);
            assert_eq!(check(&s, &every(&s, 200.0), 150), vec![], "{m}");
        }
    }

    #[test]
    fn one_frame_or_a_few_are_refused_whatever_the_method() {
        for m in LivenessMethod::ALL {
            let s = spec(m);
            let r = check(&s, &[0.0], 150);
            assert!(r.contains(&Risk::TooFewFrames), "{m}: {r:?}");
            assert!(r.contains(&Risk::FrameTimingMismatch), "{m}: {r:?}");
            let three = [0.0, 200.0, 400.0];
            assert!(check(&s, &three, 150).contains(&Risk::TooFewFrames), "{m}");
        }
    }

    #[test]
    fn timestamps_must_be_ordered_spaced_and_cover_the_sequence() {
        let s = spec(LivenessMethod::Flashing);
        let good = every(&s, 200.0);
        let mut reversed = good.clone();
        reversed.swap(2, 3);
        let mut burst = good.clone();
        burst[3] = burst[2] + 5.0; // faster than any camera
        let mut hole = good.clone();
        hole.remove(4);
        hole.remove(4); // 600 ms without a frame
        let late_start: Vec<f64> = good.iter().map(|t| t + 800.0).collect();
        let short: Vec<f64> = good.iter().map(|t| t / 2.0).collect();
        for (name, t) in [
            ("reversed", reversed),
            ("burst", burst),
            ("hole", hole),
            ("late start", late_start),
            ("compressed", short),
            ("nan", vec![f64::NAN; good.len()]),
        ] {
            assert_eq!(
                check(&s, &t, 150),
                vec![Risk::FrameTimingMismatch],
                "{name}"
            );
        }
        let many = every(&s, 40.0);
        assert!(check(&s, &many, 150).contains(&Risk::TooManyFrames));
    }
}
