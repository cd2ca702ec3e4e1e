//! Turning token usage into dollars.
//!
//! The built-in table holds public list prices in US dollars per million tokens, as published
//! by OpenAI and Anthropic in 2025. They change; the user's `config.toml` can override any of
//! them or add models (`"my-model" = { input = 1.0, output = 2.0 }` under `[pricing]`). Keys
//! are model-name prefixes, or `provider:model` prefixes for one provider. Models are matched
//! by the longest table key that prefixes their name, so dated snapshots
//! (`gpt-4.1-mini-2025-04-14`, `claude-sonnet-4-5-20250929`) find their family.

use super::Usage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    #[serde(rename = "input")]
    pub input_per_mtok: f64,
    #[serde(rename = "output")]
    pub output_per_mtok: f64,
}

impl Price {
    pub const fn new(input_per_mtok: f64, output_per_mtok: f64) -> Self {
        Price {
            input_per_mtok,
            output_per_mtok,
        }
    }

    pub fn cost(&self, usage: Usage) -> f64 {
        (usage.input_tokens as f64 * self.input_per_mtok
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// List prices per million tokens (input, output), 2025.
const LIST_PRICES: &[(&str, f64, f64)] = &[
    // OpenAI
    ("gpt-5", 1.25, 10.00),
    ("gpt-5-mini", 0.25, 2.00),
    ("gpt-5-nano", 0.05, 0.40),
    ("gpt-4.1", 2.00, 8.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1-nano", 0.10, 0.40),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4o-mini", 0.15, 0.60),
    ("o1", 15.00, 60.00),
    ("o1-mini", 1.10, 4.40),
    ("o3", 2.00, 8.00),
    ("o3-pro", 20.00, 80.00),
    ("o3-mini", 1.10, 4.40),
    ("o4-mini", 1.10, 4.40),
    // Anthropic
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

/// Providers that run on the user's own machine cost nothing per token.
const FREE_PROVIDERS: &[&str] = &["ollama"];

#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    /// Keys are model-name prefixes, or `provider:model` prefixes for one provider only.
    table: HashMap<String, Price>,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            table: LIST_PRICES
                .iter()
                .map(|&(model, input, output)| (model.to_string(), Price::new(input, output)))
                .collect(),
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
    pub fn with_overrides(mut self, overrides: HashMap<String, Price>) -> Self {
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
        if FREE_PROVIDERS.contains(&provider) {
            // Only a key naming the provider (`ollama:...`) can put a price on a local model;
            // a hosted model's list price must not apply to a local model of the same name.
            return Some(matching(&qualified).map_or(Price::new(0.0, 0.0), |(_, price)| price));
        }
        [matching(&qualified), matching(model), matching(bare)]
            .into_iter()
            .flatten()
            .max_by_key(|(len, _)| *len)
            .map(|(_, price)| price)
    }

    /// Dollars for `usage`; `None` when the model's price is unknown (tokens still count).
    pub fn cost(&self, kind_label: &str, model: &str, usage: Usage) -> Option<f64> {
        self.price(kind_label, model).map(|price| price.cost(usage))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: input,
            output_tokens: output,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let pricing = Pricing::default();
        let mini = pricing.price("openai", "gpt-4.1-mini-2025-04-14").unwrap();
        assert_eq!(mini, Price::new(0.40, 1.60));
        assert_eq!(
            pricing.price("openai", "gpt-4.1").unwrap(),
            Price::new(2.0, 8.0)
        );
        assert_eq!(
            pricing.price("openai", "gpt-4o-mini").unwrap(),
            Price::new(0.15, 0.60)
        );
        assert_eq!(
            pricing.price("openai", "o3-mini").unwrap(),
            Price::new(1.10, 4.40)
        );
        assert_eq!(
            pricing
                .price("anthropic", "claude-sonnet-4-5-20250929")
                .unwrap(),
            Price::new(3.0, 15.0)
        );
        assert_eq!(
            pricing
                .price("anthropic", "claude-opus-4-5-20251101")
                .unwrap(),
            Price::new(5.0, 25.0)
        );
        assert_eq!(
            pricing
                .price("anthropic", "claude-3-5-haiku-latest")
                .unwrap(),
            Price::new(0.8, 4.0)
        );
        // OpenRouter-style vendor prefix.
        assert_eq!(
            pricing.price("openai", "openai/gpt-4.1-nano").unwrap(),
            Price::new(0.10, 0.40)
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
        let overrides: HashMap<String, Price> = toml::from_str(
            r#"
            "gpt-4.1-mini" = { input = 1.0, output = 2.0 }
            "my-model" = { input = 3.0, output = 4.0 }
            "openai:llama" = { input = 0.5, output = 0.5 }
            "#,
        )
        .unwrap();
        let pricing = Pricing::default().with_overrides(overrides);
        assert_eq!(
            pricing.price("openai", "gpt-4.1-mini").unwrap(),
            Price::new(1.0, 2.0)
        );
        assert_eq!(
            pricing.price("openai", "gpt-4.1").unwrap(),
            Price::new(2.0, 8.0)
        );
        assert_eq!(
            pricing.price("openai", "my-model-v2").unwrap(),
            Price::new(3.0, 4.0)
        );
        assert_eq!(
            pricing.price("openai", "llama-3-70b").unwrap(),
            Price::new(0.5, 0.5)
        );
        // A provider-qualified key applies to that provider only.
        assert_eq!(
            pricing.price("ollama", "llama-3-70b").unwrap(),
            Price::new(0.0, 0.0)
        );
    }
}
