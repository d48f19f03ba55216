//! Shared helpers: repository paths, the process-wide ONNX Runtime, engines.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use inherence::biometric::Engine;
use inherence::biometric::engine::EngineSettings;
use inherence::biometric::models::Manifest;
use inherence::biometric::runtime::{OrtRuntime, RuntimeSettings, find_in_venv};

/// The repository root.
pub fn repo_root() -> PathBuf {
    std::env::var_os("INHERENCE_REPO_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// The shared data folder. When `what` is absent the test fails, unless the explicit opt-out
/// `INHERENCE_SKIP_SHARED=1` is set: then it says so and the caller returns (`None`).
pub fn shared(what: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("INHERENCE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    if dir.join(what).exists() {
        return Some(dir);
    }
    let missing = format!(
        "{} is absent; this test needs the shared evaluation data",
        dir.join(what).display()
    );
    if std::env::var("INHERENCE_SKIP_SHARED").as_deref() == Ok("1") {
        eprintln!("SKIPPED (INHERENCE_SKIP_SHARED=1): {missing}");
        return None;
    }
    panic!("{missing} (set INHERENCE_SHARED_DIR, or INHERENCE_SKIP_SHARED=1 to skip it)");
}

/// Runtime settings for tests: the project venv's ONNX Runtime unless ORT_DYLIB_PATH is set.
pub fn runtime_settings() -> RuntimeSettings {
    let mut s = RuntimeSettings::default();
    if std::env::var_os("ORT_DYLIB_PATH").is_none() {
        s.onnxruntime_library = find_in_venv(&repo_root().join(".venv"));
    }
    s
}

/// ONNX Runtime allows one environment per process: every test shares this one.
pub fn runtime() -> &'static OrtRuntime {
    static RT: OnceLock<OrtRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        OrtRuntime::load(&runtime_settings()).unwrap_or_else(|e| {
            panic!("{e}\n(run `make onnxruntime`, or `make test`, which installs it)")
        })
    })
}

pub fn manifest() -> Manifest {
    Manifest::load(&repo_root().join("models/manifest.toml")).expect("models/manifest.toml")
}

/// An engine over the installed models with the given settings.
pub fn engine_with(settings: EngineSettings) -> Engine {
    engine_from(&repo_root().join("models"), settings)
}

/// An engine over the models in `dir`.
pub fn engine_from(dir: &Path, settings: EngineSettings) -> Engine {
    Engine::load(runtime(), &runtime_settings(), &manifest(), dir, settings).unwrap_or_else(|e| {
        panic!("{e}\n(run `make models` to install and verify the model files)")
    })
}

/// The default engine, built once.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| engine_with(EngineSettings::default()))
}

/// Settings that follow the Python reference pipeline (one full-size detection pass, no
/// mirrored embedding), for comparisons with its results.
pub fn reference_settings() -> EngineSettings {
    let mut s = EngineSettings::default();
    s.detector.coarse_side = 0;
    s.mirror_embedding = false;
    s
}

/// Reads a CSV file into header-keyed rows.
pub fn read_csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let headers = r.headers().expect("headers").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The default engine as an `Arc` (servers under test share it).
pub fn engine_arc() -> std::sync::Arc<Engine> {
    static ENGINE: OnceLock<std::sync::Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| std::sync::Arc::new(engine_with(EngineSettings::default())))
        .clone()
}
