//! Finding a document set's files: walking the roots, naming each document, and saying why
//! a file was not used (unsupported type, not a regular file, unreadable). Nothing is
//! dropped silently: every file the walk sees either becomes a document or gets a reason.

use super::super::ingest::{self, Format};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A file to ingest: its document id, where it is, how to read it.
pub(super) struct Candidate {
    pub id: String,
    pub path: PathBuf,
    pub format: Format,
}

/// The walk of a document directory, sorted by name. Git ignore rules are deliberately not
/// applied: documents often live in ignored folders (data/, reports/). Hidden files are
/// skipped; links are followed.
fn walker(path: &Path) -> ignore::Walk {
    ignore::WalkBuilder::new(path)
        .standard_filters(false)
        .hidden(true)
        .follow_links(true)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build()
}

/// Every regular file under the directory `path`, as the documents workspace walks it: its
/// path relative to `path` (with `/`) and its full path (the same files travel with a run
/// to remote workers). A walk error goes to `on_error`.
pub fn walk_dir(path: &Path, mut on_error: impl FnMut(String)) -> Vec<(String, PathBuf)> {
    let mut files = Vec::new();
    for entry in walker(path) {
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
        if let Ok(rel) = entry.path().strip_prefix(path) {
            files.push((relative_id(rel), entry.path().to_path_buf()));
        }
    }
    files
}

/// A relative path as a document id: its components joined with `/`.
fn relative_id(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Walk one root (a file or a directory) and collect its documents. Files that cannot be
/// documents go to `skipped` as (path, reason). Fails only when the root itself is missing.
pub(super) fn collect(
    root: &str,
    prefix: Option<&str>,
    found: &mut Vec<Candidate>,
    skipped: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let path = Path::new(root);
    // `stat`, not `open`: a named pipe given as a root must not block.
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot open the document path `{root}`: {e}"))?;
    let id_of = |rel: &str| match prefix {
        Some(p) => format!("{p}/{rel}"),
        None => rel.to_string(),
    };
    if !meta.is_dir() {
        let name = path
            .file_name()
            .map_or_else(|| root.to_string(), |n| n.to_string_lossy().into_owned());
        if !meta.is_file() {
            skipped.push((root.to_string(), ingest::file_kind(&meta).to_string()));
            return Ok(());
        }
        // A file named explicitly is read even with an unknown extension, as text.
        let format = Format::of(path).unwrap_or(Format::Text);
        found.push(Candidate {
            id: id_of(&name),
            path: path.to_path_buf(),
            format,
        });
        return Ok(());
    }
    for entry in walker(path) {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                skipped.push((root.to_string(), format!("cannot read it: {e}")));
                continue;
            }
        };
        let Ok(rel) = entry.path().strip_prefix(path) else {
            continue;
        };
        let rel = relative_id(rel);
        let Some(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            continue;
        }
        let shown = id_of(&rel);
        if !kind.is_file() {
            let reason = match entry.metadata() {
                Ok(meta) => ingest::file_kind(&meta).to_string(),
                Err(e) => format!("cannot read it: {e}"),
            };
            skipped.push((shown, reason));
            continue;
        }
        let Some(format) = Format::of(entry.path()) else {
            let reason = match entry.path().extension() {
                Some(ext) => format!(
                    "unsupported type `.{}`; delm reads {} files",
                    ext.to_string_lossy(),
                    ingest::SUPPORTED
                ),
                None => format!(
                    "no file extension, so its type is unknown; delm reads {} files (name \
                     the file itself to read it as text)",
                    ingest::SUPPORTED
                ),
            };
            skipped.push((shown, reason));
            continue;
        };
        found.push(Candidate {
            id: shown,
            path: entry.path().to_path_buf(),
            format,
        });
    }
    Ok(())
}

/// With one root, ids are plain relative paths; with several, the documents of a directory
/// root start with the directory's name (made unique when two roots share a name), and a
/// file root keeps its file name.
pub(super) fn root_prefixes(roots: &[String]) -> Vec<Option<String>> {
    if roots.len() < 2 {
        return vec![None; roots.len()];
    }
    let mut used: HashMap<String, usize> = HashMap::new();
    roots
        .iter()
        .map(|root| {
            let path = Path::new(root);
            if !path.is_dir() {
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

/// `id`, or `id (2)`, `id (3)`, ... when it is taken.
pub(super) fn unique_id(taken: &HashMap<String, usize>, id: String) -> String {
    if !taken.contains_key(&id) {
        return id;
    }
    (2..)
        .map(|n| format!("{id} ({n})"))
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or(id)
}
