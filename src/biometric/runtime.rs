//! ONNX Runtime: loading the shared library, building sessions once, running them from any thread.
//!
//! `ort` is used with `load-dynamic`: the library comes from the `onnxruntime` wheel that
//! `make onnxruntime` installs into the project's `.venv`, or from the path configured in
//! `[runtime] onnxruntime_library` / `ORT_DYLIB_PATH`. `ort`'s binary download is never used.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionOutputs};
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use super::error::BiometricError;
use super::graph;

/// The ONNX Runtime release the project pins (`make onnxruntime` installs this wheel).
pub const PINNED_ORT_VERSION: &str = "1.31.1";

/// Threading and loading options.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeSettings {
    /// Path to `libonnxruntime.so`; when unset, `ORT_DYLIB_PATH`, then `./.venv` are tried.
    pub onnxruntime_library: Option<PathBuf>,
    /// Intra-op threads per model run. 1 keeps each request on its calling thread, and the
    /// server gets its parallelism from serving several requests at once.
    pub intra_op_threads: usize,
    /// How many requests may run a model at the same moment (one ORT session each, weights
    /// shared). 0 means one per CPU core.
    pub concurrency: usize,
    /// Let ORT's worker threads spin while idle. Off by default: with spinning, 2 threads ran
    /// 2.5x slower than 1 on a 2-core machine.
    pub allow_spinning: bool,
    /// Rewrite `PRelu` as `Max(x, a*x)` in memory (exact for slopes <= 1); see `graph.rs`.
    pub rewrite_prelu: bool,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        Self {
            onnxruntime_library: None,
            intra_op_threads: 1,
            concurrency: 0,
            allow_spinning: false,
            rewrite_prelu: true,
        }
    }
}

impl RuntimeSettings {
    /// Effective number of sessions per model.
    pub fn effective_concurrency(&self) -> usize {
        if self.concurrency == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.concurrency
        }
    }
}

fn install_hint() -> String {
    format!(
        "Install ONNX Runtime {PINNED_ORT_VERSION} with `make onnxruntime` (it runs \
         `pip install onnxruntime=={PINNED_ORT_VERSION}` into ./.venv), or point \
         `[runtime] onnxruntime_library` or the ORT_DYLIB_PATH environment variable at an \
         existing libonnxruntime.so of version 1.31 or newer."
    )
}

/// Finds `libonnxruntime.so*` inside a Python virtual environment.
pub fn find_in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    let mut found = Vec::new();
    for py in std::fs::read_dir(&lib).ok()?.flatten() {
        let capi = py.path().join("site-packages/onnxruntime/capi");
        if let Ok(entries) = std::fs::read_dir(&capi) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("libonnxruntime.so") {
                    found.push(e.path());
                }
            }
        }
    }
    // Prefer the fully versioned file name (`libonnxruntime.so.1.31.1`).
    found.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    found.into_iter().next()
}

/// Resolves the library path from settings, environment and the project venv.
pub fn resolve_library(settings: &RuntimeSettings) -> Result<PathBuf, BiometricError> {
    let candidate = settings
        .onnxruntime_library
        .clone()
        .or_else(|| {
            std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| find_in_venv(Path::new(".venv")));
    match candidate {
        Some(p) if p.is_file() => Ok(p),
        Some(p) => Err(BiometricError::Runtime(format!(
            "the ONNX Runtime library {} does not exist. {}",
            p.display(),
            install_hint()
        ))),
        None => Err(BiometricError::Runtime(format!(
            "no ONNX Runtime library is configured and none was found in ./.venv. {}",
            install_hint()
        ))),
    }
}

/// A loaded ONNX Runtime. ORT allows one environment per process: load it once and build every
/// session (with any thread settings) from it.
pub struct OrtRuntime {
    env: Environment,
    library: PathBuf,
}

impl std::fmt::Debug for OrtRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrtRuntime")
            .field("library", &self.library)
            .finish()
    }
}

impl OrtRuntime {
    /// Loads the shared library and creates the environment.
    pub fn load(settings: &RuntimeSettings) -> Result<Self, BiometricError> {
        let library = resolve_library(settings)?;
        let builder = ort::init_from(&library).map_err(|e| {
            BiometricError::Runtime(format!(
                "could not load ONNX Runtime from {}: {e}. {}",
                library.display(),
                install_hint()
            ))
        })?;
        let env = builder.with_name("inherence").build()?;
        Ok(Self { env, library })
    }

    /// Path of the loaded library.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// ONNX Runtime version of the loaded library (from its build info, else its file name).
    pub fn version(&self) -> String {
        let from_info = ort::info()
            .split(',')
            .find_map(|part| part.trim().strip_prefix("git-branch=rel-"))
            .map(str::to_owned);
        let from_name = || {
            let name = self.library.file_name()?.to_string_lossy().into_owned();
            name.split_once(".so.").map(|(_, v)| v.to_owned())
        };
        from_info
            .or_else(from_name)
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Builds the sessions for one model from its (already verified) bytes.
    pub fn session(
        &self,
        name: &str,
        model: &[u8],
        settings: &RuntimeSettings,
    ) -> Result<ModelSession, BiometricError> {
        if settings.intra_op_threads == 0 {
            return Err(BiometricError::Runtime(
                "[runtime] intra_op_threads must be at least 1".into(),
            ));
        }
        let (bytes, rewritten) = if settings.rewrite_prelu {
            match graph::rewrite_prelu(model) {
                Ok((b, n)) if n > 0 => (b, n),
                Ok(_) => (model.to_vec(), 0),
                Err(e) => {
                    tracing::warn!(model = name, error = %e, "graph rewrite skipped");
                    (model.to_vec(), 0)
                }
            }
        } else {
            (model.to_vec(), 0)
        };
        let n = settings.effective_concurrency().max(1);
        let prepacked = ort::session::builder::PrepackedWeights::new();
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            let session = self
                .build_session(&bytes, settings, &prepacked)
                .map_err(|reason| BiometricError::Model {
                    name: name.to_owned(),
                    reason,
                })?;
            slots.push(Mutex::new(session));
        }
        Ok(ModelSession {
            name: name.to_owned(),
            slots,
            next: AtomicUsize::new(0),
            prelu_rewritten: rewritten,
        })
    }
}

impl OrtRuntime {
    fn build_session(
        &self,
        bytes: &[u8],
        settings: &RuntimeSettings,
        prepacked: &ort::session::builder::PrepackedWeights,
    ) -> Result<Session, String> {
        let s = |e: &dyn std::fmt::Display| e.to_string();
        let mut builder = Session::builder(&self.env)
            .map_err(|e| s(&e))?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| s(&e))?
            .with_intra_threads(settings.intra_op_threads)
            .map_err(|e| s(&e))?
            .with_inter_threads(1)
            .map_err(|e| s(&e))?
            .with_parallel_execution(false)
            .map_err(|e| s(&e))?
            .with_intra_op_spinning(settings.allow_spinning)
            .map_err(|e| s(&e))?
            .with_inter_op_spinning(false)
            .map_err(|e| s(&e))?
            .with_prepacked_weights(prepacked)
            .map_err(|e| s(&e))?;
        builder.commit_from_memory(bytes).map_err(|e| s(&e))
    }
}

/// One model's sessions, built once and shared by every thread. Each concurrent caller takes a
/// free session; ORT runs on the caller's thread (plus intra-op threads if configured).
pub struct ModelSession {
    name: String,
    slots: Vec<Mutex<Session>>,
    next: AtomicUsize,
    prelu_rewritten: usize,
}

impl std::fmt::Debug for ModelSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSession")
            .field("name", &self.name)
            .field("sessions", &self.slots.len())
            .field("prelu_rewritten", &self.prelu_rewritten)
            .finish()
    }
}

impl ModelSession {
    /// Model name (as in the manifest).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many `PRelu` nodes were rewritten at load.
    pub fn prelu_rewritten(&self) -> usize {
        self.prelu_rewritten
    }

    /// Runs the model on one float32 input and hands the outputs to `read` while the session is
    /// held. Returns what `read` returns and the time spent inside ONNX Runtime.
    pub fn run<R>(
        &self,
        shape: [usize; 4],
        input: &[f32],
        read: impl FnOnce(&SessionOutputs<'_>) -> Result<R, BiometricError>,
    ) -> Result<(R, Duration), BiometricError> {
        let n = self.slots.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut guard = None;
        for i in 0..n {
            if let Ok(g) = self.slots[(start + i) % n].try_lock() {
                guard = Some(g);
                break;
            }
        }
        let mut session = match guard {
            Some(g) => g,
            None => self.slots[start % n]
                .lock()
                .map_err(|_| BiometricError::Runtime("a model session was poisoned".into()))?,
        };
        let tensor = TensorRef::from_array_view((shape, input))?;
        let t0 = Instant::now();
        let outputs = session.run(ort::inputs![tensor])?;
        let elapsed = t0.elapsed();
        let r = read(&outputs)?;
        Ok((r, elapsed))
    }
}

/// Copies one named float output.
pub fn output_f32(outputs: &SessionOutputs<'_>, name: &str) -> Result<Vec<f32>, BiometricError> {
    let v = outputs
        .get(name)
        .ok_or_else(|| BiometricError::Runtime(format!("model output {name} is missing")))?;
    let (_, data) = v.try_extract_tensor::<f32>()?;
    Ok(data.to_vec())
}

/// Copies the first output.
pub fn first_output_f32(outputs: &SessionOutputs<'_>) -> Result<Vec<f32>, BiometricError> {
    let (_, data) = outputs[0].try_extract_tensor::<f32>()?;
    Ok(data.to_vec())
}
