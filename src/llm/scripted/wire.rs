//! The billed usage of a scripted call: the request serialized as the real OpenAI or
//! Anthropic adapter sends it (so the cache sees the adapter's own prefix order and
//! `cache_control` breakpoints), run through [`PrefixCache`], counted the way that API
//! reports it.

use super::char_count;
use super::prefix_cache::{self, PrefixCache};
use crate::llm::anthropic::AnthropicProvider;
use crate::llm::config::{ProviderConfig, ProviderKind};
use crate::llm::openai::OpenAiProvider;
use crate::llm::{ChatRequest, Usage};
use std::collections::HashMap;
use std::sync::Mutex;

/// Whose prompt caching the scripted model emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheWire {
    /// No caching; tokens are the prompt's characters / 4.
    #[default]
    Off,
    /// Automatic prefix caching from 1,024 tokens in 128-token steps; tokens are the
    /// chat-completions body's characters / 4.
    OpenAi,
    /// Caching at the adapter's `cache_control` breakpoints; tokens are the messages body's
    /// characters / 4.
    Anthropic,
}

impl CacheWire {
    pub fn parse(name: &str) -> Result<CacheWire, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "off" | "none" => Ok(CacheWire::Off),
            "openai" => Ok(CacheWire::OpenAi),
            "anthropic" => Ok(CacheWire::Anthropic),
            other => Err(format!(
                "unknown wire `{other}`: use openai, anthropic or off"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CacheWire::Off => "off",
            CacheWire::OpenAi => "openai",
            CacheWire::Anthropic => "anthropic",
        }
    }
}

/// The adapter whose request body is billed.
enum Adapter {
    Off,
    OpenAi(OpenAiProvider),
    Anthropic(AnthropicProvider),
}

/// One emulated provider account: its adapter and its prompt cache.
pub(super) struct Emulation {
    adapter: Adapter,
    cache: Mutex<PrefixCache>,
    /// Characters of each tool's schema, by name (caching off): fixed within a run, and
    /// serialising them for every call would dominate a zero-latency benchmark.
    schema_chars: Mutex<HashMap<String, usize>>,
}

impl Emulation {
    pub(super) fn new(wire: CacheWire) -> Emulation {
        let config = |kind, model: &str, url: &str| {
            let mut cfg = ProviderConfig::new(kind, model, url);
            cfg.stream = false;
            cfg
        };
        let adapter = match wire {
            CacheWire::Off => Adapter::Off,
            CacheWire::OpenAi => Adapter::OpenAi(OpenAiProvider::new(config(
                ProviderKind::OpenAi,
                "scripted",
                "https://api.openai.com/v1",
            ))),
            CacheWire::Anthropic => Adapter::Anthropic(AnthropicProvider::new(config(
                ProviderKind::Anthropic,
                "scripted",
                "https://api.anthropic.com/v1",
            ))),
        };
        Emulation {
            adapter,
            cache: Mutex::new(PrefixCache::new()),
            schema_chars: Mutex::new(HashMap::new()),
        }
    }

    /// The prompt side of one call's usage (output tokens are left at 0).
    pub(super) fn bill(&self, req: &ChatRequest) -> Usage {
        let (body, cached) = match &self.adapter {
            Adapter::Off => {
                return Usage {
                    input_tokens: self.prompt_chars(req).div_ceil(4) as u64,
                    ..Usage::default()
                };
            }
            Adapter::OpenAi(openai) => {
                let body = openai.request_body(req);
                let used = self.lock().openai(&prefix_cache::openai_prompt(&body));
                (body, used)
            }
            Adapter::Anthropic(anthropic) => {
                let body = anthropic.request_body(req);
                let used = self
                    .lock()
                    .anthropic(&prefix_cache::anthropic_blocks(&body));
                (body, used)
            }
        };
        let input = (char_count(&body.to_string()) as u64 / 4).max(1);
        // Never more cached than was sent.
        let read = cached.read_tokens.min(input);
        Usage {
            input_tokens: input,
            cache_read_tokens: read,
            cache_write_tokens: cached.write_tokens.min(input - read),
            output_tokens: 0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PrefixCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every character the provider would receive: system prompt, messages, tool calls and
    /// tool schemas.
    fn prompt_chars(&self, req: &ChatRequest) -> usize {
        let mut chars = char_count(&req.system);
        for m in &req.messages {
            chars += char_count(&m.content);
            for call in &m.tool_calls {
                chars += call.name.len() + char_count(&call.arguments);
            }
        }
        let mut known = self.schema_chars.lock().unwrap_or_else(|e| e.into_inner());
        for tool in req.tools.iter() {
            chars += match known.get(&tool.name) {
                Some(&n) => n,
                None => {
                    let n = tool.name.len()
                        + char_count(&tool.description)
                        + char_count(&tool.parameters.to_string());
                    known.insert(tool.name.clone(), n);
                    n
                }
            };
        }
        chars
    }
}
