//! Which provider to talk to: model specs (`openai:gpt-4.1-mini`) and where their API keys
//! come from.

use super::config::{Host, ProviderConfig, ProviderKind, Secret};

/// A parsed `--model` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub kind: ProviderKind,
    /// The model name sent to the provider.
    pub model: String,
    pub default_base_url: &'static str,
    /// The variable that holds the key by default (`None`: no key needed, e.g. Ollama).
    pub key_env: Option<&'static str>,
    /// The spec as the user should see it, e.g. `ollama:qwen3:8b`.
    pub label: String,
}

impl ModelSpec {
    /// The prefix of the label (`openai`, `anthropic`, `ollama`): what pricing keys on.
    pub fn provider_label(&self) -> &str {
        self.label.split(':').next().unwrap_or(&self.label)
    }
}

const ACCEPTED_FORMS: &str = "openai:NAME (e.g. openai:gpt-4.1-mini), anthropic:NAME (e.g. \
     anthropic:claude-sonnet-4-5) or ollama:NAME (e.g. ollama:qwen3:8b), or a model name \
     defined in the config file";

/// Parse `openai:NAME`, `anthropic:NAME` or `ollama:NAME`. Config-file aliases are resolved
/// by the caller before this is called.
pub fn parse_model_spec(spec: &str) -> Result<ModelSpec, String> {
    let spec = spec.trim();
    let Some((prefix, name)) = spec.split_once(':') else {
        return Err(format!("unknown model \"{spec}\": use {ACCEPTED_FORMS}"));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(format!(
            "model spec \"{spec}\" names no model after \"{prefix}:\": use {ACCEPTED_FORMS}"
        ));
    }
    let (kind, default_base_url, key_env, prefix) =
        match prefix.trim().to_ascii_lowercase().as_str() {
            "openai" => (
                ProviderKind::OpenAi,
                "https://api.openai.com/v1",
                Some("OPENAI_API_KEY"),
                "openai",
            ),
            "anthropic" => (
                ProviderKind::Anthropic,
                "https://api.anthropic.com/v1",
                Some("ANTHROPIC_API_KEY"),
                "anthropic",
            ),
            "ollama" => (
                ProviderKind::OpenAi,
                "http://localhost:11434/v1",
                None,
                "ollama",
            ),
            _ => {
                return Err(format!(
                    "unknown provider \"{prefix}\" in model spec \"{spec}\": use {ACCEPTED_FORMS}"
                ));
            }
        };
    Ok(ModelSpec {
        kind,
        model: name.to_string(),
        default_base_url,
        key_env,
        label: format!("{prefix}:{name}"),
    })
}

/// Find the API key for `spec` in the environment.
///
/// `api_key_env` (from `--api-key-env`) names the variable explicitly and then it must be
/// set. Otherwise the spec's default variable is used; when `--base-url` points elsewhere a
/// missing key is fine, because local servers usually need none.
pub fn resolve_api_key(
    spec: &ModelSpec,
    api_key_env: Option<&str>,
    base_url_overridden: bool,
) -> Result<Option<Secret>, String> {
    resolve_api_key_with(
        spec,
        api_key_env,
        base_url_overridden,
        crate::secrets::env_var,
    )
}

/// [`resolve_api_key`] with the environment lookup passed in (testable without touching the
/// process environment).
fn resolve_api_key_with(
    spec: &ModelSpec,
    api_key_env: Option<&str>,
    base_url_overridden: bool,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, String> {
    let present = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
    if let Some(var) = api_key_env {
        return match present(var) {
            Some(key) => Ok(Some(Secret::new(key.trim()))),
            None => Err(format!(
                "{var} (named by --api-key-env) is not set or empty: export it with your API \
                 key, or drop --api-key-env"
            )),
        };
    }
    let Some(var) = spec.key_env else {
        return Ok(None);
    };
    match present(var) {
        Some(key) => Ok(Some(Secret::new(key.trim()))),
        None if base_url_overridden => Ok(None),
        None => Err(format!(
            "{var} is not set: export it, or pass --api-key-env VAR naming the variable that \
             holds your key"
        )),
    }
}

impl ProviderConfig {
    /// The config for a parsed spec at its default endpoint (or `base_url` when given).
    pub fn from_spec(spec: &ModelSpec, base_url: Option<&str>, api_key: Option<Secret>) -> Self {
        let mut cfg = ProviderConfig::new(
            spec.kind,
            spec.model.clone(),
            base_url.unwrap_or(spec.default_base_url),
        );
        if spec.provider_label() == "ollama" {
            cfg.host = Host::Ollama;
        }
        cfg.api_key = api_key;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_prefixes() {
        let s = parse_model_spec("openai:gpt-4.1-mini").unwrap();
        assert_eq!(s.kind, ProviderKind::OpenAi);
        assert_eq!(s.model, "gpt-4.1-mini");
        assert_eq!(s.key_env, Some("OPENAI_API_KEY"));
        assert_eq!(s.default_base_url, "https://api.openai.com/v1");

        let s = parse_model_spec("anthropic:claude-sonnet-4-5").unwrap();
        assert_eq!(s.kind, ProviderKind::Anthropic);
        assert_eq!(s.key_env, Some("ANTHROPIC_API_KEY"));

        // Ollama tags contain a colon of their own.
        let s = parse_model_spec("ollama:qwen3:8b").unwrap();
        assert_eq!(s.kind, ProviderKind::OpenAi);
        assert_eq!(s.model, "qwen3:8b");
        assert_eq!(s.key_env, None);
        assert_eq!(s.default_base_url, "http://localhost:11434/v1");
        assert_eq!(s.label, "ollama:qwen3:8b");
        assert_eq!(s.provider_label(), "ollama");
    }

    #[test]
    fn unknown_specs_list_the_accepted_forms() {
        for bad in ["gpt-4.1", "mistral:large", "openai:"] {
            let err = parse_model_spec(bad).unwrap_err();
            assert!(err.contains("openai:NAME"), "{err}");
            assert!(err.contains("ollama:NAME"), "{err}");
        }
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn key_resolution_names_the_variable_to_set() {
        let openai = parse_model_spec("openai:gpt-4.1").unwrap();
        let err = resolve_api_key_with(&openai, None, false, env(&[])).unwrap_err();
        assert!(err.starts_with("OPENAI_API_KEY is not set"), "{err}");
        assert!(err.contains("--api-key-env"), "{err}");

        let key = resolve_api_key_with(&openai, None, false, env(&[("OPENAI_API_KEY", "sk-1")]))
            .unwrap()
            .unwrap();
        assert_eq!(key.expose(), "sk-1");

        // A local server behind --base-url needs no key.
        assert_eq!(
            resolve_api_key_with(&openai, None, true, env(&[])).unwrap(),
            None
        );

        // An explicitly named variable must exist.
        let err = resolve_api_key_with(&openai, Some("MY_KEY"), true, env(&[])).unwrap_err();
        assert!(err.starts_with("MY_KEY"), "{err}");
        let key = resolve_api_key_with(&openai, Some("MY_KEY"), false, env(&[("MY_KEY", "k2")]))
            .unwrap()
            .unwrap();
        assert_eq!(key.expose(), "k2");

        let ollama = parse_model_spec("ollama:llama3.2").unwrap();
        assert_eq!(
            resolve_api_key_with(&ollama, None, false, env(&[])).unwrap(),
            None
        );
    }

    #[test]
    fn ollama_specs_get_ollama_quirks_on_any_url() {
        let spec = parse_model_spec("ollama:qwen3:8b").unwrap();
        let cfg = ProviderConfig::from_spec(&spec, Some("http://gpu:8080/v1"), None);
        assert_eq!(cfg.host, Host::Ollama);
        let spec = parse_model_spec("openai:gpt-4.1").unwrap();
        assert_eq!(
            ProviderConfig::from_spec(&spec, None, None).host,
            Host::OpenAi
        );
    }
}
