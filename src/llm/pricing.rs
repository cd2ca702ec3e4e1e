//! Turning billed token usage into dollars.
//!
//! The built-in table holds public list prices in US dollars per million tokens, as published
//! by OpenAI and Anthropic in 2025: input, cached input (a prompt-cache read) and output.
//! They change; the user's `config.toml` can override any of them or add models
//! (`"my-model" = { input = 1.0, output = 2.0 }` under `[pricing]`, optionally with
//! `cached_input` and `cache_write`). Keys are model-name prefixes, or `provider:model`
//! prefixes for one provider. Models are matched by the longest table key that prefixes
//! their name, so dated snapshots (`gpt-4.1-mini-2025-04-14`, `claude-sonnet-4-5-20250929`)
//! find their family.
//!
//! Cache rates left unset follow the provider's rule: Anthropic bills a cache read at 0.1×
//! and a (5-minute) cache write at 1.25× the input rate; OpenAI bills writes at the input
//! rate and reads at the family's published ratio (10% for gpt-5, 25% for gpt-4.1, o3 and
//! o4-mini, 50% for gpt-4o, o1 and o3-mini); for a model of no known family a cache read
//! costs the input rate, since no discount is known.

use super::Usage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Dollars per million tokens, as billed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Price {
    /// Prompt tokens not read from or written to a cache.
    #[serde(rename = "input")]
    pub input_per_mtok: f64,
    #[serde(rename = "output")]
    pub output_per_mtok: f64,
    /// Prompt tokens read from the cache.
    #[serde(rename = "cached_input")]
    pub cache_read_per_mtok: f64,
    /// Prompt tokens written to the cache.
    #[serde(rename = "cache_write")]
    pub cache_write_per_mtok: f64,
}

impl Price {
    /// A price with no cache discount or surcharge.
    pub const fn new(input_per_mtok: f64, output_per_mtok: f64) -> Self {
        Price {
            input_per_mtok,
            output_per_mtok,
            cache_read_per_mtok: input_per_mtok,
            cache_write_per_mtok: input_per_mtok,
        }
    }

    /// Every rate given.
    pub const fn with_cache(input: f64, cache_read: f64, cache_write: f64, output: f64) -> Self {
        Price {
            input_per_mtok: input,
            output_per_mtok: output,
            cache_read_per_mtok: cache_read,
            cache_write_per_mtok: cache_write,
        }
    }

    /// Uncached input at the input rate, cache reads and writes at theirs, plus output.
    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.uncached_input_tokens() as f64 * self.input_per_mtok
            + usage.cache_read_tokens as f64 * self.cache_read_per_mtok
            + usage.cache_write_tokens as f64 * self.cache_write_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }

    /// The prompt as a bill weighs it, in input tokens: uncached ones count 1, cache reads
    /// and writes their rate relative to the input rate (0.1 and 1.25 on Anthropic).
    pub fn billed_input_tokens(&self, usage: Usage) -> f64 {
        let weight = |rate: f64| {
            if self.input_per_mtok > 0.0 {
                rate / self.input_per_mtok
            } else {
                1.0
            }
        };
        usage.uncached_input_tokens() as f64
            + usage.cache_read_tokens as f64 * weight(self.cache_read_per_mtok)
            + usage.cache_write_tokens as f64 * weight(self.cache_write_per_mtok)
    }
}

/// One `[pricing."model"]` entry of the config file: the cache rates may be left out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverride {
    pub input: f64,
    pub output: f64,
    /// Rate of a cache read; unset, the provider's rule derives it from `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Rate of a cache write; unset, the provider's rule derives it from `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
}

impl PriceOverride {
    /// The negative or non-finite rate, if any: `(field, value)`.
    pub fn invalid_rate(&self) -> Option<(&'static str, f64)> {
        [
            ("input", Some(self.input)),
            ("output", Some(self.output)),
            ("cached_input", self.cached_input),
            ("cache_write", self.cache_write),
        ]
        .into_iter()
        .find_map(|(name, rate)| {
            rate.filter(|r| !r.is_finite() || *r < 0.0)
                .map(|r| (name, r))
        })
    }
}

/// OpenAI list prices per million tokens (input, cached input, output), 2025. o3-pro offers
/// no cache discount.
const OPENAI_PRICES: &[(&str, f64, f64, f64)] = &[
    ("gpt-5", 1.25, 0.125, 10.00),
    ("gpt-5-mini", 0.25, 0.025, 2.00),
    ("gpt-5-nano", 0.05, 0.005, 0.40),
    ("gpt-4.1", 2.00, 0.50, 8.00),
    ("gpt-4.1-mini", 0.40, 0.10, 1.60),
    ("gpt-4.1-nano", 0.10, 0.025, 0.40),
    ("gpt-4o", 2.50, 1.25, 10.00),
    ("gpt-4o-mini", 0.15, 0.075, 0.60),
    ("o1", 15.00, 7.50, 60.00),
    ("o1-mini", 1.10, 0.55, 4.40),
    ("o3", 2.00, 0.50, 8.00),
    ("o3-pro", 20.00, 20.00, 80.00),
    ("o3-mini", 1.10, 0.55, 4.40),
    ("o4-mini", 1.10, 0.275, 4.40),
];

/// Anthropic list prices per million tokens (input, output), 2025; cache rates by its rule.
const ANTHROPIC_PRICES: &[(&str, f64, f64)] = &[
    ("claude-opus-4", 15.00, 75.00),
    ("claude-opus-4-1", 15.00, 75.00),
    ("claude-opus-4-5", 5.00, 25.00),
    ("claude-sonnet-4", 3.00, 15.00),
    ("claude-sonnet-4-5", 3.00, 15.00),
    ("claude-haiku-4-5", 1.00, 5.00),
    ("claude-3-7-sonnet", 3.00, 15.00),
    ("claude-3-5-sonnet", 3.00, 15.00),
    ("claude-3-5-haiku", 0.80, 4.00),
    ("claude-3-opus", 15.00, 75.00),
    ("claude-3-haiku", 0.25, 1.25),
];

/// Anthropic's cache rates as multiples of the input rate (5-minute cache).
const ANTHROPIC_CACHE_READ: f64 = 0.1;
const ANTHROPIC_CACHE_WRITE: f64 = 1.25;

/// Providers that run on the user's own machine cost nothing per token.
const FREE_PROVIDERS: &[&str] = &["ollama"];

#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    /// Keys are model-name prefixes, or `provider:model` prefixes for one provider only.
    table: HashMap<String, PriceOverride>,
}

impl Default for Pricing {
    fn default() -> Self {
        let openai = OPENAI_PRICES.iter().map(|&(model, input, cached, output)| {
            let price = PriceOverride {
                input,
                output,
                cached_input: Some(cached),
                cache_write: Some(input),
            };
            (model.to_string(), price)
        });
        let anthropic = ANTHROPIC_PRICES.iter().map(|&(model, input, output)| {
            let price = PriceOverride {
                input,
                output,
                cached_input: None,
                cache_write: None,
            };
            (model.to_string(), price)
        });
        Pricing {
            table: openai.chain(anthropic).collect(),
        }
    }
}

impl Pricing {
    /// An empty table: every model is unknown.
    pub fn empty() -> Self {
        Pricing {
            table: HashMap::new(),
        }
    }

    /// The user's prices win over the built-in ones for the same key, and add new keys.
    pub fn with_overrides(mut self, overrides: HashMap<String, PriceOverride>) -> Self {
        self.table.extend(overrides);
        self
    }

    /// The price of `model` as served by `kind_label` (`openai`, `anthropic`, `ollama`;
    /// a full label like `openai:gpt-4.1` is accepted too).
    pub fn price(&self, kind_label: &str, model: &str) -> Option<Price> {
        let provider = kind_label.split(':').next().unwrap_or_default();
        let qualified = format!("{provider}:{model}");
        // Proxies name models `vendor/model` (OpenRouter: `openai/gpt-4.1-mini`).
        let bare = model.rsplit('/').next().unwrap_or(model);
        let matching = |name: &str| {
            self.table
                .iter()
                .filter(|(key, _)| name.starts_with(key.as_str()))
                .max_by_key(|(key, _)| key.len())
                .map(|(key, price)| (key.len(), *price))
        };
        let found = if FREE_PROVIDERS.contains(&provider) {
            // Only a key naming the provider (`ollama:...`) can put a price on a local model;
            // a hosted model's list price must not apply to a local model of the same name.
            Some(matching(&qualified).map_or(PriceOverride::free(), |(_, price)| price))
        } else {
            [matching(&qualified), matching(model), matching(bare)]
                .into_iter()
                .flatten()
                .max_by_key(|(len, _)| *len)
                .map(|(_, price)| price)
        }?;
        Some(self.resolve(found, provider, bare))
    }

    /// Dollars for `usage`; `None` when the model's price is unknown (tokens still count).
    pub fn cost(&self, kind_label: &str, model: &str, usage: Usage) -> Option<f64> {
        self.price(kind_label, model).map(|price| price.cost(usage))
    }

    /// Fill the cache rates an entry leaves out, by the provider's rule.
    fn resolve(&self, entry: PriceOverride, provider: &str, bare_model: &str) -> Price {
        let (read, write) = if provider == "anthropic" || bare_model.starts_with("claude") {
            (
                entry.input * ANTHROPIC_CACHE_READ,
                entry.input * ANTHROPIC_CACHE_WRITE,
            )
        } else {
            // OpenAI: the model family's published ratio, when the family is known.
            let ratio = OPENAI_PRICES
                .iter()
                .filter(|(family, ..)| bare_model.starts_with(family))
                .max_by_key(|(family, ..)| family.len())
                .map_or(1.0, |&(_, input, cached, _)| cached / input);
            (entry.input * ratio, entry.input)
        };
        Price::with_cache(
            entry.input,
            entry.cached_input.unwrap_or(read),
            entry.cache_write.unwrap_or(write),
            entry.output,
        )
    }
}

impl PriceOverride {
    const fn free() -> Self {
        PriceOverride {
            input: 0.0,
            output: 0.0,
            cached_input: None,
            cache_write: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn longest_prefix_wins() {
        let pricing = Pricing::default();
        let mini = pricing.price("openai", "gpt-4.1-mini-2025-04-14").unwrap();
        assert_eq!(mini, Price::with_cache(0.40, 0.10, 0.40, 1.60));
        assert_eq!(
            pricing.price("openai", "gpt-4.1").unwrap(),
            Price::with_cache(2.0, 0.5, 2.0, 8.0)
        );
        assert_eq!(
            pricing.price("openai", "gpt-4o-mini").unwrap(),
            Price::with_cache(0.15, 0.075, 0.15, 0.60)
        );
        assert_eq!(
            pricing.price("openai", "o3-mini").unwrap(),
            Price::with_cache(1.10, 0.55, 1.10, 4.40)
        );
        let sonnet = pricing
            .price("anthropic", "claude-sonnet-4-5-20250929")
            .unwrap();
        assert_eq!((sonnet.input_per_mtok, sonnet.output_per_mtok), (3.0, 15.0));
        assert!(close(sonnet.cache_read_per_mtok, 0.30));
        assert!(close(sonnet.cache_write_per_mtok, 3.75));
        let opus = pricing
            .price("anthropic", "claude-opus-4-5-20251101")
            .unwrap();
        assert_eq!((opus.input_per_mtok, opus.output_per_mtok), (5.0, 25.0));
        let haiku = pricing
            .price("anthropic", "claude-3-5-haiku-latest")
            .unwrap();
        assert_eq!((haiku.input_per_mtok, haiku.output_per_mtok), (0.8, 4.0));
        // OpenRouter-style vendor prefix.
        assert_eq!(
            pricing.price("openai", "openai/gpt-4.1-nano").unwrap(),
            Price::with_cache(0.10, 0.025, 0.10, 0.40)
        );
    }

    #[test]
    fn cost_in_dollars() {
        let pricing = Pricing::default();
        let cost = pricing
            .cost("openai", "gpt-4.1-mini", usage(1_000_000, 500_000))
            .unwrap();
        assert!((cost - (0.40 + 0.80)).abs() < 1e-9, "{cost}");
    }

    #[test]
    fn cached_tokens_are_billed_at_their_own_rates() {
        let pricing = Pricing::default();
        // OpenAI: 1M prompt tokens of which 800k were cached, 100k out.
        let openai = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 800_000,
            cache_write_tokens: 0,
        };
        let cost = pricing.cost("openai", "gpt-4.1", openai).unwrap();
        // 200k × $2 + 800k × $0.50 + 100k × $8
        assert!(close(cost, 0.4 + 0.4 + 0.8), "{cost}");
        // Anthropic: 1M prompt tokens, 600k read, 300k written, 100k plain; 10k out.
        let anthropic = Usage {
            input_tokens: 1_000_000,
            output_tokens: 10_000,
            cache_read_tokens: 600_000,
            cache_write_tokens: 300_000,
        };
        let cost = pricing
            .cost("anthropic", "claude-sonnet-4-5", anthropic)
            .unwrap();
        // 100k × $3 + 600k × $0.30 + 300k × $3.75 + 10k × $15
        assert!(close(cost, 0.3 + 0.18 + 1.125 + 0.15), "{cost}");
        // Without the cache the same prompt costs the full input rate.
        let uncached = pricing
            .cost("anthropic", "claude-sonnet-4-5", usage(1_000_000, 10_000))
            .unwrap();
        assert!(close(uncached, 3.0 + 0.15), "{uncached}");
        // As input tokens on the bill: 100k + 600k × 0.1 + 300k × 1.25.
        let price = pricing.price("anthropic", "claude-sonnet-4-5").unwrap();
        let billed = price.billed_input_tokens(anthropic);
        assert!(close(billed, 100_000.0 + 60_000.0 + 375_000.0), "{billed}");
    }

    #[test]
    fn local_models_are_free_and_unknown_models_have_no_cost() {
        let pricing = Pricing::default();
        assert_eq!(
            pricing.cost("ollama", "llama3.1:8b", usage(5000, 5000)),
            Some(0.0)
        );
        assert_eq!(
            pricing.cost("ollama:llama3.1:8b", "llama3.1:8b", usage(1, 1)),
            Some(0.0)
        );
        assert_eq!(pricing.cost("openai", "my-finetune", usage(1, 1)), None);
    }

    #[test]
    fn overrides_replace_and_extend() {
        let overrides: HashMap<String, PriceOverride> = toml::from_str(
            r#"
            "gpt-4.1-mini" = { input = 1.0, output = 2.0 }
            "my-model" = { input = 3.0, output = 4.0 }
            "openai:llama" = { input = 0.5, output = 0.5 }
            "claude-custom" = { input = 2.0, output = 10.0 }
            "gpt-4o-tuned" = { input = 4.0, output = 8.0, cached_input = 1.0, cache_write = 5.0 }
            "#,
        )
        .unwrap();
        let pricing = Pricing::default().with_overrides(overrides);
        // Unset cache rates follow the provider's rule: the gpt-4.1 family reads at 25%.
        assert_eq!(
            pricing.price("openai", "gpt-4.1-mini").unwrap(),
            Price::with_cache(1.0, 0.25, 1.0, 2.0)
        );
        assert_eq!(
            pricing.price("openai", "gpt-4.1").unwrap(),
            Price::with_cache(2.0, 0.5, 2.0, 8.0)
        );
        // No known family: no known discount.
        assert_eq!(
            pricing.price("openai", "my-model-v2").unwrap(),
            Price::new(3.0, 4.0)
        );
        assert_eq!(
            pricing.price("openai", "llama-3-70b").unwrap(),
            Price::new(0.5, 0.5)
        );
        let claude = pricing.price("anthropic", "claude-custom-1").unwrap();
        assert!(close(claude.cache_read_per_mtok, 0.2));
        assert!(close(claude.cache_write_per_mtok, 2.5));
        // Every rate given: taken as given.
        assert_eq!(
            pricing.price("openai", "gpt-4o-tuned").unwrap(),
            Price::with_cache(4.0, 1.0, 5.0, 8.0)
        );
        // A provider-qualified key applies to that provider only.
        assert_eq!(
            pricing.price("ollama", "llama-3-70b").unwrap(),
            Price::new(0.0, 0.0)
        );
    }

    #[test]
    fn unknown_fields_and_bad_rates_are_caught() {
        assert!(
            toml::from_str::<PriceOverride>("input = 1.0\noutput = 1.0\ncached = 0.1").is_err()
        );
        let bad: PriceOverride = toml::from_str("input = 1.0\noutput = -2.0").unwrap();
        assert_eq!(bad.invalid_rate(), Some(("output", -2.0)));
        let good: PriceOverride = toml::from_str("input = 1.0\noutput = 2.0").unwrap();
        assert_eq!(good.invalid_rate(), None);
    }
}
