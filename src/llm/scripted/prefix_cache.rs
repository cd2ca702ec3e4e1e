//! Providers' prompt caching, emulated for test doubles (the scripted server, the scripted
//! model): given the prompts seen so far, how many tokens of a new prompt a provider would
//! read from its cache and how many it would write, reported the way each API does.
//!
//! - **OpenAI** caches automatically: the longest prefix of the prompt seen before, counted
//!   from 1,024 tokens in steps of 128 (`prompt_tokens_details.cached_tokens`).
//! - **Anthropic** caches only at `cache_control` breakpoints: a breakpoint's prefix is
//!   written once (`cache_creation_input_tokens`) and read by later prompts whose breakpoint
//!   lies at it or up to 20 blocks after it (`cache_read_input_tokens`); prefixes under
//!   1,024 tokens are not cached.
//!
//! Tokens are bytes / 4 of the serialized prompt, so the figures are deterministic.
//! [`openai_prompt`] and [`anthropic_blocks`] read a request body of either wire into the
//! form each cache looks at.

use serde_json::Value;
use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;

/// Bytes per token in every count here.
const BYTES_PER_TOKEN: usize = 4;
/// The smallest prefix either provider caches: 1,024 tokens.
const MIN_CACHED_BYTES: usize = 1024 * BYTES_PER_TOKEN;
/// OpenAI's cache grows in steps of 128 tokens.
const OPENAI_STEP_BYTES: usize = 128 * BYTES_PER_TOKEN;
/// How far before a breakpoint Anthropic looks for an earlier cache entry.
const ANTHROPIC_LOOKBACK_BLOCKS: usize = 20;

/// One block of an Anthropic prompt, in prompt order (tools, system, then message blocks):
/// its serialized text without the `cache_control` marker, and whether it had one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheBlock {
    pub text: String,
    pub breakpoint: bool,
}

/// What one prompt read from the cache and wrote to it, in tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheUse {
    pub read_tokens: u64,
    pub write_tokens: u64,
}

/// The cache of one emulated provider account.
#[derive(Debug, Default)]
pub struct PrefixCache {
    /// Hashes of every OpenAI prompt prefix seen, at each 128-token boundary.
    openai: HashSet<u64>,
    /// Hashes of every Anthropic prefix written at a breakpoint.
    anthropic: HashSet<u64>,
}

impl PrefixCache {
    pub fn new() -> Self {
        PrefixCache::default()
    }

    /// An OpenAI prompt (serialized): the tokens it reads from the cache. Its own prefixes
    /// are cached for the prompts after it.
    pub fn openai(&mut self, prompt: &str) -> CacheUse {
        let bytes = prompt.as_bytes();
        let mut hasher = DefaultHasher::new();
        let mut read = 0;
        let mut hit_so_far = true;
        let mut at = 0;
        while at + OPENAI_STEP_BYTES <= bytes.len() {
            hasher.write(&bytes[at..at + OPENAI_STEP_BYTES]);
            at += OPENAI_STEP_BYTES;
            if at < MIN_CACHED_BYTES {
                continue;
            }
            let key = hasher.clone().finish();
            // Prefixes are inserted whole, so the first miss ends the match.
            if hit_so_far && self.openai.contains(&key) {
                read = at;
            } else {
                hit_so_far = false;
                self.openai.insert(key);
            }
        }
        CacheUse {
            read_tokens: (read / BYTES_PER_TOKEN) as u64,
            write_tokens: 0,
        }
    }

    /// An Anthropic prompt as blocks: the tokens read at the best earlier breakpoint, and
    /// the tokens written from there up to its last breakpoint.
    pub fn anthropic(&mut self, blocks: &[CacheBlock]) -> CacheUse {
        let mut hasher = DefaultHasher::new();
        let mut ends = Vec::with_capacity(blocks.len());
        let mut keys = Vec::with_capacity(blocks.len());
        let mut total = 0;
        for block in blocks {
            hasher.write(block.text.as_bytes());
            // Separates blocks, so ["ab", "c"] and ["a", "bc"] differ.
            hasher.write_u8(0xff);
            total += block.text.len();
            ends.push(total);
            keys.push(hasher.clone().finish());
        }
        let breakpoints: Vec<usize> = (0..blocks.len())
            .filter(|&i| blocks[i].breakpoint && ends[i] >= MIN_CACHED_BYTES)
            .collect();
        let mut read = 0;
        for &b in &breakpoints {
            let earliest = b.saturating_sub(ANTHROPIC_LOOKBACK_BLOCKS);
            if let Some(hit) = (earliest..=b)
                .rev()
                .find(|&j| self.anthropic.contains(&keys[j]))
            {
                read = read.max(ends[hit]);
            }
        }
        let last = breakpoints.last().map_or(0, |&b| ends[b]);
        for &b in &breakpoints {
            self.anthropic.insert(keys[b]);
        }
        CacheUse {
            read_tokens: (read / BYTES_PER_TOKEN) as u64,
            write_tokens: (last.saturating_sub(read) / BYTES_PER_TOKEN) as u64,
        }
    }
}

/// An OpenAI chat-completions body as its cache sees it: the tools, then the messages
/// (the system prompt is the first message), serialized.
pub fn openai_prompt(body: &Value) -> String {
    format!("{}{}", body["tools"], body["messages"])
}

/// An Anthropic messages body as cacheable blocks in prompt order: each tool, each system
/// block, each message block; a block is a breakpoint when it carries `cache_control`
/// (which is not part of its text).
pub fn anthropic_blocks(body: &Value) -> Vec<CacheBlock> {
    let mut blocks = Vec::new();
    let mut push = |value: &Value, prefix: &str| {
        let breakpoint = value.get("cache_control").is_some();
        let mut value = value.clone();
        strip_cache_control(&mut value);
        blocks.push(CacheBlock {
            text: format!("{prefix}{value}"),
            breakpoint,
        });
    };
    for tool in body["tools"].as_array().into_iter().flatten() {
        push(tool, "tool:");
    }
    match &body["system"] {
        Value::Array(parts) => parts.iter().for_each(|p| push(p, "system:")),
        Value::Null => {}
        text => push(text, "system:"),
    }
    for message in body["messages"].as_array().into_iter().flatten() {
        let role = message["role"].as_str().unwrap_or("");
        match &message["content"] {
            Value::Array(parts) => {
                for (i, part) in parts.iter().enumerate() {
                    push(part, if i == 0 { role } else { "" });
                }
            }
            text => push(text, role),
        }
    }
    blocks
}

/// `value` without any `cache_control` marker, at any depth.
pub fn strip_cache_control(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("cache_control");
            map.values_mut().for_each(strip_cache_control);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_cache_control),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: usize, fill: char) -> String {
        std::iter::repeat_n(fill, bytes).collect()
    }

    #[test]
    fn openai_reads_the_longest_seen_prefix_in_steps_from_1024_tokens() {
        let mut cache = PrefixCache::new();
        let shared = text(6000, 'a');
        assert_eq!(cache.openai(&format!("{shared}first")).read_tokens, 0);
        // 6000 shared bytes: 11 whole steps of 512 bytes = 5632 bytes = 1408 tokens.
        let second = cache.openai(&format!("{shared}second"));
        assert_eq!(second.read_tokens, 1408);
        assert_eq!(second.write_tokens, 0);
        // A prompt under 1,024 tokens is never cached.
        let short = text(4000, 'b');
        cache.openai(&short);
        assert_eq!(cache.openai(&short).read_tokens, 0);
        // A different start shares nothing.
        assert_eq!(cache.openai(&format!("x{shared}")).read_tokens, 0);
    }

    fn block(bytes: usize, fill: char, breakpoint: bool) -> CacheBlock {
        CacheBlock {
            text: text(bytes, fill),
            breakpoint,
        }
    }

    #[test]
    fn anthropic_caches_at_breakpoints_and_looks_back_for_earlier_ones() {
        let mut cache = PrefixCache::new();
        let tools = block(2000, 't', true);
        let system = block(4000, 's', true);
        let first = [tools.clone(), system.clone(), block(400, '1', true)];
        // Nothing cached yet: everything up to the last breakpoint is written.
        assert_eq!(
            cache.anthropic(&first),
            CacheUse {
                read_tokens: 0,
                write_tokens: 6400 / 4
            }
        );
        // Another agent: same tools and system, its own task: reads the system breakpoint.
        let other = [tools.clone(), system.clone(), block(400, '2', true)];
        assert_eq!(
            cache.anthropic(&other),
            CacheUse {
                read_tokens: 6000 / 4,
                write_tokens: 400 / 4
            }
        );
        // The first agent's next turn: its breakpoint moved on, the last one is found by
        // looking back.
        let next = [
            tools.clone(),
            system.clone(),
            block(400, '1', false),
            block(800, 'r', true),
        ];
        assert_eq!(
            cache.anthropic(&next),
            CacheUse {
                read_tokens: 6400 / 4,
                write_tokens: 800 / 4
            }
        );
        // Without breakpoints nothing is cached, and a short prefix neither.
        let mut cold = PrefixCache::new();
        let plain = [block(9000, 'p', false)];
        cold.anthropic(&plain);
        assert_eq!(cold.anthropic(&plain), CacheUse::default());
        let small = [block(100, 'q', true)];
        cold.anthropic(&small);
        assert_eq!(cold.anthropic(&small), CacheUse::default());
    }

    #[test]
    fn bodies_read_as_each_cache_sees_them() {
        let body = serde_json::json!({
            "tools": [{"name": "a", "cache_control": {"type": "ephemeral"}}],
            "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        });
        let blocks = anthropic_blocks(&body);
        assert_eq!(blocks.len(), 3);
        assert!(blocks[0].breakpoint && blocks[1].breakpoint && !blocks[2].breakpoint);
        assert!(blocks.iter().all(|b| !b.text.contains("cache_control")));
        assert!(blocks[2].text.starts_with("user"));
        let openai = serde_json::json!({"tools": [1], "messages": [{"role": "system"}]});
        assert_eq!(openai_prompt(&openai), r#"[1][{"role":"system"}]"#);
    }
}
