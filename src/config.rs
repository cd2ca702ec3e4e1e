//! The user's `config.toml` (platform config dir): defaults that flags override, model
//! aliases and pricing overrides.

use crate::llm::pricing::Price;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Set to use another config directory (tests, or several setups side by side).
pub const CONFIG_DIR_ENV: &str = "DELM_CONFIG_DIR";

pub const DEFAULT_MODEL: &str = "openai:gpt-4.1-mini";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Default `--model` (a spec or an alias from `[models]`).
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub agents: Option<usize>,
    pub verify: Option<String>,
    pub theme: Option<String>,
    /// Stream model responses (default true).
    pub stream: Option<bool>,
    /// Attempts per model call, first included (default 6).
    pub max_attempts: Option<u32>,
    /// Concurrent requests to the provider (default: the agent count, at most 16).
    pub max_concurrency: Option<usize>,
    pub request_timeout_secs: Option<u64>,
    pub stream_idle_timeout_secs: Option<u64>,
    /// Tokens of shared context in each prompt (default 2000).
    pub context_budget: Option<usize>,
    /// Model turns per task (default 24).
    pub max_turns: Option<u32>,
    /// Seconds an outside agent (MCP) may be silent while holding a claim (default 120).
    pub lease_secs: Option<u64>,
    /// Aliases usable with `--model NAME`.
    #[serde(default)]
    pub models: HashMap<String, ModelAlias>,
    /// Per-model prices (USD per million tokens) over the built-in table.
    #[serde(default)]
    pub pricing: HashMap<String, Price>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelAlias {
    /// `openai:NAME`, `anthropic:NAME` or `ollama:NAME`.
    pub spec: String,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
}

/// The platform config dir (`~/.config/delm` on Linux), or `DELM_CONFIG_DIR`.
pub fn config_dir() -> Option<PathBuf> {
    match std::env::var_os(CONFIG_DIR_ENV) {
        Some(dir) if !dir.is_empty() => Some(PathBuf::from(dir)),
        _ => directories::ProjectDirs::from("", "", "delm").map(|d| d.config_dir().to_path_buf()),
    }
}

pub fn config_path() -> Option<PathBuf> {
    config_dir().map(|d| d.join("config.toml"))
}

/// Where the tracing log goes: the platform state dir (cache dir where there is none).
pub fn log_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DELM_LOG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let dirs = directories::ProjectDirs::from("", "", "delm")?;
    Some(
        dirs.state_dir()
            .unwrap_or_else(|| dirs.cache_dir())
            .to_path_buf(),
    )
}

impl Config {
    /// Load the config file; a missing file is the empty config, a malformed one an error
    /// that names the file and the problem.
    pub fn load() -> Result<Config, String> {
        match config_path() {
            Some(path) => Config::load_from(&path),
            None => Ok(Config::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<Config, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        toml::from_str(&text).map_err(|e| {
            format!(
                "{} is not a valid delm config: {}",
                path.display(),
                e.to_string().trim()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_aliases_and_pricing() {
        let cfg: Config = toml::from_str(
            r#"
            model = "local"
            agents = 6
            [models.local]
            spec = "ollama:qwen3:8b"
            base_url = "http://gpu:11434/v1"
            [pricing."my-model"]
            input = 1.0
            output = 2.0
            "#,
        )
        .unwrap();
        assert_eq!(cfg.models["local"].spec, "ollama:qwen3:8b");
        assert_eq!(cfg.agents, Some(6));
        assert!(cfg.pricing.contains_key("my-model"));
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "modle = \"x\"\n").unwrap();
        let err = Config::load_from(&path).unwrap_err();
        assert!(err.contains("config.toml"), "{err}");
        assert!(err.contains("modle"), "{err}");
    }

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Config::load_from(&dir.path().join("none.toml")).is_ok());
    }
}
