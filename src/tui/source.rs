//! Numbered source lines for file evidence in repo mode, read once and cached.
//!
//! Reading happens outside drawing (the runner asks for the current detail subject after
//! each change), so `draw` stays a pure function of the state.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Lines of context shown around the cited span.
const CONTEXT_LINES: usize = 2;
/// Longest span shown; longer citations are cut with a note.
const MAX_SPAN_LINES: usize = 80;

#[derive(Debug, Clone, PartialEq)]
pub enum Snippet {
    /// `(line number, text, inside the cited span)`.
    Lines(Vec<(usize, String, bool)>),
    /// Why there is nothing to show (missing file, bad span, outside the repo).
    Unavailable(String),
}

#[derive(Debug, Clone, Default)]
pub struct SourceCache {
    entries: HashMap<(String, String), Snippet>,
}

impl SourceCache {
    pub fn get(&self, source: &str, lines: &str) -> Option<&Snippet> {
        self.entries.get(&(source.to_string(), lines.to_string()))
    }

    /// Read the span unless it is cached already.
    pub fn load(&mut self, root: &Path, source: &str, lines: &str) {
        self.entries
            .entry((source.to_string(), lines.to_string()))
            .or_insert_with(|| read_snippet(root, source, lines));
    }
}

/// Parse `141-150`, `141`, `L141-L150` or `141:150` into an inclusive 1-based range.
pub fn parse_span(lines: &str) -> Option<(usize, usize)> {
    let clean = lines.trim().replace(['L', 'l'], "");
    let mut parts = clean.split(['-', ':', ',']).map(str::trim);
    let start: usize = parts.next()?.parse().ok()?;
    let end: usize = match parts.next() {
        Some(e) if !e.is_empty() => e.parse().ok()?,
        _ => start,
    };
    (start >= 1 && end >= start).then_some((start, end))
}

fn read_snippet(root: &Path, source: &str, lines: &str) -> Snippet {
    let Some((start, end)) = parse_span(lines) else {
        return Snippet::Unavailable(format!("cannot read the line span `{lines}`"));
    };
    let path = match confined(root, source) {
        Ok(p) => p,
        Err(why) => return Snippet::Unavailable(why),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return Snippet::Unavailable(format!("cannot read {source}: {e}")),
    };
    let total = text.lines().count();
    if start > total {
        return Snippet::Unavailable(format!(
            "{source} has {total} lines now; the cited span starts at {start}"
        ));
    }
    let shown_end = end.min(start + MAX_SPAN_LINES - 1);
    let first = start.saturating_sub(CONTEXT_LINES).max(1);
    let last = (shown_end + CONTEXT_LINES).min(total);
    Snippet::Lines(
        text.lines()
            .enumerate()
            .skip(first - 1)
            .take(last + 1 - first)
            .map(|(i, l)| {
                (
                    i + 1,
                    l.replace('\t', "    "),
                    (start..=end).contains(&(i + 1)),
                )
            })
            .collect(),
    )
}

/// The evidence path inside the repo root; never a file outside it.
fn confined(root: &Path, source: &str) -> Result<PathBuf, String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot open the repo root {}: {e}", root.display()))?;
    let path = root
        .join(source)
        .canonicalize()
        .map_err(|_| format!("{source} does not exist in the repo (any more)"))?;
    if path.starts_with(&root) {
        Ok(path)
    } else {
        Err(format!("{source} is outside the repo"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_in_common_spellings() {
        assert_eq!(parse_span("141-150"), Some((141, 150)));
        assert_eq!(parse_span("7"), Some((7, 7)));
        assert_eq!(parse_span("L3-L4"), Some((3, 4)));
        assert_eq!(parse_span("9-2"), None);
    }

    #[test]
    fn snippet_has_context_and_marks_the_span() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("a.txt"), body).unwrap();
        let Snippet::Lines(lines) = read_snippet(dir.path(), "a.txt", "5-6") else {
            panic!("expected lines");
        };
        let numbers: Vec<_> = lines.iter().map(|l| (l.0, l.2)).collect();
        assert_eq!(
            numbers,
            vec![
                (3, false),
                (4, false),
                (5, true),
                (6, true),
                (7, false),
                (8, false)
            ]
        );
        assert!(matches!(
            read_snippet(dir.path(), "../etc/passwd", "1"),
            Snippet::Unavailable(_)
        ));
    }
}
