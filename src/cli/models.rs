//! `inherence models install | verify`.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::Failure;
use crate::biometric::models::{self, Manifest, Source};
use crate::config::Config;

/// The offline bundle used when `--from` is not given and the folder exists.
pub const DEFAULT_BUNDLE: &str = "../shared/models";

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Install every file of the manifest, verifying each sha256 before it is put in place.
    /// Source: --from DIR, else ../shared/models when it exists, else the upstream URLs (and
    /// the rebuild script for the dlib embedder, which has no upstream ONNX file).
    Install {
        /// Offline bundle directory laid out like the manifest's `file` paths.
        #[arg(long, conflicts_with = "upstream")]
        from: Option<PathBuf>,
        /// Ignore any bundle and fetch from upstream.
        #[arg(long)]
        upstream: bool,
    },
    /// Re-check the sha256 of every installed file.
    Verify,
}

pub fn run(cfg: &Config, action: ModelsAction) -> Result<(), Failure> {
    let manifest = Manifest::load(&cfg.models.manifest)?;
    match action {
        ModelsAction::Install { from, upstream } => {
            let source = match (from, upstream) {
                (Some(dir), _) => {
                    if !dir.is_dir() {
                        return Err(Failure::usage(format!(
                            "--from {}: not a directory",
                            dir.display()
                        )));
                    }
                    Source::Bundle(dir)
                }
                (None, false) if Path::new(DEFAULT_BUNDLE).is_dir() => {
                    Source::Bundle(PathBuf::from(DEFAULT_BUNDLE))
                }
                _ => Source::Upstream {
                    python: cfg.models.python.clone(),
                    repo_root: repo_root(&cfg.models.manifest),
                },
            };
            eprintln!(
                "installing {} files into {} from {source:?}",
                manifest.files.len(),
                cfg.models.dir.display()
            );
            let outcomes = models::install(&manifest, &cfg.models.dir, &source);
            let mut failed = 0;
            for o in &outcomes {
                println!(
                    "{:<4} {:<28} {}  {}",
                    if o.ok { "ok" } else { "FAIL" },
                    o.name,
                    o.file,
                    o.action
                );
                failed += usize::from(!o.ok);
            }
            if failed > 0 {
                return Err(Failure::runtime(format!("{failed} file(s) not installed")));
            }
            Ok(())
        }
        ModelsAction::Verify => {
            let st = models::verify_all(&manifest, &cfg.models.dir);
            let mut failed = 0;
            for s in &st {
                println!(
                    "{:<4} {:<28} {}  {}",
                    if s.ok { "ok" } else { "FAIL" },
                    s.name,
                    s.file,
                    s.detail
                );
                failed += usize::from(!s.ok);
            }
            if failed > 0 {
                return Err(Failure::runtime(format!(
                    "{failed} file(s) missing or altered; run `inherence models install`"
                )));
            }
            Ok(())
        }
    }
}

/// The repository root, taken as the parent of the manifest's folder.
fn repo_root(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}
