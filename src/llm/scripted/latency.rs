//! How long a provider takes to answer, as a function of what it is asked: time to first
//! token grows with the prompt (prefill, cheaper for the part read from the prompt cache)
//! and every output token costs decode time. The scripted model sleeps this long, so a
//! coordination shape that sends longer prompts or writes longer reports pays for it as it
//! would with a real provider.
//!
//! The defaults are round numbers read off published figures (2024-2025):
//! - Anthropic's prompt-caching announcement (August 2024) gives time to first token for a
//!   10,000-token prompt as 1.6 s uncached and 1.1 s cached, and for a 100,000-token prompt
//!   as 11.5 s uncached and 2.4 s cached. A line through the uncached points: about 0.5 s
//!   plus 0.11 ms per prompt token; through the cached ones: about 0.014 ms per cached token.
//! - Output speeds published for mid-sized hosted models (GPT-4.1-mini, Claude Sonnet 4, by
//!   Artificial Analysis and the providers) lie between about 50 and 100 tokens per second:
//!   70 tokens/s, 14 ms per output token, is the default.
//!
//! All of it is in [`LatencyModel`], one place; BENCHMARKS.md states the values used.

use std::time::Duration;

/// Time to answer one call: `first_token + uncached × prefill_uncached + cached ×
/// prefill_cached + output × decode`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    /// Fixed time to first token (queueing, network, the first forward pass).
    pub first_token: Duration,
    /// Prefill time per prompt token not read from the cache.
    pub prefill_uncached: Duration,
    /// Prefill time per prompt token read from the cache.
    pub prefill_cached: Duration,
    /// Time per output token.
    pub decode: Duration,
}

impl LatencyModel {
    /// Every call answers at once (engine-overhead measurements).
    pub const ZERO: LatencyModel = LatencyModel::fixed(Duration::ZERO);

    /// The same time for every call, whatever its size.
    pub const fn fixed(time: Duration) -> LatencyModel {
        LatencyModel {
            first_token: time,
            prefill_uncached: Duration::ZERO,
            prefill_cached: Duration::ZERO,
            decode: Duration::ZERO,
        }
    }

    /// The published-figures model (see the module documentation).
    pub const fn provider() -> LatencyModel {
        LatencyModel {
            first_token: Duration::from_millis(500),
            prefill_uncached: Duration::from_nanos(110_000),
            prefill_cached: Duration::from_nanos(14_000),
            decode: Duration::from_millis(14),
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == LatencyModel::ZERO
    }

    /// How long a call with this many prompt tokens (of which `cached` were read from the
    /// cache) and output tokens takes.
    pub fn call_time(&self, input: u64, cached: u64, output: u64) -> Duration {
        let cached = cached.min(input);
        let times =
            |per: Duration, n: u64| per.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX));
        self.first_token
            .saturating_add(times(self.prefill_uncached, input - cached))
            .saturating_add(times(self.prefill_cached, cached))
            .saturating_add(times(self.decode, output))
    }
}

impl Default for LatencyModel {
    fn default() -> Self {
        LatencyModel::provider()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_points_are_roughly_reproduced() {
        let m = LatencyModel::provider();
        let secs = |input, cached| m.call_time(input, cached, 0).as_secs_f64();
        assert!((secs(10_000, 0) - 1.6).abs() < 0.1, "{}", secs(10_000, 0));
        assert!(
            (secs(100_000, 0) - 11.5).abs() < 0.2,
            "{}",
            secs(100_000, 0)
        );
        assert!((secs(100_000, 100_000) - 2.4).abs() < 0.6);
        // 70 tokens a second.
        let decode = m.call_time(0, 0, 70).as_secs_f64() - 0.5;
        assert!((decode - 0.98).abs() < 0.01, "{decode}");
    }

    #[test]
    fn fixed_ignores_size_and_cached_never_exceeds_input() {
        let m = LatencyModel::fixed(Duration::from_millis(300));
        assert_eq!(m.call_time(1_000_000, 0, 9_999), Duration::from_millis(300));
        let p = LatencyModel::provider();
        assert_eq!(p.call_time(100, 500, 0), p.call_time(100, 100, 0));
        assert!(LatencyModel::ZERO.is_zero() && !p.is_zero());
    }
}
