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

/// The share of input tokens read from a prompt cache, as the UI shows it ("61% cached");
/// `None` when nothing was cached (most runs against servers that do not cache).
pub fn cached_share(cached: u64, input: u64) -> Option<String> {
    (cached > 0 && input > 0)
        .then(|| format!("{:.0}% cached", cached as f64 * 100.0 / input as f64))
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

/// `text` safe to print on a terminal: control characters (ESC, BEL, CR, the C1 range) and
/// bidirectional overrides are shown in caret or `<U+…>` notation instead of acting, so
/// model-written text cannot clear the screen, set the clipboard (OSC 52) or reorder a line.
/// Newlines and tabs stay.
pub fn escape_controls(text: &str) -> String {
    let risky = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(risky) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !risky(c) => out.push(c),
            '\u{7f}' => out.push_str("^?"),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from_u32(c as u32 + 0x40).unwrap_or('?'));
            }
            c => out.push_str(&format!("<U+{:04X}>", c as u32)),
        }
    }
    out
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
    fn cache_share_reads_as_a_percentage() {
        assert_eq!(cached_share(61, 100).as_deref(), Some("61% cached"));
        assert_eq!(cached_share(0, 100), None);
        assert_eq!(cached_share(0, 0), None);
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line(" a\n\tb   c "), "a b c");
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let hostile = "a\u{1b}[2Jb\u{1b}]52;c;aGk=\u{7}c\r\u{9b}d\u{202e}e\nf\tg";
        let safe = escape_controls(hostile);
        assert_eq!(safe, "a^[[2Jb^[]52;c;aGk=^Gc^M<U+009B>d<U+202E>e\nf\tg");
        assert!(
            !safe
                .chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t')
        );
        assert_eq!(escape_controls("plain"), "plain");
    }
}
