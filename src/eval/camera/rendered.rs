//! Frames the test camera has encoded, kept for a load generator (see `Rendered`).

use super::{Answer, Footage, decode, reflect};
use crate::biometric::capture::PALETTE;

/// What one rendered frame shows: the shot, the light on it and how it was encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RenderKey {
    shot: (usize, bool),
    colour: Option<[u8; 3]>,
    uniform: bool,
    strength_bits: u32,
    jpeg_quality: u8,
}

impl RenderKey {
    pub(super) fn new(
        shot: (usize, bool),
        colour: Option<[u8; 3]>,
        uniform: bool,
        a: &Answer,
    ) -> Self {
        Self {
            shot,
            colour,
            uniform,
            strength_bits: a.strength.to_bits(),
            jpeg_quality: a.jpeg_quality,
        }
    }
}

/// Frames the camera has encoded, by what they show. A load generator plays many answers on
/// the machine it measures; rendered once (`Footage::prerender`), its cores go to the server.
#[derive(Debug, Default)]
pub struct Rendered(std::sync::Mutex<std::collections::HashMap<RenderKey, Vec<u8>>>);

impl Rendered {
    pub(super) fn get_or_render(
        &self,
        key: RenderKey,
        render: impl FnOnce() -> Vec<u8>,
    ) -> Vec<u8> {
        if let Some(b) = self.0.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return b;
        }
        let b = render();
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, b.clone());
        }
        b
    }

    pub fn len(&self) -> usize {
        self.0.lock().map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Footage {
    /// Renders every frame an honest answer can show (each playable shot, unlit and under each
    /// palette colour) into `rendered`, over `threads` threads.
    pub fn prerender(&self, answer: &Answer, rendered: &Rendered, threads: usize) {
        let mut keys: Vec<RenderKey> = Vec::new();
        let shots = self
            .centre
            .iter()
            .map(|&i| (i, false))
            .chain(self.turn.iter().flat_map(|&i| [(i, false), (i, true)]));
        for shot in shots {
            for colour in std::iter::once(None).chain(PALETTE.iter().copied().map(Some)) {
                keys.push(RenderKey::new(shot, colour, false, answer));
            }
        }
        keys.sort_unstable_by_key(|k| (k.shot, k.colour));
        keys.dedup();
        let n = threads.max(1);
        std::thread::scope(|scope| {
            for w in 0..n {
                let keys = &keys;
                scope.spawn(move || {
                    for k in keys.iter().skip(w).step_by(n) {
                        rendered.get_or_render(*k, || {
                            let shot = self.get(k.shot);
                            let image = match k.colour {
                                Some(c) => {
                                    reflect(&shot.image, &shot.face, c, answer.strength, false)
                                }
                                None => shot.image,
                            };
                            decode::encode_jpeg(&image, answer.jpeg_quality).unwrap_or_default()
                        });
                    }
                });
            }
        });
    }
}
