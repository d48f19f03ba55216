//! One typed configuration: a TOML file, then environment overrides, validated once.
//!
//! Every key can be overridden by an environment variable `INHERENCE_<SECTION>__<KEY>` (double
//! underscore between levels, e.g. `INHERENCE_RUNTIME__INTRA_OP_THREADS=2`); values are read as
//! TOML (`2`, `true`, `"text"`, `[1, 2]`) and fall back to a plain string. Unknown keys, in the
//! file or in the environment, are errors. See `examples/config/inherence.toml`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::biometric::EngineSettings;
use crate::biometric::runtime::RuntimeSettings;

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

/// HTTP server settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted on upload routes, in bytes.
    pub max_body_bytes: usize,
    /// Requests processed by the biometric engine at the same time; more wait in line.
    pub max_concurrent_analyses: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 12 * 1024 * 1024,
            max_concurrent_analyses: 0,
        }
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub runtime: RuntimeSettings,
    pub models: ModelsConfig,
    pub biometric: EngineSettings,
    pub server: ServerConfig,
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

const ENV_PREFIX: &str = "INHERENCE_";

impl Config {
    /// Loads `path` (or defaults when `None`), applies environment overrides, validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    /// As [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                path: p.to_path_buf(),
                source,
            })?,
            None => String::new(),
        };
        let mut table: toml::Table = toml::from_str(&text)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", describe(path))))?;
        apply_env(&mut table, env)?;
        let cfg: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Cross-field checks.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.biometric.validate().map_err(ConfigError::Invalid)?;
        if self.runtime.intra_op_threads == 0 {
            return Err(ConfigError::Invalid(
                "runtime.intra_op_threads must be at least 1".into(),
            ));
        }
        if self.server.max_body_bytes < self.biometric.limits.max_bytes {
            return Err(ConfigError::Invalid(format!(
                "server.max_body_bytes ({}) must be at least biometric.limits.max_bytes ({})",
                self.server.max_body_bytes, self.biometric.limits.max_bytes
            )));
        }
        Ok(())
    }
}

fn describe(path: Option<&Path>) -> String {
    path.map_or_else(|| "defaults".into(), |p| p.display().to_string())
}

fn apply_env(table: &mut toml::Table, env: &[(String, String)]) -> Result<(), ConfigError> {
    let mut overrides: Vec<&(String, String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
        .collect();
    overrides.sort();
    for (key, raw) in overrides {
        let path: Vec<String> = key[ENV_PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Invalid(format!(
                "malformed override variable {key}"
            )));
        }
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.clone()));
        let mut cur = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = cur
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cur = entry
                .as_table_mut()
                .ok_or_else(|| ConfigError::Invalid(format!("{key}: {part} is not a section")))?;
        }
        cur.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load_with_env(None, &[]).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_then_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(
            &p,
            "[runtime]\nintra_op_threads = 2\n[biometric.face_match]\ndecline_threshold = 60.0\n",
        )
        .unwrap();
        let c = Config::load_with_env(
            Some(&p),
            &env(&[
                ("INHERENCE_RUNTIME__INTRA_OP_THREADS", "3"),
                ("INHERENCE_MODELS__DIR", "/opt/models"),
                ("INHERENCE_UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.runtime.intra_op_threads, 3);
        assert_eq!(c.models.dir, PathBuf::from("/opt/models"));
        assert_eq!(c.biometric.face_match.decline_threshold, 60.0);
    }

    #[test]
    fn unknown_keys_are_rejected_in_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "[runtime]\nintra_op_thread = 2\n").unwrap();
        let e = Config::load_with_env(Some(&p), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("intra_op_thread"), "{e}");
        let e = Config::load_with_env(None, &env(&[("INHERENCE_RUNTIME__TYPO", "1")])).unwrap_err();
        assert!(e.to_string().contains("typo"), "{e}");
    }

    #[test]
    fn the_example_config_is_valid_and_shows_the_defaults() {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config/inherence.toml");
        let c = Config::load_with_env(Some(&p), &[]).unwrap();
        assert_eq!(
            c,
            Config::default(),
            "examples/config/inherence.toml drifted from the defaults"
        );
    }

    #[test]
    fn invalid_values_are_rejected() {
        let e = Config::load_with_env(
            None,
            &env(&[("INHERENCE_BIOMETRIC__FACE_MATCH__DECLINE_THRESHOLD", "150")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("decline_threshold"), "{e}");
        assert!(Config::load_with_env(Some(Path::new("/nonexistent/x.toml")), &[]).is_err());
    }
}
