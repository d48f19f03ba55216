//! What a capture challenge fixes: the liveness method, the frame size, how many frames over
//! which span of time, and for the active methods the random colour sequence and head actions
//! with their timing. The server draws one per attempt and keeps it with the challenge nonce;
//! the page only displays it, and the burst is judged against it.

use serde::{Deserialize, Serialize};

/// The liveness methods, weakest first (`Ord` follows strength).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum LivenessMethod {
    /// Passive models on a short burst; the burst shape is still enforced.
    #[serde(rename = "PASSIVE")]
    Passive,
    /// The screen shows a random colour sequence; its reflection must appear on the face.
    #[serde(rename = "FLASHING")]
    Flashing,
    /// Random head turns verified from the landmarks (3-D, not planar), with the colour
    /// sequence unless the user chose the motion-only alternative.
    #[serde(rename = "ACTIVE_3D")]
    Active3d,
}

impl LivenessMethod {
    pub const ALL: [LivenessMethod; 3] = [Self::Passive, Self::Flashing, Self::Active3d];

    /// The wire name (`PASSIVE`, `FLASHING`, `ACTIVE_3D`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passive => "PASSIVE",
            Self::Flashing => "FLASHING",
            Self::Active3d => "ACTIVE_3D",
        }
    }

    /// Parses a wire name; lower case is accepted too (some clients send `active_3d`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }
}

impl std::fmt::Display for LivenessMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A head action of ACTIVE_3D, in the user's own terms (their left, not the image's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    TurnLeft,
    TurnRight,
}

impl Action {
    /// Sign of the landmark yaw (see `quality::pose`) when the action is performed: turning to
    /// one's left moves the nose towards the image's right, which is positive yaw.
    pub fn yaw_sign(self) -> f32 {
        match self {
            Self::TurnLeft => 1.0,
            Self::TurnRight => -1.0,
        }
    }
}

/// A screen colour shown from `start_ms` to `end_ms` (relative to the start of the sequence).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColourStep {
    pub rgb: [u8; 3],
    pub start_ms: u32,
    pub end_ms: u32,
}

/// A head action asked for from `start_ms` to `end_ms`; outside action windows the user looks
/// straight at the camera.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionStep {
    pub action: Action,
    pub start_ms: u32,
    pub end_ms: u32,
}

/// Everything a burst must satisfy. Times are milliseconds from the start of the sequence, as
/// the page stamps its frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaptureSpec {
    pub method: LivenessMethod,
    /// Every frame is exactly this size (the page crops its camera to it).
    pub width: u32,
    pub height: u32,
    /// Length of the sequence: frames must cover `0..=duration_ms`.
    pub duration_ms: u32,
    /// How often the page takes a frame.
    pub frame_interval_ms: u32,
    pub min_frames: usize,
    pub max_frames: usize,
    /// Largest allowed time between two consecutive frames.
    pub max_gap_ms: u32,
    /// Smallest allowed time between two consecutive frames (no camera delivers faster).
    pub min_gap_ms: u32,
    /// Colours shown while recording (empty for PASSIVE and the motion-only alternative).
    #[serde(default)]
    pub colours: Vec<ColourStep>,
    /// Head actions asked for (ACTIVE_3D only).
    #[serde(default)]
    pub actions: Vec<ActionStep>,
}

impl CaptureSpec {
    /// Whether the screen flashes colours in this challenge.
    pub fn flash(&self) -> bool {
        !self.colours.is_empty()
    }

    /// ACTIVE_3D without the colour sequence (the user asked to avoid flashing light).
    pub fn motion_only(&self) -> bool {
        self.method == LivenessMethod::Active3d && !self.flash()
    }

    /// The colour step shown at `t_ms`.
    pub fn colour_at(&self, t_ms: f64) -> Option<usize> {
        self.colours
            .iter()
            .position(|c| t_ms >= f64::from(c.start_ms) && t_ms < f64::from(c.end_ms))
    }
}

/// The palette colours are drawn from: six hues 60 degrees apart (a wrong colour is never
/// close to the right one), no saturated red (R / (R+G+B) stays below 0.8, WCAG 2.3.1's
/// red-flash definition) and moderate luminance.
pub const PALETTE: [[u8; 3]; 6] = [
    [255, 150, 110], // orange
    [235, 225, 100], // yellow
    [110, 230, 120], // green
    [100, 220, 235], // cyan
    [130, 140, 255], // blue
    [235, 120, 235], // magenta
];

/// Shape of the challenges the server draws (`[liveness.challenge]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ChallengeSettings {
    /// Frame size every frame of a burst must have.
    pub frame_width: u32,
    pub frame_height: u32,
    /// How often the page takes a frame while recording.
    pub frame_interval_ms: u32,
    /// PASSIVE: length of the recording (frames every `frame_interval_ms`).
    pub passive_ms: u32,
    /// FLASHING: number of colours and how long each is shown. At 500 ms the screen changes
    /// twice a second, under WCAG 2.3.1's three flashes per second.
    pub flash_steps: u32,
    pub flash_step_ms: u32,
    /// ACTIVE_3D: head actions (both directions appear when there are two or more), how long
    /// each action window lasts, and the straight-ahead time before, between and after them.
    pub actions: u32,
    /// Actions in the motion-only alternative (no colours; one more action by default).
    pub motion_only_actions: u32,
    pub action_ms: u32,
    pub centre_ms: u32,
}

impl Default for ChallengeSettings {
    fn default() -> Self {
        Self {
            frame_width: 640,
            frame_height: 480,
            frame_interval_ms: 200,
            passive_ms: 1000,
            flash_steps: 5,
            flash_step_ms: 500,
            actions: 2,
            motion_only_actions: 3,
            action_ms: 1300,
            centre_ms: 1000,
        }
    }
}

impl ChallengeSettings {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: &str| Err(format!("liveness.challenge: {m}"));
        if !(160..=1920).contains(&self.frame_width) || !(120..=1920).contains(&self.frame_height) {
            return bad("frame_width must be 160..=1920 and frame_height 120..=1920");
        }
        if !(100..=500).contains(&self.frame_interval_ms) {
            return bad("frame_interval_ms must be 100..=500");
        }
        if self.passive_ms < 2 * self.frame_interval_ms || self.passive_ms > 5000 {
            return bad("passive_ms must cover at least two frame intervals and at most 5000");
        }
        if !(3..=12).contains(&self.flash_steps) {
            return bad("flash_steps must be 3..=12");
        }
        // WCAG 2.3.1: no more than three flashes in any one second.
        if self.flash_step_ms < 350 || self.flash_step_ms > 2000 {
            return bad("flash_step_ms must be 350..=2000 (at most three changes a second)");
        }
        if self.flash_step_ms < 2 * self.frame_interval_ms {
            return bad("flash_step_ms must hold at least two frame intervals");
        }
        if !(1..=4).contains(&self.actions) || !(1..=5).contains(&self.motion_only_actions) {
            return bad("actions must be 1..=4 and motion_only_actions 1..=5");
        }
        if self.action_ms < 3 * self.frame_interval_ms || self.action_ms > 4000 {
            return bad("action_ms must hold three frame intervals and at most 4000");
        }
        if self.centre_ms < 2 * self.frame_interval_ms || self.centre_ms > 3000 {
            return bad("centre_ms must hold two frame intervals and at most 3000");
        }
        Ok(())
    }

    /// Draws a challenge. `pick(n)` returns a uniformly random number below `n` (the caller's
    /// cryptographic randomness; tests pass a deterministic one).
    pub fn draw(
        &self,
        method: LivenessMethod,
        motion_only: bool,
        pick: &mut dyn FnMut(u32) -> u32,
    ) -> CaptureSpec {
        let interval = self.frame_interval_ms;
        let (duration, colours, actions) = match method {
            LivenessMethod::Passive => (self.passive_ms, Vec::new(), Vec::new()),
            LivenessMethod::Flashing => {
                let d = self.flash_steps * self.flash_step_ms;
                (d, self.colours(self.flash_steps, pick), Vec::new())
            }
            LivenessMethod::Active3d => {
                let n = if motion_only {
                    self.motion_only_actions
                } else {
                    self.actions
                };
                let actions = self.actions(n, pick);
                let d = actions.last().map_or(self.centre_ms, |a| a.end_ms) + self.centre_ms;
                // The colours are shown while the user faces the camera (the straight-ahead
                // windows before, between and after the actions): a turning face changes
                // colour with its pose, so its light would be measured there anyway.
                let colours = if motion_only {
                    Vec::new()
                } else {
                    let windows: Vec<u32> = std::iter::once(0)
                        .chain(actions.iter().map(|a| a.end_ms))
                        .collect();
                    let per = (self.centre_ms / self.flash_step_ms).max(1);
                    let mut c = self.colours(per * windows.len() as u32, pick);
                    for (i, step) in c.iter_mut().enumerate() {
                        let w = windows[i / per as usize];
                        let k = (i as u32) % per;
                        step.start_ms = w + k * self.flash_step_ms;
                        step.end_ms = step.start_ms + self.flash_step_ms;
                    }
                    c
                };
                (d, colours, actions)
            }
        };
        let expected = (duration / interval + 1) as usize;
        CaptureSpec {
            method,
            width: self.frame_width,
            height: self.frame_height,
            duration_ms: duration,
            frame_interval_ms: interval,
            // A slow device may drop a frame in three; a fast one may add a few.
            min_frames: (expected * 2).div_ceil(3).max(2),
            max_frames: expected * 2 + 2,
            max_gap_ms: interval * 2 + interval / 2,
            min_gap_ms: 30,
            colours,
            actions,
        }
    }

    /// A colour sequence in which no colour repeats within three steps.
    fn colours(&self, steps: u32, pick: &mut dyn FnMut(u32) -> u32) -> Vec<ColourStep> {
        let mut seq: Vec<usize> = Vec::with_capacity(steps as usize);
        for _ in 0..steps {
            // Any colour but the previous two (no A-B-A: a sequence that repeats itself
            // would also fit when shifted by a step).
            let recent: Vec<usize> = seq.iter().rev().take(2).copied().collect();
            let allowed: Vec<usize> = (0..PALETTE.len()).filter(|c| !recent.contains(c)).collect();
            seq.push(allowed[pick(allowed.len() as u32) as usize]);
        }
        seq.into_iter()
            .enumerate()
            .map(|(i, c)| ColourStep {
                rgb: PALETTE[c],
                start_ms: i as u32 * self.flash_step_ms,
                end_ms: (i as u32 + 1) * self.flash_step_ms,
            })
            .collect()
    }

    /// `n` head actions separated by straight-ahead time; both directions appear when n >= 2.
    fn actions(&self, n: u32, pick: &mut dyn FnMut(u32) -> u32) -> Vec<ActionStep> {
        loop {
            let seq: Vec<Action> = (0..n)
                .map(|_| {
                    if pick(2) == 0 {
                        Action::TurnLeft
                    } else {
                        Action::TurnRight
                    }
                })
                .collect();
            let both = seq.contains(&Action::TurnLeft) && seq.contains(&Action::TurnRight);
            if n < 2 || both {
                let step = self.action_ms + self.centre_ms;
                return seq
                    .into_iter()
                    .enumerate()
                    .map(|(i, action)| {
                        let start = self.centre_ms + i as u32 * step;
                        ActionStep {
                            action,
                            start_ms: start,
                            end_ms: start + self.action_ms,
                        }
                    })
                    .collect();
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A deterministic `pick` for tests (xorshift).
    pub(crate) fn picker(seed: u64) -> impl FnMut(u32) -> u32 {
        let mut s = seed.max(1);
        move |n| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % u64::from(n.max(1))) as u32
        }
    }

    #[test]
    fn methods_are_ordered_by_strength_and_spelled_as_the_contract() {
        assert!(LivenessMethod::Passive < LivenessMethod::Flashing);
        assert!(LivenessMethod::Flashing < LivenessMethod::Active3d);
        assert_eq!(
            serde_json::to_value(LivenessMethod::Active3d).unwrap(),
            "ACTIVE_3D"
        );
        assert_eq!(
            LivenessMethod::parse("active_3d"),
            Some(LivenessMethod::Active3d)
        );
        assert_eq!(LivenessMethod::parse("ACTIVE3D"), None);
    }

    #[test]
    fn flashing_sequences_are_random_photosensitivity_safe_and_cover_the_duration() {
        let s = ChallengeSettings::default();
        s.validate().unwrap();
        let mut pick = picker(7);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let c = s.draw(LivenessMethod::Flashing, false, &mut pick);
            assert_eq!(c.colours.len(), 5);
            assert_eq!(c.duration_ms, 2500);
            assert!(c.actions.is_empty());
            for w in c.colours.windows(3) {
                assert!(
                    w[0].rgb != w[1].rgb && w[1].rgb != w[2].rgb && w[0].rgb != w[2].rgb,
                    "no colour repeats within three steps"
                );
                assert_eq!(w[0].end_ms, w[1].start_ms);
            }
            // At most three changes in any second (WCAG 2.3.1).
            assert!(c.colours.iter().all(|k| k.end_ms - k.start_ms >= 334));
            for k in &c.colours {
                let sum: u32 = k.rgb.iter().map(|&v| u32::from(v)).sum();
                assert!(
                    f64::from(k.rgb[0]) / f64::from(sum) < 0.8,
                    "no saturated red"
                );
            }
            seen.insert(c.colours.iter().map(|k| k.rgb).collect::<Vec<_>>());
        }
        assert!(seen.len() > 150, "sequences repeat: {}", seen.len());
    }

    #[test]
    fn active_challenges_ask_for_both_directions_in_random_order() {
        let s = ChallengeSettings::default();
        let mut pick = picker(11);
        let mut orders = std::collections::HashSet::new();
        for _ in 0..50 {
            let c = s.draw(LivenessMethod::Active3d, false, &mut pick);
            assert_eq!(c.actions.len(), 2);
            assert!(c.flash());
            let kinds: Vec<Action> = c.actions.iter().map(|a| a.action).collect();
            assert!(kinds.contains(&Action::TurnLeft) && kinds.contains(&Action::TurnRight));
            orders.insert(format!("{kinds:?}"));
            assert_eq!(c.actions[0].start_ms, s.centre_ms);
            assert_eq!(c.duration_ms, c.actions[1].end_ms + s.centre_ms);
            assert_eq!(c.colours.last().unwrap().end_ms, c.duration_ms);
            // Colours only while facing the camera: none during an action.
            for k in &c.colours {
                assert!(
                    c.actions
                        .iter()
                        .all(|a| k.end_ms <= a.start_ms || k.start_ms >= a.end_ms),
                    "{k:?}"
                );
            }
            assert_eq!(c.colours.len(), 6);
            let m = s.draw(LivenessMethod::Active3d, true, &mut pick);
            assert!(m.motion_only());
            assert_eq!(m.actions.len(), 3);
        }
        assert_eq!(orders.len(), 2, "both orders occur");
    }

    #[test]
    fn frame_counts_follow_the_duration() {
        let s = ChallengeSettings::default();
        let c = s.draw(LivenessMethod::Passive, false, &mut picker(3));
        assert_eq!((c.duration_ms, c.min_frames, c.max_frames), (1000, 4, 14));
        assert!(c.colours.is_empty() && c.actions.is_empty());
        let bad = ChallengeSettings {
            flash_step_ms: 300,
            ..ChallengeSettings::default()
        };
        assert!(bad.validate().unwrap_err().contains("three"));
    }
}
