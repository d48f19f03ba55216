//! Which frames the identity check embeds. Embedding is the costliest model of a burst (an
//! ACTIVE_3D burst has about 29 frames), so a burst with a challenge compares the frames that
//! carry its evidence, not every frame:
//! - the fused frames (the ones matched against the enrolment);
//! - for every head action, the frame that proved it (the peak of the turn) and one frame of
//!   its window drawn at random;
//! - one frame drawn at random in every colour step, and in every straight-ahead window when
//!   the challenge shows no colours.
//!
//! The draw happens after the upload, with the server's randomness: a sender cannot know which
//! frames will be compared. A burst without a challenge's steps (PASSIVE) compares them all.
//! Every frame is still decoded, searched for faces and measured; only the embedder is spared.

use super::spec::CaptureSpec;
use super::{Sample, motion};

/// Indices into `samples` (in time order) of the frames to embed, sorted and distinct.
/// `fused` are indices into `samples` too; `pick(n)` returns a random number below `n`.
pub fn frames(
    spec: &CaptureSpec,
    samples: &[Sample],
    fused: &[usize],
    pick: &mut dyn FnMut(u32) -> u32,
) -> Vec<usize> {
    if spec.colours.is_empty() && spec.actions.is_empty() {
        return (0..samples.len()).collect();
    }
    let mut chosen: Vec<usize> = fused.to_vec();
    let within = |start: u32, end: u32| -> Vec<usize> {
        (0..samples.len())
            .filter(|&i| samples[i].t_ms >= f64::from(start) && samples[i].t_ms < f64::from(end))
            .collect()
    };
    let mut one_of = |window: Vec<usize>, chosen: &mut Vec<usize>| {
        if !window.is_empty() {
            chosen.push(window[pick(window.len() as u32) as usize]);
        }
    };
    for c in &spec.colours {
        one_of(within(c.start_ms, c.end_ms), &mut chosen);
    }
    let neutral = motion::neutral_yaw(spec, samples).unwrap_or(0.0);
    let mut straight = 0;
    for a in &spec.actions {
        let window = within(a.start_ms, a.end_ms);
        let sign = a.action.yaw_sign();
        if let Some(&peak) = window.iter().max_by(|&&x, &&y| {
            (sign * (samples[x].yaw - neutral)).total_cmp(&(sign * (samples[y].yaw - neutral)))
        }) {
            chosen.push(peak);
        }
        one_of(window, &mut chosen);
        if spec.colours.is_empty() {
            one_of(within(straight, a.start_ms), &mut chosen);
        }
        straight = a.end_ms;
    }
    if spec.colours.is_empty() {
        one_of(within(straight, spec.duration_ms + 1), &mut chosen);
    }
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::biometric::capture::spec::tests::picker;
    use crate::biometric::capture::spec::{ChallengeSettings, LivenessMethod};

    fn samples(spec: &CaptureSpec) -> Vec<Sample> {
        (0..=spec.duration_ms / 200)
            .map(|i| {
                let t = f64::from(i * 200);
                let yaw = spec
                    .actions
                    .iter()
                    .find(|a| t >= f64::from(a.start_ms) && t < f64::from(a.end_ms))
                    .map_or(0.0, |a| {
                        a.action.yaw_sign()
                            * (30.0 - (t - f64::from(a.start_ms) - 600.0).abs() as f32 / 30.0)
                    });
                Sample {
                    t_ms: t,
                    landmarks: [[0.0; 2]; 5],
                    yaw,
                    face_rgb: [0.0; 3],
                    rim_rgb: [0.0; 3],
                    background_rgb: None,
                    clipped: 0.0,
                }
            })
            .collect()
    }

    #[test]
    fn passive_compares_every_frame() {
        let spec =
            ChallengeSettings::default().draw(LivenessMethod::Passive, false, &mut picker(1));
        let s = samples(&spec);
        assert_eq!(
            frames(&spec, &s, &[0], &mut picker(2)),
            (0..s.len()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn every_step_and_action_has_a_frame_and_every_peak_is_compared() {
        for (method, motion_only) in [
            (LivenessMethod::Flashing, false),
            (LivenessMethod::Active3d, false),
            (LivenessMethod::Active3d, true),
        ] {
            for seed in 1..=50 {
                let spec =
                    ChallengeSettings::default().draw(method, motion_only, &mut picker(seed));
                let s = samples(&spec);
                let fused = [3, 4];
                let chosen = frames(&spec, &s, &fused, &mut picker(seed + 99));
                assert!(fused.iter().all(|f| chosen.contains(f)));
                assert!(chosen.windows(2).all(|w| w[0] < w[1]));
                let has = |start: u32, end: u32| {
                    chosen
                        .iter()
                        .any(|&i| s[i].t_ms >= f64::from(start) && s[i].t_ms < f64::from(end))
                };
                for c in &spec.colours {
                    assert!(
                        has(c.start_ms, c.end_ms),
                        "{method:?} seed {seed}: colour step"
                    );
                }
                for a in &spec.actions {
                    let peak = (0..s.len())
                        .filter(|&i| {
                            s[i].t_ms >= f64::from(a.start_ms) && s[i].t_ms < f64::from(a.end_ms)
                        })
                        .max_by(|&x, &y| {
                            (a.action.yaw_sign() * s[x].yaw)
                                .total_cmp(&(a.action.yaw_sign() * s[y].yaw))
                        })
                        .unwrap();
                    assert!(chosen.contains(&peak), "{method:?} seed {seed}: peak");
                }
                // Fewer than all: the point of choosing.
                assert!(
                    chosen.len() < s.len(),
                    "{method:?}: {} of {}",
                    chosen.len(),
                    s.len()
                );
            }
        }
    }

    #[test]
    fn the_draw_varies() {
        let spec =
            ChallengeSettings::default().draw(LivenessMethod::Flashing, false, &mut picker(3));
        let s = samples(&spec);
        let draws: std::collections::HashSet<Vec<usize>> = (0..20)
            .map(|k| frames(&spec, &s, &[], &mut picker(k)))
            .collect();
        assert!(draws.len() > 5, "{} distinct draws", draws.len());
    }
}
