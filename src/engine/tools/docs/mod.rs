//! Document mode: a set of documents the agents read and cite.
//!
//! Everything is ingested once at open: each file becomes text (see `ingest`), laid out in
//! paragraph-preserving chunks (row groups for tables) with a structural index (see
//! `layout`), and every chunk goes into one BM25 index. Tools then answer from memory.
//! Locations shown to and cited by the model are line numbers and character offsets into
//! the ingested text, the same text `read_doc` shows (see `span` for the vocabulary).
//! It is a little over 600 lines because the two tools' schemas and their model-facing
//! messages sit with the code that answers them; ingest, layout and BM25 live apart.

mod collect;
pub use collect::walk_dir;
mod evidence;

use super::args;
use super::bm25;
use super::charmap::CharMap;
use super::ingest::{self, Format};
use super::layout::{self, Chunk, Topic};
use super::span::{self, Span};
use super::{ResolvedEvidence, ToolContext, ToolResult, Workspace};
use crate::engine::point_args::clip_echo;
use crate::event::Evidence;
use crate::llm::ToolSpec;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;

/// Characters `read_doc` returns when no `len` is given, and at most.
const DEFAULT_READ: usize = 3_000;
const MAX_READ: usize = 12_000;
/// Opening a document without an offset shows this much of its beginning.
const OPENING: usize = 1_500;
/// Structural index lines shown when a document is opened.
const MAX_TOPICS_SHOWN: usize = 60;
const SEARCH_HITS: usize = 8;
const SNIPPET_CHARS: usize = 240;
/// Initial tasks are kept to about this many; small documents are grouped.
const MAX_INITIAL_TASKS: usize = 12;
/// Documents listed in the system prompt.
const MAX_DOCS_DESCRIBED: usize = 40;

struct Document {
    id: String,
    /// The file it was read from (canonical), so evidence may name it by absolute path.
    path: PathBuf,
    format: Format,
    text: String,
    map: CharMap,
    /// Byte offset of each line's start (line numbers in tool outputs and citations).
    line_starts: Vec<usize>,
    topics: Vec<Topic>,
    chunks: Vec<Chunk>,
    /// Byte offsets of PDF page starts.
    pages: Vec<usize>,
}

impl Document {
    fn chars(&self) -> usize {
        self.map.len()
    }
    fn ch(&self, byte: usize) -> usize {
        self.map.char_of(&self.text, byte)
    }
    fn byte(&self, ch: usize) -> usize {
        self.map.byte_of(&self.text, ch)
    }
    /// "lines 40-42 of 120" for the bytes `from..to`.
    fn lines_note(&self, from: usize, to: usize) -> String {
        let (a, b) = span::lines_of(&self.line_starts, (from, to));
        format!("{} of {}", span::lines_phrase(a, b), self.line_starts.len())
    }
    /// 1-based page of a byte offset, for PDFs.
    fn page_of(&self, byte: usize) -> Option<usize> {
        (!self.pages.is_empty()).then(|| self.pages.partition_point(|&p| p <= byte).max(1))
    }
}

/// A document set, ingested and indexed.
pub struct DocsWorkspace {
    docs: Vec<Document>,
    by_id: HashMap<String, usize>,
    /// BM25 passage number -> (document, chunk).
    passages: Vec<(usize, usize)>,
    index: bm25::Index,
    skipped: Vec<(String, String)>,
}

impl DocsWorkspace {
    /// Ingest every readable document under `roots` (files or directories). Fails when a
    /// root does not exist or when nothing readable was found.
    pub fn open(roots: &[String]) -> Result<Self, String> {
        if roots.is_empty() {
            return Err(
                "no document paths were given; pass files or directories with --docs".to_string(),
            );
        }
        let mut found = Vec::new();
        let mut skipped = Vec::new();
        let prefixes = collect::root_prefixes(roots);
        for (root, prefix) in roots.iter().zip(&prefixes) {
            collect::collect(root, prefix.as_deref(), &mut found, &mut skipped)?;
        }
        let mut ws = DocsWorkspace {
            docs: Vec::new(),
            by_id: HashMap::new(),
            passages: Vec::new(),
            index: bm25::Index::default(),
            skipped,
        };
        for candidate in found {
            // Two roots can yield the same id (the same file named twice, two files with
            // one name): keep both, distinguishable.
            let id = collect::unique_id(&ws.by_id, candidate.id);
            match ingest::ingest(&candidate.path, candidate.format) {
                Ok(ingested) => {
                    let path = std::fs::canonicalize(&candidate.path).unwrap_or(candidate.path);
                    ws.add(id, path, candidate.format, ingested.text, ingested.pages)
                }
                Err(why) => {
                    tracing::warn!(doc = %id, "skipped document: {why}");
                    ws.skipped.push((id, why));
                }
            }
        }
        for (path, why) in &ws.skipped {
            tracing::info!(path = %path, "not a document: {why}");
        }
        if ws.docs.is_empty() {
            let mut msg = format!(
                "no readable documents found in {}; delm reads {} files",
                roots.join(", "),
                ingest::SUPPORTED
            );
            if !ws.skipped.is_empty() {
                let listed: Vec<String> = ws
                    .skipped
                    .iter()
                    .take(20)
                    .map(|(path, why)| format!("{path}: {why}"))
                    .collect();
                msg.push_str(&format!(" (skipped: {})", listed.join("; ")));
            }
            return Err(msg);
        }
        Ok(ws)
    }

    fn add(&mut self, id: String, path: PathBuf, format: Format, text: String, pages: Vec<usize>) {
        let layout = match format.delimiter() {
            Some(delimiter) => layout::table_layout(&text, delimiter),
            None => layout::layout(&text, format.has_markup_headings()),
        };
        let doc_index = self.docs.len();
        for (i, chunk) in layout.chunks.iter().enumerate() {
            let body = &text[chunk.start..chunk.end];
            // A chunk is searchable by its section title (once: a chunk that opens with its
            // heading already holds it) and by the document id ("acme annual report" finds
            // acme/annual_report.md).
            let section = chunk.section.as_deref().unwrap_or("");
            let opens_with_title = body.lines().next().is_some_and(|l| l.contains(section));
            let section = if opens_with_title { "" } else { section };
            self.index.add(&[&id, section, body]);
            self.passages.push((doc_index, i));
        }
        self.by_id.insert(id.clone(), doc_index);
        self.docs.push(Document {
            id,
            path,
            format,
            map: CharMap::new(&text),
            line_starts: span::line_starts(&text),
            text,
            topics: layout.topics,
            chunks: layout.chunks,
            pages,
        });
    }

    /// Document ids, in order.
    pub fn doc_ids(&self) -> Vec<&str> {
        self.docs.iter().map(|d| d.id.as_str()).collect()
    }

    /// The ingested text of a document (the text that offsets refer to).
    pub fn text(&self, id: &str) -> Option<&str> {
        self.by_id.get(id).map(|&i| self.docs[i].text.as_str())
    }

    fn find_doc(&self, requested: &str) -> Result<&Document, String> {
        let requested = requested.trim().trim_start_matches("./");
        if let Some(&i) = self.by_id.get(requested) {
            return Ok(&self.docs[i]);
        }
        // Forgive case and a missing directory part when that names exactly one document.
        let lower = requested.to_lowercase();
        let candidates: Vec<&Document> = self
            .docs
            .iter()
            .filter(|d| {
                let id = d.id.to_lowercase();
                id == lower || id.ends_with(&format!("/{lower}"))
            })
            .collect();
        if let [doc] = candidates.as_slice() {
            return Ok(doc);
        }
        let quoted = |ids: Vec<&str>| {
            ids.iter()
                .take(20)
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if candidates.len() > 1 {
            let ids = candidates.iter().map(|d| d.id.as_str()).collect();
            return Err(format!(
                "`{}` matches several documents: {}; use the full id",
                clip_echo(requested),
                quoted(ids)
            ));
        }
        let stem = lower.rsplit('/').next().unwrap_or(&lower);
        let stem = stem.split('.').next().unwrap_or(stem);
        let similar: Vec<&str> = self
            .docs
            .iter()
            .filter(|d| !stem.is_empty() && d.id.to_lowercase().contains(stem))
            .map(|d| d.id.as_str())
            .collect();
        if similar.is_empty() {
            Err(format!(
                "no document `{}`; the document ids are: {}",
                clip_echo(requested),
                self.id_listing(20)
            ))
        } else {
            Err(format!(
                "no document `{}`; similar ids: {}",
                clip_echo(requested),
                quoted(similar)
            ))
        }
    }

    fn id_listing(&self, max: usize) -> String {
        let mut s = self
            .docs
            .iter()
            .take(max)
            .map(|d| format!("`{}`", d.id))
            .collect::<Vec<_>>()
            .join(", ");
        if self.docs.len() > max {
            s.push_str(&format!(" and {} more", self.docs.len() - max));
        }
        s
    }

    fn read_doc(&self, args: &Value) -> ToolResult {
        let id = args::required_str(args, "doc")?;
        let doc = self.find_doc(id)?;
        let offset = args::optional_usize(args, "offset")?;
        let len = args::optional_usize(args, "len")?;
        if let Some(lines) = args::optional_str(args, "lines")? {
            return match Span::parse(lines)? {
                Span::Lines(a, b) => {
                    if a > doc.line_starts.len() {
                        return Err(format!(
                            "`{}` has {} lines; `lines` must start at most there",
                            doc.id,
                            doc.line_starts.len()
                        ));
                    }
                    let (from, to) = span::line_range(&doc.line_starts, doc.text.len(), a, b);
                    read_span(doc, doc.ch(from), (doc.ch(to) - doc.ch(from)).max(1))
                }
                Span::Chars { offset, len } => read_span(doc, offset, len),
            };
        }
        match offset {
            None => Ok(self.opening(doc, len)),
            Some(offset) => read_span(doc, offset, len.unwrap_or(DEFAULT_READ)),
        }
    }

    /// What the agent sees when it opens a document: size, structural index, beginning.
    fn opening(&self, doc: &Document, len: Option<usize>) -> String {
        let mut out = format!(
            "{} ({}, {} characters, {} sections)\n",
            doc.id,
            doc.format.label(),
            doc.chars(),
            doc.topics.len()
        );
        if !doc.pages.is_empty() {
            out.push_str(&format!("{} pages\n", doc.pages.len()));
        }
        out.push_str(&format!("{} lines\n", doc.line_starts.len()));
        out.push_str("\nIndex (offset: topic); read a section with read_doc offset=<offset>:\n");
        for topic in doc.topics.iter().take(MAX_TOPICS_SHOWN) {
            let indent = "  ".repeat(usize::from(topic.level.saturating_sub(1)));
            let page = doc
                .page_of(topic.offset)
                .map_or(String::new(), |p| format!(" [p.{p}]"));
            out.push_str(&format!(
                "{:>8}: {indent}{}{page}\n",
                doc.ch(topic.offset),
                topic.title
            ));
        }
        if doc.topics.len() > MAX_TOPICS_SHOWN {
            let next = doc.ch(doc.topics[MAX_TOPICS_SHOWN].offset);
            out.push_str(&format!(
                "  ... {} more sections from offset {next}; read there or use search_docs\n",
                doc.topics.len() - MAX_TOPICS_SHOWN
            ));
        }
        out.push('\n');
        let shown = len.unwrap_or(OPENING).min(MAX_READ);
        match read_span(doc, 0, shown) {
            Ok(span) => out.push_str(&span),
            Err(e) => out.push_str(&e),
        }
        out
    }

    fn search_docs(&self, args: &Value) -> ToolResult {
        let query = args::required_str(args, "query")?;
        let shown = clip_echo(query);
        if bm25::tokenize(query).is_empty() {
            return Err(format!(
                "the query `{shown}` has no searchable words; use the words you expect in the \
                 text (names, figures, terms)"
            ));
        }
        let hits = self.index.search(query, SEARCH_HITS);
        if hits.is_empty() {
            return Ok(format!(
                "no passage matches `{shown}` in {} documents; try other words (synonyms, a \
                 name or figure) or open a document with read_doc",
                self.docs.len()
            ));
        }
        let terms: Vec<String> = bm25::tokenize(query).into_iter().map(|t| t.term).collect();
        let mut out = format!("Top {} passages for `{shown}`:\n", hits.len());
        for (rank, (passage, score)) in hits.iter().enumerate() {
            let (d, c) = self.passages[*passage];
            let doc = &self.docs[d];
            let chunk = &doc.chunks[c];
            let start = doc.ch(chunk.start);
            let len = doc.ch(chunk.end) - start;
            let section = chunk
                .section
                .as_deref()
                .map_or(String::new(), |s| format!(" · {s}"));
            let page = doc
                .page_of(chunk.start)
                .map_or(String::new(), |p| format!(" · p.{p}"));
            let (a, b) = span::lines_of(&doc.line_starts, (chunk.start, chunk.end));
            out.push_str(&format!(
                "\n{}. {} offset={start} len={len} lines {} (score {score:.2}{section}{page})\n   {}\n",
                rank + 1,
                doc.id,
                span::lines_label(a, b),
                snippet(&doc.text[chunk.start..chunk.end], &terms)
            ));
        }
        out.push_str(
            "\nRead a passage exactly with read_doc {doc, offset, len} (or {doc, lines}) before \
             citing it.",
        );
        Ok(out)
    }

    /// Units of initial work: documents, split when very large, then grouped so that there
    /// are at most `MAX_INITIAL_TASKS`.
    fn task_groups(&self) -> Vec<Vec<usize>> {
        let n = self.docs.len().min(MAX_INITIAL_TASKS);
        let sizes: Vec<usize> = self.docs.iter().map(Document::chars).collect();
        let total: usize = sizes.iter().sum();
        let threshold = total.div_ceil(n.max(1));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut size = 0;
        for (i, s) in sizes.iter().enumerate() {
            // Keep enough documents for the remaining groups to be non-empty, and never
            // open more than `n` groups.
            let remaining_docs = sizes.len() - i;
            let remaining_groups = n - groups.len();
            if !current.is_empty()
                && groups.len() + 1 < n
                && (size >= threshold || remaining_docs < remaining_groups)
            {
                groups.push(std::mem::take(&mut current));
                size = 0;
            }
            current.push(i);
            size += s;
        }
        if !current.is_empty() {
            groups.push(current);
        }
        groups
    }
}

impl Workspace for DocsWorkspace {
    fn describe(&self) -> String {
        let mut s = format!(
            "A set of {} documents. Find passages with search_docs (ranked by relevance) and \
             read them with read_doc (opening a document shows its section index with \
             character offsets; every read says which lines it shows). {} Documents:",
            self.docs.len(),
            evidence::DOC_CITATION
        );
        for doc in self.docs.iter().take(MAX_DOCS_DESCRIBED) {
            s.push_str(&format!("\n- {} ({} chars)", doc.id, doc.chars()));
        }
        if self.docs.len() > MAX_DOCS_DESCRIBED {
            s.push_str(&format!(
                "\n- ... and {} more (search_docs covers them all)",
                self.docs.len() - MAX_DOCS_DESCRIBED
            ));
        }
        s
    }

    fn citation_help(&self) -> String {
        format!("{} {}", evidence::DOC_CITATION, super::POINT_CITATION)
    }

    fn skipped(&self) -> Vec<(String, String)> {
        self.skipped.clone()
    }

    fn tool_specs(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "read_doc".into(),
                description: "Read a document. Without `offset`: its size, its section index \
                              (one topic line per section with its character offset) and its \
                              beginning. With `offset` (and optional `len`, default 3000, max \
                              12000), or with `lines` (\"12-40\"): exactly that span, for \
                              quoting; the output starts with the span's character offset and \
                              its line numbers, both citable."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "doc": {"type": "string", "description": "Document id, as listed (e.g. \"reports/q3.txt\")."},
                        "offset": {"type": "integer", "minimum": 0, "description": "Character offset to start at."},
                        "len": {"type": "integer", "minimum": 1, "maximum": MAX_READ, "description": "Number of characters to read."},
                        "lines": {"type": "string", "description": "Instead of offset/len: the lines to read, \"12-40\" or \"12\"."}
                    },
                    "required": ["doc"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "search_docs".into(),
                description: "Search all documents (BM25 ranking over paragraph chunks). \
                              Returns the best passages with document id, offset, length, \
                              lines and a snippet. Use distinctive words: names, figures, terms."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "description": "Words to search for, e.g. \"Globex 2024 revenue\"."}
                    },
                    "required": ["query"],
                    "additionalProperties": false
                }),
            },
        ]
    }

    fn call<'a>(
        &'a self,
        _ctx: &'a ToolContext,
        name: &'a str,
        args: &'a Value,
    ) -> BoxFuture<'a, Option<ToolResult>> {
        let result = match name {
            "read_doc" => Some(self.read_doc(args)),
            "search_docs" => Some(self.search_docs(args)),
            _ => None,
        }
        .map(super::redacted);
        Box::pin(async move { result })
    }

    fn resolve(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        self.resolve_doc(evidence)
    }

    fn initial_tasks(&self, goal: &str) -> Vec<(String, String)> {
        self.task_groups()
            .into_iter()
            .map(|group| {
                let ids: Vec<&str> = group.iter().map(|&i| self.docs[i].id.as_str()).collect();
                let title = match ids.as_slice() {
                    [one] => format!("Read {one}"),
                    [first, rest @ ..] => format!("Read {first} and {} more", rest.len()),
                    [] => String::new(),
                };
                let list = ids.iter().map(|id| format!("- {id}")).collect::<Vec<_>>();
                let detail = format!(
                    "Question: {goal}\n\nRead {}:\n{}\n\nOpen each with read_doc (it starts with \
                     the section index), read the sections that may bear on the question, and \
                     record what you find as points quoting the exact text as evidence. If \
                     nothing there bears on the question, finish the task saying so.",
                    if ids.len() == 1 {
                        "this document"
                    } else {
                        "these documents"
                    },
                    list.join("\n")
                );
                (title, detail)
            })
            .collect()
    }
}

fn read_span(doc: &Document, offset: usize, len: usize) -> ToolResult {
    let total = doc.chars();
    if offset >= total {
        return Err(format!(
            "offset {offset} is past the end of `{}` (it has {total} characters)",
            doc.id
        ));
    }
    let len = len.clamp(1, MAX_READ);
    let end = (offset + len).min(total);
    let (from, to) = (doc.byte(offset), doc.byte(end));
    let mut out = format!(
        "[{}@{offset}+{} of {total} characters, {}]\n",
        doc.id,
        end - offset,
        doc.lines_note(from, to)
    );
    out.push_str(&doc.text[from..to]);
    if end < total {
        out.push_str(&format!(
            "\n[continues; read on with read_doc offset={end}]"
        ));
    } else {
        out.push_str("\n[end of document]");
    }
    Ok(out)
}

/// A short window of a chunk around the query terms, on one line.
fn snippet(chunk: &str, terms: &[String]) -> String {
    let tokens = bm25::tokenize(chunk);
    // Pick the window start (a matching token) that covers the most distinct terms.
    let mut best = (0usize, 0usize);
    for (i, t) in tokens.iter().enumerate() {
        if !terms.contains(&t.term) {
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        for u in tokens[i..]
            .iter()
            .take_while(|u| u.start < t.start + SNIPPET_CHARS)
        {
            if terms.contains(&u.term) && !seen.contains(&u.term.as_str()) {
                seen.push(&u.term);
            }
        }
        if seen.len() > best.1 {
            best = (t.start, seen.len());
        }
    }
    // Start a little before the first hit, at a word boundary.
    let mut from = best.0.saturating_sub(40);
    while !chunk.is_char_boundary(from) {
        from -= 1;
    }
    if from > 0 {
        from = chunk[from..best.0]
            .find(char::is_whitespace)
            .map_or(from, |i| from + i + 1);
    }
    let flat: String = chunk[from..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let body = crate::text::clip(&flat, SNIPPET_CHARS);
    if from > 0 { format!("…{body}") } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_centres_on_query_terms() {
        let chunk = format!(
            "{} Globex revenue was $388.1 million.",
            "filler ".repeat(80)
        );
        let s = snippet(&chunk, &["globex".to_string(), "revenue".to_string()]);
        assert!(s.starts_with('…'), "{s}");
        assert!(s.contains("Globex revenue was $388.1 million."), "{s}");
    }
}
