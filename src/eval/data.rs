//! Evaluation split layout (as `shared/eval/dev`): `images.csv`, `pairs.csv`, `pad.csv` and an
//! optional `pad_meta.csv`, with image paths relative to the split folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A face-match image.
#[derive(Clone, Debug)]
pub struct ImageRow {
    pub image: String,
    pub identity: String,
    pub group: String,
    /// Source colour mode as listed (`L`, `RGB`, `RGBA`...), when given.
    pub mode: Option<String>,
}

/// A pair to compare.
#[derive(Clone, Debug)]
pub struct PairRow {
    pub a: String,
    pub b: String,
    pub same: bool,
}

/// A presentation-attack-detection sample.
#[derive(Clone, Debug)]
pub struct PadRow {
    pub image: String,
    pub live: bool,
    pub attack_type: String,
    pub dataset: String,
    pub subject: String,
}

/// A whole split.
#[derive(Clone, Debug)]
pub struct Split {
    pub root: PathBuf,
    pub images: Vec<ImageRow>,
    pub pairs: Vec<PairRow>,
    pub pad: Vec<PadRow>,
}

/// Split loading errors.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {reason}")]
    Csv { path: PathBuf, reason: String },
    #[error("{0} is not an evaluation split: it needs images.csv, pairs.csv and pad.csv")]
    NotASplit(PathBuf),
}

fn read_csv(path: &Path) -> Result<Vec<HashMap<String, String>>, DataError> {
    let err = |reason: String| DataError::Csv {
        path: path.to_path_buf(),
        reason,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let headers = r.headers().map_err(|e| err(e.to_string()))?.clone();
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| err(e.to_string()))?;
        rows.push(
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect(),
        );
    }
    Ok(rows)
}

fn field(row: &HashMap<String, String>, name: &str, path: &Path) -> Result<String, DataError> {
    row.get(name).cloned().ok_or_else(|| DataError::Csv {
        path: path.to_path_buf(),
        reason: format!("missing column {name}"),
    })
}

impl Split {
    /// Reads a split folder.
    pub fn load(root: &Path) -> Result<Self, DataError> {
        let (ip, pp, dp) = (
            root.join("images.csv"),
            root.join("pairs.csv"),
            root.join("pad.csv"),
        );
        if !ip.is_file() || !pp.is_file() || !dp.is_file() {
            return Err(DataError::NotASplit(root.to_path_buf()));
        }
        let images = read_csv(&ip)?
            .iter()
            .map(|r| {
                Ok(ImageRow {
                    image: field(r, "image", &ip)?,
                    identity: field(r, "identity", &ip)?,
                    group: field(r, "group", &ip)?,
                    mode: r.get("mode").cloned(),
                })
            })
            .collect::<Result<_, DataError>>()?;
        let pairs = read_csv(&pp)?
            .iter()
            .map(|r| {
                let same = field(r, "same", &pp)?;
                Ok(PairRow {
                    a: field(r, "img_a", &pp)?,
                    b: field(r, "img_b", &pp)?,
                    same: match same.as_str() {
                        "1" | "true" | "True" => true,
                        "0" | "false" | "False" => false,
                        other => {
                            return Err(DataError::Csv {
                                path: pp.clone(),
                                reason: format!("same must be 0 or 1, got {other:?}"),
                            });
                        }
                    },
                })
            })
            .collect::<Result<_, DataError>>()?;
        let meta: HashMap<String, HashMap<String, String>> = {
            let mp = root.join("pad_meta.csv");
            if mp.is_file() {
                read_csv(&mp)?
                    .into_iter()
                    .filter_map(|r| Some((r.get("image")?.clone(), r)))
                    .collect()
            } else {
                HashMap::new()
            }
        };
        let pad = read_csv(&dp)?
            .iter()
            .map(|r| {
                let image = field(r, "image", &dp)?;
                let label = field(r, "label", &dp)?;
                let m = meta.get(&image);
                let dataset = m
                    .and_then(|m| m.get("dataset").cloned())
                    .unwrap_or_else(|| {
                        // Without metadata, the first folder below pad_images names the source.
                        image.split('/').nth(1).unwrap_or("unknown").to_owned()
                    });
                Ok(PadRow {
                    live: match label.as_str() {
                        "live" => true,
                        "spoof" => false,
                        other => {
                            return Err(DataError::Csv {
                                path: dp.clone(),
                                reason: format!("label must be live or spoof, got {other:?}"),
                            });
                        }
                    },
                    attack_type: r.get("attack_type").cloned().unwrap_or_default(),
                    subject: m
                        .and_then(|m| m.get("subject_or_capture").cloned())
                        .unwrap_or_default(),
                    dataset,
                    image,
                })
            })
            .collect::<Result<_, DataError>>()?;
        Ok(Split {
            root: root.to_path_buf(),
            images,
            pairs,
            pad,
        })
    }
}
