//! Evidence that cites a document: `source` = the document id (or `id:12-15`,
//! `id@1200+80`, `./id`, an absolute path of the file), `lines` = a line range or a
//! character span, `quote` = text copied from it.
//!
//! The span is a hint. A quote found in it resolves as cited; a quote found elsewhere in
//! the document resolves at the nearest place, with a note saying where; a span that cannot
//! be used (past the end, unreadable) is reported in the note, not held against a quote that
//! is really there.

use super::super::commands;
use super::super::quote::{self, Located};
use super::super::span::{self, Span};
use super::{DocsWorkspace, Document};
use crate::engine::point_args::clip_echo;
use crate::engine::tools::ResolvedEvidence;
use crate::event::Evidence;

/// How a document is cited, worded once for the prompt, the schema and the messages.
pub(super) const DOC_CITATION: &str = "Cite a document with source = its id, quote = text \
copied exactly from it, and lines = where the quote is: \"12-15\" or \"12\" (line numbers, as \
read_doc and search_docs show them) or \"1200+80\" (a character span, offset+length, as in \
search_docs' offset=1200 len=80); \"report.md:12-15\" or \"report.md@1200+80\" as the source \
works too.";

/// Characters of document shown around a resolved quote.
const AROUND: usize = 300;

impl DocsWorkspace {
    pub(super) fn resolve_doc(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        let source = evidence.source.trim();
        if commands::is_command_source(source) {
            return Err(commands::no_runs_recorded());
        }
        let (doc, span_text) = span::lookup_cited(evidence, |s| self.evidence_doc(s))?;
        quote::check_quote(&evidence.quote)?;
        let cited = span_text.map(|s| doc.region(s));
        let (region, cited_span, problem) = match cited {
            None => ((0, doc.text.len()), None, None),
            Some(Ok((region, span))) => (region, Some(span), None),
            Some(Err(problem)) => ((0, doc.text.len()), None, Some(problem)),
        };
        let where_cited = match cited_span {
            Some(Span::Lines(a, b)) => format!("{} {}", doc.id, span::lines_phrase(a, b)),
            Some(Span::Chars { offset, len }) => format!("{}@{offset}+{len}", doc.id),
            None => doc.id.clone(),
        };
        let (s, e, note) = match quote::locate(&doc.text, region, &evidence.quote) {
            Some(Located::InSpan(s, e)) => {
                let note =
                    problem.map(|p| format!("{p}; the quote was found at {}", doc.place(s, e)));
                (s, e, note)
            }
            Some(Located::Elsewhere(s, e)) => {
                let cited = match cited_span {
                    Some(Span::Lines(a, b)) => span::lines_phrase(a, b),
                    Some(Span::Chars { offset, len }) => format!("{offset}+{len}"),
                    None => "where cited".to_string(),
                };
                let note = format!("quote found at {}, not at {cited}", doc.place(s, e));
                (s, e, Some(note))
            }
            None => {
                let text = &doc.text[region.0..region.1];
                let hint = match quote::closest_line(text, &evidence.quote) {
                    Some((line, passage)) => {
                        let at = region.0 + line_start(text, line);
                        format!(
                            "the closest passage there ({}) is: \"{}\"",
                            doc.place(at, at + passage.len()),
                            crate::text::clip(passage.trim(), 200)
                        )
                    }
                    None => "no passage there shares words with the quote; read the document \
                             again and copy the text exactly"
                        .to_string(),
                };
                let problem = problem.map_or(String::new(), |p| format!("{p}; "));
                return Err(format!("{problem}quote not found in {where_cited}; {hint}"));
            }
        };
        let start = doc.ch(s);
        let mut resolved = evidence.clone();
        resolved.resolved = Some(format!("{}@{start}+{}", doc.id, doc.ch(e) - start));
        Ok(ResolvedEvidence {
            evidence: resolved,
            context: context_around(doc, s, e),
            note,
        })
    }

    /// The document a citation names: an id (forgivingly, see `find_doc`) or the absolute
    /// path of a document's file.
    fn evidence_doc(&self, source: &str) -> Result<&Document, String> {
        let path = std::path::Path::new(source);
        if path.is_absolute()
            && let Ok(abs) = std::fs::canonicalize(path)
            && let Some(doc) = self.docs.iter().find(|d| d.path == abs)
        {
            return Ok(doc);
        }
        self.find_doc(source)
    }
}

impl Document {
    /// The byte range a span names, and the span; `Err` says why the span cannot be used.
    fn region(&self, span_text: &str) -> Result<((usize, usize), Span), String> {
        let parsed = Span::parse(span_text)?;
        match parsed {
            Span::Lines(a, b) => {
                let total = self.line_starts.len();
                if b > total {
                    return Err(format!(
                        "lines {} do not exist in `{}`: it has {total} lines",
                        clip_echo(span_text),
                        self.id
                    ));
                }
                Ok((
                    span::line_range(&self.line_starts, self.text.len(), a, b),
                    parsed,
                ))
            }
            Span::Chars { offset, len } => {
                if offset >= self.chars() {
                    return Err(format!(
                        "offset {offset} is past the end of `{}` (it has {} characters)",
                        self.id,
                        self.chars()
                    ));
                }
                Ok(((self.byte(offset), self.byte(offset + len)), parsed))
            }
        }
    }

    /// Where bytes `s..e` are, in both vocabularies: "lines 40-41 (offset 1200, len 80)".
    pub(super) fn place(&self, s: usize, e: usize) -> String {
        let (a, b) = span::lines_of(&self.line_starts, (s, e));
        let start = self.ch(s);
        format!(
            "{} (offset {start}, len {})",
            span::lines_phrase(a, b),
            self.ch(e) - start
        )
    }
}

/// Byte offset of line `line` (0-based) within `text`.
fn line_start(text: &str, line: usize) -> usize {
    if line == 0 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line - 1)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// The quoted span with some text around it, snapped to line starts and ends. A table's
/// context starts with its header line, so the judge knows what the columns are.
fn context_around(doc: &Document, start: usize, end: usize) -> String {
    let text = &doc.text;
    let mut from = start.saturating_sub(AROUND);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    if from > 0 && !text[..from].ends_with('\n') {
        from = text[from..start].find('\n').map_or(from, |i| from + i + 1);
    }
    let mut to = (end + AROUND).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let to = text[end..to].rfind('\n').map_or(to, |i| end + i);
    let header = match doc.format.delimiter() {
        Some(_) if from > 0 => {
            let first = text.lines().next().unwrap_or("");
            format!("{first}\n…\n")
        }
        _ => String::new(),
    };
    format!("[{}@{}]\n{header}{}", doc.id, doc.ch(from), &text[from..to])
}
