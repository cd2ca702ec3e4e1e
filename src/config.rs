//! The user's `config.toml` (platform config dir): defaults that flags override, model
//! aliases and pricing overrides. Values are checked when the file is read: a value out of
//! range is an error naming the file and the key, never a silent fallback.

use crate::llm::config::ProviderConfig;
use crate::llm::pricing::PriceOverride;
use crate::llm::retry::RetryPolicy;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
    /// Terminal bell and desktop notification when a run needs you: `auto` (default, runs
    /// over a minute), `always`, `never`.
    pub notify: Option<String>,
    /// Stream model responses (default true).
    pub stream: Option<bool>,
    /// Attempts per model call, first included (default 6).
    pub max_attempts: Option<u32>,
    /// Concurrent requests to the provider (default: the agent count, at most 16).
    pub max_concurrency: Option<usize>,
    /// Longest one attempt of a model call may take (default 600).
    pub request_timeout_secs: Option<u64>,
    /// Longest silence mid-stream (default 90).
    pub stream_idle_timeout_secs: Option<u64>,
    /// Longest one model call may take, retries and waits included (default 600).
    pub call_deadline_secs: Option<u64>,
    /// Largest response a provider may send, in bytes (default 4 MB).
    pub max_response_bytes: Option<u64>,
    /// `reasoning_effort` for reasoning models on the OpenAI wire (`low`, `medium`, `high`).
    pub reasoning_effort: Option<String>,
    /// Anthropic extended thinking: tokens the model may think (at least 1024); off when unset.
    pub thinking_budget_tokens: Option<u32>,
    /// Ollama's context window in tokens; set, delm uses Ollama's native API to apply it.
    pub num_ctx: Option<u32>,
    /// Tokens of shared context in each prompt (default 2000).
    pub context_budget: Option<usize>,
    /// Model turns per task (default 24).
    pub max_turns: Option<u32>,
    /// Tasks a run may hold in all (default 500): a model looping on `add_task` stops here.
    pub max_tasks: Option<usize>,
    /// Seconds an outside agent (MCP) may be silent while holding a claim (default 120).
    pub lease_secs: Option<u64>,
    /// Aliases usable with `--model NAME`.
    #[serde(default)]
    pub models: HashMap<String, ModelAlias>,
    /// Per-model prices (USD per million tokens) over the built-in table.
    #[serde(default)]
    pub pricing: HashMap<String, PriceOverride>,
    /// The binaries of `--worker` kinds: `[workers.claude-code] command = "..."`.
    #[serde(default)]
    pub workers: HashMap<String, WorkerCommand>,
}

/// `[workers.KIND]`: where that CLI is (a path, or a name on PATH).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerCommand {
    pub command: Option<String>,
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
        let cfg: Config = toml::from_str(&text).map_err(|e| {
            format!(
                "{} is not a valid delm config: {}",
                path.display(),
                e.to_string().trim()
            )
        })?;
        cfg.check()
            .map_err(|problem| format!("{}: {problem}", path.display()))?;
        Ok(cfg)
    }

    /// The first value out of range, as "key = value ...: what is allowed".
    fn check(&self) -> Result<(), String> {
        let max_agents = crate::engine::board::MAX_AGENTS as u64;
        let day = 86_400;
        let ranges: [(&str, Option<u64>, u64, u64, &str); 11] = [
            (
                "agents",
                self.agents.map(|n| n as u64),
                1,
                max_agents,
                "agents",
            ),
            (
                "max_attempts",
                self.max_attempts.map(u64::from),
                1,
                100,
                "attempts",
            ),
            (
                "max_concurrency",
                self.max_concurrency.map(|n| n as u64),
                1,
                1024,
                "requests",
            ),
            (
                "request_timeout_secs",
                self.request_timeout_secs,
                1,
                day,
                "seconds",
            ),
            (
                "stream_idle_timeout_secs",
                self.stream_idle_timeout_secs,
                1,
                day,
                "seconds",
            ),
            (
                "call_deadline_secs",
                self.call_deadline_secs,
                1,
                day,
                "seconds",
            ),
            (
                "max_response_bytes",
                self.max_response_bytes,
                1024,
                1 << 30,
                "bytes",
            ),
            (
                "thinking_budget_tokens",
                self.thinking_budget_tokens.map(u64::from),
                1024,
                1 << 20,
                "tokens",
            ),
            (
                "num_ctx",
                self.num_ctx.map(u64::from),
                512,
                1 << 24,
                "tokens",
            ),
            (
                "max_turns",
                self.max_turns.map(u64::from),
                1,
                10_000,
                "turns",
            ),
            (
                "max_tasks",
                self.max_tasks.map(|n| n as u64),
                1,
                100_000,
                "tasks",
            ),
        ];
        for (key, value, low, high, unit) in ranges {
            if let Some(value) = value
                && !(low..=high).contains(&value)
            {
                return Err(format!(
                    "{key} = {value} is out of range: use {low} to {high} {unit}"
                ));
            }
        }
        if let Some(effort) = &self.reasoning_effort
            && (effort.is_empty() || !effort.bytes().all(|b| b.is_ascii_lowercase()))
        {
            return Err(format!(
                "reasoning_effort = \"{effort}\" is not a reasoning effort: use one lowercase \
                 word the model accepts, e.g. low, medium or high"
            ));
        }
        for kind in self.workers.keys() {
            if !crate::workers::Kind::ALL.iter().any(|k| k.name() == kind) {
                return Err(format!(
                    "[workers.{kind}] is not a worker kind: use [workers.claude-code] or \
                     [workers.codex]"
                ));
            }
        }
        for (model, price) in &self.pricing {
            if let Some((field, rate)) = price.invalid_rate() {
                return Err(format!(
                    "[pricing.\"{model}\"] {field} = {rate} is not a price: use dollars per \
                     million tokens, 0 or more"
                ));
            }
        }
        Ok(())
    }

    /// The provider keys of this file over a provider config and its retry policy (what
    /// flags do not set).
    pub fn apply_provider_keys(&self, pc: &mut ProviderConfig, policy: &mut RetryPolicy) {
        let secs = Duration::from_secs;
        if let Some(stream) = self.stream {
            pc.stream = stream;
        }
        if let Some(s) = self.request_timeout_secs {
            pc.request_timeout = secs(s);
        }
        if let Some(s) = self.stream_idle_timeout_secs {
            pc.stream_idle_timeout = secs(s);
        }
        if let Some(bytes) = self.max_response_bytes {
            pc.max_response_bytes = bytes;
        }
        pc.reasoning_effort = self.reasoning_effort.clone().or(pc.reasoning_effort.take());
        pc.thinking_budget_tokens = self.thinking_budget_tokens.or(pc.thinking_budget_tokens);
        pc.num_ctx = self.num_ctx.or(pc.num_ctx);
        if let Some(n) = self.max_attempts {
            policy.max_attempts = n.max(1);
        }
        if let Some(s) = self.call_deadline_secs {
            policy.call_deadline = secs(s);
        }
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

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load_from(&path)
    }

    #[test]
    fn values_out_of_range_name_the_file_and_the_key() {
        for (text, key) in [
            ("request_timeout_secs = 0", "request_timeout_secs = 0"),
            (
                "stream_idle_timeout_secs = 0",
                "stream_idle_timeout_secs = 0",
            ),
            ("max_attempts = 0", "max_attempts = 0"),
            ("agents = 100000", "agents = 100000"),
            ("call_deadline_secs = 0", "call_deadline_secs = 0"),
            ("max_response_bytes = 10", "max_response_bytes = 10"),
            (
                "thinking_budget_tokens = 100",
                "thinking_budget_tokens = 100",
            ),
            ("max_concurrency = 0", "max_concurrency = 0"),
            ("max_tasks = 0", "max_tasks = 0"),
            ("reasoning_effort = \"HIGH!\"", "reasoning_effort"),
            (
                "[pricing.m]\ninput = -1.0\noutput = 1.0",
                "[pricing.\"m\"] input",
            ),
        ] {
            let err = load(text).unwrap_err();
            assert!(err.contains("config.toml"), "{text}: {err}");
            assert!(err.contains(key), "{text}: {err}");
        }
        let err = load("agents = 100000").unwrap_err();
        assert!(err.contains("use 1 to 256"), "{err}");
    }

    #[test]
    fn provider_keys_reach_the_provider_config_and_policy() {
        let cfg = load(
            "stream = false\nrequest_timeout_secs = 30\ncall_deadline_secs = 120\n\
             max_response_bytes = 2048\nreasoning_effort = \"low\"\nthinking_budget_tokens = 2048\n\
             num_ctx = 16384\nmax_attempts = 3\n[pricing.\"my-model\"]\ninput = 1.0\n\
             output = 2.0\ncached_input = 0.1\n",
        )
        .unwrap();
        let mut pc = ProviderConfig::new(
            crate::llm::config::ProviderKind::OpenAi,
            "m",
            "http://localhost:11434/v1",
        );
        let mut policy = RetryPolicy::default();
        cfg.apply_provider_keys(&mut pc, &mut policy);
        assert!(!pc.stream);
        assert_eq!(pc.request_timeout, Duration::from_secs(30));
        assert_eq!(pc.max_response_bytes, 2048);
        assert_eq!(pc.reasoning_effort.as_deref(), Some("low"));
        assert_eq!(pc.thinking_budget_tokens, Some(2048));
        assert_eq!(pc.num_ctx, Some(16384));
        assert_eq!(policy.max_attempts, 3);
        assert_eq!(policy.call_deadline, Duration::from_secs(120));
        assert_eq!(cfg.pricing["my-model"].cached_input, Some(0.1));
    }

    #[test]
    fn worker_commands_are_read_and_unknown_kinds_refused() {
        let cfg = load("[workers.claude-code]\ncommand = \"/opt/claude\"\n").unwrap();
        assert_eq!(
            cfg.workers["claude-code"].command.as_deref(),
            Some("/opt/claude")
        );
        let err = load("[workers.cursor]\ncommand = \"cursor\"\n").unwrap_err();
        assert!(
            err.contains("[workers.cursor] is not a worker kind"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Config::load_from(&dir.path().join("none.toml")).is_ok());
    }
}
