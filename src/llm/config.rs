//! What a provider adapter is built from: the endpoint, the key, the limits and the server's
//! quirks. A leaf: the adapters and the model-spec parser both read it, neither is imported.

use std::fmt;
use std::time::Duration;

/// An API key. Its `Debug` prints `***` and it has no `Display`, so a key cannot leak into
/// logs, errors or session files by accident; [`Secret::expose`] is the one way to read it.
/// Every key is registered with [`crate::redact`] when it is made, so a server that echoes
/// it back (in any case) is masked too.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::redact::register(&value);
        Secret(value)
    }
    /// The key itself, for the one place that puts it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The wire format an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenAI chat completions (also Ollama, vLLM, LiteLLM, OpenRouter, llama.cpp, LM Studio).
    OpenAi,
    /// Anthropic messages.
    Anthropic,
}

/// The server behind an OpenAI-wire endpoint, where its quirks matter: which fields it
/// accepts beyond the common ones, and what it needs passed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// `api.openai.com`: knows `prompt_cache_key`, `max_completion_tokens`, `tool_choice`.
    OpenAi,
    /// Google's OpenAI-compatible endpoint: rejects unknown fields and `additionalProperties`
    /// in schemas, wants `name` on tool messages and its thought signatures passed back.
    Gemini,
    /// Ollama: its `/v1` route ignores any context size, so `num_ctx` needs the native API.
    Ollama,
    /// OpenRouter: routes by the parameters given, `tool_choice` included.
    OpenRouter,
    /// Anything else (vLLM, LiteLLM, llama.cpp, LM Studio, Anthropic): only common fields.
    Other,
}

impl Host {
    /// Recognise the server from its base URL.
    pub fn detect(base_url: &str) -> Host {
        let (host, port) = host_and_port(base_url);
        let host = host.to_ascii_lowercase();
        if host == "api.openai.com" {
            Host::OpenAi
        } else if host == "generativelanguage.googleapis.com" {
            Host::Gemini
        } else if host == "openrouter.ai" || host.ends_with(".openrouter.ai") {
            Host::OpenRouter
        } else if port == Some(11434) || host.contains("ollama") {
            Host::Ollama
        } else {
            Host::Other
        }
    }
}

/// The host and port of `url`, without scheme, credentials or path.
pub(crate) fn host_and_port(url: &str) -> (&str, Option<u16>) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        return (host, after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, port.parse().ok()),
        None => (authority, None),
    }
}

/// The proxy variables as the environment set them (read once, when a config is made, so
/// tests can set them without touching the process environment).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyEnv {
    /// `http_proxy` / `HTTP_PROXY`
    pub http: Option<String>,
    /// `https_proxy` / `HTTPS_PROXY`
    pub https: Option<String>,
    /// `all_proxy` / `ALL_PROXY`
    pub all: Option<String>,
    /// `no_proxy` / `NO_PROXY`
    pub no_proxy: Option<String>,
}

impl ProxyEnv {
    pub fn from_env() -> Self {
        let var = |lower: &str| {
            [lower.to_string(), lower.to_ascii_uppercase()]
                .iter()
                .find_map(|name| std::env::var(name).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        ProxyEnv {
            http: var("http_proxy"),
            https: var("https_proxy"),
            all: var("all_proxy"),
            no_proxy: var("no_proxy"),
        }
    }
}

/// Proxy URLs may carry a password: shown only through the redaction registry.
impl fmt::Debug for ProxyEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown =
            |v: &Option<String>| v.as_deref().map(|v| crate::redact::redact(v).into_owned());
        f.debug_struct("ProxyEnv")
            .field("http", &shown(&self.http))
            .field("https", &shown(&self.https))
            .field("all", &shown(&self.all))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// The default response cap: far above any real answer, far below what hurts.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 4 * 1024 * 1024;

/// Everything needed to build one provider adapter.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub model: String,
    /// Endpoint root without the trailing path, e.g. `https://api.openai.com/v1`. May carry
    /// credentials (`http://user:pw@host/v1`, sent as basic auth); they are never shown.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Which server's quirks apply (detected from `base_url`; `ollama:` specs set Ollama).
    pub host: Host,
    /// Stream responses (SSE); `false` asks for one JSON body.
    pub stream: bool,
    /// Upper bound for one attempt, first byte to last.
    pub request_timeout: Duration,
    /// Upper bound for silence while a response streams in.
    pub stream_idle_timeout: Duration,
    /// Bytes one response may have (config `max_response_bytes`), counted as they arrive.
    pub max_response_bytes: u64,
    /// `reasoning_effort` on the OpenAI wire (config key of the same name).
    pub reasoning_effort: Option<String>,
    /// Anthropic extended thinking: the thinking budget in tokens (config
    /// `thinking_budget_tokens`); `None` leaves thinking off.
    pub thinking_budget_tokens: Option<u32>,
    /// Ollama's context window (config `num_ctx`); set, delm talks to Ollama's native API,
    /// the only one that honours it.
    pub num_ctx: Option<u32>,
    pub proxy: ProxyEnv,
}

impl ProviderConfig {
    /// Streaming on, 10 minutes per attempt, 90 seconds of allowed silence mid-stream, a 4 MB
    /// response cap, the proxy variables of the environment.
    pub fn new(kind: ProviderKind, model: impl Into<String>, base_url: impl Into<String>) -> Self {
        let base_url = base_url.into();
        ProviderConfig {
            kind,
            model: model.into(),
            host: Host::detect(&base_url),
            base_url,
            api_key: None,
            stream: true,
            request_timeout: Duration::from_secs(600),
            stream_idle_timeout: Duration::from_secs(90),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            reasoning_effort: None,
            thinking_budget_tokens: None,
            num_ctx: None,
            proxy: ProxyEnv::from_env(),
        }
    }

    /// The base URL as it may be shown: without credentials.
    pub fn display_url(&self) -> String {
        display_url(&self.base_url)
    }
}

/// `url` without the `user:password@` part.
pub(crate) fn display_url(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut cfg = ProviderConfig::new(ProviderKind::OpenAi, "m", "http://x");
        cfg.api_key = Some(Secret::new("sk-very-secret"));
        cfg.proxy.https = Some("http://me:proxy-password-1@proxy:3128".into());
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk-very-secret"), "{shown}");
        assert!(shown.contains("***"));
        assert!(!shown.contains("proxy-password-1"), "{shown}");
    }

    #[test]
    fn hosts_are_recognised_from_the_url() {
        assert_eq!(Host::detect("https://api.openai.com/v1"), Host::OpenAi);
        assert_eq!(
            Host::detect("https://generativelanguage.googleapis.com/v1beta/openai"),
            Host::Gemini
        );
        assert_eq!(
            Host::detect("https://openrouter.ai/api/v1"),
            Host::OpenRouter
        );
        assert_eq!(Host::detect("http://localhost:11434/v1"), Host::Ollama);
        assert_eq!(Host::detect("http://gpu-box:11434/v1/"), Host::Ollama);
        assert_eq!(Host::detect("http://localhost:8000/v1"), Host::Other);
        assert_eq!(Host::detect("https://api.anthropic.com/v1"), Host::Other);
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            display_url("http://user:pw@127.0.0.1:8080/v1/"),
            "http://127.0.0.1:8080/v1"
        );
        assert_eq!(display_url("https://host/v1"), "https://host/v1");
        assert_eq!(host_and_port("http://u:p@[::1]:9/v1"), ("::1", Some(9)));
        assert_eq!(host_and_port("https://a.b/v1?x=@y"), ("a.b", None));
    }
}
