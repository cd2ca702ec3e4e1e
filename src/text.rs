//! Small text helpers shared by the engine, the story, listings and the TUI.

/// Newlines and runs of whitespace collapsed to single spaces, so text stays on one row.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters, the last one `…` when anything was cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Tokens a text costs, estimated: about four characters per token for English text and
/// code. The one estimate delm uses where a provider's count is not at hand (context budgets,
/// usage a server did not report, the scripted model).
pub fn estimate_tokens(text: &str) -> usize {
    estimate_tokens_of_chars(text.chars().count())
}

/// [`estimate_tokens`] of a text of `chars` characters.
pub const fn estimate_tokens_of_chars(chars: usize) -> usize {
    chars.div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_to_the_character_budget() {
        assert_eq!(clip("abcdef", 6), "abcdef");
        assert_eq!(clip("abcdefg", 6), "abcde…");
        assert_eq!(clip("żółwie", 3), "żó…");
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line(" a\n\tb   c "), "a b c");
    }
}
