//! Finding a quoted passage in source text, forgivingly but not loosely.
//!
//! Models re-wrap lines, change case and swap typographic quotes when they copy text, and
//! PDF text layers break lines at random places. A quote therefore matches when it is found
//! after both sides are folded: whitespace removed, letters lower-cased, compatibility forms
//! unified (NFKC: ligatures, full-width digits, non-breaking spaces, composed accents),
//! curly quotes and dashes made plain. An ellipsis (`...`, `…`, `[...]`, `[…]`) in a quote
//! stands for omitted text: the pieces must then appear in order. When that finds nothing, a
//! second, lenient pass also ignores markdown emphasis (`*`, `_`, backticks) and hyphens
//! before a line break (PDF hyphenation: `reve-` / `nue`). Matches are mapped back to byte
//! ranges of the original text so callers can report exact locations.

use std::collections::HashSet;
use std::sync::LazyLock;

/// A quote must have at least this many words, or this many characters (whitespace not
/// counted), to be evidence: see [`meaningful`].
pub(crate) const MIN_QUOTE_WORDS: usize = 3;
pub(crate) const MIN_QUOTE_CHARS: usize = 12;
/// [`find_all`] stops after this many matches.
const MAX_MATCHES: usize = 256;

/// Text folded for matching, with the original byte offset of every folded byte.
struct Folded {
    text: String,
    origin: Vec<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Strict,
    /// Also ignores markdown emphasis and hyphens before a line break.
    Lenient,
}

fn fold_one(c: char, pass: Pass, out: &mut String) {
    match c {
        c if c.is_whitespace() => {}
        // Soft hyphen, zero-width space/joiners, byte-order mark: invisible in print.
        '\u{00AD}' | '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}' => {}
        '*' | '_' | '`' if pass == Pass::Lenient => {}
        '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '`' => out.push('\''),
        '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => out.push('"'),
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
        | '\u{2212}' => out.push('-'),
        '\u{2026}' => out.push_str("..."),
        c => out.extend(c.to_lowercase()),
    }
}

/// Fold one character. Non-ASCII characters are decomposed first (compatibility
/// decomposition, per character): both sides are folded the same way, so comparing the
/// decomposed forms compares their NFKC forms.
fn fold_char(c: char, pass: Pass, out: &mut String) {
    if c.is_ascii() {
        fold_one(c, pass, out);
    } else {
        unicode_normalization::char::decompose_compatible(c, |d| fold_one(d, pass, out));
    }
}

/// Whether `c`, at byte `at` of `src`, is a hyphen followed by whitespace: a word broken at
/// a line end (or re-wrapped by the model, with a space where the break was).
fn hyphen_at_break(src: &str, at: usize, c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}')
        && src[at + c.len_utf8()..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace)
}

fn fold(src: &str, pass: Pass) -> Folded {
    let mut text = String::with_capacity(src.len());
    let mut origin = Vec::with_capacity(src.len());
    for (at, c) in src.char_indices() {
        if pass == Pass::Lenient && hyphen_at_break(src, at, c) {
            continue;
        }
        let before = text.len();
        fold_char(c, pass, &mut text);
        origin.extend(std::iter::repeat_n(at, text.len() - before));
    }
    Folded { text, origin }
}

/// `[...]`, `[…]`, `(...)`: an omission, like a bare ellipsis.
static BRACKETED_OMISSION: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"\[\s*(?:\.{3,}|…)\s*\]|\(\s*(?:\.{3,}|…)\s*\)").expect("a valid pattern")
});

fn pieces(quote: &str, pass: Pass) -> Vec<String> {
    let quote = BRACKETED_OMISSION.replace_all(quote, "…");
    fold(&quote, pass)
        .text
        .split("...")
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Why a quote cannot be matched at all (independent of the source text).
pub(crate) fn check_quote(quote: &str) -> Result<(), String> {
    if pieces(quote, Pass::Strict).is_empty() {
        return Err(
            "the evidence has no quote: copy the exact text that supports the claim into \
             `quote`"
                .to_string(),
        );
    }
    Ok(())
}

/// Whether a quote is long enough to be evidence: at least [`MIN_QUOTE_WORDS`] words or
/// [`MIN_QUOTE_CHARS`] characters (whitespace not counted). "2024", "OK" or "$1" alone
/// shows nothing about the claim it is cited for.
pub fn meaningful(quote: &str) -> bool {
    let words = quote
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count();
    let chars = quote.chars().filter(|c| !c.is_whitespace()).count();
    words >= MIN_QUOTE_WORDS || chars >= MIN_QUOTE_CHARS
}

/// Find `quote` in `haystack`. Returns the byte range in `haystack` from the first matched
/// character to the end of the last one.
pub fn find(haystack: &str, quote: &str) -> Option<(usize, usize)> {
    find_all(haystack, quote).into_iter().next()
}

/// Every non-overlapping place `quote` is found in `haystack` (at most a few hundred), in
/// order. The strict pass is tried first; the lenient one only when it finds nothing.
pub(crate) fn find_all(haystack: &str, quote: &str) -> Vec<(usize, usize)> {
    for pass in [Pass::Strict, Pass::Lenient] {
        let pieces = pieces(quote, pass);
        if pieces.is_empty() {
            return Vec::new();
        }
        let found = matches_in(&fold(haystack, pass), &pieces, haystack);
        if !found.is_empty() {
            return found;
        }
    }
    Vec::new()
}

fn matches_in(folded: &Folded, pieces: &[String], haystack: &str) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while found.len() < MAX_MATCHES {
        let Some(first_at) = folded.text[from..]
            .find(pieces[0].as_str())
            .map(|i| from + i)
        else {
            break;
        };
        let mut end = first_at + pieces[0].len();
        for piece in &pieces[1..] {
            match folded.text[end..].find(piece.as_str()) {
                Some(i) => end += i + piece.len(),
                // The later pieces are not after this start, so not after any later one.
                None => return found,
            }
        }
        let start = folded.origin[first_at];
        let last_char_at = folded.origin[end - 1];
        let last_len = haystack[last_char_at..]
            .chars()
            .next()
            .map_or(0, char::len_utf8);
        let range = (start, last_char_at + last_len);
        if cuts_a_number(haystack, range) {
            // "$412" is not a quote of "$412.5": look further.
            from = first_at
                + folded.text[first_at..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8);
            continue;
        }
        found.push(range);
        from = end;
    }
    found
}

/// Whether the range starts or ends inside a number of `text` (`41` taken out of
/// `412.5`, `2.5` out of `12.5`): the number check compares claims with the quote, so a
/// quote must hold whole numbers.
fn cuts_a_number(text: &str, (start, end): (usize, usize)) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    let quoted = &text[start..end];
    let mut before = text[..start].chars().rev();
    let mut after = text[end..].chars();
    let (b1, b2) = (before.next(), before.next());
    let (a1, a2) = (after.next(), after.next());
    let sep = |c: Option<char>| matches!(c, Some('.' | ','));
    let cut_start = digit(quoted.chars().next()) && (digit(b1) || (sep(b1) && digit(b2)));
    let cut_end = digit(quoted.chars().next_back()) && (digit(a1) || (sep(a1) && digit(a2)));
    cut_start || cut_end
}

/// Of several matches, the one nearest to the byte range `near` (the gap between the two
/// ranges; ties go to the earlier match).
pub(crate) fn nearest(matches: &[(usize, usize)], near: (usize, usize)) -> Option<(usize, usize)> {
    let gap = |&(s, e): &(usize, usize)| {
        if e <= near.0 {
            near.0 - e
        } else {
            s.saturating_sub(near.1)
        }
    };
    matches.iter().copied().min_by_key(gap)
}

/// Where a quote was found, relative to the span that cited it (byte ranges of the text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Located {
    InSpan(usize, usize),
    /// Not in the span, but elsewhere in the text: the match nearest to the span.
    Elsewhere(usize, usize),
}

/// Find `quote` in the byte range `region` of `text`; failing that, anywhere in `text`
/// (the match nearest to `region`). `None` when the quote is nowhere.
pub(crate) fn locate(text: &str, region: (usize, usize), quote: &str) -> Option<Located> {
    if let Some((s, e)) = find(&text[region.0..region.1], quote) {
        return Some(Located::InSpan(region.0 + s, region.0 + e));
    }
    if region == (0, text.len()) {
        return None;
    }
    nearest(&find_all(text, quote), region).map(|(s, e)| Located::Elsewhere(s, e))
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
    fn markdown_emphasis_and_bracketed_omissions_are_forgiven() {
        let text = "Revenue was **$412.5 million**, up `9%` on the year before.";
        assert!(find(text, "Revenue was $412.5 million, up 9%").is_some());
        let plain = "Revenue was $412.5 million, up 9% on the year before.";
        assert!(find(plain, "**Revenue was $412.5 million**").is_some());
        assert_eq!(
            find(plain, "Revenue was [...] up 9% [\u{2026}] year before"),
            Some((0, plain.len() - 1))
        );
        // Emphasis does not make other words match.
        assert_eq!(find(plain, "**Revenue was $412.6 million**"), None);
    }

    #[test]
    fn compatibility_forms_and_pdf_hyphenation_match() {
        // A ligature, full-width digits, a non-breaking space.
        let text = "The \u{FB01}scal year: \u{FF12}\u{FF10}\u{FF12}\u{FF14}\u{00A0}results";
        assert!(find(text, "the fiscal year: 2024 results").is_some());
        // Composed and decomposed accents are one letter.
        assert!(find("caf\u{00E9} cr\u{00E8}me", "cafe\u{0301} cre\u{0300}me").is_some());
        // A word broken across a PDF line end.
        let pdf = "total reve-\nnue reached $388.1 million";
        let (s, e) = find(pdf, "total revenue reached $388.1 million").unwrap();
        assert_eq!(&pdf[s..e], pdf);
        // A genuine hyphen still matches as written.
        assert!(find("a self-\ncontained unit", "self-contained unit").is_some());
    }

    #[test]
    fn every_match_is_found_and_the_nearest_chosen() {
        let text = "total: 5\nother\ntotal: 5\nmore\ntotal: 5\n";
        let all = find_all(text, "TOTAL: 5");
        assert_eq!(all.len(), 3);
        assert_eq!(nearest(&all, (20, 22)), Some(all[1]));
        assert_eq!(nearest(&all, (100, 120)), Some(all[2]));
        assert_eq!(nearest(&all, (0, 3)), Some(all[0]));
    }

    #[test]
    fn a_quote_never_cuts_a_number() {
        let text = "Acme revenue was $412.5 million; Globex had 41 plants.";
        assert_eq!(find(text, "revenue was $41"), None);
        assert_eq!(find(text, "revenue was $412"), None);
        assert!(find(text, "revenue was $412.5 million").is_some());
        assert_eq!(find(text, "2.5 million"), None);
        // The whole number elsewhere still matches.
        assert!(find(text, "had 41 plants").is_some());
        assert_eq!(find_all("41 and 412 and 41", "41").len(), 2);
    }

    #[test]
    fn meaningful_quotes_have_words_or_length() {
        assert!(!meaningful("2024"));
        assert!(!meaningful("OK"));
        assert!(!meaningful("$1"));
        assert!(meaningful("$412.5 million"));
        assert!(meaningful("Ran 4 tests"));
        assert!(meaningful("if end == -1:"));
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
}
