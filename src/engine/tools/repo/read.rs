//! The reading tools of a repository: `read_file` (numbered lines), `list_dir` and `grep`
//! (a real regex, scoped by directory, file or glob), each bounded with a note saying what
//! was cut.

use super::super::ToolResult;
use super::super::args;
use super::{
    FileEntry, MAX_GREP_LINE_CHARS, MAX_GREP_MATCHES, MAX_LIST_ENTRIES, MAX_READ_CHARS,
    MAX_READ_LINES, RepoIndex, RepoWorkspace, human_size, number_line,
};
use crate::engine::point_args::clip_echo;
use crate::llm::ToolSpec;
use serde_json::{Value, json};
use std::path::Path;

impl RepoIndex {
    pub(super) fn read_file(&self, args: &Value) -> ToolResult {
        let path = args::required_str(args, "path")?;
        let start = args::optional_usize(args, "start")?;
        let end = args::optional_usize(args, "end")?;
        let file = self.file(path)?;
        let text = self.load(file)?;
        let lines: Vec<&str> = text.lines().collect();
        let total = lines.len();
        if total == 0 {
            return Ok(format!("`{}` is empty", file.rel));
        }
        let start = start.unwrap_or(1).max(1);
        if start > total {
            return Err(format!(
                "`{}` has {total} lines; `start` must be between 1 and {total}",
                file.rel
            ));
        }
        if let Some(end) = end
            && end < start
        {
            return Err(format!(
                "`end` ({end}) is before `start` ({start}); lines are 1-based and inclusive"
            ));
        }
        let wanted_end = end.unwrap_or(usize::MAX).min(total);
        let cap_end = wanted_end.min(start + MAX_READ_LINES - 1);
        let mut body = String::new();
        let mut last = start - 1;
        for n in start..=cap_end {
            let line = number_line(n, lines[n - 1], total);
            if !body.is_empty() && body.len() + line.len() > MAX_READ_CHARS {
                break;
            }
            body.push_str(&line);
            last = n;
        }
        let mut out = format!("{} (lines {start}-{last} of {total})\n{body}", file.rel);
        if last < wanted_end {
            out.push_str(&format!(
                "[cut after line {last}: at most {MAX_READ_LINES} lines or {MAX_READ_CHARS} \
                 characters per call; read on with start={}]",
                last + 1
            ));
        } else if last < total && end.is_none() {
            out.push_str(&format!(
                "[{} more lines; read on with start={}]",
                total - last,
                last + 1
            ));
        }
        Ok(out)
    }

    pub(super) fn list_dir(&self, args: &Value) -> ToolResult {
        let path = args::optional_str(args, "path")?.unwrap_or(".");
        let confined = self.root.resolve(path)?;
        let rel = confined.rel;
        if !rel.is_empty() && !self.dirs.contains(&rel) {
            if self.by_path.contains_key(&rel) {
                return Err(format!("`{rel}` is a file; use read_file to read it"));
            }
            return Err(format!(
                "`{rel}` is excluded from the repository view (ignored by .gitignore)"
            ));
        }
        let prefix = if rel.is_empty() {
            String::new()
        } else {
            format!("{rel}/")
        };
        let shown = if rel.is_empty() {
            ".".to_string()
        } else {
            rel.clone()
        };
        let under = |p: &&String| p.starts_with(&prefix);
        let dirs: Vec<&String> = self.dirs.iter().filter(under).collect();
        let files: Vec<&FileEntry> = self
            .files
            .iter()
            .filter(|f| f.rel.starts_with(&prefix))
            .collect();
        let mut entries: Vec<(String, String)> = dirs
            .iter()
            .map(|d| (format!("{}/", &d[prefix.len()..]), String::new()))
            .chain(
                files
                    .iter()
                    .map(|f| (f.rel[prefix.len()..].to_string(), human_size(f.size))),
            )
            .collect();
        let mut out = format!(
            "{shown}/ ({} files, {} directories",
            files.len(),
            dirs.len()
        );
        if entries.len() <= MAX_LIST_ENTRIES {
            // The whole subtree fits: list it recursively.
            entries.sort();
            out.push_str(")\n");
            for (name, size) in entries {
                out.push_str(&listing_line(&name, &size));
            }
            return Ok(out);
        }
        // Too many to list: show the immediate children, directories with their counts.
        out.push_str("; showing the top level only)\n");
        let mut children: Vec<(String, String)> = Vec::new();
        for d in dirs
            .iter()
            .map(|d| &d[prefix.len()..])
            .filter(|d| !d.contains('/'))
        {
            let inner = format!("{prefix}{d}/");
            let count = files.iter().filter(|f| f.rel.starts_with(&inner)).count();
            children.push((format!("{d}/"), format!("{count} files")));
        }
        for f in files
            .iter()
            .filter(|f| !f.rel[prefix.len()..].contains('/'))
        {
            children.push((f.rel[prefix.len()..].to_string(), human_size(f.size)));
        }
        children.sort();
        let total = children.len();
        for (name, size) in children.iter().take(MAX_LIST_ENTRIES) {
            out.push_str(&listing_line(name, size));
        }
        if total > MAX_LIST_ENTRIES {
            out.push_str(&format!(
                "[{} more entries cut; use grep with a glob path (e.g. \"{prefix}**/*.rs\") to \
                 find files]\n",
                total - MAX_LIST_ENTRIES
            ));
        } else {
            out.push_str("[call list_dir on a subdirectory to see inside it]\n");
        }
        Ok(out)
    }

    pub(super) fn grep(&self, args: &Value) -> ToolResult {
        let pattern = args::required_str(args, "pattern")?;
        let scope = args::optional_str(args, "path")?;
        let build = |whole_text: bool| {
            regex::RegexBuilder::new(pattern)
                .multi_line(whole_text)
                .crlf(whole_text)
                .size_limit(4 * 1024 * 1024)
                .build()
        };
        let regex = build(false).map_err(|e| {
            format!(
                "`{}` is not a valid regular expression: {e}; escape special \
                 characters such as ( [ . * with a backslash to match them literally",
                clip_echo(pattern)
            )
        })?;
        // One search over the whole file rules most files out quickly; only files that may
        // match are searched line by line. Multi-line mode keeps `^` and `$` meaning line
        // boundaries there, so no file with a matching line is ruled out.
        let prefilter = build(true).map_err(|e| e.to_string())?;
        let (selected, scope_label) = self.grep_scope(scope)?;
        let mut matches = Vec::new();
        let mut total = 0usize;
        let mut files_with = 0usize;
        let mut skipped = 0usize;
        for file in &selected {
            let Ok(text) = self.load(file) else {
                skipped += 1;
                continue;
            };
            if !prefilter.is_match(&text) {
                continue;
            }
            let mut found_here = false;
            for (i, line) in text.lines().enumerate() {
                let Some(m) = regex.find(line) else {
                    continue;
                };
                total += 1;
                found_here = true;
                if matches.len() < MAX_GREP_MATCHES {
                    matches.push(format!(
                        "{}:{}: {}",
                        file.rel,
                        i + 1,
                        excerpt(line, m.start())
                    ));
                }
            }
            files_with += usize::from(found_here);
        }
        let skipped_note = if skipped > 0 {
            format!(" ({skipped} large or binary files skipped)")
        } else {
            String::new()
        };
        if total == 0 {
            return Ok(format!(
                "no matches for `{}` in {scope_label} ({} files searched){skipped_note}",
                clip_echo(pattern),
                selected.len()
            ));
        }
        let mut out = matches.join("\n");
        out.push('\n');
        if total > matches.len() {
            out.push_str(&format!(
                "[{} of {total} matching lines shown, in {files_with} files; narrow the pattern \
                 or the path to see the rest]{skipped_note}\n",
                matches.len()
            ));
        } else {
            out.push_str(&format!(
                "[{total} matching lines in {files_with} files]{skipped_note}\n"
            ));
        }
        Ok(out)
    }

    /// The files `grep` searches: all, a directory, one file, or a glob.
    fn grep_scope(&self, scope: Option<&str>) -> Result<(Vec<&FileEntry>, String), String> {
        let Some(scope) = scope.map(str::trim) else {
            return Ok((self.files.iter().collect(), "the repository".to_string()));
        };
        if scope.contains(['*', '?', '[', '{']) {
            // Globs only ever match indexed files, so they cannot reach outside the root;
            // `..` and absolute globs are refused to keep the message honest.
            let normalized = self.root.normalize(scope)?;
            let mut builder = ignore::overrides::OverrideBuilder::new(self.root.path());
            builder
                .add(&normalized)
                .map_err(|e| format!("`{}` is not a valid glob: {e}", clip_echo(scope)))?;
            let glob = builder
                .build()
                .map_err(|e| format!("`{}` is not a valid glob: {e}", clip_echo(scope)))?;
            let files = self
                .files
                .iter()
                .filter(|f| glob.matched(Path::new(&f.rel), false).is_whitelist())
                .collect();
            return Ok((files, format!("files matching `{normalized}`")));
        }
        let confined = self.root.resolve(scope)?;
        let rel = confined.rel;
        if rel.is_empty() {
            return Ok((self.files.iter().collect(), "the repository".to_string()));
        }
        if let Some(&i) = self.by_path.get(&rel) {
            return Ok((vec![&self.files[i]], format!("`{rel}`")));
        }
        if !self.dirs.contains(&rel) {
            return Err(format!(
                "`{rel}` is excluded from the repository view (ignored by .gitignore)"
            ));
        }
        let prefix = format!("{rel}/");
        let files = self
            .files
            .iter()
            .filter(|f| f.rel.starts_with(&prefix))
            .collect();
        Ok((files, format!("`{rel}/`")))
    }
}

impl RepoWorkspace {
    pub(super) fn reading_tool_specs(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "read_file".into(),
                description: format!(
                    "Read a text file of the repository. Lines come numbered (1-based); give \
                     `start` and `end` (inclusive) to read a range. At most {MAX_READ_LINES} \
                     lines per call; the output says how to read on."
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "File path relative to the repository root, e.g. \"src/main.rs\"."},
                        "start": {"type": "integer", "minimum": 1, "description": "First line to read (1-based, default 1)."},
                        "end": {"type": "integer", "minimum": 1, "description": "Last line to read (inclusive)."}
                    },
                    "required": ["path"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "list_dir".into(),
                description: "List the files and directories under a directory of the \
                              repository (recursively when it is small, else the top level \
                              with file counts). Directories end with `/`; ignored files are \
                              not shown."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "path": {"type": "string", "description": "Directory relative to the repository root; \".\" for the root."}
                    },
                    "required": ["path"],
                    "additionalProperties": false
                }),
            },
            ToolSpec {
                name: "grep".into(),
                description: format!(
                    "Search file contents with a regular expression (Rust regex syntax; \
                     `(?i)` for case-insensitive). Results are `path:line: text`, at most \
                     {MAX_GREP_MATCHES} lines. Limit the search with `path`: a directory, a \
                     file, or a glob such as \"src/**/*.rs\" or \"*.py\"."
                ),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "pattern": {"type": "string", "description": "Regular expression, matched line by line."},
                        "path": {"type": "string", "description": "Directory, file or glob to search (default: the whole repository)."}
                    },
                    "required": ["pattern"],
                    "additionalProperties": false
                }),
            },
        ]
    }
}

fn listing_line(name: &str, size: &str) -> String {
    if size.is_empty() {
        format!("{name}\n")
    } else {
        format!("{name}  ({size})\n")
    }
}

/// A grep result line, cut to a window that shows the match.
fn excerpt(line: &str, match_start: usize) -> String {
    let line = line.trim_end();
    if line.chars().count() <= MAX_GREP_LINE_CHARS {
        return line.trim_start().to_string();
    }
    let mut from = match_start.saturating_sub(60);
    while !line.is_char_boundary(from) {
        from -= 1;
    }
    let body = crate::text::clip(&line[from..], MAX_GREP_LINE_CHARS);
    if from > 0 { format!("…{body}") } else { body }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_grep_lines_keep_the_match_visible() {
        let line = format!("{}NEEDLE{}", "x".repeat(500), "y".repeat(500));
        let e = excerpt(&line, 500);
        assert!(e.contains("NEEDLE"));
        assert!(e.starts_with('…'));
    }
}
