//! Document mode: a set of documents the agents read and cite.
//!
//! Everything is ingested once at open: each file becomes text (see `ingest`), laid out in
//! paragraph-preserving chunks with a structural index (see `layout`), and every chunk goes
//! into one BM25 index. Tools then answer from memory. Offsets shown to and cited by the
//! model are character offsets into the ingested text, the same text `read_doc` shows.

use super::args;
use super::bm25;
use super::charmap::CharMap;
use super::commands;
use super::ingest::{self, Format};
use super::layout::{self, Chunk, Topic};
use super::quote;
use super::{ResolvedEvidence, ToolContext, ToolResult, Workspace};
use crate::event::Evidence;
use crate::llm::ToolSpec;
use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

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
    format: Format,
    text: String,
    map: CharMap,
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
    skipped: Vec<String>,
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
        let mut found: Vec<(String, PathBuf, Format)> = Vec::new();
        let mut skipped = Vec::new();
        let prefixes = root_prefixes(roots);
        for (root, prefix) in roots.iter().zip(&prefixes) {
            collect(root, prefix.as_deref(), &mut found, &mut skipped)?;
        }
        let mut ws = DocsWorkspace {
            docs: Vec::new(),
            by_id: HashMap::new(),
            passages: Vec::new(),
            index: bm25::Index::default(),
            skipped,
        };
        for (id, path, format) in found {
            // Two roots can yield the same id (the same file named twice, two files with
            // one name): keep both, distinguishable.
            let id = unique_id(&ws.by_id, id);
            match ingest::ingest(&path, format) {
                Ok(ingested) => ws.add(id, format, ingested.text, ingested.pages),
                Err(why) => {
                    tracing::warn!(doc = %id, "skipped document: {why}");
                    ws.skipped.push(format!("{id}: {why}"));
                }
            }
        }
        if ws.docs.is_empty() {
            let mut msg = format!(
                "no readable documents found in {}; delm reads {} files",
                roots.join(", "),
                ingest::SUPPORTED
            );
            if !ws.skipped.is_empty() {
                msg.push_str(&format!(" (skipped: {})", ws.skipped.join("; ")));
            }
            return Err(msg);
        }
        Ok(ws)
    }

    fn add(&mut self, id: String, format: Format, text: String, pages: Vec<usize>) {
        let layout = layout::layout(&text, format.has_markup_headings());
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
            format,
            map: CharMap::new(&text),
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

    /// Files that were found but could not be used, with the reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
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
                "`{requested}` matches several documents: {}; use the full id",
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
                "no document `{requested}`; the document ids are: {}",
                self.id_listing(20)
            ))
        } else {
            Err(format!(
                "no document `{requested}`; similar ids: {}",
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
        if bm25::tokenize(query).is_empty() {
            return Err(format!(
                "the query `{query}` has no searchable words; use the words you expect in the \
                 text (names, figures, terms)"
            ));
        }
        let hits = self.index.search(query, SEARCH_HITS);
        if hits.is_empty() {
            return Ok(format!(
                "no passage matches `{query}` in {} documents; try other words (synonyms, a \
                 name or figure) or open a document with read_doc",
                self.docs.len()
            ));
        }
        let terms: Vec<String> = bm25::tokenize(query).into_iter().map(|t| t.term).collect();
        let mut out = format!("Top {} passages for `{query}`:\n", hits.len());
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
            out.push_str(&format!(
                "\n{}. {} offset={start} len={len} (score {score:.2}{section}{page})\n   {}\n",
                rank + 1,
                doc.id,
                snippet(&doc.text[chunk.start..chunk.end], &terms)
            ));
        }
        out.push_str("\nRead a passage exactly with read_doc {doc, offset, len} before citing it.");
        Ok(out)
    }

    fn resolve_doc(&self, evidence: &Evidence) -> Result<ResolvedEvidence, String> {
        let source = evidence.source.trim();
        if commands::is_command_source(source) {
            return Err(commands::no_runs_recorded());
        }
        // `doc@offset+len` (the resolved form) is accepted as a source too.
        let (id, inline_span) = match (self.find_doc(source), source.rsplit_once('@')) {
            (Ok(doc), _) => (doc, None),
            (Err(e), Some((id, span))) => match self.find_doc(id) {
                Ok(doc) => (doc, Some(span)),
                Err(_) => return Err(e),
            },
            (Err(e), None) => return Err(e),
        };
        let doc = id;
        quote::check_quote(&evidence.quote)?;
        let span_text = evidence.lines.as_deref().or(inline_span);
        let (from, to) = match span_text {
            None => (0, doc.text.len()),
            Some(s) => {
                let (off, len) = parse_span(s)?;
                if off >= doc.chars() {
                    return Err(format!(
                        "offset {off} is past the end of `{}` (it has {} characters)",
                        doc.id,
                        doc.chars()
                    ));
                }
                (doc.byte(off), doc.byte(off + len))
            }
        };
        let cited = match span_text {
            Some(_) => format!("{}@{}+{}", doc.id, doc.ch(from), doc.ch(to) - doc.ch(from)),
            None => doc.id.clone(),
        };
        match quote::find(&doc.text[from..to], &evidence.quote) {
            Some((s, e)) => {
                let (s, e) = (from + s, from + e);
                let start = doc.ch(s);
                let mut resolved = evidence.clone();
                resolved.resolved = Some(format!("{}@{start}+{}", doc.id, doc.ch(e) - start));
                Ok(ResolvedEvidence {
                    evidence: resolved,
                    context: context_around(doc, s, e),
                })
            }
            None => {
                if span_text.is_some()
                    && let Some((s, e)) = quote::find(&doc.text, &evidence.quote)
                {
                    let start = doc.ch(s);
                    return Err(format!(
                        "quote not found in {cited}; it appears at offset {start} (len {}): \
                         cite that span",
                        doc.ch(e) - start
                    ));
                }
                let span = &doc.text[from..to];
                let hint = match quote::closest_line(span, &evidence.quote) {
                    Some((line, text)) => {
                        let at = from + line_start(span, line);
                        format!(
                            "the closest passage there (offset {}) is: \"{}\"",
                            doc.ch(at),
                            quote::clip(text.trim(), 200)
                        )
                    }
                    None => "no passage there shares words with the quote; read the document \
                             again and copy the text exactly"
                        .to_string(),
                };
                Err(format!("quote not found in {cited}; {hint}"))
            }
        }
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
             character offsets). Cite evidence with source = the document id, quote = text \
             copied exactly from the document, and lines = \"offset+len\" for the span you \
             read (optional). Documents:",
            self.docs.len()
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

    fn tool_specs(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "read_doc".into(),
                description: "Read a document. Without `offset`: its size, its section index \
                              (one topic line per section with its character offset) and its \
                              beginning. With `offset` (and optional `len`, default 3000, max \
                              12000): exactly that span of characters, for quoting."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "doc": {"type": "string", "description": "Document id, as listed (e.g. \"reports/q3.txt\")."},
                        "offset": {"type": "integer", "minimum": 0, "description": "Character offset to start at."},
                        "len": {"type": "integer", "minimum": 1, "maximum": MAX_READ, "description": "Number of characters to read."}
                    },
                    "required": ["doc"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "search_docs".into(),
                description: "Search all documents (BM25 ranking over paragraph chunks). \
                              Returns the best passages with document id, offset, length and \
                              a snippet. Use distinctive words: names, figures, terms."
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
        };
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

/// Walk one root and collect its documents with their ids.
fn collect(
    root: &str,
    prefix: Option<&str>,
    found: &mut Vec<(String, PathBuf, Format)>,
    skipped: &mut Vec<String>,
) -> Result<(), String> {
    let path = Path::new(root);
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot open the document path `{root}`: {e}"))?;
    let id_of = |rel: &str| match prefix {
        Some(p) => format!("{p}/{rel}"),
        None => rel.to_string(),
    };
    if meta.is_file() {
        let name = path
            .file_name()
            .map_or_else(|| root.to_string(), |n| n.to_string_lossy().into_owned());
        // A file named explicitly is read even with an unknown extension, as text.
        let format = Format::of(path).unwrap_or(Format::Text);
        found.push((id_of(&name), path.to_path_buf(), format));
        return Ok(());
    }
    for (rel, full) in walk_dir(path, |e| skipped.push(format!("{root}: {e}"))) {
        if let Some(format) = Format::of(&full) {
            found.push((id_of(&rel), full, format));
        }
    }
    Ok(())
}

/// Every file under the directory `path` as the documents workspace walks it, sorted by
/// name: its path relative to `path` (with `/`) and its full path. Git ignore rules are
/// deliberately not applied (documents often live in ignored folders: data/, reports/);
/// hidden files are skipped; links are followed. A walk error goes to `on_error`.
pub fn walk_dir(path: &Path, mut on_error: impl FnMut(String)) -> Vec<(String, PathBuf)> {
    let walker = ignore::WalkBuilder::new(path)
        .standard_filters(false)
        .hidden(true)
        .follow_links(true)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                on_error(e.to_string());
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(path) else {
            continue;
        };
        let rel = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        files.push((rel, entry.path().to_path_buf()));
    }
    files
}

/// With one root, ids are plain relative paths; with several, the documents of a directory
/// root start with the directory's name (made unique when two roots share a name), and a
/// file root keeps its file name.
fn root_prefixes(roots: &[String]) -> Vec<Option<String>> {
    if roots.len() < 2 {
        return vec![None; roots.len()];
    }
    let mut used: HashMap<String, usize> = HashMap::new();
    roots
        .iter()
        .map(|root| {
            let path = Path::new(root);
            if path.is_file() {
                return None;
            }
            let name = std::fs::canonicalize(path)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| root.trim_end_matches('/').to_string());
            let n = used.entry(name.clone()).or_default();
            *n += 1;
            Some(if *n > 1 { format!("{name}-{n}") } else { name })
        })
        .collect()
}

fn unique_id(taken: &HashMap<String, usize>, id: String) -> String {
    if !taken.contains_key(&id) {
        return id;
    }
    (2..)
        .map(|n| format!("{id} ({n})"))
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or(id)
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
        "[{}@{offset}+{} of {total} characters]\n",
        doc.id,
        end - offset
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

/// Parse a span as `offset+len`, `start-end`, or a single `offset`.
fn parse_span(s: &str) -> Result<(usize, usize), String> {
    let t = s.trim().trim_start_matches('@');
    let bad = || {
        format!(
            "`{s}` is not a document span; write \"offset+len\" in characters, for example \
             \"1200+80\""
        )
    };
    let num = |x: &str| x.trim().parse::<usize>().map_err(|_| bad());
    if let Some((a, b)) = t.split_once('+') {
        return Ok((num(a)?, num(b)?.max(1)));
    }
    if let Some((a, b)) = t.split_once('-') {
        let (a, b) = (num(a)?, num(b)?);
        if b <= a {
            return Err(bad());
        }
        return Ok((a, b - a));
    }
    // A bare offset: the quote must start near it.
    Ok((num(t)?, DEFAULT_READ))
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

/// The quoted span with some text around it, snapped to line starts and ends.
fn context_around(doc: &Document, start: usize, end: usize) -> String {
    const AROUND: usize = 300;
    let text = &doc.text;
    let mut from = start.saturating_sub(AROUND);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let from = text[from..start].find('\n').map_or(from, |i| from + i + 1);
    let mut to = (end + AROUND).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    let to = text[end..to].rfind('\n').map_or(to, |i| end + i);
    format!("[{}@{}]\n{}", doc.id, doc.ch(from), &text[from..to])
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
    let body = quote::clip(&flat, SNIPPET_CHARS);
    if from > 0 { format!("…{body}") } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_in_all_written_forms() {
        assert_eq!(parse_span("1200+80").unwrap(), (1200, 80));
        assert_eq!(parse_span("@1200+80").unwrap(), (1200, 80));
        assert_eq!(parse_span("100-150").unwrap(), (100, 50));
        assert_eq!(parse_span("42").unwrap(), (42, DEFAULT_READ));
        assert!(parse_span("150-100").is_err());
        assert!(parse_span("lines 3").is_err());
    }

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
