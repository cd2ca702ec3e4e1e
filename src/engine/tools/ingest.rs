//! Turning files into document text: plain text and markdown as they are, HTML to text,
//! JSON pretty-printed, CSV/TSV as their rows, PDF through its text layer (`pdf-extract`).
//!
//! The text produced here is the reference for every offset and line a model cites, so it
//! is normalised once (line endings, byte-order mark, runs of blank lines; tables keep every
//! line, so row N of the file is line N of the text) and never changed afterwards. Files are
//! opened without blocking (a named pipe is refused, never waited on), checked to be
//! regular files and read up to the size cap.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Files larger than this are skipped (a text layer of this size is far beyond what a run
/// could read anyway).
pub(crate) const MAX_DOC_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    Markdown,
    Html,
    Json,
    Pdf,
    /// Comma-separated values.
    Csv,
    /// Tab-separated values.
    Tsv,
}

impl Format {
    /// The format for a file name, by extension; `None` for files delm does not read.
    pub fn of(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => Format::Text,
            "md" | "markdown" => Format::Markdown,
            "html" | "htm" | "xhtml" => Format::Html,
            "json" => Format::Json,
            "pdf" => Format::Pdf,
            "csv" => Format::Csv,
            "tsv" | "tab" => Format::Tsv,
            _ => return None,
        })
    }

    /// Whether `#` lines in the text are headings.
    pub fn has_markup_headings(self) -> bool {
        matches!(self, Format::Markdown | Format::Html)
    }

    pub fn label(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Json => "json",
            Format::Pdf => "pdf",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
        }
    }

    /// The field separator of a table format.
    pub fn delimiter(self) -> Option<char> {
        match self {
            Format::Csv => Some(','),
            Format::Tsv => Some('\t'),
            _ => None,
        }
    }
}

/// The extensions delm reads, for messages.
pub(crate) const SUPPORTED: &str = ".txt, .md, .html/.htm, .json, .csv, .tsv, .pdf";

#[derive(Debug, Clone)]
pub(crate) struct Ingested {
    pub text: String,
    /// Byte offsets where PDF pages start (empty for other formats).
    pub pages: Vec<usize>,
}

/// Read one file as `format`. The error says why the file cannot be used.
pub(crate) fn ingest(path: &Path, format: Format) -> Result<Ingested, String> {
    let bytes = read_capped(path)?;
    let ingested = match format {
        Format::Pdf => pdf_text(&bytes)?,
        Format::Csv | Format::Tsv => Ingested {
            text: tidy_table(&decode_text(&bytes)?),
            pages: Vec::new(),
        },
        Format::Text | Format::Markdown | Format::Html | Format::Json => {
            let raw = decode_text(&bytes)?;
            let text = match format {
                Format::Html => super::html::to_text(&raw),
                Format::Json => pretty_json(&raw),
                _ => raw,
            };
            Ingested {
                text: tidy(&text),
                pages: Vec::new(),
            }
        }
    };
    if ingested.text.trim().is_empty() {
        return Err(match format {
            Format::Pdf => "the PDF has no text layer (a scanned document?); run OCR on it \
                            first"
                .to_string(),
            Format::Html => {
                "it has no visible text once markup and scripts are removed".to_string()
            }
            _ => "it is empty".to_string(),
        });
    }
    Ok(ingested)
}

/// The bytes of a regular file of at most [`MAX_DOC_BYTES`]. Opened non-blocking, so a
/// named pipe (or a device) is refused at once instead of waited on.
pub(crate) fn read_capped(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err(format!(
            "{} (only regular files are read)",
            file_kind(&meta)
        ));
    }
    let size = meta.len();
    if size > MAX_DOC_BYTES {
        return Err(over_cap(size));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_DOC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_DOC_BYTES {
        // It grew while it was read.
        return Err(over_cap(bytes.len() as u64));
    }
    Ok(bytes)
}

fn over_cap(size: u64) -> String {
    format!(
        "it is {} MB, over the {} MB limit",
        size / (1024 * 1024),
        MAX_DOC_BYTES / (1024 * 1024)
    )
}

/// What a file that is not a regular file is, for messages.
pub(crate) fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "it is a directory"
    } else if t.is_fifo() {
        "it is a named pipe (FIFO), not a regular file"
    } else if t.is_socket() {
        "it is a socket, not a regular file"
    } else if t.is_block_device() || t.is_char_device() {
        "it is a device, not a regular file"
    } else {
        "it is not a regular file"
    }
}

/// Table text: line endings normalised and trailing blanks trimmed, but every line kept
/// (blank ones too), so row N of the file stays line N of the document.
fn tidy_table(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = text.split('\n').map(str::trim_end).collect();
    let keep = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    lines[..keep].join("\n")
}

/// Bytes to text: refuses binary data, accepts UTF-8 (with or without BOM) and falls back
/// to Latin-1 for legacy files rather than failing.
fn decode_text(bytes: &[u8]) -> Result<String, String> {
    let sample = &bytes[..bytes.len().min(8192)];
    if sample.contains(&0) {
        return Err("it looks binary (it contains NUL bytes)".to_string());
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    Ok(match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    })
}

fn pretty_json(raw: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(value) => serde_json::to_string_pretty(&value).unwrap_or_else(|_| raw.to_string()),
        // Not valid JSON: still text worth reading as written.
        Err(_) => raw.to_string(),
    }
}

pub(crate) fn pdf_text(bytes: &[u8]) -> Result<Ingested, String> {
    // pdf-extract panics on some malformed files; one bad PDF must not end the run.
    let pages = std::panic::catch_unwind(|| pdf_extract::extract_text_from_mem_by_pages(bytes))
        .map_err(|_| "the PDF could not be parsed (the PDF reader crashed on it)".to_string())?
        .map_err(|e| format!("the PDF could not be read: {e}"))?;
    let mut text = String::new();
    let mut starts = Vec::new();
    for page in pages {
        let page = tidy(&page);
        if page.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        starts.push(text.len());
        text.push_str(&page);
    }
    Ok(Ingested {
        text,
        pages: starts,
    })
}

/// `\r\n` and `\r` to `\n`, trailing spaces off, at most one blank line in a row, no
/// leading or trailing blank lines.
fn tidy(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    let mut blanks = 0;
    for line in text.split('\n') {
        let line = line.trim_end();
        if line.is_empty() {
            blanks += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blanks > 0 { "\n\n" } else { "\n" });
        }
        blanks = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a/B.MD")), Some(Format::Markdown));
        assert_eq!(Format::of(Path::new("x.htm")), Some(Format::Html));
        assert_eq!(Format::of(Path::new("x.pdf")), Some(Format::Pdf));
        assert_eq!(Format::of(Path::new("x.csv")), Some(Format::Csv));
        assert_eq!(Format::of(Path::new("x.TSV")), Some(Format::Tsv));
        assert_eq!(Format::of(Path::new("x.docx")), None);
        assert_eq!(Format::of(Path::new("Makefile")), None);
    }

    #[test]
    fn tidies_line_endings_and_blank_runs() {
        assert_eq!(tidy("\r\n\r\na  \r\nb\n\n\n\nc\n\n"), "a\nb\n\nc");
    }

    #[test]
    fn tables_keep_every_line() {
        assert_eq!(tidy_table("a,b\r\n1,2  \n\n3,4\n\n"), "a,b\n1,2\n\n3,4");
    }

    #[test]
    fn pipes_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.txt");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo only creates a file system node at a path we own.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = ingest(&fifo, Format::Text).unwrap_err();
        assert!(err.contains("named pipe"), "{err}");
        let err = ingest(dir.path(), Format::Text).unwrap_err();
        assert!(
            err.contains("directory") || err.contains("cannot read"),
            "{err}"
        );
    }

    #[test]
    fn decodes_latin1_and_refuses_binary() {
        assert_eq!(decode_text(b"caf\xe9").unwrap(), "café");
        assert_eq!(decode_text(b"\xEF\xBB\xBFhi").unwrap(), "hi");
        assert!(decode_text(b"a\0b").is_err());
    }

    #[test]
    fn json_is_pretty_printed() {
        assert_eq!(
            pretty_json("{\"a\":[1,2]}"),
            "{\n  \"a\": [\n    1,\n    2\n  ]\n}"
        );
        assert_eq!(pretty_json("{not json"), "{not json");
    }

    #[test]
    fn garbage_pdf_is_an_error_not_a_panic() {
        let err = pdf_text(b"%PDF-1.4 this is not really a pdf").unwrap_err();
        assert!(err.contains("PDF"), "{err}");
    }
}
