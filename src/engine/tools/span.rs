//! The span vocabulary of evidence: how a citation says *where* its quote is.
//!
//! One vocabulary for every workspace, so the system prompt, the tool schemas, the tool
//! outputs and the verifier's messages can word it the same way:
//! - line ranges `"12-15"`, `"12"` (also `L12-L15`, `lines 12-15`, `12–15`, `12..15`), for
//!   files and documents alike, 1-based and inclusive;
//! - character spans `"1200+80"` (offset + length, also `@1200+80` and the `offset=1200
//!   len=80` form `search_docs` prints), for documents;
//! - a location inside the source itself: `src/a.rs:141-150`, `src/a.rs#L141`,
//!   `report.md@1200+80`.
//!
//! A span is a hint: when the quote is not inside it, the verifier searches the whole
//! source (see the workspaces' `resolve`).

use crate::engine::point_args::clip_echo;
use std::sync::LazyLock;

/// Where a citation says its quote is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// 1-based, inclusive.
    Lines(usize, usize),
    /// Character offset and length.
    Chars { offset: usize, len: usize },
}

/// How the vocabulary is written, for messages.
pub(crate) const LINES_FORM: &str = "\"141-150\" or \"141\" (line numbers)";
pub(crate) const CHARS_FORM: &str = "\"1200+80\" (character offset+length)";

static OFFSET_LEN: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)^(?:chars?\s+)?offset\s*[=:]?\s*(\d+)\s*[,;]?\s*(?:len(?:gth)?)\s*[=:]?\s*(\d+)$",
    )
    .expect("a valid pattern")
});

impl Span {
    /// Parse a span in any of the written forms. The error says which forms exist.
    pub fn parse(text: &str) -> Result<Span, String> {
        let bad = || {
            format!(
                "`{}` is not a span; write lines as {LINES_FORM} or a document span as \
                 {CHARS_FORM}",
                clip_echo(text)
            )
        };
        let t = text
            .trim()
            .replace(['\u{2013}', '\u{2014}', '\u{2212}'], "-")
            .replace("..", "-");
        let t = t.trim_start_matches('@').trim_start_matches('#').trim();
        if let Some(c) = OFFSET_LEN.captures(t) {
            let offset = c[1].parse().map_err(|_| bad())?;
            let len: usize = c[2].parse().map_err(|_| bad())?;
            return Ok(Span::Chars {
                offset,
                len: len.max(1),
            });
        }
        if let Some((a, b)) = t.split_once('+') {
            let num = |x: &str| x.trim().parse::<usize>().map_err(|_| bad());
            return Ok(Span::Chars {
                offset: num(a)?,
                len: num(b)?.max(1),
            });
        }
        let lower = t.to_ascii_lowercase();
        let body = ["lines", "line", "ll.", "l."]
            .iter()
            .find_map(|p| lower.strip_prefix(p))
            .unwrap_or(&lower)
            .trim();
        let num = |x: &str| {
            x.trim()
                .trim_start_matches('l')
                .trim()
                .parse::<usize>()
                .map_err(|_| bad())
        };
        let (a, b) = match body.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let a = num(body)?;
                (a, a)
            }
        };
        if a == 0 {
            return Err(format!("`{}`: line numbers start at 1", clip_echo(text)));
        }
        if b < a {
            return Err(format!(
                "`{}`: the range ends before it starts",
                clip_echo(text)
            ));
        }
        Ok(Span::Lines(a, b))
    }
}

/// `a-b`, or `a` when the range is one line.
pub(crate) fn lines_label(a: usize, b: usize) -> String {
    if a == b {
        a.to_string()
    } else {
        format!("{a}-{b}")
    }
}

/// A source with its location inside it: `src/a.rs:141-150`, `src/a.rs#L141`,
/// `report.md@1200+80`. Returns (source, span text) when the source ends in a location,
/// else `None`. Command (`cmd:c3`) and patch (`patch:a1`) sources are never split.
pub(crate) fn split_source(source: &str) -> Option<(&str, &str)> {
    let source = source.trim();
    if source.starts_with("cmd:") || source.starts_with("patch:") {
        return None;
    }
    for sep in ['@', '#', ':'] {
        if let Some((head, tail)) = source.rsplit_once(sep)
            && !head.trim().is_empty()
            && Span::parse(tail).is_ok()
            && tail
                .trim()
                .starts_with(|c: char| c.is_ascii_digit() || c == 'L' || c == 'l')
        {
            return Some((head.trim(), tail.trim()));
        }
    }
    None
}

/// Look up the source an evidence item cites: as given, or, when that fails and it ends in
/// a location (`src/a.rs:141`, `q3.txt@1200+80`), without it. Returns what `lookup` found
/// and the span text: the item's `lines` when given, else the location from the source. The
/// error is the lookup's error for the source as given.
pub(crate) fn lookup_cited<T>(
    evidence: &crate::event::Evidence,
    lookup: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, Option<&str>), String> {
    let source = evidence.source.trim();
    let (found, location) = match lookup(source) {
        Ok(found) => (found, None),
        Err(e) => match split_source(source) {
            Some((head, location)) => (lookup(head).map_err(|_| e)?, Some(location)),
            None => return Err(e),
        },
    };
    let lines = evidence
        .lines
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    Ok((found, lines.or(location)))
}

/// Byte offset of the start of each line (as `str::lines` splits them).
pub(crate) fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        text.match_indices('\n')
            .map(|(i, _)| i + 1)
            .filter(|&i| i < text.len()),
    );
    starts
}

/// 1-based line of a byte offset.
pub(crate) fn line_of(starts: &[usize], byte: usize) -> usize {
    starts.partition_point(|&s| s <= byte)
}

/// The byte range of lines `a..=b` (1-based; `b` is clamped to the last line).
pub(crate) fn line_range(starts: &[usize], text_len: usize, a: usize, b: usize) -> (usize, usize) {
    let from = starts.get(a.saturating_sub(1)).copied().unwrap_or(text_len);
    let to = starts.get(b).copied().unwrap_or(text_len);
    (from, to)
}

/// The lines (1-based, inclusive) that hold the bytes `start..end`.
pub(crate) fn lines_of(starts: &[usize], (start, end): (usize, usize)) -> (usize, usize) {
    (
        line_of(starts, start),
        line_of(starts, end.max(start + 1) - 1),
    )
}

/// "line 33" or "lines 40-41".
pub(crate) fn lines_phrase(a: usize, b: usize) -> String {
    if a == b {
        format!("line {a}")
    } else {
        format!("lines {a}-{b}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_ranges_in_every_written_form() {
        for (text, a, b) in [
            ("141-150", 141, 150),
            (" 7 ", 7, 7),
            ("L10-L12", 10, 12),
            ("3\u{2013}4", 3, 4),
            ("lines 12-15", 12, 15),
            ("line 9", 9, 9),
            ("1-1", 1, 1),
            ("12..15", 12, 15),
            ("#L4", 4, 4),
        ] {
            assert_eq!(Span::parse(text).unwrap(), Span::Lines(a, b), "{text}");
        }
        assert!(Span::parse("0-3").unwrap_err().contains("start at 1"));
        assert!(Span::parse("9-3").unwrap_err().contains("ends before"));
        let err = Span::parse("twelve").unwrap_err();
        assert!(
            err.contains("\"141-150\"") && err.contains("\"1200+80\""),
            "{err}"
        );
    }

    #[test]
    fn character_spans_in_every_written_form() {
        let chars = |offset, len| Span::Chars { offset, len };
        assert_eq!(Span::parse("1200+80").unwrap(), chars(1200, 80));
        assert_eq!(Span::parse("@1200+80").unwrap(), chars(1200, 80));
        assert_eq!(Span::parse("offset=1200 len=80").unwrap(), chars(1200, 80));
        assert_eq!(
            Span::parse("offset 1200, length 80").unwrap(),
            chars(1200, 80)
        );
        assert_eq!(Span::parse("5+0").unwrap(), chars(5, 1));
        assert_eq!(lines_label(4, 4), "4");
        assert_eq!(lines_label(4, 6), "4-6");
    }

    #[test]
    fn sources_with_a_location_are_split() {
        assert_eq!(
            split_source("src/a.rs:141-150"),
            Some(("src/a.rs", "141-150"))
        );
        assert_eq!(split_source("src/a.rs:141"), Some(("src/a.rs", "141")));
        assert_eq!(split_source("src/a.rs#L3-L4"), Some(("src/a.rs", "L3-L4")));
        assert_eq!(split_source("q3.txt@1200+80"), Some(("q3.txt", "1200+80")));
        assert_eq!(split_source("src/a.rs"), None);
        assert_eq!(split_source("cmd:c3"), None);
        assert_eq!(split_source("patch:a1"), None);
        assert_eq!(split_source("notes:todo"), None);
    }

    #[test]
    fn line_offsets_map_both_ways() {
        let text = "a\nbb\n\nccc";
        let starts = line_starts(text);
        assert_eq!(starts, vec![0, 2, 5, 6]);
        assert_eq!(line_of(&starts, 0), 1);
        assert_eq!(line_of(&starts, 3), 2);
        assert_eq!(line_of(&starts, 8), 4);
        assert_eq!(line_starts("a\n"), vec![0]);
        assert_eq!(line_range(&starts, text.len(), 2, 3), (2, 6));
        assert_eq!(line_range(&starts, text.len(), 4, 9), (6, 9));
        assert_eq!(lines_of(&starts, (2, 5)), (2, 2));
        assert_eq!(lines_of(&starts, (3, 7)), (2, 4));
        assert_eq!(lines_phrase(3, 3), "line 3");
    }
}
