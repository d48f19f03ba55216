//! Face embedding with the dlib ResNet (128-D, euclidean metric).

use std::time::Duration;

use super::error::BiometricError;
use super::imageops::{ChannelOrder, Rgb8, pack_nchw};
use super::runtime::{ModelSession, first_output_f32};

/// Embedding length of the dlib ResNet.
pub const DIM: usize = 128;

/// The embedder and the landmark template its chips are aligned to.
pub struct Embedder {
    pub name: String,
    pub sha256: String,
    pub template: [[f64; 2]; 5],
    pub chip_size: usize,
    session: ModelSession,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("name", &self.name)
            .field("sha256", &self.sha256)
            .field("chip_size", &self.chip_size)
            .finish()
    }
}

impl Embedder {
    pub fn new(
        name: String,
        sha256: String,
        template: [[f64; 2]; 5],
        chip_size: usize,
        session: ModelSession,
    ) -> Self {
        Self {
            name,
            sha256,
            template,
            chip_size,
            session,
        }
    }

    /// Embeds chips in one batch; returns one vector per chip and the ONNX Runtime time.
    pub fn embed(&self, chips: &[&Rgb8]) -> Result<(Vec<Vec<f32>>, Duration), BiometricError> {
        let s = self.chip_size;
        let mut blob = Vec::with_capacity(chips.len() * 3 * s * s);
        for c in chips {
            if c.width != s || c.height != s {
                return Err(BiometricError::Runtime(format!(
                    "chip is {}x{}, the embedder takes {s}x{s}",
                    c.width, c.height
                )));
            }
            pack_nchw(c, ChannelOrder::Rgb, s, s, &mut blob);
        }
        let (flat, t) = self
            .session
            .run([chips.len(), 3, s, s], &blob, first_output_f32)?;
        if flat.len() != chips.len() * DIM {
            return Err(BiometricError::Runtime(format!(
                "embedder returned {} values for {} chips",
                flat.len(),
                chips.len()
            )));
        }
        Ok((flat.chunks_exact(DIM).map(<[f32]>::to_vec).collect(), t))
    }
}

/// Euclidean distance (the dlib metric: smaller is more similar).
pub fn distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// Parses an alignment template: five lines `label x y` (lines starting with `#` are comments).
pub fn parse_template(text: &str) -> Result<[[f64; 2]; 5], BiometricError> {
    let bad = |why: String| BiometricError::Model {
        name: "alignment template".into(),
        reason: why,
    };
    let pts: Vec<[f64; 2]> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            match parts.as_slice() {
                [_, x, y] => Ok([
                    x.parse().map_err(|_| bad(format!("bad number in {l:?}")))?,
                    y.parse().map_err(|_| bad(format!("bad number in {l:?}")))?,
                ]),
                _ => Err(bad(format!("expected `label x y`, got {l:?}"))),
            }
        })
        .collect::<Result<_, _>>()?;
    pts.try_into()
        .map_err(|v: Vec<[f64; 2]>| bad(format!("expected 5 points, got {}", v.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_dlib_template() {
        let t = "# comment\nright_eye 43.50 46.70\nleft 101.34 44.79\nnose 72.75 75.99\nrm 49.50 101.53\nlm 98.59 99.98\n";
        let p = parse_template(t).unwrap();
        assert_eq!(p[0], [43.5, 46.7]);
        assert_eq!(p[4], [98.59, 99.98]);
        assert!(parse_template("a 1 2\n").is_err());
        assert!(parse_template("a 1 x\nb 1 2\nc 1 2\nd 1 2\ne 1 2").is_err());
    }

    #[test]
    fn metrics() {
        let a = [3.0, 4.0];
        assert_eq!(distance(&a, &[0.0, 0.0]), 5.0);
        assert!((cosine(&a, &[6.0, 8.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&a, &[-4.0, 3.0]).abs() < 1e-6);
    }
}
