//! `inherence-tools test-camera`: the responding test camera (`eval::camera`) for tests that run
//! outside this process: the browser end-to-end tests (which replay the footage in the page)
//! and HTTP clients in other languages (which upload its answer to a challenge).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use inherence::biometric::capture::CaptureSpec;
use inherence::biometric::decode::encode_jpeg;
use inherence::cli::Failure;
use inherence::config::Config;
use inherence::eval::camera::{self, Answer, Footage, Rng, mjpeg_frames};

#[derive(Debug, Subcommand)]
pub enum TestCameraAction {
    /// Write the footage of a recording (NNN.jpg, 640x480) and footage.json (faces, poses, the
    /// straight-ahead stretch and the recorded turn) for a browser-side test camera.
    Export {
        #[arg(long)]
        video: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Write the footage of one still picture (a photo played as a camera): 000.jpg and
    /// footage.json, for the browser's attack tests.
    Still {
        #[arg(long)]
        image: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Answer a challenge (the JSON the capture page receives) from a recording: NNN.jpg and
    /// timestamps.txt (milliseconds, comma-separated), ready to upload.
    Answer {
        #[arg(long)]
        video: PathBuf,
        #[arg(long)]
        challenge: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn read(p: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(p).map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(dir.join(name), bytes))
        .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", dir.join(name).display())))
}

fn export(footage: &Footage, out: &Path) -> Result<(), Failure> {
    for (i, s) in footage.shots.iter().enumerate() {
        write(out, &format!("{i:03}.jpg"), &encode_jpeg(&s.image, 92)?)?;
    }
    let json = serde_json::to_vec_pretty(&footage.describe())
        .map_err(|e| Failure::runtime(e.to_string()))?;
    write(out, "footage.json", &json)
}

pub fn run(cfg: &Config, action: TestCameraAction) -> Result<(), Failure> {
    let (_rt, engine) = inherence::cli::load_engine(cfg)?;
    let ch = &cfg.liveness.challenge;
    let (w, h) = (ch.frame_width as usize, ch.frame_height as usize);
    let load = |video: &Path| {
        Footage::load(&engine, &mjpeg_frames(&read(video)?), w, h).map_err(Failure::usage)
    };
    match action {
        TestCameraAction::Export { video, out } => export(&load(&video)?, &out),
        TestCameraAction::Still { image, out } => {
            let shot = camera::shot(&engine, &read(&image)?, w, h).map_err(Failure::usage)?;
            write(&out, "000.jpg", &encode_jpeg(&shot.image, 92)?)?;
            let json = serde_json::json!({
                "shots": [{"file": "000.jpg", "bbox": shot.face.bbox, "nose": shot.face.landmarks[2], "yaw": shot.yaw}],
                "centre": [0], "turn": [], "turn_sign": 0.0,
            });
            write(&out, "footage.json", json.to_string().as_bytes())
        }
        TestCameraAction::Answer {
            video,
            challenge,
            out,
            seed,
        } => {
            let spec: CaptureSpec = serde_json::from_slice(&read(&challenge)?)
                .map_err(|e| Failure::usage(format!("{}: {e}", challenge.display())))?;
            let frames = camera::record(
                &load(&video)?,
                &spec,
                &Answer::default(),
                &mut Rng::new(seed),
            );
            for (i, f) in frames.iter().enumerate() {
                write(&out, &format!("{i:03}.jpg"), &f.bytes)?;
            }
            let stamps: Vec<String> = frames.iter().map(|f| format!("{:.1}", f.t_ms)).collect();
            write(&out, "timestamps.txt", stamps.join(",").as_bytes())
        }
    }
}
