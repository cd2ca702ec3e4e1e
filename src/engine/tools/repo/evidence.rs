//! Evidence that cites a repository file: `source` = its path (also `./path`, an absolute
//! path inside the root, `path:141-150`, `path#L141`), `lines` = the lines that hold the
//! quote, `quote` = text copied from them.
//!
//! The lines are a hint. A quote found in them resolves as cited; a quote found elsewhere
//! in the file resolves at the nearest place, with a note saying where; lines that do not
//! exist or cannot be read are reported in the note, not held against a quote that is
//! really there.

use super::super::commands;
use super::super::patch;
use super::super::quote::{self, Located};
use super::super::span::{self, Span};
use super::{FileEntry, RepoIndex, number_line};
use crate::engine::point_args::clip_echo;
use crate::engine::tools::ResolvedEvidence;
use crate::event::Evidence;
use std::path::Path;

/// Lines of context shown around resolved evidence.
const CONTEXT_LINES: usize = 2;
/// How a file is cited, worded once for the prompt, the schema and the messages.
pub(super) const FILE_CITATION: &str = "Cite a file with source = its path relative to the repository \
root, lines = \"141-150\" or \"141\" (the line numbers read_file and grep show; \
\"src/lexer.py:141-150\" as the source works too) and quote = the text copied exactly from \
those lines, without the line-number prefix.";

impl RepoIndex {
    pub(super) fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        let source = evidence.source.trim();
        if commands::is_command_source(source) {
            return Err(commands::no_runs_recorded());
        }
        if patch::is_patch_source(source) {
            return Err("patches exist only when edits are allowed (--allow-edit)".into());
        }
        // `path:141-150` (or `path#L141`) in the source, when the whole string is not a file.
        let (file, span_text) = span::lookup_cited(evidence, |s| self.evidence_file(s))?;
        quote::check_quote(&evidence.quote)?;
        let text = self.load(file)?;
        let starts = span::line_starts(&text);
        let total = starts.len();
        // A span that cannot be used is not fatal: the whole file is searched, and what was
        // wrong with the span goes into the note (or the error, if the quote is nowhere).
        let (cited, problem) = match span_text.map(Span::parse) {
            None => (None, None),
            Some(Ok(Span::Lines(a, b))) if b <= total => (Some((a, b)), None),
            Some(Ok(Span::Lines(..))) => (
                None,
                Some(format!(
                    "lines {} do not exist in {}: it has {total} lines",
                    clip_echo(span_text.unwrap_or_default()),
                    file.rel
                )),
            ),
            Some(_) => (
                None,
                Some(format!(
                    "`{}` is not a line range; files are cited by lines: write {}",
                    clip_echo(span_text.unwrap_or_default()),
                    span::LINES_FORM
                )),
            ),
        };
        let region = cited.map_or((0, text.len()), |(a, b)| {
            span::line_range(&starts, text.len(), a, b)
        });
        let located = quote::locate(&text, region, &evidence.quote).or_else(|| {
            let stripped = quote::strip_line_numbers(&evidence.quote)?;
            quote::locate(&text, region, &stripped)
        });
        let where_cited = match cited {
            Some((a, b)) => format!("{}:{}", file.rel, span::lines_label(a, b)),
            None => file.rel.clone(),
        };
        let (found, note) = match located {
            Some(Located::InSpan(s, e)) => {
                let (a, b) = span::lines_of(&starts, (s, e));
                let note = problem
                    .map(|p| format!("{p}; the quote was found at {}", span::lines_phrase(a, b)));
                ((a, b), note)
            }
            Some(Located::Elsewhere(s, e)) => {
                let (a, b) = span::lines_of(&starts, (s, e));
                let (ca, cb) = cited.unwrap_or((1, total));
                let note = format!(
                    "quote found at {}, not at {}",
                    span::lines_phrase(a, b),
                    span::lines_phrase(ca, cb)
                );
                ((a, b), Some(note))
            }
            None => {
                let span = &text[region.0..region.1];
                let first = span::line_of(&starts, region.0);
                let hint = match quote::closest_line(span, &evidence.quote) {
                    Some((i, line)) => format!(
                        "the closest line there is {}: `{}`",
                        first + i,
                        crate::text::clip(line.trim(), 200)
                    ),
                    None => "no line there shares words with the quote; read the file again \
                             and copy the text exactly"
                        .to_string(),
                };
                let problem = problem.map_or(String::new(), |p| format!("{p}; "));
                return Err(format!("{problem}quote not found in {where_cited}; {hint}"));
            }
        };
        let (a, b) = found;
        let mut resolved = evidence.clone();
        resolved.resolved = Some(format!("{}:{}", file.rel, span::lines_label(a, b)));
        let lines: Vec<&str> = text.lines().collect();
        let from = a.saturating_sub(CONTEXT_LINES).max(1);
        let to = (b + CONTEXT_LINES).min(lines.len());
        let context: String = (from..=to)
            .map(|n| number_line(n, lines[n - 1], total))
            .collect();
        Ok(ResolvedEvidence {
            evidence: resolved,
            context: format!("{} (lines {from}-{to})\n{context}", file.rel),
            note,
        })
    }

    /// A cited file: its path as given, `./path`, or an absolute path inside the root.
    fn evidence_file(&self, source: &str) -> Result<&FileEntry, String> {
        let path = Path::new(source);
        if path.is_absolute() {
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            if let Some(rel) = self.root.relative(&abs) {
                return self.file(&rel);
            }
        }
        self.file(source)
    }
}
