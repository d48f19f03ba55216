//! The model manifest (`models/manifest.toml`): what each file is, where it comes from, its
//! sha256, and how to install and verify it. Nothing is loaded unless its hash matches.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Where models live and how they are installed.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Directory holding the installed model files.
    pub dir: PathBuf,
    /// The manifest listing every file with its sha256.
    pub manifest: PathBuf,
    /// Python interpreter used to rebuild models that have no downloadable upstream file.
    pub python: PathBuf,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("models"),
            manifest: PathBuf::from("models/manifest.toml"),
            python: PathBuf::from(".venv/bin/python"),
        }
    }
}

/// What a file is for.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Detector,
    Embedder,
    AlignmentTemplate,
    Liveness,
    Licence,
}

/// How a file without a downloadable upstream copy is rebuilt from its original source.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    /// Script (relative to the repository root) invoked as `python SCRIPT --out FILE`.
    pub script: String,
    /// Human description of the original source.
    pub source: String,
    /// sha256 of the original source file the script reads.
    pub source_sha256: String,
}

/// Input tensor and preprocessing description.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub tensor: String,
    pub shape: String,
    pub colour: String,
    pub range: String,
    pub preprocessing: String,
    /// Liveness models: the face box is scaled by this factor about its centre before cropping.
    pub crop_scale: Option<f32>,
    /// Square input size in pixels, for fixed-size models.
    pub size: Option<u32>,
}

/// Another accepted build of the same weights (e.g. rebuilt from source).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AltBuild {
    pub sha256: String,
    pub bytes: u64,
    pub note: String,
}

/// One file of the manifest.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub name: String,
    pub role: Role,
    /// Path relative to the models directory (and to an offline bundle).
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    #[serde(default)]
    pub alt: Vec<AltBuild>,
    pub licence: String,
    pub provenance: String,
    pub upstream_url: Option<String>,
    pub build: Option<BuildSpec>,
    pub input: Option<InputSpec>,
    pub output: Option<String>,
    /// For embedders: the `name` of the alignment template file they expect.
    pub alignment_template: Option<String>,
}

impl ModelFile {
    /// Whether `(bytes, sha256)` is an accepted build of this file.
    pub fn accepts(&self, bytes: u64, sha256: &str) -> bool {
        (bytes == self.bytes && sha256 == self.sha256)
            || self
                .alt
                .iter()
                .any(|a| a.bytes == bytes && a.sha256 == sha256)
    }
}

/// The parsed manifest.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    #[serde(rename = "file")]
    pub files: Vec<ModelFile>,
}

/// Manifest and install errors.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error(
        "{name}: sha256 mismatch for {path}: expected {expected} ({expected_bytes} bytes), got {actual} ({actual_bytes} bytes); refusing it"
    )]
    HashMismatch {
        name: String,
        path: PathBuf,
        expected: String,
        expected_bytes: u64,
        actual: String,
        actual_bytes: u64,
    },
    #[error("{name}: {path} is not installed; run `inherence models install`")]
    Missing { name: String, path: PathBuf },
    #[error("{name}: {reason}")]
    Source { name: String, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(io_err(path))?;
        let m: Manifest = toml::from_str(&text).map_err(|e| ModelError::Manifest {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        m.validate().map_err(|reason| ModelError::Manifest {
            path: path.to_path_buf(),
            reason,
        })?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), String> {
        if self.schema != 1 {
            return Err(format!(
                "schema {} is not supported (expected 1)",
                self.schema
            ));
        }
        let mut names = std::collections::HashSet::new();
        for f in &self.files {
            if !names.insert(&f.name) {
                return Err(format!("duplicate name {}", f.name));
            }
            let hex_ok = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex_ok(&f.sha256) || !f.alt.iter().all(|a| hex_ok(&a.sha256)) {
                return Err(format!("{}: sha256 must be 64 hex digits", f.name));
            }
            let p = Path::new(&f.file);
            if p.is_absolute()
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(format!(
                    "{}: file must be a relative path inside the models directory",
                    f.name
                ));
            }
            if f.role != Role::Licence && f.input.is_none() && f.role != Role::AlignmentTemplate {
                return Err(format!("{}: models need an [file.input] spec", f.name));
            }
            if f.role == Role::Liveness && f.input.as_ref().and_then(|i| i.crop_scale).is_none() {
                return Err(format!("{}: liveness models need input.crop_scale", f.name));
            }
        }
        for role in [Role::Detector, Role::Embedder, Role::AlignmentTemplate] {
            if self.files.iter().filter(|f| f.role == role).count() != 1 {
                return Err(format!("exactly one {role:?} file is required"));
            }
        }
        if !self.files.iter().any(|f| f.role == Role::Liveness) {
            return Err("at least one liveness model is required".into());
        }
        Ok(())
    }

    /// The single file with `role` (detector, embedder, alignment template).
    pub fn one(&self, role: Role) -> &ModelFile {
        self.files
            .iter()
            .find(|f| f.role == role)
            .expect("validated manifest has every role")
    }

    /// All files with `role`.
    pub fn all(&self, role: Role) -> impl Iterator<Item = &ModelFile> {
        self.files.iter().filter(move |f| f.role == role)
    }
}

/// sha256 (hex) and size of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64), ModelError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).map_err(io_err(path))?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

/// sha256 (hex) of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads an installed file and checks it against the manifest before anyone uses it.
pub fn read_verified(dir: &Path, entry: &ModelFile) -> Result<(Vec<u8>, String), ModelError> {
    let path = dir.join(&entry.file);
    if !path.exists() {
        return Err(ModelError::Missing {
            name: entry.name.clone(),
            path,
        });
    }
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    let sha = sha256_hex(&bytes);
    if !entry.accepts(bytes.len() as u64, &sha) {
        return Err(ModelError::HashMismatch {
            name: entry.name.clone(),
            path,
            expected: entry.sha256.clone(),
            expected_bytes: entry.bytes,
            actual: sha,
            actual_bytes: bytes.len() as u64,
        });
    }
    Ok((bytes, sha))
}

/// Outcome of checking one installed file.
#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    pub name: String,
    pub file: String,
    pub ok: bool,
    pub sha256: Option<String>,
    pub detail: String,
}

/// Re-checks every installed file.
pub fn verify_all(manifest: &Manifest, dir: &Path) -> Vec<FileStatus> {
    manifest
        .files
        .iter()
        .map(|f| {
            let path = dir.join(&f.file);
            match hash_file(&path) {
                Ok((sha, n)) if f.accepts(n, &sha) => FileStatus {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    ok: true,
                    detail: if sha == f.sha256 {
                        "ok".into()
                    } else {
                        "ok (accepted alternative build)".into()
                    },
                    sha256: Some(sha),
                },
                Ok((sha, n)) => FileStatus {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    ok: false,
                    detail: format!(
                        "sha256 mismatch: expected {} ({} bytes), found {sha} ({n} bytes)",
                        f.sha256, f.bytes
                    ),
                    sha256: Some(sha),
                },
                Err(_) if !path.exists() => FileStatus {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    ok: false,
                    detail: "not installed".into(),
                    sha256: None,
                },
                Err(e) => FileStatus {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    ok: false,
                    detail: e.to_string(),
                    sha256: None,
                },
            }
        })
        .collect()
}

/// Where `install` takes files from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An offline bundle directory laid out like the manifest's `file` paths.
    Bundle(PathBuf),
    /// Each file's `upstream_url`, or its `build` script run with this Python interpreter.
    Upstream { python: PathBuf, repo_root: PathBuf },
}

/// What `install` did with one file.
#[derive(Debug, Clone, Serialize)]
pub struct InstallOutcome {
    pub name: String,
    pub file: String,
    pub action: String,
    pub ok: bool,
}

/// Installs every file into `dir`, verifying each sha256 before it is moved into place.
/// Files already present with an accepted hash are left alone.
pub fn install(manifest: &Manifest, dir: &Path, source: &Source) -> Vec<InstallOutcome> {
    manifest
        .files
        .iter()
        .map(|f| {
            let dest = dir.join(&f.file);
            if let Ok((sha, n)) = hash_file(&dest)
                && f.accepts(n, &sha)
            {
                return InstallOutcome {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    action: "already installed, sha256 ok".into(),
                    ok: true,
                };
            }
            match install_one(f, &dest, source) {
                Ok(action) => InstallOutcome {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    action,
                    ok: true,
                },
                Err(e) => InstallOutcome {
                    name: f.name.clone(),
                    file: f.file.clone(),
                    action: e.to_string(),
                    ok: false,
                },
            }
        })
        .collect()
}

fn install_one(f: &ModelFile, dest: &Path, source: &Source) -> Result<String, ModelError> {
    let parent = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_err(parent))?;
    let tmp = parent.join(format!(
        ".install-{}-{}",
        std::process::id(),
        dest.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    ));
    let result = (|| {
        let from = match source {
            Source::Bundle(bundle) => {
                let src = bundle.join(&f.file);
                let mut input = File::open(&src).map_err(|e| ModelError::Source {
                    name: f.name.clone(),
                    reason: format!("the bundle has no {} ({e})", src.display()),
                })?;
                copy_to(&mut input, &tmp)?;
                format!("installed from bundle {}", bundle.display())
            }
            Source::Upstream { python, repo_root } => {
                if let Some(url) = &f.upstream_url {
                    download(url, &tmp, &f.name)?;
                    format!("downloaded from {url}")
                } else if let Some(build) = &f.build {
                    run_build(build, python, repo_root, &tmp, &f.name)?;
                    format!("rebuilt by {} from {}", build.script, build.source)
                } else if f.role == Role::Licence {
                    return Ok(format!(
                        "skipped: licence text has no upstream copy ({}); see models/README.md",
                        f.licence
                    ));
                } else {
                    return Err(ModelError::Source {
                        name: f.name.clone(),
                        reason: "no upstream URL or build recipe in the manifest; install it from a bundle with --from DIR".into(),
                    });
                }
            }
        };
        let (sha, n) = hash_file(&tmp)?;
        if !f.accepts(n, &sha) {
            return Err(ModelError::HashMismatch {
                name: f.name.clone(),
                path: tmp.clone(),
                expected: f.sha256.clone(),
                expected_bytes: f.bytes,
                actual: sha,
                actual_bytes: n,
            });
        }
        std::fs::rename(&tmp, dest).map_err(io_err(dest))?;
        Ok(format!("{from}, sha256 ok"))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn copy_to(input: &mut dyn Read, tmp: &Path) -> Result<(), ModelError> {
    let mut out = File::create(tmp).map_err(io_err(tmp))?;
    std::io::copy(input, &mut out).map_err(io_err(tmp))?;
    out.sync_all().map_err(io_err(tmp))?;
    Ok(())
}

/// Largest file a download may produce (the biggest model is 22 MB).
const MAX_DOWNLOAD: u64 = 256 * 1024 * 1024;

fn download(url: &str, tmp: &Path, name: &str) -> Result<(), ModelError> {
    let src_err = |reason: String| ModelError::Source {
        name: name.to_owned(),
        reason,
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(300))
        .build()
        .map_err(|e| src_err(e.to_string()))?;
    let resp = client
        .get(url)
        .send()
        .map_err(|e| src_err(format!("download of {url} failed: {e}")))?;
    if !resp.status().is_success() {
        return Err(src_err(format!(
            "download of {url} answered {}",
            resp.status()
        )));
    }
    let mut limited = resp.take(MAX_DOWNLOAD + 1);
    let mut out = File::create(tmp).map_err(io_err(tmp))?;
    let n = std::io::copy(&mut limited, &mut out).map_err(io_err(tmp))?;
    if n > MAX_DOWNLOAD {
        return Err(src_err(format!(
            "download of {url} exceeds {MAX_DOWNLOAD} bytes"
        )));
    }
    out.flush().map_err(io_err(tmp))?;
    Ok(())
}

fn run_build(
    build: &BuildSpec,
    python: &Path,
    repo_root: &Path,
    tmp: &Path,
    name: &str,
) -> Result<(), ModelError> {
    let script = repo_root.join(&build.script);
    let status = std::process::Command::new(python)
        .arg(&script)
        .arg("--out")
        .arg(tmp)
        .arg("--source-sha256")
        .arg(&build.source_sha256)
        .status()
        .map_err(|e| ModelError::Source {
            name: name.to_owned(),
            reason: format!(
                "cannot run {} {}: {e} (run `make venv` to create the Python environment)",
                python.display(),
                script.display()
            ),
        })?;
    if !status.success() {
        return Err(ModelError::Source {
            name: name.to_owned(),
            reason: format!("{} exited with {status}", script.display()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
schema = 1
[[file]]
name = "det"
role = "detector"
file = "d/det.onnx"
bytes = 5
sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
licence = "MIT"
provenance = "test"
input = { tensor = "input", shape = "[N,3,H,W]", colour = "BGR", range = "0..255", preprocessing = "pad" }
[[file]]
name = "emb"
role = "embedder"
file = "e.onnx"
bytes = 1
sha256 = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
licence = "CC0"
provenance = "test"
alignment_template = "tpl"
input = { tensor = "input", shape = "[N,3,150,150]", colour = "RGB", range = "0..255", preprocessing = "align", size = 150 }
[[file]]
name = "tpl"
role = "alignment-template"
file = "t.txt"
bytes = 1
sha256 = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
licence = "CC0"
provenance = "test"
[[file]]
name = "live"
role = "liveness"
file = "l.onnx"
bytes = 1
sha256 = "2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
licence = "Apache-2.0"
provenance = "test"
input = { tensor = "input", shape = "[1,3,80,80]", colour = "BGR", range = "0..255", preprocessing = "crop", crop_scale = 2.7 }
"#;

    fn write_bundle(dir: &Path, det: &[u8]) {
        std::fs::create_dir_all(dir.join("d")).unwrap();
        std::fs::write(dir.join("d/det.onnx"), det).unwrap();
        std::fs::write(dir.join("e.onnx"), b"a").unwrap();
        std::fs::write(dir.join("t.txt"), b"b").unwrap();
        std::fs::write(dir.join("l.onnx"), b"c").unwrap();
    }

    #[test]
    fn install_from_bundle_verifies_and_is_idempotent() {
        let m: Manifest = toml::from_str(MANIFEST).unwrap();
        m.validate().unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("bundle");
        let dest = tmp.path().join("models");
        write_bundle(&bundle, b"hello");
        let out = install(&m, &dest, &Source::Bundle(bundle.clone()));
        assert!(out.iter().all(|o| o.ok), "{out:?}");
        assert!(verify_all(&m, &dest).iter().all(|s| s.ok));
        let again = install(&m, &dest, &Source::Bundle(bundle));
        assert!(
            again
                .iter()
                .all(|o| o.action.starts_with("already installed"))
        );
    }

    #[test]
    fn install_refuses_a_tampered_file_and_leaves_nothing_behind() {
        let m: Manifest = toml::from_str(MANIFEST).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let bundle = tmp.path().join("bundle");
        let dest = tmp.path().join("models");
        write_bundle(&bundle, b"hellO");
        let out = install(&m, &dest, &Source::Bundle(bundle));
        let det = out.iter().find(|o| o.name == "det").unwrap();
        assert!(!det.ok);
        assert!(det.action.contains("sha256 mismatch"), "{}", det.action);
        assert!(!dest.join("d/det.onnx").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dest.join("d")).unwrap().collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn verify_detects_a_modified_installed_file() {
        let m: Manifest = toml::from_str(MANIFEST).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        write_bundle(tmp.path(), b"hello");
        assert!(verify_all(&m, tmp.path()).iter().all(|s| s.ok));
        std::fs::write(tmp.path().join("l.onnx"), b"d").unwrap();
        let bad: Vec<_> = verify_all(&m, tmp.path())
            .into_iter()
            .filter(|s| !s.ok)
            .collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].name, "live");
        assert!(read_verified(tmp.path(), m.all(Role::Liveness).next().unwrap()).is_err());
    }

    #[test]
    fn manifest_rejects_unknown_keys_and_escaping_paths() {
        let bad = MANIFEST.replace("licence = \"MIT\"", "licence = \"MIT\"\ncolour = 1");
        assert!(toml::from_str::<Manifest>(&bad).is_err());
        let esc: Manifest = toml::from_str(&MANIFEST.replace("d/det.onnx", "../det.onnx")).unwrap();
        assert!(esc.validate().is_err());
    }
}
