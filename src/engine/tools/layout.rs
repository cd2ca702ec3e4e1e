//! The layout of a document's text: paragraphs, search chunks and the structural index.
//!
//! Chunks are built from whole paragraphs (a paragraph is split only when it alone is longer
//! than a chunk may be) and a heading always starts a new chunk, so a search hit lands on a
//! coherent passage. The structural index is one topic line per section: the headings when
//! the document has any (markdown `#` lines, HTML headings, or short title-like lines in
//! plain text and PDFs), otherwise the first sentence of each chunk. All offsets are bytes.

/// A chunk closes once it reaches this many bytes...
const TARGET_CHUNK: usize = 1_000;
/// ...and a paragraph longer than this is split.
const MAX_CHUNK: usize = 2_000;
/// Longest line that can pass for a title in text without markup.
const MAX_TITLE_LINE: usize = 70;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Title of the section the chunk is in (searchable with the chunk).
    pub section: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Topic {
    pub offset: usize,
    /// Heading level (1 = top); 0 for a paragraph's first sentence.
    pub level: u8,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Layout {
    pub chunks: Vec<Chunk>,
    pub topics: Vec<Topic>,
}

#[derive(Debug, Clone)]
struct Block {
    start: usize,
    end: usize,
    heading: Option<(u8, String)>,
}

/// Lay out `text`. `markup_headings`: `#` lines are headings (markdown, converted HTML);
/// otherwise title-like lines standing alone are.
pub(crate) fn layout(text: &str, markup_headings: bool) -> Layout {
    let mut blocks = Vec::new();
    for block in blocks_of(text, markup_headings) {
        if block.end - block.start > MAX_CHUNK {
            blocks.extend(split_long(text, block.start, block.end));
        } else {
            blocks.push(block);
        }
    }
    let chunks = chunks_of(&blocks);
    let headings: Vec<Topic> = blocks
        .iter()
        .filter_map(|b| {
            b.heading.as_ref().map(|(level, title)| Topic {
                offset: b.start,
                level: *level,
                title: title.clone(),
            })
        })
        .collect();
    let topics = if headings.is_empty() {
        chunks
            .iter()
            .map(|c| Topic {
                offset: c.start,
                level: 0,
                title: first_sentence(&text[c.start..c.end]),
            })
            .collect()
    } else {
        headings
    };
    Layout { chunks, topics }
}

/// Paragraphs (separated by blank lines) and heading lines, trimmed.
fn blocks_of(text: &str, markup_headings: bool) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut open: Option<(usize, usize)> = None;
    let mut in_fence = false;
    let mut at = 0;
    for raw in text.split_inclusive('\n') {
        let line_start = at;
        at += raw.len();
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if markup_headings && (trimmed.starts_with("```") || trimmed.starts_with("~~~")) {
            in_fence = !in_fence;
        }
        if trimmed.is_empty() {
            if let Some((s, e)) = open.take() {
                blocks.push(Block {
                    start: s,
                    end: e,
                    heading: None,
                });
            }
            continue;
        }
        let content_start = line_start + (line.len() - trimmed.len());
        let content_end = line_start + line.len();
        if markup_headings
            && !in_fence
            && let Some(heading) = markdown_heading(trimmed)
        {
            if let Some((s, e)) = open.take() {
                blocks.push(Block {
                    start: s,
                    end: e,
                    heading: None,
                });
            }
            blocks.push(Block {
                start: content_start,
                end: content_end,
                heading: Some(heading),
            });
            continue;
        }
        open = Some(match open {
            Some((s, _)) => (s, content_end),
            None => (content_start, content_end),
        });
    }
    if let Some((s, e)) = open {
        blocks.push(Block {
            start: s,
            end: e,
            heading: None,
        });
    }
    if !markup_headings {
        mark_title_lines(text, &mut blocks);
    }
    blocks
}

fn markdown_heading(line: &str) -> Option<(u8, String)> {
    let hashes = line.len() - line.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim();
    (!title.is_empty()).then(|| (hashes as u8, title.to_string()))
}

/// In text without markup, a one-line paragraph that looks like a title (short, no closing
/// punctuation, starts with a capital or a digit) followed by more text is a heading.
fn mark_title_lines(text: &str, blocks: &mut [Block]) {
    let count = blocks.len();
    for i in 0..count.saturating_sub(1) {
        let body = &text[blocks[i].start..blocks[i].end];
        let first = body.chars().next().unwrap_or(' ');
        let looks_like_title = !body.contains('\n')
            && body.chars().count() <= MAX_TITLE_LINE
            && (first.is_uppercase() || first.is_ascii_digit())
            && body.chars().any(char::is_alphabetic)
            && !body.ends_with(['.', ',', ';', ':', '!', '?']);
        if looks_like_title {
            blocks[i].heading = Some((1, body.to_string()));
        }
    }
}

/// Split an over-long paragraph at sentence ends (or line ends, or spaces) into pieces of
/// at most `MAX_CHUNK` bytes.
fn split_long(text: &str, start: usize, end: usize) -> Vec<Block> {
    let mut pieces = Vec::new();
    let mut from = start;
    while end - from > MAX_CHUNK {
        let mut limit = from + MAX_CHUNK;
        while !text.is_char_boundary(limit) {
            limit -= 1;
        }
        let window = &text[from..limit];
        let cut = [". ", ".\n", "? ", "! ", "\n"]
            .iter()
            .filter_map(|sep| window.rfind(sep).map(|i| i + sep.len()))
            .filter(|&i| i > MAX_CHUNK / 2)
            .max()
            .or_else(|| window.rfind(' ').map(|i| i + 1).filter(|&i| i > 0))
            .unwrap_or(window.len());
        let piece_end = from + cut;
        let trimmed_end = from + text[from..piece_end].trim_end().len();
        pieces.push(Block {
            start: from,
            end: trimmed_end,
            heading: None,
        });
        from = piece_end + (text[piece_end..end].len() - text[piece_end..end].trim_start().len());
    }
    if from < end {
        pieces.push(Block {
            start: from,
            end,
            heading: None,
        });
    }
    pieces
}

fn chunks_of(blocks: &[Block]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut section: Option<String> = None;
    let mut current: Option<Chunk> = None;
    for block in blocks {
        if let Some((_, title)) = &block.heading {
            if let Some(c) = current.take() {
                chunks.push(c);
            }
            section = Some(title.clone());
        }
        let chunk = current.get_or_insert_with(|| Chunk {
            start: block.start,
            end: block.end,
            section: section.clone(),
        });
        chunk.end = block.end;
        if chunk.end - chunk.start >= TARGET_CHUNK {
            chunks.extend(current.take());
        }
    }
    chunks.extend(current);
    chunks
}

/// Lay out a table (CSV, TSV): the header line names the columns; rows are grouped into
/// chunks of about [`TARGET_CHUNK`] bytes, each searchable with the column names; the index
/// has the columns, then one line per group saying which rows (lines) it holds and the
/// first field of its first and last row.
pub(crate) fn table_layout(text: &str, delimiter: char) -> Layout {
    let mut lines: Vec<(usize, usize)> = Vec::new();
    let mut at = 0;
    for raw in text.split_inclusive('\n') {
        lines.push((at, at + raw.trim_end_matches('\n').len()));
        at += raw.len();
    }
    let Some(&(h_start, h_end)) = lines.first() else {
        return Layout {
            chunks: Vec::new(),
            topics: Vec::new(),
        };
    };
    let header = &text[h_start..h_end];
    let columns: Vec<&str> = header.split(delimiter).map(str::trim).collect();
    // Each group is searchable with the header line (the first group holds it already).
    let section = header.trim().to_string();
    let first_field = |(s, e): (usize, usize)| {
        let field = text[s..e].split(delimiter).next().unwrap_or("").trim();
        crate::text::clip(field.trim_matches('"'), 40)
    };
    let mut topics = vec![Topic {
        offset: 0,
        level: 1,
        title: crate::text::clip(&format!("columns: {}", columns.join(", ")), 100),
    }];
    let mut chunks = Vec::new();
    // (first line index, last line index) of the open group; the header opens the first.
    let mut group: Option<(usize, usize)> = None;
    let close = |first: usize, last: usize, chunks: &mut Vec<Chunk>, topics: &mut Vec<Topic>| {
        let (start, end) = (lines[first].0, lines[last].1);
        chunks.push(Chunk {
            start,
            end,
            section: Some(section.clone()),
        });
        let rows_from = first.max(1);
        if rows_from <= last {
            topics.push(Topic {
                offset: lines[rows_from].0,
                level: 2,
                title: format!(
                    "rows at lines {}-{}: {} … {}",
                    rows_from + 1,
                    last + 1,
                    first_field(lines[rows_from]),
                    first_field(lines[last])
                ),
            });
        }
    };
    for i in 0..lines.len() {
        let (first, _) = *group.get_or_insert((i, i));
        group = Some((first, i));
        if lines[i].1 - lines[first].0 >= TARGET_CHUNK {
            close(first, i, &mut chunks, &mut topics);
            group = None;
        }
    }
    if let Some((first, last)) = group {
        close(first, last, &mut chunks, &mut topics);
    }
    Layout { chunks, topics }
}

/// The first sentence of a passage, on one line, at most ~100 characters.
pub(crate) fn first_sentence(passage: &str) -> String {
    let line: String = passage.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = [". ", "? ", "! "]
        .iter()
        .filter_map(|sep| line.find(sep).map(|i| i + 1))
        .min()
        .unwrap_or(line.len());
    crate::text::clip(&line[..end], 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_headings_are_topics_and_start_chunks() {
        let text =
            "# Report\n\nIntro para.\n\n## Revenue\nRevenue was 5.\n\n```\n# not a heading\n```\n";
        let l = layout(text, true);
        let titles: Vec<_> = l
            .topics
            .iter()
            .map(|t| (t.level, t.title.as_str()))
            .collect();
        assert_eq!(titles, vec![(1, "Report"), (2, "Revenue")]);
        assert_eq!(
            &text[l.topics[1].offset..l.topics[1].offset + 10],
            "## Revenue"
        );
        assert_eq!(l.chunks.len(), 2);
        assert_eq!(l.chunks[1].section.as_deref(), Some("Revenue"));
        assert!(text[l.chunks[1].start..l.chunks[1].end].contains("Revenue was 5."));
    }

    #[test]
    fn tables_are_indexed_by_columns_and_row_groups() {
        let mut text = String::from("vendor,revenue_musd\nAcme,412.5\nGlobex,388.1");
        let l = table_layout(&text, ',');
        assert_eq!(l.chunks.len(), 1);
        assert_eq!((l.chunks[0].start, l.chunks[0].end), (0, text.len()));
        assert_eq!(l.chunks[0].section.as_deref(), Some("vendor,revenue_musd"));
        let titles: Vec<&str> = l.topics.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "columns: vendor, revenue_musd",
                "rows at lines 2-3: Acme … Globex"
            ]
        );
        for i in 0..200 {
            text.push_str(&format!("\nVendor{i},{i}.5"));
        }
        let l = table_layout(&text, ',');
        assert!(l.chunks.len() > 2);
        for pair in l.chunks.windows(2) {
            // Groups are whole rows, in order, and cover the table.
            assert_eq!(&text[pair[0].end..pair[1].start], "\n");
        }
        assert_eq!(l.chunks.last().unwrap().end, text.len());
        assert_eq!(l.topics.len(), l.chunks.len() + 1);
    }

    #[test]
    fn plain_text_title_lines_become_headings() {
        let text =
            "Financial highlights\n\nRevenue was $388.1 million.\n\nOperations\n\nPlants ran.";
        let l = layout(text, false);
        let titles: Vec<_> = l.topics.iter().map(|t| t.title.as_str()).collect();
        assert_eq!(titles, vec!["Financial highlights", "Operations"]);
    }

    #[test]
    fn without_headings_each_chunk_gets_its_first_sentence() {
        let text = "The first point is here. More follows.\n\nA second paragraph.";
        let l = layout(text, false);
        assert_eq!(l.topics.len(), 1);
        assert_eq!(l.topics[0].title, "The first point is here.");
        assert_eq!(l.topics[0].level, 0);
    }

    #[test]
    fn paragraphs_stay_whole_and_chunks_stay_bounded() {
        let para = "word ".repeat(60); // 300 bytes
        let text = (0..20)
            .map(|_| para.trim())
            .collect::<Vec<_>>()
            .join("\n\n");
        let l = layout(&text, false);
        assert!(l.chunks.len() >= 4);
        for c in &l.chunks {
            assert!(c.end - c.start <= TARGET_CHUNK + 400, "chunk too long");
            // Chunks begin and end on paragraph boundaries.
            assert!(c.start == 0 || text[..c.start].ends_with("\n\n"));
            assert!(c.end == text.len() || text[c.end..].starts_with("\n\n"));
        }
    }

    #[test]
    fn over_long_paragraphs_split_at_sentences() {
        let text = "This is one sentence of moderate length. ".repeat(150);
        let l = layout(text.trim(), false);
        assert!(l.chunks.len() >= 3);
        for c in &l.chunks {
            assert!(c.end - c.start <= MAX_CHUNK);
            assert!(text[c.start..c.end].ends_with('.'));
        }
    }
}
