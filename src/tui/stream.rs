//! Live streamed model text, per agent, committed line by line into a capped ring buffer.
//!
//! Deltas arrive at a high rate and are lossy by design. A partial line waits for its
//! newline (so the pane never shows a word being typed half-way), except that an overlong
//! line is committed at its last space so a model that never writes a newline still shows.

use std::collections::{HashMap, VecDeque};

/// Lines kept per agent: enough for the agents pane and a glance back, bounded in memory.
pub const STREAM_LINES_KEPT: usize = 64;
/// A partial line longer than this is committed at a word boundary.
const SOFT_LINE_LIMIT: usize = 160;

#[derive(Debug, Clone, Default)]
pub struct LineBuffer {
    lines: VecDeque<String>,
    partial: String,
}

impl LineBuffer {
    pub fn push(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '\n' => self.commit(),
                '\r' => {}
                c => self.partial.push(c),
            }
        }
        while self.partial.chars().count() > SOFT_LINE_LIMIT {
            let cut = self
                .partial
                .char_indices()
                .take(SOFT_LINE_LIMIT)
                .filter(|(_, c)| *c == ' ')
                .map(|(i, _)| i)
                .last()
                .unwrap_or_else(|| {
                    self.partial
                        .char_indices()
                        .nth(SOFT_LINE_LIMIT)
                        .map_or(self.partial.len(), |(i, _)| i)
                });
            let rest = self.partial.split_off(cut);
            self.commit();
            self.partial = rest.trim_start().to_string();
        }
    }

    fn commit(&mut self) {
        let line = std::mem::take(&mut self.partial);
        if line.trim().is_empty() && self.lines.back().is_some_and(|l| l.trim().is_empty()) {
            return; // collapse runs of blank lines
        }
        if self.lines.len() == STREAM_LINES_KEPT {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The last `n` committed, non-blank lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .lines
            .iter()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(n)
            .map(String::as_str)
            .collect();
        out.reverse();
        out
    }

    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }

    /// A model call ended: what it wrote last is a line of its own, even without a newline.
    pub fn end_turn(&mut self) {
        if !self.partial.trim().is_empty() {
            self.commit();
        } else {
            self.partial.clear();
        }
    }

    pub fn clear(&mut self) {
        self.lines.clear();
        self.partial.clear();
    }
}

/// One [`LineBuffer`] per agent.
#[derive(Debug, Clone, Default)]
pub struct StreamBuffers {
    agents: HashMap<String, LineBuffer>,
}

impl StreamBuffers {
    pub fn push(&mut self, agent: &str, text: &str) {
        self.agents.entry(agent.to_string()).or_default().push(text);
    }

    /// A new task starts for this agent: its old stream is no longer relevant.
    pub fn reset(&mut self, agent: &str) {
        if let Some(buffer) = self.agents.get_mut(agent) {
            buffer.clear();
        }
    }

    /// One model call of `agent` ended (see [`LineBuffer::end_turn`]).
    pub fn end_turn(&mut self, agent: &str) {
        if let Some(buffer) = self.agents.get_mut(agent) {
            buffer.end_turn();
        }
    }

    pub fn get(&self, agent: &str) -> Option<&LineBuffer> {
        self.agents.get(agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let mut b = LineBuffer::default();
        b.push("Reading src/le");
        assert!(b.tail(3).is_empty());
        b.push("x.rs\nfound it");
        assert_eq!(b.tail(3), vec!["Reading src/lex.rs"]);
        // The next call's text starts a new line, not the end of this one.
        b.end_turn();
        b.push("Next turn");
        b.end_turn();
        assert_eq!(
            b.tail(3),
            vec!["Reading src/lex.rs", "found it", "Next turn"]
        );
    }

    #[test]
    fn buffer_is_capped_and_long_lines_break_at_spaces() {
        let mut b = LineBuffer::default();
        for i in 0..200 {
            b.push(&format!("line {i}\n"));
        }
        assert_eq!(b.lines.len(), STREAM_LINES_KEPT);
        assert_eq!(b.tail(1), vec!["line 199"]);
        b.push(&"word ".repeat(80));
        assert!(b.tail(1)[0].starts_with("word word"));
        assert!(b.tail(1)[0].len() <= SOFT_LINE_LIMIT);
    }
}
