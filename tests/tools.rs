//! Workspace tools on the fixtures: repository reads, confinement, document ingest, BM25
//! search and evidence resolution.

use delm::engine::tools::docs::DocsWorkspace;
use delm::engine::tools::repo::RepoWorkspace;
use delm::engine::tools::{ToolContext, ToolResult, Workspace};
use delm::event::Evidence;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn fixture_str(name: &str) -> String {
    fixture(name).to_string_lossy().into_owned()
}

async fn call(ws: &dyn Workspace, tool: &str, args: Value) -> ToolResult {
    ws.call(&ToolContext::default(), tool, &args)
        .await
        .unwrap_or_else(|| panic!("`{tool}` is not a tool of this workspace"))
}

fn evidence(source: &str, lines: Option<&str>, quote: &str) -> Evidence {
    Evidence {
        source: source.into(),
        lines: lines.map(str::to_string),
        quote: quote.into(),
        resolved: None,
    }
}

/// A copy of the fixture repository in a temp dir, with its git-ignored file present (the
/// ignored file is not necessarily in version control, so it is written here).
fn repo_copy() -> (tempfile::TempDir, RepoWorkspace) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("repo"), dir.path());
    std::fs::write(dir.path().join("secrets.env"), "CALC_API_TOKEN=not-real\n").unwrap();
    let ws = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    (dir, ws)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn fixture_docs() -> DocsWorkspace {
    DocsWorkspace::open(&[fixture_str("docs")]).unwrap()
}

// ----------------------------------------------------------------------------------------
// Repository: opening and reading
// ----------------------------------------------------------------------------------------

#[test]
fn opening_a_missing_or_non_directory_root_names_the_path() {
    let err = RepoWorkspace::open("/no/such/repo").err().unwrap();
    assert!(err.contains("/no/such/repo"), "{err}");
    let file = fixture_str("repo/README.md");
    let err = RepoWorkspace::open(&file).err().unwrap();
    assert!(
        err.contains("not a directory") && err.contains("README.md"),
        "{err}"
    );
}

#[tokio::test]
async fn read_file_numbers_lines_and_reads_ranges() {
    let ws = RepoWorkspace::open(&fixture_str("repo")).unwrap();
    let out = call(&ws, "read_file", json!({"path": "calc/lexer.py"}))
        .await
        .unwrap();
    assert!(out.starts_with("calc/lexer.py (lines 1-"), "{out}");
    assert!(out.contains("   1 | \"\"\"A small lexer"), "{out}");
    assert!(
        out.contains("| def tokenize(source: str) -> list[Token]:"),
        "{out}"
    );

    let out = call(
        &ws,
        "read_file",
        json!({"path": "./calc/lexer.py", "start": 30, "end": 33}),
    )
    .await
    .unwrap();
    let body: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(body.len(), 4, "{out}");
    assert!(body[0].starts_with("  30 | "), "{out}");
    assert!(body[3].starts_with("  33 | "), "{out}");
    assert!(
        !out.contains("read on"),
        "an explicit range needs no note: {out}"
    );

    // Numbers given as strings are accepted; bad ranges are explained.
    let out = call(
        &ws,
        "read_file",
        json!({"path": "calc/lexer.py", "start": "2", "end": "2"}),
    )
    .await
    .unwrap();
    assert!(out.contains("   2 | \n") || out.contains("   2 |"), "{out}");
    let err = call(
        &ws,
        "read_file",
        json!({"path": "calc/lexer.py", "start": 9000}),
    )
    .await
    .unwrap_err();
    assert!(err.contains("lines") && err.contains("start"), "{err}");
    let err = call(
        &ws,
        "read_file",
        json!({"path": "calc/lexer.py", "start": 5, "end": 2}),
    )
    .await
    .unwrap_err();
    assert!(err.contains("before"), "{err}");
    let err = call(&ws, "read_file", json!({"path": "calc/lexr.py"}))
        .await
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let err = call(&ws, "read_file", json!({"path": "lexer.py"}))
        .await
        .unwrap_err();
    assert!(err.contains("did you mean `calc/lexer.py`"), "{err}");
    let err = call(&ws, "read_file", json!({"path": "calc"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("directory") && err.contains("list_dir"),
        "{err}"
    );
    let err = call(&ws, "read_file", json!({})).await.unwrap_err();
    assert!(err.contains("missing argument `path`"), "{err}");
}

#[tokio::test]
async fn read_file_output_is_capped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let long: String = (1..=1000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(dir.path().join("long.txt"), long).unwrap();
    let ws = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    let out = call(&ws, "read_file", json!({"path": "long.txt", "end": 1000}))
        .await
        .unwrap();
    assert!(out.starts_with("long.txt (lines 1-400 of 1000)"), "{out}");
    assert!(out.contains(" 400 | line 400\n"));
    assert!(!out.contains("line 401\n"));
    assert!(
        out.contains("read on with start=401"),
        "{}",
        out.lines().last().unwrap()
    );
}

#[tokio::test]
async fn binary_and_oversized_files_are_refused_politely() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("logo.png"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    )
    .unwrap();
    std::fs::write(dir.path().join("huge.log"), vec![b'a'; 3 * 1024 * 1024]).unwrap();
    std::fs::write(dir.path().join("ok.txt"), "needle\n").unwrap();
    let ws = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    let err = call(&ws, "read_file", json!({"path": "logo.png"}))
        .await
        .unwrap_err();
    assert!(err.contains("binary"), "{err}");
    let err = call(&ws, "read_file", json!({"path": "huge.log"}))
        .await
        .unwrap_err();
    assert!(err.contains("3.0 MB") && err.contains("limit"), "{err}");
    // grep skips them and says so.
    let out = call(&ws, "grep", json!({"pattern": "needle|a"}))
        .await
        .unwrap();
    assert!(out.contains("ok.txt:1: needle"), "{out}");
    assert!(out.contains("2 large or binary files skipped"), "{out}");
}

#[tokio::test]
async fn list_dir_marks_directories_and_hides_ignored_files() {
    let (dir, ws) = repo_copy();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    // Reopen so the new .git dir is seen by the walk.
    let ws2 = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    for ws in [&ws, &ws2] {
        let out = call(ws, "list_dir", json!({"path": "."})).await.unwrap();
        assert!(out.lines().any(|l| l == "calc/"), "{out}");
        assert!(
            out.lines().any(|l| l.starts_with("calc/lexer.py  (")),
            "{out}"
        );
        assert!(out.lines().any(|l| l.starts_with(".gitignore")), "{out}");
        assert!(!out.contains("secrets.env"), "ignored file listed: {out}");
        assert!(!out.contains(".git/"), "{out}");
    }
    let out = call(&ws, "list_dir", json!({"path": "tests"}))
        .await
        .unwrap();
    assert!(out.starts_with("tests/ (1 files, 0 directories)"), "{out}");
    assert!(out.contains("test_lexer.py"), "{out}");
    let err = call(&ws, "list_dir", json!({"path": "README.md"}))
        .await
        .unwrap_err();
    assert!(err.contains("is a file"), "{err}");
    // The ignored file cannot be read either, though it exists.
    let err = call(&ws, "read_file", json!({"path": "secrets.env"}))
        .await
        .unwrap_err();
    assert!(err.contains("ignored by .gitignore"), "{err}");
    let out = call(&ws, "grep", json!({"pattern": "CALC_API_TOKEN"}))
        .await
        .unwrap();
    assert!(out.starts_with("no matches"), "{out}");
}

#[tokio::test]
async fn list_dir_of_a_big_tree_shows_the_top_level_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    for d in 0..4 {
        let sub = dir.path().join(format!("pkg{d}"));
        std::fs::create_dir(&sub).unwrap();
        for f in 0..100 {
            std::fs::write(sub.join(format!("m{f}.py")), "x = 1\n").unwrap();
        }
    }
    std::fs::write(dir.path().join("setup.py"), "").unwrap();
    let ws = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    let out = call(&ws, "list_dir", json!({"path": ""})).await.unwrap();
    assert!(out.contains("top level only"), "{out}");
    assert!(out.contains("pkg2/  (100 files)"), "{out}");
    assert!(out.contains("setup.py"), "{out}");
    assert!(out.lines().count() < 12, "{out}");
}

#[tokio::test]
async fn grep_finds_regex_matches_with_paths_and_line_numbers() {
    let ws = RepoWorkspace::open(&fixture_str("repo")).unwrap();
    let out = call(&ws, "grep", json!({"pattern": r"def \w+\("}))
        .await
        .unwrap();
    assert!(
        out.contains("calc/lexer.py:15: def tokenize(source: str) -> list[Token]:"),
        "{out}"
    );
    assert!(out.contains("calc/evaluate.py:"), "{out}");
    assert!(out.contains("tests/test_lexer.py:"), "{out}");
    // A directory scope.
    let out = call(&ws, "grep", json!({"pattern": "def ", "path": "calc"}))
        .await
        .unwrap();
    assert!(!out.contains("tests/"), "{out}");
    // A glob scope.
    let out = call(
        &ws,
        "grep",
        json!({"pattern": "tokenize", "path": "tests/*.py"}),
    )
    .await
    .unwrap();
    assert!(
        out.lines()
            .all(|l| l.starts_with("tests/") || l.starts_with('[')),
        "{out}"
    );
    let out = call(&ws, "grep", json!({"pattern": "(?i)LEXER", "path": "*.md"}))
        .await
        .unwrap();
    assert!(out.contains("README.md:"), "{out}");
    // A single file scope.
    let out = call(
        &ws,
        "grep",
        json!({"pattern": "find", "path": "calc/lexer.py"}),
    )
    .await
    .unwrap();
    assert!(out.contains("calc/lexer.py:32:"), "{out}");
    // No match is an answer, not an error.
    let out = call(&ws, "grep", json!({"pattern": "no_such_identifier"}))
        .await
        .unwrap();
    assert!(
        out.starts_with("no matches for `no_such_identifier`"),
        "{out}"
    );
    let err = call(&ws, "grep", json!({"pattern": "tokenize("}))
        .await
        .unwrap_err();
    assert!(err.contains("not a valid regular expression"), "{err}");
}

#[tokio::test]
async fn grep_output_is_capped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let body: String = (0..150).map(|i| format!("match {i}\n")).collect();
    std::fs::write(dir.path().join("a.txt"), &body).unwrap();
    std::fs::write(dir.path().join("b.txt"), &body).unwrap();
    let ws = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    let out = call(&ws, "grep", json!({"pattern": "^match"}))
        .await
        .unwrap();
    assert_eq!(out.lines().filter(|l| l.contains(": match")).count(), 100);
    assert!(
        out.contains("[100 of 300 matching lines shown, in 2 files"),
        "{out}"
    );
}

// ----------------------------------------------------------------------------------------
// Confinement
// ----------------------------------------------------------------------------------------

#[tokio::test]
async fn parent_and_absolute_paths_are_refused() {
    let ws = RepoWorkspace::open(&fixture_str("repo")).unwrap();
    for tool in ["read_file", "list_dir"] {
        let err = call(&ws, tool, json!({"path": "../docs/notes/analyst_call.txt"}))
            .await
            .unwrap_err();
        assert!(err.contains("leaves the repository root"), "{tool}: {err}");
        let err = call(&ws, tool, json!({"path": "/etc/passwd"}))
            .await
            .unwrap_err();
        assert!(err.contains("absolute path"), "{tool}: {err}");
    }
    let err = call(
        &ws,
        "read_file",
        json!({"path": "calc/../../../Cargo.toml"}),
    )
    .await
    .unwrap_err();
    assert!(err.contains("leaves the repository root"), "{err}");
    let err = call(&ws, "grep", json!({"pattern": "x", "path": "../"}))
        .await
        .unwrap_err();
    assert!(err.contains("leaves the repository root"), "{err}");
    let err = call(&ws, "grep", json!({"pattern": "x", "path": "/etc/*.conf"}))
        .await
        .unwrap_err();
    assert!(err.contains("absolute path"), "{err}");
    let err = ws
        .resolve(&evidence("../../Cargo.toml", None, "delm"))
        .unwrap_err();
    assert!(err.contains("leaves the repository root"), "{err}");
    // An absolute path inside the root is refused too, but with the relative form to use.
    let abs = ws.root().join("calc/lexer.py");
    let err = call(&ws, "read_file", json!({"path": abs.to_str().unwrap()}))
        .await
        .unwrap_err();
    assert!(err.contains("use `calc/lexer.py`"), "{err}");
}

#[cfg(unix)]
#[tokio::test]
async fn symlinks_leading_out_of_the_root_are_refused() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("repo");
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/main.rs"), "fn main() {}\n").unwrap();
    std::fs::write(outer.path().join("secret.txt"), "TOP SECRET outside\n").unwrap();
    std::fs::create_dir(outer.path().join("elsewhere")).unwrap();
    std::fs::write(outer.path().join("elsewhere/x.txt"), "TOP SECRET dir\n").unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), root.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink(outer.path().join("elsewhere"), root.join("linkdir")).unwrap();
    // A link that stays inside the root is fine.
    std::os::unix::fs::symlink(root.join("src/main.rs"), root.join("main_link.rs")).unwrap();
    let ws = RepoWorkspace::open(root.to_str().unwrap()).unwrap();

    let err = call(&ws, "read_file", json!({"path": "leak.txt"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("symbolic link") && err.contains("outside"),
        "{err}"
    );
    let err = call(&ws, "read_file", json!({"path": "linkdir/x.txt"}))
        .await
        .unwrap_err();
    assert!(err.contains("outside"), "{err}");
    let err = call(&ws, "list_dir", json!({"path": "linkdir"}))
        .await
        .unwrap_err();
    assert!(err.contains("outside"), "{err}");
    let err = call(&ws, "grep", json!({"pattern": "SECRET", "path": "linkdir"}))
        .await
        .unwrap_err();
    assert!(err.contains("outside"), "{err}");
    let out = call(&ws, "grep", json!({"pattern": "SECRET"}))
        .await
        .unwrap();
    assert!(out.starts_with("no matches"), "{out}");
    let listing = call(&ws, "list_dir", json!({"path": "."})).await.unwrap();
    assert!(!listing.contains("leak.txt"), "{listing}");
    let err = ws
        .resolve(&evidence("leak.txt", None, "TOP SECRET"))
        .unwrap_err();
    assert!(err.contains("outside"), "{err}");

    let out = call(&ws, "read_file", json!({"path": "main_link.rs"}))
        .await
        .unwrap();
    assert!(out.contains("fn main() {}"), "{out}");
}

// ----------------------------------------------------------------------------------------
// Repository: evidence
// ----------------------------------------------------------------------------------------

#[test]
fn repo_evidence_resolves_modulo_whitespace_and_case_with_real_lines() {
    let ws = RepoWorkspace::open(&fixture_str("repo")).unwrap();
    let quote = "END = SOURCE.find(\"\\n\", i)\n   if end == -1:\n break";
    let r = ws
        .resolve(&evidence("calc/lexer.py", Some("25-39"), quote))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/lexer.py:32-34"));
    assert!(
        r.context
            .contains("  32 |             end = source.find(\"\\n\", i)"),
        "{}",
        r.context
    );
    assert!(
        r.context.contains("  30 |"),
        "context has lines around: {}",
        r.context
    );
    // Without lines, the whole file is searched.
    let r = ws
        .resolve(&evidence("calc/lexer.py", None, "class Token:"))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/lexer.py:7"));
    // `path:lines` in the source is understood, and read_file's prefixes are forgiven.
    let r = ws
        .resolve(&evidence(
            "calc/lexer.py:32-33",
            None,
            "  32 |             end = source.find(\"\\n\", i)",
        ))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/lexer.py:32"));
}

#[test]
fn repo_evidence_failures_say_what_to_fix() {
    let ws = RepoWorkspace::open(&fixture_str("repo")).unwrap();
    // A bad lines range.
    // A bad lines range is reported in the note; the quote is found where it is.
    let r = ws
        .resolve(&evidence("calc/lexer.py", Some("300-320"), "break"))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/lexer.py:34"));
    let note = r.note.unwrap();
    assert!(
        note.contains("lines 300-320 do not exist") && note.contains("found at line 34"),
        "{note}"
    );
    let r = ws
        .resolve(&evidence("calc/lexer.py", Some("twelve"), "break"))
        .unwrap();
    assert!(r.note.unwrap().contains("not a line range"));
    // ...and in the error when the quote is nowhere.
    let err = ws
        .resolve(&evidence("calc/lexer.py", Some("twelve"), "breakpoint()"))
        .unwrap_err();
    assert!(
        err.contains("not a line range") && err.contains("quote not found"),
        "{err}"
    );
    // The quote is in the file, but not at the cited lines: resolved where it is, with a
    // note saying so.
    let r = ws
        .resolve(&evidence("calc/lexer.py", Some("1-5"), "if end == -1:"))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/lexer.py:33"));
    assert_eq!(
        r.note.as_deref(),
        Some("quote found at line 33, not at lines 1-5")
    );
    // The quote is nowhere: the closest line is offered.
    let err = ws
        .resolve(&evidence(
            "calc/lexer.py",
            Some("31-35"),
            "if end == 0: return tokens",
        ))
        .unwrap_err();
    assert!(
        err.contains("quote not found in calc/lexer.py:31-35"),
        "{err}"
    );
    assert!(
        err.contains("closest line there is 33: `if end == -1:`"),
        "{err}"
    );
    // Missing files, missing quotes, command citations.
    let err = ws
        .resolve(&evidence("calc/parser.py", None, "x"))
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let err = ws
        .resolve(&evidence("calc/lexer.py", None, "  "))
        .unwrap_err();
    assert!(err.contains("no quote"), "{err}");
    let err = ws.resolve(&evidence("cmd:3", None, "FAILED")).unwrap_err();
    assert_eq!(
        err,
        "no command runs are recorded in this run (commands need --allow-exec)"
    );
}

#[tokio::test]
async fn repo_describes_itself_and_offers_the_read_tools() {
    let ws = RepoWorkspace::open(&fixture_str("repo")).unwrap();
    let names: Vec<String> = ws.tool_specs().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["read_file", "list_dir", "grep"]);
    for spec in ws.tool_specs() {
        assert_eq!(spec.parameters["type"], "object");
        assert!(spec.parameters["required"].is_array());
        assert!(spec.description.len() > 40);
    }
    let d = ws.describe();
    assert!(
        d.contains("`repo`") && d.contains("calc/") && d.contains("README.md"),
        "{d}"
    );
    // One planning task that carries the goal; without --allow-exec it does not ask for
    // commands.
    let plan = ws.initial_tasks("why does the lexer drop comments?");
    assert_eq!(plan.len(), 1);
    assert!(plan[0].0.starts_with("Plan"));
    assert!(plan[0].1.contains("why does the lexer drop comments?"));
    assert!(!plan[0].1.contains("run_command"));
    assert!(
        ws.call(&ToolContext::default(), "read_doc", &json!({}))
            .await
            .is_none()
    );
    assert!(ws.files().any(|f| f == "tests/test_lexer.py"));
}

// ----------------------------------------------------------------------------------------
// Documents
// ----------------------------------------------------------------------------------------

#[test]
fn docs_ingest_supported_formats_with_relative_ids() {
    let ws = fixture_docs();
    assert_eq!(
        ws.doc_ids(),
        [
            "acme/annual_report_2024.md",
            "data/headcount.json",
            "data/revenue.csv",
            "globex/annual_report_2024.pdf",
            "market/overview.html",
            "notes/analyst_call.txt",
        ]
    );
    // HTML: tags, scripts and styles gone, entities decoded, headings kept as `#` lines.
    let html = ws.text("market/overview.html").unwrap();
    assert!(
        html.starts_with("# Industrial Sensor Market Overview 2024"),
        "{html}"
    );
    assert!(
        html.contains("reached €2.1 billion in 2024, growing 4 percent"),
        "{html}"
    );
    assert!(html.contains("both invest heavily in R&D."), "{html}");
    assert!(
        html.contains("- Acme Corp — strongest in smart meters"),
        "{html}"
    );
    assert!(
        !html.contains("analytics") && !html.contains("font-family"),
        "{html}"
    );
    assert!(
        !html.contains("editorial note") && !html.contains('<'),
        "{html}"
    );
    // JSON is pretty-printed.
    let json = ws.text("data/headcount.json").unwrap();
    assert!(
        json.contains("\n  \"employees\": {\n    \"Acme Corp\": 1875,"),
        "{json}"
    );
    // PDF: the text layer.
    let pdf = ws.text("globex/annual_report_2024.pdf").unwrap();
    assert!(
        pdf.contains("Globex Industries reported 2024 revenue of $388.1 million"),
        "{pdf}"
    );
}

#[test]
fn docs_open_errors_name_the_path() {
    let err = DocsWorkspace::open(&["/no/such/docs".to_string()])
        .err()
        .unwrap();
    assert!(err.contains("/no/such/docs"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("slides.pptx"), "PK\x03\x04").unwrap();
    let err = DocsWorkspace::open(&[empty.path().to_str().unwrap().to_string()])
        .err()
        .unwrap();
    assert!(
        err.contains("no readable documents") && err.contains(".pdf"),
        "{err}"
    );
    assert!(
        err.contains("slides.pptx: unsupported type `.pptx`"),
        "{err}"
    );
}

#[test]
fn several_roots_prefix_ids_with_the_root_name() {
    let ws = DocsWorkspace::open(&[
        fixture_str("docs/acme"),
        fixture_str("docs/notes"),
        fixture_str("docs/globex/annual_report_2024.pdf"),
    ])
    .unwrap();
    assert_eq!(
        ws.doc_ids(),
        [
            "acme/annual_report_2024.md",
            "notes/analyst_call.txt",
            "annual_report_2024.pdf"
        ]
    );
}

#[tokio::test]
async fn read_doc_opens_with_the_structural_index_and_reads_exact_spans() {
    let ws = fixture_docs();
    let out = call(
        &ws,
        "read_doc",
        json!({"doc": "acme/annual_report_2024.md"}),
    )
    .await
    .unwrap();
    assert!(
        out.starts_with("acme/annual_report_2024.md (markdown, "),
        "{out}"
    );
    let text = ws.text("acme/annual_report_2024.md").unwrap();
    let results_at = text.find("## Financial results").unwrap();
    assert!(
        out.contains(&format!("{results_at:>8}:   Financial results\n")),
        "index line with the offset of the section: {out}"
    );
    assert!(
        out.contains("Acme Corp designs and sells industrial sensors"),
        "{out}"
    );

    // An exact span, in characters.
    let out = call(
        &ws,
        "read_doc",
        json!({"doc": "acme/annual_report_2024.md", "offset": results_at, "len": 20}),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        format!(
            "[acme/annual_report_2024.md@{results_at}+20 of {} characters, line 6 of 22]\n\
             ## Financial results\n[continues; read on with read_doc offset={}]",
            text.chars().count(),
            results_at + 20
        )
    );

    // Character offsets stay exact past multi-byte characters (the € sign).
    let html = ws.text("market/overview.html").unwrap();
    let euro_char = html.chars().position(|c| c == '€').unwrap();
    let out = call(
        &ws,
        "read_doc",
        json!({"doc": "market/overview.html", "offset": euro_char, "len": 12}),
    )
    .await
    .unwrap();
    assert!(
        out.ends_with("€2.1 billion\n[continues; read on with read_doc offset=")
            || out.contains("\n€2.1 billion\n"),
        "{out}"
    );

    // PDFs show their pages and title-like lines in the index.
    let out = call(
        &ws,
        "read_doc",
        json!({"doc": "globex/annual_report_2024.pdf"}),
    )
    .await
    .unwrap();
    assert!(out.contains("1 pages"), "{out}");
    assert!(out.contains("Financial highlights [p.1]"), "{out}");

    // Forgiving lookup, helpful failures.
    let out = call(&ws, "read_doc", json!({"doc": "analyst_call.txt"}))
        .await
        .unwrap();
    assert!(out.starts_with("notes/analyst_call.txt"), "{out}");
    let err = call(&ws, "read_doc", json!({"doc": "annual_report_2024.md.bak"}))
        .await
        .unwrap_err();
    assert!(
        err.contains("no document") && err.contains("acme/annual_report_2024.md"),
        "{err}"
    );
    let err = call(
        &ws,
        "read_doc",
        json!({"doc": "notes/analyst_call.txt", "offset": 100000}),
    )
    .await
    .unwrap_err();
    assert!(err.contains("past the end"), "{err}");
}

#[tokio::test]
async fn search_docs_finds_the_chunk_holding_a_planted_fact() {
    let ws = fixture_docs();
    let text = ws.text("acme/annual_report_2024.md").unwrap();
    let out = call(&ws, "search_docs", json!({"query": "Acme revenue in 2024"}))
        .await
        .unwrap();
    // The two top hits hold the figure: the revenue table's rows and the report's passage.
    let hits: Vec<&str> = out.lines().filter(|l| l.starts_with(['1', '2'])).collect();
    let table = hits
        .iter()
        .find(|l| l.contains("data/revenue.csv offset="))
        .unwrap_or_else(|| panic!("the revenue table in the top two: {out}"));
    let (offset, len) = hit_span(table);
    let rows: String = ws
        .text("data/revenue.csv")
        .unwrap()
        .chars()
        .skip(offset)
        .take(len)
        .collect();
    assert!(rows.contains("Acme,412.5"), "{rows}");
    let report = hits
        .iter()
        .find(|l| l.contains("acme/annual_report_2024.md offset="))
        .unwrap_or_else(|| panic!("the report in the top two: {out}"));
    let (offset, len) = hit_span(report);
    let chunk: String = text.chars().skip(offset).take(len).collect();
    assert!(
        chunk.contains("Acme Corp's 2024 revenue was $412.5 million"),
        "{chunk}"
    );
    // Every hit says which lines it covers, citable as `lines`.
    assert!(report.contains(" lines "), "{report}");
    assert!(
        out.contains("Read a passage exactly with read_doc"),
        "{out}"
    );

    // Ranking is by relevance: the analyst notes on Acme's margin are relevant too, but the
    // passage with the figure is among the top hits.
    let out = call(
        &ws,
        "search_docs",
        json!({"query": "Acme operating margin 2024"}),
    )
    .await
    .unwrap();
    let top3: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with(['1', '2', '3']))
        .collect();
    assert!(
        top3.iter().any(|l| {
            let (offset, len) = hit_span(l);
            l.contains("acme/annual_report_2024.md")
                && text
                    .chars()
                    .skip(offset)
                    .take(len)
                    .collect::<String>()
                    .contains("14.8%")
        }),
        "{out}"
    );

    let out = call(
        &ws,
        "search_docs",
        json!({"query": "what were Globex's revenues?"}),
    )
    .await
    .unwrap();
    let first = out.lines().nth(2).unwrap();
    assert!(
        first.starts_with("1. globex/annual_report_2024.pdf"),
        "{out}"
    );
    assert!(out.contains("$388.1 million"), "{out}");

    let out = call(&ws, "search_docs", json!({"query": "zebra quantum"}))
        .await
        .unwrap();
    assert!(out.starts_with("no passage matches"), "{out}");
    let err = call(&ws, "search_docs", json!({"query": "the of"}))
        .await
        .unwrap_err();
    assert!(err.contains("no searchable words"), "{err}");
}

#[tokio::test]
async fn text_from_the_pdf_is_searchable() {
    let ws = fixture_docs();
    let out = call(
        &ws,
        "search_docs",
        json!({"query": "Rotterdam plant capacity"}),
    )
    .await
    .unwrap();
    let first = out.lines().nth(2).unwrap();
    assert!(
        first.starts_with("1. globex/annual_report_2024.pdf"),
        "{out}"
    );
    assert!(first.contains("p.1"), "{first}");
    assert!(
        out.contains("Rotterdam plant reached full capacity"),
        "{out}"
    );
}

/// (offset, len) from a search hit line `N. id offset=X len=Y (...)`.
fn hit_span(line: &str) -> (usize, usize) {
    let num = |key: &str| -> usize {
        let at = line.find(key).unwrap() + key.len();
        line[at..].split(' ').next().unwrap().parse().unwrap()
    };
    (num("offset="), num("len="))
}

#[test]
fn doc_evidence_quoting_another_document_is_rejected() {
    let ws = fixture_docs();
    let err = ws
        .resolve(&evidence(
            "acme/annual_report_2024.md",
            None,
            "Globex Industries reported 2024 revenue of $388.1 million",
        ))
        .unwrap_err();
    assert!(
        err.starts_with("quote not found in acme/annual_report_2024.md"),
        "{err}"
    );
    assert!(err.contains("closest passage"), "{err}");
    let err = ws
        .resolve(&evidence(
            "acme/annual_report_2024.md",
            None,
            "Revenue was $512.5 million",
        ))
        .unwrap_err();
    assert!(err.contains("quote not found"), "{err}");
    let err = ws
        .resolve(&evidence("reports/q9.txt", None, "anything"))
        .unwrap_err();
    assert!(err.contains("no document `reports/q9.txt`"), "{err}");
    let err = ws.resolve(&evidence("cmd:1", None, "ok")).unwrap_err();
    assert!(err.contains("--allow-exec"), "{err}");
}

#[test]
fn doc_evidence_matching_modulo_whitespace_and_case_resolves_to_the_span() {
    let ws = fixture_docs();
    let text = ws.text("acme/annual_report_2024.md").unwrap();
    let quote = "acme corp's 2024 REVENUE was   $412.5 million,\n an increase of 9%";
    let r = ws
        .resolve(&evidence("acme/annual_report_2024.md", None, quote))
        .unwrap();
    let start = text.find("Acme Corp's 2024 revenue").unwrap();
    let original = "Acme Corp's 2024 revenue was $412.5 million, an increase of 9%";
    assert_eq!(
        r.evidence.resolved.as_deref(),
        Some(format!("acme/annual_report_2024.md@{start}+{}", original.len()).as_str())
    );
    assert!(r.context.contains(original), "{}", r.context);

    // In the PDF, across the text layer's line breaks, with a cited span.
    let pdf = ws.text("globex/annual_report_2024.pdf").unwrap();
    let at = pdf.find("Operating margin for fiscal 2024").unwrap();
    let r = ws
        .resolve(&evidence(
            "globex/annual_report_2024.pdf",
            Some(&format!("{}+200", at.saturating_sub(50))),
            "operating margin for fiscal 2024 was 21.7 percent",
        ))
        .unwrap();
    let len = "Operating margin for fiscal 2024 was 21.7 percent".len();
    assert_eq!(
        r.evidence.resolved.as_deref(),
        Some(format!("globex/annual_report_2024.pdf@{at}+{len}").as_str())
    );
    // A quote outside the cited span is found where it is, and the note says where.
    let r = ws
        .resolve(&evidence(
            "globex/annual_report_2024.pdf",
            Some("0+40"),
            "operating margin for fiscal 2024 was 21.7 percent",
        ))
        .unwrap();
    assert_eq!(
        r.evidence.resolved.as_deref(),
        Some(format!("globex/annual_report_2024.pdf@{at}+{len}").as_str())
    );
    let note = r.note.unwrap();
    assert!(
        note.contains(&format!("(offset {at}, len {len}), not at 0+40")),
        "{note}"
    );
    // The resolved form `doc@offset+len` is accepted as a source.
    let r = ws
        .resolve(&evidence(
            &format!("globex/annual_report_2024.pdf@{at}+{len}"),
            None,
            "Operating margin for fiscal 2024 was 21.7 percent",
        ))
        .unwrap();
    assert_eq!(
        r.evidence.resolved.as_deref(),
        Some(format!("globex/annual_report_2024.pdf@{at}+{len}").as_str())
    );
    // A span past the end is reported, not held against a quote that is there...
    let r = ws
        .resolve(&evidence(
            "globex/annual_report_2024.pdf",
            Some("99999+10"),
            "Operating margin for fiscal 2024",
        ))
        .unwrap();
    assert!(r.note.unwrap().contains("past the end"));
    // ...and is part of the error when the quote is nowhere.
    let err = ws
        .resolve(&evidence(
            "globex/annual_report_2024.pdf",
            Some("99999+10"),
            "operating margin for fiscal 2025 was 30 percent",
        ))
        .unwrap_err();
    assert!(
        err.contains("past the end") && err.contains("quote not found"),
        "{err}"
    );
}

#[test]
fn doc_evidence_offsets_count_characters_not_bytes() {
    let ws = fixture_docs();
    let html = ws.text("market/overview.html").unwrap();
    let r = ws
        .resolve(&evidence(
            "market/overview.html",
            None,
            "€2.1 billion in 2024",
        ))
        .unwrap();
    let start = html.chars().position(|c| c == '€').unwrap();
    assert_eq!(
        r.evidence.resolved.as_deref(),
        Some(format!("market/overview.html@{start}+20").as_str())
    );
}

#[test]
fn initial_tasks_cover_every_document_in_at_most_twelve_tasks() {
    let ws = fixture_docs();
    let tasks = ws.initial_tasks("Which vendor had the higher operating margin in 2024?");
    assert_eq!(tasks.len(), 6);
    assert_eq!(tasks[3].0, "Read globex/annual_report_2024.pdf");
    assert!(
        tasks[3]
            .1
            .contains("Which vendor had the higher operating margin in 2024?")
    );
    assert!(tasks[3].1.contains("- globex/annual_report_2024.pdf"));

    let dir = tempfile::tempdir().unwrap();
    for i in 0..30 {
        std::fs::write(
            dir.path().join(format!("note{i:02}.txt")),
            format!("Note {i}.\n"),
        )
        .unwrap();
    }
    let ws = DocsWorkspace::open(&[dir.path().to_str().unwrap().to_string()]).unwrap();
    let tasks = ws.initial_tasks("q");
    assert!(
        tasks.len() <= 12 && tasks.len() >= 10,
        "{} tasks",
        tasks.len()
    );
    for i in 0..30 {
        let id = format!("- note{i:02}.txt");
        assert_eq!(
            tasks.iter().filter(|t| t.1.contains(&id)).count(),
            1,
            "{id}"
        );
    }
    assert!(
        tasks[0].0.starts_with("Read note00.txt and "),
        "{}",
        tasks[0].0
    );
}

#[test]
fn docs_describe_lists_documents_and_tools() {
    let ws = fixture_docs();
    let d = ws.describe();
    assert!(
        d.contains("6 documents") && d.contains("- market/overview.html ("),
        "{d}"
    );
    // The span vocabulary is worded the same in the description and the citation help.
    let help = ws.citation_help();
    assert!(
        help.contains("\"12-15\"") && help.contains("\"1200+80\""),
        "{help}"
    );
    assert!(
        d.contains(help.split(" A verified point").next().unwrap()),
        "{d}"
    );
    let names: Vec<String> = ws.tool_specs().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["read_doc", "search_docs"]);
}

// ----------------------------------------------------------------------------------------
// One span vocabulary, lenient forms, redaction, skipped files
// ----------------------------------------------------------------------------------------

#[test]
fn doc_evidence_cites_line_ranges_as_models_write_them() {
    let ws = fixture_docs();
    // The habit that verified nothing before: `lines: "1-1"` on a document.
    let r = ws
        .resolve(&evidence(
            "notes/analyst_call.txt",
            Some("1-1"),
            "Analyst call notes, February 2025",
        ))
        .unwrap();
    assert_eq!(
        r.evidence.resolved.as_deref(),
        Some("notes/analyst_call.txt@0+33")
    );
    assert_eq!(r.note, None);
    // A range over a sentence wrapped across two lines, a `./` path, a line number.
    let r = ws
        .resolve(&evidence(
            "./acme/annual_report_2024.md",
            Some("8-9"),
            "Acme Corp's 2024 revenue was $412.5 million, an increase of 9% over 2023, driven by the smart-meter programme",
        ))
        .unwrap();
    assert_eq!(r.note, None, "{:?}", r.note);
    // `id:lines` and `id@offset+len` in the source.
    assert!(
        ws.resolve(&evidence(
            "notes/analyst_call.txt:5",
            None,
            "Globex management guided 2025 revenue"
        ))
        .unwrap()
        .note
        .is_none()
    );
    // The wrong lines: found elsewhere, with the place in both vocabularies.
    let r = ws
        .resolve(&evidence(
            "notes/analyst_call.txt",
            Some("1-2"),
            "The company plans to open a second plant in Poland in 2026.",
        ))
        .unwrap();
    let note = r.note.unwrap();
    assert!(
        note.starts_with("quote found at line 6 (offset ") && note.ends_with("not at lines 1-2"),
        "{note}"
    );
    // An absolute path to the document's file.
    let abs = fixture("docs/notes/analyst_call.txt");
    let r = ws
        .resolve(&evidence(
            abs.to_str().unwrap(),
            None,
            "Analyst call notes, February 2025",
        ))
        .unwrap();
    assert!(
        r.evidence
            .resolved
            .unwrap()
            .starts_with("notes/analyst_call.txt@")
    );
}

#[tokio::test]
async fn read_doc_reads_lines_and_search_hits_name_them() {
    let ws = fixture_docs();
    let out = call(
        &ws,
        "read_doc",
        json!({"doc": "notes/analyst_call.txt", "lines": "5-6"}),
    )
    .await
    .unwrap();
    assert!(out.contains(", lines 5-6 of 11]"), "{out}");
    assert!(
        out.contains("Globex management guided") && out.contains("Poland in 2026."),
        "{out}"
    );
    assert!(!out.contains("Acme guidance"), "{out}");
}

#[tokio::test]
async fn csv_documents_are_ingested_with_citable_rows() {
    let ws = fixture_docs();
    let out = call(&ws, "read_doc", json!({"doc": "data/revenue.csv"}))
        .await
        .unwrap();
    assert!(out.starts_with("data/revenue.csv (csv, "), "{out}");
    assert!(out.contains("columns: vendor, revenue_musd"), "{out}");
    assert!(out.contains("rows at lines 2-3: Acme … Globex"), "{out}");
    let r = ws
        .resolve(&evidence("data/revenue.csv", Some("3"), "Globex,388.1"))
        .unwrap();
    assert_eq!(r.note, None);
    assert!(r.context.contains("vendor,revenue_musd"), "{}", r.context);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plants.tsv"),
        "plant\tcity\tcapacity\nP-1\tRotterdam\t1200\nP-2\tGdansk\t800\n",
    )
    .unwrap();
    let ws = DocsWorkspace::open(&[dir.path().to_str().unwrap().to_string()]).unwrap();
    let r = ws
        .resolve(&evidence("plants.tsv", Some("3"), "P-2\tGdansk\t800"))
        .unwrap();
    assert_eq!(r.note, None);
}

#[test]
fn skipped_files_are_listed_with_their_reason_and_a_fifo_never_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("good.txt"), "A readable document about plants.\n").unwrap();
    std::fs::write(root.join("slides.pptx"), "PK").unwrap();
    std::fs::write(root.join("fake.pdf"), "this is not a PDF at all").unwrap();
    // A 500 MB file (sparse: no disk is used).
    let big = std::fs::File::create(root.join("huge.txt")).unwrap();
    big.set_len(500 * 1024 * 1024).unwrap();
    let fifo = root.join("pipe.txt");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo only creates a file system node in our temp dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink(root.join("gone.txt"), root.join("dangling.txt")).unwrap();

    let ws = DocsWorkspace::open(&[root.to_str().unwrap().to_string()]).unwrap();
    assert_eq!(ws.doc_ids(), ["good.txt"]);
    let skipped = ws.skipped();
    let reason = |name: &str| {
        skipped
            .iter()
            .find(|(path, _)| path.ends_with(name))
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| panic!("{name} is not listed: {skipped:?}"))
    };
    assert!(reason("slides.pptx").contains("unsupported type `.pptx`"));
    assert!(reason("fake.pdf").contains("PDF"), "{}", reason("fake.pdf"));
    assert!(reason("huge.txt").contains("500 MB, over the 64 MB limit"));
    assert!(reason("pipe.txt").contains("named pipe"));
    assert!(
        skipped
            .iter()
            .any(|(_, why)| why.contains("gone.txt") || why.contains("No such file")),
        "{skipped:?}"
    );
    // A FIFO named as the root is refused at once too.
    let err = DocsWorkspace::open(&[fifo.to_str().unwrap().to_string()])
        .err()
        .unwrap();
    assert!(err.contains("named pipe"), "{err}");
}

#[test]
fn repo_evidence_takes_dot_and_absolute_paths_and_the_nearest_of_several_matches() {
    let (dir, ws) = repo_copy();
    let lines: Vec<String> = (1..=40)
        .map(|i| {
            if i % 10 == 0 {
                "    total = total + step  # accumulate".to_string()
            } else {
                format!("    x{i} = {i}")
            }
        })
        .collect();
    std::fs::write(dir.path().join("calc/loop.py"), lines.join("\n") + "\n").unwrap();
    let ws = {
        drop(ws);
        RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap()
    };
    let quote = "total = total + step  # accumulate";
    let r = ws
        .resolve(&evidence("./calc/loop.py", Some("28-29"), quote))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/loop.py:30"));
    assert_eq!(
        r.note.as_deref(),
        Some("quote found at line 30, not at lines 28-29")
    );
    let abs = dir.path().join("calc/loop.py");
    let r = ws
        .resolve(&evidence(abs.to_str().unwrap(), Some("10"), quote))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/loop.py:10"));
    assert_eq!(r.note, None);
    let r = ws
        .resolve(&evidence("calc/loop.py#L20", None, quote))
        .unwrap();
    assert_eq!(r.evidence.resolved.as_deref(), Some("calc/loop.py:20"));
    // The vocabulary in the description and the citation help is the same sentence.
    let help = ws.citation_help();
    assert!(
        ws.describe()
            .contains(help.split(" A verified point").next().unwrap())
    );
}

#[tokio::test]
async fn tool_outputs_and_errors_are_redacted() {
    let secret = "sk-tools-test-redaction-6f1e2d3c";
    delm::redact::register(secret);
    let (dir, _) = repo_copy();
    std::fs::write(
        dir.path().join("config.py"),
        format!("API_KEY = \"{secret}\"\n"),
    )
    .unwrap();
    let ws = RepoWorkspace::open(dir.path().to_str().unwrap()).unwrap();
    let out = call(&ws, "read_file", json!({"path": "config.py"}))
        .await
        .unwrap();
    assert!(out.contains("API_KEY = \"***\""), "{out}");
    let out = call(&ws, "grep", json!({"pattern": "API_KEY"}))
        .await
        .unwrap();
    assert!(!out.contains(secret), "{out}");
    let err = call(&ws, "read_file", json!({"path": format!("{secret}.py")}))
        .await
        .unwrap_err();
    assert!(!err.contains(secret), "{err}");

    let docs = tempfile::tempdir().unwrap();
    std::fs::write(
        docs.path().join("leak.md"),
        format!("The key is {secret} in prod.\n"),
    )
    .unwrap();
    let ws = DocsWorkspace::open(&[docs.path().to_str().unwrap().to_string()]).unwrap();
    let out = call(&ws, "read_doc", json!({"doc": "leak.md"}))
        .await
        .unwrap();
    assert!(out.contains("The key is *** in prod."), "{out}");
}

#[tokio::test]
async fn huge_ids_and_queries_are_clipped_in_errors() {
    let ws = fixture_docs();
    let huge = "x".repeat(100_000);
    let err = call(&ws, "read_doc", json!({"doc": huge}))
        .await
        .unwrap_err();
    assert!(err.len() < 2_000, "{} bytes", err.len());
    assert!(err.contains("(100000 characters)"), "{}", &err[..200]);
    let out = call(
        &ws,
        "search_docs",
        json!({"query": format!("zebra {huge}")}),
    )
    .await
    .unwrap();
    assert!(out.len() < 2_000, "{} bytes", out.len());
    let err = ws
        .resolve(&evidence(&huge, None, "anything at all here"))
        .unwrap_err();
    assert!(err.len() < 2_000, "{} bytes", err.len());
}
