//! The attack suite: bursts an attacker who found the victim's photos (or a recording of the
//! victim) would send, each built to answer one challenge. Every attack knows the challenge
//! (an injector reads it from the page) but only the responding ones act on it.

use serde::Serialize;

use super::camera::{self, Answer, Colours, Footage, Rng, Shot, stamps};
use crate::biometric::CapturedFrame;
use crate::biometric::capture::{CaptureSpec, PALETTE};
use crate::biometric::decode::encode_jpeg;
use crate::biometric::imageops::{Rgb8, resize_to, warp_affine};

/// An attack, as named in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// The photo, unchanged, in every frame.
    Still,
    /// The photo as a single frame.
    SingleFrame,
    /// Gaussian noise, sigma 1 and 3.
    Noise1,
    Noise3,
    /// Random shifts of up to 2 px.
    Shift,
    /// Random rotations of up to 1 degree.
    Rotate,
    /// Random scaling by up to 2 %.
    Scale,
    /// Brightness flicker of up to 4 %.
    Flicker,
    /// JPEG re-encoding at quality 60-97.
    Jpeg,
    /// A slow zoom (up to 10 %) over the burst.
    Zoom,
    /// Two photos of the person, alternating.
    TwoPhotos,
    /// Frames of two sizes.
    SizeMismatch,
    /// One frame with the face, the others blank.
    FacePlusBlank,
    /// Noise, shift, rotation, scale, flicker and re-encoding together.
    Combined,
    /// The photo with the screen colours painted on its face at the right time (an injector
    /// that answers the colour challenge).
    LitPhoto,
    /// The photo with the screen colours added evenly to the whole picture, in time.
    TintedPhoto,
    /// The victim's recording answering with another colour sequence.
    WrongColours,
    /// The victim's recording with the right colours one step late.
    LateColours,
    /// The victim's recording with the colours added evenly to the whole picture.
    UniformTint,
    /// The frames of an approved capture, replayed to a new challenge.
    Replay,
    /// A print or screen from the presentation-attack set, as a noisy burst.
    PadPrint,
    PadScreen,
}

impl Attack {
    /// The photo transforms (one still photo of the victim, per-frame changes).
    pub const PHOTO: [Attack; 16] = [
        Attack::Still,
        Attack::SingleFrame,
        Attack::Noise1,
        Attack::Noise3,
        Attack::Shift,
        Attack::Rotate,
        Attack::Scale,
        Attack::Flicker,
        Attack::Jpeg,
        Attack::Zoom,
        Attack::TwoPhotos,
        Attack::SizeMismatch,
        Attack::FacePlusBlank,
        Attack::Combined,
        Attack::LitPhoto,
        Attack::TintedPhoto,
    ];
    /// Attacks that play the victim's recording.
    pub const RECORDING: [Attack; 4] = [
        Attack::WrongColours,
        Attack::LateColours,
        Attack::UniformTint,
        Attack::Replay,
    ];

    /// Every attack of the suite.
    pub const ALL: [Attack; 22] = [
        Attack::Still,
        Attack::SingleFrame,
        Attack::Noise1,
        Attack::Noise3,
        Attack::Shift,
        Attack::Rotate,
        Attack::Scale,
        Attack::Flicker,
        Attack::Jpeg,
        Attack::Zoom,
        Attack::TwoPhotos,
        Attack::SizeMismatch,
        Attack::FacePlusBlank,
        Attack::Combined,
        Attack::LitPhoto,
        Attack::TintedPhoto,
        Attack::WrongColours,
        Attack::LateColours,
        Attack::UniformTint,
        Attack::Replay,
        Attack::PadPrint,
        Attack::PadScreen,
    ];

    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Per-frame changes of a still photo.
#[derive(Clone, Copy, Debug, Default)]
struct Jitter {
    noise: f64,
    shift_px: f64,
    rotate_deg: f64,
    scale: f64,
    flicker: f64,
    reencode: bool,
    zoom: f64,
}

fn jitter(a: Attack) -> Jitter {
    let j = Jitter::default();
    match a {
        Attack::Noise1 => Jitter { noise: 1.0, ..j },
        Attack::Noise3 => Jitter { noise: 3.0, ..j },
        Attack::Shift => Jitter { shift_px: 2.0, ..j },
        Attack::Rotate => Jitter {
            rotate_deg: 1.0,
            ..j
        },
        Attack::Scale => Jitter { scale: 0.02, ..j },
        Attack::Flicker => Jitter { flicker: 0.04, ..j },
        Attack::Jpeg => Jitter {
            reencode: true,
            ..j
        },
        Attack::Zoom => Jitter { zoom: 0.10, ..j },
        Attack::Combined => Jitter {
            noise: 2.0,
            shift_px: 2.0,
            rotate_deg: 1.0,
            scale: 0.02,
            flicker: 0.04,
            reencode: true,
            zoom: 0.0,
        },
        // Photos that are also made to vary, so that only the checks under test refuse them.
        Attack::TwoPhotos
        | Attack::SizeMismatch
        | Attack::FacePlusBlank
        | Attack::LitPhoto
        | Attack::TintedPhoto
        | Attack::PadPrint
        | Attack::PadScreen => Jitter { noise: 1.5, ..j },
        _ => j,
    }
}

/// The photo moved, scaled, rotated, lit and noised as `j` says for frame `i` of `n`.
fn vary(img: &Rgb8, j: &Jitter, i: usize, n: usize, rng: &mut Rng) -> Rgb8 {
    let (w, h) = (img.width as f64, img.height as f64);
    let angle = rng.range(-j.rotate_deg, j.rotate_deg).to_radians();
    let zoom = 1.0 + j.zoom * i as f64 / n.max(1) as f64;
    let s = (1.0 + rng.range(-j.scale, j.scale)) * zoom;
    let (dx, dy) = (
        rng.range(-j.shift_px, j.shift_px),
        rng.range(-j.shift_px, j.shift_px),
    );
    let mut out = if angle != 0.0 || s != 1.0 || dx != 0.0 || dy != 0.0 {
        // Inverse map: destination -> source, about the centre.
        let (c, sn) = (angle.cos() / s, angle.sin() / s);
        let (cx, cy) = (w / 2.0, h / 2.0);
        let inv = [
            c,
            sn,
            cx - c * (cx + dx) - sn * (cy + dy),
            -sn,
            c,
            cy + sn * (cx + dx) - c * (cy + dy),
        ];
        warp_affine(img, &inv, img.width, img.height)
    } else {
        img.clone()
    };
    let gain = 1.0 + rng.range(-j.flicker, j.flicker);
    if j.noise > 0.0 || gain != 1.0 {
        for v in &mut out.data {
            let n = if j.noise > 0.0 {
                rng.gauss() * j.noise
            } else {
                0.0
            };
            *v = (f64::from(*v) * gain + n).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn jpeg(img: &Rgb8, q: u8) -> Vec<u8> {
    encode_jpeg(img, q).unwrap_or_default()
}

/// What the attacks are made from.
pub struct Material<'a> {
    /// A photo of the victim (not the enrolment photo).
    pub photo: &'a Shot,
    /// Another photo of the victim, for the two-photo attack.
    pub other_photo: Option<&'a Shot>,
    /// A recording of the victim.
    pub footage: Option<&'a Footage>,
    /// The frames of an approved capture of the victim.
    pub approved: Option<&'a [CapturedFrame]>,
}

/// The burst of `attack` for this challenge; `None` when the material lacks what it needs.
pub fn burst(
    attack: Attack,
    m: &Material<'_>,
    spec: &CaptureSpec,
    rng: &mut Rng,
) -> Option<Vec<CapturedFrame>> {
    let t = stamps(spec, rng);
    let n = t.len();
    let j = jitter(attack);
    let photo = &m.photo.image;
    let frame = |img: Rgb8, t_ms: f64, q: u8| CapturedFrame {
        bytes: jpeg(&img, q),
        t_ms,
    };
    let frames = match attack {
        Attack::SingleFrame => vec![frame(photo.clone(), 0.0, 92)],
        Attack::Still => t.iter().map(|&x| frame(photo.clone(), x, 92)).collect(),
        Attack::TwoPhotos => {
            let other = &m.other_photo?.image;
            t.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let src = if i % 2 == 0 { photo } else { other };
                    frame(vary(src, &j, i, n, rng), x, 92)
                })
                .collect()
        }
        Attack::SizeMismatch => t
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let v = vary(photo, &j, i, n, rng);
                let img = if i % 2 == 1 {
                    resize_to(&v, v.width * 3 / 4, v.height * 3 / 4)
                } else {
                    v
                };
                frame(img, x, 92)
            })
            .collect(),
        Attack::FacePlusBlank => t
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let img = if i == 0 {
                    vary(photo, &j, i, n, rng)
                } else {
                    let mut b = Rgb8::new(photo.width, photo.height);
                    b.data
                        .iter_mut()
                        .for_each(|v| *v = 100 + rng.below(20) as u8);
                    b
                };
                frame(img, x, 92)
            })
            .collect(),
        Attack::LitPhoto | Attack::TintedPhoto | Attack::PadPrint | Attack::PadScreen => {
            let answer = Answer {
                colours: if attack == Attack::TintedPhoto {
                    Colours::Uniform
                } else {
                    Colours::Reflect
                },
                ..Answer::default()
            };
            t.iter()
                .enumerate()
                .map(|(i, &x)| {
                    let base = Shot {
                        image: vary(photo, &j, i, n, rng),
                        ..m.photo.clone()
                    };
                    let lit = if matches!(attack, Attack::LitPhoto | Attack::TintedPhoto) {
                        camera::light(&base, spec, &answer, x)
                    } else {
                        base.image
                    };
                    frame(lit, x, 92)
                })
                .collect()
        }
        Attack::WrongColours | Attack::LateColours | Attack::UniformTint => {
            let footage = m.footage?;
            let colours = match attack {
                Attack::WrongColours => Colours::Other(
                    spec.colours
                        .iter()
                        .map(|c| {
                            let i = PALETTE.iter().position(|p| *p == c.rgb).unwrap_or(0);
                            PALETTE[(i + 3) % PALETTE.len()]
                        })
                        .collect(),
                ),
                Attack::LateColours => Colours::Late(f64::from(
                    spec.colours.first().map_or(500, |c| c.end_ms - c.start_ms),
                )),
                _ => Colours::Uniform,
            };
            camera::record(
                footage,
                spec,
                &Answer {
                    colours,
                    ..Answer::default()
                },
                rng,
            )
        }
        Attack::Replay => m.approved?.to_vec(),
        _ => t
            .iter()
            .enumerate()
            .map(|(i, &x)| {
                let q = if j.reencode {
                    60 + rng.below(38) as u8
                } else {
                    92
                };
                frame(vary(photo, &j, i, n, rng), x, q)
            })
            .collect(),
    };
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_attack_has_a_distinct_name() {
        let mut names: Vec<String> = Attack::PHOTO
            .iter()
            .chain(&Attack::RECORDING)
            .map(|a| a.name())
            .collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(Attack::TwoPhotos.name(), "two_photos");
        // `ALL` (what `eval-liveness --attack` accepts) lists every attack once.
        let mut all: Vec<String> = Attack::ALL.iter().map(|a| a.name()).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), Attack::ALL.len());
        for a in Attack::PHOTO.iter().chain(&Attack::RECORDING) {
            assert!(Attack::ALL.contains(a), "{a:?}");
        }
        assert!(
            Attack::ALL.contains(&Attack::PadPrint) && Attack::ALL.contains(&Attack::PadScreen)
        );
    }

    #[test]
    fn a_still_photo_varies_only_as_asked() {
        let mut img = Rgb8::new(64, 48);
        for (i, v) in img.data.iter_mut().enumerate() {
            *v = (i * 7 % 251) as u8;
        }
        let mut rng = Rng::new(1);
        assert_eq!(
            vary(&img, &Jitter::default(), 0, 5, &mut rng).data,
            img.data
        );
        let noisy = vary(&img, &jitter(Attack::Noise3), 0, 5, &mut rng);
        let diff: f64 = noisy
            .data
            .iter()
            .zip(&img.data)
            .map(|(a, b)| f64::from(a.abs_diff(*b)))
            .sum::<f64>()
            / img.data.len() as f64;
        assert!(diff > 1.0 && diff < 4.0, "{diff}");
    }
}
