//! Character offsets for documents.
//!
//! Models cite document spans in characters (a byte offset could land inside a UTF-8
//! sequence), while Rust slices strings by bytes. A `CharMap` converts between the two in
//! near-constant time with a checkpoint every `STEP` characters; pure-ASCII text (the common
//! case) needs no table at all.

const STEP: usize = 256;

#[derive(Debug, Clone)]
pub(crate) struct CharMap {
    /// Byte offset of character `i * STEP`; empty for ASCII text.
    checkpoints: Vec<usize>,
    chars: usize,
}

impl CharMap {
    pub fn new(text: &str) -> Self {
        if text.is_ascii() {
            return CharMap {
                checkpoints: Vec::new(),
                chars: text.len(),
            };
        }
        let mut checkpoints = Vec::with_capacity(text.len() / STEP + 1);
        let mut chars = 0;
        for (i, (at, _)) in text.char_indices().enumerate() {
            if i % STEP == 0 {
                checkpoints.push(at);
            }
            chars = i + 1;
        }
        CharMap { checkpoints, chars }
    }

    /// Number of characters in the text.
    pub fn len(&self) -> usize {
        self.chars
    }

    /// Byte offset of character `ch` (clamped to the end of the text).
    pub fn byte_of(&self, text: &str, ch: usize) -> usize {
        if self.checkpoints.is_empty() {
            return ch.min(text.len());
        }
        if ch >= self.chars {
            return text.len();
        }
        let base = self.checkpoints[ch / STEP];
        text[base..]
            .char_indices()
            .nth(ch % STEP)
            .map_or(text.len(), |(i, _)| base + i)
    }

    /// Character offset of byte `byte` (which must be a char boundary, or the end).
    pub fn char_of(&self, text: &str, byte: usize) -> usize {
        if self.checkpoints.is_empty() {
            return byte.min(text.len());
        }
        let block = self
            .checkpoints
            .partition_point(|&b| b <= byte)
            .saturating_sub(1);
        let base = self.checkpoints[block];
        block * STEP + text[base..byte.min(text.len())].chars().count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_identity() {
        let text = "hello world";
        let map = CharMap::new(text);
        assert_eq!(map.len(), 11);
        assert_eq!(map.byte_of(text, 6), 6);
        assert_eq!(map.char_of(text, 6), 6);
        assert_eq!(map.byte_of(text, 99), 11);
    }

    #[test]
    fn round_trips_on_multibyte_text() {
        let text: String = (0..2000)
            .map(|i| if i % 7 == 0 { '€' } else { 'a' })
            .collect();
        let map = CharMap::new(&text);
        assert_eq!(map.len(), 2000);
        for ch in [0, 1, 7, 255, 256, 257, 1000, 1999] {
            let byte = map.byte_of(&text, ch);
            assert!(text.is_char_boundary(byte));
            assert_eq!(text[..byte].chars().count(), ch);
            assert_eq!(map.char_of(&text, byte), ch);
        }
        assert_eq!(map.byte_of(&text, 2000), text.len());
        assert_eq!(map.char_of(&text, text.len()), 2000);
    }
}
