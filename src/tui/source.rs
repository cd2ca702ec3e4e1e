//! Evidence in its place: numbered source lines around a citation (a repository file, or a
//! document as delm read it), read once and cached, and where the cited text is on disk for
//! opening it in an editor.
//!
//! Reading happens outside drawing (the runner asks for the current detail subject after
//! each change), so `draw` stays a pure function of the state.

use super::editor::Location;
use crate::engine::tools::docs::DocsWorkspace;
use crate::event::{Evidence, Mode};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Lines of context shown around the cited span.
const CONTEXT_LINES: usize = 2;
/// Longest span shown; longer citations are cut with a note.
const MAX_SPAN_LINES: usize = 80;
/// Documents kept in memory for showing evidence.
const MAX_DOCS_CACHED: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Snippet {
    /// `(line number, text, inside the cited span)`.
    Lines(Vec<(usize, String, bool)>),
    /// Why there is nothing to show (missing file, bad span, outside the repo).
    Unavailable(String),
}

/// A document's text as delm ingested it (the text offsets refer to) and its file.
#[derive(Debug, Clone)]
struct DocText {
    file: PathBuf,
    text: String,
}

#[derive(Debug, Clone, Default)]
pub struct SourceCache {
    entries: HashMap<(String, String), Snippet>,
    docs: HashMap<String, Result<DocText, String>>,
}

/// Whether evidence cites a place in a file or document (not a command, patch or point).
pub fn cites_a_place(ev: &Evidence) -> bool {
    let s = ev.source.trim();
    !(s.starts_with("cmd:") || s.starts_with("patch:") || is_point_id(s))
}

fn is_point_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('P' | 'C'))
        && chars.as_str().chars().all(|c| c.is_ascii_digit())
        && s.len() > 1
}

/// The cache key of an evidence item.
fn key(ev: &Evidence) -> (String, String) {
    (
        ev.source.clone(),
        ev.resolved
            .clone()
            .or_else(|| ev.lines.clone())
            .unwrap_or_default()
            + "|"
            + &ev.quote,
    )
}

impl SourceCache {
    pub fn get(&self, ev: &Evidence) -> Option<&Snippet> {
        self.entries.get(&key(ev))
    }

    /// Read the evidence's surroundings unless they are cached already.
    pub fn load(&mut self, mode: &Mode, ev: &Evidence) {
        if !cites_a_place(ev) || self.entries.contains_key(&key(ev)) {
            return;
        }
        let snippet = match mode {
            Mode::Repo { root } => match ev.lines.as_deref().and_then(parse_span) {
                Some(span) => read_snippet(Path::new(root), &ev.source, span),
                None => match ev.resolved.as_deref().and_then(|r| r.rsplit_once(':')) {
                    Some((_, lines)) => match parse_span(lines) {
                        Some(span) => read_snippet(Path::new(root), &ev.source, span),
                        None => return,
                    },
                    None => return,
                },
            },
            Mode::Docs { roots } => self.doc_snippet(roots, ev),
            Mode::Plain => return,
        };
        self.entries.insert(key(ev), snippet);
    }

    fn doc(&mut self, roots: &[String], id: &str) -> Result<&DocText, String> {
        if !self.docs.contains_key(id) {
            if self.docs.len() >= MAX_DOCS_CACHED {
                self.docs.clear();
            }
            let loaded = load_doc(roots, id);
            self.docs.insert(id.to_string(), loaded);
        }
        match self.docs.get(id) {
            Some(Ok(doc)) => Ok(doc),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("{id} could not be read")),
        }
    }

    fn doc_snippet(&mut self, roots: &[String], ev: &Evidence) -> Snippet {
        let id = ev.source.trim().trim_start_matches("./").to_string();
        let doc = match self.doc(roots, &id) {
            Ok(d) => d,
            Err(why) => return Snippet::Unavailable(why),
        };
        let span = ev
            .resolved
            .as_deref()
            .and_then(char_span)
            .map(|(off, len)| char_span_lines(&doc.text, off, len))
            .or_else(|| locate(&doc.text, &ev.quote));
        match span {
            Some(span) => numbered(&doc.text, span),
            None => Snippet::Unavailable(format!("the quote is no longer found in {id}")),
        }
    }

    /// Where to open an evidence item in an editor, or why it cannot be opened.
    pub fn location(&mut self, mode: &Mode, ev: &Evidence) -> Result<Location, String> {
        if !cites_a_place(ev) {
            return Err(format!(
                "{} is not a file: only file and document evidence opens in an editor",
                ev.source
            ));
        }
        match mode {
            Mode::Repo { root } => {
                let path = confined(Path::new(root), &ev.source)?;
                let line = ev
                    .lines
                    .as_deref()
                    .and_then(parse_span)
                    .or_else(|| {
                        ev.resolved
                            .as_deref()
                            .and_then(|r| r.rsplit_once(':'))
                            .and_then(|(_, l)| parse_span(l))
                    })
                    .map(|(a, _)| a);
                Ok(Location { path, line })
            }
            Mode::Docs { roots } => {
                let id = ev.source.trim().trim_start_matches("./").to_string();
                let file = self.doc(roots, &id)?.file.clone();
                let ext = file
                    .extension()
                    .map(|e| e.to_string_lossy().to_lowercase())
                    .unwrap_or_default();
                if ext == "pdf" {
                    return Err(format!(
                        "{id} is a PDF: open it in a PDF viewer (the detail shows its text as \
                         delm read it)"
                    ));
                }
                // The line in the file itself: search the raw text for the quote.
                let raw = std::fs::read_to_string(&file).unwrap_or_default();
                let line = locate(&raw, &ev.quote).map(|(a, _)| a);
                Ok(Location { path: file, line })
            }
            Mode::Plain => Err("this run has no files to open".into()),
        }
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

/// `doc@1200+80` → `(1200, 80)` (character offset and length).
fn char_span(resolved: &str) -> Option<(usize, usize)> {
    let (_, span) = resolved.rsplit_once('@')?;
    let (off, len) = span.split_once('+')?;
    Some((off.trim().parse().ok()?, len.trim().parse().ok()?))
}

/// The 1-based lines a character span covers.
fn char_span_lines(text: &str, offset: usize, len: usize) -> (usize, usize) {
    let mut line = 1;
    let mut start_line = 1;
    for (i, ch) in text.chars().enumerate() {
        if i == offset {
            start_line = line;
        }
        if i + 1 >= offset + len.max(1) {
            return (start_line, line.max(start_line));
        }
        if ch == '\n' {
            line += 1;
        }
    }
    (start_line, line.max(start_line))
}

/// The lines holding `quote` in `text`, matched as the verifier does in spirit: case and
/// runs of whitespace do not matter. `None` when it is not there.
fn locate(text: &str, quote: &str) -> Option<(usize, usize)> {
    let words: Vec<String> = quote
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| "\"'“”‘’.,;:…".contains(c))
                .to_lowercase()
        })
        .filter(|w| !w.is_empty() && w != "...")
        .collect();
    if words.is_empty() {
        return None;
    }
    let lower: Vec<String> = text.lines().map(str::to_lowercase).collect();
    let head = words.iter().take(3).cloned().collect::<Vec<_>>().join(" ");
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let start = (0..lower.len()).find(|&i| {
        // The head may run over a line break.
        let joined = squeeze(&format!(
            "{} {}",
            lower[i],
            lower.get(i + 1).map_or("", |s| s)
        ));
        joined.contains(&head) && squeeze(&lower[i]).contains(words[0].as_str())
    })?;
    let tail = words.last()?;
    let end = (start..lower.len().min(start + MAX_SPAN_LINES))
        .find(|&i| lower[i].contains(tail.as_str()))
        .unwrap_or(start);
    Some((start + 1, end + 1))
}

/// The span's lines with a few around them.
fn numbered(text: &str, (start, end): (usize, usize)) -> Snippet {
    let total = text.lines().count();
    if start > total {
        return Snippet::Unavailable(format!(
            "the text has {total} lines now; the cited span starts at {start}"
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

fn read_snippet(root: &Path, source: &str, span: (usize, usize)) -> Snippet {
    let path = match confined(root, source) {
        Ok(p) => p,
        Err(why) => return Snippet::Unavailable(why),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => numbered(&text, span),
        Err(e) => Snippet::Unavailable(format!("cannot read {source}: {e}")),
    }
}

/// The evidence path inside the repo root; never a file outside it.
fn confined(root: &Path, source: &str) -> Result<PathBuf, String> {
    let root = root
        .canonicalize()
        .map_err(|e| format!("cannot open the repo root {}: {e}", root.display()))?;
    let path = root
        .join(source.trim().trim_start_matches("./"))
        .canonicalize()
        .map_err(|_| format!("{source} does not exist in the repo (any more)"))?;
    if path.starts_with(&root) {
        Ok(path)
    } else {
        Err(format!("{source} is outside the repo"))
    }
}

/// The file a document id names under the run's roots (ids are paths relative to their
/// root, prefixed by the root's name when there are several).
fn doc_file(roots: &[String], id: &str) -> Option<PathBuf> {
    for root in roots {
        let root = Path::new(root);
        if root.is_file() {
            if root.file_name().is_some_and(|n| n.to_string_lossy() == id) {
                return Some(root.to_path_buf());
            }
            continue;
        }
        let candidates = [
            Some(root.join(id)),
            root.file_name()
                .and_then(|name| id.strip_prefix(&format!("{}/", name.to_string_lossy())))
                .map(|rest| root.join(rest)),
        ];
        if let Some(found) = candidates.into_iter().flatten().find(|p| p.is_file()) {
            return Some(found);
        }
    }
    None
}

fn load_doc(roots: &[String], id: &str) -> Result<DocText, String> {
    let file = doc_file(roots, id)
        .ok_or_else(|| format!("{id} is not under the run's documents (any more)"))?;
    let ws = DocsWorkspace::open(&[file.display().to_string()])?;
    let text = ws
        .doc_ids()
        .first()
        .and_then(|d| ws.text(d))
        .ok_or_else(|| format!("{id} has no text"))?
        .to_string();
    Ok(DocText { file, text })
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
        assert_eq!(char_span("acme/q3.txt@1200+80"), Some((1200, 80)));
    }

    #[test]
    fn snippet_has_context_and_marks_the_span() {
        let dir = tempfile::tempdir().unwrap();
        let body: String = (1..=10).map(|i| format!("line {i}\n")).collect();
        std::fs::write(dir.path().join("a.txt"), body).unwrap();
        let Snippet::Lines(lines) = read_snippet(dir.path(), "a.txt", (5, 6)) else {
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
            read_snippet(dir.path(), "../etc/passwd", (1, 1)),
            Snippet::Unavailable(_)
        ));
    }

    #[test]
    fn document_evidence_shows_its_lines_and_opens_at_them() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# Acme\n\nIntro line.\n\nRevenue was $412.5 million\nin 2024, up 4%.\nOutro.\n";
        std::fs::write(dir.path().join("acme.md"), text).unwrap();
        let mode = Mode::Docs {
            roots: vec![dir.path().display().to_string()],
        };
        let ev = Evidence {
            source: "acme.md".into(),
            lines: None,
            quote: "Revenue was $412.5 million in 2024".into(),
            resolved: None,
        };
        let mut cache = SourceCache::default();
        cache.load(&mode, &ev);
        let Some(Snippet::Lines(lines)) = cache.get(&ev) else {
            panic!("expected lines, got {:?}", cache.get(&ev));
        };
        let cited: Vec<usize> = lines.iter().filter(|l| l.2).map(|l| l.0).collect();
        assert_eq!(cited, vec![5, 6]);
        let at = cache.location(&mode, &ev).unwrap();
        assert_eq!(at.line, Some(5));
        assert!(at.path.ends_with("acme.md"));
        // An offset span resolves to the same lines.
        let offset = text.find("Revenue").unwrap();
        assert_eq!(char_span_lines(text, offset, 30), (5, 6));
    }
}
