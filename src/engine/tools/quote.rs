//! Finding a quoted passage in source text, forgivingly but not loosely.
//!
//! Models re-wrap lines, change case and swap typographic quotes when they copy text, and
//! PDF text layers break lines at random places. A quote therefore matches when it is found
//! after both sides are folded: whitespace removed, letters lower-cased, curly quotes and
//! dashes made plain. An ellipsis (`...` or `…`) in a quote stands for omitted text: the
//! pieces must then appear in order. Matches are mapped back to byte ranges of the original
//! text so callers can report exact locations.

use std::collections::HashSet;

/// Text folded for matching, with the original byte offset of every folded byte.
struct Folded {
    text: String,
    origin: Vec<usize>,
}

fn fold_char(c: char, out: &mut String) {
    match c {
        c if c.is_whitespace() => {}
        // Soft hyphen, zero-width space/joiners, byte-order mark: invisible in print.
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' => {}
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '`' => out.push('\''),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => out.push('"'),
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => out.push('-'),
        '\u{2026}' => out.push_str("..."),
        c => out.extend(c.to_lowercase()),
    }
}

fn fold(src: &str) -> Folded {
    let mut text = String::with_capacity(src.len());
    let mut origin = Vec::with_capacity(src.len());
    for (at, c) in src.char_indices() {
        let before = text.len();
        fold_char(c, &mut text);
        origin.extend(std::iter::repeat_n(at, text.len() - before));
    }
    Folded { text, origin }
}

fn fold_plain(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        fold_char(c, &mut out);
    }
    out
}

/// Why a quote cannot be matched at all (independent of the source text).
pub(crate) fn check_quote(quote: &str) -> Result<(), String> {
    if pieces(quote).is_empty() {
        return Err(
            "the evidence has no quote: copy the exact text that supports the claim into \
             `quote`"
                .to_string(),
        );
    }
    Ok(())
}

fn pieces(quote: &str) -> Vec<String> {
    fold_plain(quote)
        .split("...")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Find `quote` in `haystack`. Returns the byte range in `haystack` from the first matched
/// character to the end of the last one.
pub(crate) fn find(haystack: &str, quote: &str) -> Option<(usize, usize)> {
    let pieces = pieces(quote);
    if pieces.is_empty() {
        return None;
    }
    let folded = fold(haystack);
    let mut from = 0;
    let mut first = None;
    let mut last_end = 0;
    for piece in &pieces {
        let at = from + folded.text[from..].find(piece.as_str())?;
        first.get_or_insert(at);
        last_end = at + piece.len();
        from = last_end;
    }
    let start = folded.origin[first?];
    let last_char_at = folded.origin[last_end - 1];
    let last_len = haystack[last_char_at..]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    Some((start, last_char_at + last_len))
}

/// If every non-empty line of `quote` starts with a line-number prefix as `read_file`
/// prints it (`  141 | `), the quote without those prefixes.
pub(crate) fn strip_line_numbers(quote: &str) -> Option<String> {
    let mut stripped = Vec::new();
    let mut any = false;
    for line in quote.lines() {
        if line.trim().is_empty() {
            stripped.push("");
            continue;
        }
        let rest = line.trim_start();
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return None;
        }
        let rest = rest[digits..].trim_start_matches(' ');
        let rest = rest.strip_prefix('|').or_else(|| rest.strip_prefix(':'))?;
        stripped.push(rest.strip_prefix(' ').unwrap_or(rest));
        any = true;
    }
    any.then(|| stripped.join("\n"))
}

fn words(s: &str) -> HashSet<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1)
        .map(str::to_lowercase)
        .collect()
}

/// The line of `text` that shares the most words with `quote`: (0-based line index, line).
/// `None` when no line shares a word.
pub(crate) fn closest_line<'a>(text: &'a str, quote: &str) -> Option<(usize, &'a str)> {
    let wanted = words(quote);
    if wanted.is_empty() {
        return None;
    }
    let mut best: Option<(usize, usize, &str)> = None;
    for (i, line) in text.lines().enumerate() {
        let shared = words(line).intersection(&wanted).count();
        if shared > 0 && best.is_none_or(|(s, _, _)| shared > s) {
            best = Some((shared, i, line));
        }
    }
    best.map(|(_, i, line)| (i, line))
}

/// Shorten `s` to at most `max` characters (on a char boundary), marking the cut.
pub(crate) fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_modulo_whitespace_and_case() {
        let text = "fn skip_ws(&mut self) {\n    while self.peek().is_whitespace() {\n";
        let (s, e) = find(text, "WHILE self.peek()   .is_whitespace()").unwrap();
        assert_eq!(&text[s..e], "while self.peek().is_whitespace()");
    }

    #[test]
    fn matches_across_line_breaks_and_typographic_quotes() {
        let text = "Globex said \u{201C}record\nyear\u{201D} \u{2014} again";
        let (s, e) = find(text, "\"record year\" - again").unwrap();
        assert_eq!(&text[s..e], "\u{201C}record\nyear\u{201D} \u{2014} again");
    }

    #[test]
    fn ellipsis_pieces_must_appear_in_order() {
        let text = "alpha beta gamma delta";
        assert_eq!(find(text, "alpha … delta"), Some((0, text.len())));
        assert_eq!(find(text, "delta ... alpha"), None);
    }

    #[test]
    fn text_not_present_is_not_found() {
        assert_eq!(find("revenue was $412.5 million", "$412.6 million"), None);
        assert_eq!(find("anything", "   "), None);
        assert!(check_quote(" ... ").is_err());
    }

    #[test]
    fn multibyte_text_maps_back_to_byte_ranges() {
        let text = "Umsatz: 12 € — Straße";
        // Case folding is per character: 'ß' stays 'ß', it is not spelled out as "ss".
        assert_eq!(find(text, "STRASSE"), None);
        let (s, e) = find(text, "12 € - straße").unwrap();
        assert_eq!(&text[s..e], "12 € — Straße");
    }

    #[test]
    fn strips_read_file_line_numbers() {
        let q = "  141 | let x = 1;\n  142 |     y(x);";
        assert_eq!(strip_line_numbers(q).unwrap(), "let x = 1;\n    y(x);");
        assert_eq!(strip_line_numbers("let x = 1;"), None);
    }

    #[test]
    fn closest_line_shares_most_words() {
        let text = "one two\nthe revenue was high\nnothing";
        assert_eq!(
            closest_line(text, "revenue was low"),
            Some((1, "the revenue was high"))
        );
        assert_eq!(closest_line(text, "zzz"), None);
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
